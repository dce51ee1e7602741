"""Tender rules (RULES-CN A-D, H, K), pure: no app, no database.

Every period and minimum is pinned at its boundary: the day before, the day itself, the day after.
2026 facts come from chinese_calendar 1.11.0 and are re-checked below: Mid-Autumn Friday 25 Sep off
(with 26-27 Sep), National Day 1-7 Oct off, Thursday 8 Oct a working day; Sunday 20 Sep and Saturday
10 Oct worked (调休). Spring Festival 15-23 Feb off, Saturdays 14 and 28 Feb worked. The package has
no 2027: a computation reaching 2027 is refused until an administrator enters the year.
"""

from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal

import pytest

from portal.calendar import CalendarYearMissing, WorkingCalendar
from portal.tenders import rules
from portal.tenders.models import (
    BidStatus,
    EvaluationMethod,
    FactorType,
    Method,
    MethodGround,
    PoolSource,
    TenderStatus,
)
from portal.tenders.rules import CriterionSpec, Problem, Timetable

D = date.fromisoformat
AT = time(9, 30)
ONE_DAY = timedelta(days=1)
US = rules.ONE_MICROSECOND





def bj(day: str, at: time = AT) -> datetime:
    """A Beijing wall-clock time on an ISO day, as a UTC instant."""
    return rules.beijing_instant(D(day), at)


def codes(problems: list[Problem]) -> list[str]:
    return [p.code for p in problems]


def _day(value: str | None) -> date | None:
    return None if value is None else D(value)


def timetable(*, published: str = "2026-09-11", notice: str | None = "2026-09-18", docs_from: str | None = "2026-09-11",
              docs_until: str | None = "2026-09-18", deadline: str | None = "2026-10-08", at: time = AT) -> Timetable:
    """A lawful open-tender timetable by default: notice and documents 5 WD, deadline on day 20 rolled past 1 Oct."""
    return Timetable(published_on=D(published), notice_until=_day(notice), documents_from=_day(docs_from),
                     documents_until=_day(docs_until), deadline=None if deadline is None else bj(deadline, at))


def minimal_timetable(cal: WorkingCalendar, method: str, start: str, **changes) -> Timetable:
    """Published and documents out on ``start``; every period at its legal minimum; ``changes`` override."""
    first = D(start)
    five = cal.add_working_days(first, 5)
    base = Timetable(published_on=first, notice_until=five if method == Method.OPEN else None,
                     documents_from=first, documents_until=five,
                     deadline=rules.beijing_instant(rules.earliest_deadline_day(method, first, cal), AT))
    return replace(base, **changes)


def test_calendar_facts_this_file_relies_on(cal):
    for day in ("2026-09-25", "2026-09-26", "2026-10-01", "2026-10-04", "2026-10-07", "2026-10-11",
                "2026-02-15", "2026-02-23", "2026-03-01"):
        assert not cal.is_working_day(D(day)), day
    for day in ("2026-09-20", "2026-09-30", "2026-10-08", "2026-10-10", "2026-02-13", "2026-02-14",
                "2026-02-24", "2026-02-28"):
        assert cal.is_working_day(D(day)), day
    with pytest.raises(CalendarYearMissing):
        cal.is_working_day(D("2027-03-10"))


# --- Open tender timetable (C.9-C.11) -----------------------------------------------------------------


def test_lawful_open_timetable_has_no_problems(cal):
    assert rules.timetable_problems(Method.OPEN, timetable(), cal) == []


@pytest.mark.parametrize(("published", "needed"), [
    ("2026-09-11", "2026-09-18"),  # an ordinary week
    ("2026-09-18", "2026-09-24"),  # Sunday 20 Sep is worked: 20, 21, 22, 23, 24
    ("2026-09-24", "2026-10-09"),  # Mid-Autumn and National Day skipped: 28, 29, 30 Sep, 8, 9 Oct
    ("2026-10-09", "2026-10-15"),  # Saturday 10 Oct is worked: 10, 12, 13, 14, 15
])
def test_open_notice_runs_five_working_days(cal, published, needed):
    assert cal.add_working_days(D(published), rules.NOTICE_MIN_WORKING_DAYS) == D(needed)
    short = minimal_timetable(cal, Method.OPEN, published, notice_until=D(needed) - ONE_DAY)
    assert rules.timetable_problems(Method.OPEN, short, cal) == [
        Problem("notice_period", "87-16, 101-8", {"days": 5, "date": D(needed)})]
    for notice_until in (D(needed), D(needed) + ONE_DAY):
        lawful = minimal_timetable(cal, Method.OPEN, published, notice_until=notice_until)
        assert rules.timetable_problems(Method.OPEN, lawful, cal) == []


def test_open_notice_without_an_end_is_refused(cal):
    assert codes(rules.timetable_problems(Method.OPEN, timetable(notice=None), cal)) == ["notice_period"]


