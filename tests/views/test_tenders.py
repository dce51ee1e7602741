"""Tender pages through HTTP: forms refuse unlawful input with the article, drafts stay private,
publication, questions and objections."""

from __future__ import annotations

from datetime import date, time
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from portal.calendar import WorkingCalendar
from portal.extensions import db
from portal.projects.models import ProjectStatus, ServiceProject
from portal.tenders import rules
from portal.tenders.models import Objection, Question, Tender, TenderStatus
from tests.conftest import csrf_token, login

CAL = WorkingCalendar()
TODAY = date(2026, 9, 1)
NOW = rules.beijing_instant(TODAY, time(10, 0))


@pytest.fixture(autouse=True)
def frozen_clock():
    """Every test here runs on Tuesday 1 September 2026, 10:00 Beijing (sessions are signed then too)."""
    with time_machine.travel(NOW, tick=False):
        yield


@pytest.fixture
def officer(create_user):
    return create_user("officer")


@pytest.fixture
def project(officer):
    project = ServiceProject(bureau_id=officer.organisation_id, title="留守儿童关爱服务", plan="left_behind_children",
                             status=ProjectStatus.READY, fiscal_year=2026, budget=Decimal("800000"),
                             duration_months=12, needs_survey="走访 12 个行政村")
    db.session.add(project)
    db.session.commit()
    return project


def tender_form(**changes) -> dict:
    data = {
        "title": "留守儿童关爱服务项目", "method": "open", "budget": "600000", "ceiling_price": "",
        "service_content": "为 200 名留守儿童提供个案和小组服务", "method_ground": "", "justification": "",
        "single_source_supplier_id": "", "approval_document": "", "approval_date": "", "approval_body": "",
        "price_weight": "30", "requirements": "具有独立承担民事责任的能力",
        "criteria-0-factor_type": "service_plan", "criteria-0-name": "服务方案", "criteria-0-weight": "50",
        "criteria-0-description": "", "criteria-1-factor_type": "team", "criteria-1-name": "项目团队",
        "criteria-1-weight": "20", "criteria-1-description": "",
    }
    return data | changes


def post_tender(client, project, **changes):
    url = f"/projects/{project.id}/tenders/new"
    return client.post(url, data=tender_form(csrf_token=csrf_token(client, url), **changes))


def count_tenders() -> int:
    return db.session.scalar(sa.select(sa.func.count(Tender.id)))


def test_officer_creates_a_draft(client, login_as, officer, project):
    login_as(officer)
    response = post_tender(client, project)
    assert response.status_code == 302
    tender = db.session.scalar(sa.select(Tender))
    assert tender.status == TenderStatus.DRAFT and tender.budget == Decimal("600000.00")
    assert [c.name for c in tender.criteria] == ["服务方案", "项目团队"]
    page = client.get(f"/tenders/{tender.id}")
    assert page.status_code == 200 and "服务方案" in page.get_data(as_text=True)


@pytest.mark.parametrize(("changes", "marker"), [
    ({"criteria-1-factor_type": "size", "criteria-1-name": "注册资本"}, "87-17"),
    ({"criteria-1-factor_type": "other", "criteria-1-name": "近三年获得郑州市表彰"}, "R20(4)"),
    ({"criteria-1-factor_type": "other", "criteria-1-name": "具有独立承担民事责任的能力"}, "87-55"),
    ({"price_weight": "5", "criteria-0-weight": "75"}, "87-55"),
    ({"criteria-1-weight": "10"}, "87-55"),  # 30 + 50 + 10 = 90
    ({"budget": "1e5"}, None),
    ({"budget": "-100"}, None),
    ({"budget": "100.123"}, None),
    ({"budget": "900000"}, None),  # above the project budget
    ({"ceiling_price": "700000"}, "87-12"),
    ({"title": ""}, None),
])
def test_bad_input_is_refused_with_a_message(client, login_as, officer, project, changes, marker):
    login_as(officer)
    response = post_tender(client, project, **changes)
    assert response.status_code == 200
    body = response.get_data(as_text=True)
    assert 'role="alert"' in body or "alert-danger" in body
    if marker:
        assert marker in body
    assert count_tenders() == 0


