"""Drafting and signing service agreements: the contract from the award, its term and yearly budget lines, the
payment schedule, the bond, signing by both parties, the frozen PDF, the contract notice and the filing.

Services apply ``portal.contracts.rules``, change objects, flush, audit and queue notifications; the caller
commits. They take the actor and the clock and never need a request (links are plain paths). The helpers at the
top (links, the row lock, the problem messages) are shared by the other contract modules.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import date, datetime, time
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal import audit
from portal.accounts.models import Organisation, User
from portal.accounts.services import active_users
from portal.calendar import CalendarYearMissing, load_calendar
from portal.contracts import rules
from portal.contracts.models import (
    BudgetLine,
    Contract,
    ContractStatus,
    Gate,
    Installment,
    ReportInterval,
)
from portal.contracts.signals import contract_signed
from portal.errors import Conflict, DomainError, NotAllowed
from portal.evaluation.award import active_award, contract_block_reason
from portal.evaluation.models import Award, AwardStatus
from portal.extensions import db
from portal.i18n import format_money
from portal.notices import NoticeKind, publish_notice
from portal.notify import notify_many
from portal.pdf import GeneratedDocument, issue_document, rmb_upper
from portal.permissions import Role
from portal.tenders import rules as tender_rules
from portal.tenders import services as tender_services
from portal.tenders.bidding import _lock as lock_tender
from portal.tenders.models import Tender, TenderStatus
from portal.tenders.rules import beijing_instant, local_date

log = logging.getLogger(__name__)

# The translated message for each contract rule problem (rules.Problem.code); the article is appended.
PROBLEM_MESSAGES = {
    "term_missing": _l("Enter the start and end dates of the term."),
    "term_reversed": _l("The term ends before it starts."),
    "term_over_max": _l("The term covers %(months)s months: a service agreement runs at most %(max)s months, "
                        "extensions included."),
    "term_needs_grounds": _l("The term covers %(months)s months: more than %(max)s months needs both grounds "
                             "recorded (the budget is secured; the service is fixed, continuous and stably "
                             "priced) and a note explaining them."),
    "extension_over_max": _l("The extension takes the term to %(months)s months: a service agreement runs at most "
                             "%(max)s months, extensions included."),
    "budget_years": _l("The term spans several fiscal years: enter one budget line for each of the years "
                       "%(years)s, and no other."),
    "budget_line_positive": _l("Each yearly budget line must be a positive amount."),
    "budget_total": _l("The yearly budget lines must add up to the contract amount (%(amount)s yuan)."),
    "installments_missing": _l("The payment schedule needs at least one installment."),
    "installment_percent": _l("Each installment's share must be more than 0 and at most 100 percent, with at "
                              "most two decimals."),
    "installments_total": _l("The installments' shares add up to %(total)s percent: they must add up to "
                             "exactly 100."),
    "bond_negative": _l("The performance bond (履约保证金) cannot be negative."),
    "bond_over_max": _l("The performance bond (履约保证金) may be at most 10 percent of the contract amount "
                        "(%(max)s yuan)."),
    "added_negative": _l("The added amount cannot be negative."),
    "add_on_over_max": _l("Added amounts may total at most 10 percent of the original amount (%(max)s yuan); "
                          "%(left)s yuan are left."),
}


def raise_problems(problems: list[tender_rules.Problem], error_class: type[DomainError] = DomainError) -> None:
    """Turn contract rule problems into one error with translated messages and the articles they come from."""
    tender_services.raise_problems(problems, error_class, messages=PROBLEM_MESSAGES)


def contract_link(contract: Contract, page: str = "") -> str:
    """A page of the contract, for notifications (services also run in jobs, without url_for)."""
    return f"/contracts/{contract.id}" + (f"/{page}" if page else "")


def lock_contract(contract: Contract) -> Contract:
    """Lock the contract row (SELECT ... FOR UPDATE on PostgreSQL) and reload it, so writers serialise."""
    return db.session.execute(
        sa.select(Contract).where(Contract.id == contract.id).with_for_update()
        .execution_options(populate_existing=True)).scalar_one()



def has_reminded(contract: Contract, key: str) -> bool:
    """Whether the reminder ``key`` (e.g. "sign20") was already sent for this contract."""
    return key in contract.reminded.split(",")


def mark_reminded(contract: Contract, key: str) -> None:
    """Remember that the reminder ``key`` was sent, so a job that runs twice sends it once."""
    if not has_reminded(contract, key):
        contract.reminded = ",".join(k for k in [*contract.reminded.split(","), key] if k)


# --- Constants and the contract's words (the PDF and the notice are in Chinese) -------------------------------------

CONTRACT_PREFIX = "HT"  # 合同 document numbers: HT-2026-00001
CONTRACT_TEMPLATE = "document.html"
TITLE_MAX = 200
TEXT_MAX = 20000
FILING_REFERENCE_MAX = 120
NOTICE_CONTENT_CHARS = 300  # the notice quotes the start of the service content
REMINDER_SIGN = "sign20"  # the 20th day after the award letter
REMINDER_SIGN_LATE = "signlate"  # the 30 days have passed
REMINDER_FILING = "filing"  # the last day to file (备案)
REMINDER_FILING_LATE = "filinglate"  # the filing is overdue

DEFAULT_BREACH_TERMS = (
    "一、乙方未按合同约定的服务内容、服务标准和服务指标提供服务的，甲方有权要求乙方限期整改；逾期未整改或整改后仍不"
    "符合要求的，甲方有权暂停支付相应款项，并按未完成服务量相应扣减合同价款。\n"
    "二、乙方绩效评估结果为不合格的，甲方有权暂停支付后续款项；连续两次不合格或存在弄虚作假、转包等严重违约行为的，"
    "甲方有权解除合同，乙方应退还已支付但未提供服务部分的款项，并赔偿由此给甲方造成的损失。\n"
    "三、甲方无正当理由未按合同约定支付服务款项的，乙方有权要求甲方支付，并可暂停提供相应服务，但不得损害服务对象"
    "的合法权益。\n"
    "四、任何一方泄露服务对象个人信息或者在履行本合同中知悉的隐私的，应当依法承担相应责任。\n"
    "五、因不可抗力不能履行合同的，根据不可抗力的影响，部分或者全部免除责任，但应当及时通知对方并提供证明。"
)
DISPUTE_TERMS = ("因本合同引起的或者与本合同有关的争议，双方应当协商解决；协商不成的，任何一方可以依法向甲方所在地"
                 "有管辖权的人民法院提起诉讼。")
GATE_WORDS = {  # the default wording of each payment gate in the contract
    Gate.SIGNING: "合同签订后",
    Gate.REVIEW: "绩效评估结果达到合格及以上后",
    Gate.ACCEPTANCE: "终期验收合格后",
}
REPORT_WORDS = {ReportInterval.MONTHLY: "每月", ReportInterval.QUARTERLY: "每季度"}
DEFAULT_INSTALLMENTS = (
    (Decimal("30"), Gate.SIGNING, "合同签订后"),
    (Decimal("40"), Gate.REVIEW, "中期评估合格后"),
    (Decimal("30"), Gate.ACCEPTANCE, "终期验收合格后"),
)
VALUE_FIELDS = ("title", "service_content", "targets", "start_date", "end_date", "budget_secured", "service_stable",
                "long_term_note", "report_interval", "performance_bond", "breach_terms")


# --- Reading --------------------------------------------------------------------------------------------------------


def contract_for_award(award: Award) -> Contract | None:
    return db.session.scalar(sa.select(Contract).where(Contract.award_id == award.id))


def contract_for_tender(tender: Tender) -> Contract | None:
    """The contract drafted from the tender's award in force, if any."""
    award = active_award(tender)
    return contract_for_award(award) if award is not None else None


