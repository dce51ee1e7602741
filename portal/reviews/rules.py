"""The pure rules of performance reviews (绩效评估): rubric checks, weighted totals, the mean across reviewers,
grade bands, the review plan of a contract and the appeal window. No database, no request: numbers in, numbers out.

Sources (../shared/RULES-CN.md section I): grade bands 优秀 >= 90, 良好 80-89, 合格 60-79, 不合格 <= 59 and the
final review at least one month before the contract ends (I.40, 深圳 2021 评估管理办法); the appeal window, the
rectification periods and the plan's spacing are house rules of the portal (issue 7), each a named constant.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from fractions import Fraction

from portal.contracts.rules import add_months, contract_years, report_periods, term_months
from portal.tenders.rules import Problem

# --- Grades (RULES-CN I.40) -------------------------------------------------------------------------------------


class Grade(StrEnum):
    EXCELLENT = "excellent"  # 优秀
    GOOD = "good"  # 良好
    PASS = "pass"  # 合格  # noqa: S105 (a grade, not a password)
    FAIL = "fail"  # 不合格


GRADE_NAMES = {Grade.EXCELLENT: "优秀", Grade.GOOD: "良好", Grade.PASS: "合格", Grade.FAIL: "不合格"}
GRADE_ORDER = {Grade.FAIL: 1, Grade.PASS: 2, Grade.GOOD: 3, Grade.EXCELLENT: 4}


@dataclass(frozen=True)
class GradeBands:
    """The lowest score of each passing grade; below ``passing`` is 不合格. A setting (PORTAL_REVIEW_GRADE_BANDS)."""

    excellent: Decimal = Decimal("90")  # 优秀 >= 90 (I.40)
    good: Decimal = Decimal("80")  # 良好 80 to below 90 (I.40)
    passing: Decimal = Decimal("60")  # 合格 60 to below 80; 不合格 below 60 (I.40)

    @classmethod
    def parse(cls, text: str) -> GradeBands:
        """"90,80,60" -> bands; strictly falling, within 0-100."""
        parts = [Decimal(p.strip()) for p in str(text).split(",")]
        if len(parts) != 3 or not (100 >= parts[0] > parts[1] > parts[2] > 0):
            raise ValueError(f"grade bands must be three falling scores within 0-100, e.g. 90,80,60: {text!r}")
        return cls(*parts)


DEFAULT_BANDS = GradeBands()


def grade_for(score: Decimal, bands: GradeBands = DEFAULT_BANDS) -> Grade:
    """The grade of a review score (the score as shown, two decimal places)."""
    if score >= bands.excellent:
        return Grade.EXCELLENT
    if score >= bands.good:
        return Grade.GOOD
    if score >= bands.passing:
        return Grade.PASS
    return Grade.FAIL


def passes(grade: str) -> bool:
    """合格 or better: the grade that opens a review gate of the payment schedule (issue 7)."""
    return GRADE_ORDER[Grade(grade)] >= GRADE_ORDER[Grade.PASS]


# --- Rubrics ------------------------------------------------------------------------------------------------------

TOTAL_WEIGHT = Decimal("100")  # the first-level weights add up to 100: a review score is out of 100
CENT = Decimal("0.01")


@dataclass(frozen=True)
class Indicator:
    """One indicator of a rubric: ``parent`` is the key of its first-level indicator (None for a first level)."""

    key: int | str
    parent: int | str | None
    name: str
    weight: Decimal
    max_score: Decimal


def leaves(indicators: Sequence[Indicator]) -> list[Indicator]:
    """The indicators that are scored: every second level, and each first level that has none."""
    parents = {i.parent for i in indicators if i.parent is not None}
    return [i for i in indicators if i.parent is not None or i.key not in parents]


def rubric_problems(indicators: Sequence[Indicator]) -> list[Problem]:
    """A usable rubric: named indicators, positive weights and maxima, first-level weights adding up to 100 and
    each first level's second-level weights adding up to its own weight."""
    problems: list[Problem] = []
    first = [i for i in indicators if i.parent is None]
    if not first:
        return [Problem("rubric_empty", "issue 7", {})]
    keys = {i.key for i in first}
    for indicator in indicators:
        if not indicator.name.strip():
            problems.append(Problem("indicator_unnamed", "issue 7", {}))
        if indicator.weight <= 0 or indicator.max_score <= 0:
            problems.append(Problem("indicator_not_positive", "issue 7", {"name": indicator.name}))
        if indicator.parent is not None and indicator.parent not in keys:
            problems.append(Problem("indicator_orphan", "issue 7", {"name": indicator.name}))
    total = sum((i.weight for i in first), Decimal("0"))
    if total != TOTAL_WEIGHT:
        problems.append(Problem("rubric_weights_total", "issue 7", {"total": total}))
    for parent in first:
        children = [i for i in indicators if i.parent == parent.key]
        if children and sum((c.weight for c in children), Decimal("0")) != parent.weight:
            problems.append(Problem("rubric_children_total", "issue 7", {
                "name": parent.name, "weight": parent.weight,
                "total": sum((c.weight for c in children), Decimal("0"))}))
    return problems


