"""The pure rules of the yearly assessment (年度考核), commendations (表彰) and the funding-tilt allocation plan
(资金安排): weighted assessment scores, commendation candidates by rule, tilts, the capped proportional allocation
in whole yuan, and the words that explain each line. No database, no request.

Sources: the founding policy asks bureaus to put social-work poverty relief into the yearly assessment, to commend
those who stand out and to tilt funding toward poor villages, remote areas and outstanding performers (issue 8);
grades use the review bands (RULES-CN I.40, ``portal.reviews.rules``); commendations and tilts move funding, never bid
points (RULES-CN B, rule 8). The tilt percentages, the 5-working-day 公示 and the reward grants are settings of the
portal with the defaults of issue 8.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from fractions import Fraction

from portal.reviews.rules import DEFAULT_BANDS, Grade, GradeBands, grade_for

CENT = Decimal("0.01")
PUBLICITY_WORKING_DAYS = 5  # a commendation list is publicised for 5 working days of public comment (issue 8)

# --- The yearly assessment ------------------------------------------------------------------------------------------

TOTAL_WEIGHT = Decimal("100")


@dataclass(frozen=True)
class ScoredIndicator:
    """One assessment indicator: its weight (the weights add up to 100) and its points out of 100."""

    key: str
    weight: Decimal
    points: Decimal | None  # None: not entered yet


def assessment_problems(indicators: Sequence[ScoredIndicator]) -> list[str]:
    """Codes of what stops an assessment from being scored: weights adding up to 100, every points 0-100."""
    problems = []
    if sum((i.weight for i in indicators), Decimal("0")) != TOTAL_WEIGHT:
        problems.append("weights_total")
    if any(i.weight < 0 for i in indicators):
        problems.append("weight_negative")
    if any(i.points is None for i in indicators):
        problems.append("points_missing")
    elif any(not (0 <= i.points <= 100) for i in indicators):
        problems.append("points_range")
    return problems


def assessment_score(indicators: Sequence[ScoredIndicator]) -> Decimal:
    """The weighted score out of 100, rounded half up to two places (the score shown is the score graded)."""
    total = sum((Fraction(i.weight) * Fraction(i.points) / 100 for i in indicators), Fraction(0))
    return (Decimal(total.numerator) / Decimal(total.denominator)).quantize(CENT, rounding=ROUND_HALF_UP)


def assessment_grade(score: Decimal, bands: GradeBands = DEFAULT_BANDS) -> Grade:
    """The same bands as performance reviews (issue 8)."""
    return grade_for(score, bands)


def share_points(part: Decimal, whole: Decimal) -> Decimal:
    """A share as points out of 100 (0 when there is nothing to share)."""
    if not whole:
        return Decimal("0.00")
    return (Decimal(part) * 100 / Decimal(whole)).quantize(CENT, rounding=ROUND_HALF_UP)


def deduction_points(count: int, per_item: Decimal) -> Decimal:
    """100 less ``per_item`` for each counted event (upheld challenges, rectifications), never below 0."""
    return max(Decimal("0.00"), Decimal("100") - per_item * count).quantize(CENT)


# --- Commendation candidates by rule (issue 8) ------------------------------------------------------------------------


def ngo_is_candidate(grades: Iterable[str], *, terminated: bool, challenge_upheld: bool) -> bool:
    """An NGO whose reviews that year were all 良好 or better with at least one 优秀, and no termination or upheld
    challenge against it."""
    grades = list(grades)
    return (bool(grades) and all(g in (Grade.GOOD, Grade.EXCELLENT) for g in grades)
            and Grade.EXCELLENT in grades and not terminated and not challenge_upheld)


def project_is_candidate(final_grade: str | None) -> bool:
    """A project whose final review was 优秀."""
    return final_grade == Grade.EXCELLENT


def bureau_is_candidate(assessment_grade_: str | None) -> bool:
    """A bureau graded 优秀 in its confirmed yearly assessment."""
    return assessment_grade_ == Grade.EXCELLENT


# --- Tilts (资金倾斜) -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TiltSettings:
    """The tilt percentages (settings, defaults of issue 8): each adds to 1 in the project's multiplier."""

    poor_village: Decimal = Decimal("0.30")  # 贫困村 +30%
    remote_area: Decimal = Decimal("0.20")  # 边远/欠发达地区 +20%
    per_hundred_households: Decimal = Decimal("0.05")  # +5% per 100 poor households served
    households_cap: Decimal = Decimal("0.25")  # ... at most +25%
    district: Mapping[str, Decimal] = field(default_factory=lambda: {
        Grade.EXCELLENT: Decimal("0.15"), Grade.GOOD: Decimal("0.05"), Grade.PASS: Decimal("0"),
        Grade.FAIL: Decimal("-0.10")})  # the district's yearly assessment grade


DEFAULT_TILTS = TiltSettings()


