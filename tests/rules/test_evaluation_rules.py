"""Evaluation rules (RULES-CN D.17-D.19, E.20-E.27, F.28-F.29, G.31-G.33, K), pure: no app, no database.

Every minimum and period is pinned at its boundary. Worked examples write their arithmetic in comments.
2026 facts come from chinese_calendar 1.11.0 and are re-checked below: Mid-Autumn Friday 25 Sep off (with
26-27 Sep), National Day 1-7 Oct off, Thursday 8 Oct a working day; Sunday 20 Sep and Saturday 10 Oct worked
(调休). The package has no 2027: a computation reaching 2027 is refused until an administrator enters it.
"""

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest

from portal.calendar import CalendarYearMissing
from portal.evaluation import rules
from portal.evaluation.rules import Affiliation, AffiliationKind, Candidate, ChangeReason, Quote
from portal.tenders.models import Method
from portal.tenders.rules import Problem

D = date.fromisoformat
ONE_DAY = timedelta(days=1)
THRESHOLD = Decimal("2000000")  # the open-tender threshold the portal ships with (PORTAL_OPEN_TENDER_THRESHOLD)



def dec(value: str) -> Decimal:
    return Decimal(value)


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]




def test_calendar_facts_this_file_relies_on(cal):
    for day in ("2026-09-19", "2026-09-25", "2026-09-26", "2026-09-27", "2026-10-01", "2026-10-07", "2026-10-11"):
        assert not cal.is_working_day(D(day)), day
    for day in ("2026-09-18", "2026-09-20", "2026-09-24", "2026-09-28", "2026-09-30", "2026-10-08", "2026-10-10"):
        assert cal.is_working_day(D(day)), day
    with pytest.raises(CalendarYearMissing):
        cal.is_working_day(D("2027-01-04"))


# --- Committee size and composition (D.17-D.18) ----------------------------------------------------------

BELOW_10M = dec("9999999.99")
AT_10M = dec("10000000.00")
SMALL = dec("500000.00")


@pytest.mark.parametrize(("method", "budget", "complex_", "expected"), [
    (Method.OPEN, SMALL, False, 5),
    (Method.OPEN, BELOW_10M, False, 5),
    (Method.OPEN, AT_10M, False, 7),  # "1000万元以上" includes 10,000,000 itself
    (Method.OPEN, SMALL, True, 7),  # technically complex or high social impact
    (Method.INVITED, BELOW_10M, False, 5),
    (Method.INVITED, AT_10M, False, 7),
    (Method.INVITED, SMALL, True, 7),
    (Method.NEGOTIATION, THRESHOLD - dec("0.01"), False, 3),
    (Method.NEGOTIATION, THRESHOLD, False, 5),  # 达到公开招标数额标准: reaching the threshold counts
    (Method.NEGOTIATION, SMALL, True, 3),  # 74-7 knows no "complex" case
    (Method.NEGOTIATION, AT_10M, True, 5),  # nor a 10-million case: 5 is the most it asks
    (Method.SINGLE_SOURCE, THRESHOLD - dec("0.01"), False, 3),
    (Method.SINGLE_SOURCE, THRESHOLD, False, 5),
])
def test_minimum_committee_size(method, budget, complex_, expected):
    assert rules.minimum_committee_size(method, budget, complex_, THRESHOLD) == expected


def committee(size, experts, method=Method.OPEN, budget=SMALL, complex_=False):
    return codes(rules.committee_size_problems(size, experts, method=method, budget=budget, complex=complex_,
                                               open_tender_threshold=THRESHOLD))


@pytest.mark.parametrize(("size", "experts", "expected"), [
    (4, 3, ["committee_too_small", "committee_even"]),  # 3×3 = 9 ≥ 2×4 = 8: enough experts
    (4, 2, ["committee_too_small", "committee_even", "experts_too_few"]),
    (5, 3, ["experts_too_few"]),  # 3×3 = 9 < 2×5 = 10
    (5, 4, []),  # 3×4 = 12 ≥ 10
    (5, 5, []),  # a committee of experts only
    (6, 4, ["committee_even"]),  # 3×4 = 12 ≥ 12: exactly two thirds is enough
    (6, 3, ["committee_even", "experts_too_few"]),
    (7, 4, ["experts_too_few"]),  # 3×4 = 12 < 14
    (7, 5, []),  # 3×5 = 15 ≥ 14
    (9, 6, []),  # 3×6 = 18 ≥ 18
])
def test_tender_committee_at_least_5_odd_two_thirds_experts(size, experts, expected):
    assert committee(size, experts) == expected
    assert committee(size, experts, method=Method.INVITED) == expected


