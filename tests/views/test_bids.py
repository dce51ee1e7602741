"""Bids and the opening through the web: the deadline to the microsecond, replace and withdraw, refusals,
the seal (nobody sees a price or a file before the opening) and the two-officer opening."""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from portal.audit import AuditEntry
from portal.extensions import db
from portal.tenders.models import Bid, BidStatus, Method, Tender, TenderStatus
from portal.tenders.rules import ONE_MICROSECOND
from tests.conftest import csrf_token, login
from tests.files_support import DOCX_BYTES
from tests.tender_factories import (
    CANARY_PRICE,
    CANARY_TEXT,
    make_published_tender,
    pdf_with,
    submit,
)

CANARIES = ("98765.43", "98,765.43", CANARY_TEXT)


@pytest.fixture(autouse=True)
def request_context(app):
    """Bids made straight through the services build their notification links with url_for."""
    with app.test_request_context():
        yield


@pytest.fixture(autouse=True)
def clock(now):
    """Every request of a test runs on a frozen clock that only moves forward: a session cookie signed
    "in the future" would be refused on the way back."""
    with time_machine.travel(now, tick=False) as traveller:
        yield traveller


@pytest.fixture
def deadline(now):
    return now + timedelta(hours=2, microseconds=250000)  # within the 8-hour session lifetime


@pytest.fixture
def tender(city_bureau, deadline):
    return make_published_tender(city_bureau, deadline=deadline, ceiling=Decimal("450000.00"))


@pytest.fixture
def suppliers(create_user):
    return [create_user("supplier", locale="en") for _ in range(4)]


def _client(app, user=None):
    client = app.test_client()
    if user is not None:
        assert login(client, user.username).status_code == 302
    return client


def _post_bid(client, tender_id, price="400000.00", *, text="技术方案", declare=True):
    data = {"csrf_token": csrf_token(client, "/notices"), "price": price,
            "technical": (io.BytesIO(pdf_with(text)), "技术方案.pdf"),
            "qualification": (io.BytesIO(DOCX_BYTES), "资格证明.docx")}
    if declare:
        data |= {"meets_requirements": "y", "no_collusion": "y"}
    return client.post(f"/tenders/{tender_id}/bid", data=data, content_type="multipart/form-data")


def _post(client, url):
    return client.post(url, data={"csrf_token": csrf_token(client, "/notices")})


def _bids(tender_id) -> list[Bid]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Bid).where(Bid.tender_id == tender_id).order_by(Bid.id)))


def _refusals(action: str) -> int:
    return db.session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == action))


def _text(response) -> str:
    text = response.get_data(as_text=True) if response.mimetype.startswith("text") else ""
    response.close()
    return text


# --- Submitting --------------------------------------------------------------------------------------------


def test_bid_one_microsecond_before_the_deadline_is_accepted(app, tender, suppliers, deadline, clock):
    client = _client(app, suppliers[0])
    clock.move_to(deadline - ONE_MICROSECOND)
    response = _post_bid(client, tender.id)
    assert response.status_code == 302, _text(response)
    [bid] = _bids(tender.id)
    assert bid.received_at == deadline - ONE_MICROSECOND and bid.status == BidStatus.SUBMITTED
    page = _text(client.get(f"/tenders/{tender.id}/bid"))
    assert bid.receipt_sha256 in page and bid.files[0].plain_sha256 in page
    assert bid.received_at.isoformat(timespec="microseconds") in page
    receipt = client.get(f"/bids/{bid.id}/receipt.pdf")
    assert receipt.status_code == 200 and receipt.mimetype == "application/pdf"
    assert receipt.headers["Content-Disposition"].startswith("attachment") and receipt.data.startswith(b"%PDF")


def test_bid_at_the_deadline_is_refused_with_a_clear_message(app, tender, suppliers, deadline, clock):
    client = _client(app, suppliers[0])
    clock.move_to(deadline)
    response = _post_bid(client, tender.id)
    page = _text(client.get(f"/tenders/{tender.id}/bid"))
    assert response.status_code == 409
    assert "The bid deadline passed" in _text(response)
    assert _bids(tender.id) == [] and _refusals("bid.submit_refused") == 1
    assert "The bid deadline passed" in page and 'name="technical"' not in page