def _bureau_ids(user) -> list[int] | None:
    """The bureaus whose contracts an officer sees: its own, and for the city bureau its districts (None: all)."""
    if user.role == Role.ADMIN:
        return None
    bureau = user.organisation
    ids = [bureau.id]
    if bureau.is_city_bureau:
        ids += db.session.scalars(sa.select(Organisation.id).where(Organisation.parent_id == bureau.id)).all()
    return ids


def _visible(query, user):
    if user.role == Role.SUPPLIER:
        return query.where(Contract.supplier_id == user.organisation_id)
    if user.role in (Role.OFFICER, Role.ADMIN):
        ids = _bureau_ids(user)
        return query if ids is None else query.where(Contract.bureau_id.in_(ids))
    return query.where(sa.false())


def contracts_for(user, statuses=None, limit: int | None = None) -> list[Contract]:
    """The contracts ``user`` may list: an officer its bureau's (the city bureau its districts' too), an admin all,
    a supplier its own; drafts first (a draft of an annulled award too, so that it can be withdrawn), then the
    newest, withdrawn drafts last."""
    query = _visible(sa.select(Contract), user).options(
        selectinload(Contract.tender), selectinload(Contract.bureau), selectinload(Contract.supplier))
    if statuses:
        query = query.where(Contract.status.in_(list(statuses)))
    query = query.order_by(sa.case((Contract.status == ContractStatus.DRAFT, 0),
                                   (Contract.status == ContractStatus.WITHDRAWN, 2), else_=1),
                           Contract.drafted_at.desc(), Contract.id.desc())
    return list(db.session.scalars(query.limit(limit) if limit else query))


def awards_awaiting_contract(user) -> list[Award]:
    """Awards in force of the officer's own bureau with no contract drafted yet (the 30-day clock runs)."""
    if user.role != Role.OFFICER:
        return []
    drafted = sa.select(Contract.award_id)
    return list(db.session.scalars(
        sa.select(Award).join(Tender, Tender.id == Award.tender_id)
        .where(Award.status == AwardStatus.ACTIVE, Tender.bureau_id == user.organisation_id,
               Tender.status == TenderStatus.AWARDED, Award.id.not_in(drafted))
        .options(selectinload(Award.tender), selectinload(Award.supplier)).order_by(Award.decided_at)))


def live_draft_clause():
    """SQL: the contract is a draft whose award is still in force (a draft of an annulled award awaits withdrawal)."""
    active = sa.select(Award.id).where(Award.id == Contract.award_id, Award.status == AwardStatus.ACTIVE)
    return sa.and_(Contract.status == ContractStatus.DRAFT, active.exists())


