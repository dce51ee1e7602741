"""Amendments (合同变更/补充协议) of a signed service agreement: a reason, the new version of the affected terms with
the old kept, an added amount within 10% of the original in total (L49), an extension within 36 months (102-24),
the yearly budget lines kept whole, and a PDF of each amendment.

How an added amount enters the payment schedule: it becomes one new installment, last in order, payable after the
final acceptance (验收), for exactly the added amount. The earlier installments keep their amounts, so the
installments' amounts always add up to the contract amount to the fen. Their ``percent`` stays the share of the
amount they were scheduled against; the new row's ``percent`` is its share of the new amount, to two places (for
display only: amounts, never percents, are what is paid).

Services change objects, flush, audit and queue notifications; the caller commits.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal import audit
from portal.accounts.models import User
from portal.accounts.services import active_users
from portal.contracts import rules
from portal.contracts.delivery import failed_year
from portal.contracts.models import (
    REPORT_INTERVAL_LABELS,
    Amendment,
    BudgetLine,
    Contract,
    ContractStatus,
    Gate,
    Installment,
    ReportInterval,
)
from portal.contracts.payments import ACCEPTANCE_SOURCE, open_gate
from portal.contracts.services import _when, lock_contract, raise_problems
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.i18n import format_money
from portal.notify import notify_many
from portal.pdf import issue_document, rmb_upper
from portal.tenders.rules import local_date

AMENDMENT_PREFIX = "BG"  # 变更 document numbers: BG-2026-00001
AMENDMENT_TEMPLATE = "document.html"
REASON_MIN_CHARS = 5
TEXT_TERMS = ("service_content", "targets", "breach_terms")
# The terms an amendment may change, in the order they are shown. The amount changes only through an added amount.
# The grounds of 102-24 (both, with a note) may be recorded by an amendment that takes the term past 12 months.
GROUND_TERMS = ("budget_secured", "service_stable", "long_term_note")
AMENDABLE_TERMS = (*TEXT_TERMS, "end_date", *GROUND_TERMS, "report_interval", "budget_lines")
SHOWN_TERMS = (*AMENDABLE_TERMS, "amount")

TERM_LABELS = {
    "service_content": _l("Service content"),
    "targets": _l("Service targets"),
    "breach_terms": _l("Breach terms"),
    "end_date": _l("End date (extension)"),
    "budget_secured": _l("Budget for the whole term secured (102-24)"),
    "service_stable": _l("Service fixed, continuous and stably priced (102-24)"),
    "long_term_note": _l("Why a term over 12 months (102-24)"),
    "report_interval": _l("Service report interval"),
    "budget_lines": _l("Yearly budget lines"),
    "amount": _l("Contract amount"),
}
# The same terms in the amendment PDF (a legal document, in Chinese).
TERM_NAMES_ZH = {
    "service_content": "服务内容",
    "targets": "服务目标与指标",
    "breach_terms": "违约责任",
    "end_date": "合同期限届满日",
    "budget_secured": "预算已有保障（第二十四条）",
    "service_stable": "服务内容固定、连续性强、价格稳定（第二十四条）",
    "long_term_note": "合同期限超过一年的说明",
    "report_interval": "服务报告周期",
    "budget_lines": "分年度预算",
    "amount": "合同金额",
}
REPORT_INTERVAL_ZH = {ReportInterval.MONTHLY: "按月报告", ReportInterval.QUARTERLY: "按季度报告"}
PERCENT_PLACES = Decimal("0.01")


def amendment_link(amendment: Amendment) -> str:
    """The amendment's page, for notifications (payment_views.py serves this path)."""
    return f"/contracts/amendments/{amendment.id}"


# --- Reading -----------------------------------------------------------------------------------------------------


def _added(contract: Contract, *, confirmed: bool) -> Decimal:
    done = Amendment.confirmed_at.is_not(None) if confirmed else Amendment.confirmed_at.is_(None)
    # Summed in Python: each amount comes back as an exact Decimal (SQLite would sum floats).
    return sum(db.session.scalars(sa.select(Amendment.added_amount).where(Amendment.contract_id == contract.id, done)),
               Decimal("0.00"))


