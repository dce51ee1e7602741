"""Scoring views (routes on the reviews blueprint, views.py): the officer's reviewers, a reviewer's list of reviews,
declaration and sheet, the sheets others may see, the grading, the report PDF and the decision on a proposed
termination.

Two template globals feed the panels of the review page (reviews/detail.html): ``review_reviewers_panel(review)``
(who reviews, who declared and submitted; the officer's forms) and ``review_scoring_panel(review)`` (the viewer's
next step, progress, and once visible the totals, the score and the grade). Neither shows anyone's points before
``scoring.visible_sheets`` allows.
"""

from __future__ import annotations

from decimal import Decimal

import sqlalchemy as sa
from flask import flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import joinedload, selectinload

from portal.accounts.models import User
from portal.contracts.models import Contract, Installment
from portal.db import utcnow
from portal.extensions import db
from portal.files import send_stored
from portal.forms import ActionForm
from portal.permissions import Role, ensure, role_required
from portal.reviews import grading, rubrics, rules, scoring
from portal.reviews.models import (
    GRADE_LABELS,
    REVIEW_KIND_LABELS,
    REVIEW_STATUS_LABELS,
    REVIEWER_KIND_LABELS,
    Review,
    Reviewer,
    ReviewerStatus,
    ReviewStatus,
)
from portal.reviews.scoring_forms import (
    AssignReviewerForm,
    DeclarationForm,
    ProposalForm,
    RemoveReviewerForm,
    comment_name,
    points_name,
    sheet_entries,
    sheet_form,
)
from portal.reviews.views import bp, load_review, load_reviewer, run

REVIEWERS = (Role.EVALUATOR, Role.OFFICER)  # experts and third-party assessors; the bureau's officers
READERS = (Role.OFFICER, Role.ADMIN, Role.SUPPLIER, Role.EVALUATOR)
REVIEWER_STATUS_LABELS = {ReviewerStatus.ASSIGNED: _l("Declaration pending"), ReviewerStatus.ACTIVE: _l("Declared"),
                          ReviewerStatus.WITHDRAWN: _l("Withdrew (conflict or removed)")}


def number(value) -> str:
    """A weight or a maximum as written: 8, 7.5."""
    return f"{Decimal(value).normalize():f}"


LABELS = {"kind_labels": REVIEW_KIND_LABELS, "status_labels": REVIEW_STATUS_LABELS, "grade_labels": GRADE_LABELS,
          "reviewer_kind_labels": REVIEWER_KIND_LABELS, "number": number}


def _render(template: str, status: int = 200, **context):
    return render_template(f"reviews/{template}", **LABELS, **context), status


def _detail(review: Review) -> str:
    return url_for("reviews.review_detail", review_id=review.id)


def _flash_errors(form) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "danger")


def _shown(value) -> str:
    return f"{rules.to_decimal(value):.2f}"


# --- The panels of the review page -----------------------------------------------------------------------------------


def _candidates(review: Review) -> list[User]:
    """Who the officer may choose: the bureau's active officers and the portal's active evaluators, not already
    reviewers of this review."""
    taken = {r.user_id for r in review.reviewers}
    users = db.session.scalars(sa.select(User).where(
        User.active.is_(True), User.approved.is_(True),
        sa.or_(User.role == Role.EVALUATOR,
               sa.and_(User.role == Role.OFFICER, User.organisation_id == review.contract.bureau_id)))
        .order_by(User.role, User.username))
    return [u for u in users if u.id not in taken]


def _assign_form(review: Review, **kwargs) -> AssignReviewerForm:
    form = AssignReviewerForm(**kwargs)
    form.set_candidates(_candidates(review))
    return form


@bp.app_template_global("review_reviewers_panel")
def review_reviewers_panel(review: Review) -> dict:
    """The reviewers of the review (names, kind, declaration and submission; the reason of a withdrawal only for
    the officers), and the officer's forms to assign and remove."""
    manage = review.can_manage(current_user)
    assignable = manage and review.status in scoring.ASSIGNABLE
    return {
        "reviewers": list(review.reviewers),
        "manage": manage,
        "status_labels": REVIEWER_STATUS_LABELS,
        "kind_labels": REVIEWER_KIND_LABELS,
        "assign_form": _assign_form(review, formdata=None) if assignable else None,
        "remove_form": RemoveReviewerForm(formdata=None) if assignable else None,
    }


