"""The funding-tilt allocation of issue 8 (资金安排), pure: ``rules.allocate`` checked by hypothesis over random pools,
weights and requests, and worked examples of every tilt (``tilts_for``, ``multiplier``, ``weight_of``), the capped
rounds and the rounding ties of the largest remainder."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from fractions import Fraction

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from portal.assessment import funding, rules
from portal.assessment.rules import DEFAULT_TILTS, Allocation, Candidate, TiltSettings, allocate, tilts_for, weight_of
from portal.reviews.rules import Grade

D = Decimal
PROPERTY = settings(max_examples=400, deadline=None, database=None)  # no example database in the checkout

# --- Strategies ---------------------------------------------------------------------------------------------------

# Weights as the plan makes them: a base priority 0-100 times a multiplier in hundredths (the tilts are percents).
weights = st.builds(lambda base, hundredths: D(base) * D(hundredths) / 100,
                    st.integers(0, 100), st.integers(0, 300))
positive_weights = weights.filter(lambda w: w > 0)
requests = st.integers(0, 2_000_000)
pools = st.integers(0, 10_000_000)


@st.composite
def candidate_lists(draw, min_size=0, max_size=12, weight=weights, request=requests):
    """Candidates with distinct keys 0..n-1."""
    pairs = draw(st.lists(st.tuples(weight, request), min_size=min_size, max_size=max_size))
    return [Candidate(i, w, r) for i, (w, r) in enumerate(pairs)]


def total(result: dict[int | str, Allocation]) -> int:
    return sum(a.amount for a in result.values())


# --- Properties ---------------------------------------------------------------------------------------------------


@PROPERTY
@given(pool=pools, candidates=candidate_lists())
def test_the_total_is_the_smaller_of_the_pool_and_the_requests(pool, candidates):
    result = allocate(pool, candidates)
    assert total(result) == min(pool, sum(c.request for c in candidates))


@PROPERTY
@given(pool=pools, candidates=candidate_lists())
def test_every_candidate_gets_a_whole_yuan_amount_within_its_request(pool, candidates):
    result = allocate(pool, candidates)
    assert list(result) == [c.key for c in candidates]  # one allocation per candidate, in the order given
    for c in candidates:
        amount = result[c.key].amount
        assert isinstance(amount, int)
        assert 0 <= amount <= c.request


@PROPERTY
@given(pool=pools, candidates=candidate_lists(min_size=2), data=st.data())
def test_a_higher_weight_never_gets_less_than_a_lower_one_with_the_same_request(pool, candidates, data):
    # Give two candidates the same request, whatever the others ask.
    i, j = data.draw(st.lists(st.integers(0, len(candidates) - 1), min_size=2, max_size=2, unique=True))
    shared = data.draw(requests)
    candidates[i] = Candidate(i, candidates[i].weight, shared)
    candidates[j] = Candidate(j, candidates[j].weight, shared)
    result = allocate(pool, candidates)
    for a in candidates:
        for b in candidates:
            if a.request == b.request and a.weight > b.weight:
                assert result[a.key].amount >= result[b.key].amount, (a, b)


@PROPERTY
@given(pool=pools, candidates=candidate_lists(min_size=1))
def test_equal_weights_and_requests_differ_by_one_yuan_at_most(pool, candidates):
    twin = Candidate("twin", candidates[0].weight, candidates[0].request)
    result = allocate(pool, [*candidates, twin])
    assert abs(result[0].amount - result["twin"].amount) <= 1


@PROPERTY
@given(pool=pools, candidates=candidate_lists(weight=positive_weights))
def test_an_uncapped_line_is_its_proportional_share_rounded_to_a_neighbouring_yuan(pool, candidates):
    """Those settled in the last round get their exact share cut to whole yuan: never a yuan further off."""
    result = allocate(pool, candidates)
    for a in result.values():
        if not a.capped and a.round > 0 and a.share:
            assert abs(Fraction(a.amount) - a.share) < 1


@PROPERTY
@given(pool=pools, candidates=candidate_lists(weight=positive_weights, request=st.integers(1, 2_000_000)))
def test_a_capped_line_gets_exactly_its_request_and_its_share_reached_it(pool, candidates):
    result = allocate(pool, candidates)
    for c in candidates:
        a = result[c.key]
        if a.capped:
            assert a.amount == c.request and a.share >= c.request


@PROPERTY
@given(pool=pools, candidates=candidate_lists(weight=positive_weights, request=st.integers(1, 2_000_000)))
def test_each_round_shares_what_is_left_in_proportion_to_weight(pool, candidates):
    """The share recorded on each line is (what was left at its round) x weight / (the weights still open then):
    the figures the plan's explanation prints."""
    result = allocate(pool, candidates)
    for c in candidates:
        a = result[c.key]
        if a.amount == 0 and a.share == 0:
            continue
        left = pool - sum(result[o.key].amount for o in candidates if 1 <= result[o.key].round < a.round)
        open_weight = sum(Fraction(o.weight) for o in candidates if result[o.key].round >= a.round)
        assert a.share == Fraction(left) * Fraction(c.weight) / open_weight