@pytest.mark.parametrize("method", [Method.OPEN, Method.INVITED])
@pytest.mark.parametrize(("start", "needed"), [
    ("2026-09-11", "2026-09-18"),  # an ordinary week
    ("2026-09-28", "2026-10-10"),  # 29, 30 Sep, 8, 9 Oct, and the worked Saturday 10 Oct
    ("2026-02-09", "2026-02-14"),  # 10-13 Feb and the worked Saturday 14 Feb, before the Spring Festival
])
def test_documents_available_five_working_days(cal, method, start, needed):
    assert cal.add_working_days(D(start), rules.DOCUMENTS_MIN_WORKING_DAYS) == D(needed)
    short = minimal_timetable(cal, method, start, documents_until=D(needed) - ONE_DAY)
    assert rules.timetable_problems(method, short, cal) == [
        Problem("documents_period", "R31, 87-18", {"days": 5, "date": D(needed)})]
    for until in (D(needed), D(needed) + ONE_DAY):
        lawful = minimal_timetable(cal, method, start, documents_until=until)
        assert rules.timetable_problems(method, lawful, cal) == []


@pytest.mark.parametrize(("docs_from", "earliest"), [
    ("2026-09-10", "2026-09-30"),  # day 20 is a working Wednesday
    ("2026-09-11", "2026-10-08"),  # day 20 is 1 Oct: moved past National Day
    ("2026-09-14", "2026-10-08"),  # day 20 is 4 Oct: the same
    ("2026-03-02", "2026-03-23"),  # day 20 is an ordinary Sunday: moved to Monday
    ("2026-01-26", "2026-02-24"),  # day 20 is 15 Feb: moved past the Spring Festival
    ("2026-01-25", "2026-02-14"),  # day 20 is the worked Saturday 14 Feb: it stays
])
def test_earliest_deadline_day_is_day_20_rolled_to_a_working_day(cal, docs_from, earliest):
    for method in (Method.OPEN, Method.INVITED):
        assert rules.earliest_deadline_day(method, D(docs_from), cal) == D(earliest)


def test_earliest_first_response_of_a_negotiation_is_3_working_days(cal):
    assert rules.earliest_deadline_day(Method.NEGOTIATION, D("2026-03-02"), cal) == D("2026-03-05")
    assert rules.earliest_deadline_day(Method.NEGOTIATION, D("2026-09-29"), cal) == D("2026-10-09")


def test_single_source_has_no_deadline(cal):
    with pytest.raises(ValueError):
        rules.earliest_deadline_day(Method.SINGLE_SOURCE, D("2026-03-02"), cal)


TOO_EARLY_20 = Problem("deadline_too_early", "L35", {"days": 20, "date": D("2026-10-08")})


@pytest.mark.parametrize("method", [Method.OPEN, Method.INVITED])
@pytest.mark.parametrize(("deadline", "expected"), [
    ("2026-09-30", [TOO_EARLY_20]),  # last working day before the holiday: day 19
    ("2026-10-01", [TOO_EARLY_20]),  # day 20, but National Day
    ("2026-10-04", [TOO_EARLY_20]),  # a holiday after day 20 is still too early
    ("2026-10-07", [TOO_EARLY_20]),  # the day before the earliest day
    ("2026-10-08", []),  # the earliest day
    ("2026-10-09", []),  # the day after
    ("2026-10-10", []),  # Saturday, worked (调休)
    ("2026-10-11", [Problem("deadline_not_working_day", "87-85", {"date": D("2026-10-11")})]),  # ordinary Sunday
    ("2026-10-12", []),
])
def test_bid_deadline_at_least_20_days_across_national_day(cal, method, deadline, expected):
    t = timetable(docs_from="2026-09-11", deadline=deadline, notice="2026-09-18" if method == Method.OPEN else None)
    assert rules.earliest_deadline_day(method, D("2026-09-11"), cal) == D("2026-10-08")
    assert rules.timetable_problems(method, t, cal) == expected


@pytest.mark.parametrize(("deadline", "expected"), [
    ("2026-03-23", ["deadline_too_early"]),  # Monday, day 19
    ("2026-03-24", []),  # Tuesday, day 20
    ("2026-03-25", []),
])
def test_bid_deadline_at_least_20_days_in_an_ordinary_month(cal, deadline, expected):
    t = minimal_timetable(cal, Method.OPEN, "2026-03-04", deadline=bj(deadline))
    assert codes(rules.timetable_problems(Method.OPEN, t, cal)) == expected


def test_deadline_day_is_the_beijing_day_not_the_utc_day(cal):
    # Midnight in Beijing on 8 Oct is 16:00 UTC on 7 Oct; one minute before it is still 7 Oct in Beijing.
    at_midnight = timetable(deadline="2026-10-08", at=time(0, 0))
    assert at_midnight.deadline == datetime(2026, 10, 7, 16, 0, tzinfo=UTC)
    assert rules.timetable_problems(Method.OPEN, at_midnight, cal) == []
    late_evening = timetable(deadline="2026-10-07", at=time(23, 59))
    assert codes(rules.timetable_problems(Method.OPEN, late_evening, cal)) == ["deadline_too_early"]


def test_documents_may_not_go_out_before_the_notice(cal):
    assert rules.timetable_problems(Method.OPEN, timetable(docs_from="2026-09-11"), cal) == []
    early = timetable(docs_from="2026-09-10")
    assert rules.timetable_problems(Method.OPEN, early, cal) == [Problem("documents_before_notice", "87-18")]