def points_problems(indicator: Indicator, points: Decimal | None) -> list[Problem]:
    """A reviewer's points for one scored indicator: given, from 0 to its maximum, at most two decimal places."""
    if points is None:
        return [Problem("points_missing", "issue 7", {"name": indicator.name})]
    if points < 0 or points > indicator.max_score or points != points.quantize(CENT):
        return [Problem("points_out_of_range", "issue 7", {"name": indicator.name, "max": indicator.max_score})]
    return []


def sheet_total(indicators: Sequence[Indicator], points: Mapping[int | str, Decimal]) -> Fraction:
    """One reviewer's weighted total out of 100, exact: the sum over scored indicators of weight x points / max."""
    return sum((Fraction(i.weight) * Fraction(points[i.key]) / Fraction(i.max_score) for i in leaves(indicators)),
               Fraction(0))


def mean_score(totals: Iterable[Fraction]) -> Decimal:
    """The review score: the mean of the reviewers' exact totals, rounded half up to two places (the score shown
    is the score graded)."""
    totals = list(totals)
    if not totals:
        raise ValueError("a review score needs at least one reviewer's total")
    mean = sum(totals, Fraction(0)) / len(totals)
    return (Decimal(mean.numerator) / Decimal(mean.denominator)).quantize(CENT, rounding=ROUND_HALF_UP)


def to_decimal(value: Fraction) -> Decimal:
    """An exact total shown to two places."""
    return (Decimal(value.numerator) / Decimal(value.denominator)).quantize(CENT, rounding=ROUND_HALF_UP)


def satisfaction_rate(surveys: Iterable[tuple[int, int]]) -> Decimal | None:
    """The share of satisfied respondents over all surveys ((respondents, satisfied) pairs), in percent."""
    surveys = list(surveys)
    asked = sum(r for r, _ in surveys)
    if not asked:
        return None
    return (Decimal(sum(s for _, s in surveys)) * 100 / Decimal(asked)).quantize(CENT, rounding=ROUND_HALF_UP)


# --- The review plan of a contract (issue 7) ------------------------------------------------------------------


class ReviewKind(StrEnum):
    NEEDS = "needs"  # 需求评估, at the start
    SUPERVISION = "supervision"  # 督导评估, at the contract's reporting interval
    MIDTERM = "midterm"  # 中期评估, for contracts of a year or more
    YEARLY = "yearly"  # 年度评估 of a multi-year contract: decides whether the next year goes ahead
    FINAL = "final"  # 末期（效果）评估, at least one month before the end (I.40)
    RE_REVIEW = "re_review"  # 整改复评, after a rectification
    EXTRA = "extra"  # added by the officer (e.g. a third-party spot check)


NEEDS_ASSESSMENT_DAYS = 30  # the needs assessment is due within the first month (house rule, issue 7)
FINAL_REVIEW_LEAD_MONTHS = 1  # the final review at least one month before the contract ends (RULES-CN I.40)
YEARLY_REVIEW_LEAD_MONTHS = 1  # a yearly review a month before its year ends, like the final one (house rule)
MIDTERM_MIN_MONTHS = 12  # a mid-term review for contracts of a year or more (issue 7)
MIDTERM_MERGE_DAYS = 60  # a mid-term this close to a yearly review is that review (house rule: one visit)
PAYING_KINDS = frozenset({ReviewKind.MIDTERM, ReviewKind.YEARLY, ReviewKind.FINAL})  # open a review gate by default


@dataclass(frozen=True)
class PlannedReview:
    kind: ReviewKind
    due_on: date
    period_start: date
    period_end: date
    year_index: int | None  # the contract year whose continuation this review decides
    opens_payment: bool


def _clamp(day: date, start: date, end: date) -> date:
    return max(start, min(day, end))


