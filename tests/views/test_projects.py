"""Service-project pages: recording a need, who may see and change it, the needs survey, bounded queries."""

from __future__ import annotations

import io
import json
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.models import OrgKind
from portal.audit import AuditEntry
from portal.extensions import db
from portal.files import StoredFile
from portal.projects import services
from portal.projects.models import Plan, ProjectStatus, ServiceProject
from tests.conftest import csrf_token, login
from tests.files_support import ELF_BYTES, PDF_BYTES, PNG_BYTES


def fresh():
    """End the test's transaction so the next read sees what the requests committed."""
    db.session.rollback()
    db.session.expire_all()


def count(model=ServiceProject) -> int:
    fresh()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def text(response) -> str:
    return response.get_data(as_text=True)


def form_data(**changes) -> dict:
    data = {"title": "困难老年人关爱服务", "plan": "elderly", "fiscal_year": "2027", "target_groups": "独居、失能老人",
            "description": "上门探访、心理疏导", "district": "中原区", "township": "须水街道",
            "villages": "西岗村\n东岗村",
            "poor_village": "y", "poor_households": "24", "budget": "150000.50", "duration_months": "12",
            "base_priority": "60", "needs_survey": ""}
    return {k: v for k, v in (data | changes).items() if v is not None}


def post(client, url, data=None, **kwargs):
    return client.post(url, data=(data or {}) | {"csrf_token": csrf_token(client, "/projects")}, **kwargs)


def values(**changes) -> dict:
    base = {"title": "孤儿和困境儿童关爱", "plan": Plan.ORPHANS, "fiscal_year": 2027, "budget": Decimal("90000"),
            "duration_months": 12, "base_priority": 50}
    return base | changes


@pytest.fixture
def bureaus(create_org, city_bureau):
    district = create_org(OrgKind.BUREAU, name="中原区民政局", level="district", parent_id=city_bureau.id)
    return city_bureau, district


@pytest.fixture
def officers(create_user, bureaus):
    city, district = bureaus
    return (create_user("officer", locale="en", organisation_id=city.id),
            create_user("officer", locale="en", organisation_id=district.id))


def make_project(officer, now, **changes) -> ServiceProject:
    project = services.create_project(officer.organisation, values(**changes), actor=officer, now=now)
    db.session.commit()
    return project


# --- recording a need ------------------------------------------------------------------------------------------


def test_officer_records_a_need_through_the_form(officers, login_as, client):
    city_officer, _ = officers
    login_as(city_officer)
    assert client.get("/projects/new").status_code == 200
    response = post(client, "/projects/new", form_data())
    assert response.status_code == 302
    fresh()
    project = db.session.scalar(sa.select(ServiceProject))
    assert response.location.endswith(f"/projects/{project.id}")
    assert project.bureau_id == city_officer.organisation_id and project.status == ProjectStatus.DRAFT
    assert project.budget == Decimal("150000.50") and project.poor_village is True and project.poor_households == 24
    assert project.villages == "西岗村\n东岗村"
    page = text(client.get(f"/projects/{project.id}"))
    assert "困难老年人关爱服务" in page and "¥150,000.50" in page and "has been saved" in page
    assert db.session.scalar(sa.select(AuditEntry.action).order_by(AuditEntry.seq.desc()).limit(1)) == "project.created"


def test_every_problem_is_shown_at_once(officers, login_as, client):
    login_as(officers[0])
    page = text(post(client, "/projects/new", form_data(budget="1e5", duration_months="37", base_priority="-1")))
    assert "Enter an amount in yuan" in page and "between 1 and 36 months" in page and "from 0 to 100" in page
    assert count() == 0


@pytest.mark.parametrize(("changes", "message"), [
    ({"budget": "1e5"}, "Enter an amount in yuan"),
    ({"budget": "-100"}, "Enter an amount in yuan"),
    ({"budget": "100.001"}, "Enter an amount in yuan"),
    ({"budget": "0"}, "more than 0"),
    ({"budget": ""}, "This field is required."),
    ({"duration_months": "37"}, "between 1 and 36 months"),
    ({"duration_months": "0"}, "between 1 and 36 months"),
    ({"base_priority": "101"}, "from 0 to 100"),
    ({"poor_households": "-1"}, "0 or more"),
    ({"fiscal_year": "1999"}, "between 2000 and 2100"),
    ({"title": "   "}, "This field is required."),
    ({"plan": "housing"}, "Not a valid choice"),
])
def test_bad_input_is_explained_and_nothing_is_created(officers, login_as, client, changes, message):
    login_as(officers[0])
    response = post(client, "/projects/new", form_data(**changes))
    assert response.status_code == 200
    page = text(response)
    assert "The project was not saved" in page
    assert message in page
    assert count() == 0


