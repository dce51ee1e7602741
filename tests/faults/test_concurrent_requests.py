"""Twenty identical requests at the same moment over real HTTP, against gunicorn's 4 workers on PostgreSQL.

Each request comes from its own signed-in session (its own cookie jar and CSRF token), released together by a
barrier: a supplier submitting the same bid twenty times, the second officer confirming an opening, the officer
confirming an award, the officer signing a contract. Whatever the interleaving, the database shows exactly one
effect (rows, documents, notices, audit entries), the audit chain still verifies, no request ends in a 5xx, and
every other request gets a clear refusal or a redirect back to the page. The data is built directly in the
database and committed, so the gunicorn workers see it.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from portal import audit
from portal.audit import AuditEntry
from portal.contracts import services as contract_services
from portal.contracts.models import Contract, ContractStatus
from portal.errors import Conflict
from portal.evaluation.models import Award, AwardStatus
from portal.extensions import db
from portal.files import StoredFile
from portal.notices import Notice, NoticeKind
from portal.notify import Notification
from portal.pdf import GeneratedDocument
from portal.tenders import bidding
from portal.tenders.models import Bid, BidStatus, Tender, TenderStatus
from tests.award_builders import evaluated_open_tender
from tests.conftest import PASSWORD
from tests.contract_builders import draft_contract_row
from tests.files_support import DOCX_BYTES
from tests.support.gunicorn import at_once
from tests.support.web import in_english
from tests.tender_factories import make_published_tender, pdf_with, submission, submit

COPIES = 20


# ---------------------------------------------------------------- helpers


def signed_in_tabs(browse, user, page: str) -> list:
    """``COPIES`` sessions of ``user``, each signed in on its own and holding the CSRF token of ``page``."""
    username = user.username  # read here: the threads have no application context
    tabs = at_once([lambda: browse(username) for _ in range(COPIES)])
    assert all(not isinstance(tab, Exception) for tab in tabs), tabs
    tokens = at_once([lambda tab=tab: tab.csrf(page) for tab in tabs])
    assert all(isinstance(token, str) for token in tokens), tokens
    return list(zip(tabs, tokens, strict=True))


def post_from_every_tab(browse, user, page: str, action: str, **fields: str) -> list:
    """Sign ``user`` in ``COPIES`` times, read each tab's token on ``page``, then POST ``action`` from all at once."""
    tabs = signed_in_tabs(browse, user, page)
    return all_at_once(tabs, lambda tab, token: tab.post(action, {"csrf_token": token, **fields}))


def outcome(tab, response) -> tuple[int, list[tuple[str, str]]]:
    """The status and the messages the user then sees (on the page redirected to, or on the page returned)."""
    page = tab.follow(response) if response.status in (302, 303) else response
    assert page.status < 500, page.status
    return response.status, page.flashes()


def all_at_once(tabs_and_tokens, send) -> list[tuple[int, list[tuple[str, str]]]]:
    """Send the same request from every tab at once; the outcome of each."""
    responses = at_once([lambda tab=tab, token=token: (tab, send(tab, token)) for tab, token in tabs_and_tokens])
    assert all(not isinstance(result, Exception) for result in responses), responses
    return [outcome(tab, response) for tab, response in responses]


def assert_one_success(outcomes, success: str) -> None:
    """Exactly one request did it; every other one was told why not (a refusal, or that it is done already)."""
    statuses = [status for status, _ in outcomes]
    assert all(status < 500 for status in statuses), statuses
    succeeded = [flashes for _, flashes in outcomes if ("success", success) in flashes]
    assert len(succeeded) == 1, outcomes
    refused = [flashes for _, flashes in outcomes if ("success", success) not in flashes]
    assert all(any(category in ("danger", "info", "warning") for category, _ in flashes) for flashes in refused), \
        refused


def assert_no_server_errors(server, since: int) -> None:
    """gunicorn's access log agrees: no request of this test answered 5xx."""
    statuses = server.access_statuses(since)
    assert statuses and all(status < 500 for _, _, status in statuses), statuses


def count(model, *where) -> int:
    db.session.rollback()  # read what the gunicorn workers committed
    return db.session.scalar(sa.select(sa.func.count()).select_from(model).where(*where))