def test_other_bureau_and_suppliers_cannot_create_or_see_drafts(app, client, login_as, officer, project, create_user,
                                                                create_org):
    login_as(officer)
    post_tender(client, project)
    tender_id = db.session.scalar(sa.select(Tender.id))
    other_bureau = create_org("bureau", name="开封市民政局", level="city")
    for user in (create_user("officer", organisation_id=other_bureau.id), create_user("supplier")):
        other = app.test_client()
        login(other, user.username)
        assert other.get(f"/tenders/{tender_id}").status_code == 403
        assert other.get(f"/projects/{project.id}/tenders/new").status_code == 403
    assert app.test_client().get(f"/tenders/{tender_id}").status_code == 403


def test_publish_through_the_form_and_public_sees_it(app, client, login_as, officer, project):
    login_as(officer)
    post_tender(client, project)
    tender_id = db.session.scalar(sa.select(Tender.id))
    url = f"/tenders/{tender_id}/publish"
    deadline_day = rules.earliest_deadline_day("open", TODAY, CAL)
    with time_machine.travel(NOW, tick=False):
        form_page = client.get(url)
        assert deadline_day.isoformat() in form_page.get_data(as_text=True)  # the earliest lawful date is offered
        too_early = client.post(url, data={
            "csrf_token": csrf_token(client, url), "notice_until": CAL.add_working_days(TODAY, 5).isoformat(),
            "documents_from": TODAY.isoformat(), "documents_until": CAL.add_working_days(TODAY, 5).isoformat(),
            "deadline_date": CAL.previous_working_day(deadline_day).isoformat(), "deadline_time": "09:30"})
        assert too_early.status_code == 200 and "L35" in too_early.get_data(as_text=True)
        ok = client.post(url, data={
            "csrf_token": csrf_token(client, url), "notice_until": CAL.add_working_days(TODAY, 5).isoformat(),
            "documents_from": TODAY.isoformat(), "documents_until": CAL.add_working_days(TODAY, 5).isoformat(),
            "deadline_date": deadline_day.isoformat(), "deadline_time": "09:30"})
        assert ok.status_code == 302
    db.session.expire_all()
    assert db.session.get(Tender, tender_id).status == TenderStatus.PUBLISHED
    public = app.test_client()
    assert public.get(f"/tenders/{tender_id}").status_code == 200
    board = public.get("/notices").get_data(as_text=True)
    assert "留守儿童关爱服务项目" in board


def _published_single_source(client, officer, project, create_org):
    supplier = create_org(name="郑州市守望儿童社会工作服务中心")
    client.post(f"/projects/{project.id}/tenders/new", data=tender_form(
        csrf_token=csrf_token(client, f"/projects/{project.id}/tenders/new"), method="single_source",
        method_ground="only_supplier", single_source_supplier_id=str(supplier.id), justification="唯一机构",
        **{f"criteria-{i}-name": "" for i in range(2)}))
    tender = db.session.scalar(sa.select(Tender))
    url = f"/tenders/{tender.id}/publish"
    with time_machine.travel(NOW, tick=False):
        response = client.post(url, data={"csrf_token": csrf_token(client, url),
                                          "notice_until": CAL.add_working_days(TODAY, 5).isoformat()})
    assert response.status_code == 302, response.get_data(as_text=True)
    return tender


def test_anyone_objects_to_a_single_source_notice(app, client, login_as, officer, project, create_org):
    login_as(officer)
    tender = _published_single_source(client, officer, project, create_org)
    public = app.test_client()
    url = f"/tenders/{tender.id}"
    with time_machine.travel(NOW, tick=False):
        response = public.post(f"{url}/objections", data={
            "csrf_token": csrf_token(public, url), "name": "张三", "contact": "13800000000",
            "text": "另有机构具备同样条件，不应采用单一来源"})
    assert response.status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(Objection.id))) == 1
    later = rules.beijing_instant(CAL.add_working_days(TODAY, 6), time(10))
    with time_machine.travel(later, tick=False):
        response = public.post(f"{url}/objections", data={
            "csrf_token": csrf_token(public, url), "name": "李四", "contact": "13900000000",
            "text": "公示期结束后才提出的异议"})
    assert db.session.scalar(sa.select(sa.func.count(Objection.id))) == 1