def test_documents_may_not_be_available_after_the_deadline_day(cal):
    assert rules.timetable_problems(Method.OPEN, timetable(docs_until="2026-10-08"), cal) == []
    late = timetable(docs_until="2026-10-09")
    assert codes(rules.timetable_problems(Method.OPEN, late, cal)) == ["documents_after_deadline"]


@pytest.mark.parametrize("missing", ["docs_from", "docs_until", "deadline"])
@pytest.mark.parametrize("method", [Method.OPEN, Method.INVITED, Method.NEGOTIATION])
def test_missing_dates_are_refused(cal, method, missing):
    assert codes(rules.timetable_problems(method, timetable(**{missing: None}), cal)) == ["dates_missing"]


# --- Invited tender: the same periods, no public notice -----------------------------------------------


def test_invited_tender_needs_no_notice_period(cal):
    assert rules.timetable_problems(Method.INVITED, timetable(notice=None), cal) == []
    assert rules.timetable_problems(Method.INVITED, timetable(notice="2026-09-11"), cal) == []


def test_invited_tender_keeps_the_20_day_and_documents_rules(cal):
    short = timetable(notice=None, docs_until="2026-09-17", deadline="2026-10-07")
    assert codes(rules.timetable_problems(Method.INVITED, short, cal)) == ["documents_period", "deadline_too_early"]


# --- Negotiation: first response at least 3 WD after the documents (H.34) ---------------------------------


@pytest.mark.parametrize(("docs_from", "deadline", "expected"), [
    ("2026-09-29", "2026-10-08", ["deadline_too_early"]),  # 30 Sep and 8 Oct: only 2 WD
    ("2026-09-29", "2026-10-09", []),  # 30 Sep, 8 and 9 Oct
    ("2026-09-29", "2026-10-10", []),  # the worked Saturday after it
    ("2026-09-30", "2026-10-09", ["deadline_too_early"]),  # 8 and 9 Oct: only 2 WD
    ("2026-09-30", "2026-10-10", []),  # the worked Saturday is the third WD
    ("2026-09-30", "2026-10-11", ["deadline_not_working_day"]),  # ordinary Sunday
    ("2026-09-30", "2026-10-12", []),
    ("2026-03-02", "2026-03-04", ["deadline_too_early"]),  # ordinary week: Monday to Wednesday is 2 WD
    ("2026-03-02", "2026-03-05", []),
])
def test_negotiation_first_response_3_working_days(cal, docs_from, deadline, expected):
    # No notice and no minimum documents window: a one-day window is fine for a negotiation.
    t = timetable(published=docs_from, notice=None, docs_from=docs_from, docs_until=docs_from, deadline=deadline)
    assert codes(rules.timetable_problems(Method.NEGOTIATION, t, cal)) == expected


def test_negotiation_too_early_problem_names_3_working_days(cal):
    t = timetable(published="2026-09-29", notice=None, docs_from="2026-09-29", docs_until="2026-09-29",
                  deadline="2026-10-08")
    assert rules.timetable_problems(Method.NEGOTIATION, t, cal) == [
        Problem("deadline_too_early", "74-29", {"days": 3, "date": D("2026-10-09")})]


# --- Single source: public notice at least 5 WD (H.35) --------------------------------------------------


@pytest.mark.parametrize(("published", "needed"), [
    ("2026-02-12", "2026-02-26"),  # 13 Feb, worked Saturday 14 Feb, then 24, 25, 26 Feb
    ("2026-02-13", "2026-02-27"),  # 14, 24, 25, 26, 27 Feb
    ("2026-02-23", "2026-02-28"),  # from the last holiday: 24-27 Feb and the worked Saturday 28 Feb
    ("2026-03-02", "2026-03-09"),  # an ordinary week
])
def test_single_source_notice_runs_five_working_days(cal, published, needed):
    assert cal.add_working_days(D(published), rules.SINGLE_SOURCE_NOTICE_MIN_WORKING_DAYS) == D(needed)

    def check(notice_until):
        t = Timetable(published_on=D(published), notice_until=notice_until, documents_from=None,
                      documents_until=None, deadline=None)
        return rules.timetable_problems(Method.SINGLE_SOURCE, t, cal)

    assert check(D(needed) - ONE_DAY) == [Problem("single_source_notice", "R38, 74-38", {"days": 5, "date": D(needed)})]
    assert check(D(needed)) == []
    assert check(D(needed) + ONE_DAY) == []
    assert codes(check(None)) == ["single_source_notice"]


# --- Years without calendar data (K.45) --------------------------------------------------------------


def test_a_deadline_in_a_year_nobody_entered_is_refused(cal, cal_2027):
    t = timetable(published="2026-12-01", notice="2026-12-08", docs_from="2026-12-01", docs_until="2026-12-08",
                  deadline="2027-01-05")
    with pytest.raises(CalendarYearMissing) as info:
        rules.timetable_problems(Method.OPEN, t, cal)
    assert info.value.year == 2027
    assert rules.timetable_problems(Method.OPEN, t, cal_2027) == []