def added_total(contract: Contract) -> Decimal:
    """What the contract's confirmed amendments have added so far (they are in ``contract.amount``)."""
    return _added(contract, confirmed=True)


def pending_added(contract: Contract) -> Decimal:
    """What a proposed amendment not yet confirmed by the supplier would add."""
    return _added(contract, confirmed=False)


def original_amount(contract: Contract) -> Decimal:
    """The amount signed, before any added amount (the base of the 10% cap, L49)."""
    return contract.amount - added_total(contract)


def add_on_left(contract: Contract) -> Decimal:
    """How much amendments may still add (10% of the original amount in total, L49): confirmed and pending
    amendments both count, so that two proposals cannot together pass the cap."""
    original = original_amount(contract)
    used = contract.amount - original + pending_added(contract)
    return max(rules.add_on_limit(original) - used, Decimal("0.00"))


def pending_amendment(contract: Contract) -> Amendment | None:
    """The amendment proposed by the officer and awaiting the supplier's confirmation (at most one)."""
    return db.session.scalar(sa.select(Amendment).where(Amendment.contract_id == contract.id,
                                                        Amendment.confirmed_at.is_(None)))


def is_pending(amendment: Amendment) -> bool:
    return amendment.confirmed_at is None


def latest_end(contract: Contract) -> date:
    """The furthest an extension may take the end date: 36 months from the start (102-24)."""
    return rules.longest_end(contract.start_date, rules.MAX_TERM_MONTHS)


def changes_of(amendment: Amendment) -> list[dict]:
    """The amendment's changed terms in display order: ``{"term", "old", "new"}`` (values as stored)."""
    stored = json.loads(amendment.changes or "{}")
    return [{"term": term, "old": stored[term]["old"], "new": stored[term]["new"]}
            for term in SHOWN_TERMS if term in stored]


# --- Values as stored and shown ---------------------------------------------------------------------------------


def _stored(term: str, value):
    """A term's value as kept in the amendment's JSON: text, ISO dates, amounts as strings."""
    if value is None:
        return None
    if term == "budget_lines":
        return {str(year): str(amount) for year, amount in sorted(value.items())}
    if isinstance(value, bool):
        return value
    if isinstance(value, date | Decimal):
        return value.isoformat() if isinstance(value, date) else str(value)
    return str(value)


def value_zh(term: str, value) -> str:
    """A stored term value written out for the amendment PDF (Chinese)."""
    if value in (None, "", {}):
        return "—"
    if term == "amount":
        return f"{format_money(Decimal(value))}（{rmb_upper(Decimal(value))}）"
    if term == "report_interval":
        return REPORT_INTERVAL_ZH.get(value, value)
    if isinstance(value, bool):
        return "是" if value else "否"
    if term == "budget_lines":
        return "；".join(f"{year}年度：{format_money(Decimal(amount))}" for year, amount in sorted(value.items()))
    return str(value)


def value_shown(term: str, value) -> str:
    """A stored term value for the portal's pages (in the reader's language where it is a label)."""
    if value in (None, "", {}):
        return "—"
    if term == "amount":
        return format_money(Decimal(value))
    if isinstance(value, bool):
        return str(_l("Yes") if value else _l("No"))
    if term == "report_interval":
        label = REPORT_INTERVAL_LABELS.get(value)
        return str(label) if label is not None else value
    if term == "budget_lines":
        return "; ".join(f"{year}: {format_money(Decimal(amount))}" for year, amount in sorted(value.items()))
    return str(value)


# --- Checking the proposed changes -------------------------------------------------------------------------------


def _text(value) -> str:
    """Text as the contract keeps it: line endings normalised, trimmed."""
    return str(value or "").replace("\r\n", "\n").replace("\r", "\n").strip()


def _money(value, message) -> Decimal:
    try:
        amount = Decimal(str(value if value is not None else "0"))
    except (InvalidOperation, ValueError) as exc:
        raise DomainError(message) from exc
    if not amount.is_finite() or amount != amount.quantize(rules.FEN):
        raise DomainError(message)
    return amount.quantize(rules.FEN)