@dataclass(frozen=True)
class Tilt:
    code: str  # poor_village, remote_area, households, district
    share: Decimal  # +0.30, -0.10, ...
    detail: dict  # what the words need: households, grade


def tilts_for(*, poor_village: bool, remote_area: bool, poor_households: int, district_grade: str | None,
              settings: TiltSettings = DEFAULT_TILTS) -> list[Tilt]:
    """The tilts a project earns, in a fixed order; a zero tilt is left out."""
    tilts = []
    if poor_village:
        tilts.append(Tilt("poor_village", settings.poor_village, {}))
    if remote_area:
        tilts.append(Tilt("remote_area", settings.remote_area, {}))
    hundreds = max(0, poor_households) // 100
    if hundreds:
        share = min(settings.per_hundred_households * hundreds, settings.households_cap)
        tilts.append(Tilt("households", share, {"households": poor_households, "hundreds": hundreds}))
    if district_grade and settings.district.get(district_grade):
        tilts.append(Tilt("district", settings.district[district_grade], {"grade": district_grade}))
    return tilts


def multiplier(tilts: Iterable[Tilt]) -> Decimal:
    """1 plus the sum of the tilts, never below 0."""
    return max(Decimal("0"), Decimal("1") + sum((t.share for t in tilts), Decimal("0")))


def weight_of(base_priority: int, tilts: Iterable[Tilt]) -> Decimal:
    """A project's weight: its base priority (0-100, from the needs assessment) times (1 + the sum of its tilts)."""
    return Decimal(base_priority) * multiplier(tilts)


# --- Allocation ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    key: int | str
    weight: Decimal  # >= 0
    request: int  # whole yuan, >= 0


@dataclass(frozen=True)
class Allocation:
    key: int | str
    amount: int  # whole yuan
    capped: bool  # got all it asked for before its proportional share ran out
    round: int  # the sharing round in which it was settled (1 = the first)
    share: Fraction  # its proportional entitlement in the round that settled it (exact yuan)


def _largest_remainder(total: int, exact: Mapping, order: Sequence) -> dict:
    """Whole yuan adding up to ``total``: each gets the floor of its exact share, the yuan left over go one each to
    the largest remainders (ties: the order given)."""
    floors = {k: exact[k].numerator // exact[k].denominator for k in exact}
    left = total - sum(floors.values())
    ranked = sorted(order, key=lambda k: (-(exact[k] - floors[k]), order.index(k)))
    for k in ranked[:left]:
        floors[k] += 1
    return floors


def allocate(pool: int, candidates: Sequence[Candidate]) -> dict[int | str, Allocation]:
    """Share ``pool`` whole yuan among the candidates in proportion to weight, none above its request.

    Each round shares what is left among those still open in proportion to weight; everyone whose share would reach
    its request gets exactly the request and leaves, and what they leave is shared again in the next round, until the
    pool or the requests run out. The last round is cut into whole yuan by largest remainder (ties: higher weight
    first, then the given order), so the amounts add up exactly to min(pool, sum of requests). Candidates of weight 0
    share only what is left once every weighted candidate is capped, equally.
    """
    if pool < 0 or any(c.request < 0 or c.weight < 0 for c in candidates):
        raise ValueError("the pool, the requests and the weights cannot be negative")
    result: dict = {}
    remaining = pool
    open_ = [c for c in candidates if c.request > 0]
    for c in candidates:
        if c.request == 0:
            result[c.key] = Allocation(c.key, 0, True, 0, Fraction(0))
    round_ = 0
    while open_ and remaining > 0:
        round_ += 1
        weighted = [c for c in open_ if c.weight > 0] or open_  # weight 0 shares equally once alone
        parts = {c.key: Fraction(c.weight) for c in weighted}
        if not any(parts.values()):
            parts = dict.fromkeys(parts, Fraction(1))
        total_weight = sum(parts.values(), Fraction(0))
        exact = {c.key: Fraction(remaining) * parts[c.key] / total_weight for c in weighted}
        capped = [c for c in weighted if exact[c.key] >= c.request]
        if capped:
            for c in capped:
                result[c.key] = Allocation(c.key, c.request, True, round_, exact[c.key])
                remaining -= c.request
            open_ = [c for c in open_ if c.key not in result]
            continue
        order = [c.key for c in sorted(weighted, key=lambda c: (-c.weight, candidates.index(c)))]
        amounts = _largest_remainder(remaining, exact, order)
        for c in weighted:
            result[c.key] = Allocation(c.key, amounts[c.key], False, round_, exact[c.key])
        remaining = 0
        open_ = [c for c in open_ if c.key not in result]
    for c in open_:  # the pool ran out before their turn
        result[c.key] = Allocation(c.key, 0, False, round_ + 1, Fraction(0))
    return {c.key: result[c.key] for c in candidates}


def whole_yuan(amount: Decimal) -> int:
    """A request in whole yuan (fen are dropped: an allocation is never more than asked)."""
    return int(Decimal(amount).to_integral_value(rounding="ROUND_FLOOR"))
