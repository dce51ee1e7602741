"""Delivery and the end of a contract through HTTP: the NGO's report form and its attachment, the report pages for
the parties and the overseers only, termination and completion by the bureau's officer, the contract page's panel.

The contract (tests/contract_builders.py) is signed by a district bureau under the city bureau, runs through 2027
and reports quarterly. The clock is frozen on Monday 5 April 2027, 10:00 Beijing: the first quarter's report is
open (due by 10 April), the second is not.
"""

from __future__ import annotations

import io
from datetime import date

import pytest
import sqlalchemy as sa
import time_machine
from flask import render_template_string
from flask_login import login_user

from portal.accounts.models import OrgKind
from portal.contracts import delivery
from portal.contracts.models import ContractStatus, ServiceReport
from portal.extensions import db
from tests.conftest import csrf_token
from tests.contract_builders import signed_contract
from tests.files_support import PDF_BYTES
from tests.support.web import as_user, bj, fetch, text

pytestmark = pytest.mark.usefixtures("english_messages")

SUMMARY = "本季度开展入户探访612人次，组织社区活动8场，服务目标按计划完成。"
GROUNDS = "乙方连续两个季度未按合同约定提供入户探访服务，经书面催告后仍未改正，构成根本违约。"


AT = bj("2027-04-05")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(AT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def district(create_org, city_bureau):
    return create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)


@pytest.fixture
def built(district, create_user, now):
    built = signed_contract(district, create_user, now=now)
    for user in [*built.officers, built.supplier]:
        user.locale = "en"
    db.session.commit()
    return built


@pytest.fixture
def outsiders(create_user, create_org):
    """Who may not see the contract: another city's officer, another NGO, an evaluator."""
    other_city = create_org(OrgKind.BUREAU, name="开封市民政局", level="city")
    return [create_user("officer", organisation_id=other_city.id), create_user("supplier"),
            create_user("evaluator")]


def add_report(built, *, with_file: bool = True) -> ServiceReport:
    from werkzeug.datastructures import FileStorage

    upload = FileStorage(stream=io.BytesIO(PDF_BYTES), filename="一季度报告.pdf") if with_file else None
    report = delivery.submit_report(built.contract, period_start=date(2027, 1, 1), summary=SUMMARY, upload=upload,
                                    actor=built.supplier, now=AT)
    db.session.commit()
    return report


# --- The NGO's report ----------------------------------------------------------------------------------------------


def test_the_ngo_submits_a_report_with_its_attachment(client, built):
    as_user(client, built.supplier)
    url = f"/contracts/{built.contract.id}/reports/submit"
    page = text(client.get(url + "?period=2027-01-01"))
    assert '<option selected value="2027-01-01">' in page and "2027-04-01" not in page  # the second quarter is not open
    response = client.post(url, data={"csrf_token": csrf_token(client, url), "period": "2027-01-01",
                                      "summary": SUMMARY,
                                      "attachment": (io.BytesIO(PDF_BYTES), "一季度报告.pdf")},
                           content_type="multipart/form-data")
    report = db.session.scalar(sa.select(ServiceReport))
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/contracts/reports/{report.id}")
    assert report.late is False and report.file.original_name == "一季度报告.pdf"
    page = text(client.get(f"/contracts/reports/{report.id}"))
    assert SUMMARY in page and f"/contracts/reports/{report.id}/file" in page
    download = fetch(client, f"/contracts/reports/{report.id}/file")
    assert download.status_code == 200 and download.data == PDF_BYTES
    assert "attachment" in download.headers["Content-Disposition"]
    page = text(client.get(url))
    assert "No reporting period is open" in page