@bp.app_template_global("review_scoring_panel")
def review_scoring_panel(review: Review) -> dict:
    """What the scoring panel shows this viewer: their own next step, how many sheets are in (never the points),
    the totals of the sheets they may see, and once graded the score, the grade and the report."""
    me = review.reviewer_for(current_user)
    manage = review.can_manage(current_user)
    expected = scoring.counting_reviewers(review, submitted_only=False)
    visible = scoring.visible_sheets(review, current_user)
    return {
        "me": me,
        "manage": manage,
        "expected": len(expected),
        "submitted": sum(1 for r in expected if r.submitted_at is not None),
        "totals": [(r, _shown(scoring.reviewer_total(r))) for r in visible if r.counts],
        "can_see_sheets": bool(visible),
        "grading_problems": grading.grading_problems(review) if manage and review.status == ReviewStatus.STARTED
        else [],
        "finalise_form": ActionForm(formdata=None) if manage and review.status == ReviewStatus.STARTED else None,
        "can_read_report": grading.can_read_report(review, current_user),
        "proposal_open": manage and review.termination_proposed_at is not None and not review.proposal_decision,
        "gate": (db.session.get(Installment, review.gate_installment_id)
                 if review.gate_installment_id is not None and review.contract.can_view(current_user) else None),
        "grade_labels": GRADE_LABELS,
    }


# --- Assigning and removing reviewers --------------------------------------------------------------------------------


@bp.post("/<int:review_id>/reviewers")
@role_required(Role.OFFICER)
def assign_reviewer(review_id):
    review = load_review(review_id)
    ensure(review.can_manage(current_user))
    form = _assign_form(review)
    target = _detail(review) + "#reviewers"
    if not form.validate_on_submit() or not form.user_id.data:
        _flash_errors(form)
        if not form.errors:
            flash(_("Choose the reviewer."), "danger")
        return redirect(target)
    user = db.session.get(User, form.user_id.data)
    return run(lambda: scoring.assign_reviewer(review, user, kind=form.kind.data,
                                               organisation_name=form.organisation_name.data or "",
                                               actor=current_user, now=utcnow()),
               _("%(name)s is assigned as a reviewer.", name=user.name), target) or redirect(target)


@bp.post("/reviewers/<int:reviewer_id>/remove")
@role_required(Role.OFFICER)
def remove_reviewer(reviewer_id):
    reviewer = load_reviewer(reviewer_id)
    review = reviewer.review
    ensure(review.can_manage(current_user))
    form = RemoveReviewerForm()
    target = _detail(review) + "#reviewers"
    if not form.validate_on_submit():
        _flash_errors(form)
        return redirect(target)
    return run(lambda: scoring.remove_reviewer(reviewer, reason=form.reason.data, actor=current_user, now=utcnow()),
               _("The reviewer is removed and has been told."), target) or redirect(target)


# --- A reviewer's pages ---------------------------------------------------------------------------------------------


@bp.get("/mine")
@role_required(*REVIEWERS)
def my_reviews():
    rows = list(db.session.scalars(
        sa.select(Reviewer).where(Reviewer.user_id == current_user.id)
        .options(joinedload(Reviewer.review).joinedload(Review.contract).joinedload(Contract.supplier))
        .join(Review, Reviewer.review_id == Review.id).order_by(Review.due_on.desc(), Review.id.desc())))
    return _render("my_reviews.html", rows=rows, reviewer_status_labels=REVIEWER_STATUS_LABELS)


def _own_reviewer(review: Review) -> Reviewer:
    reviewer = review.reviewer_for(current_user)
    ensure(reviewer is not None)
    return reviewer


@bp.route("/<int:review_id>/declare", methods=["GET", "POST"])
@role_required(*REVIEWERS)
def declare(review_id):
    review = load_review(review_id)
    reviewer = next((r for r in review.reviewers if r.user_id == current_user.id), None)
    ensure(reviewer is not None)
    form = DeclarationForm()
    if form.validate_on_submit():
        conflict = form.conflict.data == "yes"
        target = (url_for("reviews.my_reviews") if conflict else
                  url_for("reviews.sheet", review_id=review.id) if review.status == ReviewStatus.STARTED
                  else _detail(review))
        message = (_("You have declared a conflict of interest and withdrawn; the bureau has been told.") if conflict
                   else _("You have declared no conflict of interest."))
        done = run(lambda: scoring.declare(reviewer, conflict=conflict, note=form.note.data or "",
                                           actor=current_user, now=utcnow()), message, target)
        if done is not None:
            return done
    elif form.is_submitted():
        _flash_errors(form)
    status = 400 if form.is_submitted() else 200
    return _render("declaration.html", status, review=review, contract=review.contract, reviewer=reviewer, form=form)