def _budget_lines(value) -> dict[int, Decimal]:
    if not isinstance(value, dict):
        raise DomainError(_l("Give the yearly budget lines as one amount per fiscal year."))
    lines = {}
    for year, amount in value.items():
        try:
            year = int(year)
        except (TypeError, ValueError) as exc:
            raise DomainError(_l("A budget line's fiscal year must be a year, e.g. 2027.")) from exc
        lines[year] = _money(amount, _l("Each yearly budget line must be an amount in yuan with at most two "
                                        "decimals."))
    return lines


def _grounds(contract: Contract, changes: dict) -> dict:
    """The grounds of 102-24 as the amendment would leave them: the contract's, or those the amendment records."""
    grounds = {term: getattr(contract, term) for term in GROUND_TERMS}
    for term in ("budget_secured", "service_stable"):
        if term in changes:
            grounds[term] = bool(changes[term])
    if "long_term_note" in changes:
        grounds["long_term_note"] = _text(changes["long_term_note"])
    return grounds


def _new_end(contract: Contract, changes: dict, new_end_date: date | None) -> date | None:
    if "end_date" in changes:
        proposed = changes.pop("end_date")
        if isinstance(proposed, str):
            try:
                proposed = date.fromisoformat(proposed)
            except ValueError as exc:
                raise DomainError(_l("The new end date is not a date.")) from exc
        if new_end_date is not None and proposed is not None and proposed != new_end_date:
            raise DomainError(_l("Two different new end dates were given."))
        new_end_date = new_end_date or proposed
    if new_end_date is None or new_end_date == contract.end_date:
        return None
    if new_end_date < contract.end_date:
        raise DomainError(_l("An amendment can only extend the term; ending a contract early is a termination."))
    raise_problems(rules.extension_problems(contract.start_date, new_end_date))
    grounds = _grounds(contract, changes)
    raise_problems(rules.term_problems(contract.start_date, new_end_date, budget_secured=grounds["budget_secured"],
                                       service_stable=grounds["service_stable"], note=grounds["long_term_note"]))
    return new_end_date


def _diff(contract: Contract, *, changes: dict, added_amount: Decimal, new_end_date: date | None) -> dict:
    """The terms that change, ``{term: (old, new)}``; refuses what the rules do not allow."""
    changes = dict(changes or {})
    unknown = sorted(set(changes) - set(AMENDABLE_TERMS))
    if unknown:
        raise DomainError(_l("These terms cannot be changed by an amendment: %(terms)s."), terms=", ".join(unknown))
    diff: dict[str, tuple] = {}
    for term in TEXT_TERMS:
        if term in changes:
            new = _text(changes[term])
            if not new:
                raise DomainError(_l("A term of the contract cannot be emptied by an amendment: %(term)s."),
                                  term=TERM_LABELS[term])
            if new != _text(getattr(contract, term)):
                diff[term] = (getattr(contract, term), new)
    if "report_interval" in changes and changes["report_interval"] != contract.report_interval:
        if changes["report_interval"] not in set(ReportInterval):
            raise DomainError(_l("Choose a monthly or quarterly service report interval."))
        diff["report_interval"] = (contract.report_interval, changes["report_interval"])
    end = _new_end(contract, changes, new_end_date)
    if end is not None:
        diff["end_date"] = (contract.end_date, end)
    for term, value in _grounds(contract, changes).items():
        if value != getattr(contract, term):
            if end is None:
                raise DomainError(_l("The grounds of a term over 12 months (102-24) are recorded with an extension."))
            diff[term] = (getattr(contract, term), value)
    if added_amount:
        original = original_amount(contract)
        already = contract.amount - original + pending_added(contract)
        raise_problems(rules.add_on_problems(original, already, added_amount))
        diff["amount"] = (contract.amount, contract.amount + added_amount)
    current = {line.fiscal_year: line.amount for line in contract.budget_lines}
    lines = _budget_lines(changes["budget_lines"]) if "budget_lines" in changes else current
    if (added_amount and "budget_lines" not in changes and len(current) == 1
            and rules.fiscal_years(contract.start_date, end or contract.end_date) == list(current)):
        # A single fiscal year whose line the officer did not retype: the added amount goes on that line.
        [(year, amount)] = current.items()
        lines = {year: amount + added_amount}
    if lines != current:
        diff["budget_lines"] = (current, lines)
    if {"end_date", "amount", "budget_lines"} & set(diff):
        raise_problems(rules.budget_line_problems(lines, contract.amount + added_amount, contract.start_date,
                                                  end or contract.end_date))
    return diff


