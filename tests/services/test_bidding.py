"""Sealed bids and the opening, at the service layer: deadlines to the microsecond, replace and withdraw,
one live bid per supplier (also under concurrency), eligibility, prices, two-officer opening, failure."""

from __future__ import annotations

import hashlib
import threading
from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from portal import sealing
from portal.accounts.models import OrgKind, OrgStatus, User
from portal.audit import AuditEntry
from portal.errors import DomainError
from portal.extensions import db
from portal.files import StoredFile, UploadRejected
from portal.notices import Notice
from portal.notify import Notification
from portal.pdf import content_hash
from portal.tenders import bidding
from portal.tenders.models import Bid, BidDeclaration, BidStatus, Method, Tender, TenderStatus
from portal.tenders.rules import ONE_MICROSECOND, local_date
from tests.files_support import ELF_BYTES, PNG_BYTES
from tests.tender_factories import CANARY_PRICE, CANARY_TEXT, make_published_tender, pdf_with, submission, submit


@pytest.fixture(autouse=True)
def english_messages():
    """The assertions below read the English wording of refusals."""
    with force_locale("en"):
        yield


@pytest.fixture
def deadline(now):
    return now + timedelta(days=10, microseconds=123456)


@pytest.fixture
def tender(city_bureau, deadline):
    return make_published_tender(city_bureau, deadline=deadline, budget=Decimal("500000.00"),
                                 ceiling=Decimal("450000.00"))


@pytest.fixture
def bidders(create_user):
    return [create_user("supplier") for _ in range(4)]


@pytest.fixture
def officers(create_user):
    return create_user("officer"), create_user("officer")


def _bids(tender_id: int) -> list[Bid]:
    db.session.expire_all()
    return list(db.session.scalars(sa.select(Bid).where(Bid.tender_id == tender_id).order_by(Bid.id)))


def _live(tender_id: int) -> list[Bid]:
    return [b for b in _bids(tender_id) if b.status == BidStatus.SUBMITTED]


def _refused(error_class, tender, user, when, **kwargs):
    with pytest.raises(error_class) as info:
        bidding.submit_bid(tender, submission(**kwargs), actor=user, now=when)
    db.session.rollback()
    return info.value


# --- Submitting and the deadline ------------------------------------------------------------------------------


def test_bid_one_microsecond_before_the_deadline_is_sealed_with_a_receipt(tender, bidders, deadline):
    supplier = bidders[0]
    when = deadline - ONE_MICROSECOND
    bid = submit(tender, supplier, CANARY_PRICE, now=when, text=CANARY_TEXT)
    db.session.expire_all()
    bid = db.session.get(Bid, bid.id)
    assert bid.status == BidStatus.SUBMITTED and bid.received_at == when and bid.received_at.microsecond == 123455
    assert bid.opened_price is None
    assert b"98765.43" not in bid.sealed_price and CANARY_TEXT.encode() not in bid.sealed_price
    technical = bid.files[0]
    assert technical.kind == "technical" and technical.file.sealed and technical.file.kind == "sealed"
    assert technical.plain_sha256 == hashlib.sha256(pdf_with(CANARY_TEXT)).hexdigest()
    assert CANARY_TEXT.encode() not in technical.file.read_bytes()
    assert technical.file.original_name == "技术方案.pdf"
    assert bid.receipt_sha256 == bidding.receipt_digest(bid.price_sha256, [(f.kind, f.plain_sha256) for f in bid.files])
    assert {d.code for d in db.session.scalars(sa.select(BidDeclaration))} == set(bidding.DECLARATIONS)
    receipt = bidding.bid_receipt(bid)
    assert receipt.received_at == when and receipt.sha256 == bid.receipt_sha256
    assert bidding.receipt_pdf(bid, locale="zh").startswith(b"%PDF")
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == supplier.id))
    assert note is not None and bid.receipt_sha256 in note.body
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "bid.submitted"))
    assert bid.receipt_sha256 in entry.new_values and "98765" not in entry.new_values


