"""Views of the funding plan (资金安排): the city bureau's plans, a plan with its lines and their explanations, the
comparison with the same pool shared without tilts, a line's correction, the reward grants, the Excel and PDF
exports, approval and publication.

Only the city bureau's officers change a plan (FundingPlan.can_manage); they and the administrators read it
(FundingPlan.can_view). The public sees the plan once published, as a 资金安排 notice on the notice board.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import ngettext
from flask_login import current_user

from portal.assessment import funding, funding_export
from portal.assessment.funding_forms import LineForm, NewPlanForm, PlanForm
from portal.assessment.models import (
    LEVEL_LABELS,
    PLAN_STATUS_LABELS,
    FundingLine,
    PlanStatus,
    RewardGrant,
    is_city_officer,
)
from portal.assessment.views import bp, load_plan, run
from portal.db import utcnow
from portal.extensions import db
from portal.files import PDF, XLSX, send_bytes, send_stored
from portal.forms import ActionForm
from portal.pdf import GeneratedDocument, render_pdf
from portal.permissions import Role, ensure, role_required
from portal.reviews.models import GRADE_LABELS
from portal.tenders.rules import local_date

STATUS_BADGES = {PlanStatus.DRAFT: "draft", PlanStatus.APPROVED: "approved", PlanStatus.PUBLISHED: "completed"}
LABELS = {"status_labels": PLAN_STATUS_LABELS, "status_badges": STATUS_BADGES, "grade_labels": GRADE_LABELS,
          "level_labels": LEVEL_LABELS, "fact_names": funding.FACT_NAMES}


def signed(amount) -> str:
    """A difference in whole yuan: +12,000, -3,500, 0."""
    return f"{int(amount):+,}" if amount else "0"


bp.add_app_template_filter(funding.yuan, "funding_yuan")
bp.add_app_template_filter(funding.number, "funding_number")
bp.add_app_template_filter(signed, "funding_signed")


def _render(page: str, status: int = 200, **context):
    return render_template(f"assessment/{page}", **LABELS, **context), status


def _plan_url(plan_id: int) -> str:
    return url_for("assessment.funding_plan", plan_id=plan_id)


def _refused_form(plan, status: int = 400):
    """A POST whose form did not validate (a missing or expired CSRF token): the plan page again, with a word."""
    flash(_("The form could not be sent (it may have expired): reload the page and try again."), "danger")
    return _plan_page(plan, status=status)


def load_line(line_id: int) -> FundingLine:
    return db.get_or_404(FundingLine, line_id)


def load_grant(grant_id: int) -> RewardGrant:
    return db.get_or_404(RewardGrant, grant_id)


# --- The plans -------------------------------------------------------------------------------------------------------


def _index_page(form=None, status: int = 200):
    plans = funding.plans_for(current_user)
    if form is None and is_city_officer(current_user):
        form = NewPlanForm(formdata=None, fiscal_year=local_date(utcnow()).year + 1)
    return _render("funding_index.html", status, plans=plans, sums=funding.plan_sums(p.id for p in plans),
                   form=form if is_city_officer(current_user) else None)


@bp.get("/funding")
@role_required(Role.OFFICER, Role.ADMIN)
def funding_index():
    return _index_page()


@bp.post("/funding/new")
@role_required(Role.OFFICER)
def funding_new():
    ensure(is_city_officer(current_user))
    form = NewPlanForm()
    if not form.validate_on_submit():
        return _index_page(form, 400)
    made = []
    done = run(lambda: made.append(funding.create_plan(
        current_user.organisation, fiscal_year=form.fiscal_year.data, pool=form.pool.data, title=form.title.data,
        actor=current_user, now=utcnow())), _("The funding plan is created: add its candidate projects."),
        url_for("assessment.funding_index"))
    if done is None:
        return _index_page(form, 422)
    return redirect(_plan_url(made[0].id))


# --- One plan --------------------------------------------------------------------------------------------------------


def _plan_page(plan, plan_form=None, status: int = 200):
    manage = plan.can_manage(current_user)
    draft = plan.status == PlanStatus.DRAFT
    result = funding.compute(plan)
    editable = manage and draft
    return _render(
        "funding_plan.html", status, plan=plan, result=result, manage=manage, editable=editable,
        problems=funding.approval_problems(plan, [r.line for r in result.lines]) if editable else [],
        plan_form=(plan_form or PlanForm(formdata=None, pool=plan.pool, title=plan.title)) if editable else None,
        action_form=ActionForm(), settings_words=result.settings_text,
        reward_list=funding.reward_list(plan) if editable else None)


@bp.get("/funding/<int:plan_id>")
@role_required(Role.OFFICER, Role.ADMIN)
def funding_plan(plan_id):
    plan = load_plan(plan_id)
    ensure(plan.can_view(current_user))
    return _plan_page(plan)


@bp.post("/funding/<int:plan_id>/edit")
@role_required(Role.OFFICER)
def funding_edit(plan_id):
    plan = load_plan(plan_id)
    ensure(plan.can_manage(current_user))
    form = PlanForm()
    if not form.validate_on_submit():
        return _plan_page(plan, form, 400)
    return run(lambda: funding.update_plan(plan, pool=form.pool.data, title=form.title.data, actor=current_user,
                                           now=utcnow()),
               _("The pool and title are saved; the amounts are computed again."), _plan_url(plan_id)) or (
        _plan_page(plan, form, 422))


@bp.post("/funding/<int:plan_id>/candidates")
@role_required(Role.OFFICER)
def funding_candidates(plan_id):
    plan = load_plan(plan_id)
    ensure(plan.can_manage(current_user))
    if not ActionForm().validate_on_submit():
        return _refused_form(plan)
    added = []
    return run(lambda: added.extend(funding.add_candidates(plan, actor=current_user, now=utcnow())),
               lambda: ngettext("%(num)s project added; the district grades are up to date.",
                                "%(num)s projects added; the district grades are up to date.", len(added)),
               _plan_url(plan_id)) or redirect(_plan_url(plan_id))


@bp.post("/funding/<int:plan_id>/rewards")
@role_required(Role.OFFICER)
def funding_rewards(plan_id):
    plan = load_plan(plan_id)
    ensure(plan.can_manage(current_user))
    if not ActionForm().validate_on_submit():
        return _refused_form(plan)
    added = []
    return run(lambda: added.extend(funding.add_rewards(plan, actor=current_user, now=utcnow())),
               lambda: ngettext("%(num)s reward grant added from the commendation list.",
                                "%(num)s reward grants added from the commendation list.", len(added)),
               _plan_url(plan_id) + "#rewards") or redirect(_plan_url(plan_id))


@bp.post("/funding/rewards/<int:grant_id>/remove")
@role_required(Role.OFFICER)
def funding_reward_remove(grant_id):
    grant = load_grant(grant_id)
    plan_id = grant.plan_id
    ensure(grant.plan.can_manage(current_user))
    if not ActionForm().validate_on_submit():
        return _refused_form(grant.plan)
    return run(lambda: funding.remove_reward(grant, actor=current_user, now=utcnow()),
               _("The reward grant is taken out of the plan."), _plan_url(plan_id) + "#rewards") or redirect(
        _plan_url(plan_id))


@bp.get("/funding/<int:plan_id>/compare")
@role_required(Role.OFFICER, Role.ADMIN)
def funding_compare(plan_id):
    plan = load_plan(plan_id)
    ensure(plan.can_view(current_user))
    return _render("funding_compare.html", plan=plan, result=funding.compute(plan))


@bp.get("/funding/<int:plan_id>/plan.xlsx")
@role_required(Role.OFFICER, Role.ADMIN)
def funding_xlsx(plan_id):
    plan = load_plan(plan_id)
    ensure(plan.can_view(current_user))
    data = funding_export.workbook_bytes(funding.compute(plan))
    return send_bytes(data, XLSX, f"资金安排-{plan.fiscal_year}.xlsx")


@bp.get("/funding/<int:plan_id>/plan.pdf")
@role_required(Role.OFFICER, Role.ADMIN)
def funding_pdf(plan_id):
    """The approved plan's PDF as issued; a draft's PDF rendered afresh and marked as a draft."""
    plan = load_plan(plan_id)
    ensure(plan.can_view(current_user))
    if plan.document_id is not None:
        return send_stored(db.get_or_404(GeneratedDocument, plan.document_id).file)
    data = render_pdf(funding.PDF_TEMPLATE, funding_export.pdf_context(funding.compute(plan)))
    return send_bytes(data, PDF, f"资金安排-{plan.fiscal_year}-草稿.pdf")


@bp.post("/funding/<int:plan_id>/approve")
@role_required(Role.OFFICER)
def funding_approve(plan_id):
    plan = load_plan(plan_id)
    ensure(plan.can_manage(current_user))
    if not ActionForm().validate_on_submit():
        return _refused_form(plan)
    return run(lambda: funding.approve(plan, actor=current_user, now=utcnow()),
               _("The funding plan is approved: its amounts and explanations are frozen and its PDF is issued."),
               _plan_url(plan_id)) or redirect(_plan_url(plan_id))


@bp.post("/funding/<int:plan_id>/publish")
@role_required(Role.OFFICER)
def funding_publish(plan_id):
    plan = load_plan(plan_id)
    ensure(plan.can_manage(current_user))
    if not ActionForm().validate_on_submit():
        return _refused_form(plan)
    return run(lambda: funding.publish(plan, actor=current_user, now=utcnow()),
               _("The funding plan is published on the notice board (资金安排公告)."),
               _plan_url(plan_id)) or redirect(_plan_url(plan_id))


# --- One line --------------------------------------------------------------------------------------------------------


def _line_page(line, form, status: int = 200):
    result = funding.compute(line.plan)
    row = next(r for r in result.lines if r.line.id == line.id)
    return _render("funding_line.html", status, plan=line.plan, line=line, row=row, form=form,
                   budget=funding.rules.whole_yuan(line.project.budget), remove_form=ActionForm())


@bp.route("/funding/lines/<int:line_id>", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def funding_line(line_id):
    line = load_line(line_id)
    ensure(line.plan.can_manage(current_user))
    plan_id = line.plan_id
    if line.plan.status != PlanStatus.DRAFT:
        flash(_("The funding plan is approved: its lines can no longer change."), "warning")
        return redirect(_plan_url(plan_id))
    if request.method == "GET":
        form = LineForm(formdata=None, requested=line.requested, base_priority=line.base_priority,
                        poor_households=line.poor_households, poor_village=line.poor_village,
                        remote_area=line.remote_area)
        return _line_page(line, form)
    form = LineForm()
    if not form.validate_on_submit():
        return _line_page(line, form, 400)
    return run(lambda: funding.update_line(line, form.values(), actor=current_user, now=utcnow()),
               _("The line is saved; the amounts are computed again."), _plan_url(plan_id) + f"#line-{line_id}") or (
        _line_page(line, form, 422))


@bp.post("/funding/lines/<int:line_id>/remove")
@role_required(Role.OFFICER)
def funding_line_remove(line_id):
    line = load_line(line_id)
    plan_id = line.plan_id
    ensure(line.plan.can_manage(current_user))
    if not ActionForm().validate_on_submit():
        return _refused_form(line.plan)
    return run(lambda: funding.remove_line(line, actor=current_user, now=utcnow()),
               _("The project is taken out of the plan."), _plan_url(plan_id)) or redirect(_plan_url(plan_id))