def test_replace_and_withdraw_and_both_refused_at_the_deadline(app, tender, suppliers, deadline, clock):
    client = _client(app, suppliers[0])
    assert _post_bid(client, tender.id, "300000.00").status_code == 302
    assert _post_bid(client, tender.id, "310000.00").status_code == 302
    assert [b.status for b in _bids(tender.id)] == [BidStatus.REPLACED, BidStatus.SUBMITTED]
    assert _post(client, f"/tenders/{tender.id}/bid/withdraw").status_code == 302
    assert _bids(tender.id)[-1].status == BidStatus.WITHDRAWN
    assert _post_bid(client, tender.id, "320000.00").status_code == 302
    clock.move_to(deadline)
    assert _post_bid(client, tender.id, "330000.00").status_code == 409
    response = _post(client, f"/tenders/{tender.id}/bid/withdraw")
    assert response.status_code == 302
    assert "The bid deadline passed" in _text(client.get(response.location))
    statuses = [b.status for b in _bids(tender.id)]
    assert statuses == [BidStatus.REPLACED, BidStatus.WITHDRAWN, BidStatus.SUBMITTED]
    assert _refusals("bid.submit_refused") == 1 and _refusals("bid.withdraw_refused") == 1


@pytest.mark.parametrize("price", ["1e5", "-100", "100.123", "NaN", "", "abc"])
def test_malformed_prices_are_refused(app, tender, suppliers, price):
    client = _client(app, suppliers[0])
    response = _post_bid(client, tender.id, price)
    assert response.status_code == 400
    assert "at most two decimals" in _text(response) or "Enter your price" in _text(response)
    assert _bids(tender.id) == []


def test_price_above_the_ceiling_is_refused(app, tender, suppliers):
    client = _client(app, suppliers[0])
    response = _post_bid(client, tender.id, "450000.01")
    assert response.status_code == 400 and "450000.00" in _text(response)
    assert _bids(tender.id) == []


def test_declarations_and_files_are_required(app, tender, suppliers):
    client = _client(app, suppliers[0])
    response = _post_bid(client, tender.id, declare=False)
    assert response.status_code == 400 and "declaration" in _text(response)
    response = client.post(f"/tenders/{tender.id}/bid", content_type="multipart/form-data", data={
        "csrf_token": csrf_token(client, "/notices"), "price": "1000", "meets_requirements": "y", "no_collusion": "y"})
    assert response.status_code == 400
    assert _bids(tender.id) == []


def test_uninvited_supplier_is_told_and_refused(app, city_bureau, suppliers, deadline):
    tender = make_published_tender(city_bureau, method=Method.INVITED, deadline=deadline,
                                   invited=[s.organisation for s in suppliers[:3]])
    client = _client(app, suppliers[3])
    page = _text(client.get(f"/tenders/{tender.id}/bid"))
    assert "not invited" in page and 'name="technical"' not in page
    response = _post_bid(client, tender.id)
    assert response.status_code == 403 and "not invited" in _text(response)
    assert _bids(tender.id) == [] and _refusals("bid.submit_refused") == 1
    assert _post_bid(_client(app, suppliers[0]), tender.id).status_code == 302


def test_debarred_supplier_is_refused(app, tender, suppliers):
    organisation = suppliers[0].organisation
    organisation.debarred_until = (tender.bid_deadline + timedelta(days=365)).date()
    db.session.commit()
    response = _post_bid(_client(app, suppliers[0]), tender.id)
    assert response.status_code == 403 and "barred" in _text(response)
    assert _bids(tender.id) == []


# --- The seal ----------------------------------------------------------------------------------------------------


def test_before_opening_nobody_sees_a_price_or_a_file(app, tender, suppliers, create_user):
    bid = submit(tender, suppliers[0], CANARY_PRICE, now=tender.bid_deadline - timedelta(minutes=30),
                 text=CANARY_TEXT)
    bid_id, file_ids = bid.id, [f.id for f in bid.files]
    principals = {"anonymous": None, "owner": suppliers[0], "other supplier": suppliers[1],
                  "officer": create_user("officer", locale="en"), "evaluator": create_user("evaluator"),
                  "admin": create_user("admin", locale="en")}
    pages = [f"/tenders/{tender.id}", f"/tenders/{tender.id}/bid", f"/tenders/{tender.id}/bids",
             f"/tenders/{tender.id}/opening", f"/tenders/{tender.id}/opening.pdf", f"/bids/{bid_id}/receipt.pdf",
             "/notices", "/inbox", "/admin/audit", "/dashboard"]
    sealed = [f"/bids/{bid_id}/files/{file_id}" for file_id in file_ids]
    for name, user in principals.items():
        client = _client(app, user)
        for url in pages + sealed:
            response = client.get(url)
            body = response.get_data()
            response.close()
            for canary in CANARIES:
                assert canary.encode() not in body, f"{name} saw {canary} at {url}"
            if url in sealed or (url.endswith("receipt.pdf") and name != "owner"):
                if user is None:
                    assert response.status_code == 302 and "/login" in response.location, (name, url)
                else:
                    assert response.status_code in (403, 404), (name, url)
        if name in ("officer", "admin"):
            page = _text(client.get(f"/tenders/{tender.id}/bids"))
            assert "Sealed bids received: 1" in page
            assert suppliers[0].organisation.name not in page


# --- Opening -----------------------------------------------------------------------------------------------------