# --- Amending ------------------------------------------------------------------------------------------------------


def _apply(contract: Contract, diff: dict) -> None:
    for term, (_old, new) in diff.items():
        if term == "budget_lines":
            existing = {line.fiscal_year: line for line in contract.budget_lines}
            for year, line in existing.items():
                if year not in new:
                    contract.budget_lines.remove(line)
                else:
                    line.amount = new[year]
            for year in sorted(set(new) - set(existing)):
                contract.budget_lines.append(BudgetLine(fiscal_year=year, amount=new[year]))
        else:
            setattr(contract, term, new)
    db.session.flush()


def _add_installment(contract: Contract, amendment: Amendment, *, actor, now: datetime) -> Installment:
    """The added amount as one new installment, last, payable after the final acceptance (see the module doc)."""
    position = (db.session.scalar(sa.select(sa.func.max(Installment.position))
                                  .where(Installment.contract_id == contract.id)) or 0) + 1
    share = (amendment.added_amount * 100 / contract.amount).quantize(PERCENT_PLACES, rounding=ROUND_HALF_UP)
    installment = Installment(contract_id=contract.id, position=position, percent=max(share, PERCENT_PLACES),
                              amount=amendment.added_amount, gate=Gate.ACCEPTANCE,
                              gate_label=f"补充协议第{amendment.number}号追加金额，验收后支付")
    db.session.add(installment)
    db.session.flush()
    if contract.accepted_at is not None:  # already accepted: payable at once
        open_gate(installment, source=ACCEPTANCE_SOURCE, actor=actor, now=now)
    return installment


def amendment_context(contract: Contract, amendment: Amendment) -> dict:
    """The plain data of the amendment PDF (合同变更协议), in Chinese."""
    rows = [[TERM_NAMES_ZH[c["term"]], value_zh(c["term"], c["old"]), value_zh(c["term"], c["new"])]
            for c in changes_of(amendment)]
    sections = [
        {"heading": "原合同信息", "rows": [
            ["合同编号", contract.reference],
            ["项目名称", contract.title],
            ["采购人（甲方）", contract.bureau.name],
            ["服务机构（乙方）", contract.supplier.name],
            ["合同签订日期", local_date(contract.signed_at).isoformat() if contract.signed_at else "—"],
        ]},
        {"heading": "变更原因", "paragraphs": [line for line in amendment.reason.splitlines() if line.strip()]},
        {"heading": "变更内容", "columns": ["条款", "变更前", "变更后"], "rows": rows},
    ]
    if amendment.added_amount:
        sections.append({"heading": "追加金额", "paragraphs": [
            f"本次追加金额：{format_money(amendment.added_amount)}（{rmb_upper(amendment.added_amount)}），"
            f"作为新增付款期次，于最终验收后支付。",
            "依照《中华人民共和国政府采购法》第四十九条，历次追加金额合计不超过原合同金额的百分之十。",
        ]})
    sections.append({"heading": "其他", "paragraphs": [
        "本变更协议为原合同不可分割的组成部分；除本协议变更的条款外，原合同其他条款继续有效。",
        "本变更协议由甲方提出，经乙方通过本平台以其账户确认后生效（《中华人民共和国民法典》第五百四十三条）。",
    ]})
    proposer = db.session.get(User, amendment.created_by_id)
    confirmer = db.session.get(User, amendment.confirmed_by_id) if amendment.confirmed_by_id else None
    sections.append({"heading": "确认", "columns": ["当事人", "经办人", "时间（北京时间）"], "rows": [
        [f"甲方提出：{contract.bureau.name}", proposer.name if proposer else "—", _when(amendment.created_at)],
        [f"乙方确认：{contract.supplier.name}", confirmer.name if confirmer else "—", _when(amendment.confirmed_at)],
    ]})
    return {
        "issuer": contract.bureau.name,
        "title": "政府购买服务合同变更协议",
        "lead": f"合同编号：{contract.reference}　第{amendment.number}号变更",
        "sections": sections,
        "signatures": [f"甲方：{contract.bureau.name}", f"乙方：{contract.supplier.name}"],
    }


