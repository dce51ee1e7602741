"""Nothing private reaches anonymous users: the board, every notice and its PDF, the feed, OCDS, statistics.

The demo seed publishes every kind of notice through the real services (tenders, invitations, single source,
corrections, failure, results, contracts, commendations, funding) with a tender still taking sealed bids and a
committee at work before its result. On top of it the test seals one more bid with a known price, writes personal
data of service users (name, ID number, phone) into the service reports, satisfaction surveys and evidence notes,
and signs in from a distinctive address so that the audit log holds it. Then, as anonymous, every public page,
PDF, feed entry and OCDS release is read: none may hold the sealed price, a sitting committee's member names
before the result notice, the service users' data, audit addresses, password hashes or users' e-mail addresses.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, time, timedelta

import sqlalchemy as sa
from flask import current_app

from portal.accounts.models import User
from portal.calendar import load_calendar
from portal.contracts import delivery
from portal.contracts.models import Contract, ContractStatus, ServiceReport
from portal.db import utcnow
from portal.evaluation.models import Committee
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from portal.reviews.models import Evidence, SatisfactionSurvey
from portal.tenders import bidding
from portal.tenders import services as tender_services
from portal.tenders.models import Tender, TenderStatus
from tests.conftest import login
from tests.security.world import readable
from tests.tender_factories import submission

SEALED_PRICE = "456789.12"
SEALED = re.compile(r"456,?789\.12|(?<![0-9A-Za-z])456,?789(?![0-9])")
SERVICE_USER = "服务对象王小明，身份证号410102199001011234，联系电话13912345678"
PERSONAL = ("王小明", "410102199001011234", "13912345678")
AUDIT_ADDRESS = "203.0.113.77"  # TEST-NET-3: only the audit log can have it


def _seed_with_private_data(app) -> None:
    assert app.test_cli_runner().invoke(args=["seed-demo"]).exit_code == 0
    tender = db.session.scalar(sa.select(Tender).where(Tender.status == TenderStatus.PUBLISHED,
                                                       Tender.method == "open").order_by(Tender.id))
    bidder = db.session.scalar(sa.select(User).where(User.username == "ngo3"))
    with current_app.test_request_context():
        at = utcnow()
        bidding.submit_bid(tender, submission(SEALED_PRICE), actor=bidder, now=at)
        officer = db.session.scalar(sa.select(User).where(User.username == "officer"))
        tender_services.publish_clarification(tender, "服务地点补充说明：含林山寨街道全部社区。", question_ids=[],
                                              affects_bids=False, expected_deadline=tender.bid_deadline,
                                              calendar=load_calendar(), actor=officer, now=at)
    _report_on_a_signed_contract()
    for column in (ServiceReport.summary, SatisfactionSurvey.title, SatisfactionSurvey.method, Evidence.note):
        changed = db.session.execute(sa.update(column.class_).values({column.key: column + SERVICE_USER}))
        assert changed.rowcount > 0, f"the seed has no {column}"
    db.session.commit()
    client = app.test_client()
    client.environ_base["REMOTE_ADDR"] = AUDIT_ADDRESS
    assert login(client, "officer", "Demo@2026").status_code == 302


def _report_on_a_signed_contract() -> None:
    """A quarterly service report of the seed's first signed contract, through the delivery service."""
    contract = db.session.scalar(sa.select(Contract).where(Contract.status == ContractStatus.SIGNED)
                                 .order_by(Contract.id))
    author = db.session.scalar(sa.select(User).where(User.organisation_id == contract.supplier_id))
    at = datetime.combine(contract.start_date + timedelta(days=120), time(10), tzinfo=UTC)
    with current_app.test_request_context():
        delivery.submit_report(contract, period_start=contract.start_date, actor=author, now=at,
                               summary="本季度开展入户探访126人次、个案服务18个、小组活动6节。")


def _public_urls() -> list[str]:
    notices = db.session.scalars(sa.select(Notice)).all()
    assert {n.kind for n in notices} == set(NoticeKind), "the seed no longer publishes every kind of notice"
    urls = ["/", "/notices", "/notices.atom", "/ocds/releases.json", "/statistics", "/audit-anchors",
            "/assessment/public/commendations"]
    urls += [f"/notices?kind={kind}" for kind in NoticeKind]
    urls += [u for n in notices for u in (f"/notices/{n.id}", f"/notices/{n.id}.pdf")]
    return urls + [f"/tenders/{t.id}" for t in db.session.scalars(sa.select(Tender).where(
        Tender.status != TenderStatus.DRAFT))]


def _sitting_members() -> dict[int, set[str]]:
    """The names of each committee's members, by tender, for tenders whose result is not yet published."""
    published = set(db.session.scalars(sa.select(Notice.tender_id).where(Notice.kind == NoticeKind.RESULT)))
    committees = db.session.scalars(sa.select(Committee)).all()
    sitting = {c.tender_id: {m.user.name for m in c.members} for c in committees if c.tender_id not in published}
    assert sitting, "the seed has no committee at work"
    return sitting


def _private_strings() -> list[str]:
    users = db.session.scalars(sa.select(User)).all()
    return [*PERSONAL, AUDIT_ADDRESS, "$argon2"] + [u.email for u in users if u.email]


def _read(client, url: str) -> tuple[int, str]:
    response = client.get(url)
    try:
        return response.status_code, readable(response)
    finally:
        response.close()


def _leaks(where: str, text: str, private: list[str]) -> list[str]:
    found = [f"{where}: {p}" for p in private if p in text]
    match = SEALED.search(text)
    return found + ([f"{where}: sealed price {match.group()}"] if match else [])


def test_anonymous_sees_nothing_private_on_any_public_page(app, client):
    _seed_with_private_data(app)
    urls = _public_urls()
    sitting = _sitting_members()
    private = _private_strings()
    leaks = []
    ocids = []
    for url in urls:
        status, text = _read(client, url)
        assert status == 200, url
        if url == "/ocds/releases.json":
            ocids = sorted({r["ocid"] for r in json.loads(text)["releases"]})
        leaks += _leaks(url, text, private)
    for tender_id, names in sitting.items():
        pages = [f"/tenders/{tender_id}"] + [f"/notices/{n.id}" for n in db.session.scalars(
            sa.select(Notice).where(Notice.tender_id == tender_id))]
        for url in pages:
            text = _read(client, url)[1]
            leaks += [f"{url}: expert {name}" for name in names if name in text]
    assert ocids
    for ocid in ocids:
        text = _read(client, f"/ocds/{ocid}.json")[1]
        leaks += _leaks(ocid, text, private)
    assert not leaks, "\n".join(leaks)
