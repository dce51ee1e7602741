"""The award (RULES-CN F.28-F.29): confirm the top-ranked, the result notice with the expert list for 1 WD, the
award letter once, the 5-working-day deemed award at its boundary, pass-overs, and each bidder's own result.

The open tender of tests/award_builders.py ranks supplier 2 (93.84), supplier 0 (90.90), supplier 1 (80.20). Its
report is confirmed on Wednesday 2 December 2026 (Beijing), so the bureau has until Wednesday 9 December (the 5th
working day) and the award is deemed from Thursday 10 December.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.models import OrgKind, User
from portal.audit import AuditEntry
from portal.calendar import CalendarYearMissing
from portal.errors import Conflict, DomainError, NotAllowed
from portal.evaluation import award as service
from portal.evaluation import results
from portal.evaluation.models import (
    Award,
    AwardStatus,
    PassOver,
    PassOverReason,
    QualificationCheck,
    ScoreSheet,
)
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from portal.notify import Notification
from portal.pdf import GeneratedDocument
from portal.tenders.models import Tender, TenderStatus
from portal.tenders.rules import beijing_instant, local_date
from tests.award_builders import evaluated_negotiation, evaluated_open_tender, evaluated_single_source
from tests.support.concurrency import postgresql_only, run_concurrently
from tests.support.web import bj

AWARD_DAY = date(2026, 12, 3)  # Thursday, the day after the report
AT = beijing_instant(AWARD_DAY, time(10, 0))

pytestmark = pytest.mark.usefixtures("english_messages")


@pytest.fixture
def ev(city_bureau, create_user, now):
    return evaluated_open_tender(city_bureau, create_user, now=now)


def orgs(ev):
    return [user.organisation for user in ev.suppliers]


def inbox(user, since: datetime = AT - timedelta(days=1)) -> list[Notification]:
    """The user's notifications from ``since`` on (earlier ones are about the bids and the opening)."""
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id,
                                                                 Notification.created_at >= since)
                                   .order_by(Notification.id)))


def audited(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)))


def result_notices(tender) -> list[Notice]:
    return list(db.session.scalars(sa.select(Notice).where(Notice.tender_id == tender.id,
                                                           Notice.kind == NoticeKind.RESULT).order_by(Notice.id)))


def confirm(ev, at=AT, officer=None) -> Award:
    award = service.confirm_award(ev.tender, actor=officer or ev.officers[0], now=at)
    db.session.commit()
    return award


# --- Confirming and publishing -------------------------------------------------------------------------------


def test_confirm_awards_the_top_ranked_and_publishes_the_result_notice(ev):
    names = [e.name for e in ev.experts]
    assert not any(name in n.body for n in db.session.scalars(sa.select(Notice)) for name in names)
    winner = orgs(ev)[2]
    winner.address = "郑州市金水区文化路 1 号"
    db.session.commit()

    award = confirm(ev)

    assert (award.supplier_id, award.bid_id, award.amount) == (winner.id, ev.bids[2].id, Decimal("450000.00"))
    assert award.status == AwardStatus.ACTIVE and not award.deemed and award.decided_by_id == ev.officers[0].id
    assert ev.tender.status == TenderStatus.AWARDED
    [notice] = result_notices(ev.tender)
    assert notice.id == award.notice_id and notice.title.endswith("（中标结果公告）")
    assert local_date(notice.published_at) == AWARD_DAY
    assert notice.runs_until == date(2026, 12, 4) == award.notice_ends_on  # 1 WD after Thursday 3 December
    assert award.challenge_last_day == date(2026, 12, 15)  # 7 WD after Friday 4: 7-11, 14, 15 December
    body = notice.body
    for text in (ev.tender.reference, ev.tender.title, "郑州市民政局", winner.name, winner.address, winner.credit_code,
                 "¥450,000.00", "人民币肆拾伍万元整", "综合评分法", "2026-12-15", *names):
        assert text in body, text
    assert notice.document is not None  # the notice's PDF
    assert [e.subject_id for e in audited("award.confirmed")] == [str(award.id)]


def test_the_award_letter_is_issued_once(ev):
    award = confirm(ev)
    letter = db.session.get(GeneratedDocument, award.letter_document_id)
    assert letter.key == f"award-letter:{award.id}" and letter.number.startswith("ZB-2026-")
    assert letter.file.read_bytes().startswith(b"%PDF")
    again = service.issue_document(f"award-letter:{award.id}", service.LETTER_TEMPLATE,
                                   service.award_letter_context(ev.tender, award), prefix=service.LETTER_PREFIX,
                                   now=AT + timedelta(days=1))
    assert again.id == letter.id
    assert db.session.scalar(sa.select(sa.func.count(GeneratedDocument.id))
                             .where(GeneratedDocument.key.like("award-letter:%"))) == 1


