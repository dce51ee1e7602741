"""Review views of the NGO's side: evidence and its download, the self-assessment, satisfaction surveys, appeals
and their answer, rectification plans, and each NGO's performance record. Routes live on the reviews blueprint
(views.py).

Three template globals feed the panels the review page includes: ``evidence_panel(review)`` (files, the
self-assessment, surveys and the satisfaction rate, with the NGO's and the officer's forms; the files only for those
who may read them), ``appeal_panel(review)`` and ``rectification_panel(review)``. Forms posted from a panel go back
to the review page, with the broken rule flashed.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.models import Organisation
from portal.contracts.models import ContractStatus
from portal.db import utcnow
from portal.errors import DomainError
from portal.extensions import db
from portal.files import send_stored
from portal.forms import ActionForm
from portal.permissions import Role, ensure, role_required
from portal.reviews import appeals, evidence, record, rectification
from portal.reviews.evidence_forms import (
    AcceptPlanForm,
    AnswerForm,
    AppealForm,
    EvidenceForm,
    PlanForm,
    ReturnPlanForm,
    SelfAssessmentForm,
    SurveyForm,
)
from portal.reviews.models import (
    APPEAL_STATUS_LABELS,
    EVIDENCE_KIND_LABELS,
    GRADE_LABELS,
    RECTIFICATION_STATUS_LABELS,
    REVIEW_KIND_LABELS,
    REVIEW_STATUS_LABELS,
    AppealStatus,
    RectificationStatus,
    ReviewStatus,
    SatisfactionSurvey,
)
from portal.reviews.rules import APPEAL_WORKING_DAYS, Grade
from portal.reviews.views import bp, load_appeal, load_evidence, load_rectification, load_review, run
from portal.tenders.rules import local_date
from portal.urls import page_arg

LABELS = {"grade_labels": GRADE_LABELS, "kind_labels": REVIEW_KIND_LABELS, "status_labels": REVIEW_STATUS_LABELS,
          "evidence_kind_labels": EVIDENCE_KIND_LABELS, "appeal_status_labels": APPEAL_STATUS_LABELS,
          "rectification_status_labels": RECTIFICATION_STATUS_LABELS, "grades": list(Grade)}
RECORDS_PER_PAGE = 30
SEARCH_MAX = 100  # characters of the search text that are used


def _render(template: str, status: int = 200, **context):
    return render_template(f"reviews/{template}", **LABELS, **context), status


def _review_url(review, anchor: str = "") -> str:
    return url_for("reviews.review_detail", review_id=review.id, _anchor=anchor or None)


def _form_errors(form) -> None:
    """Flash what is wrong with a form posted from a panel (the panel is shown again on the review page)."""
    for name, errors in form.errors.items():
        label = form[name].label.text if name in form else ""
        for error in errors:
            flash(f"{label}: {error}" if label else str(error), "danger")


def _panel_action(review, form, action, message: str, anchor: str):
    """Run one service from a panel's form and go back to the review page."""
    target = _review_url(review, anchor)
    if form.validate_on_submit():
        return run(action, message, target) or redirect(target)
    _form_errors(form)
    return redirect(target)


# --- Panels on the review page ---------------------------------------------------------------------------------------


@bp.app_template_global("evidence_panel")
def evidence_panel(review) -> dict:
    """The evidence section: files and the self-assessment for those who may read them, surveys and the satisfaction
    rate for every reader of the review, and the forms of the NGO and the officer."""
    readable = evidence.can_read_evidence(review, current_user)
    supplier = review.is_supplier(current_user) and evidence.is_open(review)
    return {
        "readable": readable,
        "files": evidence.evidence_files(review) if readable else [],
        "surveys": review.surveys,
        "rate": evidence.satisfaction(review),
        "upload_form": EvidenceForm(formdata=None) if supplier else None,
        "self_form": SelfAssessmentForm(formdata=None, text=review.self_assessment) if supplier else None,
        "survey_form": SurveyForm(formdata=None) if evidence.can_add_survey(review, current_user) else None,
        "removable": supplier and review.status == ReviewStatus.PLANNED,
        "can_remove_survey": lambda survey: evidence.can_remove_survey(survey, current_user),
        "action_form": ActionForm(),
        "kind_labels": EVIDENCE_KIND_LABELS,
    }


