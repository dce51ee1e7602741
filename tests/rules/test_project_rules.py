"""Pure rules for service projects: boundaries of every number, and readiness (需求调查)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from portal.projects import rules
from portal.projects.models import Plan, ProjectStatus


def values(**changes) -> dict:
    base = {"title": "困境儿童关爱服务", "plan": Plan.ORPHANS, "fiscal_year": 2027, "duration_months": 12,
            "budget": Decimal("150000.00"), "poor_households": 0, "base_priority": 50, "district": "中原区",
            "township": "", "target_groups": "", "description": "", "villages": "", "needs_survey": ""}
    return base | changes


def test_valid_values_have_no_problems():
    assert rules.project_problems(values()) == []


@pytest.mark.parametrize(("months", "ok"), [(0, False), (1, True), (12, True), (36, True), (37, False), (-1, False)])
def test_duration_is_1_to_36_months(months, ok):
    assert ("duration_months.range" not in rules.project_problems(values(duration_months=months))) is ok


def test_duration_must_be_a_whole_number():
    assert "duration_months.range" in rules.project_problems(values(duration_months=None))
    assert "duration_months.range" in rules.project_problems(values(duration_months=12.0))
    assert "duration_months.range" in rules.project_problems(values(duration_months=True))


@pytest.mark.parametrize(("budget", "problem"), [
    (Decimal("0"), "range"),
    (Decimal("0.00"), "range"),
    (Decimal("0.01"), None),
    (Decimal("-1"), "range"),
    (Decimal("-0.01"), "range"),
    (Decimal("100.001"), "decimals"),
    (Decimal("0.001"), "decimals"),
    (Decimal("100.10"), None),
    (Decimal("100.100"), None),  # the same amount as 100.10
    (Decimal("999999999999.99"), None),
    (Decimal(10) ** 12, "range"),
    (Decimal("1E+5"), None),  # a Decimal is a value: 100000; typed text is checked by the form field
    (Decimal("NaN"), "type"),
    (Decimal("Infinity"), "type"),
    (150000, None),
    (150000.0, "type"),  # never float
    (None, "required"),
    ("150000", "type"),
])
def test_budget_boundaries(budget, problem):
    assert rules.budget_problem(budget) == problem
    codes = rules.project_problems(values(budget=budget))
    assert codes == ([f"budget.{problem}"] if problem else [])


@pytest.mark.parametrize(("priority", "ok"), [(-1, False), (0, True), (50, True), (100, True), (101, False)])
def test_base_priority_is_0_to_100(priority, ok):
    assert ("base_priority.range" not in rules.project_problems(values(base_priority=priority))) is ok


@pytest.mark.parametrize(("year", "ok"), [(1999, False), (2000, True), (2100, True), (2101, False), (None, False)])
def test_fiscal_year_is_sensible(year, ok):
    assert ("fiscal_year.range" not in rules.project_problems(values(fiscal_year=year))) is ok


@pytest.mark.parametrize(("households", "ok"), [(-1, False), (0, True), (250, True)])
def test_poor_households_cannot_be_negative(households, ok):
    assert ("poor_households.range" not in rules.project_problems(values(poor_households=households))) is ok


def test_title_is_required_and_bounded():
    assert rules.project_problems(values(title="  ")) == ["title.required"]
    assert rules.project_problems(values(title="项" * rules.TITLE_MAX_LENGTH)) == []
    assert rules.project_problems(values(title="项" * (rules.TITLE_MAX_LENGTH + 1))) == ["title.length"]


def test_plan_must_be_one_of_the_six():
    assert len(rules.PLANS) == 6
    assert rules.project_problems(values(plan="housing")) == ["plan.choice"]
    assert rules.project_problems(values(plan="elderly")) == []


def test_long_texts_are_refused_field_by_field():
    codes = rules.project_problems(values(district="区" * 101, needs_survey="调" * (rules.TEXT_MAX_LENGTH + 1)))
    assert codes == ["district.length", "needs_survey.length"]
    assert [rules.field_of(c) for c in codes] == ["district", "needs_survey"]


def test_every_problem_is_reported_at_once():
    codes = rules.project_problems(values(title="", duration_months=0, budget=Decimal("-5"), base_priority=101))
    assert codes == ["title.required", "duration_months.range", "budget.range", "base_priority.range"]


def test_a_ready_project_keeps_its_needs_survey():
    assert rules.project_problems(values(needs_survey=""), status=ProjectStatus.READY) == ["needs_survey.required"]
    assert rules.project_problems(values(needs_survey="走访 120 户"), status=ProjectStatus.READY) == []
    assert rules.project_problems(values(needs_survey=""), status=ProjectStatus.DRAFT) == []


def test_readiness_needs_a_written_needs_survey():
    assert rules.readiness_problems(ProjectStatus.DRAFT, "") == ["needs_survey.required"]
    assert rules.readiness_problems(ProjectStatus.DRAFT, "   \n") == ["needs_survey.required"]
    assert rules.readiness_problems(ProjectStatus.DRAFT, "入户走访 86 户困境儿童家庭") == []
    assert rules.readiness_problems(ProjectStatus.READY, "已调查") == ["status.ready"]
    assert rules.readiness_problems(ProjectStatus.ARCHIVED, "已调查") == ["status.archived"]


def test_only_archived_projects_are_frozen():
    assert rules.is_editable(ProjectStatus.DRAFT)
    assert rules.is_editable(ProjectStatus.READY)
    assert not rules.is_editable(ProjectStatus.ARCHIVED)


@pytest.mark.parametrize(("months", "grounds"), [(1, False), (12, False), (13, True), (36, True)])
def test_more_than_12_months_needs_grounds_later(months, grounds):
    assert rules.needs_grounds(months) is grounds