def test_a_report_with_problems_stays_on_the_form(client, built):
    as_user(client, built.supplier)
    url = f"/contracts/{built.contract.id}/reports/submit"
    token = csrf_token(client, url)
    response = client.post(url, data={"csrf_token": token, "period": "2027-01-01", "summary": "已完成。"})
    assert response.status_code == 400 and "at least 20 characters" in text(response)
    response = client.post(url, data={"csrf_token": token, "period": "2027-04-01", "summary": SUMMARY})
    assert response.status_code == 400  # not a period open for submission
    response = client.post(url, data={"period": "2027-01-01", "summary": SUMMARY})  # no CSRF token
    assert response.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(ServiceReport.id))) == 0


def test_only_the_contracted_ngo_reaches_the_report_form(client, built, outsiders, create_user, city_bureau):
    url = f"/contracts/{built.contract.id}/reports/submit"
    for user in [*outsiders, built.officers[0], create_user("officer", organisation_id=city_bureau.id)]:
        as_user(client, user)
        assert client.get(url).status_code == 403, user.role
    as_user(client, None)
    response = client.get(url)
    assert response.status_code == 302 and "/login" in response.headers["Location"]


def test_report_pages_are_for_the_parties_and_the_overseers(client, built, outsiders, create_user, city_bureau):
    report = add_report(built)
    page, file = f"/contracts/reports/{report.id}", f"/contracts/reports/{report.id}/file"
    city_officer = create_user("officer", organisation_id=city_bureau.id)
    for user in (built.supplier, built.officers[0], city_officer, create_user("admin")):
        as_user(client, user)
        assert client.get(page).status_code == 200, user.role
        assert fetch(client, file).status_code == 200, user.role
    for user in outsiders:
        as_user(client, user)
        assert client.get(page).status_code == 403, user.role
        assert fetch(client, file).status_code == 403, user.role
    as_user(client, None)
    assert client.get(page).status_code == 302 and fetch(client, file).status_code == 302


def test_a_report_without_attachment_has_no_file(client, built):
    report = add_report(built, with_file=False)
    as_user(client, built.officers[0])
    response = client.get(f"/contracts/reports/{report.id}/file")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/contracts/reports/{report.id}")
    assert client.get("/contracts/reports/99999").status_code == 404


# --- Termination and completion -------------------------------------------------------------------------------------


def test_the_officer_terminates_with_grounds(client, built):
    as_user(client, built.officers[0])
    url = f"/contracts/{built.contract.id}/terminate"
    page = text(client.get(url))
    assert 'name="grounds"' in page and 'value="breach"' in page
    token = csrf_token(client, url)
    response = client.post(url, data={"csrf_token": token, "cause": "breach", "grounds": "违约。"})
    assert response.status_code == 400 and "at least 20 characters" in text(response)
    assert built.contract.status == ContractStatus.SIGNED
    response = client.post(url, data={"csrf_token": token, "cause": "breach", "grounds": GROUNDS})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/contracts/{built.contract.id}")
    db.session.refresh(built.contract)
    assert built.contract.status == ContractStatus.TERMINATED
    assert delivery.termination_notice(built.contract) is not None
    assert "Only a contract in force" in text(client.get(url))


def test_termination_and_completion_are_for_the_bureaus_officers_only(client, built, outsiders, create_user,
                                                                      city_bureau):
    terminate, complete = f"/contracts/{built.contract.id}/terminate", f"/contracts/{built.contract.id}/complete"
    built.contract.accepted_at = AT
    db.session.commit()
    city_officer = create_user("officer", organisation_id=city_bureau.id)  # oversees, does not manage
    for user in [*outsiders, city_officer, built.supplier, create_user("admin")]:
        as_user(client, user)
        token = csrf_token(client)
        assert client.get(terminate).status_code == 403, user.role
        assert client.post(terminate, data={"csrf_token": token, "cause": "breach",
                                            "grounds": GROUNDS}).status_code == 403, user.role
        assert client.post(complete, data={"csrf_token": token}).status_code == 403, user.role
    as_user(client, None)
    token = csrf_token(client)
    assert client.get(terminate).status_code == 302
    assert client.post(complete, data={"csrf_token": token}).status_code == 302
    db.session.refresh(built.contract)
    assert built.contract.status == ContractStatus.SIGNED