@bp.app_template_global("appeal_panel")
def appeal_panel(review) -> dict:
    """Appeals against the review, for the parties and the overseers: each with its answer, the NGO's link to
    contest the current grade while the window is open, the officer's link to answer."""
    visible = review.contract.can_view(current_user)
    deadline = None
    if visible and review.graded_at is not None:
        try:
            deadline = appeals.appeal_deadline(review)
        except DomainError:
            deadline = None  # the calendar of the year it reaches is not entered yet
    return {
        "visible": visible,
        "appeals": review.appeals if visible else [],
        "deadline": deadline if review.status == ReviewStatus.GRADED else None,
        "can_file": appeals.can_file(review, current_user, local_date(utcnow())),
        "can_answer": review.can_answer_appeal(current_user),
        "working_days": APPEAL_WORKING_DAYS,
        "status_labels": APPEAL_STATUS_LABELS,
        "grade_labels": GRADE_LABELS,
    }


@bp.app_template_global("rectification_panel")
def rectification_panel(review) -> dict:
    """The rectification this failed review opened, or the one it re-reviews, for the parties and the overseers."""
    visible = review.contract.can_view(current_user)
    return {
        "visible": visible,
        "opened": rectification.rectification_of(review) if visible else None,
        "rechecks": rectification.rectification_rechecked_by(review) if visible else None,
        "status_labels": RECTIFICATION_STATUS_LABELS,
        "record_visible": record.can_read_record(review.contract.supplier, current_user),
    }


# --- Evidence ----------------------------------------------------------------------------------------------------


@bp.post("/<int:review_id>/evidence")
@role_required(Role.SUPPLIER)
def upload_evidence(review_id):
    review = load_review(review_id)
    ensure(review.is_supplier(current_user))
    form = EvidenceForm()
    return _panel_action(review, form, lambda: evidence.upload_evidence(
        review, kind=form.kind.data, upload=form.attachment.data, note=form.note.data, actor=current_user,
        now=utcnow()), _("The evidence has been uploaded."), "evidence")


@bp.post("/evidence/<int:evidence_id>/remove")
@role_required(Role.SUPPLIER)
def remove_evidence(evidence_id):
    item = load_evidence(evidence_id)
    review = item.review
    ensure(review.is_supplier(current_user))
    return _panel_action(review, ActionForm(), lambda: evidence.remove_evidence(item, actor=current_user,
                                                                                now=utcnow()),
                         _("The evidence has been removed."), "evidence")


@bp.get("/evidence/<int:evidence_id>/file")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER, Role.EVALUATOR)
def evidence_file(evidence_id):
    item = load_evidence(evidence_id)
    ensure(evidence.can_read_evidence(item.review, current_user))
    return send_stored(item.file)


@bp.post("/<int:review_id>/self-assessment")
@role_required(Role.SUPPLIER)
def self_assessment(review_id):
    review = load_review(review_id)
    ensure(review.is_supplier(current_user))
    form = SelfAssessmentForm()
    return _panel_action(review, form, lambda: evidence.save_self_assessment(
        review, text=form.text.data, actor=current_user, now=utcnow()),
        _("Your self-assessment has been saved."), "evidence")


@bp.post("/<int:review_id>/surveys")
@role_required(Role.SUPPLIER, Role.OFFICER)
def add_survey(review_id):
    review = load_review(review_id)
    ensure(review.is_supplier(current_user) or review.can_manage(current_user))
    form = SurveyForm()
    return _panel_action(review, form, lambda: evidence.add_survey(
        review, title=form.title.data, surveyed_on=form.surveyed_on.data, method=form.method.data,
        respondents=form.respondents.data, satisfied=form.satisfied.data, actor=current_user, now=utcnow()),
        _("The satisfaction survey has been added."), "surveys")


