"""Rectification (整改) after a review graded 不合格: the NGO's plan (整改方案) with its completion day, the officer's
acceptance (a re-review, 整改复评, is planned for that day) or return, and the job that tells both parties when a
plan is overdue.

Grading opens the rectification (``grading.apply_grade``) and closes it when the re-review is graded; this module
covers what happens in between. A late plan is accepted, and the audit records it as late.
"""

from __future__ import annotations

import json
from datetime import date, datetime

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from portal import audit
from portal.audit import AuditEntry
from portal.calendar import load_calendar
from portal.contracts.models import Contract, ContractStatus
from portal.contracts.services import lock_contract
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.files import DOCX, PDF, ZIP, store_upload
from portal.notify import notify_many
from portal.reviews import rubrics, rules, scoring
from portal.reviews.common import ngo_users, officers, require_manager
from portal.reviews.models import (
    Rectification,
    RectificationStatus,
    Review,
    ReviewerStatus,
    ReviewIndicator,
    ReviewKind,
    ReviewStatus,
)
from portal.tenders.rules import local_date

PLAN_MIN_CHARS = 20  # a plan says what will change, by whom and when (house rule, issue 7)
PLAN_MAX_CHARS = 20000
NOTE_MIN_CHARS = 10  # a returned plan says what is missing
NOTE_MAX_CHARS = 5000
PLAN_TYPES = (PDF, DOCX, ZIP)
RE_REVIEW_TITLE = "整改复评"
OVERDUE_ACTION = "review.rectification_plan_overdue"


def rectification_link(rectification: Rectification) -> str:
    return f"/reviews/rectifications/{rectification.id}"


def _context(rectification: Rectification, **extra) -> dict:
    contract = rectification.contract
    return {"review": rectification.review.title, "reference": contract.reference, "title": contract.title,
            "supplier": contract.supplier.name, "plan_due_on": rectification.plan_due_on.isoformat(), **extra}


def _lock(rectification: Rectification) -> Rectification:
    """Lock the contract, then read the rectification afresh."""
    lock_contract(rectification.contract)
    db.session.refresh(rectification)
    return rectification


def _require_in_force(contract: Contract) -> None:
    if contract.status != ContractStatus.SIGNED:
        raise DomainError(_l("The contract is no longer in force: its rectification cannot go on."))


# --- Reading ---------------------------------------------------------------------------------------------------------


def can_view(rectification: Rectification, user) -> bool:
    """The parties and the overseers (the contract's own readers)."""
    return rectification.contract.can_view(user)


def plan_is_late(rectification: Rectification, today: date) -> bool:
    return rectification.status == RectificationStatus.AWAITING_PLAN and today > rectification.plan_due_on


def rectification_of(review: Review) -> Rectification | None:
    """The rectification opened by this failed review."""
    return db.session.scalar(sa.select(Rectification).where(Rectification.review_id == review.id))


def rectification_rechecked_by(review: Review) -> Rectification | None:
    """The rectification whose re-review this is."""
    return db.session.scalar(sa.select(Rectification).where(Rectification.re_review_id == review.id))


# --- The NGO's plan -------------------------------------------------------------------------------------------------


def submit_plan(rectification: Rectification, *, plan: str, due_on: date | None, upload=None, actor,
                now: datetime) -> Rectification:
    """The NGO submits its rectification plan and the day it will be completed (after today, within 90 days); an
    attachment (PDF, Word or ZIP) is optional. Accepted after the plan's due day too, recorded as late. The
    bureau's officers are told."""
    rectification = _lock(rectification)
    contract = rectification.contract
    if not contract.is_supplier(actor):
        raise NotAllowed(_l("Only the contracted organisation submits its rectification plan."))
    _require_in_force(contract)
    if rectification.status != RectificationStatus.AWAITING_PLAN:
        raise Conflict(_l("The rectification plan is not awaited: it was submitted already, or the rectification "
                          "is under way or closed."))
    plan = (plan or "").strip()
    if len(plan) < PLAN_MIN_CHARS:
        raise DomainError(_l("Describe the rectification plan in at least %(n)s characters."), n=PLAN_MIN_CHARS)
    if len(plan) > PLAN_MAX_CHARS:
        raise DomainError(_l("The rectification plan is at most %(n)s characters."), n=PLAN_MAX_CHARS)
    today = local_date(now)
    if rules.rectification_due_problems(due_on, today):
        raise DomainError(_l("The rectification is completed after today and within %(n)s days."),
                          n=rules.RECTIFICATION_MAX_DAYS)
    stored = None
    if upload is not None and getattr(upload, "filename", ""):
        stored = store_upload(upload, uploaded_by=actor, allowed=PLAN_TYPES)
    late = today > rectification.plan_due_on
    old = {"status": rectification.status, "plan": rectification.plan, "due_on": rectification.due_on}
    rectification.status = RectificationStatus.PLAN_SUBMITTED
    rectification.plan, rectification.due_on = plan, due_on
    rectification.plan_file_id = stored.id if stored is not None else None
    rectification.submitted_at, rectification.submitted_by_id = now, actor.id
    db.session.flush()
    audit.record("review.rectification_plan_submitted", rectification, actor=actor, now=now, old=old, new={
        "status": rectification.status, "plan": plan, "due_on": due_on, "plan_due_on": rectification.plan_due_on,
        "late": late, "file_sha256": stored.sha256 if stored is not None else None})
    notify_many(officers(contract), "rectification_plan_submitted",
                _context(rectification, due_on=due_on.isoformat(), late=late),
                link=rectification_link(rectification), now=now)
    return rectification