def test_a_20_day_period_ending_in_an_entered_year_uses_its_calendar(cal, cal_2027):
    # 14 Dec + 20 days is Sunday 3 Jan 2027, a working day only in the entered calendar.
    with pytest.raises(CalendarYearMissing):
        rules.earliest_deadline_day(Method.OPEN, D("2026-12-14"), cal)
    assert rules.earliest_deadline_day(Method.OPEN, D("2026-12-14"), cal_2027) == D("2027-01-03")
    # 12 Dec + 20 days is 1 Jan (holiday), then Saturday 2 Jan (off), then the worked Sunday.
    assert rules.earliest_deadline_day(Method.OPEN, D("2026-12-12"), cal_2027) == D("2027-01-03")

    def check(deadline):
        t = minimal_timetable(cal_2027, Method.OPEN, "2026-12-14", deadline=bj(deadline))
        return codes(rules.timetable_problems(Method.OPEN, t, cal_2027))

    assert check("2027-01-02") == ["deadline_too_early"]
    assert check("2027-01-03") == []
    assert check("2027-01-04") == []


# --- Clarifications (C.12, H.34) ---------------------------------------------------------------------


@pytest.mark.parametrize("method", [Method.OPEN, Method.INVITED])
@pytest.mark.parametrize(("issued", "deadline", "moved_to"), [
    ("2026-09-20", "2026-10-09", None),  # 19 days before
    ("2026-09-24", "2026-10-09", None),  # exactly 15 days before: the deadline stays
    ("2026-09-25", "2026-10-09", "2026-10-10"),  # 14 days: day 15 is the worked Saturday
    ("2026-09-26", "2026-10-09", "2026-10-12"),  # 13 days: day 15 is an ordinary Sunday, rolled to Monday
    ("2026-09-15", "2026-09-30", None),  # 15 days before
    ("2026-09-16", "2026-09-30", "2026-10-08"),  # day 15 is 1 Oct: rolled past National Day
    ("2026-10-08", "2026-10-12", "2026-10-23"),  # 4 days before: day 15 is a working Friday
])
def test_tender_clarification_needs_15_days(cal, method, issued, deadline, moved_to):
    original = bj(deadline, time(14, 0))
    expected = original if moved_to is None else bj(moved_to, time(14, 0))
    assert rules.deadline_after_clarification(method, D(issued), original, cal) == expected


def test_moved_deadline_keeps_the_beijing_time_of_day(cal):
    # 00:30 in Beijing is 16:30 UTC the day before: the days are counted in Beijing, the time is kept there.
    original = bj("2026-10-09", time(0, 30))
    assert rules.deadline_after_clarification(Method.OPEN, D("2026-09-24"), original, cal) == original
    moved = rules.deadline_after_clarification(Method.OPEN, D("2026-09-25"), original, cal)
    assert moved == bj("2026-10-10", time(0, 30)) == datetime(2026, 10, 9, 16, 30, tzinfo=UTC)


@pytest.mark.parametrize(("issued", "deadline", "moved_to"), [
    ("2026-09-28", "2026-10-09", None),
    ("2026-09-29", "2026-10-09", None),  # 30 Sep, 8 and 9 Oct: exactly 3 WD
    ("2026-09-30", "2026-10-09", "2026-10-10"),  # 8, 9 Oct and the worked Saturday
    ("2026-10-09", "2026-10-12", "2026-10-13"),  # 10, 12, 13 Oct
    ("2026-09-24", "2026-09-29", "2026-09-30"),  # Mid-Autumn Friday does not count: 28, 29, 30 Sep
])
def test_negotiation_clarification_needs_3_working_days(cal, issued, deadline, moved_to):
    original = bj(deadline, time(14, 0))
    expected = original if moved_to is None else bj(moved_to, time(14, 0))
    assert rules.deadline_after_clarification(Method.NEGOTIATION, D(issued), original, cal) == expected


def test_clarification_reaching_a_missing_year_is_refused(cal, cal_2027):
    deadline = bj("2027-01-04")
    with pytest.raises(CalendarYearMissing):
        rules.deadline_after_clarification(Method.OPEN, D("2026-12-20"), deadline, cal)
    assert rules.deadline_after_clarification(Method.OPEN, D("2026-12-20"), deadline, cal_2027) == deadline
    assert rules.deadline_after_clarification(Method.OPEN, D("2026-12-21"), deadline, cal_2027) == bj("2027-01-05")


# --- Method and threshold (A.1-A.5) ------------------------------------------------------------------

THRESHOLD = Decimal("2000000.00")
CENT = Decimal("0.01")
APPROVED = {"approval_document": "郑财购〔2026〕12号", "approval_date": D("2026-03-02"),
            "approval_body": "郑州市财政局"}
NOT_APPROVED = {"approval_document": "", "approval_date": None, "approval_body": ""}


def method_codes(method, budget=THRESHOLD - CENT, *, ground=None, approval=None, supplier=None) -> list[str]:
    return codes(rules.method_problems(method, budget, THRESHOLD, ground=ground, **(approval or NOT_APPROVED),
                                       single_source_supplier=supplier))