@bp.post("/surveys/<int:survey_id>/remove")
@role_required(Role.SUPPLIER, Role.OFFICER)
def remove_survey(survey_id):
    survey = db.get_or_404(SatisfactionSurvey, survey_id)
    review = survey.review
    ensure(review.is_supplier(current_user) or review.can_manage(current_user))
    return _panel_action(review, ActionForm(), lambda: evidence.remove_survey(survey, actor=current_user,
                                                                              now=utcnow()),
                         _("The satisfaction survey has been removed."), "surveys")


# --- Appeals -------------------------------------------------------------------------------------------------------


def _appeal_page(review, status: int = 200, *, form=None, answering=None, answer_form=None):
    """The appeals of a review: the NGO's form while it may contest the grade, or the officer's answer form."""
    try:
        deadline = appeals.appeal_deadline(review) if review.graded_at is not None else None
    except DomainError:
        deadline = None  # the calendar of the year it reaches is not entered yet
    return _render("appeal.html", status, review=review, contract=review.contract, appeals=review.appeals,
                   deadline=deadline, working_days=APPEAL_WORKING_DAYS, form=form, answering=answering,
                   answer_form=answer_form)


@bp.route("/<int:review_id>/appeal", methods=["GET", "POST"])
@role_required(Role.SUPPLIER)
def appeal(review_id):
    review = load_review(review_id)
    ensure(review.is_supplier(current_user))
    can_file = appeals.can_file(review, current_user, local_date(utcnow()))
    form = AppealForm() if can_file or request.method == "POST" else None
    if form is not None and form.validate_on_submit():
        done = run(lambda: appeals.file_appeal(review, reasons=form.reasons.data, actor=current_user, now=utcnow()),
                   _("Your appeal has been filed; the bureau's officers are told and will answer it."),
                   _review_url(review, "appeals"))
        return done or _appeal_page(review, 422, form=form)
    return _appeal_page(review, 400 if request.method == "POST" else 200, form=form)