def _sheet_page(review: Review, reviewer: Reviewer, form=None, status: int = 200):
    leaves = scoring.scored_indicators(review)
    scores = {s.indicator_id: s for s in reviewer.scores}
    submitted = reviewer.submitted_at is not None
    if form is None and not submitted and review.status == ReviewStatus.STARTED:
        form = sheet_form(leaves, scores)
    subtotals = scoring.subtotals(reviewer)
    groups = [{"first": first, "leaves": children or [first], "subtotal": _shown(subtotals.get(first.id, 0))}
              for first, children in rubrics.rubric_rows(review.indicators)]
    return _render("sheet.html", status, review=review, contract=review.contract, reviewer=reviewer, form=form,
                   groups=groups, scores=scores, submitted=submitted, points_name=points_name,
                   comment_name=comment_name, total=_shown(scoring.reviewer_total(reviewer)),
                   scored=len(scores), leaf_count=len(leaves), low_share=int(scoring.LOW_POINTS_SHARE * 100),
                   problems=scoring.sheet_problems(reviewer) if scores and not submitted else [])


@bp.route("/<int:review_id>/sheet", methods=["GET", "POST"])
@role_required(*REVIEWERS)
def sheet(review_id):
    review = load_review(review_id)
    reviewer = _own_reviewer(review)
    if reviewer.status == ReviewerStatus.ASSIGNED:
        flash(_("Declare first whether you have a conflict of interest with the NGO."), "info")
        return redirect(url_for("reviews.declare", review_id=review.id))
    leaves = scoring.scored_indicators(review)
    form = sheet_form(leaves, {s.indicator_id: s for s in reviewer.scores})
    if not form.validate_on_submit():
        if form.is_submitted():
            _flash_errors(form)
            return _sheet_page(review, reviewer, form, 400)
        return _sheet_page(review, reviewer)
    entries = sheet_entries(form, leaves)
    actor, now = current_user._get_current_object(), utcnow()
    if form.submit_sheet.data:
        def action():
            scoring.save_sheet(reviewer, entries, actor=actor, now=now)
            scoring.submit_sheet(reviewer, actor=actor, now=now)
        message = _("Your sheet has been submitted. You can now see the other reviewers' submitted sheets.")
    else:
        def action():
            scoring.save_sheet(reviewer, entries, actor=actor, now=now)
        message = _("Your points have been saved. Nobody else can see them before you submit.")
    target = url_for("reviews.sheet", review_id=review.id)
    return run(action, message, target) or _sheet_page(review, reviewer, form, 400)


@bp.get("/<int:review_id>/sheets")
@role_required(*READERS)
def sheets(review_id):
    review = load_review(review_id)
    ensure(review.can_view(current_user))
    shown = scoring.visible_sheets(review, current_user)
    points = {r.id: {s.indicator_id: s for s in r.scores} for r in shown}
    return _render("sheets.html", review=review, contract=review.contract, shown=shown, points=points,
                   rows=rubrics.rubric_rows(review.indicators),
                   totals={r.id: _shown(scoring.reviewer_total(r)) for r in shown},
                   me=review.reviewer_for(current_user))


# --- Grading, the report and the proposal ---------------------------------------------------------------------------


@bp.post("/<int:review_id>/finalise")
@role_required(Role.OFFICER)
def finalise(review_id):
    review = load_review(review_id)
    ensure(review.can_manage(current_user) and ActionForm().validate_on_submit())
    target = _detail(review)
    return run(lambda: grading.finalise(review, actor=current_user, now=utcnow()),
               lambda: _("The review is graded %(grade)s with %(score)s points; the NGO has been told.",
                         grade=GRADE_LABELS[review.grade], score=review.score), target) or redirect(target)


@bp.get("/<int:review_id>/report.pdf")
@role_required(*READERS)
def report_pdf(review_id):
    review = load_review(review_id)
    ensure(grading.can_read_report(review, current_user))
    return send_stored(grading.report_document(review).file)


def _proposal_page(review: Review, form, status: int = 200):
    graded = list(db.session.scalars(sa.select(Review).where(
        Review.contract_id == review.contract_id, Review.status == ReviewStatus.GRADED)
        .options(selectinload(Review.reviewers)).order_by(Review.graded_at, Review.id)))
    return _render("proposal.html", status, review=review, contract=review.contract, graded=graded, form=form,
                   failures=rules.consecutive_failures(r.grade for r in graded))


@bp.route("/<int:review_id>/proposal", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def proposal(review_id):
    review = load_review(review_id)
    ensure(review.can_manage(current_user) and review.termination_proposed_at is not None)
    if review.proposal_decision:
        return _proposal_page(review, None)
    form = ProposalForm()
    if form.validate_on_submit():
        message = (_("The contract is terminated; the termination notice is published and the NGO told.")
                   if form.decision.data == grading.TERMINATE else _("The contract continues; your reasons are "
                                                                     "recorded."))
        done = run(lambda: grading.decide_proposal(review, decision=form.decision.data, note=form.note.data,
                                                   actor=current_user, now=utcnow()), message, _detail(review))
        if done is not None:
            return done
    elif form.is_submitted():
        _flash_errors(form)
    return _proposal_page(review, form, 400 if form.is_submitted() else 200)
