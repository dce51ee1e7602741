"""Operations on service projects. They apply the rules, flush and audit; the caller commits."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from portal import audit
from portal.accounts.models import Organisation
from portal.db import CENT
from portal.errors import Conflict, DomainError
from portal.extensions import db
from portal.files import DOCX, PDF, REJECTION_MESSAGES, XLSX, ZIP, UploadRejected, store_upload
from portal.permissions import Role
from portal.projects import rules
from portal.projects.models import ProjectStatus, ServiceProject

# The fields an officer records; status, bureau and the survey file change only through the operations below.
PROJECT_FIELDS = (
    "title", "plan", "fiscal_year", "target_groups", "description", "district", "township", "villages",
    "poor_village", "poor_households", "remote_area", "budget", "duration_months", "base_priority", "needs_survey",
)
TEXT_DEFAULTS = {"target_groups": "", "description": "", "district": "", "township": "", "villages": "",
                 "needs_survey": "", "poor_village": False, "poor_households": 0, "remote_area": False}
SURVEY_FILE_TYPES = (PDF, DOCX, XLSX, ZIP)
SURVEY_TYPE_MESSAGE = _l("Upload the survey report as a PDF, Word (DOCX), Excel (XLSX) or ZIP file.")

PROBLEM_MESSAGES = {
    "title.required": _l("Give the project a title."),
    "title.length": _l("The title can have at most %(n)s characters.", n=rules.TITLE_MAX_LENGTH),
    "plan.choice": _l("Choose one of the six plans."),
    "fiscal_year.range": _l("Enter a fiscal year between %(min)s and %(max)s.",
                            min=rules.FISCAL_YEAR_MIN, max=rules.FISCAL_YEAR_MAX),
    "duration_months.range": _l("The service period must be between %(min)s and %(max)s months.",
                                min=rules.DURATION_MIN_MONTHS, max=rules.DURATION_MAX_MONTHS),
    "budget.required": _l("Enter the budget in yuan."),
    "budget.type": _l("Enter the budget as a plain amount in yuan, for example 150000 or 150000.50."),
    "budget.range": _l("The budget must be more than 0 and less than 1,000,000,000,000 yuan."),
    "budget.decimals": _l("The budget can have at most 2 decimal places (fen)."),
    "poor_households.range": _l("The number of poor households must be a whole number, 0 or more."),
    "base_priority.range": _l("The priority must be a whole number from %(min)s to %(max)s.",
                              min=rules.PRIORITY_MIN, max=rules.PRIORITY_MAX),
    "district.length": _l("Use at most %(n)s characters.", n=rules.PLACE_MAX_LENGTH),
    "township.length": _l("Use at most %(n)s characters.", n=rules.PLACE_MAX_LENGTH),
    "target_groups.length": _l("Use at most %(n)s characters.", n=rules.TEXT_MAX_LENGTH),
    "description.length": _l("Use at most %(n)s characters.", n=rules.TEXT_MAX_LENGTH),
    "villages.length": _l("Use at most %(n)s characters.", n=rules.TEXT_MAX_LENGTH),
    "needs_survey.required": _l("A project ready for procurement needs the summary of its needs survey (需求调查)."),
    "needs_survey.length": _l("Use at most %(n)s characters.", n=rules.TEXT_MAX_LENGTH),
    "status.archived": _l("This project has been archived and can no longer be changed."),
    "status.ready": _l("This project is already ready for procurement."),
}


class InvalidProject(DomainError):
    """The values of a project break one or more rules; ``problems`` holds every code."""

    def __init__(self, problems: list[str]):
        super().__init__(PROBLEM_MESSAGES[problems[0]])
        self.problems = problems


def _snapshot(project: ServiceProject) -> dict:
    return {name: getattr(project, name) for name in PROJECT_FIELDS}


def _changes(before: dict, after: dict) -> tuple[dict, dict]:
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before[k] for k in keys}, {k: after[k] for k in keys}


def _checked(values: dict, *, status: str = ProjectStatus.DRAFT) -> dict:
    """The values with the budget in whole fen, or InvalidProject listing every broken rule."""
    problems = rules.project_problems(values, status=status)
    if problems:
        raise InvalidProject(problems)
    return values | {"budget": Decimal(values["budget"]).quantize(CENT)}


def _refuse_unless_editable(project: ServiceProject) -> None:
    if not rules.is_editable(project.status):
        raise Conflict(PROBLEM_MESSAGES["status.archived"])


def create_project(bureau: Organisation, values: dict, *, actor, now: datetime) -> ServiceProject:
    """Record a bureau's service need as a draft project."""
    if bureau is None or not bureau.is_bureau:
        raise DomainError(_l("A service project belongs to a civil-affairs bureau."))
    values = TEXT_DEFAULTS | {k: values[k] for k in PROJECT_FIELDS if k in values}
    project = ServiceProject(bureau=bureau, status=ProjectStatus.DRAFT, created_by_id=getattr(actor, "id", None),
                             created_at=now, updated_at=now, **_checked(values))
    db.session.add(project)
    db.session.flush()
    audit.record("project.created", project, actor=actor, now=now,
                 new={"bureau_id": bureau.id, "status": project.status} | _snapshot(project))
    return project


