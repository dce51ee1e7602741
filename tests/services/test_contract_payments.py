"""Payments of a service agreement (issue 6 item 3, RULES-CN I.39): an installment is payable only once its gate
is met (signing, a review of at least 合格 through ``open_review_gate``, the final acceptance 验收 of R45), and the
officer records each payment once, for exactly its amount, with a voucher and a plausible day.

The contract of tests/contract_builders.py: 180,000 yuan, signed on Monday 30 November 2026 (Beijing) at 11:00;
installment 1 (40%, 72,000) on signing, 2 (30%, 54,000) after the mid-term review, 3 (30%, 54,000) after acceptance.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.models import OrgKind, User
from portal.audit import AuditEntry
from portal.contracts import payments
from portal.contracts.models import ContractStatus, Gate, Installment
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from portal.notify import Notification
from tests.contract_builders import draft_contract_row, signed_contract
from tests.support.concurrency import postgresql_only, run_concurrently

pytestmark = pytest.mark.usefixtures("english_messages")

LATER = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)  # Wednesday 2 December, 10:00 in Beijing
ACCEPTED_AT = datetime(2028, 1, 10, 2, 0, tzinfo=UTC)


@pytest.fixture
def built(city_bureau, create_user, now):
    return signed_contract(city_bureau, create_user, now=now)


def officer(built):
    return built.officers[0]


def pay(built, position: int, *, at=LATER, paid_on=date(2026, 12, 2), amount=None, voucher="记账凭证2026-1201",
        actor=None):
    installment = built.installments[position - 1]
    paid = payments.record_payment(installment, paid_on=paid_on,
                                   amount=installment.amount if amount is None else Decimal(amount),
                                   voucher=voucher, actor=actor or officer(built), now=at)
    db.session.commit()
    return paid


def accept(built, *, at=ACCEPTED_AT, accepted_on=date(2028, 1, 8), actor=None, record=None, participants=None,
           conclusion="验收合格，服务目标全部达成。"):
    notice = payments.record_acceptance(
        built.contract, record=record or "服务内容与目标均已完成，验收合格。", conclusion=conclusion,
        accepted_on=accepted_on,
        participants=participants or "王芳（采购人）、李强（服务对象代表）、赵敏（服务对象代表）",
        actor=actor or officer(built), now=at)
    db.session.commit()
    return notice


def audited(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def inbox(user) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


# --- The signing gate -----------------------------------------------------------------------------------------


def test_the_signing_installment_is_payable_at_signing_and_the_others_are_not(built):
    first, second, third = built.installments
    assert [i.amount for i in built.installments] == [Decimal("72000.00"), Decimal("54000.00"), Decimal("54000.00")]
    assert payments.payable(first) and first.gate_source == "signing"
    assert first.gate_met_at == built.contract.signed_at
    assert not payments.payable(second) and not payments.payable(third)
    summary = payments.payment_summary(built.contract)
    assert (summary.total, summary.paid, summary.payable, summary.pending) == (
        Decimal("180000.00"), Decimal("0.00"), Decimal("72000.00"), Decimal("108000.00"))
    officers_told = inbox(built.officers[1])
    assert officers_told and "Payable now" in officers_told[-1].subject


def test_an_installment_is_not_payable_before_its_gate(built):
    with pytest.raises(DomainError, match=r"Installment 2 is not payable yet: its gate \(中期评估\) is not met"):
        pay(built, 2)
    db.session.rollback()
    with pytest.raises(DomainError, match=r"Installment 3 is not payable yet: its gate \(After final acceptance"):
        pay(built, 3)
    db.session.rollback()
    assert all(i.paid_on is None for i in built.installments)
    assert audited("payment.recorded") == []


def test_record_payment_after_signing(built):
    paid = pay(built, 1)
    assert (paid.paid_on, paid.paid_amount, paid.voucher) == (date(2026, 12, 2), Decimal("72000.00"),
                                                                "记账凭证2026-1201")
    assert paid.paid_recorded_by_id == officer(built).id and paid.paid_recorded_at == LATER
    assert not payments.payable(paid)
    [entry] = audited("payment.recorded")
    assert entry.subject_id == str(paid.id) and '"voucher":"记账凭证2026-1201"' in entry.new_values
    [note] = [n for n in inbox(built.supplier) if "Payment recorded" in n.subject]
    assert "72,000.00" in note.body and note.link == f"/contracts/{built.contract.id}"
    summary = payments.payment_summary(built.contract)
    assert (summary.paid, summary.payable, summary.pending) == (Decimal("72000.00"), Decimal("0.00"),
                                                                Decimal("108000.00"))


def test_a_payment_is_recorded_only_once(built):
    pay(built, 1)
    with pytest.raises(Conflict, match="already paid on 2026-12-02"):
        pay(built, 1, voucher="另一凭证")
    db.session.rollback()
    assert built.installments[0].voucher == "记账凭证2026-1201"
    assert len(audited("payment.recorded")) == 1


@pytest.mark.parametrize(("values", "message"), [
    ({"amount": "71999.99"}, "must be the installment's amount, ¥72,000.00"),
    ({"amount": "72000.01"}, "must be the installment's amount"),
    ({"amount": "36000.00"}, "must be the installment's amount"),
    ({"voucher": "   "}, "voucher number"),
    ({"voucher": "X" * 81}, "at most 80 characters"),
    ({"paid_on": date(2026, 12, 3)}, "cannot be in the future"),
    ({"paid_on": date(2026, 11, 29)}, "before the installment became payable \\(2026-11-30\\)"),
])
def test_a_wrong_payment_is_refused(built, values, message):
    with pytest.raises(DomainError, match=message):
        pay(built, 1, **values)
    db.session.rollback()
    assert built.installments[0].paid_on is None


def test_paid_on_the_day_it_became_payable_and_today(built):
    assert pay(built, 1, paid_on=date(2026, 11, 30)).paid_on == date(2026, 11, 30)


def test_only_the_contracting_bureaus_officer_records_a_payment(built, create_org, create_user, city_bureau):
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    outsiders = [create_user("officer", organisation_id=district.id), built.supplier, create_user("supplier"),
                 create_user("evaluator"), create_user("admin")]
    for outsider in outsiders:
        with pytest.raises(NotAllowed):
            pay(built, 1, actor=outsider)
        db.session.rollback()
    assert built.installments[0].paid_on is None


def test_a_draft_contract_has_nothing_payable(city_bureau, create_user, now):
    draft = draft_contract_row(city_bureau, create_user, now=now)
    assert not any(payments.payable(i) for i in draft.installments)
    with pytest.raises(DomainError, match="not payable yet"):
        pay(draft, 1)
    db.session.rollback()
    with pytest.raises(DomainError, match="once the contract is signed"):
        payments.open_signing_gates(draft.contract, actor=officer(draft), now=now)


# --- The review gate (the hook of issue 7) --------------------------------------------------------------------


@pytest.mark.parametrize("grade", ["不合格", "fail"])
def test_a_failed_review_opens_no_payment(built, grade):
    with pytest.raises(DomainError, match="below 合格 opens no payment"):
        payments.open_review_gate(built.contract, review_ref="review:1", grade=grade, actor=officer(built), now=LATER)
    db.session.rollback()
    assert not payments.payable(built.installments[1])


def test_an_unknown_grade_is_refused(built):
    with pytest.raises(DomainError, match="Unknown review grade: 中"):
        payments.open_review_gate(built.contract, review_ref="review:1", grade="中", actor=None, now=LATER)


@pytest.mark.parametrize("grade", ["合格", "pass", "良好", "good", "优秀", "excellent"])
def test_a_review_of_at_least_pass_opens_the_review_installment(built, grade):
    opened = payments.open_review_gate(built.contract, review_ref="review:7", grade=grade, actor=None, now=LATER)
    db.session.commit()
    assert opened.id == built.installments[1].id and opened.gate == Gate.REVIEW
    assert (opened.gate_met_at, opened.gate_source) == (LATER, "review:7")
    assert payments.payable(opened) and not payments.payable(built.installments[2])
    pay(built, 2)
    assert built.installments[1].paid_amount == Decimal("54000.00")
    assert [e.subject_id for e in audited("payment.review_gate")] == [str(built.contract.id)]


def test_review_gates_open_in_schedule_order_once_per_review(city_bureau, create_user, now):
    schedule = (("20", Gate.SIGNING, ""), ("30", Gate.REVIEW, "第一年度评估"), ("30", Gate.REVIEW, "第二年度评估"),
                ("20", Gate.ACCEPTANCE, ""))
    built = signed_contract(city_bureau, create_user, now=now, months=24, schedule=schedule)
    first = payments.open_review_gate(built.contract, review_ref="review:1", grade="合格", actor=None, now=LATER)
    again = payments.open_review_gate(built.contract, review_ref="review:1", grade="合格", actor=None, now=LATER)
    assert first.position == 2 and again.id == first.id  # the same review never opens two gates
    second = payments.open_review_gate(built.contract, review_ref="review:2", grade="良好", actor=None,
                                       now=LATER + timedelta(days=365))
    assert second.position == 3 and second.gate_source == "review:2"
    assert payments.open_review_gate(built.contract, review_ref="review:3", grade="优秀", actor=None,
                                     now=LATER + timedelta(days=400)) is None
    db.session.commit()
    assert len(audited("payment.gate_opened")) == 3  # signing + two reviews


def test_a_review_gate_needs_a_signed_contract(city_bureau, create_user, now):
    draft = draft_contract_row(city_bureau, create_user, now=now)
    with pytest.raises(DomainError, match="signed contract"):
        payments.open_review_gate(draft.contract, review_ref="review:1", grade="合格", actor=None, now=LATER)


# --- The final acceptance (验收, R45) -----------------------------------------------------------------------------


def test_acceptance_opens_the_acceptance_gate_and_publishes_the_result(built):
    assert not payments.payable(built.installments[2])
    notice = accept(built)
    contract = built.contract
    assert contract.accepted_at == ACCEPTED_AT
    assert "2028-01-08" in contract.acceptance_record and "服务对象代表" in contract.acceptance_record
    assert payments.payable(built.installments[2]) and built.installments[2].gate_source == "acceptance"
    assert not payments.payable(built.installments[1])  # the review gate is still shut
    assert notice.kind == NoticeKind.CONTRACT and notice.title == f"{contract.title}验收结果公告"
    assert notice.tender_id == contract.tender_id and notice.document is not None
    for text in (contract.reference, contract.supplier.name, "2028-01-08", "验收合格", "服务对象参与"):
        assert text in notice.body, text
    for name in ("王芳", "李强", "赵敏"):  # participants' names stay out of the public notice
        assert name not in notice.body
    # Only the short public conclusion is published; the record stays in the contract's private file.
    assert "验收结论：验收合格，服务目标全部达成。" in notice.body and "服务内容与目标均已完成" not in notice.body
    assert "验收结论（公开）：验收合格，服务目标全部达成。" in contract.acceptance_record
    assert "验收意见（不公开）：服务内容与目标均已完成，验收合格。" in contract.acceptance_record
    assert contract.status == ContractStatus.SIGNED  # completion is a separate step
    [entry] = audited("contract.accepted")
    assert "李强" in entry.new_values
    assert any("Final acceptance" in n.subject for n in inbox(built.supplier))
    pay(built, 3, at=ACCEPTED_AT, paid_on=date(2028, 1, 10))
    assert built.installments[2].paid_on == date(2028, 1, 10)


def test_acceptance_is_recorded_once(built):
    accept(built)
    with pytest.raises(Conflict, match="already recorded"):
        accept(built)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Notice.id)).where(Notice.kind == NoticeKind.CONTRACT)) == 1


@pytest.mark.parametrize(("values", "message"), [
    ({"accepted_on": date(2028, 1, 11)}, "cannot be in the future"),
    ({"accepted_on": date(2026, 11, 29)}, "before the contract was signed \\(2026-11-30\\)"),
    ({"accepted_on": date(2026, 12, 15)}, "before the term starts \\(2027-01-01\\)"),
    ({"conclusion": " "}, "public conclusion"),
    ({"conclusion": "合格" * 251}, "public conclusion"),
    ({"record": "合格"}, "Write the acceptance record"),
    ({"participants": " "}, "invited service users"),
])
def test_a_wrong_acceptance_is_refused(built, values, message):
    if "participants" in values:
        with pytest.raises(DomainError, match=message):
            payments.record_acceptance(built.contract, record="服务内容与目标均已完成，验收合格。",
                                       conclusion="验收合格",
                                       accepted_on=date(2028, 1, 8), participants=" ", actor=officer(built),
                                       now=ACCEPTED_AT)
    else:
        with pytest.raises(DomainError, match=message):
            accept(built, **values)
    db.session.rollback()
    assert built.contract.accepted_at is None and not payments.payable(built.installments[2])


def test_only_the_contracting_bureau_accepts_a_signed_contract(built, create_user, city_bureau, now):
    with pytest.raises(NotAllowed):
        accept(built, actor=built.supplier)
    db.session.rollback()
    draft = draft_contract_row(city_bureau, create_user, now=now)
    with pytest.raises(DomainError, match="Only a signed contract"):
        accept(draft)


def test_two_concurrent_payments_of_one_installment_record_one(app, built):
    postgresql_only()
    installment_id, officer_ids = built.installments[0].id, [o.id for o in built.officers]
    db.session.commit()

    def attempt(officer_id: int):
        return lambda: payments.record_payment(
            db.session.get(Installment, installment_id), paid_on=date(2026, 12, 2), amount=Decimal("72000.00"),
            voucher=f"V-{officer_id}", actor=db.session.get(User, officer_id), now=LATER)

    outcomes = run_concurrently(app, [attempt(officer_id) for officer_id in officer_ids])
    assert outcomes.count("ok") == 1 and all(o == "ok" or isinstance(o, Conflict) for o in outcomes), outcomes
    assert len(audited("payment.recorded")) == 1


# --- A failed yearly review stops what looks forward (delivery.failed_year) ------------------------------------------


def test_a_failed_year_review_shuts_the_review_gates_but_not_payments_already_due(city_bureau, create_user, now):
    from portal.contracts import amendments, delivery

    built = signed_contract(city_bureau, create_user, now=now, months=24)
    delivery.record_year_review(built.contract, year_index=1, passed=False, review_ref="review:9", actor=None,
                                now=LATER)
    db.session.commit()
    assert delivery.failed_year(built.contract) == 1
    with pytest.raises(DomainError, match="contract year 1 failed"):
        payments.open_review_gate(built.contract, review_ref="review:10", grade="合格", actor=None, now=LATER)
    db.session.rollback()
    with pytest.raises(DomainError, match="contract year 1 failed"):
        amendments.amend(built.contract, reason="延长服务期限以完成整改。", changes={},
                         new_end_date=date(2029, 6, 30), actor=officer(built), now=LATER)
    db.session.rollback()
    pay(built, 1)  # the signing installment, already due, is still paid
    delivery.record_year_review(built.contract, year_index=1, passed=True, review_ref="review:11", actor=None,
                                now=LATER)
    db.session.commit()
    assert payments.open_review_gate(built.contract, review_ref="review:11", grade="合格", actor=None,
                                     now=LATER) is not None
