"""Review views: a contract's review plan, the review page (its header, rubric and the panels of scoring, evidence,
appeals and rectification), the officer's changes to the plan and the rubric, and the bureau's rubric templates.

A template global, ``reviews_panel(contract)``, feeds ``reviews/_contract_panel.html`` on the contract page: the
next reviews and the plan's counts, from one query however many reviews there are.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.contracts import rules as contract_rules
from portal.contracts.models import ContractStatus
from portal.contracts.views import load_contract
from portal.db import utcnow
from portal.extensions import db
from portal.forms import ActionForm
from portal.permissions import Role, ensure, role_required
from portal.reviews import planning, rubrics
from portal.reviews.models import (
    GRADE_LABELS,
    REVIEW_KIND_LABELS,
    REVIEW_STATUS_LABELS,
    ReviewStatus,
    RubricTemplate,
)
from portal.reviews.plan_forms import (
    AddReviewForm,
    CancelReviewForm,
    CopyRubricForm,
    NewTemplateForm,
    ReviewForm,
    RubricForm,
    TemplateForm,
)
from portal.reviews.views import bp, load_review, load_template, run
from portal.tenders.rules import local_date

STATUS_BADGES = {ReviewStatus.PLANNED: "draft", ReviewStatus.STARTED: "in-progress",
                 ReviewStatus.GRADED: "completed", ReviewStatus.CANCELLED: "cancelled"}
GRADE_BADGES = {"excellent": "approved", "good": "approved", "pass": "approved", "fail": "failed"}
LABELS = {"kind_labels": REVIEW_KIND_LABELS, "status_labels": REVIEW_STATUS_LABELS, "grade_labels": GRADE_LABELS,
          "status_badges": STATUS_BADGES, "grade_badges": GRADE_BADGES}


def _render(page: str, status: int = 200, **context):
    return render_template(f"reviews/{page}", **LABELS, **context), status


def _today():
    return local_date(utcnow())


def _years(contract) -> int:
    return len(contract_rules.contract_years(contract.start_date, contract.end_date))


def _detail(review_id: int) -> str:
    return url_for("reviews.review_detail", review_id=review_id)


def _plan(contract_id: int) -> str:
    return url_for("reviews.contract_reviews", contract_id=contract_id)


bp.add_app_template_filter(rubrics.points_text, "review_points")  # 8, 7.5, 2.25: weights and points shown


@bp.app_template_global("reviews_panel")
def reviews_panel(contract) -> dict:
    """What the contract page shows of its review plan (one query, whatever the number of reviews)."""
    today = _today()
    return {"summary": planning.plan_summary(contract, today), "today": today, "is_overdue": planning.is_overdue,
            "signed": contract.signed_at is not None, **LABELS}


# --- The plan of a contract ------------------------------------------------------------------------------------------


def _templates() -> list:
    """The templates the officer may copy, the portal's default first (created the first time it is needed)."""
    if db.session.scalar(sa.select(RubricTemplate.id).where(RubricTemplate.bureau_id.is_(None)).limit(1)) is None:
        planning.default_template()
        db.session.commit()
    return rubrics.templates_for(current_user)


def _add_form(contract, *, submitted: bool = False) -> AddReviewForm:
    """The form adding a review: on GET its period is the rest of the term, due today or at the start."""
    if submitted:
        form = AddReviewForm()
    else:
        today = _today()
        start = max(contract.start_date, min(today, contract.end_date))
        form = AddReviewForm(formdata=None, period_start=start, period_end=contract.end_date,
                             due_on=min(max(today, start), contract.end_date))
    form.set_years(_years(contract))
    form.set_templates(_templates())
    return form


def _plan_page(contract, form=None, status: int = 200):
    reviews = planning.contract_reviews(contract)
    manage = contract.can_manage(current_user)
    can_add = manage and contract.status == ContractStatus.SIGNED
    return _render("plan.html", status, contract=contract, reviews=reviews, today=_today(),
                   counts=planning.reviewer_counts(r.id for r in reviews), is_overdue=planning.is_overdue,
                   manage=manage, form=(form or _add_form(contract)) if can_add else None)