@pytest.mark.parametrize(("budget", "complex_", "size", "experts", "expected"), [
    (BELOW_10M, False, 5, 4, []),
    (AT_10M, False, 5, 4, ["committee_too_small"]),
    (AT_10M, False, 6, 4, ["committee_too_small", "committee_even"]),
    (AT_10M, False, 7, 5, []),
    (AT_10M, False, 7, 4, ["experts_too_few"]),
    (BELOW_10M, True, 5, 4, ["committee_too_small"]),
    (BELOW_10M, True, 7, 5, []),
])
def test_tender_committee_of_7_for_10_million_or_complex(budget, complex_, size, experts, expected):
    assert committee(size, experts, budget=budget, complex_=complex_) == expected


@pytest.mark.parametrize("method", [Method.NEGOTIATION, Method.SINGLE_SOURCE])
@pytest.mark.parametrize(("budget", "size", "experts", "expected"), [
    (THRESHOLD - dec("0.01"), 3, 2, []),  # 3×2 = 6 ≥ 6
    (THRESHOLD - dec("0.01"), 3, 1, ["experts_too_few"]),  # 3 < 6
    (THRESHOLD - dec("0.01"), 2, 2, ["committee_too_small", "committee_even"]),
    (THRESHOLD - dec("0.01"), 4, 3, ["committee_even"]),
    (THRESHOLD - dec("0.01"), 5, 4, []),
    (THRESHOLD, 3, 2, ["committee_too_small"]),  # at the threshold: 5 needed
    (THRESHOLD, 5, 4, []),
    (THRESHOLD, 5, 3, ["experts_too_few"]),
])
def test_negotiation_group_at_least_3_or_5_at_the_threshold(method, budget, size, experts, expected):
    assert committee(size, experts, method=method, budget=budget) == expected


def test_committee_problems_name_the_numbers_and_the_article():
    assert rules.committee_size_problems(6, 3, method=Method.OPEN, budget=AT_10M, complex=False,
                                         open_tender_threshold=THRESHOLD) == [
        Problem("committee_too_small", "87-47", {"min": 7, "size": 6}),
        Problem("committee_even", "87-47", {"size": 6}),
        Problem("experts_too_few", "87-47", {"min": 4, "experts": 3}),
    ]
    assert rules.committee_size_problems(3, 1, method=Method.NEGOTIATION, budget=SMALL, complex=False,
                                         open_tender_threshold=THRESHOLD) == [
        Problem("experts_too_few", "74-7", {"min": 2, "experts": 1})]


@pytest.mark.parametrize(("size", "minimum"), [(3, 2), (5, 4), (6, 4), (7, 5), (9, 6), (11, 8)])
def test_minimum_experts_is_two_thirds_rounded_up(size, minimum):
    assert rules.minimum_experts(size) == minimum
    assert committee(size, minimum, budget=SMALL, method=Method.NEGOTIATION).count("experts_too_few") == 0
    assert "experts_too_few" in committee(size, minimum - 1, budget=SMALL, method=Method.NEGOTIATION)


@pytest.mark.parametrize(("size", "experts"), [(5, 6), (5, -1)])
def test_impossible_committees_are_programming_errors(size, experts):
    with pytest.raises(ValueError):
        committee(size, experts)


def test_unknown_method_is_refused():
    with pytest.raises(ValueError):
        rules.minimum_committee_size("auction", SMALL, False, THRESHOLD)


@pytest.mark.parametrize(("chair", "expected"), [
    (None, []),  # not elected yet
    (11, []),
    (10, [Problem("chair_purchaser_representative", "87-45")]),
    (99, [Problem("chair_not_member")]),
])
def test_the_purchasers_representative_may_not_chair(chair, expected):
    assert rules.chair_problems(chair, member_ids=[10, 11, 12, 13, 14], purchaser_representative_ids=[10]) == expected


# --- Recusal (D.19, R9) ------------------------------------------------------------------------------------

ON = D("2026-06-10")  # the evaluation day; 3 years before it is 2023-06-10
BIDDER = 501
OTHER_ORG = 777


@pytest.mark.parametrize("kind", sorted(rules.LOOKBACK_KINDS))
@pytest.mark.parametrize(("end", "expected"), [
    ("2023-06-09", False),  # ended 3 years and a day before: outside "前3年内"
    ("2023-06-10", True),  # ended exactly 3 years before: 内 includes the number (87-86)
    ("2023-06-11", True),
    ("2026-06-09", True),
    (None, True),  # still going on
])
def test_employment_and_office_count_for_3_years_after_they_end(kind, end, expected):
    tie = Affiliation(BIDDER, kind, D("2015-01-01"), None if end is None else D(end))
    assert rules.recusal_window_start(ON) == D("2023-06-10")
    assert rules.conflicted([tie], [BIDDER], ON) is expected