def dashboard_contracts(user, limit: int = 8) -> list[Contract]:
    """For the dashboards: the contracts awaiting signature (their award still in force), newest first, then those
    in force, newest first; ``limit`` in all.

    One statement. Each kind's newest ``limit`` are picked apart (index ``ix_contracts_status_drafted``, walked in
    order) before the two short lists are merged, rather than sorting every visible contract: a city bureau of a
    province-sized history oversees 100,000 signed contracts."""
    newest = (Contract.drafted_at.desc(), Contract.id.desc())
    visible = _visible(sa.select(Contract.id), user)

    def first(condition):
        picked = visible.where(condition).order_by(*newest).limit(limit).subquery()
        return sa.select(picked.c.id)

    ids = sa.union_all(first(live_draft_clause()), first(Contract.status == ContractStatus.SIGNED))
    query = sa.select(Contract).where(Contract.id.in_(ids)).options(
        selectinload(Contract.tender), selectinload(Contract.bureau), selectinload(Contract.supplier))
    query = query.order_by(sa.case((Contract.status == ContractStatus.DRAFT, 0), else_=1), *newest)
    return list(db.session.scalars(query.limit(limit)))


def award_in_force(contract: Contract) -> bool:
    """Whether the award the contract was drafted from is still ACTIVE (not annulled or superseded)."""
    award = db.session.get(Award, contract.award_id)
    return award is not None and award.status == AwardStatus.ACTIVE


def contract_pdf(contract: Contract) -> GeneratedDocument | None:
    """The frozen contract PDF issued when both parties signed (never re-rendered), or None before."""
    return contract.document


# --- Clocks for the pages -------------------------------------------------------------------------------------------


def _calendar_day(compute: Callable[[date, object], date], day: date) -> date | None:
    try:
        return compute(day, load_calendar())
    except CalendarYearMissing:
        log.warning("no working-day calendar for a contract deadline after %s", day, exc_info=True)
        return None


def days_left(contract: Contract, today: date) -> int:
    """Days left to sign (0 on the last day, negative once overdue)."""
    return rules.days_left_to_sign(contract.award_letter_on, today)


def signing_overdue(contract: Contract, today: date) -> bool:
    return contract.status == ContractStatus.DRAFT and today > rules.signing_due(contract.award_letter_on)


def notice_due_on(contract: Contract) -> date | None:
    """The last day for the contract notice (2 WD after signing), None before signing or without a calendar."""
    if contract.signed_at is None:
        return None
    return _calendar_day(rules.notice_due, local_date(contract.signed_at))


def filing_due_on(contract: Contract) -> date | None:
    """The last day to file with the finance bureau (7 WD after signing), None before signing or without a calendar."""
    if contract.signed_at is None:
        return None
    return _calendar_day(rules.filing_due, local_date(contract.signed_at))


def clocks(contract: Contract, today: date) -> dict:
    """Everything the pages show of the contract's clocks."""
    filing_due = filing_due_on(contract)
    notice_due = notice_due_on(contract)
    return {
        "signing_due": rules.signing_due(contract.award_letter_on),
        "reminder_on": rules.signing_reminder_on(contract.award_letter_on),
        "days_left": days_left(contract, today) if contract.status == ContractStatus.DRAFT else None,
        "signing_overdue": signing_overdue(contract, today),
        "signed_late": (contract.signed_at is not None
                        and local_date(contract.signed_at) > rules.signing_due(contract.award_letter_on)),
        "notice_due": notice_due,
        # Without the working-day calendar the last day is unknown: the missing notice shows as overdue, so that the
        # officer publishes it rather than nothing being shown (the job waits for the calendar).
        "notice_overdue": contract.notice_id is None and contract.signed_at is not None and (
            notice_due is None or today > notice_due),
        "notice_calendar_missing": contract.signed_at is not None and notice_due is None,
        "filing_due": filing_due,
        "filing_overdue": (filing_due is not None and (
            local_date(contract.filed_at) > filing_due if contract.filed_at is not None else today > filing_due)),
        "term_months": rules.term_months(contract.start_date, contract.end_date),
    }


# --- Drafting -------------------------------------------------------------------------------------------------------


def next_reference(bureau: Organisation, year: int) -> str:
    """HT<year>-<bureau>-<seq>: the bureau's contracts of the year, numbered from 1 (the highest so far + 1).

    The bureau's row is locked first (SELECT ... FOR UPDATE on PostgreSQL) so two drafts of one bureau, even from
    different tenders, take their numbers one after the other until the caller commits."""
    db.session.execute(sa.select(Organisation.id).where(Organisation.id == bureau.id).with_for_update())
    prefix = f"HT{year}-{bureau.id:03d}-"
    taken = db.session.scalars(sa.select(Contract.reference).where(Contract.reference.like(f"{prefix}%"))).all()
    highest = max((int(ref[len(prefix):]) for ref in taken if ref[len(prefix):].isdigit()), default=0)
    return f"{prefix}{highest + 1:04d}"


def draft_defaults(award: Award, today: date) -> dict:
    """What the draft form starts with: the tender's title and content, a term from the first of next month for
    the project's duration (at most 36 months), quarterly reports, no bond and the standard breach terms."""
    tender = award.tender
    project = tender.project
    start = rules.add_months(today.replace(day=1), 1)
    months = min(max(project.duration_months or rules.DEFAULT_MAX_TERM_MONTHS, 1), rules.MAX_TERM_MONTHS)
    targets = "\n".join(line for line in (
        f"服务对象：{project.target_groups}" if project.target_groups else "", project.description) if line)
    return {"title": tender.title, "service_content": tender.service_content, "targets": targets,
            "start_date": start, "end_date": rules.longest_end(start, months), "budget_secured": False,
            "service_stable": False, "long_term_note": "", "report_interval": ReportInterval.QUARTERLY,
            "performance_bond": None, "breach_terms": DEFAULT_BREACH_TERMS}