# --- The officer's decision ------------------------------------------------------------------------------------------


def _plan_re_review(rectification: Rectification, *, actor, now: datetime) -> tuple[Review, list[str], list[str]]:
    """The re-review (整改复评) of the failed review: due on the rectification's completion day, the same period,
    contract year, payment gate and assessing organisation, its rubric copied from the failed review's, and the
    failed review's reviewers assigned again where the assignment rules still allow it. Returns the review and the
    names of the reviewers assigned and skipped."""
    failed = rectification.review
    re_review = Review(contract_id=failed.contract_id, kind=ReviewKind.RE_REVIEW, title=RE_REVIEW_TITLE,
                       status=ReviewStatus.PLANNED, due_on=rectification.due_on, period_start=failed.period_start,
                       period_end=failed.period_end, year_index=failed.year_index,
                       opens_payment=failed.opens_payment, third_party=failed.third_party,
                       template_id=failed.template_id, created_by_id=actor.id, created_at=now, updated_at=now)
    db.session.add(re_review)
    db.session.flush()
    rubrics.insert_indicators(rubrics.rows_of(failed.indicators), [re_review.id], ReviewIndicator, "review_id")
    assigned, skipped = [], []
    for reviewer in failed.reviewers:
        if reviewer.status == ReviewerStatus.WITHDRAWN:
            continue
        try:
            with db.session.begin_nested():
                scoring.assign_reviewer(re_review, reviewer.user, kind=reviewer.kind,
                                        organisation_name=reviewer.organisation_name, actor=actor, now=now)
        except DomainError:
            skipped.append(reviewer.user.name)  # e.g. deactivated, or a conflict since: the officer assigns another
        else:
            assigned.append(reviewer.user.name)
    db.session.expire(re_review, ["reviewers"])
    audit.record("review.re_review_planned", re_review, actor=actor, now=now, new={
        "contract_id": re_review.contract_id, "failed_review_id": failed.id, "due_on": re_review.due_on,
        "period_start": re_review.period_start, "period_end": re_review.period_end,
        "year_index": re_review.year_index, "opens_payment": re_review.opens_payment,
        "indicators": len(failed.indicators), "reviewers": assigned, "reviewers_skipped": skipped})
    return re_review, assigned, skipped


def accept_plan(rectification: Rectification, *, note: str = "", actor, now: datetime) -> Rectification:
    """An officer of the contracting bureau accepts the submitted plan: the rectification is under way and its
    re-review planned for the completion day (``rectification.re_review``). The NGO is told."""
    rectification = _lock(rectification)
    contract = rectification.contract
    require_manager(contract, actor)
    _require_in_force(contract)
    if rectification.status != RectificationStatus.PLAN_SUBMITTED:
        raise Conflict(_l("Only a submitted rectification plan can be accepted or returned."))
    note = (note or "").strip()
    if len(note) > NOTE_MAX_CHARS:
        raise DomainError(_l("The note is at most %(n)s characters."), n=NOTE_MAX_CHARS)
    if rectification.due_on <= local_date(now):
        raise DomainError(_l("The plan's completion day (%(date)s) has passed: return the plan so that the NGO "
                             "gives a new one."), date=rectification.due_on.isoformat())
    re_review, assigned, skipped = _plan_re_review(rectification, actor=actor, now=now)
    rectification.status = RectificationStatus.IN_PROGRESS
    rectification.decided_at, rectification.decided_by_id, rectification.decision_note = now, actor.id, note
    rectification.re_review_id = re_review.id
    db.session.flush()
    audit.record("review.rectification_accepted", rectification, actor=actor, now=now,
                 old={"status": RectificationStatus.PLAN_SUBMITTED},
                 new={"status": rectification.status, "note": note, "re_review_id": re_review.id,
                      "due_on": rectification.due_on, "reviewers": assigned, "reviewers_skipped": skipped})
    notify_many(ngo_users(contract), "rectification_plan_accepted",
                _context(rectification, due_on=rectification.due_on.isoformat(), note=note),
                link=rectification_link(rectification), now=now)
    return rectification


