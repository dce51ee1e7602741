"""The tender lifecycle through its services: methods, periods, criteria, draws, clarifications,
single source, negotiation and failure."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.calendar import CalendarYearMissing, WorkingCalendar
from portal.errors import DomainError
from portal.extensions import db
from portal.notices import Notice
from portal.notify import Notification
from portal.projects.models import ProjectStatus, ServiceProject
from portal.tenders import rules, services
from portal.tenders.models import Method, Objection, SupplierDraw, TenderStatus
from portal.tenders.rules import CriterionSpec, beijing_instant

CAL = WorkingCalendar()
# Tuesday 1 September 2026, 10:00 Beijing.
PUBLISH_AT = beijing_instant(date(2026, 9, 1), time(10, 0))
GOOD_CRITERIA = [CriterionSpec("service_plan", "服务方案的针对性和可行性", 40),
                 CriterionSpec("team", "项目团队的专业能力", 20),
                 CriterionSpec("management", "项目管理与质量保障", 10)]
REQUIREMENTS = ["具有独立承担民事责任的能力", "参加政府采购活动前三年内无重大违法记录"]


@pytest.fixture
def officer(create_user):
    return create_user("officer")


@pytest.fixture
def officer2(create_user, officer):
    return create_user("officer", organisation_id=officer.organisation_id)


@pytest.fixture
def project(officer, now):
    project = ServiceProject(bureau_id=officer.organisation_id, title="困难老年人关爱服务项目", plan="elderly",
                             status=ProjectStatus.READY, fiscal_year=2026, budget=Decimal("3000000"),
                             duration_months=12, needs_survey="入户调查 120 户")
    db.session.add(project)
    db.session.commit()
    return project


@pytest.fixture
def suppliers(create_org):
    return [create_org() for _ in range(7)]


def values(method=Method.OPEN, budget="500000", **extra):
    base = {"title": "困难老年人关爱服务", "method": method, "budget": Decimal(budget), "ceiling_price": None,
            "service_content": "上门探访、个案管理", "price_weight": 30, "complex": False, "method_ground": None,
            "justification": "", "approval_document": "", "approval_date": None, "approval_body": "",
            "single_source_supplier_id": None}
    return base | extra


def make_tender(project, officer, method=Method.OPEN, criteria=GOOD_CRITERIA, **extra):
    tender = services.create_tender(project, values(method, **extra), criteria if method in ("open", "invited")
                                    else [], REQUIREMENTS, actor=officer, now=PUBLISH_AT)
    db.session.commit()
    return tender


def publish_open(tender, officer, *, now=PUBLISH_AT, **dates):
    today = rules.local_date(now)
    defaults = {
        "notice_until": CAL.add_working_days(today, 5),
        "documents_from": today,
        "documents_until": CAL.add_working_days(today, 5),
        "bid_deadline": beijing_instant(rules.earliest_deadline_day(tender.method, today, CAL), time(9, 30)),
    }
    defaults.update(dates)
    services.publish_tender(tender, calendar=CAL, actor=officer, now=now, **defaults)
    db.session.commit()
    return tender


# --- criteria (RULES-CN B) ------------------------------------------------------------------------------


@pytest.mark.parametrize(("criterion", "article"), [
    (CriterionSpec("regional_award", "获得市级表彰", 10), "R20(4)"),
    (CriterionSpec("size", "注册资本", 10), "87-17, 46-5"),
    (CriterionSpec("qualification", "资格条件", 10), "87-55"),
    (CriterionSpec("other", "注册资本不低于100万元的得10分", 10), "87-17, 46-5"),
    (CriterionSpec("other", "近三年获得郑州市优秀社工机构称号", 10), "R20(4)"),
    (CriterionSpec("other", "具有独立承担民事责任的能力", 10), "87-55"),
])
def test_banned_criterion_refused_with_article(project, officer, criterion, article):
    criteria = [CriterionSpec("service_plan", "服务方案", 60), criterion]
    with pytest.raises(DomainError) as info:
        make_tender(project, officer, criteria=criteria)
    assert f"({article})" in str(info.value)


def test_price_weight_and_totals(project, officer):
    with pytest.raises(DomainError, match=r"\(87-55\)"):
        make_tender(project, officer, price_weight=9, criteria=[CriterionSpec("service_plan", "方案", 91)])
    with pytest.raises(DomainError, match=r"\(87-55\)"):
        make_tender(project, officer, criteria=[CriterionSpec("service_plan", "方案", 60)])  # 30 + 60
    tender = make_tender(project, officer, price_weight=10, criteria=[CriterionSpec("service_plan", "方案", 90)])
    assert tender.status == TenderStatus.DRAFT and tender.price_weight == 10


def test_ceiling_above_budget_refused(project, officer):
    with pytest.raises(DomainError):
        make_tender(project, officer, ceiling_price=Decimal("500000.01"))


def test_project_must_be_ready(project, officer):
    project.status = ProjectStatus.DRAFT
    db.session.commit()
    with pytest.raises(DomainError):
        make_tender(project, officer)


# --- open tender: publication and periods -----------------------------------------------------------------


def test_open_tender_published_with_notice_and_pdf(project, officer):
    tender = publish_open(make_tender(project, officer), officer)
    assert tender.status == TenderStatus.PUBLISHED and tender.published_at == PUBLISH_AT
    notice = db.session.scalar(sa.select(Notice).where(Notice.tender_id == tender.id))
    assert notice.kind == "tender" and notice.document is not None
    assert rules.phase(tender.status, tender.method, PUBLISH_AT, deadline=tender.bid_deadline,
                       notice_until=tender.notice_until) == "bidding"


def test_open_tender_deadline_one_day_early_refused(project, officer):
    tender = make_tender(project, officer)
    today = rules.local_date(PUBLISH_AT)
    earliest = rules.earliest_deadline_day(Method.OPEN, today, CAL)  # 2026-09-21
    day_before = CAL.previous_working_day(earliest)
    with pytest.raises(DomainError, match=r"\(L35\)"):
        publish_open(tender, officer, bid_deadline=beijing_instant(day_before, time(9, 30)))
    db.session.rollback()
    assert publish_open(tender, officer, bid_deadline=beijing_instant(earliest, time(9, 30))).status == "published"


def test_open_tender_notice_too_short_refused(project, officer):
    tender = make_tender(project, officer)
    today = rules.local_date(PUBLISH_AT)
    with pytest.raises(DomainError, match=r"\(87-16, 101-8\)"):
        publish_open(tender, officer, notice_until=CAL.add_working_days(today, 4))


def test_period_across_national_day(project, officer):
    """Documents issued 2026-09-11: 20 days end on 1 October, a holiday, so the earliest deadline is 8 October."""
    now = beijing_instant(date(2026, 9, 11), time(10, 0))
    tender = make_tender(project, officer)
    with pytest.raises(DomainError, match="2026-10-08"):
        publish_open(tender, officer, now=now, bid_deadline=beijing_instant(date(2026, 10, 7), time(9, 30)))
    db.session.rollback()
    published = publish_open(tender, officer, now=now, bid_deadline=beijing_instant(date(2026, 10, 8), time(9, 30)))
    assert published.status == TenderStatus.PUBLISHED


def test_deadline_in_a_year_without_calendar_is_refused(project, officer):
    now = beijing_instant(date(2026, 12, 10), time(10, 0))
    tender = make_tender(project, officer)
    with pytest.raises(CalendarYearMissing) as info:
        publish_open(tender, officer, now=now, notice_until=date(2026, 12, 17), documents_until=date(2026, 12, 17),
                     bid_deadline=beijing_instant(date(2027, 1, 5), time(9, 30)))
    assert "2027" in str(info.value)


# --- thresholds and grounds (RULES-CN A) ------------------------------------------------------------------


def test_other_method_at_threshold_needs_approval(project, officer, suppliers, officer2):
    tender = make_tender(project, officer, method=Method.INVITED, budget="2000000", method_ground="few_suppliers")
    services.draw_invitations(tender, pool_source="database", pool_ids=None, count=3, witnesses=(officer, officer2),
                              actor=officer, now=PUBLISH_AT)
    db.session.commit()
    with pytest.raises(DomainError, match=r"\(L27, R23, 74-4\)"):
        publish_open(tender, officer, notice_until=None)
    db.session.rollback()
    tender.approval_document, tender.approval_date = "郑财购〔2026〕12号", date(2026, 8, 20)
    tender.approval_body = "郑州市财政局"
    db.session.commit()
    assert publish_open(tender, officer, notice_until=None).status == TenderStatus.PUBLISHED


def test_below_threshold_needs_no_approval(project, officer, suppliers, officer2):
    tender = make_tender(project, officer, method=Method.INVITED, budget="1999999.99", method_ground="few_suppliers")
    services.draw_invitations(tender, pool_source="database", pool_ids=None, count=3, witnesses=(officer, officer2),
                              actor=officer, now=PUBLISH_AT)
    db.session.commit()
    assert publish_open(tender, officer, notice_until=None).status == TenderStatus.PUBLISHED


def test_ground_must_fit_the_method(project, officer, suppliers, officer2):
    tender = make_tender(project, officer, method=Method.INVITED, method_ground="urgent")
    services.draw_invitations(tender, pool_source="database", pool_ids=None, count=3, witnesses=(officer, officer2),
                              actor=officer, now=PUBLISH_AT)
    db.session.commit()
    with pytest.raises(DomainError, match=r"L29-L31"):
        publish_open(tender, officer, notice_until=None)


# --- invited tender: the draw -------------------------------------------------------------------------------


def test_draw_needs_three_and_a_big_enough_pool(project, officer, officer2, suppliers):
    tender = make_tender(project, officer, method=Method.INVITED, method_ground="few_suppliers")
    with pytest.raises(DomainError, match=r"\(L34, 87-14\)"):
        services.draw_invitations(tender, pool_source="database", pool_ids=None, count=2,
                                  witnesses=(officer, officer2), actor=officer, now=PUBLISH_AT)
    with pytest.raises(DomainError, match=r"\(87-14\)"):  # 5 in the pool, 3 drawn: needs 6
        services.draw_invitations(tender, pool_source="recommendation", pool_ids=[s.id for s in suppliers[:5]],
                                  count=3, witnesses=(officer, officer2), actor=officer, now=PUBLISH_AT)
    with pytest.raises(DomainError):  # one witness twice
        services.draw_invitations(tender, pool_source="database", pool_ids=None, count=3,
                                  witnesses=(officer, officer), actor=officer, now=PUBLISH_AT)


def test_draw_is_reproducible_and_publish_needs_it(project, officer, officer2, suppliers):
    tender = make_tender(project, officer, method=Method.INVITED, method_ground="few_suppliers")
    with pytest.raises(DomainError, match=r"87-14"):
        publish_open(tender, officer, notice_until=None)
    db.session.rollback()
    draw = services.draw_invitations(tender, pool_source="recommendation", pool_ids=[s.id for s in suppliers[:6]],
                                     count=3, witnesses=(officer, officer2), actor=officer, now=PUBLISH_AT)
    db.session.commit()
    stored = db.session.get(SupplierDraw, draw.id)
    assert services.replay_draw(stored) == stored.result_ids
    assert sorted(inv.supplier_id for inv in tender.invitations) == sorted(stored.result_ids)
    assert rules.draw_suppliers(list(reversed(stored.pool_ids)), 3, stored.seed) == stored.result_ids


def test_debarred_supplier_not_in_the_pool(project, officer, officer2, suppliers):
    for supplier in suppliers[:6]:
        supplier.debarred_until, supplier.debarment_reason = date(2027, 1, 1), "失信"
    db.session.commit()
    tender = make_tender(project, officer, method=Method.INVITED, method_ground="few_suppliers")
    with pytest.raises(DomainError):  # 1 eligible left
        services.draw_invitations(tender, pool_source="database", pool_ids=None, count=3,
                                  witnesses=(officer, officer2), actor=officer, now=PUBLISH_AT)


# --- clarifications ----------------------------------------------------------------------------------------


def test_clarification_fifteen_days_rule(project, officer):
    tender = publish_open(make_tender(project, officer), officer)
    deadline = tender.bid_deadline  # 2026-09-21 09:30
    far = beijing_instant(date(2026, 9, 6), time(10))  # 15 days before: stays
    assert services.clarification_deadline(tender, now=far, affects_bids=True, calendar=CAL) == deadline
    near = beijing_instant(date(2026, 9, 7), time(10))  # 14 days before: moves to 22 September
    moved = services.clarification_deadline(tender, now=near, affects_bids=True, calendar=CAL)
    assert moved == beijing_instant(date(2026, 9, 22), time(9, 30))
    assert services.clarification_deadline(tender, now=near, affects_bids=False, calendar=CAL) == deadline
    with pytest.raises(DomainError):  # the officer saw another date
        services.publish_clarification(tender, "更正", question_ids=[], affects_bids=True, expected_deadline=deadline,
                                       calendar=CAL, actor=officer, now=near)
    clarification = services.publish_clarification(tender, "服务人数调整为150户", question_ids=[], affects_bids=True,
                                                   expected_deadline=moved, calendar=CAL, actor=officer, now=near)
    db.session.commit()
    assert tender.bid_deadline == moved and clarification.deadline_before == deadline
    kinds = set(db.session.scalars(sa.select(Notice.kind).where(Notice.tender_id == tender.id)))
    assert kinds == {"tender", "correction"}


def test_questions_hide_the_asker_and_reach_officers(project, officer, create_user):
    tender = publish_open(make_tender(project, officer), officer)
    supplier = create_user("supplier")
    question = services.ask_question(tender, "服务对象的名单由谁提供？", asker=supplier, now=PUBLISH_AT)
    db.session.commit()
    assert question.supplier_id == supplier.organisation_id
    assert db.session.scalar(sa.select(sa.func.count(Notification.id)).where(Notification.user_id == officer.id)) == 1
    after = tender.bid_deadline
    with pytest.raises(DomainError):
        services.ask_question(tender, "截止后还能提问吗？", asker=supplier, now=after)


# --- single source -------------------------------------------------------------------------------------------


def test_single_source_notice_objection_approval_and_price(project, officer, suppliers):
    tender = make_tender(project, officer, method=Method.SINGLE_SOURCE, method_ground="only_supplier",
                         single_source_supplier_id=suppliers[0].id, justification="唯一具备条件的机构")
    today = rules.local_date(PUBLISH_AT)
    with pytest.raises(DomainError, match=r"\(R38, 74-38\)"):
        services.publish_tender(tender, notice_until=CAL.add_working_days(today, 4), documents_from=None,
                                documents_until=None, bid_deadline=None, calendar=CAL, actor=officer, now=PUBLISH_AT)
    db.session.rollback()
    notice_until = CAL.add_working_days(today, 5)
    services.publish_tender(tender, notice_until=notice_until, documents_from=None, documents_until=None,
                            bid_deadline=None, calendar=CAL, actor=officer, now=PUBLISH_AT)
    db.session.commit()
    objection = services.submit_objection(tender, name="某机构", contact="0371-1234567", text="我们也能提供该服务",
                                          now=PUBLISH_AT)
    db.session.commit()
    last_day = beijing_instant(notice_until, time(17))
    approval = {"approval_document": "郑财购〔2026〕30号", "approval_date": notice_until,
                "approval_body": "郑州市财政局"}
    with pytest.raises(DomainError, match="R38"):
        services.approve_single_source(tender, actor=officer, now=last_day, **approval)
    day_after = beijing_instant(CAL.next_working_day(notice_until), time(9))
    with pytest.raises(DomainError, match="74-39"):
        services.approve_single_source(tender, actor=officer, now=day_after, **approval)
    services.answer_objection(db.session.get(Objection, objection.id), "经论证，仅该机构具备条件", actor=officer,
                              now=day_after)
    with pytest.raises(DomainError):  # objections close with the notice
        services.submit_objection(tender, name="x", contact="y", text="too late now", now=day_after)
    services.approve_single_source(tender, actor=officer, now=day_after, **approval)
    assert tender.status == TenderStatus.NEGOTIATING
    services.record_single_source_agreement(tender, price=Decimal("500000.01"), record="双方协商，价格超出预算",
                                            actor=officer, now=day_after)
    assert tender.status == TenderStatus.FAILED
    assert db.session.scalar(sa.select(Notice.kind).where(Notice.tender_id == tender.id, Notice.kind == "failure"))


def test_single_source_agreement_within_budget(project, officer, suppliers):
    tender = make_tender(project, officer, method=Method.SINGLE_SOURCE, method_ground="emergency",
                         single_source_supplier_id=suppliers[0].id)
    tender.status, tender.published_at, tender.notice_until = TenderStatus.NEGOTIATING, PUBLISH_AT, date(2026, 9, 8)
    services.record_single_source_agreement(tender, price=Decimal("500000.00"), record="协商确定价格为预算金额",
                                            actor=officer, now=PUBLISH_AT)
    assert tender.agreed_price == Decimal("500000.00")


# --- negotiation ---------------------------------------------------------------------------------------------


def test_negotiation_needs_three_invited_and_three_working_days(project, officer, suppliers):
    tender = make_tender(project, officer, method=Method.NEGOTIATION, method_ground="price_unknown")
    services.invite_suppliers(tender, [s.id for s in suppliers[:2]], reason="书面推荐", actor=officer, now=PUBLISH_AT)
    db.session.commit()
    today = rules.local_date(PUBLISH_AT)
    dates = {"notice_until": None, "documents_from": today, "documents_until": CAL.add_working_days(today, 3)}
    with pytest.raises(DomainError, match=r"\(L38, 74-12\)"):
        services.publish_tender(tender, bid_deadline=beijing_instant(CAL.add_working_days(today, 3), time(9, 30)),
                                calendar=CAL, actor=officer, now=PUBLISH_AT, **dates)
    db.session.rollback()
    services.invite_suppliers(tender, [s.id for s in suppliers[:3]], reason="书面推荐", actor=officer, now=PUBLISH_AT)
    db.session.commit()
    with pytest.raises(DomainError, match=r"\(74-29\)"):
        services.publish_tender(tender, bid_deadline=beijing_instant(CAL.add_working_days(today, 2), time(9, 30)),
                                calendar=CAL, actor=officer, now=PUBLISH_AT, **dates)
    db.session.rollback()
    services.publish_tender(tender, bid_deadline=beijing_instant(CAL.add_working_days(today, 3), time(9, 30)),
                            calendar=CAL, actor=officer, now=PUBLISH_AT, **dates)
    assert tender.status == TenderStatus.PUBLISHED and tender.evaluation_method == "lowest_price"


def test_negotiation_with_fewer_than_three_left_ends(project, officer, suppliers):
    tender = make_tender(project, officer, method=Method.NEGOTIATION, method_ground="price_unknown")
    tender.status, tender.published_at, tender.opened_at = TenderStatus.OPENED, PUBLISH_AT, PUBLISH_AT
    db.session.commit()
    assert services.issue_negotiation_round(tender, "调整服务频次", final_quote_deadline=None, actor=officer,
                                            now=PUBLISH_AT) is None
    db.session.commit()
    assert tender.status == TenderStatus.FAILED
    assert "74-37" in tender.failure_reason


# --- failure and re-tender ------------------------------------------------------------------------------------


def test_retender_same_method_or_switch_with_approval(project, officer):
    tender = publish_open(make_tender(project, officer), officer)
    services.fail_tender(tender, reason="投标人不足3家", actor=officer, now=tender.bid_deadline)
    db.session.commit()
    again = services.retender(tender, method=Method.OPEN, actor=officer, now=tender.bid_deadline)
    assert again.status == TenderStatus.DRAFT and again.previous_tender_id == tender.id
    assert [c.name for c in again.criteria] == [c.name for c in tender.criteria]
    with pytest.raises(DomainError, match="87-43"):
        services.retender(tender, method=Method.NEGOTIATION, actor=officer, now=tender.bid_deadline)
    switched = services.retender(tender, method=Method.NEGOTIATION, approval_document="郑财购〔2026〕40号",
                                 approval_date=date(2026, 9, 25), approval_body="郑州市财政局", actor=officer,
                                 now=tender.bid_deadline)
    assert switched.method_ground == "tender_failed" and switched.evaluation_method == "lowest_price"
    with pytest.raises(DomainError):
        services.retender(tender, method=Method.INVITED, approval_document="x", approval_date=date(2026, 9, 25),
                          approval_body="y", actor=officer, now=tender.bid_deadline)


def test_cancel_published_tender_publishes_notice(project, officer):
    tender = publish_open(make_tender(project, officer), officer)
    services.cancel_tender(tender, reason="需求发生变化", actor=officer, now=PUBLISH_AT)
    db.session.commit()
    assert tender.status == TenderStatus.CANCELLED
    with pytest.raises(DomainError):
        services.cancel_tender(tender, reason="again", actor=officer, now=PUBLISH_AT)


def test_utc_storage_of_deadline(project, officer):
    tender = publish_open(make_tender(project, officer), officer)
    db.session.expire_all()
    assert tender.bid_deadline.tzinfo is not None
    assert tender.bid_deadline == datetime(2026, 9, 21, 1, 30, tzinfo=UTC)


def test_a_draw_is_never_repeated_and_prequalification_needs_a_record(project, officer, officer2, suppliers):
    tender = make_tender(project, officer, method=Method.INVITED, method_ground="few_suppliers")
    with pytest.raises(DomainError):
        services.draw_invitations(tender, pool_source="prequalification", pool_ids=[s.id for s in suppliers[:3]],
                                  count=3, witnesses=(officer, officer2), actor=officer, now=PUBLISH_AT)
    services.draw_invitations(tender, pool_source="database", pool_ids=None, count=3, witnesses=(officer, officer2),
                              actor=officer, now=PUBLISH_AT)
    with pytest.raises(DomainError, match="never repeated|重复"):
        services.draw_invitations(tender, pool_source="database", pool_ids=None, count=3,
                                  witnesses=(officer, officer2), actor=officer, now=PUBLISH_AT)
    assert len(tender.invitations) == 3


def test_invited_names_stay_off_the_public_notice(project, officer, officer2, suppliers):
    tender = make_tender(project, officer, method=Method.INVITED, method_ground="few_suppliers")
    services.draw_invitations(tender, pool_source="database", pool_ids=None, count=3, witnesses=(officer, officer2),
                              actor=officer, now=PUBLISH_AT)
    db.session.commit()
    publish_open(tender, officer, notice_until=None)
    notice = db.session.scalar(sa.select(Notice).where(Notice.tender_id == tender.id))
    assert not any(inv.supplier.name in notice.body for inv in tender.invitations)


def test_reference_uses_the_beijing_year(project, officer):
    new_year = beijing_instant(date(2027, 1, 1), time(1, 0))  # still 2026 in UTC
    tender = services.create_tender(project, values(), GOOD_CRITERIA, REQUIREMENTS, actor=officer, now=new_year)
    assert tender.reference.startswith("ZC2027-")


def test_extending_the_deadline_by_correction(project, officer):
    tender = publish_open(make_tender(project, officer), officer)  # deadline 2026-09-21 09:30
    old_deadline, old_until = tender.bid_deadline, tender.documents_until
    at = beijing_instant(date(2026, 9, 10), time(10))
    with pytest.raises(DomainError):  # never shorter
        services.change_timetable(tender, documents_until=old_until,
                                  bid_deadline=beijing_instant(date(2026, 9, 18), time(9, 30)), reason="提前截止",
                                  calendar=CAL, actor=officer, now=at)
    # Published on 10 Sep, 15 days end on 25 Sep: Mid-Autumn, a holiday, so the 28th (Monday) at the earliest.
    with pytest.raises(DomainError, match="2026-09-28"):
        services.change_timetable(tender, documents_until=old_until,
                                  bid_deadline=beijing_instant(date(2026, 9, 24), time(9, 30)),
                                  reason="因服务需求调整延期",
                                  calendar=CAL, actor=officer, now=at)
    with pytest.raises(DomainError, match="87-85"):  # 4 October is a National Day holiday
        services.change_timetable(tender, documents_until=old_until,
                                  bid_deadline=beijing_instant(date(2026, 10, 4), time(9, 30)),
                                  reason="延期至国庆假期",
                                  calendar=CAL, actor=officer, now=at)
    services.change_timetable(tender, documents_until=old_until,
                              bid_deadline=beijing_instant(date(2026, 9, 28), time(9, 30)),
                              reason="服务范围调整，延期",
                              calendar=CAL, actor=officer, now=at)
    db.session.commit()
    assert tender.bid_deadline == beijing_instant(date(2026, 9, 28), time(9, 30)) != old_deadline
    assert db.session.scalar(sa.select(sa.func.count(Notice.id)).where(Notice.kind == "correction")) == 1
    with pytest.raises(DomainError):  # after the deadline nothing moves
        services.change_timetable(tender, documents_until=old_until,
                                  bid_deadline=beijing_instant(date(2026, 10, 30), time(9, 30)), reason="再次延期",
                                  calendar=CAL, actor=officer, now=tender.bid_deadline)


# --- the wall between awards and bidding (RULES-CN B; issue 8, item 5) -----------------------------------------------


@pytest.mark.parametrize("criterion", [
    CriterionSpec("other", "上年度获市级表彰的机构加5分", 10),
    CriterionSpec("other", "年度考核优秀加3分", 10),
    CriterionSpec("other", "资金倾斜", 10, "获得资金倾斜或奖补的机构加分"),
    CriterionSpec("commendation", "表彰", 10),
])
def test_commendations_grades_and_tilts_are_never_bid_points(project, officer, criterion):
    criteria = [CriterionSpec("service_plan", "服务方案", 60), criterion]
    with pytest.raises(DomainError) as info:
        make_tender(project, officer, criteria=criteria)
    assert "(R20(4); issue 8)" in str(info.value)
    assert criterion.name in str(info.value)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(sa.text("tender_criteria"))) == 0


def test_the_factor_type_column_allows_the_commendation_kind_and_nothing_unknown(project, officer):
    """The migration keeps the check constraint to the enum (the service refuses the kind, the schema knows it)."""
    tender = make_tender(project, officer)
    db.session.execute(sa.text("INSERT INTO tender_criteria (tender_id, position, factor_type, name, description, "
                               "weight) VALUES (:t, 9, 'commendation', '表彰', '', 5)"), {"t": tender.id})
    db.session.rollback()
    with pytest.raises(sa.exc.IntegrityError):
        db.session.execute(sa.text("INSERT INTO tender_criteria (tender_id, position, factor_type, name, "
                                   "description, weight) VALUES (:t, 9, 'grade_bonus', '等次', '', 5)"),
                           {"t": tender.id})
    db.session.rollback()
