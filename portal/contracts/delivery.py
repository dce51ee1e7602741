"""Delivery and the end of a service agreement: the NGO's periodic service reports and their late flags, the
expiry reminders, termination with grounds, completion after the final acceptance (验收), and the yearly review
that a multi-year contract must not fail before its next year starts.

Services apply ``portal.contracts.rules``, lock the contract row, change objects, flush, audit and queue
notifications; the caller commits. Jobs (``flag_late_reports``, ``expiry_reminders``) run inside the scheduler's
transaction and can run twice without harm: what was sent is remembered in ``Contract.reminded``.

Choices made here:

* A report may be submitted from the last day of its period on, once per period, while the contract is in force
  (SIGNED); it is ``late`` when submitted after its due day (10 days after the period, ``rules.REPORT_DUE_DAYS``).
* The schedule is computed from the contract's current term and interval (an amendment may change them); reports
  already submitted stay and are listed even when their period no longer matches the new schedule.
* Termination ends the contract; installments whose gate was met before it may still be recorded as paid, gates
  not met by then stay closed (the payment services refuse to open a gate of a contract that is not in force).
* Completion needs the final acceptance (``accepted_at``, recorded by ``payments.record_acceptance``) and nothing
  else: an accepted contract may be completed before its end date, the service having been delivered.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from portal import audit
from portal.accounts.services import active_users
from portal.audit import AuditEntry
from portal.contracts import rules
from portal.contracts.models import Contract, ContractStatus, ServiceReport
from portal.contracts.services import contract_link, lock_contract
from portal.contracts.signals import contract_ended
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.files import DOCX, JPEG, PDF, PNG, XLSX, ZIP, store_upload
from portal.i18n import format_money
from portal.notices import Notice, NoticeKind, publish_notice
from portal.notify import notify_many
from portal.pdf import rmb_upper
from portal.permissions import Role
from portal.tenders.rules import local_date

SUMMARY_MIN_CHARS = 20  # a report says what was delivered; shorter text says nothing
GROUNDS_MIN_CHARS = 20  # termination states its grounds
REPORT_TYPES = (PDF, DOCX, XLSX, ZIP, PNG, JPEG)
TERMINATION_NOTICE_SUFFIX = "合同终止公告"
YEAR_REVIEW_ACTION = "contract.year_review"
REPORTS_KEY = "report:"  # "report:<due day>": every report due up to that day has been flagged once
EXPIRY_KEY = "expiry"  # "expiry90:<end date>", "expiry30:<end date>"


class ReportState(StrEnum):
    UPCOMING = "upcoming"  # the period has not reached its last day
    OPEN = "open"  # may be submitted; not yet due
    MISSING = "missing"  # its due day has passed without a report
    SUBMITTED = "submitted"  # submitted by its due day
    LATE = "late"  # submitted after its due day


REPORT_STATE_LABELS = {
    ReportState.UPCOMING: _l("Not yet due"),
    ReportState.OPEN: _l("Open for submission"),
    ReportState.MISSING: _l("Missing (overdue)"),
    ReportState.SUBMITTED: _l("Submitted"),
    ReportState.LATE: _l("Submitted late"),
}


class TerminationCause(StrEnum):
    BREACH = "breach"
    FAILED_REVIEW = "failed_review"
    FORCE_MAJEURE = "force_majeure"
    AGREEMENT = "agreement"
    OTHER = "other"


TERMINATION_CAUSE_LABELS = {
    TerminationCause.BREACH: _l("Breach of contract by the supplier (违约)"),
    TerminationCause.FAILED_REVIEW: _l("Performance review failed (绩效评估不合格)"),
    TerminationCause.FORCE_MAJEURE: _l("Force majeure (不可抗力)"),
    TerminationCause.AGREEMENT: _l("Agreement of both parties (协商一致解除)"),
    TerminationCause.OTHER: _l("Other grounds in law or in the contract"),
}

# The cause as the public notice states it (legal documents are in Chinese).
TERMINATION_CAUSE_NOTICE = {
    TerminationCause.BREACH: "供应商违反合同约定",
    TerminationCause.FAILED_REVIEW: "绩效评估结果为不合格",
    TerminationCause.FORCE_MAJEURE: "因不可抗力致使合同目的不能实现",
    TerminationCause.AGREEMENT: "经双方协商一致解除合同",
    TerminationCause.OTHER: "出现法律规定或合同约定的其他终止情形",
}


@dataclass(frozen=True)
class ScheduleRow:
    """One reporting period of the schedule, its report (if any) and where it stands on a day."""

    period: rules.Period
    report: ServiceReport | None
    state: ReportState

    @property
    def submittable(self) -> bool:
        return self.state in (ReportState.OPEN, ReportState.MISSING)


# --- Reading ------------------------------------------------------------------------------------------------------


def report_link(report: ServiceReport) -> str:
    """The report's page, for notifications (services also run in jobs, without url_for)."""
    return f"/contracts/reports/{report.id}"


