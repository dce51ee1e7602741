"""The Excel export pages (issue 9, item 3): the list of registers, each download for officers and admin only, the
rows of the signed-in officer's bureaus, and a fixed number of queries however many rows there are."""

from __future__ import annotations

import pytest

from portal.extensions import db
from portal.files import XLSX
from portal.public.exports import REGISTERS
from tests.contract_builders import signed_contract
from tests.export_builders import OPENED_PRICE, column, opened_tender, rows_of, world
from tests.review_builders import planned_review
from tests.support.queries import queries_for
from tests.support.web import as_user, fetch, text
from tests.tender_factories import CANARY_PRICE

pytestmark = pytest.mark.usefixtures("english_messages")

URLS = [f"/exports/{key}.xlsx" for key in REGISTERS]


@pytest.fixture
def w(city_bureau, create_org, create_user, now):
    return world(city_bureau, create_org, create_user, now=now)


def test_the_page_lists_every_register_for_an_officer(client, w):
    w.officers["east"].locale = "en"
    db.session.commit()
    as_user(client, w.officers["east"])
    assert 'href="/exports"' in text(client.get("/dashboard"))  # the officer's dashboard links to the page
    page = text(client.get("/exports"))
    for url in URLS:
        assert url in page
    assert "Excel exports of the registers" in page


@pytest.mark.parametrize("url", URLS)
def test_each_workbook_opens_with_chinese_headers(client, w, url):
    as_user(client, w.officers["city"])
    response = client.get(url)
    assert response.status_code == 200
    assert response.mimetype == XLSX.mime
    assert "attachment" in response.headers["Content-Disposition"]
    headers = rows_of(response.get_data())[0]
    response.close()
    assert all(any("\u4e00" <= ch <= "\u9fff" for ch in h) for h in headers), headers


def test_a_district_officer_downloads_only_its_own_rows(client, w):
    as_user(client, w.officers["east"])
    response = client.get("/exports/contracts.xlsx")
    contracts = column(response.get_data(), "合同编号")
    response.close()
    assert contracts == [w.contracts["east"].contract.reference]
    response = client.get("/exports/bids.xlsx")
    data = response.get_data()
    response.close()
    assert column(data, "项目编号") == [w.opened_tender.reference]
    assert column(data, "开标报价（元）") == [float(OPENED_PRICE)]
    assert w.sealed_tender.reference.encode() not in data and str(CANARY_PRICE).encode() not in data
    as_user(client, w.officers["west"])
    response = client.get("/exports/bids.xlsx")
    assert rows_of(response.get_data())[1:] == []
    response.close()


@pytest.mark.parametrize("role", ["supplier", "evaluator"])
def test_suppliers_and_evaluators_are_refused(client, create_user, role):
    as_user(client, create_user(role))
    for url in ["/exports", *URLS]:
        assert fetch(client, url).status_code == 403, url


def test_anonymous_is_sent_to_sign_in(client):
    for url in ["/exports", *URLS]:
        response = fetch(client, url)
        assert response.status_code == 302 and "/login" in response.location, url


def test_queries_do_not_grow_with_rows(client, w, create_user, now):
    east, supplier = w.east, w.supplier
    as_user(client, w.officers["city"])
    before = {url: queries_for(client, url) for url in URLS}
    for _ in range(2):
        built = signed_contract(east, create_user, now=now)
        planned_review(east, create_user, now=now, on=built)
        opened_tender(east, supplier, now=now, title="又一个已开标的采购")
    as_user(client, w.officers["city"])
    after = {url: queries_for(client, url) for url in URLS}
    assert after == before