def test_the_officer_completes_after_the_acceptance(client, built):
    as_user(client, built.officers[0])
    url = f"/contracts/{built.contract.id}/complete"
    token = csrf_token(client, f"/contracts/{built.contract.id}/terminate")
    assert client.post(url).status_code == 400  # no CSRF token
    response = client.post(url, data={"csrf_token": token})
    assert response.status_code == 302
    db.session.refresh(built.contract)
    assert built.contract.status == ContractStatus.SIGNED  # refused: no final acceptance yet
    built.contract.accepted_at = AT
    db.session.commit()
    response = client.post(url, data={"csrf_token": token}, follow_redirects=True)
    assert "wait for their payment condition: 2, 3." in response.get_data(as_text=True)  # gates still shut
    db.session.refresh(built.contract)
    assert built.contract.status == ContractStatus.SIGNED
    for installment in built.contract.installments:
        installment.gate_met_at = installment.gate_met_at or AT
    db.session.commit()
    response = client.post(url, data={"csrf_token": token})
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/contracts/{built.contract.id}")
    db.session.refresh(built.contract)
    assert built.contract.status == ContractStatus.COMPLETED


# --- The contract page's panel --------------------------------------------------------------------------------------


def render_panel(app, contract, user) -> str:
    with app.test_request_context():
        if user is not None:
            login_user(user)
        return render_template_string('{% include "contracts/_delivery_panel.html" %}', contract=contract)


def test_the_panel_shows_the_schedule_and_what_each_party_may_do(app, built, city_bureau, create_user):
    contract = built.contract
    submit_link = f"/contracts/{contract.id}/reports/submit?period=2027-01-01"
    html = render_panel(app, contract, built.supplier)
    assert submit_link in html and "2027-04-10" in html and "270 days left" in html
    assert "/terminate" not in html and "/complete" not in html
    html = render_panel(app, contract, built.officers[0])
    assert submit_link not in html and f"/contracts/{contract.id}/terminate" in html
    assert f"/contracts/{contract.id}/complete" not in html and "once its final acceptance" in html
    html = render_panel(app, contract, create_user("officer", organisation_id=city_bureau.id))
    assert "/terminate" not in html and "Service reports" in html
    contract.accepted_at = AT
    db.session.commit()
    assert f"/contracts/{contract.id}/complete" in render_panel(app, contract, built.officers[0])
    report = add_report(built)
    html = render_panel(app, contract, built.supplier)
    assert f"/contracts/reports/{report.id}" in html and submit_link not in html


def test_the_panel_of_a_terminated_multi_year_contract(app, district, create_user, now):
    built = signed_contract(district, create_user, now=now, months=36)
    delivery.record_year_review(built.contract, year_index=1, passed=False, review_ref="review:1", actor=None,
                                now=bj("2027-12-01"))
    delivery.terminate(built.contract, grounds=GROUNDS, cause="failed_review", actor=built.officers[0], now=AT)
    db.session.commit()
    html = render_panel(app, built.contract, built.officers[0])
    notice = delivery.termination_notice(built.contract)
    assert GROUNDS in html and f"/notices/{notice.id}" in html and "review failed" in html
    assert "Year 3: 2029-01-01 to 2029-12-31" in html
    assert "/terminate" not in html and "/reports/submit" not in render_panel(app, built.contract, built.supplier)


def test_the_contract_page_includes_the_panel(client, built):
    as_user(client, built.supplier)
    page = text(client.get(f"/contracts/{built.contract.id}"))
    assert "Service reports" in page and f"/contracts/{built.contract.id}/reports/submit?period=2027-01-01" in page
    as_user(client, built.officers[0])
    assert f"/contracts/{built.contract.id}/terminate" in text(client.get(f"/contracts/{built.contract.id}"))