@pytest.mark.parametrize("kind", list(AffiliationKind))
def test_a_tie_to_another_organisation_or_one_not_yet_begun_does_not_count(kind):
    assert rules.conflicted([Affiliation(OTHER_ORG, kind, D("2020-01-01"))], [BIDDER], ON) is False
    assert rules.conflicted([Affiliation(BIDDER, kind, ON + ONE_DAY)], [BIDDER], ON) is False
    assert rules.conflicted([Affiliation(BIDDER, kind, ON)], [BIDDER], ON) is True


@pytest.mark.parametrize("kind", [AffiliationKind.RELATIVE, AffiliationKind.OTHER])
@pytest.mark.parametrize(("end", "expected"), [
    (None, True),
    ("2026-06-10", True),  # the relative was the legal representative on the day
    ("2026-06-09", False),  # no longer: R9(4) has no 3-year look-back
    ("2024-01-01", False),
])
def test_a_relative_of_the_legal_representative_counts_while_the_relation_lasts(kind, end, expected):
    tie = Affiliation(BIDDER, kind, D("2010-01-01"), None if end is None else D(end))
    assert rules.conflicted([tie], [BIDDER], ON) is expected


@pytest.mark.parametrize(("end", "expected"), [("2025-02-27", False), ("2025-02-28", True)])
def test_three_years_before_29_february_is_28_february(end, expected):
    on = D("2028-02-29")
    assert rules.recusal_window_start(on) == D("2025-02-28")
    tie = Affiliation(BIDDER, AffiliationKind.EMPLOYEE, D("2020-01-01"), D(end))
    assert rules.conflicted([tie], [BIDDER], on) is expected


def test_conflicted_experts_are_found_among_all_bidders():
    affiliations = {
        1: [Affiliation(OTHER_ORG, AffiliationKind.EMPLOYEE, D("2018-01-01"))],
        2: [Affiliation(502, AffiliationKind.DIRECTOR, D("2019-01-01"), D("2024-12-31"))],
        3: [Affiliation(501, AffiliationKind.EMPLOYEE, D("2010-01-01"), D("2022-12-31"))],  # over 3 years ago
        4: [Affiliation(OTHER_ORG, AffiliationKind.EMPLOYEE, D("2018-01-01")),
            Affiliation(503, AffiliationKind.RELATIVE, D("2021-03-01"))],
        5: [],
    }
    assert rules.conflicted_experts(affiliations, [501, 502, 503], ON) == {2, 4}


# --- Expert draw (87-48, R39) --------------------------------------------------------------------------------

POOL = list(range(1, 31))


def test_draw_is_reproducible_whatever_the_order_of_the_pool():
    first = rules.draw_experts(POOL, 5, "ZZ-2026-0007/committee")
    assert len(first) == len(set(first)) == 5
    assert set(first) <= set(POOL)
    assert rules.draw_experts(list(reversed(POOL)), 5, "ZZ-2026-0007/committee") == first
    assert rules.draw_experts(POOL + POOL[:4], 5, "ZZ-2026-0007/committee") == first  # duplicates ignored


def test_different_seeds_give_different_draws():
    draws = {frozenset(rules.draw_experts(POOL, 5, f"ZZ-2026-{n:04d}")) for n in range(30)}
    assert len(draws) >= 25  # 142,506 possible committees


def test_excluded_experts_are_never_drawn():
    excluded = set(POOL[:25])
    for n in range(20):
        assert set(rules.draw_experts(POOL, 5, f"seed-{n}", exclude=excluded)) == set(POOL[25:])


def test_a_replacement_is_a_separate_draw_that_keeps_the_first():
    first = rules.draw_experts(POOL, 5, "ZZ-2026-0007/committee")
    replacement = rules.draw_experts(POOL, 1, "ZZ-2026-0007/replacement-1", exclude=set(first))
    assert replacement[0] not in first
    assert rules.draw_experts(POOL, 5, "ZZ-2026-0007/committee") == first


@pytest.mark.parametrize(("excluded", "expected"), [
    (set(), []),
    (set(POOL[:25]), []),  # 5 left for 5 seats
    (set(POOL[:26]), [Problem("expert_pool_too_small", "87-48, R39", {"needed": 5, "available": 4})]),
])
def test_the_pool_must_hold_enough_eligible_experts(excluded, expected):
    assert rules.expert_draw_problems(POOL, 5, excluded) == expected
    if expected:
        with pytest.raises(ValueError):
            rules.draw_experts(POOL, 5, "seed", exclude=excluded)


def test_draw_by_specialty_never_draws_anyone_twice():
    # Specialties are drawn in name order (finance, law, social_work), each with its own seed.
    pools = {"social_work": list(range(1, 13)), "finance": [12], "law": [12, 13]}
    counts = {"social_work": 3, "finance": 1, "law": 1}
    drawn = rules.draw_experts_by_specialty(pools, counts, "ZZ-2026-0007")
    assert drawn["finance"] == [12]
    assert drawn["law"] == [13]  # 12 sits already, for finance
    assert 12 not in drawn["social_work"]
    assert len(drawn["social_work"]) == 3
    assert drawn["social_work"] == rules.draw_experts(pools["social_work"], 3, "ZZ-2026-0007/social_work",
                                                      exclude={12, 13})
    assert drawn == rules.draw_experts_by_specialty(pools, counts, "ZZ-2026-0007")


