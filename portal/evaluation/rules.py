"""Pure rules for evaluation: committee, recusal, expert draws, scores, ranking and the award timetable.

No Flask, no session: values in, values out. Every number cites its source in ``../shared/RULES-CN.md``
sections D-G and K (L = 政府采购法, R = 实施条例, 87/74/94 = 财政部令87号/74号/94号).

Scores are computed exactly (as fractions) and handed out as Decimal rounded once, to SCORE_DIGITS
significant digits: equal exact totals always come out equal (a tie stays a tie, whatever way the points
were split among criteria or members) and different ones keep their order. They are shown to two places
(``for_display``). Working-day periods count from the day after the start day (87-85, RULES-CN K.44).
"""

from __future__ import annotations

from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal, localcontext
from enum import StrEnum
from fractions import Fraction

from portal.calendar import WorkingCalendar
from portal.tenders.models import Method
from portal.tenders.rules import Problem, draw_suppliers

# --- Committee (RULES-CN D.17-D.18) -------------------------------------------------------------------
TENDER_COMMITTEE_MIN = 5  # 评标委员会: at least 5 members, an odd number (87-47)
LARGE_TENDER_COMMITTEE_MIN = 7  # at least 7, odd, for a large, complex or high-impact project (87-47)
LARGE_TENDER_BUDGET = Decimal("10000000")  # "1000万元以上": 以上 includes the number (87-47, 87-86)
GROUP_MIN = 3  # 谈判/询价 group: at least 3 members, odd (74-7)
GROUP_MIN_AT_THRESHOLD = 5  # at or above the 公开招标 threshold: at least 5, odd (74-7)
EXPERT_SHARE_NUMERATOR, EXPERT_SHARE_DENOMINATOR = 2, 3  # experts at least 2/3 of the members (87-47, 74-7)
TENDER_METHODS = frozenset({Method.OPEN, Method.INVITED})  # judged by a 评标委员会 (87-47)
GROUP_METHODS = frozenset({Method.NEGOTIATION, Method.SINGLE_SOURCE})  # judged by a group (74-7; issue 5)

# --- Recusal (RULES-CN D.19) --------------------------------------------------------------------------
RECUSAL_LOOKBACK_YEARS = 3  # "参加采购活动前3年内": 内 includes the number (R9(1)-(3), 87-86)

# --- Scores (RULES-CN E.21-E.27) ----------------------------------------------------------------------
SCORE_PLACES = 2  # members enter points to at most 2 decimal places; results are shown to 2 (issue 5)
DISPLAY_QUANTUM = Decimal(1).scaleb(-SCORE_PLACES)  # 0.01, rounded half up (四舍五入) for display only
# Significant digits kept for a computed score (house choice, issue 5: full precision). Two different exact
# totals differ by far more than 1e-38, so rounding them once at 40 digits never merges or reorders them.
SCORE_DIGITS = 40
ABNORMALLY_LOW_THRESHOLD = Decimal("0.20")  # default setting; the law sets no percentage (87-60, RULES-CN E.25)
# With fewer than 2 other valid bids there is no market to compare with: the trigger stays silent and the
# committee judges alone (87-60 leaves the finding to it). House reading.
ABNORMALLY_LOW_MIN_OTHER_BIDS = 2
# House rule, default setting: 87-60 has the committee ask for the written justification on the site (现场) and
# within a reasonable time (在评标现场合理的时间内); online, the bidder gets this many hours from the request. After
# them, with no justification, the chair may find the price unjustified and the bid invalid.
LOW_PRICE_JUSTIFICATION_HOURS = 24

# --- Award and challenges (RULES-CN F.28-F.29, G.32-G.33) ---------------------------------------------
REPORT_WORKING_DAYS = 2  # the report reaches the purchaser within 2 WD of the evaluation (87-68)
CONFIRMATION_WORKING_DAYS = 5  # the purchaser picks within 5 WD of receiving the report (R43, 87-68, 74-36)
RESULT_NOTICE_WORKING_DAYS = 2  # result notice within 2 WD of the award (87-69, R43, 74-18)
RESULT_NOTICE_RUNS_WORKING_DAYS = 1  # the result notice runs for 1 WD (87-69)
CHALLENGE_WORKING_DAYS = 7  # 质疑 within 7 WD of the day the notice period ends (L52, R53, 94-10)
ANSWER_WORKING_DAYS = 7  # the 质疑 is answered within 7 WD of its receipt (L53, 94-13)
COMPLAINT_WORKING_DAYS = 15  # 投诉 within 15 WD after the answer period ends (L55, 94-17)