@pytest.mark.parametrize(("budget", "approval", "expected"), [
    (THRESHOLD - CENT, NOT_APPROVED, []),  # below the threshold: no approval needed
    (THRESHOLD, NOT_APPROVED, ["approval_missing"]),  # 达到 the threshold includes it
    (THRESHOLD, APPROVED, []),
    (THRESHOLD * 5, APPROVED, []),
    (THRESHOLD, {**APPROVED, "approval_document": "  "}, ["approval_missing"]),
    (THRESHOLD, {**APPROVED, "approval_date": None}, ["approval_missing"]),
    (THRESHOLD, {**APPROVED, "approval_body": ""}, ["approval_missing"]),
])
def test_threshold_needs_approval_for_invited_tender(budget, approval, expected):
    assert method_codes(Method.INVITED, budget, ground=MethodGround.FEW_SUPPLIERS, approval=approval) == expected


def test_approval_problem_names_the_threshold():
    problems = rules.method_problems(Method.NEGOTIATION, THRESHOLD, THRESHOLD, ground=MethodGround.URGENT,
                                     **NOT_APPROVED, single_source_supplier=None)
    assert problems == [Problem("approval_missing", "L27, R23, 74-4", {"threshold": THRESHOLD})]


# The lawful grounds per method, from the law rather than from rules.GROUNDS_BY_METHOD.
LAWFUL_GROUNDS = {
    Method.INVITED: {"few_suppliers", "cost_disproportionate"},  # L29
    Method.NEGOTIATION: {"tender_failed", "cannot_specify", "urgent", "price_unknown"},  # L30
    Method.SINGLE_SOURCE: {"only_supplier", "emergency", "add_on"},  # L31
}


@pytest.mark.parametrize("method", list(LAWFUL_GROUNDS))
@pytest.mark.parametrize("ground", list(MethodGround))
def test_each_method_accepts_only_its_own_grounds(method, ground):
    expected = [] if ground in LAWFUL_GROUNDS[method] else ["ground_missing"]
    assert method_codes(method, ground=ground, supplier=7) == expected


@pytest.mark.parametrize("method", list(LAWFUL_GROUNDS))
def test_other_methods_need_a_ground(method):
    assert method_codes(method, ground=None, supplier=7) == ["ground_missing"]


def test_a_negotiation_ground_on_an_invited_tender_is_refused():
    assert method_codes(Method.INVITED, ground=MethodGround.TENDER_FAILED) == ["ground_missing"]


def test_single_source_needs_its_supplier():
    assert method_codes(Method.SINGLE_SOURCE, ground=MethodGround.ONLY_SUPPLIER, supplier=7) == []
    assert method_codes(Method.SINGLE_SOURCE, ground=MethodGround.ONLY_SUPPLIER) == ["single_source_supplier"]
    assert method_codes(Method.SINGLE_SOURCE, THRESHOLD) == ["ground_missing", "approval_missing",
                                                            "single_source_supplier"]


@pytest.mark.parametrize("budget", [Decimal("1.00"), THRESHOLD - CENT, THRESHOLD, THRESHOLD * 100])
def test_open_tender_needs_no_ground_nor_approval(budget):
    assert method_codes(Method.OPEN, budget) == []


# --- Scoring criteria (B.8, E.20-E.21) -----------------------------------------------------------------

REQUIREMENTS = [
    "具有独立承担民事责任的能力",
    "具有良好的商业信誉和健全的财务会计制度",
    "参加政府采购活动前三年内，在经营活动中没有重大违法记录",
    "资质",  # too short to be matched inside criteria
]
LAWFUL = [
    CriterionSpec(FactorType.SERVICE_PLAN, "服务方案的针对性和可行性", 40),
    # The qualifications of the team proposed for this service, not the organisation's headcount: lawful.
    CriterionSpec(FactorType.TEAM, "项目团队的专业资质（持证社工人数）", 20, "拟派项目团队中持证社工的人数与督导配置"),
    CriterionSpec(FactorType.MANAGEMENT, "项目管理与质量保障", 15),
    CriterionSpec(FactorType.EXPERIENCE, "同类项目经验", 15),
]


def criteria_problems(criteria=None, *, method=Method.OPEN, evaluation=EvaluationMethod.COMPREHENSIVE, price_weight=10,
                      requirements=None) -> list[Problem]:
    return rules.criteria_problems(method, evaluation, price_weight, LAWFUL if criteria is None else criteria,
                                   REQUIREMENTS if requirements is None else requirements)


def with_last(criterion: CriterionSpec) -> list[CriterionSpec]:
    """The lawful list with its last criterion (15 points) replaced."""
    return [*LAWFUL[:-1], criterion]


def test_lawful_criteria_pass():
    assert sum(c.weight for c in LAWFUL) + 10 == 100
    assert criteria_problems() == []
    for criterion in LAWFUL:
        assert rules.criterion_banned_reason(criterion, REQUIREMENTS) is None


@pytest.mark.parametrize(("factor_type", "code", "cited"), [
    (FactorType.REGIONAL_AWARD, "banned_regional_award", "R20(4)"),
    (FactorType.SIZE, "banned_size", "87-17"),
    (FactorType.QUALIFICATION, "banned_qualification", "87-55"),
])
def test_banned_factor_types_are_refused(factor_type, code, cited):
    problems = criteria_problems(with_last(CriterionSpec(factor_type, "其他因素", 15)))
    assert problems == [Problem(code, rules.BANNED_FACTORS[factor_type], {"name": "其他因素"})]
    assert cited in problems[0].article