# --- Price score (E.22, 87-55) ----------------------------------------------------------------------------------

WEIGHT = 30  # price weight in points out of 100
PRICES = {"A": dec("300000.00"), "B": dec("320000.00"), "C": dec("350000.00"), "D": dec("300000.00")}


def test_price_scores_worked_example():
    scores = rules.price_scores(PRICES, WEIGHT)
    assert scores["A"] == 30  # equal to the lowest: the full weight, 300000 / 300000 × 30
    assert scores["D"] == 30  # two bids at the lowest price both get it
    assert scores["B"] == dec("28.125")  # 300000 / 320000 × 30 = 28.125 exactly
    # 300000 / 350000 × 30 = 180/7 = 25.714285…: kept, not rounded to 2 places.
    assert abs(Fraction(scores["C"]) - Fraction(180, 7)) < Fraction(1, 10**37)
    assert scores["C"] != dec("25.71")
    assert rules.for_display(scores["C"]) == dec("25.71")


@pytest.mark.parametrize("weight", [10, dec("10"), dec("10.0")])
def test_a_bid_at_the_lowest_price_gets_the_whole_weight(weight):
    assert rules.price_score(dec("287654.32"), dec("287654.32"), weight) == 10


def test_the_lowest_valid_price_is_the_base_and_the_formula_is_a_ratio():
    assert rules.price_score(dec("200000"), dec("400000"), 10) == 5  # half the lowest price's score
    assert rules.price_score(dec("200000"), dec("250000"), 10) == 8  # 200000 / 250000 × 10
    assert rules.price_scores({}, 10) == {}


@pytest.mark.parametrize(("lowest", "price"), [("0", "100"), ("100", "0"), ("100", "99.99"), ("-1", "100")])
def test_impossible_prices_are_programming_errors(lowest, price):
    with pytest.raises(ValueError):
        rules.price_score(dec(lowest), dec(price), 10)


def test_floats_are_refused():
    with pytest.raises(TypeError):
        rules.price_score(300000.0, dec("300000"), 10)


# --- Members' scores, means and totals (E.22-E.23, 87-49) --------------------------------------------------------

MAX_POINTS = {"plan": 40, "team": 20, "management": 10}  # + price 30 = 100


def sheet(plan, team, management):
    return {"plan": dec(plan), "team": dec(team), "management": dec(management)}


# Bid B, scored by members 1-6; member 3 was replaced by member 6, so member 3's sheet is void (87-49).
SHEETS_B = {
    1: sheet("35", "18", "8"),  # 61
    2: sheet("36", "17", "9"),  # 62
    3: sheet("40", "20", "10"),  # 70, void
    4: sheet("34", "16", "8.5"),  # 58.5
    5: sheet("35.5", "18", "9"),  # 62.5
    6: sheet("37", "19", "9.5"),  # 65.5
}
VOID = {3}


def test_member_totals_add_up_each_sheet():
    assert rules.member_totals(SHEETS_B) == {1: 61, 2: 62, 3: 70, 4: dec("58.5"), 5: dec("62.5"), 6: dec("65.5")}


def test_criterion_means_leave_out_a_void_member():
    # plan (35 + 36 + 34 + 35.5 + 37) / 5 = 177.5 / 5 = 35.5; team 88 / 5 = 17.6; management 44 / 5 = 8.8
    assert rules.mean_scores(SHEETS_B, VOID) == {"plan": dec("35.5"), "team": dec("17.6"), "management": dec("8.8")}
    # With member 3 counted: plan 217.5 / 6 = 36.25. Not what the law allows.
    assert rules.mean_scores(SHEETS_B)["plan"] == dec("36.25")


def test_bid_total_is_the_mean_of_the_criteria_plus_the_price_score():
    # quality 35.5 + 17.6 + 8.8 = 61.9 = (61 + 62 + 58.5 + 62.5 + 65.5) / 5 = 309.5 / 5
    assert rules.quality_score(SHEETS_B, VOID) == dec("61.9")
    # price 300000 / 320000 × 30 = 28.125; total 61.9 + 28.125 = 90.025, shown 90.03 (half up, not half even)
    total = rules.bid_total(SHEETS_B, PRICES["A"], PRICES["B"], WEIGHT, void=VOID)
    assert total == dec("90.025")
    assert rules.for_display(total) == dec("90.03")