def _schedule_end(contract: Contract) -> date:
    """The last day reports are owed for: the end date, or the day of an early termination."""
    if contract.status == ContractStatus.TERMINATED and contract.ended_at is not None:
        return max(min(contract.end_date, local_date(contract.ended_at)), contract.start_date)
    return contract.end_date


def _state(period: rules.Period, report: ServiceReport | None, today: date) -> ReportState:
    if report is not None:
        return ReportState.LATE if report.late else ReportState.SUBMITTED
    if today < period.end:
        return ReportState.UPCOMING
    return ReportState.MISSING if today > period.due else ReportState.OPEN


def _covered(period: rules.Period, reports) -> bool:
    """Whether the reports' periods together cover every day of ``period``."""
    day = period.start
    for start, end in sorted((r.period_start, r.period_end) for r in reports):
        if start > day:
            break
        if end >= day:
            day = end + timedelta(days=1)
        if day > period.end:
            return True
    return day > period.end


def schedule(contract: Contract, today: date) -> list[ScheduleRow]:
    """The contract's reporting periods from its current term and interval, each with its report and state on
    ``today``, in date order. Each submitted report is listed with the period it covered; a period of the current
    interval whose every day the submitted reports already cover (or that starts where a report starts) is not
    asked for again, so an amendment changing the interval never flags months already reported (quarterly to
    monthly: the months of a reported quarter are covered; monthly to quarterly: a quarter only partly reported is
    still due, as its other months are not)."""
    periods = rules.report_periods(contract.start_date, _schedule_end(contract), contract.report_interval)
    reports = list(contract.reports)
    starts = {r.period_start for r in reports}
    rows = [ScheduleRow(rules.Period(r.period_start, r.period_end, r.due_on), r, ReportState.UPCOMING)
            for r in reports]
    rows += [ScheduleRow(period, None, ReportState.UPCOMING) for period in periods
             if period.start not in starts and not _covered(period, reports)]
    rows.sort(key=lambda row: row.period.start)
    return [ScheduleRow(row.period, row.report, _state(row.period, row.report, today)) for row in rows]


def overdue_reports(contract: Contract, today: date) -> list[ScheduleRow]:
    """The periods whose report is missing after its due day."""
    return [row for row in schedule(contract, today) if row.state == ReportState.MISSING]


def days_to_expiry(contract: Contract, today: date) -> int:
    """Days until the end date (0 on the last day, negative once it has passed)."""
    return (contract.end_date - today).days


def termination_notice(contract: Contract) -> Notice | None:
    """The public notice of the contract's termination, if it was terminated."""
    if contract.status != ContractStatus.TERMINATED:
        return None
    return db.session.scalar(sa.select(Notice).where(
        Notice.kind == NoticeKind.CONTRACT, Notice.tender_id == contract.tender_id,
        Notice.title == termination_notice_title(contract)).order_by(Notice.id.desc()).limit(1))