def return_plan(rectification: Rectification, *, note: str, actor, now: datetime) -> Rectification:
    """An officer of the contracting bureau returns the submitted plan with what is missing: the NGO writes it
    again, with a fresh 10 working days from today (``rules.plan_last_day``)."""
    rectification = _lock(rectification)
    contract = rectification.contract
    require_manager(contract, actor)
    _require_in_force(contract)
    if rectification.status != RectificationStatus.PLAN_SUBMITTED:
        raise Conflict(_l("Only a submitted rectification plan can be accepted or returned."))
    note = (note or "").strip()
    if len(note) < NOTE_MIN_CHARS:
        raise DomainError(_l("Say what the plan lacks in at least %(n)s characters."), n=NOTE_MIN_CHARS)
    if len(note) > NOTE_MAX_CHARS:
        raise DomainError(_l("The note is at most %(n)s characters."), n=NOTE_MAX_CHARS)
    old = {"status": rectification.status, "plan_due_on": rectification.plan_due_on}
    rectification.status = RectificationStatus.AWAITING_PLAN
    rectification.decided_at, rectification.decided_by_id, rectification.decision_note = now, actor.id, note
    rectification.plan_due_on = max(rectification.plan_due_on, rules.plan_last_day(local_date(now), load_calendar()))
    db.session.flush()
    audit.record("review.rectification_returned", rectification, actor=actor, now=now, old=old, new={
        "status": rectification.status, "note": note, "plan_due_on": rectification.plan_due_on})
    notify_many(ngo_users(contract), "rectification_plan_returned", _context(rectification, note=note),
                link=rectification_link(rectification), now=now)
    return rectification


# --- The job -------------------------------------------------------------------------------------------------------


def _already_reminded(ids: list[int]) -> set[tuple[str, str]]:
    """(rectification id, plan due day) pairs already reminded, from the audit (one query)."""
    if not ids:
        return set()
    entries = db.session.scalars(sa.select(AuditEntry).where(
        AuditEntry.action == OVERDUE_ACTION, AuditEntry.subject_type == Rectification.__name__,
        AuditEntry.subject_id.in_([str(i) for i in ids])))
    return {(entry.subject_id, json.loads(entry.new_values or "{}").get("plan_due_on")) for entry in entries}


def remind_overdue_plans(now: datetime) -> int:
    """Job: tell the NGO and the bureau's officers once when a rectification plan is past its due day and still not
    submitted (once more if a returned plan's new due day passes too). Returns how many were reminded."""
    today = local_date(now)
    query = (sa.select(Rectification).join(Contract, Rectification.contract_id == Contract.id)
             .where(Rectification.status == RectificationStatus.AWAITING_PLAN, Rectification.plan_due_on < today,
                    Contract.status == ContractStatus.SIGNED)
             .options(selectinload(Rectification.review), selectinload(Rectification.contract)
                      .selectinload(Contract.supplier))
             .order_by(Rectification.id))
    overdue = list(db.session.scalars(query))
    sent = _already_reminded([r.id for r in overdue])
    count = 0
    for rectification in overdue:
        if (str(rectification.id), rectification.plan_due_on.isoformat()) in sent:
            continue
        contract = rectification.contract
        context = _context(rectification)
        link = rectification_link(rectification)
        notify_many(ngo_users(contract), "rectification_plan_overdue", context, link=link, now=now)
        notify_many(officers(contract), "rectification_plan_overdue", context, link=link, now=now)
        audit.record(OVERDUE_ACTION, rectification, now=now, new={"plan_due_on": rectification.plan_due_on})
        count += 1
    db.session.flush()
    return count