def default_budget_lines(amount: Decimal, start: date, end: date) -> dict[int, Decimal]:
    """The amount spread over the fiscal years in proportion to the days of the term in each (to the fen)."""
    years = rules.fiscal_years(start, end)
    total_days = (end - start).days + 1
    days = [(min(end, date(y, 12, 31)) - max(start, date(y, 1, 1))).days + 1 for y in years]
    shares = [Decimal(d * 100) / Decimal(total_days) for d in days]
    exact = [s.quantize(rules.FEN) for s in shares]
    exact[-1] += rules.FULL_PERCENT - sum(exact, Decimal(0))
    return dict(zip(years, rules.installment_amounts(amount, exact), strict=True))


def _clean_values(values: dict) -> dict:
    clean = {field: values.get(field) for field in VALUE_FIELDS}
    for field in ("title", "service_content", "targets", "long_term_note", "breach_terms"):
        clean[field] = (clean[field] or "").strip()
    clean["budget_secured"] = bool(clean["budget_secured"])
    clean["service_stable"] = bool(clean["service_stable"])
    if not clean["title"] or len(clean["title"]) > TITLE_MAX:
        raise DomainError(_l("Enter the contract title (at most %(max)s characters)."), max=TITLE_MAX)
    if not clean["service_content"] or not clean["targets"]:
        raise DomainError(_l("Enter the service content and the service targets (服务目标与指标)."))
    if not clean["breach_terms"]:
        raise DomainError(_l("Enter the breach terms (违约责任)."))
    if any(len(clean[f]) > TEXT_MAX for f in ("service_content", "targets", "long_term_note", "breach_terms")):
        raise DomainError(_l("A text is too long (at most %(max)s characters)."), max=TEXT_MAX)
    if clean["report_interval"] not in set(ReportInterval):
        raise DomainError(_l("Choose how often the service reports are due."))
    return clean


def _check_terms(values: dict, amount: Decimal, installments, budget_lines: dict[int, Decimal],
                 award_letter_on: date) -> None:
    """All the rules at once: the term (from the award letter's day on), the yearly budget lines, the schedule and
    the bond."""
    if values["start_date"] is not None and values["start_date"] < award_letter_on:
        raise DomainError(_l("The term cannot start before the award letter's day (%(date)s)."),
                          date=award_letter_on.isoformat())
    if any(gate not in set(Gate) for _, gate, _ in installments):
        raise DomainError(_l("Choose a payment gate for each installment."))
    if any(len((label or "").strip()) > 200 for _, _, label in installments):
        raise DomainError(_l("An installment's description may be at most 200 characters."))
    problems = rules.term_problems(values["start_date"], values["end_date"], budget_secured=values["budget_secured"],
                                   service_stable=values["service_stable"], note=values["long_term_note"])
    if not problems:
        problems += rules.budget_line_problems(budget_lines, amount, values["start_date"], values["end_date"])
    problems += rules.installment_problems([percent for percent, _, _ in installments])
    problems += rules.bond_problems(values["performance_bond"], amount)
    raise_problems(problems)


def _set_schedule(contract: Contract, installments, budget_lines: dict[int, Decimal]) -> None:
    """Replace the budget lines and the installments (a single-year term without lines gets one line)."""
    if contract.budget_lines or contract.installments:
        contract.budget_lines.clear()
        contract.installments.clear()
        db.session.flush()  # the old rows go before the new ones take their (contract, position/year)
    lines = dict(budget_lines) or {contract.start_date.year: contract.amount}
    contract.budget_lines = [BudgetLine(fiscal_year=year, amount=amount) for year, amount in sorted(lines.items())]
    percents = [percent for percent, _, _ in installments]
    amounts = rules.installment_amounts(contract.amount, percents)
    contract.installments = [
        Installment(position=position, percent=percent, amount=amount, gate=gate,
                    gate_label=(label or "").strip() or GATE_WORDS[Gate(gate)])
        for position, ((percent, gate, label), amount) in enumerate(zip(installments, amounts, strict=True), 1)]


def contract_values(contract: Contract) -> dict:
    """The contract's editable terms, as ``draft_contract`` and ``update_draft`` take them."""
    return {field: getattr(contract, field) for field in VALUE_FIELDS}


def _snapshot(contract: Contract) -> dict:
    return contract_values(contract) | {
        "amount": contract.amount,
        "budget_lines": [[line.fiscal_year, line.amount] for line in contract.budget_lines],
        "installments": [[i.percent, i.gate, i.gate_label, i.amount] for i in contract.installments],
    }


def _supplier_users(contract: Contract) -> list[User]:
    return [u for u in active_users([contract.supplier_id]) if u.role == Role.SUPPLIER]


def _officers(contract: Contract) -> list[User]:
    return [u for u in active_users([contract.bureau_id]) if u.role == Role.OFFICER]


def _context(contract: Contract) -> dict:
    return {"title": contract.title, "reference": contract.reference, "tender": contract.tender.reference,
            "bureau": contract.bureau.name, "supplier": contract.supplier.name,
            "amount": format_money(contract.amount),
            "signing_due": rules.signing_due(contract.award_letter_on).isoformat()}


def _require_manager(contract_or_tender, actor) -> None:
    if not contract_or_tender.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the contracting bureau can do this."))