def termination_notice_title(contract: Contract) -> str:
    return f"{contract.title}（{contract.reference}）{TERMINATION_NOTICE_SUFFIX}"


# --- Who is told -----------------------------------------------------------------------------------------------------


def _officers(contract: Contract) -> list:
    return [user for user in active_users([contract.bureau_id]) if user.role == Role.OFFICER]


def _supplier_users(contract: Contract) -> list:
    return [user for user in active_users([contract.supplier_id]) if user.role == Role.SUPPLIER]


def _context(contract: Contract, **extra) -> dict:
    return {"reference": contract.reference, "title": contract.title, "supplier": contract.supplier.name,
            "bureau": contract.bureau.name, "end_date": contract.end_date.isoformat(), **extra}


def _period_text(period: rules.Period) -> str:
    return f"{period.start.isoformat()} – {period.end.isoformat()}"


# --- Reminder keys (Contract.reminded: keys separated by commas, as services.mark_reminded writes them) -------------


def _keys(contract: Contract) -> list[str]:
    return [key for key in (contract.reminded or "").split(",") if key]


def _replace_keys(contract: Contract, prefix: str, new: list[str]) -> None:
    """Drop the keys starting with ``prefix`` and add ``new``, leaving the other keys (signing, filing) alone."""
    kept = [key for key in _keys(contract) if not key.startswith(prefix)]
    contract.reminded = ",".join(kept + new)


def _require_in_force(contract: Contract) -> None:
    if contract.status != ContractStatus.SIGNED:
        raise DomainError(_l("Only a contract in force (signed, not yet ended) allows this."))


# --- Service reports -------------------------------------------------------------------------------------------------


def submit_report(contract: Contract, *, period_start: date, summary: str, upload=None, actor, now: datetime
                  ) -> ServiceReport:
    """The NGO reports on one period of the schedule: from the period's last day on, once; late after its due day.
    The bureau's officers are told."""
    contract = lock_contract(contract)
    if not contract.is_supplier(actor):
        raise NotAllowed(_l("Only the contracted organisation submits its service reports."))
    _require_in_force(contract)
    # Under the contract's lock, from the database (not a collection loaded before the lock), and before the upload
    # is stored: a second submission of the period stores nothing.
    if db.session.scalar(sa.select(ServiceReport.id).where(ServiceReport.contract_id == contract.id,
                                                           ServiceReport.period_start == period_start)) is not None:
        raise Conflict(_l("The report for this period has already been submitted."))
    db.session.refresh(contract, ["reports"])
    today = local_date(now)
    row = next((row for row in schedule(contract, today) if row.period.start == period_start), None)
    if row is None:
        raise DomainError(_l("This period is not in the contract's reporting schedule."))
    if row.report is not None:
        raise Conflict(_l("The report for this period has already been submitted."))
    if row.state == ReportState.UPCOMING:
        raise DomainError(_l("The report for this period can be submitted from its last day, %(date)s, on."),
                          date=row.period.end.isoformat())
    summary = (summary or "").strip()
    if len(summary) < SUMMARY_MIN_CHARS:
        raise DomainError(_l("Describe the service delivered in the period in at least %(n)s characters."),
                          n=SUMMARY_MIN_CHARS)
    stored = None
    if upload is not None and getattr(upload, "filename", ""):
        stored = store_upload(upload, uploaded_by=actor, allowed=REPORT_TYPES)
    period = row.period
    report = ServiceReport(contract_id=contract.id, period_start=period.start, period_end=period.end,
                           due_on=period.due, summary=summary, submitted_at=now, submitted_by_id=actor.id,
                           file_id=stored.id if stored is not None else None, late=today > period.due)
    try:
        with db.session.begin_nested():
            db.session.add(report)
            db.session.flush()
    except IntegrityError as exc:
        raise Conflict(_l("The report for this period has already been submitted.")) from exc
    audit.record("contract.report_submitted", report, actor=actor, now=now, new={
        "contract_id": contract.id, "period_start": period.start, "period_end": period.end, "due_on": period.due,
        "late": report.late, "file_sha256": stored.sha256 if stored is not None else None})
    notify_many(_officers(contract), "service_report_submitted",
                _context(contract, period=_period_text(period), due=period.due.isoformat(), late=report.late),
                link=report_link(report), now=now)
    return report


