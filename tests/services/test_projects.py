"""Service-project operations: create, update, survey attachment, readiness, archive, visibility (no HTTP)."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_babel import force_locale
from werkzeug.datastructures import FileStorage

from portal.accounts.models import OrgKind
from portal.audit import AuditEntry, verify_chain
from portal.errors import Conflict, DomainError
from portal.extensions import db
from portal.files import StoredFile, UploadRejected
from portal.projects import services
from portal.projects.models import Plan, ProjectStatus, ServiceProject
from tests.files_support import DOCX_BYTES, PDF_BYTES, PNG_BYTES


@pytest.fixture(autouse=True)
def english(app_context):
    with force_locale("en"):
        yield


def project_values(**changes) -> dict:
    base = {"title": "农村留守儿童关爱服务", "plan": Plan.LEFT_BEHIND_CHILDREN, "fiscal_year": 2027,
            "target_groups": "留守儿童及其监护人", "description": "个案、小组、社区活动", "district": "中牟县",
            "township": "官渡镇", "villages": "大孟村\n小孟村", "poor_village": True, "poor_households": 37,
            "remote_area": False, "budget": Decimal("180000.00"), "duration_months": 12, "base_priority": 70,
            "needs_survey": ""}
    return base | changes


def audit_rows(action: str | None = None) -> list[AuditEntry]:
    query = sa.select(AuditEntry).order_by(AuditEntry.seq)
    if action:
        query = query.where(AuditEntry.action == action)
    return list(db.session.scalars(query))


def upload(data: bytes, name: str) -> FileStorage:
    return FileStorage(io.BytesIO(data), filename=name)


@pytest.fixture
def officer(create_user):
    return create_user("officer")


@pytest.fixture
def project(officer, now):
    created = services.create_project(officer.organisation, project_values(), actor=officer, now=now)
    db.session.commit()
    return created


def test_create_project_records_a_draft_and_an_audit_row(officer, now):
    project = services.create_project(officer.organisation, project_values(), actor=officer, now=now)
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(ServiceProject, project.id)
    assert stored.status == ProjectStatus.DRAFT
    assert stored.bureau_id == officer.organisation_id and stored.created_by_id == officer.id
    assert stored.budget == Decimal("180000.00") and isinstance(stored.budget, Decimal)
    assert stored.created_at == now
    (row,) = audit_rows("project.created")
    assert row.actor_id == officer.id and row.subject_type == "ServiceProject" and row.subject_id == str(project.id)
    new = json.loads(row.new_values)
    assert new["budget"] == "180000.00" and new["poor_households"] == 37 and new["status"] == "draft"
    assert verify_chain().ok


def test_create_project_refuses_broken_rules_and_lists_every_problem(officer, now):
    with pytest.raises(services.InvalidProject) as caught:
        services.create_project(officer.organisation, project_values(duration_months=37, budget=Decimal("0.001"),
                                                                     base_priority=101), actor=officer, now=now)
    assert caught.value.problems == ["duration_months.range", "budget.decimals", "base_priority.range"]
    assert str(caught.value) == "The service period must be between 1 and 36 months."
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ServiceProject)) == 0


def test_create_project_refuses_float_money(officer, now):
    with pytest.raises(services.InvalidProject) as caught:
        services.create_project(officer.organisation, project_values(budget=180000.0), actor=officer, now=now)
    assert caught.value.problems == ["budget.type"]


def test_create_project_needs_a_bureau(create_org, officer, now):
    ngo = create_org(OrgKind.SUPPLIER)
    with pytest.raises(DomainError, match="civil-affairs bureau"):
        services.create_project(ngo, project_values(), actor=officer, now=now)


def test_update_project_audits_only_what_changed(project, officer, now):
    services.update_project(project, project_values(budget=Decimal("200000"), poor_households=40),
                            actor=officer, now=now)
    db.session.commit()
    (row,) = audit_rows("project.updated")
    assert json.loads(row.old_values) == {"budget": "180000.00", "poor_households": 37}
    assert json.loads(row.new_values) == {"budget": "200000.00", "poor_households": 40}
    db.session.expire_all()
    assert project.budget == Decimal("200000.00")


def test_update_without_changes_writes_no_audit_row(project, officer, now):
    services.update_project(project, project_values(), actor=officer, now=now)
    assert audit_rows("project.updated") == []


def test_update_refuses_broken_rules_and_leaves_the_project(project, officer, now):
    with pytest.raises(services.InvalidProject):
        services.update_project(project, {"duration_months": 0}, actor=officer, now=now)
    db.session.rollback()
    assert project.duration_months == 12


def test_ready_is_refused_without_a_needs_survey(project, officer, now):
    with pytest.raises(DomainError) as caught:
        services.mark_ready(project, actor=officer, now=now)
    assert "needs survey (需求调查)" in str(caught.value)
    assert project.status == ProjectStatus.DRAFT
    assert audit_rows("project.ready") == []


def test_ready_with_a_needs_survey_summary(project, officer, now):
    services.update_project(project, {"needs_survey": "入户走访 120 户，召开村民座谈会 3 次。"}, actor=officer, now=now)
    services.mark_ready(project, actor=officer, now=now)
    db.session.commit()
    assert project.status == ProjectStatus.READY
    (row,) = audit_rows("project.ready")
    assert json.loads(row.old_values) == {"status": "draft"}
    with pytest.raises(Conflict):
        services.mark_ready(project, actor=officer, now=now)


def test_a_ready_project_cannot_lose_its_needs_survey(project, officer, now):
    services.update_project(project, {"needs_survey": "已调查"}, actor=officer, now=now)
    services.mark_ready(project, actor=officer, now=now)
    with pytest.raises(services.InvalidProject) as caught:
        services.update_project(project, {"needs_survey": ""}, actor=officer, now=now)
    assert caught.value.problems == ["needs_survey.required"]


def test_attach_needs_survey_stores_the_report_and_audits(project, officer, now):
    services.attach_needs_survey(project, upload(PDF_BYTES, "需求调查报告.pdf"), actor=officer, now=now)
    db.session.commit()
    first = project.needs_survey_file
    assert first.original_name == "需求调查报告.pdf" and first.uploaded_by_id == officer.id
    services.attach_needs_survey(project, upload(DOCX_BYTES, "调查问卷.docx"), actor=officer, now=now)
    db.session.commit()
    assert project.needs_survey_file.kind == "docx"
    first_row, second_row = audit_rows("project.survey_attached")
    assert json.loads(first_row.old_values or "null") is None
    assert json.loads(second_row.old_values)["file_id"] == first.id
    assert json.loads(second_row.new_values)["name"] == "调查问卷.docx"


def test_attach_needs_survey_refuses_images_and_unknown_files(project, officer, now):
    with pytest.raises(UploadRejected):
        services.attach_needs_survey(project, upload(PNG_BYTES, "photo.png"), actor=officer, now=now)
    with pytest.raises(UploadRejected):
        services.attach_needs_survey(project, upload(b"MZ\x90\x00", "survey.pdf"), actor=officer, now=now)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile)) == 0


def test_archive_freezes_the_project(project, officer, now):
    services.archive_project(project, actor=officer, now=now)
    db.session.commit()
    assert project.status == ProjectStatus.ARCHIVED
    (row,) = audit_rows("project.archived")
    assert json.loads(row.new_values) == {"status": "archived"}
    with pytest.raises(Conflict, match="archived"):
        services.update_project(project, {"title": "新标题"}, actor=officer, now=now)
    with pytest.raises(Conflict):
        services.attach_needs_survey(project, upload(PDF_BYTES, "a.pdf"), actor=officer, now=now)
    with pytest.raises(Conflict):
        services.mark_ready(project, actor=officer, now=now)
    with pytest.raises(Conflict):
        services.archive_project(project, actor=officer, now=now)


@pytest.fixture
def hierarchy(create_org, create_user, city_bureau, now):
    """The city bureau with two districts, an officer in each, and one project per bureau."""
    east = create_org(OrgKind.BUREAU, name="中原区民政局", level="district", parent_id=city_bureau.id)
    west = create_org(OrgKind.BUREAU, name="二七区民政局", level="district", parent_id=city_bureau.id)
    officers = {"city": create_user("officer"), "east": create_user("officer", organisation_id=east.id),
                "west": create_user("officer", organisation_id=west.id)}
    projects = {key: services.create_project(user.organisation, project_values(title=f"{key}项目"), actor=user,
                                             now=now) for key, user in officers.items()}
    db.session.commit()
    return officers, projects


def titles(user, **filters) -> set[str]:
    return {p.title for p in db.session.scalars(services.visible_projects(user, **filters))}


def test_visibility_follows_the_bureau_hierarchy(hierarchy, create_user):
    officers, _ = hierarchy
    assert titles(officers["city"]) == {"city项目", "east项目", "west项目"}
    assert titles(officers["east"]) == {"east项目"}
    assert titles(officers["west"]) == {"west项目"}
    assert titles(create_user("admin")) == {"city项目", "east项目", "west项目"}
    assert titles(create_user("supplier")) == set()
    assert titles(create_user("evaluator")) == set()
    assert titles(None) == set()


def test_visible_projects_match_can_view(hierarchy):
    officers, projects = hierarchy
    for user in officers.values():
        visible = titles(user)
        for project in projects.values():
            assert (project.title in visible) == project.can_view(user)


def test_visible_projects_filters(hierarchy, now):
    officers, projects = hierarchy
    services.update_project(projects["east"], {"plan": Plan.ELDERLY, "fiscal_year": 2028}, actor=officers["east"],
                            now=now)
    services.archive_project(projects["west"], actor=officers["west"], now=now)
    city = officers["city"]
    assert titles(city, plan=Plan.ELDERLY) == {"east项目"}
    assert titles(city, fiscal_year=2028) == {"east项目"}
    assert titles(city, status=ProjectStatus.ARCHIVED) == {"west项目"}
    assert titles(city, plan=Plan.ELDERLY, status=ProjectStatus.ARCHIVED) == set()


def test_projects_for_dashboard_are_the_latest_open_ones(officer, now):
    made = [services.create_project(officer.organisation, project_values(title=f"项目{i}"), actor=officer, now=now)
            for i in range(7)]
    services.archive_project(made[6], actor=officer, now=now)
    db.session.commit()
    latest = services.projects_for_dashboard(officer)
    assert [p.title for p in latest] == ["项目5", "项目4", "项目3", "项目2", "项目1"]
    assert [p.title for p in services.projects_for_dashboard(officer, limit=2)] == ["项目5", "项目4"]
