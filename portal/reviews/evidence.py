"""What the NGO brings to a review: its evidence files (活动记录, 个案档案, 照片, 财务报表…), its self-assessment (自评)
and the service users' satisfaction surveys (服务对象满意度调查).

Evidence may hold personal data of service users (case files above all): only the parties, the overseers and the
review's declared reviewers read it (``can_read_evidence``); an assigned reviewer who has not yet declared no
conflict does not. Evidence is added until the review is graded and removed only before it starts: once the
reviewers may have read a file, it stays.

Services take the actor and the clock, check who may act, flush, audit and never commit. Writers lock the contract
row first, so evidence and the grading of the same review serialise.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from portal import audit
from portal.accounts.models import User
from portal.errors import DomainError, NotAllowed
from portal.extensions import db
from portal.files import DOCX, JPEG, PDF, PNG, XLSX, ZIP, store_upload
from portal.reviews import rules
from portal.reviews.common import lock_review
from portal.reviews.models import (
    Evidence,
    EvidenceKind,
    Review,
    ReviewerStatus,
    ReviewStatus,
    SatisfactionSurvey,
    require_contract_in_force,
)
from portal.tenders.rules import local_date

EVIDENCE_TYPES = (PDF, PNG, JPEG, DOCX, XLSX, ZIP)  # checked by content, not by the file's name
NOTE_MAX_CHARS = 200  # Evidence.note
SELF_ASSESSMENT_MIN_CHARS = 20  # a self-assessment says something about the period (house rule)
SELF_ASSESSMENT_MAX_CHARS = 20000
SURVEY_TITLE_MAX_CHARS = 200  # SatisfactionSurvey.title
SURVEY_METHOD_MAX_CHARS = 200  # SatisfactionSurvey.method
OPEN_STATUSES = (ReviewStatus.PLANNED, ReviewStatus.STARTED)


# --- Who reads and who writes --------------------------------------------------------------------------------------


def can_read_evidence(review: Review, user) -> bool:
    """The parties (the contracting bureau's officers and the NGO), the overseers (the city bureau, admin) and the
    review's declared reviewers read the evidence; not a reviewer who has not declared no conflict, nor a withdrawn
    one, nor anybody else."""
    if review.contract.can_view(user):
        return True
    reviewer = review.reviewer_for(user)
    return reviewer is not None and reviewer.status == ReviewerStatus.ACTIVE and reviewer.declared_at is not None


def is_open(review: Review) -> bool:
    """Evidence and surveys are added while the review is planned or under review, not once graded or cancelled."""
    return review.status in OPEN_STATUSES


def can_add_survey(review: Review, user) -> bool:
    return is_open(review) and (review.is_supplier(user) or review.can_manage(user))


def can_remove_survey(survey: SatisfactionSurvey, user) -> bool:
    """The bureau's officer corrects any survey until the grade; the NGO withdraws its own before the review
    starts (as with evidence: what the reviewers may have read stays)."""
    review = survey.review
    if not is_open(review):
        return False
    if review.can_manage(user):
        return True
    if not (review.is_supplier(user) and review.status == ReviewStatus.PLANNED):
        return False
    entered_by = db.session.get(User, survey.entered_by_id)
    return entered_by is not None and entered_by.organisation_id == review.contract.supplier_id


def evidence_files(review: Review) -> list[Evidence]:
    """The review's evidence with its stored files, in upload order (two queries, whatever their number)."""
    return list(db.session.scalars(sa.select(Evidence).where(Evidence.review_id == review.id)
                                   .options(selectinload(Evidence.file)).order_by(Evidence.id)))


def satisfaction(review: Review) -> Decimal | None:
    """The share of satisfied respondents over the review's surveys, in percent (None without a survey)."""
    return rules.satisfaction_rate((s.respondents, s.satisfied) for s in review.surveys)


# --- Helpers ---------------------------------------------------------------------------------------------------------


def _require_supplier(review: Review, actor) -> None:
    if not review.is_supplier(actor):
        raise NotAllowed(_l("Only the contracted organisation can do this."))


def _require_open(review: Review) -> None:
    require_contract_in_force(review.contract)
    if not is_open(review):
        raise DomainError(_l("This review is graded or cancelled: its evidence can no longer change."))


# --- Evidence files ------------------------------------------------------------------------------------------------


def upload_evidence(review: Review, *, kind: str, upload, note: str = "", actor, now: datetime) -> Evidence:
    """The NGO adds a file to a review that is planned or under review: PDF, images, Word, Excel or ZIP, checked by
    content."""
    review = lock_review(review)
    _require_supplier(review, actor)
    _require_open(review)
    try:
        kind = EvidenceKind(kind)
    except ValueError as exc:
        raise DomainError(_l("Choose the kind of evidence.")) from exc
    note = " ".join((note or "").split())
    if len(note) > NOTE_MAX_CHARS:
        raise DomainError(_l("The note is at most %(n)s characters."), n=NOTE_MAX_CHARS)
    if upload is None or not getattr(upload, "filename", ""):
        raise DomainError(_l("Choose a file to upload."))
    stored = store_upload(upload, uploaded_by=actor, allowed=EVIDENCE_TYPES)
    evidence = Evidence(review_id=review.id, kind=kind, file_id=stored.id, note=note, uploaded_by_id=actor.id,
                        uploaded_at=now)
    db.session.add(evidence)
    db.session.flush()
    audit.record("review.evidence_added", evidence, actor=actor, now=now, new={
        "review_id": review.id, "kind": kind, "file": stored.original_name, "sha256": stored.sha256, "note": note})
    return evidence


def remove_evidence(evidence: Evidence, *, actor, now: datetime) -> None:
    """The NGO removes one of its files before the review starts (afterwards the reviewers may have read it)."""
    review = lock_review(evidence.review)
    _require_supplier(review, actor)
    if review.status != ReviewStatus.PLANNED:
        raise DomainError(_l("Evidence can be removed only before the review starts."))
    audit.record("review.evidence_removed", evidence, actor=actor, now=now, old={
        "review_id": review.id, "kind": evidence.kind, "file": evidence.file.original_name,
        "sha256": evidence.file.sha256, "note": evidence.note})
    db.session.delete(evidence)
    db.session.flush()


def save_self_assessment(review: Review, *, text: str, actor, now: datetime) -> Review:
    """The NGO writes or rewrites its self-assessment (自评) until the review is graded."""
    review = lock_review(review)
    _require_supplier(review, actor)
    _require_open(review)
    text = (text or "").strip()
    if len(text) < SELF_ASSESSMENT_MIN_CHARS:
        raise DomainError(_l("Write the self-assessment in at least %(n)s characters."), n=SELF_ASSESSMENT_MIN_CHARS)
    if len(text) > SELF_ASSESSMENT_MAX_CHARS:
        raise DomainError(_l("The self-assessment is at most %(n)s characters."), n=SELF_ASSESSMENT_MAX_CHARS)
    old = {"self_assessment": review.self_assessment, "self_assessed_at": review.self_assessed_at}
    review.self_assessment, review.self_assessed_at = text, now
    db.session.flush()
    audit.record("review.self_assessed", review, actor=actor, now=now, old=old,
                 new={"self_assessment": text, "self_assessed_at": now})
    return review


# --- Satisfaction surveys --------------------------------------------------------------------------------------------


def add_survey(review: Review, *, title: str, surveyed_on: date | None, method: str = "",
               respondents: int | None, satisfied: int | None, actor, now: datetime) -> SatisfactionSurvey:
    """The NGO or the bureau's officer enters one survey's result: how many answered, how many were satisfied."""
    review = lock_review(review)
    if not (review.is_supplier(actor) or review.can_manage(actor)):
        raise NotAllowed(_l("Only the contracted organisation or the contracting bureau's officers enter surveys."))
    _require_open(review)
    title, method = " ".join((title or "").split()), " ".join((method or "").split())
    if not title or len(title) > SURVEY_TITLE_MAX_CHARS:
        raise DomainError(_l("Name the survey (at most %(n)s characters)."), n=SURVEY_TITLE_MAX_CHARS)
    if len(method) > SURVEY_METHOD_MAX_CHARS:
        raise DomainError(_l("The survey method is at most %(n)s characters."), n=SURVEY_METHOD_MAX_CHARS)
    if surveyed_on is None or surveyed_on > local_date(now):
        raise DomainError(_l("The survey day cannot be in the future."))
    if surveyed_on < review.contract.start_date:
        raise DomainError(_l("The survey day cannot be before the contract's term starts (%(date)s)."),
                          date=review.contract.start_date.isoformat())
    if respondents is None or respondents <= 0:
        raise DomainError(_l("A survey has at least one respondent."))
    if satisfied is None or not 0 <= satisfied <= respondents:
        raise DomainError(_l("The satisfied respondents are from 0 to the number of respondents (%(n)s)."),
                          n=respondents)
    survey = SatisfactionSurvey(review_id=review.id, title=title, surveyed_on=surveyed_on, method=method,
                                respondents=respondents, satisfied=satisfied, entered_by_id=actor.id,
                                entered_at=now)
    db.session.add(survey)
    db.session.flush()
    audit.record("review.survey_added", survey, actor=actor, now=now, new={
        "review_id": review.id, "title": title, "surveyed_on": surveyed_on, "method": method,
        "respondents": respondents, "satisfied": satisfied})
    return survey


def remove_survey(survey: SatisfactionSurvey, *, actor, now: datetime) -> None:
    """Remove a survey entered by mistake (``can_remove_survey``); the audit keeps its figures."""
    lock_review(survey.review)
    db.session.refresh(survey)
    if not can_remove_survey(survey, actor):
        if survey.review.is_supplier(actor) or survey.review.can_manage(actor):
            raise DomainError(_l("This survey can no longer be removed: the NGO withdraws its own surveys before "
                                 "the review starts, the bureau's officer any survey until the grade."))
        raise NotAllowed(_l("Only the contracted organisation or the contracting bureau's officers enter surveys."))
    audit.record("review.survey_removed", survey, actor=actor, now=now, old={
        "review_id": survey.review_id, "title": survey.title, "surveyed_on": survey.surveyed_on,
        "respondents": survey.respondents, "satisfied": survey.satisfied, "entered_by_id": survey.entered_by_id})
    db.session.delete(survey)
    db.session.flush()

