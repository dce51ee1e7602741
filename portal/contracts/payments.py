"""Payments of a service agreement: the gates that make an installment payable (signing, a performance review of
at least 合格, the final acceptance 验收) and the officer's record of each payment (date, amount, voucher).

Services apply ``portal.contracts.rules``, change objects, flush, audit and queue notifications; the caller
commits. They take the actor and the clock and never need a request. Writers lock the contract row first
(``services.lock_contract``), so a payment, an acceptance and an amendment adding an installment serialise.

The reviews feature (issue 7) calls ``open_review_gate`` when a performance review of the contract reaches 合格
or better; contracts never import reviews (DESIGN.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal import audit
from portal.accounts.services import active_users
from portal.contracts.delivery import failed_year
from portal.contracts.models import GATE_LABELS, Contract, ContractStatus, Gate, Installment
from portal.contracts.services import contract_link, lock_contract
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.i18n import format_money
from portal.notices import NoticeKind, publish_notice
from portal.notify import notify_many
from portal.pdf import rmb_upper
from portal.permissions import Role
from portal.tenders.rules import local_date

# Performance review grades and their order. The bands (优秀 >= 90, 良好 80-89, 合格 60-79, 不合格 <= 59; RULES-CN
# I.40) and the grading itself belong to the reviews feature (issue 7); contracts only need to know which grades
# pass. A grade may come as its code or its Chinese name.
GRADES = {
    "excellent": 4, "优秀": 4,
    "good": 3, "良好": 3,
    "pass": 2, "合格": 2,
    "fail": 1, "不合格": 1,
}
PASSING_GRADE = GRADES["合格"]  # a review opens a payment gate at 合格 or better (issue 6)

ACCEPTANCE_SOURCE = "acceptance"
SIGNING_SOURCE = "signing"
VOUCHER_MAX_CHARS = 80  # Installment.voucher
CONCLUSION_MAX_CHARS = 500  # the public conclusion of the acceptance, published as is
RECORD_MIN_CHARS = 10  # an acceptance record says what was checked and found
PARTICIPANTS_MIN_CHARS = 2  # one name (two hanzi) at least
ACCEPTANCE_NOTICE_SUFFIX = "验收结果公告"


def _require_manager(contract: Contract, actor) -> None:
    if not contract.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the contracting bureau can do this."))


def _officers(contract: Contract) -> list:
    return [user for user in active_users([contract.bureau_id]) if user.role == Role.OFFICER]


def _lock_installment(installment: Installment) -> tuple[Contract, Installment]:
    """Lock the installment's contract, then reload the installment, so concurrent writers serialise."""
    contract = lock_contract(installment.contract)
    installment = db.session.execute(
        sa.select(Installment).where(Installment.id == installment.id).with_for_update()
        .execution_options(populate_existing=True)).scalar_one()
    return contract, installment


# --- Reading ---------------------------------------------------------------------------------------------------


def payable(installment: Installment) -> bool:
    """Whether the installment can be paid now: its gate is met and it is not paid yet."""
    return installment.gate_met_at is not None and installment.paid_on is None


@dataclass(frozen=True)
class PaymentSummary:
    total: Decimal  # the whole schedule (the contract amount, added amounts included)
    paid: Decimal
    payable: Decimal  # gate met, not paid yet
    pending: Decimal  # gate not met yet


def payment_summary(contract: Contract, installments: list[Installment] | None = None) -> PaymentSummary:
    """The paid, payable and pending totals of the contract's schedule (``installments`` if already loaded)."""
    rows = contract.installments if installments is None else installments
    zero = Decimal("0.00")
    paid = sum((i.paid_amount for i in rows if i.paid_on is not None), zero)
    due = sum((i.amount for i in rows if payable(i)), zero)
    pending = sum((i.amount for i in rows if i.gate_met_at is None), zero)
    return PaymentSummary(total=sum((i.amount for i in rows), zero), paid=paid, payable=due, pending=pending)


# --- Gates -----------------------------------------------------------------------------------------------------


def open_gate(installment: Installment, *, source: str, actor, now: datetime) -> Installment:
    """Mark the installment's gate met (internal: signing, a review, the acceptance); audited, no notification."""
    if installment.gate_met_at is not None:
        raise Conflict(_l("This installment's gate is already met."))
    installment.gate_met_at, installment.gate_source = now, source
    db.session.flush()
    audit.record("payment.gate_opened", installment, actor=actor, now=now, new={
        "contract_id": installment.contract_id, "position": installment.position, "gate": installment.gate,
        "source": source, "amount": installment.amount})
    return installment


