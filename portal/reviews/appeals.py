"""Appeals (申诉) against a review's grade: the NGO contests a graded review within 5 working days of the grade,
with its reasons; an officer of the contracting bureau answers. An upheld appeal reopens the scoring
(``grading.reopen``): the reviewers may change their points, every change audited, and the review is graded again;
a dismissed one leaves the grade as it stands. One appeal per grading round.

The window counts working days (工作日) from the Beijing date of the grade (``rules.appeal_last_day``), holidays and
调休 weekends included as the working-day calendar says.
"""

from __future__ import annotations

from datetime import date, datetime

from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from portal import audit
from portal.calendar import load_calendar
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.notify import notify_many
from portal.reviews import grading, rules
from portal.reviews.common import lock_review, ngo_users, officers, review_link
from portal.reviews.models import GRADE_LABELS, Appeal, AppealStatus, Review, ReviewStatus
from portal.tenders.rules import local_date

REASONS_MIN_CHARS = 20  # an appeal says what is contested and why (house rule, issue 7)
REASONS_MAX_CHARS = 10000
ANSWER_MIN_CHARS = 10  # the officer's answer gives its grounds
ANSWER_MAX_CHARS = 10000


def appeal_link(appeal: Appeal) -> str:
    return f"/reviews/appeals/{appeal.id}"


def _context(review: Review, **extra) -> dict:
    contract = review.contract
    return {"review": review.title, "reference": contract.reference, "title": contract.title,
            "supplier": contract.supplier.name, **extra}


# --- Reading ---------------------------------------------------------------------------------------------------------


def appeal_deadline(review: Review) -> date:
    """The last day on which the NGO may contest the review's grade: the 5th working day after the Beijing date of
    the grade. Raises CalendarYearMissing when that runs into a year whose holidays are not entered yet."""
    if review.graded_at is None:
        raise DomainError(_l("Only a graded review can be contested."))
    return rules.appeal_last_day(local_date(review.graded_at), load_calendar())


def current_appeal(review: Review) -> Appeal | None:
    """The appeal against the review's current grading round, if any."""
    return next((a for a in review.appeals if a.round == review.round), None)


def can_file(review: Review, user, today: date) -> bool:
    """Whether ``user`` may contest the review now (for showing the link; the service decides)."""
    if not review.is_supplier(user) or review.status != ReviewStatus.GRADED or current_appeal(review) is not None:
        return False
    try:
        return today <= appeal_deadline(review)
    except DomainError:
        return False


# --- Filing ----------------------------------------------------------------------------------------------------------


def file_appeal(review: Review, *, reasons: str, actor, now: datetime) -> Appeal:
    """The NGO contests the graded review with its reasons, within 5 working days of the grade, once per round.
    The officers of the contracting bureau are told."""
    review = lock_review(review)
    if not review.is_supplier(actor):
        raise NotAllowed(_l("Only the contracted organisation can contest its review."))
    if review.status != ReviewStatus.GRADED:
        raise DomainError(_l("Only a graded review can be contested."))
    if current_appeal(review) is not None:
        raise Conflict(_l("This grade has already been contested: one appeal per grading."))
    last_day = appeal_deadline(review)
    if local_date(now) > last_day:
        raise DomainError(_l("The appeal window closed on %(date)s (%(n)s working days after the grade)."),
                          date=last_day.isoformat(), n=rules.APPEAL_WORKING_DAYS)
    reasons = (reasons or "").strip()
    if len(reasons) < REASONS_MIN_CHARS:
        raise DomainError(_l("State the reasons for the appeal in at least %(n)s characters."), n=REASONS_MIN_CHARS)
    if len(reasons) > REASONS_MAX_CHARS:
        raise DomainError(_l("The reasons are at most %(n)s characters."), n=REASONS_MAX_CHARS)
    appeal = Appeal(review_id=review.id, round=review.round, status=AppealStatus.OPEN, reasons=reasons, filed_at=now,
                    filed_by_id=actor.id, score_before=review.score, grade_before=review.grade)
    try:
        with db.session.begin_nested():
            db.session.add(appeal)
            db.session.flush()
    except IntegrityError as exc:
        raise Conflict(_l("This grade has already been contested: one appeal per grading.")) from exc
    audit.record("review.appeal_filed", appeal, actor=actor, now=now, new={
        "review_id": review.id, "round": review.round, "score": review.score, "grade": review.grade,
        "reasons": reasons, "last_day": last_day})
    notify_many(officers(review.contract), "review_appeal_filed",
                _context(review, score=f"{review.score:.2f}", grade=str(GRADE_LABELS[rules.Grade(review.grade)]),
                         reasons=reasons),
                link=appeal_link(appeal), now=now)
    return appeal


# --- Answering -------------------------------------------------------------------------------------------------------


def answer_appeal(appeal: Appeal, *, upheld: bool, answer: str, actor, now: datetime) -> Appeal:
    """An officer of the contracting bureau answers an open appeal with grounds. Upheld: the scoring is reopened
    (``grading.reopen``) and the review graded again; dismissed: the grade stands. The NGO is told."""
    review = lock_review(appeal.review)
    db.session.refresh(appeal)
    if not review.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the contracting bureau can answer an appeal."))
    if not review.can_answer_appeal(actor):
        raise NotAllowed(_l("A reviewer of this review (now or before) cannot answer an appeal against it: another "
                            "officer of the bureau answers."))
    if appeal.status != AppealStatus.OPEN:
        raise Conflict(_l("This appeal has already been answered."))
    answer = (answer or "").strip()
    if len(answer) < ANSWER_MIN_CHARS:
        raise DomainError(_l("Give the grounds of the answer in at least %(n)s characters."), n=ANSWER_MIN_CHARS)
    if len(answer) > ANSWER_MAX_CHARS:
        raise DomainError(_l("The answer is at most %(n)s characters."), n=ANSWER_MAX_CHARS)
    if upheld and (review.status != ReviewStatus.GRADED or review.round != appeal.round):
        raise Conflict(_l("The review has been graded again or reopened since this appeal was filed: the grading "
                          "it contests no longer stands."))
    old = {"status": appeal.status, "review_status": review.status, "round": review.round, "score": review.score,
           "grade": review.grade}
    appeal.status = AppealStatus.UPHELD if upheld else AppealStatus.DISMISSED
    appeal.answer, appeal.answered_at, appeal.answered_by_id = answer, now, actor.id
    db.session.flush()
    if upheld:
        grading.reopen(review, reason=answer, actor=actor, now=now)
    audit.record("review.appeal_answered", appeal, actor=actor, now=now, old=old, new={
        "status": appeal.status, "answer": answer, "review_status": review.status, "round": review.round,
        "score": review.score, "grade": review.grade})
    context = _context(review, answer=answer, grade=str(GRADE_LABELS[rules.Grade(appeal.grade_before)]))
    notify_many(ngo_users(review.contract), "review_appeal_upheld" if upheld else "review_appeal_dismissed", context,
                link=review_link(review), now=now)
    return appeal

