"""The benchmark generator at a tiny scale: it stops after whole chunks and resumes where it stopped, its rows
satisfy the schema's constraints (inserted on SQLite and PostgreSQL alike), the audit chain still verifies, the
OCDS package is valid, and the pages the benchmark measures answer 200 on the generated data."""

from __future__ import annotations

import sqlalchemy as sa

from bench.generate import SCALES, generate, tenders_done
from bench.tenders import BIDS, SHOWCASE, SHOWCASE_BIDS, SHOWCASE_CRITERIA, SHOWCASE_EXPERTS
from portal.audit import verify_chain
from portal.contracts.models import Contract
from portal.evaluation.models import Award, Score
from portal.extensions import db
from portal.tenders.models import Bid, Tender
from tests.conftest import login
from tests.services.test_ocds import assert_valid
from tests.support.web import fetch

TINY = SCALES["tiny"]


def count(model, *where) -> int:
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def test_generator_stops_after_whole_chunks_and_resumes(app, client):
    first = generate(TINY, demo=False, max_chunks=1, progress=False)
    assert (first.before, first.written) == (0, TINY.chunk)
    assert tenders_done() == TINY.chunk
    rest = generate(TINY, demo=False, progress=False)
    assert (rest.before, rest.written) == (TINY.chunk, TINY.tenders - TINY.chunk)
    assert generate(TINY, demo=False, progress=False).written == 0
    bench = Tender.reference.like("BM-0%")
    assert count(Tender, bench) == TINY.tenders
    assert count(Bid, Bid.tender_id.in_(sa.select(Tender.id).where(bench))) == TINY.tenders * BIDS
    assert count(Award) == count(Contract) == TINY.tenders // 2  # digits 0-4 of every ten are awarded
    showcase = db.session.scalar(sa.select(Tender).where(Tender.reference == SHOWCASE))
    showcase_scores = count(Score, Score.bid_id.in_(sa.select(Bid.id).where(Bid.tender_id == showcase.id)))
    assert showcase_scores == SHOWCASE_BIDS * SHOWCASE_EXPERTS * SHOWCASE_CRITERIA
    report = verify_chain()
    assert report.ok, report.reason

    contract = db.session.scalar(sa.select(Contract).order_by(Contract.id))
    awarded = db.session.scalar(sa.select(Tender).where(Tender.reference == "BM-0000000"))
    open_tender = db.session.scalar(sa.select(Tender).where(Tender.reference == "BM-0000005"))
    assert login(client, "bench_officer_1_1", "Demo@2026").status_code == 302
    pages = ["/notices?q=关爱", f"/tenders/{awarded.id}", f"/tenders/{open_tender.id}", "/dashboard",
             f"/tenders/{showcase.id}/evaluation", f"/tenders/{awarded.id}/evaluation", f"/tenders/{awarded.id}/award",
             f"/contracts/{contract.id}", "/ocds/releases.json", "/tenders", "/contracts"]
    for url in pages:
        assert fetch(client, url).status_code == 200, url
    assert_valid(client.get("/ocds/releases.json").get_json())