@PROPERTY
@given(candidates=candidate_lists(min_size=1, weight=positive_weights))
def test_all_capped_when_the_pool_covers_every_request(candidates):
    requested = sum(c.request for c in candidates)
    result = allocate(requested, candidates)
    assert all(result[c.key].amount == c.request for c in candidates)
    assert all(result[c.key].capped for c in candidates)
    more = allocate(requested + 12_345, candidates)  # a pool larger than the requests leaves the rest unallocated
    assert total(more) == requested


@PROPERTY
@given(pool=pools, request=requests, weight=weights)
def test_one_candidate_gets_the_smaller_of_the_pool_and_its_request(pool, request, weight):
    result = allocate(pool, [Candidate("only", weight, request)])
    assert result["only"].amount == min(pool, request)


@PROPERTY
@given(pool=pools, candidates=candidate_lists(min_size=1))
def test_a_weight_zero_candidate_gets_money_only_once_every_weighted_one_is_capped(pool, candidates):
    result = allocate(pool, candidates)
    weighted = [c for c in candidates if c.weight > 0]
    zeros = [c for c in candidates if c.weight == 0]
    if any(result[c.key].amount for c in zeros):
        assert all(result[c.key].amount == c.request for c in weighted)


@PROPERTY
@given(pool=st.integers(1, 10_000_000), candidates=candidate_lists(min_size=1, weight=positive_weights,
                                                                 request=st.integers(1, 2_000_000)),
       factor=st.integers(2, 5))
def test_the_order_of_the_candidates_does_not_change_an_amount_beyond_a_rounding_yuan(pool, candidates, factor):
    assume(len({c.weight for c in candidates}) == len(candidates))  # ties are broken by the order given
    forward = allocate(pool, candidates)
    backward = allocate(pool, list(reversed(candidates)))
    assert all(forward[c.key].amount == backward[c.key].amount for c in candidates)


def test_zero_candidates_allocate_nothing():
    assert allocate(1_000_000, []) == {}


def test_a_zero_pool_gives_everyone_zero():
    result = allocate(0, [Candidate("a", D(70), 100), Candidate("b", D(30), 100)])
    assert [a.amount for a in result.values()] == [0, 0]


def test_negative_inputs_are_refused():
    for pool, candidate in ((-1, Candidate("a", D(1), 1)), (1, Candidate("a", D(-1), 1)),
                            (1, Candidate("a", D(1), -1))):
        with pytest.raises(ValueError):
            allocate(pool, [candidate])


# --- Worked examples: the capped rounds --------------------------------------------------------------------------