def audited(action: str, subject_id: int | None = None) -> int:
    where = [AuditEntry.action == action]
    if subject_id is not None:
        where.append(AuditEntry.subject_id == str(subject_id))
    return count(AuditEntry, *where)


def assert_chain_verifies() -> None:
    db.session.rollback()
    report = audit.verify_chain()
    assert report.ok, report


# ---------------------------------------------------------------- the four actions


BID_RECEIVED = "Your bid has been received and sealed. Keep the receipt."
LATER_BID = "A later submission of your organisation's bid"


def test_twenty_identical_bids_leave_one_live_bid_the_last_received(server, browse, create_user, city_bureau, now):
    supplier = create_user("supplier")
    in_english(supplier)
    tender = make_published_tender(city_bureau, deadline=now + timedelta(days=1))
    files_before = server.uploaded_files()
    since = server.log_size()
    tabs = signed_in_tabs(browse, supplier, f"/tenders/{tender.id}/bid")
    files = {"technical": ("技术方案.pdf", pdf_with("同一份技术方案")), "qualification": ("资格证明.docx", DOCX_BYTES)}

    def send(tab, token):
        return tab.post_multipart(f"/tenders/{tender.id}/bid", {
            "csrf_token": token, "price": "400000.00", "meets_requirements": "y", "no_collusion": "y"}, files)

    outcomes = all_at_once(tabs, send)

    # Each submission replaces the live bid (the portal's rule), unless it waited for the tender lock behind one
    # received after it: that one is refused, so the live bid is always the last received.
    received = [o for o in outcomes if o == (302, [("success", BID_RECEIVED)])]
    refused = [o for o in outcomes if o[0] == 409 and any(c == "danger" and m.startswith(LATER_BID) for c, m in o[1])]
    assert len(received) + len(refused) == COPIES, outcomes
    db.session.rollback()
    bids = db.session.scalars(sa.select(Bid).where(Bid.tender_id == tender.id).order_by(Bid.id)).all()
    assert len(bids) == len(received) >= 1
    by_receipt = sorted(bids, key=lambda bid: (bid.received_at, bid.id))
    live = by_receipt[-1]
    assert [bid.status for bid in by_receipt] == [BidStatus.REPLACED] * (len(bids) - 1) + [BidStatus.SUBMITTED]
    assert bidding.live_bid(tender, supplier.organisation).id == live.id
    assert [bid.replaced_by_id for bid in by_receipt[:-1]] == [bid.id for bid in by_receipt[1:]]
    assert audited("bid.submitted") == 1 and audited("bid.replaced") == len(bids) - 1
    assert audited("bid.submit_refused") == len(refused)
    # Every new file under the upload folder is a sealed file of one of the bids: a refusal leaves none behind.
    sealed = db.session.scalars(sa.select(StoredFile).where(StoredFile.sealed.is_(True))).all()
    assert len(sealed) == 2 * len(bids)
    assert server.uploaded_files() - files_before == {file.storage_name for file in sealed}
    assert count(Notification, Notification.user_id == supplier.id) == len(bids)  # one receipt per bid
    assert_chain_verifies()
    assert_no_server_errors(server, since)


def test_a_bid_that_waited_behind_a_later_one_is_refused_and_leaves_nothing(create_user, city_bureau, now,
                                                                           english_messages):
    """The rule the race above relies on, without the race (so it runs on SQLite too)."""
    supplier = create_user("supplier")
    tender = make_published_tender(city_bureau, deadline=now + timedelta(days=1))
    later = submit(tender, supplier, "400000.00", now=now + timedelta(microseconds=1))
    files = count(StoredFile)

    with pytest.raises(Conflict, match=LATER_BID):
        bidding.submit_bid(tender, submission("390000.00"), actor=supplier, now=now)
    db.session.rollback()

    assert bidding.live_bid(tender, supplier.organisation).id == later.id
    assert count(Bid) == 1 and count(StoredFile) == files


