"""Pure grading rules of performance reviews (issue 7, RULES-CN I.40): the rubric checks, a reviewer's points,
weighted totals, the mean across reviewers, every grade band boundary (default and custom bands), and the
failures in a row that propose termination."""

from __future__ import annotations

from decimal import Decimal
from fractions import Fraction

import pytest

from portal.reviews import rules
from portal.reviews.rules import Grade, GradeBands, Indicator

D = Decimal


def codes(problems) -> list[str]:
    return [p.code for p in problems]


def rubric() -> list[Indicator]:
    """Two first levels: A (60, with children a1 40 out of 10 points and a2 20 out of 5) and B (40, scored itself
    out of 20)."""
    return [
        Indicator("A", None, "项目管理", D("60"), D("10")),
        Indicator("a1", "A", "制度建设", D("40"), D("10")),
        Indicator("a2", "A", "档案管理", D("20"), D("5")),
        Indicator("B", None, "服务成效", D("40"), D("20")),
    ]


# --- Rubrics ------------------------------------------------------------------------------------------------------


def test_leaves_are_second_levels_and_childless_first_levels():
    assert [i.key for i in rules.leaves(rubric())] == ["a1", "a2", "B"]


def test_a_sound_rubric_has_no_problems():
    assert rules.rubric_problems(rubric()) == []


def test_an_empty_rubric_is_refused():
    assert codes(rules.rubric_problems([])) == ["rubric_empty"]
    # Only second levels (no first level) is empty too.
    assert codes(rules.rubric_problems([Indicator("x", "A", "孤儿", D("10"), D("5"))])) == ["rubric_empty"]


def test_first_level_weights_must_add_up_to_100():
    indicators = [Indicator("A", None, "项目管理", D("60"), D("10")),
                  Indicator("B", None, "服务成效", D("39.99"), D("10"))]
    problems = rules.rubric_problems(indicators)
    assert codes(problems) == ["rubric_weights_total"]
    assert problems[0].params["total"] == D("99.99")
    over = [Indicator("A", None, "项目管理", D("60.01"), D("10")), Indicator("B", None, "服务成效", D("40"), D("10"))]
    assert codes(rules.rubric_problems(over)) == ["rubric_weights_total"]


def test_second_level_weights_must_add_up_to_their_first_level():
    indicators = rubric()
    indicators[2] = Indicator("a2", "A", "档案管理", D("19"), D("5"))
    problems = rules.rubric_problems(indicators)
    assert codes(problems) == ["rubric_children_total"]
    assert problems[0].params == {"name": "项目管理", "weight": D("60"), "total": D("59")}


def test_unnamed_non_positive_and_orphan_indicators_are_named():
    indicators = [*rubric(), Indicator("c1", "C", "无上级", D("5"), D("5"))]
    indicators[3] = Indicator("B", None, "  ", D("40"), D("0"))
    assert sorted(codes(rules.rubric_problems(indicators))) == [
        "indicator_not_positive", "indicator_orphan", "indicator_unnamed"]
    negative = rubric()
    negative[1] = Indicator("a1", "A", "制度建设", D("-40"), D("10"))
    negative[2] = Indicator("a2", "A", "档案管理", D("100"), D("5"))  # the children still add up to 60
    assert codes(rules.rubric_problems(negative)) == ["indicator_not_positive"]


# --- A reviewer's points --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("points", "expected"), [
    (D("0"), []),
    (D("10"), []),
    (D("9.99"), []),
    (D("10.00"), []),
    (D("10.01"), ["points_out_of_range"]),
    (D("-0.01"), ["points_out_of_range"]),
    (D("5.555"), ["points_out_of_range"]),  # at most two decimal places
    (None, ["points_missing"]),
])
def test_points_from_zero_to_the_maximum_with_two_places(points, expected):
    problems = rules.points_problems(rubric()[1], points)
    assert codes(problems) == expected
    if problems:
        assert problems[0].params["name"] == "制度建设"
    if expected == ["points_out_of_range"]:
        assert problems[0].params["max"] == D("10")


# --- Weighted totals and the mean ---------------------------------------------------------------------------------


def test_a_sheet_total_weighs_each_leaf_by_its_share_of_the_maximum():
    # a1: 40 x 8/10 = 32; a2: 20 x 3/5 = 12; B: 40 x 15/20 = 30.
    assert rules.sheet_total(rubric(), {"a1": D("8"), "a2": D("3"), "B": D("15")}) == Fraction(74)
    assert rules.sheet_total(rubric(), {"a1": D("10"), "a2": D("5"), "B": D("20")}) == Fraction(100)
    assert rules.sheet_total(rubric(), {"a1": D("0"), "a2": D("0"), "B": D("0")}) == Fraction(0)


