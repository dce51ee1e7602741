"""The seal, proven with a canary: a bid's price and file are nowhere to be seen or found before the opening.

NGO X submits a bid through the web form with a canary price and a canary string in its proposal and the file's
name. Until two officers open the bids, no rendering of either (digits, thousands separators, the integer part,
the price in capital Chinese numerals from the portal's own formatter) appears in any response of any route to any
principal, the bidder included (DESIGN.md: nobody sees a price or a file before the opening; the bidder's receipt
holds the time and the SHA-256, not the price), nor in any column of any table, in the SQLite file's bytes, or in
any file under the instance folder (uploads). The file's name is shown to the bidder alone. After the opening
the price is on the opening record.
"""

from __future__ import annotations

import io
import re
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

import sqlalchemy as sa
import time_machine

from portal.extensions import db
from portal.pdf import rmb_upper
from portal.tenders.models import BidFileKind
from tests.conftest import csrf_token
from tests.files_support import DOCX_BYTES
from tests.security.world import PRINCIPALS, readable
from tests.support.sqlite_files import database_bytes
from tests.tender_factories import make_published_tender, pdf_with, submit

CANARY_PRICE = "987654.32"
CANARY_TEXT = "SEALCANARY-7731-ZETA"  # ASCII, so JSON's \\u escapes cannot hide it
# Each rendering of the sealed data; the bare integer only where no other digit or letter touches it (a hex hash or
# a token may hold the six digits by chance).
RENDERINGS = [re.escape(x) for x in (CANARY_PRICE, "987,654.32", "987,654", rmb_upper(CANARY_PRICE),
                                     rmb_upper(CANARY_PRICE).removeprefix("人民币"), CANARY_TEXT)]
RENDERINGS.append(r"(?<![0-9A-Za-z])987654(?![0-9])")
SEALED = re.compile("|".join(RENDERINGS))
# The file's name is the bidder's label, kept in the clear to show the bidder what it sealed (its receipt page):
# no one else may see it before the opening.
NAME_CANARY = "NAMECANARY-4410"


def _bid_through_the_form(client, tender_id):
    data = {"csrf_token": csrf_token(client, "/notices"), "price": CANARY_PRICE,
            "technical": (io.BytesIO(pdf_with(f"服务方案 {CANARY_TEXT}")), f"方案-{NAME_CANARY}.pdf"),
            "qualification": (io.BytesIO(DOCX_BYTES), "资格证明.docx"), "meets_requirements": "y", "no_collusion": "y"}
    response = client.post(f"/tenders/{tender_id}/bid", data=data, content_type="multipart/form-data")
    assert response.status_code == 302, response.get_data(as_text=True)
    return response


def _canary_tender(world, create_user, now):
    """A tender of bureau A taking bids until two hours after ``now``, with two other bids sealed already."""
    tender = make_published_tender(world.users["officer_a"].organisation, deadline=now + timedelta(hours=2),
                                   budget=Decimal("1200000.00"))
    for user, price in ((world.users["ngo_y"], "990000.00"), (create_user("supplier"), "1010000.00")):
        submit(tender, user, price, now=now)
    return tender


def _seen_in_responses(app, world, args) -> list[str]:
    urls = [url for rule, url in world.routes(app, args) if "GET" in rule.methods]
    seen = []
    for principal in PRINCIPALS:
        client = world.client(app, principal)
        for url in urls:
            response = client.get(url)
            text = readable(response)
            response.close()
            match = SEALED.search(text)
            if match:
                seen.append(f"{principal} saw {match.group()!r} at {url}")
            if principal != "ngo_x" and NAME_CANARY in text:
                seen.append(f"{principal} saw the sealed file's name at {url}")
    return seen


def _seen_in_database() -> list[str]:
    tables = sa.MetaData()
    tables.reflect(bind=db.engine)
    seen = []
    for table in tables.tables.values():
        for row in db.session.execute(table.select()):
            for column, value in zip(table.columns, row, strict=True):
                text = value.decode("latin-1") if isinstance(value, bytes) else str(value)
                if SEALED.search(text):
                    seen.append(f"{table.name}.{column.name}")
    if db.engine.dialect.name == "sqlite" and SEALED.search(
            database_bytes(db.engine.url.database).decode("latin-1")):
        seen.append("the bytes of the database file or its write-ahead log")
    return seen


def _seen_in_files(app) -> list[str]:
    return [str(path) for path in Path(app.instance_path).rglob("*")
            if path.is_file() and SEALED.search(path.read_bytes().decode("latin-1"))]


def test_canary_bid_is_sealed_everywhere_until_two_officers_open_it(app, security_world, create_user, now):
    world = security_world
    with time_machine.travel(now, tick=False) as clock:
        tender = _canary_tender(world, create_user, now)
        bidder = world.client(app, "ngo_x")
        receipt_page = bidder.get(_bid_through_the_form(bidder, tender.id).location)
        page = readable(receipt_page)
        assert not SEALED.search(page) and NAME_CANARY in page
        db.session.expire_all()
        bid = next(b for b in tender.bids if b.supplier_id == world.users["ngo_x"].organisation_id)
        proposal = next(f for f in bid.files if f.kind == BidFileKind.TECHNICAL)
        args = world.args | {"tender_id": tender.id, "bid_id": bid.id, "file_id": proposal.id}
        assert _seen_in_responses(app, world, args) == []
        assert _seen_in_database() == []
        assert _seen_in_files(app) == []

        clock.move_to(tender.bid_deadline + timedelta(minutes=1))
        first, second = world.client(app, "officer_a"), world.client(app, "city_officer")
        for client, step in ((first, "start"), (second, "confirm")):
            token = csrf_token(client, "/notices")
            assert client.post(f"/tenders/{tender.id}/opening/{step}", data={"csrf_token": token}).status_code == 302
        record = first.get(f"/tenders/{tender.id}/opening").get_data(as_text=True)
        assert "987,654.32" in record and world.users["ngo_x"].organisation.name in record
        record_pdf = first.get(f"/tenders/{tender.id}/opening.pdf")
        assert CANARY_PRICE in readable(record_pdf).replace(",", "")
        record_pdf.close()
        assert "bids.opened_price" in _seen_in_database()  # the dump finds the price once it is opened
        download = bidder.get(f"/bids/{bid.id}/files/{proposal.id}")
        assert download.status_code == 200 and CANARY_TEXT.encode() in download.data
        download.close()