def test_bid_at_the_deadline_is_refused_and_nothing_is_kept(tender, bidders, deadline):
    error = _refused(bidding.BiddingClosed, tender, bidders[0], deadline)
    assert "deadline" in str(error)
    _refused(bidding.BiddingClosed, tender, bidders[0], deadline + timedelta(days=3))
    assert _bids(tender.id) == []


def test_replacing_retires_the_old_bid_in_one_step(tender, bidders, now):
    first = submit(tender, bidders[0], "300000.00", now=now)
    second = submit(tender, bidders[0], "310000.00", now=now + timedelta(hours=1))
    bids = _bids(tender.id)
    assert [b.status for b in bids] == [BidStatus.REPLACED, BidStatus.SUBMITTED]
    assert bids[0].id == first.id and bids[0].replaced_by_id == second.id
    assert db.session.scalar(sa.select(sa.func.count(AuditEntry.id)).where(AuditEntry.action == "bid.replaced")) == 1


def test_withdraw_then_submit_again(tender, bidders, now):
    submit(tender, bidders[0], now=now)
    bid = bidding.withdraw_bid(tender, actor=bidders[0], now=now + timedelta(minutes=5))
    db.session.commit()
    assert bid.status == BidStatus.WITHDRAWN and bid.withdrawn_at == now + timedelta(minutes=5)
    with pytest.raises(DomainError):
        bidding.withdraw_bid(tender, actor=bidders[0], now=now + timedelta(minutes=6))
    db.session.rollback()
    submit(tender, bidders[0], now=now + timedelta(minutes=10))
    assert [b.status for b in _bids(tender.id)] == [BidStatus.WITHDRAWN, BidStatus.SUBMITTED]


def test_replace_and_withdraw_are_refused_at_the_deadline(tender, bidders, now, deadline):
    submit(tender, bidders[0], now=now)
    _refused(bidding.BiddingClosed, tender, bidders[0], deadline, price="200000.00")
    with pytest.raises(bidding.BiddingClosed):
        bidding.withdraw_bid(tender, actor=bidders[0], now=deadline)
    db.session.rollback()
    bids = _bids(tender.id)
    assert len(bids) == 1 and bids[0].status == BidStatus.SUBMITTED and bids[0].withdrawn_at is None


def test_withdraw_one_microsecond_before_the_deadline_is_accepted(tender, bidders, now, deadline):
    submit(tender, bidders[0], now=now)
    bidding.withdraw_bid(tender, actor=bidders[0], now=deadline - ONE_MICROSECOND)
    db.session.commit()
    assert _bids(tender.id)[0].status == BidStatus.WITHDRAWN


def test_a_duplicate_that_reaches_the_unique_index_is_a_clear_error(tender, bidders, now, monkeypatch):
    submit(tender, bidders[0], now=now)
    # As if a concurrent request had slipped past the lock: the service does not see the live bid.
    monkeypatch.setattr(bidding, "live_bid", lambda tender, organisation: None)
    with pytest.raises(DomainError) as info:
        bidding.submit_bid(tender, submission(), actor=bidders[0], now=now + timedelta(seconds=1))
    assert "same moment" in str(info.value)
    db.session.rollback()
    assert len(_live(tender.id)) == 1