def review_plan(start: date, end: date, interval: str) -> list[PlannedReview]:
    """The reviews a contract gets when it is signed, in due order.

    A needs assessment within the first month; a supervision review at the end of every reporting period; a
    mid-term review at the middle of a term of a year or more; for a multi-year contract a yearly review of every
    year but the last, a month before that year ends (a mid-term within ``MIDTERM_MERGE_DAYS`` of it is that
    review); the final effectiveness review a month before the end. Mid-term, yearly and final reviews open a
    review gate of the payment schedule by default.
    """
    plan = [PlannedReview(ReviewKind.NEEDS, _clamp(start + timedelta(days=NEEDS_ASSESSMENT_DAYS), start, end),
                          start, end, None, False)]
    plan += [PlannedReview(ReviewKind.SUPERVISION, p.end, p.start, p.end, None, False)
             for p in report_periods(start, end, interval)]
    spans = contract_years(start, end)
    yearly = {index: _clamp(add_months(year_end + timedelta(days=1), -YEARLY_REVIEW_LEAD_MONTHS), year_start, end)
              for index, (year_start, year_end) in enumerate(spans[:-1], 1)}
    if term_months(start, end) >= MIDTERM_MIN_MONTHS:
        middle = start + (end - start) / 2
        merged = next((i for i, due in yearly.items() if abs((due - middle).days) <= MIDTERM_MERGE_DAYS), None)
        if merged is None:
            plan.append(PlannedReview(ReviewKind.MIDTERM, middle, start, middle, None, True))
        else:
            year_start, year_end = spans[merged - 1]
            plan.append(PlannedReview(ReviewKind.MIDTERM, yearly.pop(merged), year_start, year_end, merged, True))
    for index, due in yearly.items():
        year_start, year_end = spans[index - 1]
        plan.append(PlannedReview(ReviewKind.YEARLY, due, year_start, year_end, index, True))
    final_due = _clamp(add_months(end + timedelta(days=1), -FINAL_REVIEW_LEAD_MONTHS), start, end)
    plan.append(PlannedReview(ReviewKind.FINAL, final_due, start, end, len(spans) if len(spans) > 1 else None,
                              True))
    return sorted(plan, key=lambda r: (r.due_on, list(ReviewKind).index(r.kind)))


# --- Appeal and rectification (house rules, issue 7) ------------------------------------------------------------

APPEAL_WORKING_DAYS = 5  # the NGO may contest a review within 5 working days of its grade (issue 7)
RECTIFICATION_PLAN_WORKING_DAYS = 10  # the NGO's rectification plan is due within 10 working days (house rule)
RECTIFICATION_MAX_DAYS = 90  # a rectification is completed within 90 days of the plan (house rule)
FAILURES_TO_PROPOSE_TERMINATION = 2  # two failed reviews in a row propose termination to the officer (issue 7)


def appeal_last_day(graded_on: date, calendar) -> date:
    """The last day on which the NGO may contest a review graded on ``graded_on``: the 5th working day after it."""
    return calendar.add_working_days(graded_on, APPEAL_WORKING_DAYS)


def appeal_open(graded_on: date, today: date, calendar) -> bool:
    return today <= appeal_last_day(graded_on, calendar)


def plan_last_day(failed_on: date, calendar) -> date:
    """The last day for the NGO's rectification plan after a review failed on ``failed_on``."""
    return calendar.add_working_days(failed_on, RECTIFICATION_PLAN_WORKING_DAYS)


def rectification_due_problems(due_on: date | None, today: date) -> list[Problem]:
    """The rectification's completion day: after today, within ``RECTIFICATION_MAX_DAYS``."""
    if due_on is None or due_on <= today or due_on > today + timedelta(days=RECTIFICATION_MAX_DAYS):
        return [Problem("rectification_due", "issue 7", {"max": RECTIFICATION_MAX_DAYS})]
    return []


def consecutive_failures(grades_in_order: Iterable[str]) -> int:
    """How many of the latest graded reviews (oldest first) failed in a row."""
    count = 0
    for grade in grades_in_order:
        count = count + 1 if grade == Grade.FAIL else 0
    return count


def proposes_termination(grades_in_order: Iterable[str]) -> bool:
    """Two failed reviews in a row propose termination to the officer (nothing is terminated automatically)."""
    return consecutive_failures(grades_in_order) >= FAILURES_TO_PROPOSE_TERMINATION