def test_twenty_opening_confirmations_open_the_bids_once(server, browse, create_user, now):
    starter, confirmer = create_user("officer"), create_user("officer")
    suppliers = [create_user("supplier") for _ in range(3)]
    in_english(confirmer, *suppliers)
    tender = make_published_tender(starter.organisation, deadline=now - timedelta(hours=1))
    for user, price in zip(suppliers, ("400000.00", "380000.00", "450000.00"), strict=True):
        submit(tender, user, price, now=now - timedelta(hours=2))
    bidding.start_opening(tender, actor=starter, now=now - timedelta(minutes=30))
    db.session.commit()
    since = server.log_size()

    outcomes = post_from_every_tab(browse, confirmer, f"/tenders/{tender.id}/opening",
                                   f"/tenders/{tender.id}/opening/confirm")

    assert [status for status, _ in outcomes] == [302] * COPIES, outcomes
    assert_one_success(outcomes, "The bids have been opened and the opening record issued.")
    assert count(Tender, Tender.id == tender.id, Tender.status == TenderStatus.OPENED) == 1
    assert audited("tender.opened", tender.id) == 1
    assert audited("tender.opening_confirm_refused", tender.id) == COPIES - 1
    assert count(GeneratedDocument, GeneratedDocument.key == f"opening:{tender.id}") == 1
    assert count(Bid, Bid.tender_id == tender.id, Bid.opened_price.is_not(None)) == 3
    for user in suppliers:  # each bidder is told once that the bids were opened
        assert count(Notification, Notification.user_id == user.id,
                     Notification.link == f"/tenders/{tender.id}/opening") == 1
    assert_chain_verifies()
    assert_no_server_errors(server, since)


def test_twenty_award_confirmations_award_once(server, browse, create_user, city_bureau, now):
    ev = evaluated_open_tender(city_bureau, create_user, now=now - timedelta(days=3))
    officer = ev.officers[0]
    in_english(officer, *ev.suppliers)
    tender_id = ev.tender.id
    told_before = {user.id: count(Notification, Notification.user_id == user.id) for user in ev.suppliers}
    since = server.log_size()

    outcomes = post_from_every_tab(browse, officer, f"/tenders/{tender_id}/award",
                                   f"/tenders/{tender_id}/award/confirm")

    assert [status for status, _ in outcomes] == [302] * COPIES, outcomes
    assert_one_success(outcomes, "The award is confirmed: the result notice is published and the award letter issued.")
    assert count(Award, Award.tender_id == tender_id) == 1
    assert count(Award, Award.tender_id == tender_id, Award.status == AwardStatus.ACTIVE) == 1
    assert count(Tender, Tender.id == tender_id, Tender.status == TenderStatus.AWARDED) == 1
    assert audited("award.confirmed") == 1 and audited("tender.awarded", tender_id) == 1
    assert count(Notice, Notice.tender_id == tender_id, Notice.kind == NoticeKind.RESULT) == 1
    assert count(GeneratedDocument, GeneratedDocument.key.like("award-letter:%")) == 1
    for user_id, before in told_before.items():  # the winner and each loser are told once
        assert count(Notification, Notification.user_id == user_id) == before + 1
    assert_chain_verifies()
    assert_no_server_errors(server, since)


def test_twenty_signatures_sign_the_contract_once(server, browse, create_user, city_bureau, now):
    built = draft_contract_row(city_bureau, create_user, now=now - timedelta(days=2))
    contract_services.sign(built.contract, actor=built.supplier, now=now - timedelta(days=1))
    db.session.commit()
    officer, contract_id = built.officers[0], built.contract.id
    in_english(officer)
    since = server.log_size()

    outcomes = post_from_every_tab(browse, officer, f"/contracts/{contract_id}/sign", f"/contracts/{contract_id}/sign",
                                   password=PASSWORD, agree="y")

    assert all(status in (302, 400) for status, _ in outcomes), outcomes
    assert_one_success(outcomes, "You have signed the contract.")
    assert count(Contract, Contract.id == contract_id, Contract.status == ContractStatus.SIGNED) == 1
    assert audited("contract.signed_by_officer", contract_id) == 1
    assert audited("contract.signed", contract_id) == 1
    assert count(GeneratedDocument, GeneratedDocument.key == f"contract:{contract_id}") == 1
    assert count(Tender, Tender.id == built.tender.id, Tender.status == TenderStatus.CONCLUDED) == 1
    assert_chain_verifies()
    assert_no_server_errors(server, since)