_ONE_DAY = timedelta(days=1)


# --- Committee size and chair ---------------------------------------------------------------------------


def _committee_article(method: str) -> str:
    if method in TENDER_METHODS:
        return "87-47"
    if method in GROUP_METHODS:
        return "74-7"
    raise ValueError(f"unknown method {method!r}")


def minimum_committee_size(method: str, budget: Decimal, complex: bool, open_tender_threshold: Decimal) -> int:
    """The smallest lawful committee: 5 or 7 for a tender (87-47), 3 or 5 for a negotiation group (74-7)."""
    _committee_article(method)
    if method in TENDER_METHODS:
        # "complex" stands for 技术复杂 or 社会影响较大 (87-47(2)-(3)); 74-7 has no such case for groups.
        large = budget >= LARGE_TENDER_BUDGET or complex
        return LARGE_TENDER_COMMITTEE_MIN if large else TENDER_COMMITTEE_MIN
    # 达到公开招标数额标准: reaching the threshold counts (74-7).
    return GROUP_MIN_AT_THRESHOLD if budget >= open_tender_threshold else GROUP_MIN


def minimum_experts(size: int) -> int:
    """The fewest experts a committee of ``size`` may have: two thirds, rounded up (87-47, 74-7)."""
    return -(-size * EXPERT_SHARE_NUMERATOR // EXPERT_SHARE_DENOMINATOR)


def committee_size_problems(size: int, experts: int, *, method: str, budget: Decimal, complex: bool,
                            open_tender_threshold: Decimal) -> list[Problem]:
    """A committee at least the minimum size, odd, with experts at least two thirds (87-47, 74-7)."""
    if not 0 <= experts <= size:
        raise ValueError(f"{experts} experts cannot sit on a committee of {size}")
    article = _committee_article(method)
    minimum = minimum_committee_size(method, budget, complex, open_tender_threshold)
    problems = []
    if size < minimum:
        problems.append(Problem("committee_too_small", article, {"min": minimum, "size": size}))
    if size % 2 == 0:
        problems.append(Problem("committee_even", article, {"size": size}))
    if experts * EXPERT_SHARE_DENOMINATOR < size * EXPERT_SHARE_NUMERATOR:  # integers: no rounding
        problems.append(Problem("experts_too_few", article, {"min": minimum_experts(size), "experts": experts}))
    return problems


def chair_problems(chair_id: int | None, member_ids: Iterable[int],
                   purchaser_representative_ids: Iterable[int]) -> list[Problem]:
    """The chair is a member and not the purchaser's representative (87-45); no chair yet is no problem."""
    if chair_id is None:
        return []
    if chair_id not in set(member_ids):
        return [Problem("chair_not_member")]
    if chair_id in set(purchaser_representative_ids):
        return [Problem("chair_purchaser_representative", "87-45")]
    return []


# --- Recusal (R9) ----------------------------------------------------------------------------------------


class AffiliationKind(StrEnum):
    """A tie between a person and an organisation that R9 makes a reason to recuse."""

    EMPLOYEE = "employee"  # 劳动关系 (R9(1))
    DIRECTOR = "director"  # 董事 (R9(2))
    SUPERVISOR = "supervisor"  # 监事 (R9(2))
    CONTROLLER = "controller"  # 控股股东或者实际控制人 (R9(3))
    RELATIVE = "relative"  # 夫妻、直系血亲、三代以内旁系血亲或者近姻亲 of its legal representative or head (R9(4))
    OTHER = "other"  # any other tie that could affect a fair procurement, e.g. found on a supplier's request (R9(5))


# The ties that count for 3 years after they end (R9(1)-(3)); the others count only while they last.
LOOKBACK_KINDS = frozenset({AffiliationKind.EMPLOYEE, AffiliationKind.DIRECTOR, AffiliationKind.SUPERVISOR,
                            AffiliationKind.CONTROLLER})


@dataclass(frozen=True)
class Affiliation:
    """A person's tie to an organisation from ``start_date`` to ``end_date`` (both inclusive; None: open)."""

    organisation_id: int
    kind: str
    start_date: date | None = None
    end_date: date | None = None


def years_before(day: date, years: int) -> date:
    """The same calendar day ``years`` earlier; 29 February becomes 28 February (the month's last day)."""
    try:
        return day.replace(year=day.year - years)
    except ValueError:
        return day.replace(year=day.year - years, day=28)


def recusal_window_start(on: date) -> date:
    """The first day of "前3年内" before ``on``: a tie that lasted until this day still counts (R9, 87-86)."""
    return years_before(on, RECUSAL_LOOKBACK_YEARS)


def tie_counts(affiliation: Affiliation, on: date) -> bool:
    """Whether the tie obliges recusal from an evaluation held on ``on`` (R9)."""
    if affiliation.start_date is not None and affiliation.start_date > on:
        return False  # not yet a tie on the day
    if affiliation.end_date is None:
        return True
    if affiliation.kind in LOOKBACK_KINDS:
        return affiliation.end_date >= recusal_window_start(on)
    return affiliation.end_date >= on  # R9(4)-(5) speak of a present relation


def conflicted(affiliations: Iterable[Affiliation], bidder_ids: Iterable[int], on: date) -> bool:
    """Whether a person has a tie to any bidder that obliges recusal on ``on`` (R9, 87-48)."""
    bidders = set(bidder_ids)
    return any(a.organisation_id in bidders and tie_counts(a, on) for a in affiliations)


def conflicted_experts(affiliations_by_expert: Mapping[int, Iterable[Affiliation]], bidder_ids: Iterable[int],
                       on: date) -> set[int]:
    """The experts who must be left out of the draw because of a tie to a bidder (R9)."""
    bidders = set(bidder_ids)
    return {expert for expert, ties in affiliations_by_expert.items() if conflicted(ties, bidders, on)}


# --- Expert draw (87-48, R39) ------------------------------------------------------------------------------


def eligible_experts(pool: Iterable[int], exclude: Iterable[int] = ()) -> list[int]:
    """The pool without the excluded experts, sorted so that a draw depends only on its contents."""
    return sorted(set(pool) - set(exclude))


def expert_draw_problems(pool: Iterable[int], size: int, exclude: Iterable[int] = ()) -> list[Problem]:
    """Enough eligible experts in the pool for the draw (87-48, R39)."""
    available = len(eligible_experts(pool, exclude))
    if available < size:
        return [Problem("expert_pool_too_small", "87-48, R39", {"needed": size, "available": available})]
    return []


def draw_experts(pool: list[int], size: int, seed: str, exclude: Iterable[int] = frozenset()) -> list[int]:
    """Draw ``size`` experts at random from the eligible pool; the same pool, exclusions and seed give the same draw.

    A replacement is a new draw of 1 with its own recorded seed, excluding everyone already drawn,
    conflicted or unavailable. Raises ValueError when the pool is too small (see expert_draw_problems).
    """
    eligible = eligible_experts(pool, exclude)
    if size > len(eligible):
        raise ValueError(f"cannot draw {size} experts from {len(eligible)} eligible")
    return draw_suppliers(eligible, size, seed)  # the same reproducible draw as for invited suppliers


def draw_experts_by_specialty(pools: Mapping[str, list[int]], counts: Mapping[str, int], seed: str,
                              exclude: Iterable[int] = frozenset()) -> dict[str, list[int]]:
    """Draw each specialty's count from its pool, specialties in name order, nobody drawn twice.

    Each specialty's draw uses the seed ``f"{seed}/{specialty}"``, so it can be replayed on its own.
    """
    taken = set(exclude)
    drawn = {}
    for specialty in sorted(counts):
        drawn[specialty] = draw_experts(pools.get(specialty, []), counts[specialty], f"{seed}/{specialty}", taken)
        taken.update(drawn[specialty])
    return drawn


# --- Numbers -------------------------------------------------------------------------------------------------


def _exact(value) -> Fraction:
    if isinstance(value, float):
        raise TypeError("scores and prices must be Decimal or int, not float")
    if isinstance(value, Decimal) and not value.is_finite():
        raise ValueError(f"{value} is not a number")
    return Fraction(value)


def _decimal(value: Fraction) -> Decimal:
    """An exact value as a Decimal rounded once to SCORE_DIGITS significant digits."""
    with localcontext(prec=SCORE_DIGITS):
        return Decimal(value.numerator) / Decimal(value.denominator)


def for_display(value: Decimal) -> Decimal:
    """A computed score rounded half up (四舍五入) to two places, for showing only (issue 5)."""
    return value.quantize(DISPLAY_QUANTUM, rounding=ROUND_HALF_UP)


# --- Price score (87-55, RULES-CN E.22) ------------------------------------------------------------------


def _price_score(lowest, price, weight) -> Fraction:
    lowest, price, weight = _exact(lowest), _exact(price), _exact(weight)
    if lowest <= 0 or price <= 0:
        raise ValueError("prices must be positive")
    if price < lowest:
        raise ValueError("the base price is the lowest valid price: no bid can be below it")
    if weight < 0:
        raise ValueError("the price weight cannot be negative")
    return lowest * weight / price


def price_score(lowest: Decimal, price: Decimal, weight: int | Decimal) -> Decimal:
    """(评标基准价 / 报价) × price weight, the base being the lowest valid price; not rounded (87-55)."""
    return _decimal(_price_score(lowest, price, weight))


def price_scores(prices: Mapping[Hashable, Decimal], weight: int | Decimal) -> dict[Hashable, Decimal]:
    """The price score of every valid bid, the lowest of them being the base (87-55); the lowest gets the weight."""
    if not prices:
        return {}
    lowest = min(prices.values())
    return {bid: price_score(lowest, price, weight) for bid, price in prices.items()}


# --- Members' scores (87-55, 87-61, 87-64, R41) ----------------------------------------------------------


Sheet = Mapping[Hashable, Decimal]  # one member's points for one bid, by criterion
Sheets = Mapping[Hashable, Sheet]  # every member's sheet for one bid, by member


def score_problems(score: Decimal | None, max_points: int | Decimal) -> list[Problem]:
    """A member's points for one criterion: given, from 0 to the criterion's weight inclusive, at most 2 places."""
    if score is None:
        return [Problem("score_missing")]
    if not score.is_finite():
        return [Problem("score_invalid")]
    if score < 0 or score > max_points:
        return [Problem("score_out_of_range", "87-55, 87-64", {"max": max_points})]
    if score.normalize().as_tuple().exponent < -SCORE_PLACES:  # 12.340 has 2 places; 12.345 has 3
        return [Problem("score_precision", params={"places": SCORE_PLACES})]
    return []


def sheet_problems(sheet: Mapping[Hashable, Decimal | None], max_points: Mapping[Hashable, int | Decimal],
                   ) -> list[Problem]:
    """A member's whole sheet for one bid: every criterion scored within its range, and no others (87-61, R41)."""
    problems = []
    for criterion, maximum in max_points.items():
        for problem in score_problems(sheet.get(criterion), maximum):
            problems.append(Problem(problem.code, problem.article, {**problem.params, "criterion": criterion}))
    for criterion in sheet:
        if criterion not in max_points:
            problems.append(Problem("score_unknown_criterion", params={"criterion": criterion}))
    return problems


def _valid_sheets(sheets: Sheets, void: Iterable[Hashable]) -> dict[Hashable, Sheet]:
    """The sheets of the members whose opinions count: a replaced member's are void (87-49)."""
    void = set(void)
    valid = {member: sheet for member, sheet in sheets.items() if member not in void}
    if not valid:
        raise ValueError("no valid member has scored this bid")
    criteria = set(next(iter(valid.values())))
    if any(set(sheet) != criteria for sheet in valid.values()):
        raise ValueError("the valid members have not all scored the same criteria")
    return valid


def member_totals(sheets: Sheets) -> dict[Hashable, Decimal]:
    """Each member's total for one bid: the sum of the points on their sheet."""
    return {member: _decimal(sum((_exact(s) for s in sheet.values()), Fraction(0)))
            for member, sheet in sheets.items()}


def mean_scores(sheets: Sheets, void: Iterable[Hashable] = frozenset()) -> dict[Hashable, Decimal]:
    """Each criterion's mean over the valid members (void members left out; 87-49, 87-55)."""
    valid = _valid_sheets(sheets, void)
    criteria = list(next(iter(valid.values())))
    return {c: _decimal(sum((_exact(sheet[c]) for sheet in valid.values()), Fraction(0)) / len(valid))
            for c in criteria}


def _quality(sheets: Sheets, void: Iterable[Hashable]) -> Fraction:
    valid = _valid_sheets(sheets, void)
    points = sum((_exact(s) for sheet in valid.values() for s in sheet.values()), Fraction(0))
    return points / len(valid)


def quality_score(sheets: Sheets, void: Iterable[Hashable] = frozenset()) -> Decimal:
    """The sum of the criterion means (the mean of the valid members' totals) for one bid (87-55)."""
    return _decimal(_quality(sheets, void))


def bid_total(sheets: Sheets, lowest: Decimal, price: Decimal, weight: int | Decimal, *,
              void: Iterable[Hashable] = frozenset()) -> Decimal:
    """A bid's total: the sum of its criterion means plus its price score, computed exactly and rounded once (87-55).

    It takes the members' sheets and the prices rather than already rounded means, so that two bids whose exact
    totals are equal always get equal totals, and a tie is never decided by a rounding digit.
    """
    return _decimal(_quality(sheets, void) + _price_score(lowest, price, weight))


@dataclass(frozen=True)
class BidScore:
    """One bid's evaluation: criterion means, their sum, the price score and the total (each rounded once)."""

    criterion_means: dict[Hashable, Decimal]
    quality: Decimal
    price_score: Decimal
    total: Decimal


def score_bids(sheets_by_bid: Mapping[Hashable, Sheets], prices: Mapping[Hashable, Decimal], weight: int | Decimal,
               *, void: Iterable[Hashable] = frozenset()) -> dict[Hashable, BidScore]:
    """Score every valid bid: the lowest of their prices is the base; void members' sheets are left out (87-55)."""
    if set(sheets_by_bid) != set(prices):
        raise ValueError("every valid bid needs both its sheets and its price")
    void = frozenset(void)
    if not prices:
        return {}
    lowest = min(prices.values())
    scored = {}
    for bid, sheets in sheets_by_bid.items():
        # As quality_score and bid_total compute them, with each exact sum made once (a 100-bid tender adds up
        # tens of thousands of points per page view).
        quality, price = _quality(sheets, void), _price_score(lowest, prices[bid], weight)
        scored[bid] = BidScore(criterion_means=mean_scores(sheets, void), quality=_decimal(quality),
                               price_score=_decimal(price), total=_decimal(quality + price))
    return scored


def _median(values: list[Fraction]) -> Fraction:
    ordered = sorted(values)
    middle = len(ordered) // 2
    if len(ordered) % 2:
        return ordered[middle]
    return (ordered[middle - 1] + ordered[middle]) / 2


def deviation_from_median(scores: Mapping[Hashable, Decimal]) -> dict[Hashable, Decimal]:
    """Each member's points for one criterion minus the members' median (the mean of the middle two if even)."""
    if not scores:
        return {}
    exact = {member: _exact(score) for member, score in scores.items()}
    median = _median(list(exact.values()))
    return {member: _decimal(value - median) for member, value in exact.items()}


# --- Changing a submitted score (87-64, R44) -------------------------------------------------------------


class ChangeReason(StrEnum):
    """The only reasons a score may change once the results are totalled (87-64)."""

    ADDITION_ERROR = "addition_error"  # 分值汇总计算错误 (87-64(1))
    OUT_OF_RANGE = "out_of_range"  # 分项评分超出评分标准规定的评分范围 (87-64(2))
    OBJECTIVE_INCONSISTENT = "objective_inconsistent"  # 成员对客观评审因素评分不一致 (87-64(3))
    ABNORMAL_SCORE = "abnormal_score"  # 经评标委员会认定评分畸高、畸低 (87-64(4))


LAWFUL_CHANGE_REASONS = {
    ChangeReason.ADDITION_ERROR: "87-64(1), R44",
    ChangeReason.OUT_OF_RANGE: "87-64(2), R44",
    ChangeReason.OBJECTIVE_INCONSISTENT: "87-64(3), R44",
    ChangeReason.ABNORMAL_SCORE: "87-64(4), R44",
}


def change_allowed(reason: str | None) -> bool:
    """Whether a submitted score may change for this reason: only the four of 87-64."""
    return reason in LAWFUL_CHANGE_REASONS


# --- Abnormally low prices (87-60) ------------------------------------------------------------------------


def abnormally_low(price: Decimal, other_prices: Iterable[Decimal],
                   threshold: Decimal = ABNORMALLY_LOW_THRESHOLD) -> bool:
    """Whether a price is ``threshold`` or more below the mean of the other valid bids (87-60; 以上 includes it).

    With fewer than 2 other valid bids the trigger cannot decide and says False; the committee may still
    ask for a justification on its own finding.
    """
    others = [_exact(p) for p in other_prices]
    if len(others) < ABNORMALLY_LOW_MIN_OTHER_BIDS:
        return False
    share = _exact(threshold)
    if not 0 < share < 1:
        raise ValueError("the threshold is a fraction between 0 and 1")
    mean = sum(others, Fraction(0)) / len(others)
    return _exact(price) <= mean * (1 - share)


def abnormally_low_bids(prices: Mapping[Hashable, Decimal],
                        threshold: Decimal = ABNORMALLY_LOW_THRESHOLD) -> set[Hashable]:
    """The valid bids each priced abnormally low against the mean of all the others (87-60)."""
    return {bid for bid, price in prices.items()
            if abnormally_low(price, [p for other, p in prices.items() if other != bid], threshold)}


def low_price_problems(abnormal: bool, justification_accepted: bool | None) -> list[Problem]:
    """An abnormally low bid is scored only once its written justification is accepted; if rejected, invalid (87-60)."""
    if not abnormal or justification_accepted is True:
        return []
    if justification_accepted is None:
        return [Problem("justification_pending", "87-60")]
    return [Problem("justification_rejected", "87-60")]


# --- Ranking (87-57, 74-35) ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """A bid in comprehensive scoring; ``tie_break`` is the recorded decision between tied bids (1 ranks first)."""

    id: Hashable
    total: Decimal
    price: Decimal
    tie_break: int | None = None


@dataclass(frozen=True)
class Quote:
    """A compliant final quote in a negotiation; ``tie_break`` is the recorded decision between equal quotes."""

    id: Hashable
    price: Decimal
    tie_break: int | None = None


class TieUndecided(ValueError):
    """Candidates tie and no decision between them is recorded."""

    def __init__(self, problems: list[Problem]):
        super().__init__(", ".join(str(p.params["ids"]) for p in problems))
        self.problems = problems


def _tie_problems(items: list, key: Callable, article: str) -> list[Problem]:
    groups: dict = {}
    for item in items:
        groups.setdefault(key(item), []).append(item)
    problems = []
    for tied in groups.values():
        breaks = [item.tie_break for item in tied]
        if len(tied) > 1 and (None in breaks or len(set(breaks)) != len(breaks)):
            problems.append(Problem("tie_undecided", article, {"ids": sorted(item.id for item in tied)}))
    return problems


def _ranked(items: list, key: Callable, article: str) -> list:
    problems = _tie_problems(items, key, article)
    if problems:
        raise TieUndecided(problems)
    # A tie_break matters only inside a tied group; elsewhere the key alone decides.
    return [item.id for item in sorted(items, key=lambda item: (key(item), item.tie_break or 0))]


def _score_key(candidate: Candidate) -> tuple:
    return (-candidate.total, candidate.price)


def tie_problems(candidates: list[Candidate]) -> list[Problem]:
    """Candidates equal in total and price with no recorded decision between them (87-57, 87-68)."""
    return _tie_problems(candidates, _score_key, "87-57")


def rank(candidates: list[Candidate]) -> list[Hashable]:
    """Ids by total (highest first), then price (lowest first), then the recorded tie decision (87-57).

    Raises TieUndecided when a tie has no decision: 87-57 ranks such bids 并列 and 87-68 has the purchaser
    decide by the method in the tender documents, else by lot (see draw_tie_order).
    """
    return _ranked(candidates, _score_key, "87-57")


def _price_key(quote: Quote) -> Decimal:
    return quote.price


def price_tie_problems(quotes: list[Quote]) -> list[Problem]:
    """Equal final quotes with no recorded decision between them (74-35)."""
    return _tie_problems(quotes, _price_key, "74-35")


def rank_by_price(quotes: list[Quote]) -> list[Hashable]:
    """Ids by final quote, lowest first: the lowest compliant final quote wins (74-35); ties need a decision."""
    return _ranked(quotes, _price_key, "74-35")


def draw_tie_order(ids: Iterable[int], seed: str) -> dict[int, int]:
    """Tie-break positions (1 first) drawn by lot, reproducible from the recorded seed (87-68)."""
    ids = list(ids)
    if len(set(ids)) != len(ids):
        raise ValueError("a bid can appear only once in a tie")
    ordered = draw_suppliers(ids, len(ids), seed)
    return {bid: position for position, bid in enumerate(ordered, start=1)}


# --- Award and challenge timetable (87-68, 87-69, L52-L55, R53, 94) ----------------------------------------


def report_due(completed_on: date, calendar: WorkingCalendar) -> date:
    """The last day for the evaluation report to reach the purchaser: 2 WD after the evaluation (87-68)."""
    return calendar.add_working_days(completed_on, REPORT_WORKING_DAYS)


def confirmation_last_day(report_received_on: date, calendar: WorkingCalendar) -> date:
    """The last day for the purchaser to pick the winner: the 5th WD after receiving the report (R43, 87-68)."""
    return calendar.add_working_days(report_received_on, CONFIRMATION_WORKING_DAYS)


def deemed_award_day(report_received_on: date, calendar: WorkingCalendar) -> date:
    """The calendar day after the 5th WD: from it, if the purchaser has not picked, the top-ranked is chosen.

    The purchaser has the whole 5th working day (以内 includes it, 87-86); the deeming (视同确定, 87-68)
    takes effect when that day is over, so the deemed award is dated the next calendar day, working or not.
    """
    return confirmation_last_day(report_received_on, calendar) + _ONE_DAY


def award_deemed(report_received_on: date, today: date, calendar: WorkingCalendar) -> bool:
    """Whether, with no choice made by ``today``, the top-ranked candidate now counts as chosen (R43, 87-68)."""
    return today >= deemed_award_day(report_received_on, calendar)


def result_notice_due(award_on: date, calendar: WorkingCalendar) -> date:
    """The last day to publish the result notice: 2 WD after the award (87-69, R43)."""
    return calendar.add_working_days(award_on, RESULT_NOTICE_WORKING_DAYS)


def result_notice_ends(published_on: date, calendar: WorkingCalendar) -> date:
    """The last day of the result notice, which runs 1 WD after the day it is published (87-69, 87-85)."""
    return calendar.add_working_days(published_on, RESULT_NOTICE_RUNS_WORKING_DAYS)


def challenge_last_day(notice_end: date, calendar: WorkingCalendar) -> date:
    """The last day for a 质疑 of the result: the 7th WD after the notice period ends (L52, R53, 94-10)."""
    return calendar.add_working_days(notice_end, CHALLENGE_WORKING_DAYS)


def answer_due(received_on: date, calendar: WorkingCalendar) -> date:
    """The last day to answer a 质疑: the 7th WD after it was received (L53, 94-13)."""
    return calendar.add_working_days(received_on, ANSWER_WORKING_DAYS)


def complaint_last_day(answer_due_day: date, calendar: WorkingCalendar) -> date:
    """The last day for a 投诉: the 15th WD after the answer period ends, answered early or not (L55, 94-17)."""
    return calendar.add_working_days(answer_due_day, COMPLAINT_WORKING_DAYS)