def update_project(project: ServiceProject, values: dict, *, actor, now: datetime) -> ServiceProject:
    """Change what an officer recorded about a project that is not archived; audit what changed."""
    _refuse_unless_editable(project)
    before = _snapshot(project)
    merged = _checked(before | {k: values[k] for k in PROJECT_FIELDS if k in values}, status=project.status)
    old, new = _changes(before, merged)
    if not new:
        return project
    for name, value in new.items():
        setattr(project, name, value)
    project.updated_at = now
    db.session.flush()
    audit.record("project.updated", project, actor=actor, old=old, new=new, now=now)
    return project


def attach_needs_survey(project: ServiceProject, upload, *, actor, now: datetime) -> ServiceProject:
    """Store the needs survey report (PDF, Word, Excel or ZIP) and attach it, replacing an earlier one."""
    _refuse_unless_editable(project)
    try:
        stored = store_upload(upload, uploaded_by=actor, allowed=SURVEY_FILE_TYPES)
    except UploadRejected as exc:
        if any(exc.message is REJECTION_MESSAGES[reason] for reason in ("type", "not_allowed")):
            raise UploadRejected(SURVEY_TYPE_MESSAGE) from exc  # name the types accepted here, not every type
        raise
    previous = project.needs_survey_file
    project.needs_survey_file = stored
    project.updated_at = now
    db.session.flush()
    old = {"file_id": previous.id, "name": previous.original_name, "sha256": previous.sha256} if previous else None
    audit.record("project.survey_attached", project, actor=actor, now=now, old=old,
                 new={"file_id": stored.id, "name": stored.original_name, "sha256": stored.sha256,
                      "size": stored.size})
    return project


def mark_ready(project: ServiceProject, *, actor, now: datetime) -> ServiceProject:
    """Declare a draft project ready for procurement: refused until its needs survey summary is written."""
    problems = rules.readiness_problems(project.status, project.needs_survey)
    if problems:
        error = Conflict if problems[0].startswith("status.") else DomainError
        raise error(PROBLEM_MESSAGES[problems[0]])
    old_status, project.status = project.status, ProjectStatus.READY
    project.updated_at = now
    db.session.flush()
    audit.record("project.ready", project, actor=actor, now=now, old={"status": old_status},
                 new={"status": project.status, "needs_survey_file_id": project.needs_survey_file_id})
    return project


def archive_project(project: ServiceProject, *, actor, now: datetime) -> ServiceProject:
    """Set a project aside for good (a need that will not be bought, or is done)."""
    _refuse_unless_editable(project)
    old_status, project.status = project.status, ProjectStatus.ARCHIVED
    project.updated_at = now
    db.session.flush()
    audit.record("project.archived", project, actor=actor, now=now, old={"status": old_status},
                 new={"status": project.status})
    return project


def visible_projects(user, *, plan: str | None = None, status: str | None = None,
                     fiscal_year: int | None = None) -> sa.Select:
    """The projects ``user`` may see, newest first, with their bureau loaded (as ServiceProject.can_view)."""
    query = sa.select(ServiceProject).options(selectinload(ServiceProject.bureau)).order_by(ServiceProject.id.desc())
    if user is None or not getattr(user, "is_authenticated", False):
        return query.where(sa.false())
    if user.role == Role.OFFICER and user.organisation is not None and user.organisation.is_bureau:
        bureau = user.organisation
        if bureau.is_city_bureau:
            overseen = sa.select(Organisation.id).where(
                sa.or_(Organisation.id == bureau.id, Organisation.parent_id == bureau.id))
            query = query.where(ServiceProject.bureau_id.in_(overseen))
        else:
            query = query.where(ServiceProject.bureau_id == bureau.id)
    elif user.role != Role.ADMIN:
        return query.where(sa.false())
    if plan:
        query = query.where(ServiceProject.plan == plan)
    if status:
        query = query.where(ServiceProject.status == status)
    if fiscal_year:
        query = query.where(ServiceProject.fiscal_year == fiscal_year)
    return query


def projects_for_dashboard(user, limit: int = 5) -> list[ServiceProject]:
    """The latest projects (not archived) an officer's dashboard shows."""
    query = visible_projects(user).where(ServiceProject.status != ProjectStatus.ARCHIVED).limit(limit)
    return list(db.session.scalars(query))