def test_score_bids_gives_every_part():
    sheets_a = {m: sheet("30", "15", "7") for m in (1, 2, 4, 5, 6)} | {3: sheet("0", "0", "0")}
    scored = rules.score_bids({"A": sheets_a, "B": SHEETS_B}, {"A": PRICES["A"], "B": PRICES["B"]}, WEIGHT,
                              void=VOID)
    # A: quality 30 + 15 + 7 = 52, price at the lowest = 30, total 82. B as above.
    assert scored["A"] == rules.BidScore({"plan": 30, "team": 15, "management": 7}, dec("52"), dec("30"), dec("82"))
    assert scored["B"].total == dec("90.025")
    assert scored["B"].price_score == dec("28.125")
    with pytest.raises(ValueError):
        rules.score_bids({"A": sheets_a}, {"A": PRICES["A"], "B": PRICES["B"]}, WEIGHT)


def test_equal_exact_totals_stay_equal_however_the_points_are_split():
    # 7 members. Bid X: one point on each of three criteria (1/7 + 1/7 + 1/7); bid Y: three points on one
    # criterion (3/7). Both are 3/7 exactly; adding means rounded to 28 digits would give …287 against …286.
    zero = {"a": dec("0"), "b": dec("0"), "c": dec("0")}
    x = {m: dict(zero) for m in range(1, 8)}
    x[1]["a"], x[2]["b"], x[3]["c"] = dec("1"), dec("1"), dec("1")
    y = {m: dict(zero) for m in range(1, 8)}
    y[1]["a"] = dec("3")
    price = dec("350000")
    totals = [rules.bid_total(s, dec("300000"), price, WEIGHT) for s in (x, y)]
    assert totals[0] == totals[1]
    with pytest.raises(rules.TieUndecided):
        rules.rank([Candidate("X", totals[0], price), Candidate("Y", totals[1], price)])


def test_incomplete_or_missing_sheets_are_refused():
    incomplete = {1: sheet("30", "15", "7"), 2: {"plan": dec("30"), "team": dec("15")}}
    with pytest.raises(ValueError):
        rules.mean_scores(incomplete)
    assert rules.mean_scores(incomplete, void={2}) == {"plan": 30, "team": 15, "management": 7}
    with pytest.raises(ValueError):
        rules.quality_score(SHEETS_B, void=set(SHEETS_B))


@pytest.mark.parametrize(("score", "expected"), [
    ("-0.01", [Problem("score_out_of_range", "87-55, 87-64", {"max": 40})]),
    ("0", []),
    ("0.00", []),
    ("0.01", []),
    ("39.99", []),
    ("40", []),
    ("40.00", []),
    ("40.01", [Problem("score_out_of_range", "87-55, 87-64", {"max": 40})]),
    ("41", [Problem("score_out_of_range", "87-55, 87-64", {"max": 40})]),
    ("12.345", [Problem("score_precision", "", {"places": 2})]),
    ("12.340", []),  # trailing zero: still 2 places
    ("NaN", [Problem("score_invalid")]),
    ("Infinity", [Problem("score_invalid")]),
])
def test_score_range_and_precision(score, expected):
    assert rules.score_problems(dec(score), 40) == expected


def test_a_missing_score_is_a_problem():
    assert rules.score_problems(None, 40) == [Problem("score_missing")]


def test_sheet_problems_name_the_criterion():
    entered = {"plan": dec("41"), "team": None, "extra": dec("1")}
    assert rules.sheet_problems(entered, MAX_POINTS) == [
        Problem("score_out_of_range", "87-55, 87-64", {"max": 40, "criterion": "plan"}),
        Problem("score_missing", "", {"criterion": "team"}),
        Problem("score_missing", "", {"criterion": "management"}),
        Problem("score_unknown_criterion", "", {"criterion": "extra"}),
    ]
    assert rules.sheet_problems(sheet("40", "0", "10"), MAX_POINTS) == []


@pytest.mark.parametrize(("scores", "expected"), [
    # median of 28, 30, 32, 35, 40 is 32
    ({1: "30", 2: "32", 3: "35", 4: "28", 5: "40"}, {1: "-2", 2: "0", 3: "3", 4: "-4", 5: "8"}),
    # median of 30, 31.5, 35, 36 is (31.5 + 35) / 2 = 33.25
    ({1: "30", 2: "31.5", 3: "35", 4: "36"}, {1: "-3.25", 2: "-1.75", 3: "1.75", 4: "2.75"}),
    ({1: "17.5"}, {1: "0"}),
    ({}, {}),
])
def test_deviation_from_median(scores, expected):
    deviations = rules.deviation_from_median({m: dec(s) for m, s in scores.items()})
    assert deviations == {m: dec(s) for m, s in expected.items()}


# --- Changing a submitted score (E.27, 87-64) ----------------------------------------------------------------