@pytest.mark.parametrize(("factor_type", "name", "description", "code"), [
    (FactorType.OTHER, "注册资本不低于100万元的得5分", "", "banned_size"),
    (FactorType.OTHER, "近三年获得郑州市优秀社工机构称号", "", "banned_regional_award"),
    (FactorType.OTHER, "成立年限满5年", "", "banned_size"),
    (FactorType.OTHER, "机构实力", "机构从业人员总数50人以上的得5分", "banned_size"),  # the organisation's headcount
    (FactorType.OTHER, "财务状况", "上年度营业收入", "banned_size"),
    (FactorType.OTHER, "机构荣誉", "获得本市民政部门表彰的得3分", "banned_regional_award"),  # found in the description
    (FactorType.OTHER, "行业影响力", "行业内获奖情况", "banned_regional_award"),
    (FactorType.EXPERIENCE, "同类项目业绩（限郑州市内项目）", "", "banned_regional_award"),  # words beat a lawful type
    (FactorType.OTHER, "Financial strength", "registered capital of at least 1 million yuan", "banned_size"),
    (FactorType.OTHER, "具有独立承担民事责任的能力", "", "banned_qualification"),  # repeats a requirement
    (FactorType.OTHER, "具有独立承担民事责任的能力。", "", "banned_qualification"),  # punctuation ignored
    (FactorType.OTHER, "资信", "投标人具有独立承担民事责任的能力的得5分", "banned_qualification"),
    (FactorType.OTHER, "财务会计制度", "", "banned_qualification"),  # the name is part of a requirement
])
def test_banned_factors_are_found_in_the_words(factor_type, name, description, code):
    problems = criteria_problems(with_last(CriterionSpec(factor_type, name, 15, description)))
    assert codes(problems) == [code]
    assert problems[0].params == {"name": name}


@pytest.mark.parametrize("name", [
    "服务方案的针对性和可行性",
    "项目团队的专业资质（持证社工人数）",
    "同类项目经验",
    "资源链接与社区基础",
    "需求评估与服务对象参与",
])
def test_lawful_words_are_not_mistaken_for_banned_ones(name):
    assert rules.criterion_banned_reason(CriterionSpec(FactorType.OTHER, name, 15), REQUIREMENTS) is None


def test_region_without_an_award_and_award_without_a_region_are_lawful():
    assert rules.criterion_banned_reason(CriterionSpec(FactorType.OTHER, "对本地社区需求的了解", 10), []) is None
    assert rules.criterion_banned_reason(CriterionSpec(FactorType.OTHER, "同类项目业绩", 10), []) is None


@pytest.mark.parametrize(("price_weight", "expected"), [
    (9, [Problem("price_weight", "87-55", {"min": 10})]),
    (10, []),
    (11, []),
])
def test_price_weight_for_services_at_least_10(price_weight, expected):
    first = replace(LAWFUL[0], weight=LAWFUL[0].weight + 10 - price_weight)  # keep the total at 100
    assert criteria_problems([first, *LAWFUL[1:]], price_weight=price_weight) == expected


@pytest.mark.parametrize("delta", [-1, 1])
def test_weights_must_total_100(delta):
    first = replace(LAWFUL[0], weight=LAWFUL[0].weight + delta)
    assert criteria_problems([first, *LAWFUL[1:]]) == [Problem("weights_total", "87-55", {"total": 100 + delta})]


def test_zero_weight_is_refused():
    criteria = [*LAWFUL, CriterionSpec(FactorType.OTHER, "其他", 0)]
    assert codes(criteria_problems(criteria)) == ["weight_positive"]


def test_comprehensive_scoring_needs_criteria():
    assert codes(criteria_problems([], price_weight=100)) == ["criteria_missing"]


@pytest.mark.parametrize(("method", "evaluation", "expected"), [
    (Method.OPEN, EvaluationMethod.COMPREHENSIVE, []),
    (Method.INVITED, EvaluationMethod.COMPREHENSIVE, []),
    (Method.OPEN, EvaluationMethod.LOWEST_PRICE, ["evaluation_method"]),
    (Method.INVITED, EvaluationMethod.LOWEST_PRICE, ["evaluation_method"]),
    (Method.NEGOTIATION, EvaluationMethod.LOWEST_PRICE, []),
    (Method.NEGOTIATION, EvaluationMethod.COMPREHENSIVE, ["evaluation_method"]),
    (Method.SINGLE_SOURCE, EvaluationMethod.COMPREHENSIVE, ["evaluation_method"]),
])
def test_evaluation_method_follows_the_procurement_method(method, evaluation, expected):
    assert codes(criteria_problems(method=method, evaluation=evaluation)) == expected


def test_lowest_price_needs_no_weights_but_still_refuses_banned_factors():
    assert criteria_problems([], method=Method.NEGOTIATION, evaluation=EvaluationMethod.LOWEST_PRICE,
                             price_weight=0) == []
    banned = [CriterionSpec(FactorType.OTHER, "注册资本", 5)]
    assert codes(criteria_problems(banned, method=Method.NEGOTIATION, evaluation=EvaluationMethod.LOWEST_PRICE,
                                   price_weight=0)) == ["banned_size"]