def test_winner_and_losers_are_told_with_their_own_links(ev):
    award = confirm(ev)
    [won] = inbox(ev.suppliers[2])
    assert won.link == f"/tenders/{ev.tender.id}/award/letter.pdf"
    for loser in ev.suppliers[:2]:
        [lost] = inbox(loser)
        assert lost.link == f"/tenders/{ev.tender.id}/award/my-result"
        assert award.supplier.name in lost.body and "2026-12-15" in lost.body
    assert all(not inbox(officer) for officer in ev.officers)  # only a deemed award tells the officers


def test_confirm_refusals(ev, create_user, create_org, city_bureau):
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    with pytest.raises(NotAllowed):
        service.confirm_award(ev.tender, actor=create_user("officer", organisation_id=district.id), now=AT)
    with pytest.raises(NotAllowed):
        service.confirm_award(ev.tender, actor=ev.suppliers[0], now=AT)
    db.session.rollback()
    ev.committee.report_completed_at = None
    db.session.commit()
    with pytest.raises(DomainError, match="evaluation report"):
        service.confirm_award(ev.tender, actor=ev.officers[0], now=AT)
    db.session.rollback()
    ev.committee.report_completed_at = AT - timedelta(days=1)
    db.session.commit()
    confirm(ev)
    with pytest.raises(Conflict):
        service.confirm_award(ev.tender, actor=ev.officers[1], now=AT)


def test_an_unranked_evaluation_cannot_be_awarded(ev):
    sheet = db.session.scalar(sa.select(ScoreSheet).where(ScoreSheet.member_id == ev.committee.members[0].id))
    db.session.delete(sheet)  # one member's sheet missing: scoring incomplete
    db.session.commit()
    assert not results.results(ev.committee).ranked
    with pytest.raises(DomainError, match="not ranked"):
        service.confirm_award(ev.tender, actor=ev.officers[0], now=AT)


def test_the_unique_index_refuses_a_second_active_award(ev, monkeypatch):
    db.session.add(Award(tender_id=ev.tender.id, supplier_id=orgs(ev)[0].id, amount=Decimal("1"), decided_at=AT))
    db.session.commit()
    # As if a concurrent request had slipped past the lock: the service does not see the active award.
    monkeypatch.setattr(service, "active_award", lambda tender: None)
    with pytest.raises(Conflict, match="just been awarded"):
        service.confirm_award(ev.tender, actor=ev.officers[0], now=AT)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Award.id))) == 1


def test_two_concurrent_confirmations_give_one_award(app, ev):
    postgresql_only()
    tender_id, officer_ids = ev.tender.id, [o.id for o in ev.officers]
    db.session.commit()

    def attempt(officer_id: int):
        return lambda: service.confirm_award(db.session.get(Tender, tender_id), actor=db.session.get(User, officer_id),
                                             now=AT)

    outcomes = run_concurrently(app, [attempt(officer_id) for officer_id in officer_ids])
    assert outcomes.count("ok") == 1 and all(o == "ok" or isinstance(o, DomainError) for o in outcomes), outcomes
    assert db.session.scalar(sa.select(sa.func.count(Award.id)).where(Award.tender_id == tender_id)) == 1
    assert len(result_notices(db.session.get(Tender, tender_id))) == 1


def test_a_result_period_reaching_a_year_without_calendar_is_refused_naming_it(ev):
    # Published Wednesday 30 December: the notice ends on the 31st and the challenge period runs into 2027.
    with pytest.raises(CalendarYearMissing, match="2027"):
        service.confirm_award(ev.tender, actor=ev.officers[0], now=bj("2026-12-30"))


def test_negotiation_awards_the_lowest_final_quote_as_a_deal(city_bureau, create_user, now):
    ev = evaluated_negotiation(city_bureau, create_user, now=now)
    award = confirm(ev)
    assert award.amount == Decimal("449999.99") and award.supplier_id == ev.suppliers[2].organisation_id
    [notice] = result_notices(ev.tender)
    assert notice.title.endswith("（成交结果公告）")
    assert "成交供应商" in notice.body and "谈判小组成员名单" in notice.body
    assert all(e.name in notice.body for e in ev.experts)
    letter = db.session.get(GeneratedDocument, award.letter_document_id)
    assert service.award_letter_context(ev.tender, award)["title"] == "成交通知书" and letter.number.startswith("ZB")


