"""A gunicorn worker killed (SIGKILL) in the middle of a bid submission: the bid is wholly there or wholly absent.

The submission is caught mid-flight without any hook in the portal: either its upload is streamed slowly (half
the body sent, the rest held back), or the test holds the tender's row lock so that the bidding service waits
for it. The worker serving the request is found through /proc (the process holding the server's end of the
client's connection) and killed as the kernel's OOM killer would. Afterwards no bid row, audit entry,
notification or file under the upload folder is left of it, gunicorn replaces the worker, and the same session
then submits the bid whole: the row, both sealed files on disk with their hashes, the audit entry and the receipt.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import signal
from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal.audit import AuditEntry
from portal.extensions import db
from portal.files import StoredFile
from portal.notify import Notification
from portal.tenders.models import Bid, BidStatus
from tests.files_support import DOCX_BYTES
from tests.support.gunicorn import multipart
from tests.support.processes import wait_until
from tests.support.web import in_english
from tests.tender_factories import make_published_tender, pdf_with

LARGE_PROPOSAL = pdf_with("技术方案") + b"0" * (8 * 1024 * 1024)  # 8 MB: the upload takes a while to stream


def count(model, *where) -> int:
    db.session.rollback()  # read what the gunicorn workers committed
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def bid_form(token: str, proposal: bytes) -> tuple[bytes, str]:
    return multipart({"csrf_token": token, "price": "400000.00", "meets_requirements": "y", "no_collusion": "y"},
                     {"technical": ("技术方案.pdf", proposal), "qualification": ("资格证明.docx", DOCX_BYTES)})


def waiting_for_a_lock() -> bool:
    """Whether a session of the test database waits for a row lock (the worker inside the bidding service)."""
    with db.engine.connect() as conn:
        return bool(conn.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND state = 'active'"
            " AND wait_event_type = 'Lock'")))


def start_submission(tab, path: str, body: bytes, content_type: str, *, send: int) -> http.client.HTTPConnection:
    """Open the request and send only the first ``send`` bytes of its body."""
    connection = tab.connection()
    connection.connect()
    connection.putrequest("POST", path, skip_accept_encoding=True)
    for name, value in tab.headers(**{"Content-Type": content_type, "Content-Length": str(len(body))}).items():
        connection.putheader(name, value)
    connection.endheaders()
    connection.send(body[:send])
    return connection


def assert_dropped(connection: http.client.HTTPConnection, rest: bytes) -> None:
    """The client never gets an answer: the connection was cut with the worker."""
    with pytest.raises((OSError, http.client.HTTPException)):
        connection.send(rest)
        connection.getresponse()
    connection.close()


def replacement_worker(server, killed: int) -> list[int]:
    """Wait until gunicorn runs its full count of workers again, the killed one not among them."""
    def replaced():
        pids = server.worker_pids()
        return pids if len(pids) == server.workers and killed not in pids else None

    pids = wait_until(replaced, timeout=90, what="gunicorn to replace the killed worker", details=server.describe)
    assert f"Worker (pid:{killed}) was sent SIGKILL" in server.log()
    return pids


@pytest.mark.parametrize("moment", ["uploading", "waiting_for_the_tender_lock"])
def test_a_worker_killed_during_a_bid_submission_leaves_no_trace_and_the_portal_serves_on(
        moment, server, browse, create_user, city_bureau, now):
    supplier = create_user("supplier")
    in_english(supplier)
    tender = make_published_tender(city_bureau, deadline=now + timedelta(days=1))
    path = f"/tenders/{tender.id}/bid"
    tab = browse(supplier.username)
    body, content_type = bid_form(tab.csrf(path), LARGE_PROPOSAL)
    files_before, audit_before = server.uploaded_files(), count(AuditEntry)

    lock = db.engine.connect()
    try:
        if moment == "uploading":
            connection = start_submission(tab, path, body, content_type, send=len(body) // 2)
        else:
            lock.execute(sa.text("SELECT id FROM tenders WHERE id = :id FOR UPDATE"), {"id": tender.id})
            connection = start_submission(tab, path, body, content_type, send=len(body))
            wait_until(waiting_for_a_lock, timeout=60, what="the bidding service to wait for the tender lock",
                       details=server.describe)
        worker = server.worker_serving(connection.sock.getsockname()[1])
        os.kill(worker, signal.SIGKILL)
        assert_dropped(connection, body[len(body) // 2:] if moment == "uploading" else b"")
    finally:
        lock.rollback()
        lock.close()

    replacement_worker(server, worker)
    assert count(Bid) == 0 and count(StoredFile) == 0 and count(Notification) == 0
    assert count(AuditEntry) == audit_before  # no bid entry, nor a refusal
    assert server.uploaded_files() == files_before

    # The portal serves on, and the same session's next submission arrives whole.
    response = tab.post_multipart(path, {"csrf_token": tab.csrf(path), "price": "400000.00",
                                         "meets_requirements": "y", "no_collusion": "y"},
                                  {"technical": ("技术方案.pdf", LARGE_PROPOSAL),
                                   "qualification": ("资格证明.docx", DOCX_BYTES)})
    assert response.status == 302, response.text[-2000:]
    db.session.rollback()
    [bid] = db.session.scalars(sa.select(Bid)).all()
    assert bid.status == BidStatus.SUBMITTED and len(bid.files) == 2
    for bid_file in bid.files:
        assert hashlib.sha256(bid_file.file.path.read_bytes()).hexdigest() == bid_file.file.sha256
    assert {bid_file.plain_size for bid_file in bid.files} == {len(LARGE_PROPOSAL), len(DOCX_BYTES)}
    assert count(AuditEntry, AuditEntry.action == "bid.submitted", AuditEntry.subject_id == str(bid.id)) == 1
    stored = set(db.session.scalars(sa.select(StoredFile.storage_name)))
    assert server.uploaded_files() - files_before == stored
    receipt = tab.get(f"/bids/{bid.id}/receipt.pdf")
    assert receipt.status == 200 and receipt.body.startswith(b"%PDF-")
    assert receipt.headers["Content-Type"] == "application/pdf"