def flag_late_reports(now: datetime) -> int:
    """Job: tell the NGO and the bureau's officers once about each report still missing after its due day.

    One key per contract remembers the latest due day flagged ("report:<day>"), so the column never grows with the
    number of periods: reports fall due in date order and each run flags every missing one due after that day.
    Returns how many missing reports were flagged.
    """
    today = local_date(now)
    query = (sa.select(Contract).where(Contract.status == ContractStatus.SIGNED,
                                       Contract.start_date <= today - timedelta(days=rules.REPORT_DUE_DAYS))
             .options(selectinload(Contract.reports), selectinload(Contract.supplier), selectinload(Contract.bureau))
             .order_by(Contract.id))
    count = 0
    for contract in db.session.scalars(query).all():
        rows = schedule(contract, today)
        passed = [row.period.due for row in rows if row.period.due < today]
        if not passed:
            continue
        flagged_through = _flagged_through(contract)
        missing = [row for row in rows if row.state == ReportState.MISSING
                   and (flagged_through is None or row.period.due > flagged_through)]
        users = (_supplier_users(contract) + _officers(contract)) if missing else []
        for row in missing:
            context = _context(contract, period=_period_text(row.period), due=row.period.due.isoformat())
            notify_many(users, "service_report_overdue", context, link=contract_link(contract), now=now)
            count += 1
        latest = max(passed)
        if flagged_through is None or latest > flagged_through:
            _replace_keys(contract, REPORTS_KEY, [f"{REPORTS_KEY}{latest.isoformat()}"])
    db.session.flush()
    return count


def _flagged_through(contract: Contract) -> date | None:
    for key in _keys(contract):
        if key.startswith(REPORTS_KEY):
            try:
                return date.fromisoformat(key[len(REPORTS_KEY):])
            except ValueError:
                return None
    return None


# --- Expiry -----------------------------------------------------------------------------------------------------------


def expiry_reminders(now: datetime) -> int:
    """Job: remind both parties of a contract in force 90 and 30 days before its end date, once per threshold and
    end date (an extension moves the end date and the reminders with it). Returns how many contracts were reminded.
    """
    today = local_date(now)
    horizon = today + timedelta(days=max(rules.EXPIRY_REMINDER_DAYS))
    query = (sa.select(Contract).where(Contract.status == ContractStatus.SIGNED, Contract.end_date >= today,
                                       Contract.end_date <= horizon)
             .options(selectinload(Contract.supplier), selectinload(Contract.bureau)).order_by(Contract.id))
    count = 0
    for contract in db.session.scalars(query).all():
        due = rules.expiry_reminders_due(contract.end_date, today)
        wanted = [f"{EXPIRY_KEY}{days}:{contract.end_date.isoformat()}" for days in due]
        sent = set(_keys(contract))
        if not due or all(key in sent for key in wanted):
            continue
        # One reminder even when two thresholds fall due at once (a contract signed with little time left).
        context = _context(contract, days=days_to_expiry(contract, today))
        link = contract_link(contract)
        notify_many(_officers(contract), "contract_expiry_reminder", context, link=link, now=now)
        notify_many(_supplier_users(contract), "contract_expiry_reminder", context, link=link, now=now)
        _replace_keys(contract, EXPIRY_KEY, wanted)
        count += 1
    db.session.flush()
    return count


# --- Termination and completion -------------------------------------------------------------------------------------


def _require_manager(contract: Contract, actor) -> None:
    if not contract.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the contracting bureau can do this."))