def test_concurrent_submissions_by_one_supplier_leave_one_live_bid(app, tender, bidders, now):
    if db.engine.dialect.name != "postgresql":
        pytest.skip("row locks and truly concurrent writers need PostgreSQL; SQLite serialises whole-database writes")
    tender_id, user_id = tender.id, bidders[0].id
    db.session.commit()
    barrier = threading.Barrier(2)
    outcomes: list = []

    def attempt(price: str):
        with app.test_request_context():
            try:
                user = db.session.get(User, user_id)
                target = db.session.get(Tender, tender_id)
                barrier.wait(timeout=10)
                bidding.submit_bid(target, submission(price), actor=user, now=now)
                db.session.commit()
                outcomes.append("ok")
            except DomainError as exc:
                db.session.rollback()
                outcomes.append(exc)
            except Exception as exc:  # noqa: BLE001 - reported by the assertion below
                db.session.rollback()
                outcomes.append(exc)

    threads = [threading.Thread(target=attempt, args=(price,)) for price in ("300000.00", "300000.01")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(outcomes) == 2 and all(o == "ok" or isinstance(o, DomainError) for o in outcomes), outcomes
    bids = _bids(tender_id)
    assert len([b for b in bids if b.status == BidStatus.SUBMITTED]) == 1
    assert len(bids) == outcomes.count("ok")  # the second success replaced the first


# --- Who may bid ------------------------------------------------------------------------------------------------


def test_debarred_supplier_is_refused_until_the_day_after(tender, bidders, now):
    organisation = bidders[0].organisation
    organisation.debarred_until = local_date(now)
    db.session.commit()
    error = _refused(bidding.NotEligible, tender, bidders[0], now)
    assert local_date(now).isoformat() in str(error)
    organisation = db.session.get(type(organisation), organisation.id)
    organisation.debarred_until = local_date(now) - timedelta(days=1)
    db.session.commit()
    submit(tender, db.session.get(User, bidders[0].id), now=now)
    assert len(_live(tender.id)) == 1


def test_unapproved_organisation_is_refused(tender, bidders, now):
    bidders[0].organisation.status = OrgStatus.PENDING
    db.session.commit()
    _refused(bidding.NotEligible, tender, bidders[0], now)


@pytest.mark.parametrize("method", [Method.INVITED, Method.NEGOTIATION])
def test_uninvited_supplier_is_refused_on_an_invited_tender(city_bureau, bidders, deadline, now, method):
    invited = [b.organisation for b in bidders[:3]]
    tender = make_published_tender(city_bureau, method=method, deadline=deadline, invited=invited)
    error = _refused(bidding.NotEligible, tender, bidders[3], now)
    assert "invited" in str(error)
    submit(tender, bidders[0], now=now)
    assert len(_live(tender.id)) == 1


def test_draft_or_single_source_tender_takes_no_bids(city_bureau, bidders, deadline, now):
    tender = make_published_tender(city_bureau, method=Method.SINGLE_SOURCE, deadline=deadline,
                                   invited=[bidders[0].organisation])
    _refused(bidding.BiddingClosed, tender, bidders[0], now)


# --- Price, files, declarations -------------------------------------------------------------------------------


def test_price_above_the_ceiling_is_refused(tender, bidders, now):
    error = _refused(DomainError, tender, bidders[0], now, price="450000.01")
    assert "450000.00" in str(error)
    submit(tender, bidders[0], "450000.00", now=now)
    assert len(_live(tender.id)) == 1


def test_price_above_the_budget_is_refused_when_there_is_no_ceiling(city_bureau, bidders, deadline, now):
    tender = make_published_tender(city_bureau, deadline=deadline, budget=Decimal("200000.00"))
    _refused(DomainError, tender, bidders[0], now, price="200000.01")


@pytest.mark.parametrize("price", ["0", "-1.00", "100.005"])
def test_price_must_be_positive_and_in_fen(tender, bidders, now, price):
    _refused(DomainError, tender, bidders[0], now, price=price)
    assert _bids(tender.id) == []


def test_float_price_is_a_programming_error(tender, bidders, now):
    bad = submission()
    bad = bidding.BidSubmission(price=100000.0, technical=bad.technical, qualification=bad.qualification,
                                declarations=bad.declarations)
    with pytest.raises(TypeError):
        bidding.submit_bid(tender, bad, actor=bidders[0], now=now)


def test_declarations_are_required(tender, bidders, now):
    error = _refused(DomainError, tender, bidders[0], now, declarations=False)
    assert "declaration" in str(error)


@pytest.mark.parametrize("data", [ELF_BYTES, PNG_BYTES, b""])
def test_file_types_are_checked(tender, bidders, now, data):
    base = submission()
    bad = bidding.BidSubmission(price=base.price, technical=bidding.Upload(data, "x.pdf"),
                                qualification=base.qualification, declarations=base.declarations)
    with pytest.raises(UploadRejected):
        bidding.submit_bid(tender, bad, actor=bidders[0], now=now)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(StoredFile.id))) == 0


