"""The pure rules of the yearly assessment and the commendation candidates at their edges; and the wall between
awards and bidding: commendations, assessment or review grades and funding tilts are never bid points (RULES-CN B;
issue 8, item 5)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.assessment import rules
from portal.assessment.rules import ScoredIndicator
from portal.reviews.rules import Grade, GradeBands
from portal.tenders import rules as tender_rules
from portal.tenders.forms import CATALOGUE, CriterionForm
from portal.tenders.models import FactorType
from portal.tenders.rules import CriterionSpec

D = Decimal


def ind(weight, points, key="x") -> ScoredIndicator:
    return ScoredIndicator(key, D(str(weight)), None if points is None else D(str(points)))


# --- assessment_problems -------------------------------------------------------------------------------------------


def test_weights_of_exactly_100_and_points_entered_have_no_problem():
    assert rules.assessment_problems([ind(60, 0), ind("39.99", 100), ind("0.01", "55.5")]) == []


@pytest.mark.parametrize(("weights", "expected"), [
    (("99.99",), ["weights_total"]),
    (("100.01",), ["weights_total"]),
    ((), ["weights_total"]),  # nothing to weigh
    (("50", "50"), []),
])
def test_weights_must_add_up_to_100(weights, expected):
    assert rules.assessment_problems([ind(w, 80) for w in weights]) == expected


def test_a_negative_weight_is_a_problem_even_when_the_total_is_100():
    assert rules.assessment_problems([ind(110, 50), ind(-10, 50)]) == ["weight_negative"]


@pytest.mark.parametrize(("points", "expected"), [
    (None, ["points_missing"]),
    ("-0.01", ["points_range"]),
    ("100.01", ["points_range"]),
    ("0", []),
    ("100", []),
])
def test_points_are_entered_and_out_of_100(points, expected):
    assert rules.assessment_problems([ind(50, 80), ind(50, points)]) == expected


# --- assessment_score and assessment_grade -------------------------------------------------------------------------


def test_score_is_the_weighted_sum_rounded_half_up_once():
    # 33.33 x 0.8 + 33.33 x 0.7 + 33.34 x 0.9 = 26.664 + 23.331 + 30.006 = 80.001 -> 80.00
    assert rules.assessment_score([ind("33.33", 80), ind("33.33", 70), ind("33.34", 90)]) == D("80.00")
    # 50 x 0.8001 + 50 x 0.80 = 40.005 + 40 = 80.005 -> 80.01 (half up, computed exactly: no float)
    assert rules.assessment_score([ind(50, "80.01"), ind(50, 80)]) == D("80.01")
    assert rules.assessment_score([ind(100, 100)]) == D("100.00")
    assert rules.assessment_score([ind(100, 0), ind(0, 100)]) == D("0.00")


@pytest.mark.parametrize(("score", "grade"), [
    ("100", Grade.EXCELLENT), ("90.00", Grade.EXCELLENT), ("89.99", Grade.GOOD), ("80", Grade.GOOD),
    ("79.99", Grade.PASS), ("60", Grade.PASS), ("59.99", Grade.FAIL), ("0", Grade.FAIL),
])
def test_grade_uses_the_review_bands(score, grade):
    assert rules.assessment_grade(D(score)) == grade


def test_grade_follows_other_bands():
    bands = GradeBands(D("95"), D("85"), D("70"))
    assert [rules.assessment_grade(D(s), bands) for s in ("95", "94.99", "85", "84.99", "70", "69.99")] == [
        Grade.EXCELLENT, Grade.GOOD, Grade.GOOD, Grade.PASS, Grade.PASS, Grade.FAIL]


# --- share_points and deduction_points ---------------------------------------------------------------------------


@pytest.mark.parametrize(("part", "whole", "points"), [
    ("0", "0", "0.00"),  # nothing to share
    ("0", "350000", "0.00"),
    ("60000", "350000", "17.14"),
    ("1", "3", "33.33"),
    ("2", "3", "66.67"),
    ("1", "8", "12.50"),
    ("1", "200000", "0.00"),  # 0.0005 -> 0.00
    ("1", "2000", "0.05"),  # 0.05
    ("350000", "350000", "100.00"),
])
def test_share_points(part, whole, points):
    assert rules.share_points(D(part), D(whole)) == D(points)


def test_share_points_rounds_half_up():
    assert rules.share_points(D("1"), D("160000")) == D("0.00")  # 0.000625
    assert rules.share_points(D("1"), D("16")) == D("6.25")
    assert rules.share_points(D("1"), D("32")) == D("3.13")  # 3.125 -> 3.13


@pytest.mark.parametrize(("count", "per_item", "points"), [
    (0, "20", "100.00"), (1, "20", "80.00"), (4, "20", "20.00"), (5, "20", "0.00"), (6, "20", "0.00"),
    (3, "33.33", "0.01"), (1, "0", "100.00"),
])
def test_deduction_points_never_below_zero(count, per_item, points):
    assert rules.deduction_points(count, D(per_item)) == D(points)


# --- Commendation candidates by rule -----------------------------------------------------------------------------


@pytest.mark.parametrize(("grades", "terminated", "upheld", "candidate"), [
    (["excellent"], False, False, True),
    (["excellent", "good", "good"], False, False, True),
    (["good", "good"], False, False, False),  # no 优秀
    (["excellent", "pass"], False, False, False),  # one 合格 is below 良好
    (["excellent", "fail"], False, False, False),
    ([], False, False, False),  # no review that year
    (["excellent"], True, False, False),  # a contract terminated
    (["excellent"], False, True, False),  # an upheld challenge
])
def test_ngo_is_candidate(grades, terminated, upheld, candidate):
    assert rules.ngo_is_candidate(grades, terminated=terminated, challenge_upheld=upheld) is candidate


def test_ngo_is_candidate_takes_any_iterable_once():
    assert rules.ngo_is_candidate(iter(["good", "excellent"]), terminated=False, challenge_upheld=False)


@pytest.mark.parametrize(("grade", "candidate"), [
    ("excellent", True), ("good", False), ("pass", False), ("fail", False), (None, False)])
def test_project_and_bureau_candidates_need_excellent(grade, candidate):
    assert rules.project_is_candidate(grade) is candidate
    assert rules.bureau_is_candidate(grade) is candidate


# --- The wall between awards and bidding -------------------------------------------------------------------------

REQUIREMENTS = ["具有独立承担民事责任的能力", "具有良好的商业信誉和健全的财务会计制度"]


def reason(name: str, description: str = "", factor=FactorType.OTHER):
    return tender_rules.criterion_banned_reason(CriterionSpec(factor, name, 5, description), REQUIREMENTS)


@pytest.mark.parametrize(("name", "description"), [
    ("上年度获市级表彰的机构加5分", ""),
    ("年度考核优秀加3分", ""),
    ("机构荣誉", "上一年度被民政局表彰的得5分"),
    ("获得表彰", "受到表彰的加2分"),  # a commendation without a region
    ("绩效", "以往项目绩效评估结果为优秀的得5分"),
    ("评估等次", "近三年项目评估等次为良好以上的加3分"),
    ("考核结果", "区县民政部门考核结果为优秀"),
    ("资金倾斜项目", "获得资金倾斜的机构加分"),
    ("奖补", "获得市级奖补的加2分"),
    ("Past performance", "yearly assessment graded excellent: 3 points"),
    ("Commended organisations", "an organisation commended last year gets 5 points"),
    ("Review grade", "a review grade of at least good earns 2 points"),
    ("Funding", "projects with a funding tilt earn 2 points"),
    ("机构荣誉", "获评优秀社会工作服务机构的得5分"),
    ("先进单位", "被民政部门评为先进单位的加5分"),
    ("项目业绩", "近三年承接项目末期评估均为优秀的得10分"),
    ("以往绩效", "以往项目绩效评估得分90分以上"),
    ("荣誉", "优秀社会工作服务项目加3分"),
])
def test_commendations_grades_and_tilts_written_as_free_text_are_refused(name, description):
    assert reason(name, description) == FactorType.COMMENDATION
    problems = tender_rules.criteria_problems("open", "comprehensive", 30,
                                              [CriterionSpec("service_plan", "服务方案", 65),
                                               CriterionSpec(FactorType.OTHER, name, 5, description)], REQUIREMENTS)
    assert [(p.code, p.article) for p in problems] == [("banned_commendation", "R20(4); issue 8")]
    assert problems[0].params == {"name": name}


def test_the_factor_type_itself_is_refused_and_not_offered():
    assert reason("任何名称", factor=FactorType.COMMENDATION) == FactorType.COMMENDATION
    assert tender_rules.BANNED_FACTORS[FactorType.COMMENDATION] == "R20(4); issue 8"
    assert FactorType.COMMENDATION not in CATALOGUE
    offered = {choice.value for choice in CriterionForm().factor_type.choices}
    assert offered == {"service_plan", "team", "experience", "management", "resources", "other"}
    assert not offered & set(tender_rules.BANNED_FACTORS)


def test_regional_awards_keep_their_own_refusal():
    assert reason("近三年获得郑州市优秀社工机构称号") == FactorType.REGIONAL_AWARD
    assert reason("机构荣誉", "获得本市民政部门表彰的得3分") == FactorType.REGIONAL_AWARD


@pytest.mark.parametrize("name", [
    "服务方案的针对性和可行性", "需求评估与服务对象参与", "项目绩效评估方案", "年度服务计划",
    "服务方案优秀的得10分，良好的得6分", "对需求评估结果的回应", "项目团队的专业资质（持证社工人数）",
    "志愿者激励与表彰机制", "年度志愿者表彰活动安排",  # the service commends volunteers: not the bidder commended
    "根据需求评估结果为服务对象制定个案计划",  # 评估结果 of the needs assessment, not of a past performance
])
def test_lawful_words_are_not_taken_for_commendations(name):
    assert reason(name) is None
