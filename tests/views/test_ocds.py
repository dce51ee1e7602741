"""The public OCDS endpoints: the paged release package with ``since`` and one process's releases."""

from __future__ import annotations

from datetime import timedelta

import pytest

from portal.extensions import db
from portal.public import ocds
from portal.tenders.models import TenderStatus
from tests.services.test_ocds import assert_valid
from tests.tender_factories import CANARY_PRICE, make_published_tender, submit

pytestmark = pytest.mark.usefixtures("english_messages")


def test_release_package_is_public_and_valid(client, now, city_bureau, create_user):
    tender = make_published_tender(city_bureau, deadline=now + timedelta(days=3))
    submit(tender, create_user("supplier"), CANARY_PRICE, now=now)
    response = client.get("/ocds/releases.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    data = response.get_json()
    assert_valid(data)
    assert [r["ocid"] for r in data["releases"]] == [ocds.ocid_for(tender)]
    assert "links" not in data
    assert str(CANARY_PRICE) not in response.get_data(as_text=True)


def test_paging_and_since(client, now, city_bureau, monkeypatch):
    monkeypatch.setattr(ocds, "PAGE_PROCESSES", 2)
    tenders = [make_published_tender(city_bureau, deadline=now + timedelta(days=3),
                                     published_at=now - timedelta(days=10 - i)) for i in range(5)]
    first = client.get("/ocds/releases.json").get_json()
    assert_valid(first)
    assert [r["ocid"] for r in first["releases"]] == [ocds.ocid_for(t) for t in tenders[:2]]
    second = client.get(first["links"]["next"]).get_json()
    assert [r["ocid"] for r in second["releases"]] == [ocds.ocid_for(t) for t in tenders[2:4]]
    third = client.get(second["links"]["next"]).get_json()
    assert [r["ocid"] for r in third["releases"]] == [ocds.ocid_for(tenders[4])]
    assert "links" not in third
    assert client.get("/ocds/releases.json?page=4").status_code == 404
    since = (now - timedelta(days=7, hours=1)).isoformat()
    page = client.get("/ocds/releases.json", query_string={"since": since}).get_json()
    assert [r["ocid"] for r in page["releases"]] == [ocds.ocid_for(t) for t in tenders[3:5]]
    assert "links" not in page
    assert client.get("/ocds/releases.json?since=yesterday").status_code == 400


def test_one_process(client, now, city_bureau):
    tender = make_published_tender(city_bureau, deadline=now + timedelta(days=3))
    tender.status, tender.cancelled_at = TenderStatus.CANCELLED, now
    db.session.commit()
    data = client.get(f"/ocds/{ocds.ocid_for(tender)}.json").get_json()
    assert_valid(data)
    assert [r["tag"] for r in data["releases"]] == [["tender"], ["tenderCancellation"]]
    assert client.get(f"/ocds/ocds-other-{tender.reference}.json").status_code == 404
    assert client.get("/ocds/ocds-portal-NOPE.json").status_code == 404


def test_draft_process_is_404(client, now, city_bureau):
    tender = make_published_tender(city_bureau, deadline=now + timedelta(days=3))
    tender.status, tender.published_at = TenderStatus.DRAFT, None
    db.session.commit()
    assert client.get(f"/ocds/{ocds.ocid_for(tender)}.json").status_code == 404
