"""Drafting and signing contracts (RULES-CN F.30, I.38): the term (12 / 13 / 36 / 37 months), yearly budget lines,
the payment schedule, the bond, the challenge gate (R54), signing by each party once, the PDF frozen once, the
30-day clock with its reminders, the contract notice within 2 working days (published by the job on the last
day) and the filing within 7 working days.

The open tender of tests/award_builders.py (here of a district bureau) is awarded on Thursday 3 December 2026 to
supplier 2 at 450,000 yuan: the challenge period runs until Tuesday 15 December, the contract must be signed by
2 January 2027 (reminder on 23 December, overdue from 3 January).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.models import OrgKind
from portal.audit import AuditEntry
from portal.calendar import save_year
from portal.contracts import services
from portal.contracts.jobs import JOBS
from portal.contracts.models import Contract, ContractStatus, Gate
from portal.errors import Conflict, DomainError, NotAllowed
from portal.evaluation import award as awards
from portal.evaluation.models import AwardStatus, Challenge, ChallengeStatus
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from portal.notify import Notification
from portal.pdf import GeneratedDocument
from portal.tenders.models import Method, TenderStatus
from tests import dashboard_builders as histories
from tests.award_builders import evaluated_open_tender
from tests.funding_builders import district as district_under
from tests.support.web import bj

pytestmark = pytest.mark.usefixtures("english_messages")

D = date.fromisoformat
AMOUNT = Decimal("450000.00")
SCHEDULE = [(Decimal("30"), Gate.SIGNING, ""), (Decimal("40"), Gate.REVIEW, "中期评估合格后"),
            (Decimal("30"), Gate.ACCEPTANCE, "")]
GROUNDS = {"budget_secured": True, "service_stable": True,
           "long_term_note": "三年预算已纳入中期财政规划，服务内容固定。"}


AT = bj("2026-12-03")
OPEN = bj("2026-12-16")  # the first day after the challenge period


@pytest.fixture
def district(create_org, city_bureau):
    return create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)


@pytest.fixture
def ev(district, create_user, now):
    ev = evaluated_open_tender(district, create_user, now=now)
    for user in ev.officers + ev.suppliers:
        user.locale = "en"
    db.session.commit()
    awards.confirm_award(ev.tender, actor=ev.officers[0], now=AT)
    db.session.commit()
    return ev


def award_of(ev):
    return awards.active_award(ev.tender)


def winner(ev):
    return ev.suppliers[2]


def values(**changes) -> dict:
    base = {"title": "社区困难老年人关爱服务合同", "service_content": "为辖区困难老年人提供探访、照料与心理支持服务。",
            "targets": "每月探访不少于200人次；满意度不低于90%。", "start_date": D("2027-01-01"),
            "end_date": D("2027-12-31"), "budget_secured": False, "service_stable": False, "long_term_note": "",
            "report_interval": "quarterly", "performance_bond": None, "breach_terms": services.DEFAULT_BREACH_TERMS}
    return base | changes


def draft(ev, at=OPEN, installments=SCHEDULE, lines=None, **changes) -> Contract:
    contract = services.draft_contract(award_of(ev), values(**changes), installments, lines or {},
                                       actor=ev.officers[0], now=at)
    db.session.commit()
    return contract


def sign_both(ev, contract, at=bj("2026-12-18")) -> Contract:
    services.sign(contract, actor=ev.officers[0], now=at)
    services.sign(contract, actor=winner(ev), now=at + timedelta(minutes=5))
    db.session.commit()
    return contract


def audited(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def inbox(user, since: datetime) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id,
                                                                 Notification.created_at >= since)
                                   .order_by(Notification.id)))


# --- Drafting -------------------------------------------------------------------------------------------------------


def test_draft_takes_parties_and_amount_from_the_award(ev, district):
    contract = draft(ev, installments=SCHEDULE)
    award = award_of(ev)
    assert contract.status == ContractStatus.DRAFT and contract.amount == AMOUNT == award.amount
    assert (contract.bureau_id, contract.supplier_id, contract.award_id) == (district.id, award.supplier_id, award.id)
    assert contract.award_letter_on == D("2026-12-03")
    assert contract.reference == f"HT2026-{district.id:03d}-0001"
    assert [(i.position, i.percent, i.amount, i.gate) for i in contract.installments] == [
        (1, Decimal("30"), Decimal("135000.00"), Gate.SIGNING), (2, Decimal("40"), Decimal("180000.00"), Gate.REVIEW),
        (3, Decimal("30"), Decimal("135000.00"), Gate.ACCEPTANCE)]
    assert [i.gate_label for i in contract.installments] == ["合同签订后", "中期评估合格后", "终期验收合格后"]
    assert [(line.fiscal_year, line.amount) for line in contract.budget_lines] == [(2027, AMOUNT)]
    assert all(i.gate_met_at is None for i in contract.installments)
    entry = audited("contract.drafted")[0]
    assert entry.actor_id == ev.officers[0].id and '"amount":"450000.00"' in entry.new_values
    assert [n.subject for n in inbox(winner(ev), OPEN)] == [
        f"Contract drafted for your signature: {contract.reference}"]


def test_draft_defaults_come_from_the_tender(ev):
    defaults = services.draft_defaults(award_of(ev), D("2026-12-16"))
    assert defaults["title"] == ev.tender.title and defaults["service_content"] == ev.tender.service_content
    assert (defaults["start_date"], defaults["end_date"]) == (D("2027-01-01"), D("2027-12-31"))
    assert "违约" not in defaults["title"] and defaults["breach_terms"] == services.DEFAULT_BREACH_TERMS
    lines = services.default_budget_lines(AMOUNT, D("2027-07-01"), D("2029-06-30"))
    assert list(lines) == [2027, 2028, 2029] and sum(lines.values()) == AMOUNT
    assert lines[2028] > lines[2027] > 0


def test_only_the_bureaus_officer_drafts_once(ev, create_user, city_bureau):
    city_officer = create_user("officer", organisation_id=city_bureau.id)
    with pytest.raises(NotAllowed):
        services.draft_contract(award_of(ev), values(), SCHEDULE, {}, actor=city_officer, now=OPEN)
    with pytest.raises(NotAllowed):
        services.draft_contract(award_of(ev), values(), SCHEDULE, {}, actor=winner(ev), now=OPEN)
    db.session.rollback()
    draft(ev)
    with pytest.raises(Conflict, match="already been drafted"):
        draft(ev)


# --- Term -----------------------------------------------------------------------------------------------------------


def test_term_of_12_months_needs_no_grounds(ev):
    contract = draft(ev, start_date=D("2027-01-01"), end_date=D("2027-12-31"))
    assert contract.end_date == D("2027-12-31")


def test_term_of_13_months_refused_without_grounds(ev):
    lines = {2027: Decimal("400000.00"), 2028: Decimal("50000.00")}
    with pytest.raises(DomainError, match=r"covers 13 months: more than 12 months needs both grounds.*\(102-24\)"):
        draft(ev, end_date=D("2028-01-01"), lines=lines)
    db.session.rollback()
    with pytest.raises(DomainError, match="13 months"):  # one ground is not enough
        draft(ev, end_date=D("2028-01-01"), lines=lines, budget_secured=True, long_term_note="预算已保障")
    db.session.rollback()
    contract = draft(ev, end_date=D("2028-01-01"), lines=lines, **GROUNDS)
    assert contract.long_term_note.startswith("三年预算")


def test_term_of_36_months_allowed_with_grounds_37_never(ev):
    lines = {2027: Decimal("150000.00"), 2028: Decimal("150000.00"), 2029: Decimal("150000.00")}
    with pytest.raises(DomainError, match="36 months: more than 12"):
        draft(ev, end_date=D("2029-12-31"), lines=lines)
    db.session.rollback()
    with pytest.raises(DomainError, match=r"covers 37 months: a service agreement runs at most 36 months"):
        draft(ev, end_date=D("2030-01-01"), lines=lines | {2030: Decimal("1.00")}, **GROUNDS)
    db.session.rollback()
    contract = draft(ev, end_date=D("2029-12-31"), lines=lines, **GROUNDS)
    assert [line.fiscal_year for line in contract.budget_lines] == [2027, 2028, 2029]


def test_multi_year_needs_a_budget_line_per_year_adding_up(ev):
    term = {"start_date": D("2027-07-01"), "end_date": D("2028-06-30")}
    with pytest.raises(DomainError, match="one budget line for each of the years 2027、2028"):
        draft(ev, **term)
    db.session.rollback()
    with pytest.raises(DomainError, match=r"add up to the contract amount \(450000.00 yuan\)"):
        draft(ev, lines={2027: Decimal("225000.00"), 2028: Decimal("224999.99")}, **term)
    db.session.rollback()
    with pytest.raises(DomainError, match="positive"):
        draft(ev, lines={2027: Decimal("0"), 2028: AMOUNT}, **term)
    db.session.rollback()
    contract = draft(ev, lines={2027: Decimal("225000.00"), 2028: Decimal("225000.00")}, **term)
    assert sum(line.amount for line in contract.budget_lines) == AMOUNT


def test_dates_missing_or_reversed(ev):
    with pytest.raises(DomainError, match="Enter the start and end dates"):
        draft(ev, start_date=None)
    db.session.rollback()
    with pytest.raises(DomainError, match="ends before it starts"):
        draft(ev, start_date=D("2027-02-01"), end_date=D("2027-01-31"))


# --- Schedule and bond ----------------------------------------------------------------------------------------------


def test_installments_not_summing_to_100_refused(ev):
    with pytest.raises(DomainError, match="add up to 99.99 percent: they must add up to exactly 100"):
        draft(ev, installments=[(Decimal("30"), Gate.SIGNING, ""), (Decimal("69.99"), Gate.ACCEPTANCE, "")])
    db.session.rollback()
    with pytest.raises(DomainError, match="add up to 110 percent"):
        draft(ev, installments=[(Decimal("50"), Gate.SIGNING, ""), (Decimal("60"), Gate.ACCEPTANCE, "")])
    db.session.rollback()
    with pytest.raises(DomainError, match="at least one installment"):
        draft(ev, installments=[])
    db.session.rollback()
    with pytest.raises(DomainError, match="payment gate"):
        draft(ev, installments=[(Decimal("100"), "whenever", "")])
    db.session.rollback()
    contract = draft(ev, installments=[(Decimal("33.33"), Gate.SIGNING, ""), (Decimal("33.33"), Gate.REVIEW, ""),
                                       (Decimal("33.34"), Gate.ACCEPTANCE, "")])
    assert [i.amount for i in contract.installments] == [Decimal("149985.00"), Decimal("149985.00"),
                                                         Decimal("150030.00")]


def test_bond_over_10_percent_refused(ev):
    with pytest.raises(DomainError, match=r"at most 10 percent of the contract amount \(45000.00 yuan\)\. \(R48\)"):
        draft(ev, performance_bond=Decimal("45000.01"))
    db.session.rollback()
    assert draft(ev, performance_bond=Decimal("45000.00")).performance_bond == Decimal("45000.00")


def test_several_problems_reported_together(ev):
    with pytest.raises(DomainError) as caught:
        draft(ev, installments=[(Decimal("90"), Gate.SIGNING, "")], performance_bond=Decimal("99999"))
    assert "exactly 100" in str(caught.value) and "R48" in str(caught.value)


# --- The challenge gate (L52, R54) ----------------------------------------------------------------------------------


def test_draft_refused_during_the_challenge_period(ev):
    with pytest.raises(DomainError, match="challenge period .* runs until 2026-12-15"):
        draft(ev, at=bj("2026-12-15", "23:59"))
    db.session.rollback()
    assert draft(ev, at=bj("2026-12-16", "00:00")).status == ContractStatus.DRAFT


def test_draft_refused_while_a_challenge_is_open(ev):
    filed = awards.file_challenge(ev.tender, grounds="评审委员会对我单位服务方案的评分明显畸低，与评分标准不符，"
                                  "请求复核。", evidence=None, actor=ev.suppliers[1], now=bj("2026-12-14"))
    db.session.commit()
    with pytest.raises(DomainError, match=r"has not been answered yet; signing waits \(R54\)"):
        draft(ev, at=bj("2026-12-16"))
    db.session.rollback()
    awards.answer_challenge(filed, upheld=False, remedy=None, answer="经复核，评分符合评分标准，质疑不成立。",
                            actor=ev.officers[0], now=bj("2026-12-17"))
    db.session.commit()
    assert draft(ev, at=bj("2026-12-17")).status == ContractStatus.DRAFT


def test_sign_refused_while_a_challenge_is_open(ev):
    contract = draft(ev)
    award = award_of(ev)
    # A challenge received in time by post and recorded after the draft: signing waits for its answer.
    late = Challenge(tender_id=ev.tender.id, award_id=award.id, supplier_id=ev.suppliers[1].organisation_id,
                     filed_by_id=ev.suppliers[1].id, grounds="纸质质疑函，2026-12-15寄达。", filed_at=bj("2026-12-16"),
                     received_on=D("2026-12-15"), answer_due=D("2026-12-24"), status=ChallengeStatus.OPEN)
    db.session.add(late)
    db.session.commit()
    for signer in (ev.officers[0], winner(ev)):
        with pytest.raises(DomainError, match="R54"):
            services.sign(contract, actor=signer, now=bj("2026-12-17"))
        db.session.rollback()
    assert contract.officer_signed_at is None and contract.supplier_signed_at is None
    awards.answer_challenge(late, upheld=False, remedy=None, answer="经复核，评分符合评分标准，质疑不成立。",
                            actor=ev.officers[0], now=bj("2026-12-18"))
    db.session.commit()
    sign_both(ev, contract, at=bj("2026-12-18"))
    assert contract.status == ContractStatus.SIGNED


def test_sign_refused_once_the_award_is_annulled(ev):
    contract = draft(ev)
    awards.pass_over(ev.tender, supplier_id=winner(ev).organisation_id, reason="declined", note="中标人书面放弃中标。",
                     actor=ev.officers[0], now=bj("2026-12-17"))
    db.session.commit()
    with pytest.raises(DomainError, match="no longer in force"):
        services.sign(contract, actor=ev.officers[0], now=bj("2026-12-17"))


# --- Editing --------------------------------------------------------------------------------------------------------


def test_update_draft_until_the_first_signature(ev):
    contract = draft(ev)
    services.update_draft(contract, values(performance_bond=Decimal("20000.00"), report_interval="monthly"),
                          [(Decimal("50"), Gate.SIGNING, ""), (Decimal("50"), Gate.ACCEPTANCE, "")], {},
                          actor=ev.officers[0], now=bj("2026-12-17"))
    db.session.commit()
    assert [i.percent for i in contract.installments] == [Decimal("50"), Decimal("50")]
    assert contract.report_interval == "monthly" and contract.performance_bond == Decimal("20000.00")
    entry = audited("contract.updated")[0]
    assert "performance_bond" in entry.old_values and "installments" in entry.new_values
    with pytest.raises(DomainError, match="exactly 100"):
        services.update_draft(contract, values(), [(Decimal("50"), Gate.SIGNING, "")], {}, actor=ev.officers[0],
                              now=bj("2026-12-17"))
    db.session.rollback()
    with pytest.raises(NotAllowed):
        services.update_draft(contract, values(), SCHEDULE, {}, actor=winner(ev), now=bj("2026-12-17"))
    db.session.rollback()
    services.sign(contract, actor=winner(ev), now=bj("2026-12-18"))
    db.session.commit()
    with pytest.raises(Conflict, match="can no longer be changed"):
        services.update_draft(contract, values(), SCHEDULE, {}, actor=ev.officers[0], now=bj("2026-12-18"))


# --- Signing --------------------------------------------------------------------------------------------------------


def test_each_party_signs_once_and_the_pdf_is_issued_when_the_second_signs(ev, create_user, district):
    contract = draft(ev)
    services.sign(contract, actor=winner(ev), now=bj("2026-12-18", "09:00"))
    db.session.commit()
    assert contract.status == ContractStatus.DRAFT and contract.document_id is None
    assert db.session.scalar(sa.select(sa.func.count(GeneratedDocument.id)).where(
        GeneratedDocument.key == f"contract:{contract.id}")) == 0
    colleague = create_user("supplier", organisation_id=winner(ev).organisation_id)
    with pytest.raises(Conflict, match="Your side has already signed"):
        services.sign(contract, actor=colleague, now=bj("2026-12-18", "09:30"))
    db.session.rollback()
    with pytest.raises(NotAllowed):
        services.sign(contract, actor=ev.suppliers[0], now=bj("2026-12-18", "09:30"))  # a losing bidder
    db.session.rollback()
    assert [n.subject for n in inbox(ev.officers[1], bj("2026-12-18", "09:00"))] == [
        f"Contract awaiting your signature: {contract.reference}"]
    services.sign(contract, actor=ev.officers[1], now=bj("2026-12-18", "10:00"))
    db.session.commit()
    assert contract.status == ContractStatus.SIGNED and contract.signed_at == bj("2026-12-18", "10:00")
    assert (contract.officer_signed_by_id, contract.supplier_signed_by_id) == (ev.officers[1].id, winner(ev).id)
    document = services.contract_pdf(contract)
    assert document is not None and document.number.startswith("HT-2026-") and contract.document_id == document.id
    assert document.file.read_bytes().startswith(b"%PDF")
    # Signing gates are met at once; the others wait for their review or the acceptance.
    assert [(i.gate_met_at, i.gate_source) for i in contract.installments] == [
        (bj("2026-12-18", "10:00"), "signing"), (None, ""), (None, "")]
    assert ev.tender.status == TenderStatus.CONCLUDED
    assert len(audited("tender.concluded")) == 1
    signed = audited("contract.signed")[0]
    assert document.file.sha256 in signed.new_values and '"overdue":false' in signed.new_values
    for user in (ev.officers[0], winner(ev)):
        assert f"Contract signed and in force: {contract.reference}" in [
            n.subject for n in inbox(user, bj("2026-12-18", "10:00"))]
    with pytest.raises(Conflict, match="already been signed by both"):
        services.sign(contract, actor=ev.officers[0], now=bj("2026-12-18", "11:00"))


def test_the_pdf_says_what_was_signed(ev):
    contract = sign_both(ev, draft(ev, performance_bond=Decimal("20000.00")))
    context = services.contract_context(contract)
    text = repr(context)
    for expected in ("政府购买服务合同", contract.reference, ev.tender.reference, "人民币肆拾伍万元整", "¥450,000.00",
                     contract.bureau.name, contract.supplier.name, "2027-01-01", "2027-12-31", "共12个月",
                     "中期评估合格后", "第2期", "40", "履约保证金¥20,000.00", "违约", "争议解决", winner(ev).name,
                     "2026-12-18 10:05"):
        assert expected in text, expected


def test_the_pdf_is_frozen_once(ev):
    contract = sign_both(ev, draft(ev))
    document = services.contract_pdf(contract)
    data, number = document.file.read_bytes(), document.number
    contract.title = "改动后的标题"  # even a later change of the row does not touch the signed PDF
    db.session.commit()
    again = services.contract_pdf(contract)
    assert again.id == document.id and again.number == number and again.file.read_bytes() == data
    assert db.session.scalar(sa.select(sa.func.count(GeneratedDocument.id)).where(
        GeneratedDocument.key == f"contract:{contract.id}")) == 1


# --- The 30-day clock -----------------------------------------------------------------------------------------------


def remind(at) -> int:
    count = services.remind_contracts(at)
    db.session.commit()
    return count


def test_signing_clock_days_left_reminder_on_day_20_and_overdue_on_day_31(ev):
    contract = draft(ev)
    assert services.days_left(contract, D("2026-12-16")) == 17
    assert remind(bj("2026-12-22", "23:00")) == 0  # day 19
    assert remind(bj("2026-12-23", "00:30")) == 1  # day 20: both parties, neither has signed
    assert remind(bj("2026-12-23", "08:00")) == 0  # once
    reminders = inbox(ev.officers[0], bj("2026-12-23", "00:00")) + inbox(winner(ev), bj("2026-12-23", "00:00"))
    assert [n.subject for n in reminders] == [f"Contract not signed yet, 10 days left: {contract.reference}"] * 2
    clock = services.clocks(contract, D("2027-01-02"))
    assert clock["days_left"] == 0 and not clock["signing_overdue"]  # the 30th day is the last
    assert remind(bj("2027-01-02", "12:00")) == 0
    services.sign(contract, actor=winner(ev), now=bj("2027-01-02", "15:00"))
    db.session.commit()
    clock = services.clocks(contract, D("2027-01-03"))
    assert clock["days_left"] == -1 and clock["signing_overdue"]  # day 31
    since = bj("2027-01-03", "00:00")
    assert remind(bj("2027-01-03", "00:30")) == 1
    assert remind(bj("2027-01-04", "00:30")) == 0
    assert [n.subject for n in inbox(ev.officers[0], since)] == [f"Contract signing overdue: {contract.reference}"]
    assert inbox(winner(ev), since) == []  # the supplier has signed already
    assert set(contract.reminded.split(",")) == {"sign20", "signlate"}


def test_late_signing_is_allowed_and_flagged(ev, district):
    save_year(2027, [D("2027-01-01")], [], "测试用2027年节假日安排", actor=None, now=AT)
    db.session.commit()
    contract = draft(ev)
    sign_both(ev, contract, at=bj("2027-01-04"))
    assert contract.status == ContractStatus.SIGNED
    assert '"overdue":true' in audited("contract.signed_by_officer")[0].new_values
    assert '"overdue":true' in audited("contract.signed")[0].new_values
    assert services.clocks(contract, D("2027-01-04"))["signed_late"]


# --- The contract notice (2 WD, R50) --------------------------------------------------------------------------------


def publish_job(at) -> int:
    count = services.publish_due_notices(at)
    db.session.commit()
    return count


def test_officer_publishes_the_notice_once_after_signing(ev):
    contract = draft(ev)
    with pytest.raises(DomainError, match="after both parties have signed"):
        services.publish_contract_notice(contract, actor=ev.officers[0], now=bj("2026-12-17"))
    db.session.rollback()
    sign_both(ev, contract)
    with pytest.raises(NotAllowed):
        services.publish_contract_notice(contract, actor=winner(ev), now=bj("2026-12-18", "11:00"))
    db.session.rollback()
    services.publish_contract_notice(contract, actor=ev.officers[0], now=bj("2026-12-18", "11:00"))
    db.session.commit()
    notice = db.session.get(Notice, contract.notice_id)
    assert notice.kind == NoticeKind.CONTRACT and notice.tender_id == ev.tender.id and notice.runs_until is None
    for expected in (contract.reference, ev.tender.reference, contract.bureau.name, contract.supplier.name,
                     "人民币肆拾伍万元整", "2027-01-01至2027-12-31（12个月）", "合同签订日期：2026-12-18"):
        assert expected in notice.body, expected
    assert '"automatic":false' in audited("contract.notice_published")[0].new_values
    with pytest.raises(Conflict):
        services.publish_contract_notice(contract, actor=ev.officers[0], now=bj("2026-12-18", "12:00"))
    db.session.rollback()
    assert publish_job(bj("2026-12-22", "09:00")) == 0


def test_job_publishes_the_notice_on_the_last_day_across_a_weekend(ev):
    contract = sign_both(ev, draft(ev), at=bj("2026-12-18"))  # Friday: 21 and 22 December are the 2 WD
    assert services.notice_due_on(contract) == D("2026-12-22")
    assert publish_job(bj("2026-12-19")) == 0
    assert publish_job(bj("2026-12-21", "23:59")) == 0
    assert contract.notice_id is None
    assert publish_job(bj("2026-12-22", "00:05")) == 1
    assert publish_job(bj("2026-12-22", "00:35")) == 0  # once
    notice = db.session.get(Notice, contract.notice_id)
    assert notice.kind == NoticeKind.CONTRACT and notice.published_at == bj("2026-12-22", "00:05")
    assert '"automatic":true' in audited("contract.notice_published")[0].new_values
    assert [n.subject for n in inbox(ev.officers[0], bj("2026-12-22", "00:00"))] == [
        f"Contract notice published automatically: {contract.reference}"]


def test_job_publishes_the_notice_across_new_year(ev):
    save_year(2027, [D("2027-01-01")], [], "测试用2027年节假日安排", actor=None, now=AT)
    db.session.commit()
    contract = sign_both(ev, draft(ev), at=bj("2026-12-31"))  # Thursday; 1 January off, then the weekend
    assert services.notice_due_on(contract) == D("2027-01-05")
    for day in ("2027-01-01", "2027-01-02", "2027-01-03", "2027-01-04"):
        assert publish_job(bj(day, "23:00")) == 0, day
    assert publish_job(bj("2027-01-05", "00:30")) == 1
    assert services.filing_due_on(contract) == D("2027-01-12")


def test_job_skips_a_contract_whose_calendar_year_is_missing(ev):
    contract = sign_both(ev, draft(ev), at=bj("2026-12-31"))  # 2027 not entered: the due day is unknown
    assert services.notice_due_on(contract) is None
    assert publish_job(bj("2027-01-10")) == 0
    assert services.clocks(contract, D("2027-01-10"))["notice_due"] is None
    assert services.clocks(contract, D("2027-01-10"))["notice_overdue"]  # shown as overdue, not as nothing


def test_the_job_publishes_for_terminated_contracts_but_never_for_drafts(ev):
    contract = sign_both(ev, draft(ev))
    contract.status = ContractStatus.TERMINATED  # ended before anyone published its notice
    db.session.commit()
    assert publish_job(bj("2026-12-22", "00:30")) == 1 and contract.notice_id is not None


def test_jobs_are_registered():
    assert {job["id"] for job in JOBS} >= {"contracts.publish_due_notices", "contracts.remind_contracts"}


# --- Filing (7 WD, L47) ---------------------------------------------------------------------------------------------


def test_filing_recorded_in_time(ev):
    contract = sign_both(ev, draft(ev), at=bj("2026-12-18"))
    assert services.filing_due_on(contract) == D("2026-12-29")
    with pytest.raises(NotAllowed):
        services.record_filing(contract, reference="郑财备〔2026〕88号", filed_on=D("2026-12-28"), actor=winner(ev),
                               now=bj("2026-12-28"))
    db.session.rollback()
    with pytest.raises(DomainError, match="between the signing day and today"):
        services.record_filing(contract, reference="郑财备〔2026〕88号", filed_on=D("2026-12-29"),
                               actor=ev.officers[0], now=bj("2026-12-28"))
    db.session.rollback()
    with pytest.raises(DomainError, match="filing reference"):
        services.record_filing(contract, reference="  ", filed_on=D("2026-12-28"), actor=ev.officers[0],
                               now=bj("2026-12-28"))
    db.session.rollback()
    services.record_filing(contract, reference="郑财备〔2026〕88号", filed_on=D("2026-12-28"), actor=ev.officers[0],
                           now=bj("2026-12-29"))
    db.session.commit()
    assert contract.filing_reference == "郑财备〔2026〕88号"
    assert '"overdue":false' in audited("contract.filed")[0].new_values
    assert not services.clocks(contract, D("2027-01-05"))["filing_overdue"]
    with pytest.raises(Conflict):
        services.record_filing(contract, reference="again", filed_on=D("2026-12-29"), actor=ev.officers[0],
                               now=bj("2026-12-29"))
    db.session.rollback()
    assert remind(bj("2026-12-30")) == 0  # filed: no reminder


def test_filing_reminders_and_late_filing_flagged(ev):
    contract = sign_both(ev, draft(ev), at=bj("2026-12-18"))
    assert remind(bj("2026-12-28", "23:00")) == 0
    assert remind(bj("2026-12-29", "00:30")) == 1
    assert remind(bj("2026-12-29", "08:30")) == 0
    assert remind(bj("2026-12-30", "00:30")) == 1
    subjects = [n.subject for n in inbox(ev.officers[0], bj("2026-12-29", "00:00"))]
    assert subjects == [f"Contract filing due today: {contract.reference}",
                        f"Contract filing overdue: {contract.reference}"]
    assert services.clocks(contract, D("2026-12-30"))["filing_overdue"]
    services.record_filing(contract, reference="郑财备〔2026〕90号", filed_on=D("2026-12-30"), actor=ev.officers[0],
                           now=bj("2026-12-30"))
    db.session.commit()
    assert '"overdue":true' in audited("contract.filed")[0].new_values
    assert services.clocks(contract, D("2026-12-31"))["filing_overdue"]  # filed late stays flagged


# --- Lists ----------------------------------------------------------------------------------------------------------


def test_contracts_for_each_role(ev, create_user, create_org, city_bureau, district):
    contract = draft(ev)
    other_district = create_org(OrgKind.BUREAU, name="二七区民政局", level="district", parent_id=city_bureau.id)
    city_officer = create_user("officer", organisation_id=city_bureau.id)
    other_officer = create_user("officer", organisation_id=other_district.id)
    admin = create_user("admin")
    assert services.contracts_for(ev.officers[0]) == [contract]
    assert services.contracts_for(city_officer) == [contract]  # the city oversees its districts
    assert services.contracts_for(admin) == [contract]
    assert services.contracts_for(winner(ev)) == [contract]
    assert services.contracts_for(other_officer) == []
    assert services.contracts_for(ev.suppliers[0]) == []
    assert services.contracts_for(ev.experts[0]) == []
    assert services.dashboard_contracts(winner(ev)) == [contract]
    assert services.awards_awaiting_contract(ev.officers[0]) == []


def test_the_dashboard_lists_live_drafts_then_contracts_in_force_each_newest_first(city_bureau, create_org,
                                                                                   create_user):
    east, west = (district_under(create_org, city_bureau, name) for name in ("东区民政局", "西区民政局"))
    officers = {b: create_user("officer", organisation_id=b.id) for b in (east, west)}
    supplier = create_user("supplier")

    def made(bureau, decided: str, *, signed: bool = False, annulled: bool = False, withdrawn: bool = False):
        t = histories.tender(bureau, method=Method.OPEN, budget="100000", published="2026-06-01")
        won = histories.award(t, supplier, amount="90000", decided=decided)
        item = histories.contract(won, officers[bureau], amount="90000", letter=decided,
                                  signed_at=bj(decided) + timedelta(days=3) if signed else None)
        if annulled:
            won.status = AwardStatus.ANNULLED
        if withdrawn:
            item.status = ContractStatus.WITHDRAWN
        db.session.commit()
        return item

    old_draft, new_draft = made(east, "2026-07-01"), made(east, "2026-09-01")
    signed = [made(east, day, signed=True) for day in ("2026-07-10", "2026-08-10", "2026-08-20")]
    made(east, "2026-10-01", annulled=True)  # a draft whose award was annulled: awaits withdrawal, not signing
    made(east, "2026-10-02", withdrawn=True)
    west_signed = made(west, "2026-08-15", signed=True)
    east_officer, city_officer = officers[east], create_user("officer", organisation_id=city_bureau.id)
    assert services.dashboard_contracts(east_officer, limit=4) == [new_draft, old_draft, signed[2], signed[1]]
    assert services.dashboard_contracts(east_officer) == [new_draft, old_draft, *reversed(signed)]
    assert services.dashboard_contracts(east_officer, limit=1) == [new_draft]
    assert services.dashboard_contracts(city_officer, limit=5) == [new_draft, old_draft, signed[2], west_signed,
                                                                   signed[1]]
    assert services.dashboard_contracts(officers[west]) == [west_signed]
    assert services.dashboard_contracts(supplier) == [new_draft, old_draft, signed[2], west_signed, signed[1],
                                                      signed[0]]


def test_awards_awaiting_a_contract(ev):
    assert [a.id for a in services.awards_awaiting_contract(ev.officers[0])] == [award_of(ev).id]
    assert services.awards_awaiting_contract(winner(ev)) == []


# --- Withdrawing a draft ----------------------------------------------------------------------------------------------


def annul(ev, at=bj("2026-12-17")):
    awards.pass_over(ev.tender, supplier_id=winner(ev).organisation_id, reason="declined", note="中标人书面放弃中标。",
                     actor=ev.officers[0], now=at)
    db.session.commit()


def test_a_draft_of_an_annulled_award_is_frozen_hidden_and_withdrawn(ev):
    contract = draft(ev)
    old_award = contract.award_id
    annul(ev)
    assert not services.award_in_force(contract)
    assert not services.can_edit(contract)
    assert not services.can_sign(contract, ev.officers[0]) and not services.can_sign(contract, winner(ev))
    with pytest.raises(DomainError, match="no longer in force"):
        services.update_draft(contract, values(title="改"), SCHEDULE, {}, actor=ev.officers[0], now=bj("2026-12-18"))
    db.session.rollback()
    assert services.dashboard_contracts(ev.officers[0]) == []
    assert services.dashboard_contracts(winner(ev)) == []
    assert remind(bj("2027-01-20")) == 0  # no signing reminders for a dead draft
    assert services.contracts_for(ev.officers[0]) == [contract]  # still listed, so that it can be withdrawn
    with pytest.raises(NotAllowed):
        services.withdraw_draft(contract, reason="中标已被撤销。", actor=winner(ev), now=bj("2026-12-18"))
    db.session.rollback()
    with pytest.raises(DomainError, match="reason"):
        services.withdraw_draft(contract, reason=" ", actor=ev.officers[0], now=bj("2026-12-18"))
    db.session.rollback()
    services.withdraw_draft(contract, reason="中标人放弃中标，草稿作废。", actor=ev.officers[0], now=bj("2026-12-18"))
    db.session.commit()
    assert contract.status == ContractStatus.WITHDRAWN and contract.ended_at == bj("2026-12-18")
    assert contract.termination_grounds == "中标人放弃中标，草稿作废。"
    assert '"award_in_force":false' in audited("contract.withdrawn")[0].new_values
    assert [n.subject for n in inbox(winner(ev), bj("2026-12-18", "00:00"))] == [
        f"Contract draft withdrawn: {contract.reference}"]
    with pytest.raises(Conflict, match="Only a draft"):
        services.withdraw_draft(contract, reason="再次撤回草稿。", actor=ev.officers[0], now=bj("2026-12-18"))
    db.session.rollback()
    with pytest.raises(Conflict, match="withdrawn"):
        services.sign(contract, actor=ev.officers[0], now=bj("2026-12-18"))
    db.session.rollback()
    assert contract.award_id == old_award


def test_an_abandoned_draft_is_withdrawn_and_its_award_not_drafted_again(ev):
    contract = draft(ev)
    services.sign(contract, actor=ev.officers[0], now=bj("2026-12-17"))  # one signature: still a draft
    db.session.commit()
    services.withdraw_draft(contract, reason="双方协商放弃签订。", actor=ev.officers[0], now=bj("2026-12-18"))
    db.session.commit()
    assert services.dashboard_contracts(ev.officers[0]) == []
    with pytest.raises(Conflict, match="was withdrawn"):
        draft(ev, at=bj("2026-12-19"))
    db.session.rollback()


def test_a_signed_contract_cannot_be_withdrawn(ev):
    contract = sign_both(ev, draft(ev))
    with pytest.raises(Conflict, match="Only a draft"):
        services.withdraw_draft(contract, reason="不再需要该服务。", actor=ev.officers[0], now=bj("2026-12-19"))


# --- Term dates against the award letter and today ------------------------------------------------------------------


def test_the_term_cannot_start_before_the_award_letter(ev):
    assert award_of(ev).decided_at == AT  # the letter is dated 2026-12-03
    with pytest.raises(DomainError, match="before the award letter's day"):
        draft(ev, start_date=D("2026-12-01"), end_date=D("2027-11-30"))
    db.session.rollback()
    contract = draft(ev)
    with pytest.raises(DomainError, match="before the award letter's day"):
        services.update_draft(contract, values(start_date=D("2026-12-02"), end_date=D("2027-12-01")), SCHEDULE, {},
                              actor=ev.officers[0], now=bj("2026-12-17"))
    db.session.rollback()
    assert contract.start_date == D("2027-01-01")


def test_a_draft_whose_term_has_passed_cannot_be_signed(ev):
    contract = draft(ev, start_date=D("2026-12-16"), end_date=D("2026-12-31"))
    with pytest.raises(DomainError, match="term ended on 2026-12-31"):
        services.sign(contract, actor=ev.officers[0], now=bj("2027-01-01"))


def test_next_reference_follows_the_highest_number_not_the_count(ev, district):
    contract = draft(ev)
    prefix = f"HT2026-{district.id:03d}-"
    assert contract.reference == f"{prefix}0001"
    contract.reference = f"{prefix}0007"  # e.g. numbers taken by drafts of other tenders
    db.session.commit()
    assert services.next_reference(district, 2026) == f"{prefix}0008"
    assert services.next_reference(district, 2027) == f"HT2027-{district.id:03d}-0001"