def _check_award_in_force(tender: Tender, award: Award, now: datetime) -> None:
    current = active_award(tender)
    if current is None or current.id != award.id:
        raise DomainError(_l("The award this contract comes from is no longer in force."))
    reason = contract_block_reason(tender, now)
    if reason is not None:
        raise DomainError(reason)


def draft_contract(award: Award, values: dict, installments: list[tuple[Decimal, str, str]],
                   budget_lines: dict[int, Decimal], *, actor: User, now: datetime) -> Contract:
    """The officer drafts the contract from the award once no challenge can change it (L46, L52, R54): the parties
    and the amount from the award, the terms from ``values``, the schedule (percent, gate, label) and the yearly
    budget lines checked against the rules."""
    tender = lock_tender(award.tender)
    _require_manager(tender, actor)
    existing = contract_for_award(award)
    if existing is not None and existing.status == ContractStatus.WITHDRAWN:
        raise Conflict(_l("The contract drafted from this award was withdrawn; an award's contract is drafted only "
                          "once. A new contract needs a new award."))
    if existing is not None:
        raise Conflict(_l("A contract has already been drafted from this award."))
    _check_award_in_force(tender, award, now)
    if tender.status != TenderStatus.AWARDED:
        raise DomainError(_l("Only an awarded tender can have its contract drafted."))
    values = _clean_values(values)
    _check_terms(values, award.amount, installments, budget_lines, local_date(award.decided_at))
    contract = Contract(reference=next_reference(tender.bureau, local_date(now).year), tender_id=tender.id,
                        award_id=award.id, bureau_id=tender.bureau_id, supplier_id=award.supplier_id,
                        status=ContractStatus.DRAFT, amount=award.amount, award_letter_on=local_date(award.decided_at),
                        drafted_at=now, drafted_by_id=actor.id, **values)
    _set_schedule(contract, installments, budget_lines)
    try:
        with db.session.begin_nested():
            db.session.add(contract)
            db.session.flush()
    except IntegrityError as exc:
        raise Conflict(_l("A contract has just been drafted from this award by someone else. Reload the page.")) \
            from exc
    audit.record("contract.drafted", contract, actor=actor, now=now, new={
        "reference": contract.reference, "award_id": award.id, "tender_id": tender.id,
        "supplier_id": contract.supplier_id, "award_letter_on": contract.award_letter_on, **_snapshot(contract)})
    notify_many(_supplier_users(contract), "contract_drafted", _context(contract), link=contract_link(contract),
                now=now)
    return contract


def can_edit(contract: Contract) -> bool:
    """The terms change only while drafted, before either party signed, and while the award is in force."""
    return (contract.status == ContractStatus.DRAFT and contract.officer_signed_at is None
            and contract.supplier_signed_at is None and award_in_force(contract))


def can_withdraw(contract: Contract, user) -> bool:
    """An officer of the bureau may withdraw a draft (before the second signature makes it a contract)."""
    return contract.status == ContractStatus.DRAFT and contract.can_manage(user)


WITHDRAW_REASON_MIN = 5
WITHDRAW_REASON_MAX = 2000


def withdraw_draft(contract: Contract, *, reason: str, actor: User, now: datetime) -> Contract:
    """The officer withdraws a draft that will never be signed: its award was annulled (always allowed), or the
    draft is abandoned (allowed while DRAFT, i.e. before the second signature). The reason is kept in
    ``termination_grounds`` and the day in ``ended_at``; the supplier is told. The award's contract is not drafted
    again (one contract per award): a new contract needs a new award."""
    contract = lock_contract(contract)
    _require_manager(contract, actor)
    if contract.status != ContractStatus.DRAFT:
        raise Conflict(_l("Only a draft that both parties have not yet signed can be withdrawn."))
    reason = (reason or "").strip()
    if len(reason) < WITHDRAW_REASON_MIN or len(reason) > WITHDRAW_REASON_MAX:
        raise DomainError(_l("Give the reason for withdrawing the draft (%(min)s to %(max)s characters)."),
                          min=WITHDRAW_REASON_MIN, max=WITHDRAW_REASON_MAX)
    in_force = award_in_force(contract)
    contract.status, contract.ended_at, contract.termination_grounds = ContractStatus.WITHDRAWN, now, reason
    db.session.flush()
    audit.record("contract.withdrawn", contract, actor=actor, now=now,
                 old={"status": ContractStatus.DRAFT}, new={"status": contract.status, "reason": reason,
                                                              "award_in_force": in_force})
    notify_many(_supplier_users(contract), "contract_withdrawn", _context(contract) | {"reason": reason},
                link=contract_link(contract), now=now)
    return contract


def update_draft(contract: Contract, values: dict, installments: list[tuple[Decimal, str, str]],
                 budget_lines: dict[int, Decimal], *, actor: User, now: datetime) -> Contract:
    """The officer changes the draft's terms; once either party has signed, the terms are what was signed."""
    contract = lock_contract(contract)
    _require_manager(contract, actor)
    if contract.status == ContractStatus.DRAFT and not award_in_force(contract):
        raise DomainError(_l("The award this contract comes from is no longer in force: withdraw the draft."))
    if not can_edit(contract):
        raise Conflict(_l("A party has signed the contract: its terms can no longer be changed."))
    values = _clean_values(values)
    _check_terms(values, contract.amount, installments, budget_lines, contract.award_letter_on)
    old = _snapshot(contract)
    for field, value in values.items():
        setattr(contract, field, value)
    _set_schedule(contract, installments, budget_lines)
    db.session.flush()
    new = _snapshot(contract)
    changed = {k for k in new if str(new[k]) != str(old[k])}
    audit.record("contract.updated", contract, actor=actor, now=now, old={k: old[k] for k in changed},
                 new={k: new[k] for k in changed})
    return contract


