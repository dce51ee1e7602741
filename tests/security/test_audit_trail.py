"""The audit trail through the web: what each request leaves in the chain, and that the chain catches tampering.

DESIGN.md: every state change and every refused access writes one row. So a state-changing request that succeeds
leaves one row per subject it changed, by the requester: a bid's submission and the opening's start one row each;
the confirmed opening two, the sealing key's authorisation and the tender's opening (two subjects, both named
here). A refused request (403, or a rule of the service) leaves exactly one row, the refusal, and changes nothing
else; a validation error and a GET leave none.
At the end the chain verifies, and editing one row breaks it.
"""

from __future__ import annotations

import io
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
import time_machine

from portal.accounts.models import OrgKind
from portal.audit import AuditEntry, verify_chain
from portal.extensions import db
from tests.conftest import csrf_token, login
from tests.files_support import DOCX_BYTES
from tests.tender_factories import make_published_tender, pdf_with


def _last_seq() -> int:
    return db.session.scalar(sa.select(sa.func.coalesce(sa.func.max(AuditEntry.seq), 0)))


class Trail:
    """Requests of signed-in users, each with the audit rows it left."""

    def __init__(self, app):
        self.app = app
        self.clients = {}

    def client(self, user):
        if user.id not in self.clients:
            client = self.app.test_client()
            assert login(client, user.username).status_code == 302
            self.clients[user.id] = client
        return self.clients[user.id]

    def request(self, user, method: str, url: str, **data):
        """(response, rows) of one request by ``user``; a POST carries a valid CSRF token."""
        client = self.client(user)
        if method == "POST":
            data["csrf_token"] = csrf_token(client, "/notices")
        before = _last_seq()
        response = client.open(url, method=method, data=data, content_type="multipart/form-data")
        response.close()
        db.session.expire_all()
        rows = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.seq > before).order_by(AuditEntry.seq))
        return response, list(rows)


def _bid(price: str, *, declare: bool = True) -> dict:
    data = {"price": price, "technical": (io.BytesIO(pdf_with("技术方案")), "技术方案.pdf"),
            "qualification": (io.BytesIO(DOCX_BYTES), "资格证明.docx")}
    return data | ({"meets_requirements": "y", "no_collusion": "y"} if declare else {})


def _succeeded(response, rows, user, *actions: str) -> None:
    """The request redirected (success) and left one row per changed subject, in order, all by ``user``."""
    assert response.status_code == 302, response.status_code
    assert [r.action for r in rows] == list(actions)
    assert all(r.actor_id == user.id for r in rows), [(r.action, r.actor_id) for r in rows]
    assert len({(r.subject_type, r.subject_id) for r in rows}) == len(rows)


def _refused(response, rows, user, statuses=(403,)) -> None:
    assert response.status_code in statuses, response.status_code
    assert [(r.actor_id, r.action.endswith("refused")) for r in rows] == [(user.id, True)], [r.action for r in rows]


def test_each_request_leaves_its_rows_and_the_chain_catches_tampering(app, city_bureau, create_user, create_org,
                                                                       now):
    officers = [create_user("officer"), create_user("officer")]
    outsider = create_user("officer", organisation_id=create_org(OrgKind.BUREAU, name="二七区民政局", level="district",
                                                                 parent_id=city_bureau.id).id)
    ngos = [create_user("supplier") for _ in range(3)]
    tender = make_published_tender(city_bureau, deadline=now + timedelta(hours=2), budget=Decimal("500000.00"))
    trail = Trail(app)
    with time_machine.travel(now, tick=False) as clock:
        for user, price in zip(ngos, ("400000.00", "410000.00", "420000.00"), strict=True):
            _succeeded(*trail.request(user, "POST", f"/tenders/{tender.id}/bid", **_bid(price)), user, "bid.submitted")
        response, rows = trail.request(ngos[0], "POST", f"/tenders/{tender.id}/bid", **_bid("1", declare=False))
        assert response.status_code in (200, 400) and rows == []  # a form error: nothing changed, nothing recorded
        for url in (f"/tenders/{tender.id}", f"/tenders/{tender.id}/bid", "/notices"):
            assert trail.request(ngos[1], "GET", url)[1] == []
        assert trail.request(officers[0], "GET", f"/tenders/{tender.id}/bids")[1] == []
        _refused(*trail.request(outsider, "POST", f"/tenders/{tender.id}/opening/start"), outsider)
        _refused(*trail.request(ngos[0], "GET", "/admin/audit"), ngos[0])

        clock.move_to(tender.bid_deadline + timedelta(minutes=1))
        trail.clients.clear()  # sign in again on the moved clock
        start = f"/tenders/{tender.id}/opening/start"
        _succeeded(*trail.request(officers[0], "POST", start), officers[0], "tender.opening_started")
        _refused(*trail.request(officers[0], "POST", f"/tenders/{tender.id}/opening/confirm"), officers[0], (302,))
        _succeeded(*trail.request(officers[1], "POST", f"/tenders/{tender.id}/opening/confirm"), officers[1],
                   "sealing.opening_authorised", "tender.opened")

    assert verify_chain().ok
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "bid.submitted").limit(1))
    db.session.execute(sa.update(AuditEntry).where(AuditEntry.id == entry.id).values(ip="198.51.100.1"))
    db.session.commit()
    report = verify_chain()
    assert not report.ok and report.bad_seq == entry.seq