def amend(contract: Contract, *, reason: str, changes: dict, added_amount: Decimal = Decimal("0"),
          new_end_date: date | None = None, actor, now: datetime) -> Amendment:
    """The bureau's officer PROPOSES an amendment of a signed contract: the reason, the changed terms (old values
    kept), an added amount within the 10% cap over all amendments, confirmed and pending (L49), an extension within
    36 months (102-24), the yearly budget lines to match. Nothing changes yet: both parties must agree (民法典 543),
    so the amendment applies only when a user of the supplier confirms it (``confirm_amendment``). One proposal at
    a time; audits and tells the supplier."""
    contract = lock_contract(contract)
    if not contract.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the contracting bureau can do this."))
    if contract.status != ContractStatus.SIGNED:
        raise DomainError(_l("Only a signed contract in force can be amended."))
    waiting = pending_amendment(contract)
    if waiting is not None:
        raise Conflict(_l("Amendment %(n)s awaits the supplier's confirmation: one proposal at a time."),
                       n=waiting.number)
    reason = _text(reason)
    if len(reason) < REASON_MIN_CHARS:
        raise DomainError(_l("Give the reason for the amendment (at least %(n)s characters)."), n=REASON_MIN_CHARS)
    added_amount = _money(added_amount, _l("The added amount must be in yuan with at most two decimals."))
    if added_amount < 0:
        raise_problems([rules.Problem("added_negative")])
    proposed_end = new_end_date or (changes or {}).get("end_date")
    _check_extension_allowed(contract, {"end_date": None} if proposed_end not in (None, "", contract.end_date) else {})
    diff = _diff(contract, changes=changes, added_amount=added_amount, new_end_date=new_end_date)
    if not diff:
        raise DomainError(_l("The amendment changes nothing: change at least one term or add an amount."))
    number = (db.session.scalar(sa.select(sa.func.max(Amendment.number))
                                .where(Amendment.contract_id == contract.id)) or 0) + 1
    stored = {term: {"old": _stored(term, old), "new": _stored(term, new)} for term, (old, new) in diff.items()}
    amendment = Amendment(contract_id=contract.id, number=number, reason=reason,
                          changes=json.dumps(stored, ensure_ascii=False, sort_keys=True), added_amount=added_amount,
                          new_end_date=diff["end_date"][1] if "end_date" in diff else None, created_at=now,
                          created_by_id=actor.id)
    db.session.add(amendment)
    db.session.flush()
    audit.record("contract.amendment_proposed", contract, actor=actor, now=now,
                 old={term: change["old"] for term, change in stored.items()},
                 new={term: change["new"] for term, change in stored.items()} | {
                     "amendment": number, "amendment_id": amendment.id, "reason": reason,
                     "added_amount": added_amount})
    notify_many(active_users([contract.supplier_id]), "amendment_proposed", {
        "reference": contract.reference, "title": contract.title, "number": number},
        link=amendment_link(amendment), now=now)
    return amendment


def _check_extension_allowed(contract: Contract, diff: dict) -> None:
    """A failed yearly review stops the next contract year: no extension while the current year may not go on."""
    if "end_date" not in diff:
        return
    failed = failed_year(contract)
    if failed is not None:
        raise DomainError(_l("The yearly review of contract year %(n)s failed: the contract cannot be extended "
                             "until a later review of that year passes."), n=failed)