def termination_notice_body(contract: Contract, *, cause: TerminationCause, ended_on: date) -> str:
    """The public termination notice, in Chinese: the contract, the parties (organisations only, never the service
    users) and the kind of grounds, not the officer's private account of them."""
    tender = contract.tender
    return "\n".join([
        f"合同编号：{contract.reference}",
        f"项目编号：{tender.reference}",
        f"项目名称：{tender.title}",
        f"采购人：{contract.bureau.name}",
        f"供应商：{contract.supplier.name}",
        f"合同金额：{format_money(contract.amount)}（{rmb_upper(contract.amount)}）",
        f"合同期限：{contract.start_date.isoformat()}至{contract.end_date.isoformat()}",
        f"终止日期：{ended_on.isoformat()}",
        f"终止原因：{TERMINATION_CAUSE_NOTICE[cause]}。",
        "本合同自终止日期起停止履行；终止前已满足付款条件的款项按合同约定结算。",
        f"公告日期：{ended_on.isoformat()}",
    ])


def terminate(contract: Contract, *, grounds: str, cause: str = TerminationCause.OTHER, actor, now: datetime
              ) -> Contract:
    """The officer ends a contract in force early, with its grounds: TERMINATED, a public termination notice
    (合同终止公告), the NGO told."""
    contract = lock_contract(contract)
    _require_manager(contract, actor)
    _require_in_force(contract)
    grounds = (grounds or "").strip()
    if len(grounds) < GROUNDS_MIN_CHARS:
        raise DomainError(_l("State the grounds of the termination in at least %(n)s characters."),
                          n=GROUNDS_MIN_CHARS)
    try:
        cause = TerminationCause(cause)
    except ValueError as exc:
        raise DomainError(_l("Choose the kind of grounds.")) from exc
    ended_on = local_date(now)
    contract.status, contract.ended_at, contract.termination_grounds = ContractStatus.TERMINATED, now, grounds
    db.session.flush()
    notice = publish_notice(NoticeKind.CONTRACT, bureau=contract.bureau, title=termination_notice_title(contract),
                            body=termination_notice_body(contract, cause=cause, ended_on=ended_on), now=now,
                            tender=contract.tender, actor=actor)
    audit.record("contract.terminated", contract, actor=actor, now=now, old={"status": ContractStatus.SIGNED},
                 new={"status": contract.status, "cause": cause, "grounds": grounds, "ended_on": ended_on,
                      "notice": notice.document.number if notice.document is not None else notice.id})
    contract_ended.send(contract, actor=actor, now=now, reason=f"合同于{ended_on.isoformat()}终止")
    context = _context(contract, ended_on=ended_on.isoformat(), grounds=grounds)
    notify_many(_supplier_users(contract), "contract_terminated", context, link=contract_link(contract), now=now)
    notify_many([u for u in _officers(contract) if u.id != getattr(actor, "id", None)], "contract_terminated",
                context, link=contract_link(contract), now=now)
    return contract


def complete(contract: Contract, *, actor, now: datetime) -> Contract:
    """The officer closes a contract in force after its final acceptance (验收): COMPLETED; the NGO is told."""
    contract = lock_contract(contract)
    _require_manager(contract, actor)
    _require_in_force(contract)
    if contract.accepted_at is None:
        raise DomainError(_l("A contract is completed after its final acceptance (验收), which has not been "
                             "recorded yet."))
    shut = [i.position for i in contract.installments if i.gate_met_at is None]
    if shut:
        raise DomainError(_l("The contract cannot be completed while installments wait for their payment condition: "
                             "%(positions)s."), positions=", ".join(str(p) for p in shut))
    contract.status, contract.ended_at = ContractStatus.COMPLETED, now
    db.session.flush()
    audit.record("contract.completed", contract, actor=actor, now=now, old={"status": ContractStatus.SIGNED},
                 new={"status": contract.status, "accepted_at": contract.accepted_at, "ended_on": local_date(now)})
    contract_ended.send(contract, actor=actor, now=now, reason=f"合同于{local_date(now).isoformat()}履行完毕")
    context = _context(contract, ended_on=local_date(now).isoformat())
    notify_many(_supplier_users(contract), "contract_completed", context, link=contract_link(contract), now=now)
    return contract