def test_the_answer_to_an_objection_is_published_without_who_objected(app, client, login_as, officer, project,
                                                                       create_org):
    login_as(officer)
    tender = _published_single_source(client, officer, project, create_org)
    public = app.test_client()
    url = f"/tenders/{tender.id}"
    with time_machine.travel(NOW, tick=False):
        public.post(f"{url}/objections", data={"csrf_token": csrf_token(public, url), "name": "张三",
                                               "contact": "13800000000", "text": "另有机构具备同样条件"})
        assert "经补充论证" not in public.get(url).get_data(as_text=True)  # nothing public until answered
        objection = db.session.scalar(sa.select(Objection))
        answer_url = f"/objections/{objection.id}/answer"
        response = client.post(answer_url, data={"csrf_token": csrf_token(client, url),
                                                 "response": "经补充论证，仅该机构具备服务条件"})
        assert response.status_code == 302
        page = public.get(url).get_data(as_text=True)
        officer_page = client.get(url).get_data(as_text=True)
    assert "经补充论证，仅该机构具备服务条件" in page
    assert "张三" not in page and "13800000000" not in page and "另有机构具备同样条件" not in page
    assert "张三" in officer_page and "13800000000" in officer_page and "另有机构具备同样条件" in officer_page


def test_supplier_asks_and_other_suppliers_do_not_see_who(app, client, login_as, officer, project, create_user):
    login_as(officer)
    post_tender(client, project)
    tender = db.session.scalar(sa.select(Tender))
    url = f"/tenders/{tender.id}/publish"
    deadline_day = rules.earliest_deadline_day("open", TODAY, CAL)
    with time_machine.travel(NOW, tick=False):
        client.post(url, data={
            "csrf_token": csrf_token(client, url), "notice_until": CAL.add_working_days(TODAY, 5).isoformat(),
            "documents_from": TODAY.isoformat(), "documents_until": CAL.add_working_days(TODAY, 5).isoformat(),
            "deadline_date": deadline_day.isoformat(), "deadline_time": "09:30"})
        asker, other = create_user("supplier"), create_user("supplier")
        asker_client, other_client = app.test_client(), app.test_client()
        login(asker_client, asker.username)
        login(other_client, other.username)
        detail = f"/tenders/{tender.id}"
        response = asker_client.post(f"{detail}/questions", data={"csrf_token": csrf_token(asker_client, detail),
                                                                   "text": "服务对象名单由谁提供？"})
        assert response.status_code == 302
        assert db.session.scalar(sa.select(sa.func.count(Question.id))) == 1
        other_page = other_client.get(detail).get_data(as_text=True)
        officer_page = client.get(detail).get_data(as_text=True)
    assert "服务对象名单由谁提供" not in other_page  # unanswered questions stay with the asker and the bureau
    assert asker.organisation.name not in other_page
    assert asker.organisation.name in officer_page


def test_draw_needs_the_second_witness_password(client, login_as, officer, project, create_user, create_org):
    from portal.tenders.models import SupplierDraw

    witness = create_user("officer", organisation_id=officer.organisation_id)
    for _ in range(6):
        create_org()
    login_as(officer)
    post_tender(client, project, method="invited", method_ground="few_suppliers")
    tender_id = db.session.scalar(sa.select(Tender.id))
    url = f"/tenders/{tender_id}/draw"
    data = {"pool_source": "database", "count": "3", "witness": str(witness.id)}
    wrong = client.post(url, data=data | {"csrf_token": csrf_token(client, url), "witness_password": "not-it-123"})
    assert wrong.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count(SupplierDraw.id))) == 0
    ok = client.post(url, data=data | {"csrf_token": csrf_token(client, url), "witness_password": "Secret-pass-1"})
    assert ok.status_code == 302
    draw = db.session.scalar(sa.select(SupplierDraw))
    assert {draw.witness1_id, draw.witness2_id} == {officer.id, witness.id} and len(draw.result_ids) == 3


def test_witness_password_guesses_count_towards_the_lockout(client, login_as, officer, project, create_user,
                                                            create_org):
    from portal.accounts.models import LoginAttempt
    from portal.audit import AuditEntry
    from portal.tenders.models import SupplierDraw

    witness = create_user("officer", organisation_id=officer.organisation_id)
    for _ in range(6):
        create_org()
    login_as(officer)
    post_tender(client, project, method="invited", method_ground="few_suppliers")
    url = f"/tenders/{db.session.scalar(sa.select(Tender.id))}/draw"
    data = {"pool_source": "database", "count": "3", "witness": str(witness.id)}
    for _ in range(5):
        client.post(url, data=data | {"csrf_token": csrf_token(client, url), "witness_password": "guess-123456"})
    failures = db.session.scalar(sa.select(sa.func.count(LoginAttempt.id)).where(
        LoginAttempt.username == witness.username, LoginAttempt.success.is_(False)))
    assert failures == 5
    assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(
        AuditEntry.action == "tender.draw_witness.wrong_password")) == 5
    # Now even the right password is refused for a while, as at /login.
    locked = client.post(url, data=data | {"csrf_token": csrf_token(client, url), "witness_password": "Secret-pass-1"})
    assert locked.status_code == 200
    assert db.session.scalar(sa.select(sa.func.count(SupplierDraw.id))) == 0