def _tell_payable(contract: Contract, opened: list[Installment], *, now: datetime) -> None:
    """Tell the bureau's officers which installments have become payable."""
    if not opened:
        return
    notify_many(_officers(contract), "payment_payable", {
        "reference": contract.reference, "title": contract.title,
        "installments": "、".join(str(i.position) for i in opened),
        "amount": format_money(sum((i.amount for i in opened), Decimal("0.00")))},
        link=contract_link(contract), now=now)


def open_signing_gates(contract: Contract, *, actor, now: datetime) -> list[Installment]:
    """Open the SIGNING gates once the contract is signed: called by the signing service in the same transaction."""
    if contract.status != ContractStatus.SIGNED:
        raise DomainError(_l("Payments on signing become payable once the contract is signed."))
    opened = [open_gate(i, source=SIGNING_SOURCE, actor=actor, now=now)
              for i in contract.installments if i.gate == Gate.SIGNING and i.gate_met_at is None]
    _tell_payable(contract, opened, now=now)
    return opened


def grade_passes(grade: str) -> bool:
    """Whether a review grade (code or Chinese name) is 合格 or better; an unknown grade is refused."""
    if grade not in GRADES:
        raise DomainError(_l("Unknown review grade: %(grade)s."), grade=grade)
    return GRADES[grade] >= PASSING_GRADE


def open_review_gate(contract: Contract, *, review_ref: str, grade: str, actor, now: datetime) -> Installment | None:
    """The hook of the reviews feature (issue 7): a performance review of the contract reached ``grade``.

    At 合格 or better it opens the first REVIEW installment (in schedule order) whose gate is not met yet, with
    ``review_ref`` (e.g. "review:12") as its source, and returns it; None when no REVIEW installment is left. The
    same review never opens two gates: calling again with its ref returns the installment it opened. A grade
    below 合格 is refused. Who may finalise a review is the reviews feature's rule, checked before it calls here.
    """
    review_ref = (review_ref or "").strip()
    if not review_ref or len(review_ref) > 80:
        raise DomainError(_l("A review gate needs the reference of the review that passed."))
    if not grade_passes(grade):
        raise DomainError(_l("A review graded below 合格 opens no payment."))
    contract = lock_contract(contract)
    if contract.status != ContractStatus.SIGNED:
        raise DomainError(_l("Payments can be opened only on a signed contract in force."))
    rows = list(db.session.scalars(sa.select(Installment).where(Installment.contract_id == contract.id)
                                   .order_by(Installment.position).with_for_update()
                                   .execution_options(populate_existing=True)))
    already = next((i for i in rows if i.gate_source == review_ref), None)
    if already is not None:
        return already
    failed = failed_year(contract)
    if failed is not None:
        # Installments are not tied to contract years, so a failed year stops every gate still shut (payments of
        # gates already met go on): the next year may not continue until a later review of that year passes.
        raise DomainError(_l("The yearly review of contract year %(n)s failed: no further review gate opens until a "
                             "later review of that year passes."), n=failed)
    waiting = next((i for i in rows if i.gate == Gate.REVIEW and i.gate_met_at is None), None)
    if waiting is None:
        return None
    open_gate(waiting, source=review_ref, actor=actor, now=now)
    audit.record("payment.review_gate", contract, actor=actor, now=now, new={
        "installment_id": waiting.id, "position": waiting.position, "review": review_ref, "grade": grade})
    _tell_payable(contract, [waiting], now=now)
    return waiting