# --- Opening ---------------------------------------------------------------------------------------------------


def _three_bids(tender, bidders, now):
    prices = ["400000.00", "380000.50", CANARY_PRICE]
    return [submit(tender, user, price, now=now + timedelta(minutes=i), text=f"{CANARY_TEXT}-{i}")
            for i, (user, price) in enumerate(zip(bidders, prices, strict=False))]


def test_one_officer_cannot_open_alone(tender, bidders, officers, now, deadline):
    _three_bids(tender, bidders, now)
    assert bidding.start_opening(tender, actor=officers[0], now=deadline) == "started"
    db.session.commit()
    with pytest.raises(DomainError) as info:
        bidding.confirm_opening(tender, actor=officers[0], now=deadline + timedelta(minutes=1))
    assert "different officer" in str(info.value)
    db.session.rollback()
    db.session.expire_all()
    assert all(b.opened_price is None for b in _bids(tender.id))
    tender = db.session.get(Tender, tender.id)
    assert tender.status == TenderStatus.PUBLISHED and tender.opened_at is None
    assert not sealing.is_opening_authorised(tender.sealing_scope)
    with pytest.raises(DomainError):
        bidding.start_opening(tender, actor=officers[1], now=deadline)  # started once is enough


def test_opening_before_the_deadline_is_refused(tender, bidders, officers, deadline):
    _three_bids(tender, bidders, deadline - timedelta(days=1))
    with pytest.raises(DomainError):
        bidding.start_opening(tender, actor=officers[0], now=deadline - ONE_MICROSECOND)
    db.session.rollback()
    assert db.session.get(Tender, tender.id).opening_started_at is None


def test_only_officers_of_the_bureau_open(tender, bidders, create_org, create_user, city_bureau, deadline, now):
    _three_bids(tender, bidders, now)
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    outsider = create_user("officer", organisation_id=district.id)
    with pytest.raises(DomainError):
        bidding.start_opening(tender, actor=outsider, now=deadline)
    db.session.rollback()
    with pytest.raises(DomainError):
        bidding.start_opening(tender, actor=create_user("admin"), now=deadline)


def test_two_officers_open_and_the_record_matches_the_receipts(app, tender, bidders, officers, now, deadline):
    bids = _three_bids(tender, bidders, now)
    submit(tender, bidders[0], "390000.00", now=now + timedelta(hours=1))  # replaces bidders[0]'s first bid
    submit(tender, bidders[3], "100000.00", now=now + timedelta(hours=2))
    bidding.withdraw_bid(tender, actor=bidders[3], now=now + timedelta(hours=3))
    db.session.commit()
    assert bidding.start_opening(tender, actor=officers[0], now=deadline) == "started"
    db.session.commit()
    assert bidding.confirm_opening(tender, actor=officers[1], now=deadline + timedelta(minutes=2)) == "opened"
    db.session.commit()
    db.session.expire_all()
    tender = db.session.get(Tender, tender.id)
    assert tender.status == TenderStatus.OPENED and tender.opened_at == deadline + timedelta(minutes=2)
    assert (tender.opening_started_by_id, tender.opening_confirmed_by_id) == (officers[0].id, officers[1].id)
    rows = bidding.opening_rows(tender)
    live = {b.supplier_id: b for b in _live(tender.id)}
    assert [r.bidder for r in rows] == [bidders[1].organisation.name, bidders[2].organisation.name,
                                         bidders[0].organisation.name]
    for row in rows:
        bid = db.session.get(Bid, row.bid_id)
        assert bid.id == live[bid.supplier_id].id
        assert row.receipt_sha256 == bidding.bid_receipt(bid).sha256 and row.received_at == bid.received_at
    assert [r.price for r in rows] == [Decimal("380000.50"), CANARY_PRICE, Decimal("390000.00")]
    assert db.session.get(Bid, bids[0].id).opened_price is None  # replaced: never opened
    withdrawn = db.session.scalar(sa.select(Bid).where(Bid.supplier_id == bidders[3].organisation_id))
    assert withdrawn.opened_price is None and withdrawn.status == BidStatus.WITHDRAWN
    record = bidding.opening_record(tender)
    assert record.number.startswith("KB-") and record.file.read_bytes().startswith(b"%PDF")
    context = bidding.opening_record_context(tender)
    assert record.content_sha256 == content_hash("document.html", context)
    table = context["sections"][0]["rows"]
    assert [r[2].replace(" ", "") for r in table] == [r.receipt_sha256 for r in rows]
    assert "¥98,765.43" in [r[1] for r in table]
    opened_notes = db.session.scalars(sa.select(Notification).where(Notification.link.like("%/opening"))).all()
    assert {n.user_id for n in opened_notes} >= {b.id for b in bidders[:3]}
    decrypted, file_type = bidding.read_bid_file(db.session.get(Bid, rows[1].bid_id).files[0])
    assert CANARY_TEXT.encode() in decrypted and file_type.kind == "pdf"
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "tender.opened")) is not None