# --- Multi-year contracts: each new year only after the year before passed its review ---------------------------------


@dataclass(frozen=True)
class ContractYear:
    index: int  # 1 = the first twelve months
    start: date
    end: date
    review: dict | None  # the latest recorded review of this year: {"passed": bool, "review": ref, "at": iso}
    may_start: bool  # False when the previous year's latest review failed


def year_reviews(contract: Contract) -> dict[int, dict]:
    """The latest recorded review outcome of each contract year, from the audit log (see ``record_year_review``)."""
    entries = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == YEAR_REVIEW_ACTION, AuditEntry.subject_type == Contract.__name__,
        AuditEntry.subject_id == str(contract.id)).order_by(AuditEntry.seq))
    outcomes: dict[int, dict] = {}
    for entry in entries:
        values = json.loads(entry.new_values or "{}")
        outcomes[int(values["year"])] = {"passed": bool(values["passed"]), "review": values.get("review", ""),
                                         "at": entry.at}
    return outcomes


def year_may_continue(contract: Contract, year_index: int) -> bool:
    """Whether contract year ``year_index`` (1 = the first) may run: the first always; a later one unless the latest
    review recorded for the year before it failed.

    The outcome is read from the audit log, the system of record for these decisions (``record_year_review``
    writes one "contract.year_review" entry per outcome); a later passing review of the same year, after
    rectification, lifts the stop. A year without any recorded review is not stopped.
    """
    if year_index <= 1:
        return True
    previous = year_reviews(contract).get(year_index - 1)
    return previous is None or previous["passed"]


def failed_year(contract: Contract) -> int | None:
    """The first contract year whose latest recorded review failed (the years after it may not continue), or None.

    Installments are not tied to contract years in the schedule, so a failed year stops what looks forward
    (opening a review gate, extending the term) rather than payments of gates already met."""
    failed = [index for index, review in sorted(year_reviews(contract).items()) if not review["passed"]]
    return failed[0] if failed else None


def years(contract: Contract) -> list[ContractYear]:
    """The contract years with their latest review outcome and whether each may start."""
    reviews = year_reviews(contract)
    years = []
    for index, (start, end) in enumerate(rules.contract_years(contract.start_date, contract.end_date), 1):
        previous = reviews.get(index - 1)
        years.append(ContractYear(index, start, end, reviews.get(index),
                                  index == 1 or previous is None or previous["passed"]))
    return years


def record_year_review(contract: Contract, *, year_index: int, passed: bool, review_ref: str, actor,
                       now: datetime) -> None:
    """The hook the reviews feature calls with each contract year's review outcome.

    Records the outcome in the audit log (read back by ``year_may_continue``). A failed review of a year that has a
    next one stops that next year: the bureau's officers are told the contract must be terminated or rectified
    before it starts. Nothing is terminated automatically.
    """
    spans = rules.contract_years(contract.start_date, contract.end_date)
    if not 1 <= year_index <= len(spans):
        raise DomainError(_l("The contract has no year %(n)s."), n=year_index)
    next_start = spans[year_index][0] if year_index < len(spans) else None
    audit.record(YEAR_REVIEW_ACTION, contract, actor=actor, now=now, new={
        "year": year_index, "passed": bool(passed), "review": review_ref,
        "next_year_starts": next_start, "next_year_may_start": bool(passed) if next_start else None})
    if not passed and next_start is not None and contract.status == ContractStatus.SIGNED:
        notify_many(_officers(contract), "contract_year_failed",
                    _context(contract, year=year_index, next_year=year_index + 1,
                             next_start=next_start.isoformat(), review=review_ref),
                    link=contract_link(contract), now=now)