def close_review_gate(contract: Contract, *, review_ref: str, reason: str, actor,
                      now: datetime) -> Installment | None:
    """The other hook of the reviews feature: the review ``review_ref`` that opened a gate was graded again below
    合格 (after an upheld appeal), so the grade the payment rested on no longer stands.

    An installment it made payable and not paid yet is shut again (gate_met_at cleared; a later passing review
    opens it as any other) and returned; an installment already paid stays paid, is returned unchanged (its
    ``paid_on`` set) and the officers are told, since recovering the money is a matter for the contract's terms;
    None when the review opened no gate. Audited, the officers told in both cases.
    """
    contract = lock_contract(contract)
    installment = db.session.scalars(
        sa.select(Installment).where(Installment.contract_id == contract.id, Installment.gate_source == review_ref)
        .with_for_update().execution_options(populate_existing=True)).first()
    if installment is None:
        return None
    context = {"reference": contract.reference, "title": contract.title, "position": installment.position,
               "amount": format_money(installment.amount), "reason": reason}
    if installment.paid_on is not None:
        audit.record("payment.gate_regraded_after_payment", installment, actor=actor, now=now, new={
            "contract_id": contract.id, "position": installment.position, "review": review_ref, "reason": reason,
            "paid_on": installment.paid_on})
        notify_many(_officers(contract), "payment_paid_on_a_withdrawn_grade",
                    context | {"paid_on": installment.paid_on.isoformat()}, link=contract_link(contract), now=now)
        return installment
    old = {"gate_met_at": installment.gate_met_at, "source": installment.gate_source}
    installment.gate_met_at, installment.gate_source = None, ""
    db.session.flush()
    audit.record("payment.gate_closed", installment, actor=actor, now=now, old=old, new={
        "contract_id": contract.id, "position": installment.position, "gate": installment.gate,
        "review": review_ref, "reason": reason})
    notify_many(_officers(contract), "payment_gate_closed", context, link=contract_link(contract), now=now)
    return installment


# --- Final acceptance (验收, R45) -----------------------------------------------------------------------------------


def acceptance_notice_body(contract: Contract, *, accepted_on: date, conclusion: str, published_on: date) -> str:
    """The acceptance result notice (验收结果公告, R45), in Chinese: the short public conclusion, never the private
    record, no personal data."""
    lines = [
        f"项目编号：{contract.tender.reference}",
        f"合同编号：{contract.reference}",
        f"项目名称：{contract.title}",
        f"采购人：{contract.bureau.name}",
        f"供应商：{contract.supplier.name}",
        f"合同金额：{format_money(contract.amount)}（{rmb_upper(contract.amount)}）",
        f"合同期限：{contract.start_date.isoformat()}至{contract.end_date.isoformat()}",
        f"验收日期：{accepted_on.isoformat()}",
        "验收方式：采购人按照合同约定的服务内容和目标组织验收，并邀请服务对象参与、出具意见。",
        f"验收结论：{' '.join(conclusion.split())}",
        f"公告日期：{published_on.isoformat()}",
    ]
    return "\n".join(lines)


def acceptance_record_text(*, accepted_on: date, participants: str, record: str, conclusion: str) -> str:
    """What the contract keeps of the acceptance (``Contract.acceptance_record``, private to the parties and the
    overseers): its day, who took part (service users included), the public conclusion — the one line published in
    the notice — and the private record, each on its own labelled line(s) in this order."""
    return (f"验收日期：{accepted_on.isoformat()}\n参加验收人员：{participants}\n验收结论（公开）：{conclusion}\n"
            f"验收意见（不公开）：{record}")