def test_fewer_than_three_bids_fail_the_tender_without_unsealing(tender, bidders, officers, now, deadline):
    submit(tender, bidders[0], now=now)
    submit(tender, bidders[1], now=now)
    submit(tender, bidders[2], now=now)
    bidding.withdraw_bid(tender, actor=bidders[2], now=now + timedelta(hours=1))
    db.session.commit()
    assert bidding.start_opening(tender, actor=officers[0], now=deadline) == "failed"
    db.session.commit()
    db.session.expire_all()
    tender = db.session.get(Tender, tender.id)
    assert tender.status == TenderStatus.FAILED and tender.failed_at == deadline and tender.failure_reason
    assert tender.opened_at is None and all(b.opened_price is None for b in _bids(tender.id))
    assert not sealing.is_opening_authorised(tender.sealing_scope)
    for bidder in bidders[:2]:
        assert db.session.scalar(sa.select(Notification).where(Notification.user_id == bidder.id,
                                                               Notification.subject.contains(tender.reference)))
    notice = db.session.scalar(sa.select(Notice).where(Notice.tender_id == tender.id))
    assert notice.kind == "failure" and notice.document is not None
    with pytest.raises(DomainError):
        bidding.confirm_opening(tender, actor=officers[1], now=deadline)


def _tamper(bid: Bid) -> None:
    path = bid.files[0].file.path
    data = bytearray(path.read_bytes())
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))


def test_a_bid_that_cannot_be_decrypted_is_excluded_and_recorded(tender, bidders, officers, now, deadline):
    bids = _three_bids(tender, bidders, now) + [submit(tender, bidders[3], "333333.33", now=now)]
    _tamper(bids[1])
    bidding.start_opening(tender, actor=officers[0], now=deadline)
    assert bidding.confirm_opening(tender, actor=officers[1], now=deadline) == "opened"
    db.session.commit()
    db.session.expire_all()
    excluded = db.session.get(Bid, bids[1].id)
    assert excluded.status == BidStatus.EXCLUDED and excluded.opened_price is None
    rows = bidding.opening_rows(db.session.get(Tender, tender.id))
    assert len(rows) == 4 and [r.excluded for r in rows].count(True) == 1
    assert db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "bid.excluded")) is not None


def test_too_few_readable_bids_fail_the_tender_after_opening(tender, bidders, officers, now, deadline):
    bids = _three_bids(tender, bidders, now)
    _tamper(bids[0])
    bidding.start_opening(tender, actor=officers[0], now=deadline)
    assert bidding.confirm_opening(tender, actor=officers[1], now=deadline) == "failed"
    db.session.commit()
    db.session.expire_all()
    tender = db.session.get(Tender, tender.id)
    assert tender.status == TenderStatus.FAILED and tender.opening_record_id is not None
    assert db.session.scalar(sa.select(Notice).where(Notice.tender_id == tender.id, Notice.kind == "failure"))