@pytest.mark.parametrize(("reason", "allowed"), [
    (ChangeReason.ADDITION_ERROR, True),
    (ChangeReason.OUT_OF_RANGE, True),
    (ChangeReason.OBJECTIVE_INCONSISTENT, True),
    (ChangeReason.ABNORMAL_SCORE, True),
    ("addition_error", True),  # as stored
    ("changed_my_mind", False),
    ("bidder_request", False),
    ("purchaser_request", False),
    ("", False),
    (None, False),
])
def test_only_the_four_lawful_reasons_change_a_score(reason, allowed):
    assert rules.change_allowed(reason) is allowed


def test_every_lawful_reason_cites_87_64():
    assert set(rules.LAWFUL_CHANGE_REASONS) == set(ChangeReason)
    assert all(article.startswith("87-64(") for article in rules.LAWFUL_CHANGE_REASONS.values())


# --- Abnormally low prices (E.25, 87-60) ------------------------------------------------------------------------

OTHERS = [dec("90000.00"), dec("110000.00")]  # mean 100000; 20% below it is 80000


@pytest.mark.parametrize(("price", "expected"), [
    ("79999.99", True),
    ("80000.00", True),  # exactly 20% below: 以上 includes the number
    ("80000.01", False),
    ("100000.00", False),
])
def test_abnormally_low_at_20_percent_below_the_mean_of_the_others(price, expected):
    assert rules.abnormally_low(dec(price), OTHERS) is expected


def test_abnormally_low_is_computed_exactly():
    # mean (100000.00 + 100000.01) / 2 = 100000.005; × 0.8 = 80000.004
    others = [dec("100000.00"), dec("100000.01")]
    assert rules.abnormally_low(dec("80000.00"), others) is True
    assert rules.abnormally_low(dec("80000.01"), others) is False


@pytest.mark.parametrize(("threshold", "price", "expected"), [
    ("0.30", "70000.00", True),  # 30% below 100000
    ("0.30", "70000.01", False),
    ("0.10", "90000.00", True),
])
def test_the_threshold_is_a_setting(threshold, price, expected):
    assert rules.abnormally_low(dec(price), OTHERS, dec(threshold)) is expected


@pytest.mark.parametrize("others", [[], [dec("500000")]])
def test_abnormally_low_is_undecidable_with_fewer_than_2_other_bids(others):
    assert rules.abnormally_low(dec("1.00"), others) is False


@pytest.mark.parametrize("threshold", ["0", "1", "-0.2", "1.5"])
def test_a_threshold_outside_0_to_1_is_refused(threshold):
    with pytest.raises(ValueError):
        rules.abnormally_low(dec("1"), OTHERS, dec(threshold))


def test_abnormally_low_bids_compares_each_bid_with_the_others():
    # C: others' mean (100000 + 100000) / 2 = 100000, limit 80000: C at 80000 is abnormal.
    # A: others' mean (100000 + 80000) / 2 = 90000, limit 72000: A is not.
    prices = {"A": dec("100000"), "B": dec("100000"), "C": dec("80000")}
    assert rules.abnormally_low_bids(prices) == {"C"}
    assert rules.abnormally_low_bids({"A": dec("100000"), "C": dec("1")}) == set()  # one other bid each


@pytest.mark.parametrize(("abnormal", "accepted", "expected"), [
    (False, None, []),
    (True, None, [Problem("justification_pending", "87-60")]),  # cannot be scored yet
    (True, True, []),
    (True, False, [Problem("justification_rejected", "87-60")]),  # the bid is invalid
])
def test_an_abnormally_low_bid_is_scored_only_once_justified(abnormal, accepted, expected):
    assert rules.low_price_problems(abnormal, accepted) == expected


# --- Ranking (E.24, 87-57, 74-35) -------------------------------------------------------------------------------


def test_ranking_by_total_then_price():
    candidates = [
        Candidate("A", dec("88.5"), dec("300000")),
        Candidate("B", dec("90.025"), dec("320000")),  # the highest total wins whatever its price
        Candidate("C", dec("88.5"), dec("290000")),  # same total as A, lower price: before A
        Candidate("E", dec("88.49999"), dec("100000")),  # a lower total is never rescued by its price
    ]
    assert rules.tie_problems(candidates) == []
    assert rules.rank(candidates) == ["B", "C", "A", "E"]


def test_equal_total_and_price_need_a_recorded_decision():
    tied = [
        Candidate("A", dec("88.5"), dec("290000")),
        Candidate("B", dec("90"), dec("320000")),
        Candidate("C", dec("88.50"), dec("290000.00")),  # equal to A in value
    ]
    problem = Problem("tie_undecided", "87-57", {"ids": ["A", "C"]})
    assert rules.tie_problems(tied) == [problem]
    with pytest.raises(rules.TieUndecided) as info:
        rules.rank(tied)
    assert info.value.problems == [problem]
    decided = [Candidate("A", dec("88.5"), dec("290000"), 2), tied[1],
               Candidate("C", dec("88.50"), dec("290000.00"), 1)]
    assert rules.rank(decided) == ["B", "C", "A"]