def test_what_a_capped_line_leaves_is_shared_again_among_the_others():
    # Round 1: 1,000,000 over weights 126 + 70 + 100 + 24 = 320. A's share 393,750 reaches its request of 200,000
    # and D's 75,000 reaches 50,000: both capped. Round 2: 750,000 over 70 + 100 = 170: B 308,823.53, C 441,176.47.
    result = allocate(1_000_000, [Candidate("A", D(126), 200_000), Candidate("B", D(70), 600_000),
                                  Candidate("C", D(100), 800_000), Candidate("D", D(24), 50_000)])
    assert (result["A"].amount, result["A"].capped, result["A"].round) == (200_000, True, 1)
    assert result["A"].share == Fraction(1_000_000 * 126, 320)
    assert (result["D"].amount, result["D"].capped, result["D"].round) == (50_000, True, 1)
    assert (result["B"].amount, result["B"].capped, result["B"].round) == (308_824, False, 2)
    assert (result["C"].amount, result["C"].capped, result["C"].round) == (441_176, False, 2)
    assert result["B"].share == Fraction(750_000 * 70, 170)
    assert total(result) == 1_000_000


def test_a_cap_can_cascade_over_several_rounds():
    # Round 1: 900 over 1+2+6 = 9 gives C 600 >= 300: capped. Round 2: 600 over 3 gives B 400 >= 350: capped.
    # Round 3: the last 250 goes to A (asked 1,000).
    result = allocate(900, [Candidate("A", D(1), 1_000), Candidate("B", D(2), 350), Candidate("C", D(6), 300)])
    assert [(a.amount, a.capped, a.round) for a in result.values()] == [(250, False, 3), (350, True, 2),
                                                                        (300, True, 1)]


def test_weight_zero_candidates_share_equally_what_the_capped_leave():
    result = allocate(1_000, [Candidate("A", D(50), 400), Candidate("Z1", D(0), 1_000), Candidate("Z2", D(0), 100)])
    # A is capped at 400; Z1 and Z2 share 600 equally, Z2 is capped at 100 and Z1 takes the other 500.
    assert [result[k].amount for k in ("A", "Z1", "Z2")] == [400, 500, 100]


def test_a_weight_zero_candidate_gets_nothing_while_the_pool_is_short():
    result = allocate(1_000, [Candidate("A", D(50), 5_000), Candidate("Z", D(0), 100)])
    assert (result["A"].amount, result["Z"].amount) == (1_000, 0)


# --- Worked examples: rounding ties (largest remainder) ----------------------------------------------------------


def test_left_over_yuan_go_to_the_largest_remainders():
    # 100 over weights 1, 1, 1: 33.33 each; the one yuan left goes to the first given (equal remainders, weights).
    result = allocate(100, [Candidate(k, D(1), 1_000) for k in "abc"])
    assert [a.amount for a in result.values()] == [34, 33, 33]
    # 10 over weights 5, 3, 2 with requests far above: 5, 3, 2 exactly, nothing to round.
    exact = allocate(10, [Candidate("x", D(5), 99), Candidate("y", D(3), 99), Candidate("z", D(2), 99)])
    assert [a.amount for a in exact.values()] == [5, 3, 2]
    # 11 over weights 1, 2, 3, 4 (10): exact 1.1, 2.2, 3.3, 4.4, floors 10; the yuan left goes to the largest
    # remainder, 0.4 (weight 4), not to the first given.
    result = allocate(11, [Candidate(k, D(w), 99) for k, w in zip("abcd", (1, 2, 3, 4), strict=True)])
    assert [a.amount for a in result.values()] == [1, 2, 3, 5]


def test_a_remainder_tie_goes_to_the_higher_weight_first_then_the_order_given():
    # 2 over weights 1 and 3: exact 0.5 and 1.5, equal remainders 0.5: the higher weight (listed second) wins.
    result = allocate(2, [Candidate("low", D(1), 99), Candidate("high", D(3), 99)])
    assert (result["low"].amount, result["high"].amount) == (0, 2)
    # 3 over weights 1, 1, 2, 2: exact 0.5, 0.5, 1, 1: one yuan left, tie between the two weight-1 lines: the first.
    result = allocate(3, [Candidate(k, D(w), 99) for k, w in zip("abcd", (1, 1, 2, 2), strict=True)])
    assert [a.amount for a in result.values()] == [1, 0, 1, 1]


# --- Worked examples of each tilt --------------------------------------------------------------------------------