def test_single_source_is_awarded_at_the_agreed_price(city_bureau, create_user, now):
    ev = evaluated_single_source(city_bureau, create_user, now=now)
    assert ev.tender.status == TenderStatus.NEGOTIATING
    award = confirm(ev)
    assert ev.tender.status == TenderStatus.AWARDED and award.bid_id is None
    assert award.amount == Decimal("180000.00") and award.supplier_id == ev.suppliers[0].organisation_id
    assert "单一来源采购" in result_notices(ev.tender)[0].body


# --- Deemed award after 5 working days (R43, 87-68) ---------------------------------------------------------------


def test_deemed_award_from_the_day_after_the_fifth_working_day(ev, create_user):
    assert local_date(ev.committee.report_completed_at) == date(2026, 12, 2)
    assert service.deemed_award_day(ev.committee) == date(2026, 12, 10)
    assert service.deem_awards(bj("2026-12-09", "23:59:59")) == 0  # the bureau has the whole 5th working day
    assert ev.tender.status == TenderStatus.EVALUATING
    assert service.deem_awards(bj("2026-12-10", "00:00")) == 1
    db.session.commit()
    award = service.active_award(ev.tender)
    assert award.deemed and award.decided_by_id is None and award.supplier_id == orgs(ev)[2].id
    assert "视同确定" in result_notices(ev.tender)[0].body
    assert [n.link for n in inbox(ev.officers[0])] == [f"/tenders/{ev.tender.id}/award"]
    assert len(audited("award.deemed")) == 1
    assert service.deem_awards(bj("2026-12-10", "00:15")) == 0  # idempotent
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count(Award.id))) == 1 and len(inbox(ev.officers[1])) == 1


@pytest.mark.parametrize(("report_day", "last_day", "deemed_day"), [
    ("2026-12-04", "2026-12-11", "2026-12-12"),  # a Friday: 7-11 December; deemed on the Saturday
    # Wednesday 30 September: National Day 1-7 October is off, Saturday 10 October is worked (调休):
    # 8, 9, 10, 12, 13 October; deemed on Wednesday 14 October.
    ("2026-09-30", "2026-10-13", "2026-10-14"),
])
def test_deemed_award_across_a_weekend_or_holiday(city_bureau, create_user, report_day, last_day, deemed_day):
    report_at = bj(report_day, "16:00")
    ev = evaluated_open_tender(city_bureau, create_user, now=report_at - timedelta(days=3), report_at=report_at)
    assert service.deemed_award_day(ev.committee) == date.fromisoformat(deemed_day)
    assert service.deem_awards(bj(last_day, "23:59:59")) == 0
    assert service.deem_awards(bj(deemed_day, "00:00")) == 1
    db.session.commit()
    assert service.active_award(ev.tender).deemed


def test_deem_leaves_alone_what_it_must(ev, city_bureau, create_user, now):
    unfinished = evaluated_open_tender(city_bureau, create_user, now=now, experts=ev.experts)
    unfinished.committee.report_completed_at = None
    db.session.commit()
    confirm(ev)  # awarded by the officer on time
    assert service.deem_awards(bj("2026-12-20")) == 0
    service.pass_over(ev.tender, supplier_id=orgs(ev)[2].id, reason=PassOverReason.DECLINED,
                      note="中标供应商书面声明放弃中标", actor=ev.officers[0], now=bj("2026-12-21"))
    db.session.commit()
    assert ev.tender.status == TenderStatus.EVALUATING
    # After an award was annulled the bureau chooses (R49): nothing is deemed on the same report.
    assert service.deem_awards(bj("2026-12-22")) == 0
    assert unfinished.tender.status == TenderStatus.EVALUATING


# --- Passing over a candidate (87-68, R49) ---------------------------------------------------------------------


def test_pass_over_the_top_candidate_before_the_award(ev):
    first, second, third = orgs(ev)[2], orgs(ev)[0], orgs(ev)[1]
    with pytest.raises(DomainError, match="top remaining"):
        service.pass_over(ev.tender, supplier_id=second.id, reason=PassOverReason.DECLINED, note="放弃中标资格",
                          actor=ev.officers[0], now=AT)
    with pytest.raises(DomainError, match="Explain"):
        service.pass_over(ev.tender, supplier_id=first.id, reason=PassOverReason.DECLINED, note=" ",
                          actor=ev.officers[0], now=AT)
    with pytest.raises(DomainError, match="Choose"):
        service.pass_over(ev.tender, supplier_id=first.id, reason="bored", note="放弃中标资格",
                          actor=ev.officers[0], now=AT)
    db.session.rollback()
    service.pass_over(ev.tender, supplier_id=first.id, reason=PassOverReason.DISQUALIFIED,
                      note="经核查不具备资格条件", actor=ev.officers[0], now=AT)
    db.session.commit()
    assert [row.supplier_id for row in service.candidates(ev.committee)] == [second.id, third.id]
    assert len(audited("award.passed_over")) == 1
    assert confirm(ev).supplier_id == second.id