def _parsed(term: str, value):
    """A stored term value back as the contract keeps it."""
    if value is None:
        return None
    if term == "budget_lines":
        return {int(year): Decimal(amount) for year, amount in value.items()}
    if term == "end_date":
        return date.fromisoformat(value)
    if term == "amount":
        return Decimal(value)
    return value


def _current(contract: Contract, term: str):
    if term == "budget_lines":
        return {line.fiscal_year: line.amount for line in contract.budget_lines}
    return getattr(contract, term)


def confirm_amendment(amendment: Amendment, *, actor, now: datetime) -> Amendment:
    """A user of the supplier confirms the proposed amendment with their own account (the view has checked the
    password): only now is it applied to the contract (terms, amount, budget lines, an installment for the added
    amount), its PDF issued once; audited, both parties told."""
    contract = lock_contract(amendment.contract)
    amendment = db.session.execute(sa.select(Amendment).where(Amendment.id == amendment.id).with_for_update()
                                   .execution_options(populate_existing=True)).scalar_one()
    if not contract.is_supplier(actor):
        raise NotAllowed(_l("Only a user of the contracted supplier can confirm an amendment."))
    if amendment.confirmed_at is not None:
        raise Conflict(_l("This amendment has already been confirmed."))
    if contract.status != ContractStatus.SIGNED:
        raise DomainError(_l("Only a signed contract in force can be amended."))
    stored = json.loads(amendment.changes or "{}")
    if any(_stored(term, _current(contract, term)) != change["old"] for term, change in stored.items()):
        raise Conflict(_l("The contract has changed since this amendment was proposed: ask the officer to propose "
                          "it again."))
    diff = {term: (_parsed(term, change["old"]), _parsed(term, change["new"])) for term, change in stored.items()}
    _check_extension_allowed(contract, diff)
    _apply(contract, diff)
    amendment.confirmed_at, amendment.confirmed_by_id = now, actor.id
    db.session.flush()
    installment = _add_installment(contract, amendment, actor=actor, now=now) if amendment.added_amount else None
    document = issue_document(f"amendment:{amendment.id}", AMENDMENT_TEMPLATE, amendment_context(contract, amendment),
                              prefix=AMENDMENT_PREFIX, now=now, issued_by=actor)
    amendment.document_id = document.id
    db.session.flush()
    audit.record("contract.amended", contract, actor=actor, now=now,
                 old={term: change["old"] for term, change in stored.items()},
                 new={term: change["new"] for term, change in stored.items()} | {
                     "amendment": amendment.number, "amendment_id": amendment.id, "reason": amendment.reason,
                     "added_amount": amendment.added_amount, "proposed_by_id": amendment.created_by_id,
                     "installment_position": installment.position if installment is not None else None,
                     "document": document.number, "sha256": document.file.sha256})
    users = [u for u in active_users([contract.bureau_id, contract.supplier_id])
             if contract.can_manage(u) or contract.is_supplier(u)]
    notify_many(users, "amendment_made", {
        "reference": contract.reference, "title": contract.title, "number": amendment.number,
        "document": document.number}, link=amendment_link(amendment), now=now)
    return amendment


def withdraw_amendment(amendment: Amendment, *, actor, now: datetime) -> None:
    """The officer withdraws a proposal the supplier has not confirmed (nothing was applied, no PDF issued): the
    row goes, the audit keeps it, and the next proposal may be made."""
    contract = lock_contract(amendment.contract)
    amendment = db.session.execute(sa.select(Amendment).where(Amendment.id == amendment.id).with_for_update()
                                   .execution_options(populate_existing=True)).scalar_one()
    if not contract.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the contracting bureau can do this."))
    if amendment.confirmed_at is not None:
        raise Conflict(_l("This amendment has already been confirmed."))
    audit.record("contract.amendment_withdrawn", contract, actor=actor, now=now,
                 old={"amendment": amendment.number, "changes": json.loads(amendment.changes or "{}"),
                      "added_amount": amendment.added_amount, "reason": amendment.reason})
    db.session.delete(amendment)
    db.session.flush()