def record_acceptance(contract: Contract, *, record: str, conclusion: str, accepted_on: date, participants: str,
                      actor, now: datetime):
    """The final acceptance (验收) of a signed contract by its bureau's officer (R45): the service users were invited
    and the record names who took part. Opens the ACCEPTANCE gates and publishes the acceptance result notice
    (合同公告 kind) with only the short public ``conclusion``: the record and the participants stay private.
    Returns the notice."""
    contract = lock_contract(contract)
    _require_manager(contract, actor)
    if contract.status != ContractStatus.SIGNED:
        raise DomainError(_l("Only a signed contract in force can be accepted."))
    if contract.accepted_at is not None:
        raise Conflict(_l("The final acceptance (验收) of this contract is already recorded."))
    record, participants = (record or "").strip(), (participants or "").strip()
    conclusion = " ".join((conclusion or "").split())
    if not conclusion or len(conclusion) > CONCLUSION_MAX_CHARS:
        raise DomainError(_l("Write the public conclusion of the acceptance (at most %(max)s characters); it is "
                             "published in the acceptance result notice."), max=CONCLUSION_MAX_CHARS)
    if len(record) < RECORD_MIN_CHARS:
        raise DomainError(_l("Write the acceptance record: what was checked against the contract and the "
                             "finding (at least %(n)s characters)."), n=RECORD_MIN_CHARS)
    if len(participants) < PARTICIPANTS_MIN_CHARS:
        raise DomainError(_l("Name who took part in the acceptance, the invited service users included (R45)."))
    today = local_date(now)
    if accepted_on is None or accepted_on > today:
        raise DomainError(_l("The acceptance day cannot be in the future."))
    if accepted_on < local_date(contract.signed_at):
        raise DomainError(_l("The acceptance day cannot be before the contract was signed (%(date)s)."),
                          date=local_date(contract.signed_at).isoformat())
    if accepted_on < contract.start_date:
        raise DomainError(_l("The acceptance day cannot be before the term starts (%(date)s)."),
                          date=contract.start_date.isoformat())
    contract.accepted_at = now
    contract.acceptance_record = acceptance_record_text(accepted_on=accepted_on, participants=participants,
                                                        record=record, conclusion=conclusion)
    db.session.flush()
    rows = list(db.session.scalars(sa.select(Installment).where(Installment.contract_id == contract.id)
                                   .order_by(Installment.position).with_for_update()
                                   .execution_options(populate_existing=True)))
    opened = [open_gate(i, source=ACCEPTANCE_SOURCE, actor=actor, now=now)
              for i in rows if i.gate == Gate.ACCEPTANCE and i.gate_met_at is None]
    notice = publish_notice(
        NoticeKind.CONTRACT, bureau=contract.bureau, title=f"{contract.title}{ACCEPTANCE_NOTICE_SUFFIX}",
        body=acceptance_notice_body(contract, accepted_on=accepted_on, conclusion=conclusion, published_on=today),
        now=now, tender=contract.tender, actor=actor)
    audit.record("contract.accepted", contract, actor=actor, now=now, new={
        "accepted_on": accepted_on, "participants": participants, "record": record, "conclusion": conclusion,
        "notice": notice.document.number,
        "installments_opened": [i.position for i in opened]})
    context = {"reference": contract.reference, "title": contract.title, "accepted_on": accepted_on.isoformat(),
               "amount": format_money(sum((i.amount for i in opened), Decimal("0.00")))}
    notify_many(active_users([contract.supplier_id]), "payment_acceptance", context, link=contract_link(contract),
                now=now)
    _tell_payable(contract, opened, now=now)
    return notice


# --- Recording a payment ---------------------------------------------------------------------------------------


def record_payment(installment: Installment, *, paid_on: date, amount: Decimal, voucher: str, actor,
                   now: datetime) -> Installment:
    """The bureau's officer records that an installment was paid (date, amount, voucher number): only once its
    gate is met, only once, for exactly its amount."""
    contract, installment = _lock_installment(installment)
    _require_manager(contract, actor)
    if installment.paid_on is not None:
        raise Conflict(_l("Installment %(n)s was already paid on %(date)s (voucher %(voucher)s)."),
                       n=installment.position, date=installment.paid_on.isoformat(), voucher=installment.voucher)
    if contract.status == ContractStatus.DRAFT or installment.gate_met_at is None:
        raise DomainError(_l("Installment %(n)s is not payable yet: its gate (%(gate)s) is not met."),
                          n=installment.position, gate=gate_label(installment))
    if amount is None or amount != installment.amount:
        raise DomainError(_l("The amount paid must be the installment's amount, %(amount)s."),
                          amount=format_money(installment.amount))
    voucher = (voucher or "").strip()
    if not voucher:
        raise DomainError(_l("Enter the payment voucher number (凭证号)."))
    if len(voucher) > VOUCHER_MAX_CHARS:
        raise DomainError(_l("The voucher number is at most %(n)s characters."), n=VOUCHER_MAX_CHARS)
    if paid_on is None or paid_on > local_date(now):
        raise DomainError(_l("The payment day cannot be in the future."))
    met_on = local_date(installment.gate_met_at)
    if paid_on < met_on:
        raise DomainError(_l("The payment day cannot be before the installment became payable (%(date)s)."),
                          date=met_on.isoformat())
    installment.paid_on, installment.paid_amount, installment.voucher = paid_on, amount, voucher
    installment.paid_recorded_by_id, installment.paid_recorded_at = actor.id, now
    db.session.flush()
    audit.record("payment.recorded", installment, actor=actor, now=now, new={
        "contract_id": contract.id, "position": installment.position, "paid_on": paid_on, "amount": amount,
        "voucher": voucher})
    notify_many(active_users([contract.supplier_id]), "payment_recorded", {
        "reference": contract.reference, "title": contract.title, "position": installment.position,
        "amount": format_money(amount), "paid_on": paid_on.isoformat(), "voucher": voucher},
        link=contract_link(contract), now=now)
    return installment


def gate_label(installment: Installment) -> str:
    """The installment's gate in words: its own label (e.g. 中期评估) or the gate's."""
    return installment.gate_label or str(GATE_LABELS[Gate(installment.gate)])