def test_pass_over_the_winner_annuls_the_award_and_the_next_one_gets_a_new_notice(ev):
    first_award = confirm(ev)
    winner = orgs(ev)[2]
    with pytest.raises(DomainError, match="only the winner"):
        service.pass_over(ev.tender, supplier_id=orgs(ev)[0].id, reason=PassOverReason.DECLINED,
                          note="放弃中标资格", actor=ev.officers[0], now=AT)
    db.session.rollback()
    service.pass_over(ev.tender, supplier_id=winner.id, reason=PassOverReason.DECLINED, note="拒绝签订合同",
                      actor=ev.officers[0], now=AT + timedelta(days=1))
    db.session.commit()
    assert first_award.status == AwardStatus.ANNULLED and "拒绝签订合同" in first_award.annulled_reason
    assert ev.tender.status == TenderStatus.EVALUATING
    assert len(result_notices(ev.tender)) == 1  # nothing new until the next award
    assert inbox(ev.suppliers[2])[-1].body.count("拒绝签订合同") == 1  # the former winner is told
    second_award = confirm(ev, at=AT + timedelta(days=4))
    assert second_award.supplier_id == orgs(ev)[0].id
    assert second_award.letter_document_id != first_award.letter_document_id
    notices = result_notices(ev.tender)
    assert len(notices) == 2 and orgs(ev)[0].name in notices[1].body


def test_passing_over_the_last_candidate_fails_the_tender(ev):
    for index, org in enumerate([orgs(ev)[2], orgs(ev)[0], orgs(ev)[1]]):
        service.pass_over(ev.tender, supplier_id=org.id, reason=PassOverReason.DECLINED, note="放弃中标资格",
                          actor=ev.officers[0], now=AT + timedelta(hours=index))
        db.session.commit()
    assert ev.tender.status == TenderStatus.FAILED
    assert db.session.scalar(sa.select(sa.func.count(PassOver.id))) == 3
    assert db.session.scalar(sa.select(Notice).where(Notice.kind == NoticeKind.FAILURE)) is not None
    assert service.candidates(ev.committee) == []


# --- Each bidder's own result -------------------------------------------------------------------------------------


def test_own_result_only_after_the_notice_and_only_own_numbers(ev, create_user):
    loser = orgs(ev)[1]
    assert service.own_result(ev.tender, loser) is None  # nothing before the result is published
    confirm(ev)
    mine = service.own_result(ev.tender, loser)
    assert mine["total"] == Decimal("80.20") and mine["quality"] == Decimal("70.20")
    assert mine["price_score"] == Decimal("10.00") and mine["price"] == Decimal("380000.00")
    assert (mine["rank"], mine["candidates"], mine["is_winner"]) == (3, 3, False)
    assert [c["points"] for c in mine["criteria"]] == [Decimal("30.20"), Decimal("24.20"), Decimal("15.80")]
    assert mine["winner"] == orgs(ev)[2].name and mine["winner_amount"] == Decimal("450000.00")
    others = {str(v) for v in (Decimal("90.90"), Decimal("93.84"), Decimal("81.40"), Decimal("400000.00"))}
    assert not others & {str(v) for v in mine.values()}
    assert orgs(ev)[0].name not in str(mine)
    assert service.own_result(ev.tender, create_user("supplier").organisation) is None
    assert service.own_result(ev.tender, None) is None
    assert service.own_result(ev.tender, orgs(ev)[2])["is_winner"]


def test_own_result_of_a_bid_that_failed_qualification(ev):
    loser = orgs(ev)[1]
    requirement = ev.tender.requirements[0]
    db.session.add(QualificationCheck(committee_id=ev.committee.id, bid_id=ev.bids[1].id,
                                      requirement_id=requirement.id, passed=False, reason="未提供财务审计报告",
                                      recorded_by_id=ev.experts[0].id, recorded_at=AT - timedelta(days=2)))
    db.session.commit()
    confirm(ev)
    mine = service.own_result(ev.tender, loser)
    assert mine["qualified"] is False and mine["rank"] is None and mine["total"] is None
    assert mine["failed"] == [{"requirement": requirement.text, "reason": "未提供财务审计报告"}]
    assert mine["candidates"] == 2


