"""In-process measurements on a generated database: the pages to load, the SQL statements each request runs
(counted with an engine event through the test client), and the contract PDF rendered the first time and served
from storage afterwards (``portal.pdf.issue_document`` stores a document once and returns the stored copy)."""

from __future__ import annotations

import re
import time
from dataclasses import dataclass
from urllib.parse import quote

import sqlalchemy as sa

from bench.tenders import SHOWCASE
from portal.contracts.models import Contract
from portal.contracts.services import CONTRACT_PREFIX, CONTRACT_TEMPLATE, contract_context
from portal.db import utcnow
from portal.extensions import db
from portal.pdf import issue_document
from portal.seed import DEMO_PASSWORD
from portal.tenders.models import Tender

OFFICER = "officer"  # the demo city bureau's officer: oversees every bench bureau
SEARCH = "关爱"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


@dataclass(frozen=True)
class Page:
    key: str
    label: str
    url: str
    signed_in: bool


def pages(app) -> list[Page]:
    """The measured pages, with the ids of this database (the figures pages only if the portal has them)."""
    tender = db.session.scalar(sa.select(Tender.id).where(Tender.reference == "BM-0000000"))
    showcase = db.session.scalar(sa.select(Tender.id).where(Tender.reference == SHOWCASE))
    contract = db.session.scalar(sa.select(Contract.id).where(Contract.document_id.is_not(None))
                                 .order_by(Contract.id))
    found = [
        Page("ping", "bare endpoint, no database (ceiling)", "/bench/ping", False),
        Page("healthz", "/healthz (one SELECT 1)", "/healthz", False),
        Page("notices", f"notice board, search ?q={SEARCH}", f"/notices?q={quote(SEARCH)}", False),
        Page("tender", "tender page (awarded tender)", f"/tenders/{tender}", False),
        Page("dashboard", "officer's dashboard (city bureau)", "/dashboard", True),
        Page("evaluation", "evaluation summary, 100 bids x 9 experts x 20 criteria",
             f"/tenders/{showcase}/evaluation", True),
        Page("ocds", "OCDS release package (first page)", "/ocds/releases.json", False),
    ]
    rules = {rule.rule for rule in app.url_map.iter_rules()}
    if "/dashboard/figures" in rules:
        found.append(Page("figures", "figures dashboard (officer)", "/dashboard/figures", True))
    if "/statistics" in rules:
        found.append(Page("statistics", "public statistics", "/statistics", False))
    if contract is not None:
        found.append(Page("contract_pdf", "contract PDF, stored copy", f"/contracts/{contract}/contract.pdf", True))
    return found


def sign_in(client, username: str = OFFICER, password: str = DEMO_PASSWORD) -> None:
    token = CSRF_RE.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": username, "password": password, "csrf_token": token})
    assert response.status_code == 302, f"could not sign in as {username}"


def query_counts(app, engine, found: list[Page]) -> dict[str, int]:
    """SQL statements per request of each page (signed in where the page needs it). Called outside an app
    context, so that each request has its own (as under gunicorn) and no signed-in user leaks between clients."""
    anonymous, officer = app.test_client(), app.test_client()
    sign_in(officer)
    counts = {}
    for page in found:
        statements = []

        def count(conn, cursor, statement, parameters, context, executemany, into=statements):
            into.append(statement)

        sa.event.listen(engine, "before_cursor_execute", count)
        try:
            response = (officer if page.signed_in else anonymous).get(page.url)
            response.get_data()
            response.close()
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
        assert response.status_code == 200, (page.url, response.status_code)
        counts[page.key] = len(statements)
    return counts


def first_contract_pdf() -> tuple[int, float]:
    """Issue the PDF of a signed contract that has none yet (render and store, as signing does): (id, seconds)."""
    contract = db.session.scalar(sa.select(Contract).where(Contract.status == "signed",
                                                           Contract.document_id.is_(None)).order_by(Contract.id))
    started = time.perf_counter()
    document = issue_document(f"contract:{contract.id}", CONTRACT_TEMPLATE, contract_context(contract),
                              prefix=CONTRACT_PREFIX, now=utcnow())
    contract.document_id = document.id
    db.session.commit()
    return contract.id, time.perf_counter() - started


def stored_contract_pdf(app, contract_id: int) -> float:
    """Seconds to serve the stored PDF again through the app (outside an app context)."""
    client = app.test_client()
    sign_in(client)
    started = time.perf_counter()
    response = client.get(f"/contracts/{contract_id}/contract.pdf")
    size = len(response.get_data())
    response.close()
    assert response.status_code == 200 and size > 1000, response.status_code
    return time.perf_counter() - started