def test_duplicate_names_are_refused():
    criteria = [replace(LAWFUL[0], weight=20), replace(LAWFUL[0], name="服务方案的 针对性和可行性。", weight=20),
                *LAWFUL[1:]]
    assert criteria_problems(criteria) == [Problem("duplicate_criterion")]


# --- Invited tender: the draw (A.3) ------------------------------------------------------------------


@pytest.mark.parametrize(("pool_size", "count", "source", "expected"), [
    (6, 2, PoolSource.DATABASE, ["draw_too_few"]),
    (2, 2, PoolSource.PREQUALIFICATION, ["draw_too_few"]),
    (3, 3, PoolSource.PREQUALIFICATION, []),  # a prequalification pool need not be twice the draw
    (2, 3, PoolSource.PREQUALIFICATION, ["pool_too_small"]),
    (5, 3, PoolSource.DATABASE, ["pool_too_small"]),
    (6, 3, PoolSource.DATABASE, []),
    (5, 3, PoolSource.RECOMMENDATION, ["pool_too_small"]),
    (6, 3, PoolSource.RECOMMENDATION, []),
    (7, 4, PoolSource.DATABASE, ["pool_too_small"]),
    (8, 4, PoolSource.DATABASE, []),
])
def test_draw_at_least_3_from_a_large_enough_pool(pool_size, count, source, expected):
    assert codes(rules.draw_problems(pool_size, count, source)) == expected


def test_pool_too_small_names_the_numbers():
    assert rules.draw_problems(5, 3, PoolSource.DATABASE) == [
        Problem("pool_too_small", "87-14", {"needed": 6, "size": 5})]


POOL = list(range(101, 121))


def test_draw_is_a_subset_of_the_requested_size():
    drawn = rules.draw_suppliers(POOL, 3, "ZZ-2026-0001")
    assert len(drawn) == len(set(drawn)) == 3
    assert set(drawn) <= set(POOL)
    assert sorted(rules.draw_suppliers(POOL[:6], 6, "ZZ-2026-0001")) == POOL[:6]


def test_same_seed_and_pool_give_the_same_draw_whatever_the_order():
    first = rules.draw_suppliers(POOL, 3, "ZZ-2026-0001")
    assert rules.draw_suppliers(POOL, 3, "ZZ-2026-0001") == first
    assert rules.draw_suppliers(list(reversed(POOL)), 3, "ZZ-2026-0001") == first
    assert rules.draw_suppliers(POOL[7:] + POOL[:7], 3, "ZZ-2026-0001") == first


def test_different_seeds_give_different_draws():
    draws = {frozenset(rules.draw_suppliers(POOL, 3, f"ZZ-2026-{n:04d}")) for n in range(30)}
    assert len(draws) >= 25  # 1140 possible triples: a few repeats at most


# --- Bids and opening (C.13, D.15-D.16) --------------------------------------------------------------

DEADLINE = bj("2026-10-08")


@pytest.mark.parametrize(("now", "expected"), [
    (DEADLINE - timedelta(days=3), True),
    (DEADLINE - US, True),
    (DEADLINE, False),
    (DEADLINE.astimezone(rules.BEIJING), False),  # the same instant written in Beijing time
    (DEADLINE + US, False),
])
def test_bidding_closes_at_the_deadline(now, expected):
    assert rules.bidding_open(now, DEADLINE) is expected


def test_no_deadline_means_no_bidding():
    assert rules.bidding_open(DEADLINE, None) is False


CAP = Decimal("350000.00")


@pytest.mark.parametrize(("price", "expected"), [
    ("0", ["price_not_positive"]),
    ("0.00", ["price_not_positive"]),
    ("-0.01", ["price_not_positive"]),
    ("-100", ["price_not_positive"]),
    ("100.001", ["price_precision"]),
    ("0.001", ["price_precision"]),
    ("350000.01", ["price_above_cap"]),
    ("350000.010", ["price_above_cap"]),
    ("350000.00", []),
    ("350000", []),
    ("350000.000", []),  # trailing zeros are still whole fen
    ("0.01", []),
    ("123456.78", []),
])
def test_price_problems(price, expected):
    assert codes(rules.price_problems(Decimal(price), CAP)) == expected


def test_price_above_cap_names_the_cap():
    assert rules.price_problems(CAP + CENT, CAP) == [Problem("price_above_cap", "87-63", {"cap": CAP})]


@pytest.mark.parametrize(("now", "deadline", "starter", "confirmer", "expected"), [
    (DEADLINE - US, DEADLINE, 1, 2, ["opening_before_deadline"]),
    (DEADLINE, DEADLINE, 1, 2, []),
    (DEADLINE + timedelta(minutes=5), DEADLINE, 1, 2, []),
    (DEADLINE, None, 1, 2, ["opening_before_deadline"]),
    (DEADLINE, DEADLINE, 1, 1, ["opening_same_officer"]),
    (DEADLINE, DEADLINE, 1, None, []),  # the first officer has started; nobody has confirmed yet
])
def test_opening_at_the_deadline_by_two_officers(now, deadline, starter, confirmer, expected):
    assert codes(rules.opening_problems(now, deadline, starter_id=starter, confirmer_id=confirmer)) == expected