@bp.get("/contracts/<int:contract_id>")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def contract_reviews(contract_id):
    contract = load_contract(contract_id)
    ensure(contract.can_view(current_user))
    return _plan_page(contract)


@bp.post("/contracts/<int:contract_id>/add")
@role_required(Role.OFFICER)
def add_review(contract_id):
    contract = load_contract(contract_id)
    ensure(contract.can_manage(current_user))
    form = _add_form(contract, submitted=True)
    if form.validate_on_submit():
        template = load_template(int(form.template.data))
        made = []
        done = run(lambda: made.append(planning.add_review(contract, template=template, actor=current_user,
                                                           now=utcnow(), **form.values())),
                   lambda: _("The review “%(title)s” is added to the plan.", title=made[0].title),
                   _plan(contract_id))
        if done is not None:
            return redirect(_detail(made[0].id))
        return _plan_page(contract, form, 422)
    return _plan_page(contract, form, 400)


# --- The review page ----------------------------------------------------------------------------------------------


def _detail_page(review, status: int = 200, cancel_form=None):
    manage = review.can_manage(current_user)
    open_review = review.status in planning.OPEN_STATUSES
    templates = _templates() if manage and review.is_editable else []
    copy_form = None
    if templates:
        copy_form = CopyRubricForm(formdata=None)
        copy_form.set_templates(templates)
    return _render(
        "detail.html", status, review=review, contract=review.contract, today=_today(), manage=manage,
        overdue=planning.is_overdue(review, _today()), rows=rubrics.rubric_rows(review.indicators),
        leaves=rubrics.leaf_count(review.indicators),
        start_problems=planning.start_problems(review) if manage and review.is_editable else [],
        start_form=ActionForm() if manage and review.is_editable else None,
        cancel_form=(cancel_form or CancelReviewForm(formdata=None)) if manage and open_review else None,
        copy_form=copy_form)


@bp.get("/<int:review_id>")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER, Role.EVALUATOR)
def review_detail(review_id):
    review = load_review(review_id)
    ensure(review.can_view(current_user))
    return _detail_page(review)