def test_a_negotiation_bidder_sees_its_final_quote_and_rank(city_bureau, create_user, now):
    ev = evaluated_negotiation(city_bureau, create_user, now=now)
    confirm(ev)
    mine = service.own_result(ev.tender, ev.suppliers[1].organisation)
    assert (mine["rank"], mine["candidates"], mine["price"]) == (3, 3, Decimal("461000.00"))
    assert mine["total"] is None and not mine["comprehensive"]


def test_the_jobs_are_collected_by_the_scheduler(app):
    from portal.evaluation import jobs
    from portal.scheduler import collect_jobs

    specs = {spec.id: spec for spec in collect_jobs(app)}
    assert specs["evaluation.deem_awards"].func is service.deem_awards
    assert specs["evaluation.remind_challenges"].func is service.remind_challenges
    assert specs["evaluation.deem_awards"].interval == timedelta(minutes=15)
    assert len(jobs.JOBS) == 2


# --- Review fixes ---------------------------------------------------------------------------------------------------


def test_the_bureau_sees_no_candidates_before_the_scoring_is_closed(ev):
    ev.committee.scoring_closed_at = ev.committee.report_completed_at = None
    db.session.commit()
    assert results.results(ev.committee).ranked  # every sheet is in: the ranking exists, but is not shown yet
    with pytest.raises(DomainError, match="closed its scoring"):
        service.candidates(ev.committee)
    ev.committee.scoring_closed_at = AT - timedelta(days=1)
    db.session.commit()
    assert [row.rank for row in service.candidates(ev.committee)] == [1, 2, 3]


def test_result_notice_refers_to_the_tender_documents(app, ev, monkeypatch):
    monkeypatch.setitem(app.config, "PORTAL_BASE_URL", "https://zfcg.example.cn/")
    from portal.notices import publish_notice

    notice = publish_notice(NoticeKind.TENDER, bureau=ev.tender.bureau, title=f"{ev.tender.title}（采购公告）",
                            body="采购公告正文", now=ev.tender.published_at, tender=ev.tender)
    db.session.commit()
    award = confirm(ev)
    body = db.session.get(Notice, award.notice_id).body
    line = next(line for line in body.splitlines() if line.startswith("采购文件："))
    assert f"https://zfcg.example.cn/tenders/{ev.tender.id}" in line and notice.document.number in line


def test_result_notice_without_a_base_url_gives_the_tender_page(ev):
    award = confirm(ev)
    assert f"采购文件：/tenders/{ev.tender.id}" in db.session.get(Notice, award.notice_id).body


def test_a_candidate_passed_over_before_the_award_is_told(ev):
    top = orgs(ev)[2]
    service.pass_over(ev.tender, supplier_id=top.id, reason=PassOverReason.DECLINED, note="书面声明放弃中标资格",
                      actor=ev.officers[0], now=AT)
    db.session.commit()
    [told] = inbox(ev.suppliers[2])
    assert told.link == f"/tenders/{ev.tender.id}" and "书面声明放弃中标资格" in told.body
    assert not inbox(ev.suppliers[0]) and not inbox(ev.suppliers[1])


def test_an_annulled_award_is_withdrawn_by_a_correction_notice_and_the_bidders_are_told(ev):
    first = confirm(ev)
    later = AT + timedelta(days=1)
    service.pass_over(ev.tender, supplier_id=orgs(ev)[2].id, reason=PassOverReason.DECLINED, note="拒绝签订合同",
                      actor=ev.officers[0], now=later)
    db.session.commit()
    [correction] = db.session.scalars(sa.select(Notice).where(Notice.tender_id == ev.tender.id,
                                                              Notice.kind == NoticeKind.CORRECTION)).all()
    assert correction.title.startswith(ev.tender.title) and correction.document is not None
    for text in (ev.tender.reference, ev.tender.title, "撤销", orgs(ev)[2].name, "拒绝签订合同", "2026-12-03",
                 "中标通知书作废"):
        assert text in correction.body, text
    assert str(correction.document.number) in db.session.scalar(sa.select(AuditEntry.new_values).where(
        AuditEntry.action == "award.annulled"))
    for loser in ev.suppliers[:2]:
        note = inbox(loser, since=later)[-1]
        assert note.link == f"/notices/{correction.id}" and orgs(ev)[2].name in note.body
    assert "拒绝签订合同" in inbox(ev.suppliers[2], since=later)[-1].body  # the former winner: award_annulled
    assert first.status == AwardStatus.ANNULLED