# --- Signing --------------------------------------------------------------------------------------------------------


def _when(instant: datetime | None) -> str:
    if instant is None:
        return "—"
    return instant.astimezone(tender_rules.BEIJING).strftime("%Y-%m-%d %H:%M")


def contract_context(contract: Contract) -> dict:
    """The plain data of the contract PDF (政府购买服务合同), in Chinese."""
    tender, bureau, supplier = contract.tender, contract.bureau, contract.supplier
    officer = db.session.get(User, contract.officer_signed_by_id) if contract.officer_signed_by_id else None
    signer = db.session.get(User, contract.supplier_signed_by_id) if contract.supplier_signed_by_id else None
    months = rules.term_months(contract.start_date, contract.end_date)
    term = [f"服务期限自{contract.start_date.isoformat()}起至{contract.end_date.isoformat()}止，共{months}个月。"]
    if months > rules.DEFAULT_MAX_TERM_MONTHS:
        term.append("本合同期限超过一年，依据《政府购买服务管理办法》第二十四条，购买主体已确认：预算已有保障，"
                    "且所购服务属于服务内容相对固定、连续性强、经费来源稳定、价格变化幅度小的项目。"
                    f"说明：{contract.long_term_note}")
    bond = (f"乙方应提交履约保证金{format_money(contract.performance_bond)}（{rmb_upper(contract.performance_bond)}），"
            "合同履行完毕且验收合格后无息退还。"
            if contract.performance_bond else "本合同不收取履约保证金。")
    return {
        "issuer": bureau.name,
        "title": "政府购买服务合同",
        "lead": f"合同编号：{contract.reference}　项目编号：{tender.reference}　项目名称：{contract.title}",
        "sections": [
            {"heading": "一、合同当事人", "rows": [
                ["甲方（购买主体）", bureau.name],
                ["甲方地址", bureau.address or "—"],
                ["甲方联系人", f"{bureau.contact_name or '—'}　{bureau.contact_phone or ''}".strip()],
                ["乙方（承接主体）", supplier.name],
                ["乙方地址", supplier.address or "—"],
                ["统一社会信用代码", supplier.credit_code or "—"],
                ["乙方联系人", f"{supplier.contact_name or '—'}　{supplier.contact_phone or ''}".strip()],
            ]},
            {"heading": "二、项目来源", "paragraphs": [
                f"根据{tender.title}（项目编号：{tender.reference}）的采购结果，甲方确定乙方为承接主体，"
                f"双方依据《中华人民共和国政府采购法》《中华人民共和国民法典》《政府购买服务管理办法》等规定，"
                f"经协商一致，订立本合同。"]},
            {"heading": "三、服务内容", "paragraphs": contract.service_content.splitlines() or ["—"]},
            {"heading": "四、服务目标与指标", "paragraphs": contract.targets.splitlines() or ["—"]},
            {"heading": "五、服务期限", "paragraphs": term},
            {"heading": "六、合同金额", "paragraphs": [
                f"合同总金额：{format_money(contract.amount)}（{rmb_upper(contract.amount)}），"
                "即中标（成交）金额，包含乙方完成本合同服务所需的全部费用。"],
             "columns": ["预算年度", "金额（元）", "大写"],
             "rows": [[f"{line.fiscal_year}年度", format_money(line.amount), rmb_upper(line.amount)]
                      for line in contract.budget_lines]},
            {"heading": "七、付款方式", "paragraphs": [
                "甲方按下列进度向乙方支付服务费，每期款项在其支付条件成就后支付；支付与绩效评估结果挂钩。"],
             "columns": ["期次", "比例", "金额（元）", "支付条件"],
             "rows": [[f"第{i.position}期", f"{i.percent}%", format_money(i.amount), i.gate_label]
                      for i in contract.installments]},
            {"heading": "八、履约保证金", "paragraphs": [bond]},
            {"heading": "九、服务报告与绩效评估", "paragraphs": [
                f"乙方应{REPORT_WORDS[ReportInterval(contract.report_interval)]}向甲方提交服务报告，每期结束后"
                f"{rules.REPORT_DUE_DAYS}日内提交；甲方或其委托的第三方依约对服务开展绩效评估和验收。",
                "乙方应依法保护服务对象的个人信息，未经同意不得向第三方提供。"]},
            {"heading": "十、违约责任", "paragraphs": contract.breach_terms.splitlines()},
            {"heading": "十一、争议解决", "paragraphs": [DISPUTE_TERMS]},
            {"heading": "十二、其他", "paragraphs": [
                "本合同经双方通过本平台以各自账户确认签署后生效。合同的变更以书面补充协议为准，补充协议与本合同具有"
                "同等效力。本合同电子文本由平台生成并记录其SHA-256摘要，双方各自下载留存。"]},
            {"heading": "十三、签署", "columns": ["当事人", "签署人", "签署时间（北京时间）"], "rows": [
                [f"甲方：{bureau.name}", officer.name if officer else "—", _when(contract.officer_signed_at)],
                [f"乙方：{supplier.name}", signer.name if signer else "—", _when(contract.supplier_signed_at)],
            ]},
        ],
        "signatures": ["甲方（盖章）", "乙方（盖章）"],
    }