@pytest.mark.parametrize("breaks", [(1, None), (None, None), (1, 1)])
def test_a_partial_or_duplicate_decision_is_no_decision(breaks):
    tied = [Candidate("A", dec("80"), dec("1000"), breaks[0]), Candidate("B", dec("80"), dec("1000"), breaks[1])]
    assert codes(rules.tie_problems(tied)) == ["tie_undecided"]


def test_a_tie_break_outside_a_tie_changes_nothing():
    candidates = [Candidate("A", dec("80"), dec("1000"), 1), Candidate("B", dec("85"), dec("1000"), 2)]
    assert rules.rank(candidates) == ["B", "A"]


def test_tie_order_by_lot_is_reproducible():
    order = rules.draw_tie_order([7, 3], "ZZ-2026-0007/tie")
    assert sorted(order.values()) == [1, 2]
    assert rules.draw_tie_order([3, 7], "ZZ-2026-0007/tie") == order
    decided = [Candidate(i, dec("80"), dec("1000"), order[i]) for i in (3, 7)]
    assert rules.rank(decided) == sorted(order, key=order.get)


def test_negotiation_lowest_compliant_final_quote_wins():
    quotes = [Quote("A", dec("310000")), Quote("B", dec("295000")), Quote("C", dec("299999.99"))]
    assert rules.rank_by_price(quotes) == ["B", "C", "A"]


def test_equal_final_quotes_need_a_decision():
    quotes = [Quote("A", dec("295000")), Quote("B", dec("295000.00")), Quote("C", dec("310000"))]
    assert rules.price_tie_problems(quotes) == [Problem("tie_undecided", "74-35", {"ids": ["A", "B"]})]
    with pytest.raises(rules.TieUndecided):
        rules.rank_by_price(quotes)
    decided = [Quote("A", dec("295000"), 2), Quote("B", dec("295000.00"), 1), quotes[2]]
    assert rules.rank_by_price(decided) == ["B", "A", "C"]


# --- Award (F.28-F.29, 87-68, 87-69) ----------------------------------------------------------------------------


@pytest.mark.parametrize(("completed", "due"), [
    ("2026-03-02", "2026-03-04"),  # Monday: Tuesday, Wednesday
    ("2026-09-24", "2026-09-29"),  # 25 Sep is Mid-Autumn: 28, 29 Sep
    ("2026-09-29", "2026-10-08"),  # 30 Sep, then National Day: 8 Oct
    ("2026-09-30", "2026-10-09"),  # 8, 9 Oct
])
def test_report_reaches_the_purchaser_within_2_working_days(cal, completed, due):
    assert rules.report_due(D(completed), cal) == D(due)


@pytest.mark.parametrize(("received", "last_day", "deemed"), [
    ("2026-03-02", "2026-03-09", "2026-03-10"),  # 3, 4, 5, 6, 9 Mar
    ("2026-03-06", "2026-03-13", "2026-03-14"),  # a Friday: 9-13 Mar, deemed on the Saturday
    ("2026-09-24", "2026-10-09", "2026-10-10"),  # 28, 29, 30 Sep, 8, 9 Oct (25 Sep and 1-7 Oct off)
    ("2026-09-28", "2026-10-10", "2026-10-11"),  # 29, 30 Sep, 8, 9 Oct and the worked Saturday 10 Oct
    ("2026-09-30", "2026-10-13", "2026-10-14"),  # 8, 9, 10, 12, 13 Oct
    ("2026-10-01", "2026-10-13", "2026-10-14"),  # received on a holiday: counting starts on 8 Oct all the same
])
def test_deemed_award_the_day_after_the_5th_working_day(cal, received, last_day, deemed):
    assert rules.confirmation_last_day(D(received), cal) == D(last_day)
    assert rules.deemed_award_day(D(received), cal) == D(deemed)
    assert rules.award_deemed(D(received), D(last_day), cal) is False  # the purchaser has the whole 5th WD
    assert rules.award_deemed(D(received), D(deemed), cal) is True
    assert rules.award_deemed(D(received), D(deemed) + ONE_DAY, cal) is True


@pytest.mark.parametrize(("award", "due"), [
    ("2026-03-10", "2026-03-12"),
    ("2026-10-11", "2026-10-13"),  # deemed on a Sunday: Monday 12, Tuesday 13 Oct
    ("2026-09-29", "2026-10-08"),  # 30 Sep, 8 Oct
    ("2026-09-18", "2026-09-21"),  # Friday: the worked Sunday 20 Sep, Monday 21 Sep
])
def test_result_notice_within_2_working_days_of_the_award(cal, award, due):
    assert rules.result_notice_due(D(award), cal) == D(due)