@pytest.mark.parametrize("query", ["page=99999999999999999999", "page=-5", "bureau=99999999999999999999",
                                   "kind=nonsense&q=%25' OR 1=1 --"])
def test_hostile_query_strings_do_not_crash_lists(client, login_as, officer, query):
    assert client.get(f"/notices?{query}").status_code in (200, 404)
    login_as(officer)
    for url in ("/tenders", "/projects", "/inbox"):
        assert client.get(f"{url}?{query}").status_code in (200, 404), url


@pytest.mark.parametrize("day", ["0001-01-01", "9999-12-31"])
def test_out_of_range_dates_are_refused_with_a_message(client, login_as, officer, project, day):
    login_as(officer)
    post_tender(client, project)
    url = f"/tenders/{db.session.scalar(sa.select(Tender.id))}/publish"
    response = client.post(url, data={"csrf_token": csrf_token(client, url), "notice_until": day,
                                      "documents_from": day, "documents_until": day, "deadline_date": day,
                                      "deadline_time": "00:00"})
    assert response.status_code == 200
    assert db.session.scalar(sa.select(Tender.status)) == TenderStatus.DRAFT


def test_officer_extends_the_deadline_through_the_form(client, login_as, officer, project):
    login_as(officer)
    post_tender(client, project)
    tender_id = db.session.scalar(sa.select(Tender.id))
    url = f"/tenders/{tender_id}/publish"
    deadline_day = rules.earliest_deadline_day("open", TODAY, CAL)
    client.post(url, data={
        "csrf_token": csrf_token(client, url), "notice_until": CAL.add_working_days(TODAY, 5).isoformat(),
        "documents_from": TODAY.isoformat(), "documents_until": CAL.add_working_days(TODAY, 5).isoformat(),
        "deadline_date": deadline_day.isoformat(), "deadline_time": "09:30"})
    form_url = f"/tenders/{tender_id}/timetable"
    assert client.get(form_url).status_code == 200
    response = client.post(form_url, data={
        "csrf_token": csrf_token(client, form_url), "documents_until": CAL.add_working_days(TODAY, 5).isoformat(),
        "deadline_date": "2026-09-28", "deadline_time": "09:30", "reason": "服务对象人数调整，顺延截止时间"})
    assert response.status_code == 302
    db.session.expire_all()
    assert rules.local_date(db.session.get(Tender, tender_id).bid_deadline) == date(2026, 9, 28)


def test_agreement_above_budget_says_the_procedure_ended(client, login_as, officer, project, create_org):
    login_as(officer)
    tender = _published_single_source(client, officer, project, create_org)
    tender = db.session.get(Tender, tender.id)
    tender.status = TenderStatus.NEGOTIATING
    db.session.commit()
    url = f"/tenders/{tender.id}"
    response = client.post(f"{url}/agreement", data={"csrf_token": csrf_token(client, url), "price": "600000.01",
                                                      "record": "双方协商后价格仍超出预算"}, follow_redirects=True)
    assert response.status_code == 200
    db.session.expire_all()
    assert db.session.get(Tender, tender.id).status == TenderStatus.FAILED
    assert "终止" in response.get_data(as_text=True)


@pytest.mark.parametrize("budget", ["-5e3", "1e5", "12.345", "abc"])
def test_a_malformed_amount_gets_the_amount_message_not_required(client, login_as, officer, project, budget):
    from flask_babel import force_locale, gettext

    login_as(officer)
    body = post_tender(client, project, budget=budget).get_data(as_text=True)
    with force_locale("zh"):
        expected = gettext("Enter an amount in yuan, e.g. 120000 or 120000.50 (at most two decimals).")
    assert expected in body
    assert count_tenders() == 0