def signing_side(contract: Contract, user) -> str | None:
    """"officer" for an officer of the bureau, "supplier" for a user of the supplier, else None."""
    if contract.can_manage(user):
        return "officer"
    if contract.is_supplier(user):
        return "supplier"
    return None


def can_sign(contract: Contract, user) -> bool:
    """Whether ``user`` may still sign for its side (the clock and the challenge gate are checked by ``sign``)."""
    side = signing_side(contract, user)
    return (side is not None and contract.status == ContractStatus.DRAFT
            and getattr(contract, f"{side}_signed_at") is None and award_in_force(contract))


def sign(contract: Contract, *, actor: User, now: datetime) -> Contract:
    """One party signs with its own account (the view has checked the password). Late signing (after 30 days,
    L46) is allowed but flagged. When both have signed: in force, the PDF frozen once, signing gates met, the
    tender concluded and both parties told."""
    contract = lock_contract(contract)
    side = signing_side(contract, actor)
    if side is None:
        raise NotAllowed(_l("Only an officer of the contracting bureau or a user of the supplier can sign."))
    if contract.status == ContractStatus.WITHDRAWN:
        raise Conflict(_l("This draft has been withdrawn: it can no longer be signed."))
    if contract.status != ContractStatus.DRAFT:
        raise Conflict(_l("The contract has already been signed by both parties."))
    if getattr(contract, f"{side}_signed_at") is not None:
        raise Conflict(_l("Your side has already signed this contract."))
    _check_award_in_force(contract.tender, db.session.get(Award, contract.award_id), now)
    today = local_date(now)
    if contract.end_date < today:
        raise DomainError(_l("The term ended on %(date)s: a contract whose term has passed cannot be signed; "
                             "withdraw the draft."), date=contract.end_date.isoformat())
    left = days_left(contract, today)
    setattr(contract, f"{side}_signed_at", now)
    setattr(contract, f"{side}_signed_by_id", actor.id)
    db.session.flush()
    audit.record(f"contract.signed_by_{side}", contract, actor=actor, now=now,
                 new={"side": side, "days_left": left, "overdue": left < 0})
    if contract.officer_signed_at is None or contract.supplier_signed_at is None:
        other = _supplier_users(contract) if side == "officer" else _officers(contract)
        notify_many(other, "contract_countersign", _context(contract), link=contract_link(contract, "sign"), now=now)
        return contract
    _complete_signing(contract, actor=actor, now=now, overdue=left < 0)
    return contract


def _complete_signing(contract: Contract, *, actor: User, now: datetime, overdue: bool) -> None:
    # payments.py builds on this module (links, the lock), so it is imported where it is used.
    from portal.contracts.payments import open_signing_gates

    contract.status, contract.signed_at = ContractStatus.SIGNED, now
    db.session.flush()
    open_signing_gates(contract, actor=actor, now=now)
    document = issue_document(f"contract:{contract.id}", CONTRACT_TEMPLATE, contract_context(contract),
                              prefix=CONTRACT_PREFIX, now=now, issued_by=actor)
    contract.document_id = document.id
    db.session.flush()
    tender = lock_tender(contract.tender)
    if tender.status == TenderStatus.AWARDED:
        tender_services._transition(tender, TenderStatus.CONCLUDED, actor=actor, now=now, action="tender.concluded")
    audit.record("contract.signed", contract, actor=actor, now=now, new={
        "status": contract.status, "document": document.number, "sha256": document.file.sha256,
        "content_sha256": document.content_sha256,
        "overdue": overdue, "signing_due": rules.signing_due(contract.award_letter_on),
        "notice_due": notice_due_on(contract), "filing_due": filing_due_on(contract)})
    notify_many([*_officers(contract), *_supplier_users(contract)], "contract_signed",
                _context(contract) | {"document": document.number}, link=contract_link(contract), now=now)
    contract_signed.send(contract, actor=actor, now=now)


# --- After signing: the contract notice and the filing --------------------------------------------------------------


def contract_notice_body(contract: Contract) -> str:
    """The text of the contract notice (合同公告, R50), in Chinese: no personal data of service users."""
    tender, bureau, supplier = contract.tender, contract.bureau, contract.supplier
    months = rules.term_months(contract.start_date, contract.end_date)
    content = " ".join(contract.service_content.split())
    if len(content) > NOTICE_CONTENT_CHARS:
        content = content[:NOTICE_CONTENT_CHARS] + "……"
    return "\n".join([
        f"合同编号：{contract.reference}",
        f"项目编号：{tender.reference}",
        f"项目名称：{tender.title}",
        f"合同名称：{contract.title}",
        f"采购人（甲方）：{bureau.name}；地址：{bureau.address or '—'}",
        f"供应商（乙方）：{supplier.name}；地址：{supplier.address or '—'}；"
        f"统一社会信用代码：{supplier.credit_code or '—'}",
        f"合同金额：{format_money(contract.amount)}（{rmb_upper(contract.amount)}）",
        f"履约期限：{contract.start_date.isoformat()}至{contract.end_date.isoformat()}（{months}个月）",
        f"主要服务内容：{content or '—'}",
        f"合同签订日期：{local_date(contract.signed_at).isoformat()}",
    ])