@bp.route("/appeals/<int:appeal_id>/answer", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def answer_appeal(appeal_id):
    item = load_appeal(appeal_id)
    review = item.review
    ensure(review.can_answer_appeal(current_user))
    form = AnswerForm()
    if item.status != AppealStatus.OPEN:
        flash(_("This appeal has already been answered."), "info")
        return redirect(_review_url(review, "appeals"))
    if form.validate_on_submit():
        upheld = form.decision.data == "uphold"
        done = run(lambda: appeals.answer_appeal(item, upheld=upheld, answer=form.answer.data, actor=current_user,
                                                 now=utcnow()),
                   _("The appeal is upheld: the reviewers are asked to score the review again.") if upheld
                   else _("The appeal is dismissed: the grade stands."), _review_url(review, "appeals"))
        return done or _appeal_page(review, 422, answering=item, answer_form=form)
    return _appeal_page(review, 400 if request.method == "POST" else 200, answering=item, answer_form=form)


# --- Rectification -------------------------------------------------------------------------------------------------


def _rectification_page(item, status: int = 200, **forms):
    contract = item.contract
    supplier = contract.is_supplier(current_user) and item.status == RectificationStatus.AWAITING_PLAN
    manage = contract.can_manage(current_user) and item.status == RectificationStatus.PLAN_SUBMITTED
    today = local_date(utcnow())
    return _render("rectification.html", status, rectification=item, contract=contract, review=item.review,
                   today=today, late=rectification.plan_is_late(item, today),
                   plan_form=forms.get("plan_form") or (PlanForm(formdata=None) if supplier else None),
                   accept_form=forms.get("accept_form") or (AcceptPlanForm(prefix="accept", formdata=None)
                                                            if manage else None),
                   return_form=forms.get("return_form") or (ReturnPlanForm(prefix="return", formdata=None)
                                                            if manage else None),
                   in_force=contract.status == ContractStatus.SIGNED)


def _load_rectification(rectification_id: int):
    item = load_rectification(rectification_id)
    ensure(rectification.can_view(item, current_user))
    return item


def _rectification_url(item) -> str:
    return url_for("reviews.rectification", rectification_id=item.id)


@bp.get("/rectifications/<int:rectification_id>", endpoint="rectification")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def rectification_page(rectification_id):
    return _rectification_page(_load_rectification(rectification_id))


@bp.post("/rectifications/<int:rectification_id>/plan")
@role_required(Role.SUPPLIER)
def submit_plan(rectification_id):
    item = _load_rectification(rectification_id)
    ensure(item.contract.is_supplier(current_user))
    form = PlanForm()
    if form.validate_on_submit():
        done = run(lambda: rectification.submit_plan(item, plan=form.plan.data, due_on=form.due_on.data,
                                                     upload=form.attachment.data, actor=current_user, now=utcnow()),
                   _("Your rectification plan has been submitted to the bureau."), _rectification_url(item))
        if done is not None:
            return done
        return _rectification_page(item, 422, plan_form=form)
    return _rectification_page(item, 400, plan_form=form)


@bp.post("/rectifications/<int:rectification_id>/accept")
@role_required(Role.OFFICER)
def accept_plan(rectification_id):
    item = _load_rectification(rectification_id)
    ensure(item.contract.can_manage(current_user))
    form = AcceptPlanForm(prefix="accept")
    if form.validate_on_submit():
        done = run(lambda: rectification.accept_plan(item, note=form.note.data, actor=current_user, now=utcnow()),
                   _("The plan is accepted and the re-review (整改复评) planned; assign or check its reviewers."),
                   _rectification_url(item))
        if done is not None:
            return done
        return _rectification_page(item, 422, accept_form=form)
    return _rectification_page(item, 400, accept_form=form)


@bp.post("/rectifications/<int:rectification_id>/return")
@role_required(Role.OFFICER)
def return_plan(rectification_id):
    item = _load_rectification(rectification_id)
    ensure(item.contract.can_manage(current_user))
    form = ReturnPlanForm(prefix="return")
    if form.validate_on_submit():
        done = run(lambda: rectification.return_plan(item, note=form.note.data, actor=current_user, now=utcnow()),
                   _("The plan is returned to the NGO with your note."), _rectification_url(item))
        if done is not None:
            return done
        return _rectification_page(item, 422, return_form=form)
    return _rectification_page(item, 400, return_form=form)


@bp.get("/rectifications/<int:rectification_id>/plan-file")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def rectification_file(rectification_id):
    item = _load_rectification(rectification_id)
    if item.plan_file is None:
        flash(_("This plan has no attachment."), "info")
        return redirect(_rectification_url(item))
    return send_stored(item.plan_file)


# --- The NGO's record ------------------------------------------------------------------------------------------------


@bp.get("/organisations/<int:org_id>/record")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def organisation_record(org_id):
    organisation = db.get_or_404(Organisation, org_id)
    ensure(record.can_read_record(organisation, current_user))
    return _render("record.html", history=record.performance_history(organisation))


@bp.get("/organisations")
@role_required(Role.OFFICER, Role.ADMIN)
def records():
    q = (request.args.get("q") or "").strip()[:SEARCH_MAX]
    page = db.paginate(record.organisations_query(q), page=page_arg(), per_page=RECORDS_PER_PAGE, error_out=False)
    return _render("records.html", page=page, q=q, summaries=record.record_summaries(list(page.items)))


@bp.get("/my-record")
@role_required(Role.SUPPLIER)
def my_record():
    return redirect(url_for("reviews.organisation_record", org_id=current_user.organisation_id))