@pytest.mark.parametrize(("bids", "too_few"), [(0, True), (1, True), (2, True), (3, False), (4, False)])
def test_fewer_than_3_bids_fail(bids, too_few):
    assert rules.too_few_bids(bids) is too_few


@pytest.mark.parametrize("status", list(BidStatus))
def test_only_submitted_bids_are_live(status):
    assert rules.live(status) is (status == BidStatus.SUBMITTED)


# --- Single source approval and price (H.35) ---------------------------------------------------------

NOTICE_UNTIL = D("2026-02-26")


@pytest.mark.parametrize(("today", "notice_until", "objections", "expected"), [
    ("2026-02-25", NOTICE_UNTIL, 0, ["notice_running"]),
    ("2026-02-26", NOTICE_UNTIL, 0, ["notice_running"]),  # the last day of the 公示
    ("2026-02-27", NOTICE_UNTIL, 0, []),  # the day after
    ("2026-02-27", None, 0, ["notice_running"]),
    ("2026-02-27", NOTICE_UNTIL, 1, ["objections_open"]),
    ("2026-02-26", NOTICE_UNTIL, 2, ["notice_running", "objections_open"]),
])
def test_single_source_approval_after_the_notice_and_objections(today, notice_until, objections, expected):
    assert codes(rules.single_source_approval_problems(D(today), notice_until, objections)) == expected


@pytest.mark.parametrize(("price", "expected"), [
    ("300000.01", ["agreed_above_budget"]),
    ("300000.00", []),
    ("299999.99", []),
    ("0", ["price_not_positive"]),
])
def test_agreed_price_within_budget(price, expected):
    assert codes(rules.agreed_price_problems(Decimal(price), Decimal("300000.00"))) == expected


# --- Phase and transitions ---------------------------------------------------------------------------


@pytest.mark.parametrize(("now", "expected"), [
    (DEADLINE - timedelta(days=1), "bidding"),
    (DEADLINE - US, "bidding"),
    (DEADLINE, "closed"),
    (DEADLINE + timedelta(days=1), "closed"),
])
@pytest.mark.parametrize("method", [Method.OPEN, Method.INVITED, Method.NEGOTIATION])
def test_phase_of_a_published_tender(method, now, expected):
    assert rules.phase(TenderStatus.PUBLISHED, method, now, deadline=DEADLINE, notice_until=None) == expected


@pytest.mark.parametrize(("now", "expected"), [
    (bj("2026-02-26", time(23, 59)), "public_notice"),  # the last day of the 公示, in Beijing
    (rules.day_start(D("2026-02-27")) - US, "public_notice"),
    (rules.day_start(D("2026-02-27")), "awaiting_approval"),  # 16:00 UTC on the 26th is midnight in Beijing
    (bj("2026-03-02"), "awaiting_approval"),
])
def test_phase_of_a_single_source_notice(now, expected):
    assert rules.phase(TenderStatus.PUBLISHED, Method.SINGLE_SOURCE, now, deadline=None,
                       notice_until=NOTICE_UNTIL) == expected


@pytest.mark.parametrize("status", [s for s in TenderStatus if s != TenderStatus.PUBLISHED])
def test_other_statuses_pass_through(status):
    before = DEADLINE - timedelta(days=1)
    assert rules.phase(status, Method.OPEN, before, deadline=DEADLINE, notice_until=None) == status
    assert rules.phase(status, Method.SINGLE_SOURCE, before, deadline=None, notice_until=NOTICE_UNTIL) == status


S = TenderStatus


@pytest.mark.parametrize(("old", "new", "allowed"), [
    (S.DRAFT, S.PUBLISHED, True),
    (S.DRAFT, S.CANCELLED, True),
    (S.DRAFT, S.OPENED, False),
    (S.DRAFT, S.AWARDED, False),
    (S.PUBLISHED, S.OPENED, True),
    (S.PUBLISHED, S.NEGOTIATING, True),
    (S.PUBLISHED, S.FAILED, True),
    (S.PUBLISHED, S.AWARDED, False),
    (S.PUBLISHED, S.DRAFT, False),
    (S.OPENED, S.EVALUATING, True),
    (S.OPENED, S.AWARDED, False),
    (S.EVALUATING, S.AWARDED, True),
    (S.NEGOTIATING, S.AWARDED, True),
    (S.AWARDED, S.CONCLUDED, True),
    (S.AWARDED, S.FAILED, True),  # an upheld challenge ends the procurement (94-16)
    (S.AWARDED, S.EVALUATING, True),  # or sends it back to the committee
    (S.AWARDED, S.PUBLISHED, False),
    (S.CONCLUDED, S.DRAFT, False),
    (S.FAILED, S.PUBLISHED, False),
    (S.CANCELLED, S.PUBLISHED, False),
    ("unknown", S.PUBLISHED, False),
])
def test_can_transition(old, new, allowed):
    assert rules.can_transition(old, new) is allowed