def _publish_notice(contract: Contract, *, actor: User | None, now: datetime) -> None:
    if contract.signed_at is None:
        raise DomainError(_l("The contract notice is published after both parties have signed."))
    if contract.notice_id is not None:
        raise Conflict(_l("The contract notice has already been published."))
    due = notice_due_on(contract)
    notice = publish_notice(NoticeKind.CONTRACT, bureau=contract.bureau, title=f"{contract.tender.title}（合同公告）",
                            body=contract_notice_body(contract), now=now, tender=contract.tender, actor=actor)
    contract.notice_id = notice.id
    db.session.flush()
    audit.record("contract.notice_published", contract, actor=actor, now=now, new={
        "notice": notice.document.number, "automatic": actor is None, "due": due,
        "late": due is not None and local_date(now) > due})


def publish_contract_notice(contract: Contract, *, actor: User, now: datetime) -> Contract:
    """The officer publishes the contract notice (合同公告) within 2 working days of signing (R50), once."""
    contract = lock_contract(contract)
    _require_manager(contract, actor)
    _publish_notice(contract, actor=actor, now=now)
    return contract


def record_filing(contract: Contract, *, reference: str, filed_on: date, actor: User, now: datetime) -> Contract:
    """The officer records the copy filed with the finance bureau (备案, L47): its reference and day; a filing after
    the 7th working day is recorded and flagged."""
    contract = lock_contract(contract)
    _require_manager(contract, actor)
    if contract.signed_at is None:
        raise DomainError(_l("The contract is filed after both parties have signed."))
    if contract.filed_at is not None:
        raise Conflict(_l("The filing has already been recorded."))
    reference = (reference or "").strip()
    if not reference or len(reference) > FILING_REFERENCE_MAX:
        raise DomainError(_l("Enter the filing reference (备案编号, at most %(max)s characters)."),
                          max=FILING_REFERENCE_MAX)
    if filed_on is None or filed_on < local_date(contract.signed_at) or filed_on > local_date(now):
        raise DomainError(_l("The filing day must lie between the signing day and today."))
    due = filing_due_on(contract)
    contract.filed_at = now if filed_on == local_date(now) else beijing_instant(filed_on, time(0, 0))
    contract.filing_reference = reference
    db.session.flush()
    audit.record("contract.filed", contract, actor=actor, now=now, new={
        "reference": reference, "filed_on": filed_on, "due": due, "overdue": due is not None and filed_on > due})
    return contract


# --- Jobs -----------------------------------------------------------------------------------------------------------


def publish_due_notices(now: datetime) -> int:
    """Job: publish the notice of each signed contract on its last allowed day (R50) if the officer has not, so
    the 2-working-day rule always holds. Returns how many were published."""
    today = local_date(now)
    query = (sa.select(Contract.id, Contract.signed_at).where(Contract.signed_at.is_not(None),
                                                             Contract.notice_id.is_(None)).order_by(Contract.id))
    count = 0
    for contract_id, signed_at in db.session.execute(query).all():
        due = _calendar_day(rules.notice_due, local_date(signed_at))
        if due is None or today < due:
            continue
        try:
            with db.session.begin_nested():
                contract = lock_contract(db.session.get(Contract, contract_id))
                if contract.notice_id is not None:
                    continue
                _publish_notice(contract, actor=None, now=now)
                notify_many(_officers(contract), "contract_notice_auto", _context(contract),
                            link=contract_link(contract), now=now)
                count += 1
        except DomainError:
            log.warning("contract notice of contract %s not published", contract_id, exc_info=True)
    return count


def _remind(contract: Contract, key: str, users, template: str, context: dict, now: datetime) -> bool:
    if has_reminded(contract, key):
        return False
    notify_many(users, template, context, link=contract_link(contract), now=now)
    mark_reminded(contract, key)
    return True


def remind_contracts(now: datetime) -> int:
    """Job: remind the parties who have not signed on the 20th day after the award letter and once the 30 days
    have passed; remind the bureau's officers to file on the 7th working day after signing and once it is late.
    Each reminder is sent once (Contract.reminded). Returns how many were sent."""
    today = local_date(now)
    count = 0
    drafts = db.session.scalars(sa.select(Contract).where(live_draft_clause())
                                .options(selectinload(Contract.tender), selectinload(Contract.supplier),
                                         selectinload(Contract.bureau)).order_by(Contract.id)).all()
    for contract in drafts:
        if today < rules.signing_reminder_on(contract.award_letter_on):
            continue
        late = today > rules.signing_due(contract.award_letter_on)
        users = ([] if contract.officer_signed_at else _officers(contract)) + \
                ([] if contract.supplier_signed_at else _supplier_users(contract))
        context = _context(contract) | {"days_left": days_left(contract, today)}
        if late:
            count += _remind(contract, REMINDER_SIGN_LATE, users, "contract_sign_overdue", context, now)
        elif _remind(contract, REMINDER_SIGN, users, "contract_sign_reminder", context, now):
            count += 1
    unfiled = db.session.scalars(sa.select(Contract).where(Contract.signed_at.is_not(None),
                                                           Contract.filed_at.is_(None))
                                 .options(selectinload(Contract.tender), selectinload(Contract.supplier),
                                          selectinload(Contract.bureau)).order_by(Contract.id)).all()
    for contract in unfiled:
        due = filing_due_on(contract)
        if due is None or today < due:
            continue
        context = _context(contract) | {"filing_due": due.isoformat()}
        key, template = ((REMINDER_FILING_LATE, "contract_filing_overdue") if today > due
                         else (REMINDER_FILING, "contract_filing_due"))
        count += _remind(contract, key, _officers(contract), template, context, now)
    db.session.flush()
    return count