def test_a_sheet_total_is_exact():
    indicators = [Indicator("A", None, "一", D("100"), D("3"))]
    total = rules.sheet_total(indicators, {"A": D("2")})
    assert total == Fraction(200, 3)  # 66.666..., never a float
    assert rules.to_decimal(total) == D("66.67")


def test_first_level_points_are_ignored_when_it_has_children():
    points = {"A": D("0"), "a1": D("10"), "a2": D("5"), "B": D("20")}
    assert rules.sheet_total(rubric(), points) == Fraction(100)


def test_the_review_score_is_the_mean_of_the_exact_totals_rounded_half_up():
    assert rules.mean_score([Fraction(74), Fraction(80), Fraction(86)]) == D("80.00")
    assert rules.mean_score([Fraction(200, 3)]) == D("66.67")
    # 59.995 rounds half up to 60.00: the score shown is the score graded.
    assert rules.mean_score([Fraction(5999, 100), Fraction(6000, 100)]) == D("60.00")
    assert rules.mean_score([Fraction(59989, 1000), Fraction(6000, 100)]) == D("59.99")
    # Rounding happens once, on the mean, not on each total: 66.666... and 53.333... average exactly 60.
    assert rules.mean_score([Fraction(200, 3), Fraction(160, 3)]) == D("60.00")


def test_a_mean_needs_at_least_one_total():
    with pytest.raises(ValueError):
        rules.mean_score([])


# --- Grade bands (RULES-CN I.40) ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("score", "grade"), [
    ("0", Grade.FAIL),
    ("59.99", Grade.FAIL),
    ("60", Grade.PASS),
    ("60.00", Grade.PASS),
    ("79.99", Grade.PASS),
    ("80", Grade.GOOD),
    ("89.99", Grade.GOOD),
    ("90", Grade.EXCELLENT),
    ("100", Grade.EXCELLENT),
])
def test_default_bands_at_every_boundary(score, grade):
    assert rules.grade_for(D(score)) == grade
    assert rules.grade_for(D(score), rules.DEFAULT_BANDS) == grade


@pytest.mark.parametrize(("score", "grade"), [
    ("69.99", Grade.FAIL),
    ("70", Grade.PASS),
    ("84.99", Grade.PASS),
    ("85", Grade.GOOD),
    ("94.99", Grade.GOOD),
    ("95", Grade.EXCELLENT),
    # The default boundaries mean something else under these bands.
    ("60", Grade.FAIL),
    ("80", Grade.PASS),
    ("90", Grade.GOOD),
])
def test_custom_bands_at_every_boundary(score, grade):
    bands = GradeBands.parse("95, 85, 70")
    assert bands == GradeBands(D("95"), D("85"), D("70"))
    assert rules.grade_for(D(score), bands) == grade


def test_the_default_bands_are_90_80_60():
    assert GradeBands.parse("90,80,60") == rules.DEFAULT_BANDS == GradeBands()


@pytest.mark.parametrize("text", ["90,80", "90,80,60,40", "80,90,60", "90,90,60", "101,80,60", "90,80,0", "a,b,c"])
def test_bad_bands_are_refused(text):
    with pytest.raises((ValueError, ArithmeticError)):
        GradeBands.parse(text)


@pytest.mark.parametrize(("grade", "passing"), [
    (Grade.EXCELLENT, True), (Grade.GOOD, True), (Grade.PASS, True), (Grade.FAIL, False),
    ("pass", True), ("fail", False),
])
def test_pass_or_better_passes(grade, passing):
    assert rules.passes(grade) is passing


# --- Failures in a row ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("grades", "count", "proposes"), [
    ([], 0, False),
    (["fail"], 1, False),
    (["fail", "fail"], 2, True),
    (["pass", "fail", "fail"], 2, True),
    (["fail", "pass", "fail"], 1, False),  # a pass in between starts the count again
    (["fail", "fail", "good"], 0, False),  # the latest review passed
    (["excellent", "fail", "fail", "fail"], 3, True),
])
def test_consecutive_failures_count_back_from_the_latest(grades, count, proposes):
    assert rules.consecutive_failures(grades) == count
    assert rules.proposes_termination(grades) is proposes