def test_edit_changes_the_project_and_audits_old_and_new(officers, login_as, client, now):
    city_officer, _ = officers
    project = make_project(city_officer, now)
    login_as(city_officer)
    assert "90000.00" in text(client.get(f"/projects/{project.id}/edit"))
    response = post(client, f"/projects/{project.id}/edit", form_data(title="孤儿和困境儿童关爱", plan="orphans",
                                                                       budget="120000", duration_months="24"))
    assert response.status_code == 302
    fresh()
    assert db.session.get(ServiceProject, project.id).budget == Decimal("120000.00")
    row = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "project.updated"))
    old, new = json.loads(row.old_values), json.loads(row.new_values)
    assert old["budget"] == "90000.00" and new["budget"] == "120000.00"
    assert old["duration_months"] == 12 and new["duration_months"] == 24
    assert "title" not in new


# --- who may see and change it --------------------------------------------------------------------------------


def test_district_officer_cannot_edit_a_city_project(officers, app, now):
    city_officer, district_officer = officers
    project = make_project(city_officer, now)
    client = app.test_client()
    login(client, district_officer.username)
    assert client.get(f"/projects/{project.id}").status_code == 403
    assert client.get(f"/projects/{project.id}/edit").status_code == 403
    assert post(client, f"/projects/{project.id}/edit", form_data(title="改掉")).status_code == 403
    fresh()
    assert db.session.get(ServiceProject, project.id).title == "孤儿和困境儿童关爱"
    refused = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "access.refused")).all()
    assert {row.subject_id for row in refused} >= {"projects.project_detail", "projects.edit_project"}
    assert all(row.actor_id == district_officer.id for row in refused)


def test_city_officer_sees_a_district_project_but_cannot_change_it(officers, app, now):
    city_officer, district_officer = officers
    project = make_project(district_officer, now, needs_survey="已走访")
    client = app.test_client()
    login(client, city_officer.username)
    assert "孤儿和困境儿童关爱" in text(client.get("/projects"))
    page = text(client.get(f"/projects/{project.id}"))
    assert "孤儿和困境儿童关爱" in page and f"/projects/{project.id}/edit" not in page
    assert client.get(f"/projects/{project.id}/edit").status_code == 403
    for action in ("ready", "archive"):
        assert post(client, f"/projects/{project.id}/{action}").status_code == 403
    upload = {"file": (io.BytesIO(PDF_BYTES), "survey.pdf")}
    assert post(client, f"/projects/{project.id}/survey", upload, content_type="multipart/form-data").status_code == 403
    fresh()
    assert db.session.get(ServiceProject, project.id).status == ProjectStatus.DRAFT


def test_district_officer_lists_only_its_own_projects(officers, app, now):
    city_officer, district_officer = officers
    make_project(city_officer, now, title="市局项目")
    make_project(district_officer, now, title="区局项目")
    client = app.test_client()
    login(client, district_officer.username)
    page = text(client.get("/projects"))
    assert "区局项目" in page and "市局项目" not in page


@pytest.mark.parametrize("role", ["supplier", "evaluator"])
def test_other_roles_are_refused(officers, create_user, app, now, role):
    project = make_project(officers[0], now)
    client = app.test_client()
    login(client, create_user(role).username)
    for url in ("/projects", "/projects/new", f"/projects/{project.id}", f"/projects/{project.id}/edit",
                f"/projects/{project.id}/survey"):
        assert client.get(url).status_code == 403, url
    assert post(client, f"/projects/{project.id}/archive").status_code == 403
    fresh()
    assert db.session.get(ServiceProject, project.id).status == ProjectStatus.DRAFT


def test_anonymous_is_sent_to_sign_in(officers, client, now):
    project = make_project(officers[0], now)
    for url in ("/projects", "/projects/new", f"/projects/{project.id}", f"/projects/{project.id}/survey"):
        response = client.get(url)
        assert response.status_code == 302 and "/login" in response.location, url


def test_admin_can_read_but_not_record(officers, create_user, app, now):
    project = make_project(officers[1], now)
    client = app.test_client()
    login(client, create_user("admin", locale="en").username)
    assert "孤儿和困境儿童关爱" in text(client.get("/projects"))
    assert client.get(f"/projects/{project.id}").status_code == 200
    assert client.get("/projects/new").status_code == 403
    assert client.get(f"/projects/{project.id}/edit").status_code == 403


# --- needs survey, readiness, archive -------------------------------------------------------------------------


def _upload(client, project_id, data: bytes, name: str):
    return post(client, f"/projects/{project_id}/survey", {"file": (io.BytesIO(data), name)},
                content_type="multipart/form-data")


def test_survey_report_is_uploaded_and_downloaded(officers, login_as, client, now):
    project = make_project(officers[0], now)
    login_as(officers[0])
    response = _upload(client, project.id, PDF_BYTES, "需求调查报告.pdf")
    assert response.status_code == 302
    download = client.get(f"/projects/{project.id}/survey")
    assert download.status_code == 200 and download.data == PDF_BYTES
    assert download.headers["Content-Disposition"].startswith("attachment")
    download.close()
    assert "需求调查报告.pdf" in text(client.get(f"/projects/{project.id}"))