@pytest.mark.parametrize(("published", "ends"), [
    ("2026-03-02", "2026-03-03"),
    ("2026-09-29", "2026-09-30"),
    ("2026-09-30", "2026-10-08"),  # runs over National Day to its one working day
    ("2026-10-09", "2026-10-10"),  # the worked Saturday
    ("2026-10-10", "2026-10-12"),  # published on the worked Saturday: Sunday is off
])
def test_result_notice_runs_1_working_day(cal, published, ends):
    assert rules.result_notice_ends(D(published), cal) == D(ends)


# --- 质疑 and 投诉 (G.32-G.33) -------------------------------------------------------------------------------------


@pytest.mark.parametrize(("published", "notice_end", "last_day"), [
    # Notice 29 Sep, runs to 30 Sep; then 8, 9, 10 (worked Saturday), 12, 13, 14, 15 Oct.
    ("2026-09-29", "2026-09-30", "2026-10-15"),
    # Notice 17 Sep, runs to 18 Sep; then 20 (worked Sunday), 21, 22, 23, 24, 28, 29 Sep (25 Sep off).
    ("2026-09-17", "2026-09-18", "2026-09-29"),
    # Notice 9 Oct, runs to the worked Saturday 10 Oct; then 12-16, 19, 20 Oct.
    ("2026-10-09", "2026-10-10", "2026-10-20"),
    ("2026-03-02", "2026-03-03", "2026-03-12"),  # 4, 5, 6, 9, 10, 11, 12 Mar
])
def test_challenge_window_7_working_days_after_the_notice_ends(cal, published, notice_end, last_day):
    assert rules.result_notice_ends(D(published), cal) == D(notice_end)
    assert rules.challenge_last_day(D(notice_end), cal) == D(last_day)
    assert cal.working_days_between(D(notice_end), D(last_day)) == rules.CHALLENGE_WORKING_DAYS


@pytest.mark.parametrize(("received", "due"), [
    ("2026-09-29", "2026-10-14"),  # 30 Sep, 8, 9, 10, 12, 13, 14 Oct
    ("2026-09-18", "2026-09-29"),  # 20, 21, 22, 23, 24, 28, 29 Sep
    ("2026-03-02", "2026-03-11"),
])
def test_answer_within_7_working_days_of_the_challenge(cal, received, due):
    assert rules.answer_due(D(received), cal) == D(due)


@pytest.mark.parametrize(("answer_due", "last_day"), [
    # 15, 16, 19-23, 26-30 Oct (12 days), 2, 3, 4 Nov
    ("2026-10-14", "2026-11-04"),
    # 30 Sep, 8, 9, 10 (worked Saturday), 12-16, 19-23, 26 Oct
    ("2026-09-29", "2026-10-26"),
])
def test_complaint_within_15_working_days_after_the_answer_period(cal, answer_due, last_day):
    assert rules.complaint_last_day(D(answer_due), cal) == D(last_day)


def test_the_whole_award_timetable_in_sequence(cal):
    completed = D("2026-09-24")  # evaluation ends on the Thursday before Mid-Autumn
    received = rules.report_due(completed, cal)
    assert received == D("2026-09-29")  # 28, 29 Sep
    deemed = rules.deemed_award_day(received, cal)
    assert deemed == D("2026-10-13")  # 5th WD: 30 Sep, 8, 9, 10, 12 Oct; deemed the day after
    notice = rules.result_notice_due(deemed, cal)
    assert notice == D("2026-10-15")  # 14, 15 Oct
    notice_end = rules.result_notice_ends(notice, cal)
    assert notice_end == D("2026-10-16")
    challenge = rules.challenge_last_day(notice_end, cal)
    assert challenge == D("2026-10-27")  # 19-23, 26, 27 Oct
    answer = rules.answer_due(challenge, cal)
    assert answer == D("2026-11-05")  # 28-30 Oct, 2-5 Nov
    assert rules.complaint_last_day(answer, cal) == D("2026-11-26")  # 6, 9-13, 16-20, 23-26 Nov


# --- Years without a calendar (K.45) --------------------------------------------------------------------------------


@pytest.mark.parametrize(("function", "start"), [
    (rules.challenge_last_day, "2026-12-28"),  # 29, 30, 31 Dec, then 2027
    (rules.complaint_last_day, "2026-12-15"),  # 15 WD reach January
    (rules.deemed_award_day, "2026-12-28"),
    (rules.answer_due, "2027-01-04"),
])
def test_a_period_reaching_2027_needs_the_entered_calendar(cal, cal_2027, function, start):
    with pytest.raises(CalendarYearMissing) as info:
        function(D(start), cal)
    assert info.value.year == 2027
    function(D(start), cal_2027)


def test_the_entered_2027_calendar_counts_its_own_days(cal_2027):
    # 29, 30, 31 Dec; 1 Jan off, Saturday 2 Jan off, Sunday 3 Jan worked; 4, 5, 6 Jan.
    assert rules.challenge_last_day(D("2026-12-28"), cal_2027) == D("2027-01-06")