def test_two_officers_open_and_everyone_allowed_sees_the_record(app, tender, suppliers, create_user, clock):
    before = tender.bid_deadline - timedelta(minutes=30)
    prices = [Decimal("400000.00"), Decimal("380000.50"), CANARY_PRICE]
    bids = [submit(tender, user, price, now=before, text=f"{CANARY_TEXT}-{i}")
            for i, (user, price) in enumerate(zip(suppliers, prices, strict=False))]
    receipts = {b.supplier.name: b.receipt_sha256 for b in bids}
    first, second = create_user("officer", locale="en"), create_user("officer", locale="en")
    first_client, second_client = _client(app, first), _client(app, second)
    clock.move_to(tender.bid_deadline + timedelta(minutes=1))
    assert _post(first_client, f"/tenders/{tender.id}/opening/start").status_code == 302
    response = _post(first_client, f"/tenders/{tender.id}/opening/confirm")
    assert "different officer" in _text(first_client.get(response.location))
    assert all(b.opened_price is None for b in _bids(tender.id))
    assert _refusals("tender.opening_confirm_refused") == 1
    assert _post(second_client, f"/tenders/{tender.id}/opening/confirm").status_code == 302
    db.session.expire_all()
    assert db.session.get(Tender, tender.id).status == TenderStatus.OPENED

    bidder = _client(app, suppliers[0])
    page = _text(bidder.get(f"/tenders/{tender.id}/opening"))
    for (name, receipt), price in zip(receipts.items(), ["¥400,000.00", "¥380,000.50", "¥98,765.43"], strict=True):
        assert name in page and receipt in page and price in page
    record = bidder.get(f"/tenders/{tender.id}/opening.pdf")
    assert record.status_code == 200 and record.data.startswith(b"%PDF")
    record.close()

    own, other = bids[0].files[0].id, bids[1].files[0].id
    download = bidder.get(f"/bids/{bids[0].id}/files/{own}")
    assert download.status_code == 200 and f"{CANARY_TEXT}-0".encode() in download.data
    assert download.mimetype == "application/pdf" and download.headers["Content-Disposition"].startswith("attachment")
    download.close()
    assert bidder.get(f"/bids/{bids[1].id}/files/{other}").status_code == 403
    assert bidder.get(f"/bids/{bids[0].id}/files/{other}").status_code == 404

    listing = _text(second_client.get(f"/tenders/{tender.id}/bids"))
    assert "¥98,765.43" in listing and suppliers[2].organisation.name in listing
    officer_download = second_client.get(f"/bids/{bids[2].id}/files/{bids[2].files[0].id}")
    assert officer_download.status_code == 200 and f"{CANARY_TEXT}-2".encode() in officer_download.data
    officer_download.close()

    assert _client(app, suppliers[3]).get(f"/tenders/{tender.id}/opening").status_code == 403
    evaluator = _client(app, create_user("evaluator"))
    assert evaluator.get(f"/bids/{bids[2].id}/files/{bids[2].files[0].id}").status_code == 403
    assert evaluator.get(f"/tenders/{tender.id}/opening").status_code == 403


def test_fewer_than_three_bids_fail_the_tender(app, tender, suppliers, create_user, clock):
    before = tender.bid_deadline - timedelta(minutes=30)
    for user in suppliers[:2]:
        submit(tender, user, now=before)
    officer = create_user("officer", locale="en")
    client = _client(app, officer)
    clock.move_to(tender.bid_deadline)
    response = _post(client, f"/tenders/{tender.id}/opening/start")
    page = _text(client.get(response.location))
    assert "the tender has failed" in page and f"/tenders/{tender.id}" in page
    db.session.expire_all()
    assert db.session.get(Tender, tender.id).status == TenderStatus.FAILED
    bidder_page = _text(_client(app, suppliers[0]).get(f"/tenders/{tender.id}/opening"))
    assert "废标" in bidder_page and "¥" not in bidder_page.split("<main", 1)[1]


def test_opening_actions_are_for_officers_of_the_bureau(app, tender, suppliers, create_user, create_org, city_bureau,
                                                        clock):
    from portal.accounts.models import OrgKind

    district = create_org(OrgKind.BUREAU, name="二七区民政局", level="district", parent_id=city_bureau.id)
    outsider = _client(app, create_user("officer", organisation_id=district.id))
    clock.move_to(tender.bid_deadline)
    assert _post(outsider, f"/tenders/{tender.id}/opening/start").status_code == 403
    assert _post(_client(app, suppliers[0]), f"/tenders/{tender.id}/opening/start").status_code == 403
    assert _post(_client(app, create_user("admin")), f"/tenders/{tender.id}/opening/start").status_code == 403
    assert outsider.get(f"/tenders/{tender.id}/bids").status_code == 403
    assert db.session.get(Tender, tender.id).opening_started_at is None