def test_download_without_a_report_is_404(officers, login_as, client, now):
    project = make_project(officers[0], now)
    login_as(officers[0])
    assert client.get(f"/projects/{project.id}/survey").status_code == 404


@pytest.mark.parametrize(("data", "name"), [(ELF_BYTES, "survey.pdf"), (PNG_BYTES, "survey.png")])
def test_upload_of_a_non_document_is_400(officers, login_as, client, now, data, name):
    project = make_project(officers[0], now)
    login_as(officers[0])
    response = _upload(client, project.id, data, name)
    assert response.status_code == 400
    assert "Upload the survey report as a PDF, Word (DOCX), Excel (XLSX) or ZIP file." in text(response)
    assert count(StoredFile) == 0
    assert db.session.get(ServiceProject, project.id).needs_survey_file_id is None


def test_upload_without_a_file_is_400(officers, login_as, client, now):
    project = make_project(officers[0], now)
    login_as(officers[0])
    response = post(client, f"/projects/{project.id}/survey", {}, content_type="multipart/form-data")
    assert response.status_code == 400 and "Choose a file to upload." in text(response)


def test_ready_is_refused_without_a_needs_survey_then_granted(officers, login_as, client, now):
    project = make_project(officers[0], now)
    login_as(officers[0])
    response = post(client, f"/projects/{project.id}/ready", follow_redirects=True)
    assert "needs survey (需求调查)" in text(response)
    fresh()
    assert db.session.get(ServiceProject, project.id).status == ProjectStatus.DRAFT
    post(client, f"/projects/{project.id}/edit", form_data(needs_survey="入户走访 80 户，座谈 2 次。"))
    response = post(client, f"/projects/{project.id}/ready", follow_redirects=True)
    assert "ready for procurement" in text(response)
    fresh()
    assert db.session.get(ServiceProject, project.id).status == ProjectStatus.READY


def test_archived_project_cannot_be_edited(officers, login_as, client, now):
    project = make_project(officers[0], now)
    login_as(officers[0])
    assert post(client, f"/projects/{project.id}/archive").status_code == 302
    response = client.get(f"/projects/{project.id}/edit")
    assert response.status_code == 302 and response.location.endswith(f"/projects/{project.id}")
    page = text(client.get(f"/projects/{project.id}"))
    assert "has been archived" in page and f"/projects/{project.id}/ready" not in page


def test_create_tender_link_appears_only_when_the_endpoint_exists(officers, login_as, client, now, monkeypatch):
    project = make_project(officers[0], now, needs_survey="已调查")
    login_as(officers[0])
    assert "Create tender" not in text(client.get(f"/projects/{project.id}"))
    post(client, f"/projects/{project.id}/ready")
    # Stand in for tenders.new_tender with an endpoint that takes the same argument.
    monkeypatch.setattr("portal.projects.views.TENDER_ENDPOINT", "projects.edit_project")
    page = text(client.get(f"/projects/{project.id}"))
    assert "Create tender" in page and f'href="/projects/{project.id}/edit"' in page


# --- filters and bounded queries ------------------------------------------------------------------------------


def test_list_filters_by_plan_status_and_year(officers, login_as, client, now):
    make_project(officers[0], now, title="养老项目", plan=Plan.ELDERLY, fiscal_year=2026)
    make_project(officers[0], now, title="儿童项目", plan=Plan.ORPHANS, fiscal_year=2027)
    login_as(officers[0])
    page = text(client.get("/projects?plan=elderly"))
    assert "养老项目" in page and "儿童项目" not in page
    page = text(client.get("/projects?fiscal_year=2027"))
    assert "儿童项目" in page and "养老项目" not in page
    assert "No service project matches" in text(client.get("/projects?status=archived"))
    page = text(client.get("/projects?plan=bogus&fiscal_year=abc"))  # nonsense filters are ignored
    assert "养老项目" in page and "儿童项目" in page


def test_empty_list_says_so(officers, login_as, client):
    login_as(officers[1])
    assert "No service project has been recorded yet" in text(client.get("/projects"))


def _queries_for(client, url) -> int:
    statements = []

    def count_statement(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count_statement)
    try:
        response = client.get(url)
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count_statement)
    assert response.status_code == 200
    return len(statements)


def test_list_queries_do_not_grow_with_the_number_of_projects(officers, create_user, login_as, client, now):
    city_officer, district_officer = officers
    for i in range(5):
        make_project(city_officer if i % 2 else district_officer, now, title=f"项目{i}")
    login_as(city_officer)
    with_five = _queries_for(client, "/projects")
    for i in range(5, 20):
        make_project(city_officer if i % 2 else district_officer, now, title=f"项目{i}")
    with_twenty = _queries_for(client, "/projects")
    assert "项目19" in text(client.get("/projects"))
    assert with_twenty == with_five
    assert with_twenty <= 8
