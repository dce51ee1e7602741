"""Service projects: list, record, edit, needs survey."""

from __future__ import annotations

from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from portal.db import utcnow
from portal.errors import DomainError
from portal.extensions import db
from portal.files import send_stored
from portal.forms import ActionForm
from portal.permissions import Role, ensure, role_required
from portal.projects import rules, services
from portal.projects.forms import ProjectFilterForm, ProjectForm, SurveyForm
from portal.projects.models import PLAN_LABELS, PROJECT_STATUS_LABELS, ServiceProject
from portal.urls import page_arg

bp = Blueprint("projects", __name__, template_folder="templates")

PAGE_SIZE = 25
TENDER_ENDPOINT = "tenders.new_tender"  # added by the tenders feature; the detail page links to it when it exists


def _load(project_id: int) -> ServiceProject:
    return db.get_or_404(ServiceProject, project_id,
                         options=[selectinload(ServiceProject.bureau), selectinload(ServiceProject.needs_survey_file)])


def _detail(project: ServiceProject, survey_form: SurveyForm | None = None, status: int = 200):
    tender_url = (url_for(TENDER_ENDPOINT, project_id=project.id)
                  if TENDER_ENDPOINT in current_app.view_functions else None)
    return render_template(
        "projects/detail.html", project=project, survey_form=survey_form or SurveyForm(), action_form=ActionForm(),
        plan_labels=PLAN_LABELS, status_labels=PROJECT_STATUS_LABELS, tender_url=tender_url,
        readiness=rules.readiness_problems(project.status, project.needs_survey),
        needs_grounds=rules.needs_grounds(project.duration_months),
    ), status


def _save(form: ProjectForm, project: ServiceProject | None):
    """Create or update from a validated form; the response, or None to show the form again."""
    try:
        if project is None:
            project = services.create_project(current_user.organisation, form.values(), actor=current_user,
                                              now=utcnow())
        else:
            services.update_project(project, form.values(), actor=current_user, now=utcnow())
    except services.InvalidProject as exc:
        db.session.rollback()
        form.show_problems(exc.problems)
        return None
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return None
    db.session.commit()
    flash(_("The service project has been saved."), "success")
    return redirect(url_for("projects.project_detail", project_id=project.id))


def _transition(project_id: int, operation, done_message: str):
    """Run a state change from a button (ready, archive) and go back to the project."""
    project = _load(project_id)
    ensure(project.can_manage(current_user) and ActionForm().validate_on_submit())
    try:
        operation(project, actor=current_user, now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(done_message, "success")
    return redirect(url_for("projects.project_detail", project_id=project_id))


@bp.get("/projects")
@role_required(Role.OFFICER, Role.ADMIN)
def list_projects():
    filters = ProjectFilterForm(request.args)
    selected = filters.selected()
    query = services.visible_projects(current_user, **selected)
    projects = db.paginate(query, page=page_arg(), per_page=PAGE_SIZE, error_out=False)
    return render_template("projects/list.html", projects=projects, filters=filters, selected=selected,
                           plan_labels=PLAN_LABELS, status_labels=PROJECT_STATUS_LABELS)


@bp.route("/projects/new", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def new_project():
    ensure(current_user.organisation is not None and current_user.organisation.is_bureau)
    form = ProjectForm()
    if form.validate_on_submit() and (response := _save(form, None)):
        return response
    return render_template("projects/form.html", form=form, project=None)


@bp.get("/projects/<int:project_id>")
@role_required(Role.OFFICER, Role.ADMIN)
def project_detail(project_id):
    project = _load(project_id)
    ensure(project.can_view(current_user))
    return _detail(project)


@bp.route("/projects/<int:project_id>/edit", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def edit_project(project_id):
    project = _load(project_id)
    ensure(project.can_manage(current_user))
    if not rules.is_editable(project.status):
        flash(str(services.PROBLEM_MESSAGES["status.archived"]), "warning")
        return redirect(url_for("projects.project_detail", project_id=project.id))
    form = ProjectForm(obj=project)
    if form.validate_on_submit() and (response := _save(form, project)):
        return response
    return render_template("projects/form.html", form=form, project=project)


@bp.post("/projects/<int:project_id>/survey")
@role_required(Role.OFFICER)
def upload_survey(project_id):
    project = _load(project_id)
    ensure(project.can_manage(current_user))
    form = SurveyForm()
    if not form.validate_on_submit():
        return _detail(project, form, 400)
    try:
        services.attach_needs_survey(project, form.file.data, actor=current_user, now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        form.file.errors = [str(exc)]
        return _detail(project, form, exc.status_code)
    db.session.commit()
    flash(_("The needs survey report has been attached."), "success")
    return redirect(url_for("projects.project_detail", project_id=project.id))


@bp.get("/projects/<int:project_id>/survey")
@role_required(Role.OFFICER, Role.ADMIN)
def download_survey(project_id):
    project = _load(project_id)
    ensure(project.can_view(current_user))
    if project.needs_survey_file is None:
        abort(404)
    return send_stored(project.needs_survey_file)


@bp.post("/projects/<int:project_id>/ready")
@role_required(Role.OFFICER)
def mark_ready(project_id):
    return _transition(project_id, services.mark_ready, _("The project is ready for procurement."))


@bp.post("/projects/<int:project_id>/archive")
@role_required(Role.OFFICER)
def archive_project(project_id):
    return _transition(project_id, services.archive_project, _("The project has been archived."))