@bp.route("/<int:review_id>/edit", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def edit_review(review_id):
    review = load_review(review_id)
    ensure(review.can_manage(current_user))
    if not review.is_editable:
        flash(_("Only a planned review can be changed."), "warning")
        return redirect(_detail(review_id))
    form = ReviewForm(obj=review, year_index=str(review.year_index or ""))
    form.set_years(_years(review.contract))
    status = 200
    if form.validate_on_submit():
        done = run(lambda: planning.update_review(review, form.values(), actor=current_user, now=utcnow()),
                   _("The review is updated."), _detail(review_id))
        if done is not None:
            return done
        status = 422
    elif request.method == "POST":
        status = 400
    return _render("review_form.html", status, review=review, contract=review.contract, form=form)


@bp.post("/<int:review_id>/cancel")
@role_required(Role.OFFICER)
def cancel_review(review_id):
    review = load_review(review_id)
    ensure(review.can_manage(current_user))
    form = CancelReviewForm()
    if form.validate_on_submit():
        done = run(lambda: planning.cancel_review(review, reason=form.reason.data, actor=current_user, now=utcnow()),
                   _("The review is cancelled."), _detail(review_id))
        return done or redirect(_detail(review_id))
    return _detail_page(review, 400, cancel_form=form)


@bp.post("/<int:review_id>/start")
@role_required(Role.OFFICER)
def start_review(review_id):
    review = load_review(review_id)
    ensure(review.can_manage(current_user) and ActionForm().validate_on_submit())
    return run(lambda: planning.start_review(review, actor=current_user, now=utcnow()),
               _("The review has started: its rubric is frozen and the reviewers are told."),
               _detail(review_id)) or redirect(_detail(review_id))


# --- A review's rubric --------------------------------------------------------------------------------------------


@bp.route("/<int:review_id>/rubric", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def edit_rubric(review_id):
    review = load_review(review_id)
    ensure(review.can_manage(current_user))
    form = RubricForm()
    status = 200
    if not review.is_editable:
        # The rubric is frozen once the review starts: say so without reading the posted rows (which may be
        # anything); the service refuses too when a review starts while the form is open.
        flash(_("A rubric cannot change once a review has started."), "warning")
        return redirect(_detail(review_id))
    if form.validate_on_submit():
        done = run(lambda: rubrics.update_rubric(review, form.row_values(), actor=current_user, now=utcnow()),
                   _("The rubric is saved."), _detail(review_id))
        if done is not None:
            return done
        status = 422
    elif request.method == "POST":
        status = 400
    else:
        form.fill(rubrics.rows_of(review.indicators))
    return _render("rubric.html", status, review=review, contract=review.contract, form=form)


@bp.post("/<int:review_id>/rubric/copy")
@role_required(Role.OFFICER)
def copy_rubric(review_id):
    review = load_review(review_id)
    ensure(review.can_manage(current_user))
    form = CopyRubricForm()
    form.set_templates(_templates())
    if not form.validate_on_submit():
        return _detail_page(review, 400)
    template = load_template(int(form.template.data))
    return run(lambda: rubrics.copy_rubric(review, template, actor=current_user, now=utcnow()),
               _("The rubric is replaced by a copy of “%(name)s”.", name=template.name),
               _detail(review_id)) or redirect(_detail(review_id))


# --- Rubric templates ---------------------------------------------------------------------------------------------


def _templates_page(form=None, status: int = 200):
    templates = _templates()
    if form is None:
        form = NewTemplateForm(formdata=None)
        form.set_templates(templates)
    return _render("templates.html", status, templates=templates, form=form,
                   used=rubrics.templates_in_use([t.id for t in templates]), delete_form=ActionForm())


@bp.get("/templates")
@role_required(Role.OFFICER)
def templates():
    return _templates_page()


@bp.post("/templates/new")
@role_required(Role.OFFICER)
def new_template():
    form = NewTemplateForm()
    form.set_templates(_templates())
    if not form.validate_on_submit():
        return _templates_page(form, 400)
    source = load_template(int(form.copy_from.data)) if form.copy_from.data else None
    made = []
    done = run(lambda: made.append(rubrics.create_template(current_user.organisation, name=form.name.data,
                                                           copy_from=source, actor=current_user, now=utcnow())),
               _("The template is created."), url_for("reviews.templates"))
    if done is None:
        return _templates_page(form, 422)
    return redirect(url_for("reviews.edit_template", template_id=made[0].id))


@bp.route("/templates/<int:template_id>", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def edit_template(template_id):
    template = load_template(template_id)
    ensure(rubrics.can_view_template(template, current_user))
    form = TemplateForm(obj=template) if template.can_manage(current_user) else None
    status = 200
    if form is None:
        ensure(request.method == "GET")
    elif form.validate_on_submit():
        done = run(lambda: rubrics.update_template(template, name=form.name.data, description=form.description.data,
                                                   rows=form.row_values(), actor=current_user, now=utcnow()),
                   _("The template is saved."), url_for("reviews.edit_template", template_id=template_id))
        if done is not None:
            return done
        status = 422
    elif request.method == "POST":
        status = 400
    else:
        form.fill(rubrics.rows_of(template.indicators))
    return _render("template_form.html", status, template=template, form=form,
                   rows=rubrics.rubric_rows(template.indicators), used=rubrics.template_in_use(template),
                   delete_form=ActionForm())


@bp.post("/templates/<int:template_id>/delete")
@role_required(Role.OFFICER)
def delete_template(template_id):
    template = load_template(template_id)
    ensure(template.can_manage(current_user) and ActionForm().validate_on_submit())
    name = template.name
    return run(lambda: rubrics.delete_template(template, actor=current_user, now=utcnow()),
               _("The template “%(name)s” is deleted.", name=name), url_for("reviews.templates")) or redirect(
        url_for("reviews.edit_template", template_id=template_id))