def shares(tilts) -> dict[str, Decimal]:
    return {t.code: t.share for t in tilts}


def test_no_tilt_leaves_the_weight_at_the_base_priority():
    tilts = tilts_for(poor_village=False, remote_area=False, poor_households=99, district_grade=None)
    assert tilts == []
    assert rules.multiplier(tilts) == 1
    assert weight_of(70, tilts) == 70


def test_a_poor_village_adds_thirty_percent():
    tilts = tilts_for(poor_village=True, remote_area=False, poor_households=0, district_grade=None)
    assert shares(tilts) == {"poor_village": D("0.30")}
    assert weight_of(70, tilts) == D("91")  # 70 x 1.30


def test_a_remote_area_adds_twenty_percent():
    tilts = tilts_for(poor_village=False, remote_area=True, poor_households=0, district_grade=None)
    assert shares(tilts) == {"remote_area": D("0.20")}
    assert weight_of(50, tilts) == D("60")


@pytest.mark.parametrize(("households", "share"), [
    (0, None), (99, None), (100, D("0.05")), (199, D("0.05")), (250, D("0.10")), (499, D("0.20")),
    (500, D("0.25")), (620, D("0.25")), (10_000, D("0.25")),
])
def test_five_percent_per_hundred_poor_households_at_most_twenty_five(households, share):
    tilts = tilts_for(poor_village=False, remote_area=False, poor_households=households, district_grade=None)
    assert shares(tilts).get("households") == share
    if share is not None:
        assert tilts[0].detail == {"households": households, "hundreds": households // 100}


def test_negative_households_earn_nothing():
    assert tilts_for(poor_village=False, remote_area=False, poor_households=-300, district_grade=None) == []


@pytest.mark.parametrize(("grade", "share", "weight"), [
    (Grade.EXCELLENT, D("0.15"), D("115")), (Grade.GOOD, D("0.05"), D("105")), (Grade.PASS, None, D("100")),
    (Grade.FAIL, D("-0.10"), D("90")), (None, None, D("100")),
])
def test_the_district_grade_tilts_up_or_down(grade, share, weight):
    tilts = tilts_for(poor_village=False, remote_area=False, poor_households=0, district_grade=grade)
    assert shares(tilts).get("district") == share
    assert weight_of(100, tilts) == weight


def test_the_district_grade_read_from_the_database_as_text_tilts_too():
    tilts = tilts_for(poor_village=False, remote_area=False, poor_households=0, district_grade="fail")
    assert shares(tilts) == {"district": D("-0.10")} and tilts[0].detail == {"grade": "fail"}


def test_every_tilt_together_adds_up_in_a_fixed_order():
    tilts = tilts_for(poor_village=True, remote_area=True, poor_households=350, district_grade=Grade.EXCELLENT)
    assert [t.code for t in tilts] == ["poor_village", "remote_area", "households", "district"]
    assert rules.multiplier(tilts) == D("1.80")  # 1 + 0.30 + 0.20 + 0.15 + 0.15
    assert weight_of(70, tilts) == D("126")


def test_a_failed_district_lowers_a_poor_village_project():
    tilts = tilts_for(poor_village=True, remote_area=False, poor_households=120, district_grade=Grade.FAIL)
    assert rules.multiplier(tilts) == D("1.25")  # 1 + 0.30 + 0.05 - 0.10
    assert weight_of(80, tilts) == D("100")


def test_the_multiplier_never_goes_below_zero():
    harsh = TiltSettings(district={Grade.FAIL: D("-1.50")})
    tilts = tilts_for(poor_village=False, remote_area=False, poor_households=0, district_grade=Grade.FAIL,
                      settings=harsh)
    assert rules.multiplier(tilts) == 0 and weight_of(90, tilts) == 0


def test_a_zero_base_priority_weighs_nothing_whatever_the_tilts():
    tilts = tilts_for(poor_village=True, remote_area=True, poor_households=900, district_grade=Grade.EXCELLENT)
    assert weight_of(0, tilts) == 0


def test_custom_settings_change_the_tilts():
    settings_ = TiltSettings(poor_village=D("0.50"), per_hundred_households=D("0.10"), households_cap=D("0.30"))
    tilts = tilts_for(poor_village=True, remote_area=False, poor_households=450, district_grade=None,
                      settings=settings_)
    assert shares(tilts) == {"poor_village": D("0.50"), "households": D("0.30")}
    assert DEFAULT_TILTS.poor_village == D("0.30")  # the defaults are untouched


def test_whole_yuan_drops_the_fen():
    assert rules.whole_yuan(D("180000.99")) == 180_000
    assert rules.whole_yuan(D("180000")) == 180_000


@example(pool=1_000_000, base=70)
@PROPERTY
@given(pool=st.integers(1, 10_000_000), base=st.integers(1, 100))
def test_a_tilted_project_never_gets_less_than_without_its_tilt(pool, base):
    """Among otherwise equal projects, the one in a poor village is never worse off than the others."""
    plain = weight_of(base, [])
    tilted = weight_of(base, tilts_for(poor_village=True, remote_area=False, poor_households=0,
                                       district_grade=None))
    result = allocate(pool, [Candidate("plain", plain, 300_000), Candidate("tilted", tilted, 300_000),
                             Candidate("other", D(50), 300_000)])
    assert result["tilted"].amount >= result["plain"].amount


# --- The words of a line say the numbers of the allocation --------------------------------------------------------
# (portal.assessment.funding's words are pure functions of the allocation: checked here over random plans)

MONEY = r"([\d,]+(?:\.\d+)?)"


def _d(text: str) -> Decimal:
    return D(text.replace(",", ""))


@PROPERTY
@given(pool=st.integers(1, 5_000_000), candidates=candidate_lists(min_size=1, max_size=8))
def test_the_words_of_every_line_state_numbers_that_add_up(pool, candidates):
    result = allocate(pool, candidates)
    rounds = funding.rounds_of(pool, candidates, result)
    for c in candidates:
        a = result[c.key]
        words = funding.allocation_words(weight=c.weight, request=c.request, allocation=a, rounds=rounds)
        if c.request == 0:
            assert words == "申请金额为0元，不安排资金。"
            continue
        if a.amount == 0 and a.share == 0:
            assert "未安排资金（0元）" in words
            continue
        stage = rounds[a.round]
        if a.round > 1:
            pool_, count, before, left = re.search(
                "资金池" + MONEY + r"元中，此前各轮已有(\d+)个项目按申请金额足额安排，共" + MONEY + "元，"
                + "(?:余下|有权重的项目均已足额安排，余下)" + MONEY + "元", words).groups()
            assert _d(pool_) == pool and _d(pool_) - _d(before) == _d(left) == stage.available
            assert int(count) == sum(1 for o in candidates if 1 <= result[o.key].round < a.round)
        weighted = re.search(MONEY + " × " + MONEY + " ÷ " + MONEY + " ([=≈]) " + MONEY + "元", words)
        if weighted:
            available, weight, total, sign, share = weighted.groups()
            assert Fraction(_d(available)) * Fraction(_d(weight)) / Fraction(_d(total)) == a.share
            assert _d(weight) == c.weight
        else:
            available, parts, sign, share = re.search(MONEY + r" ÷ (\d+) ([=≈]) " + MONEY + "元", words).groups()
            assert c.weight == 0 and Fraction(_d(available)) / int(parts) == a.share
        assert (sign == "=") == (Fraction(_d(share)) == a.share)
        assert abs(Fraction(_d(share)) - a.share) <= Fraction(1, 200)
        if a.capped:
            assert f"按申请金额足额安排{c.request:,}元（封顶）" in words and a.amount == c.request
        else:
            assert words.count(f"安排{a.amount:,}元") == 1
            leftover = re.search(r"余下的(\d+)元按零头", words)
            if leftover:
                settled = [o for o in candidates if result[o.key].round == a.round and o.request > 0
                           and (o.weight > 0) == (c.weight > 0)]
                assert int(leftover.group(1)) == stage.available - sum(math.floor(result[o.key].share)
                                                                       for o in settled)
