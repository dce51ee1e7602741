"""Sealed bids and the opening (开标): submit, replace, withdraw, receipts, the two-officer opening, failure.

A bid's price and files are sealed (AES-GCM under the tender's key, ``portal.sealing``) the moment
they arrive; the supplier gets a receipt with the time of receipt to the microsecond and a SHA-256
over what was sealed. Whether bids are still taken is decided by the clock passed in on every call
(``rules.bidding_open``), never by a job. Submit, replace, withdraw and the opening lock the tender
row first, so concurrent requests on PostgreSQL run one after the other; the partial unique index
``uq_bids_live`` is the last guard for one live bid per supplier. Nothing unseals before a second
officer of the bureau confirms an opening another one started, at or after the deadline.

Services never commit: they flush, audit and queue notifications; the caller commits.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from flask import current_app
from flask_babel import force_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.exc import IntegrityError

from portal import audit, sealing
from portal.accounts.models import Organisation, OrgKind, OrgStatus, User
from portal.accounts.services import active_users
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.files import DOCX, PDF, SEALED, ZIP, FileType, check_upload, sniff, store_bytes
from portal.i18n import format_money
from portal.notify import notify_many
from portal.pdf import GeneratedDocument, issue_document
from portal.permissions import Role
from portal.tenders import rules, services
from portal.tenders.models import (
    Bid,
    BidDeclaration,
    BidFile,
    BidFileKind,
    BidKind,
    BidStatus,
    Method,
    NegotiationRound,
    Tender,
    TenderStatus,
)

BID_FILE_TYPES = (PDF, DOCX, ZIP)  # proposals and qualification documents
# What a bidder declares with its bid; both are required (qualification is self-declared for now).
DECLARATIONS = ("meets_requirements", "no_collusion")
OPENING_RECORD_PREFIX = "KB"  # 开标记录 document numbers: KB-2026-00001
OPENING_RECORD_TEMPLATE = "document.html"

class BiddingClosed(Conflict):
    """The deadline has passed (or the tender is not taking bids)."""


class NotEligible(NotAllowed):
    """This organisation may not bid on this tender."""


@dataclass(frozen=True)
class Upload:
    """An uploaded file's bytes and the name the client gave it."""

    data: bytes
    filename: str


@dataclass(frozen=True)
class BidSubmission:
    price: Decimal
    technical: Upload
    qualification: Upload
    declarations: dict[str, bool]


@dataclass(frozen=True)
class OpeningRow:
    """One line of the opening record."""

    bid_id: int
    bidder: str
    price: Decimal | None
    receipt_sha256: str
    received_at: datetime
    excluded: bool


# --- Helpers -----------------------------------------------------------------------------------------------


def _beijing(instant: datetime) -> str:
    """A UTC instant as Beijing wall-clock time, to the microsecond (for receipts and records)."""
    return instant.astimezone(rules.BEIJING).strftime("%Y-%m-%d %H:%M:%S.%f")


def _lock(tender: Tender) -> Tender:
    """Lock the tender row (SELECT ... FOR UPDATE on PostgreSQL) and reload it, so writers serialise."""
    return db.session.execute(
        sa.select(Tender).where(Tender.id == tender.id).with_for_update().execution_options(populate_existing=True)
    ).scalar_one()


def live_bid(tender: Tender, organisation: Organisation | None) -> Bid | None:
    """The organisation's live bid on the tender, if any."""
    if organisation is None:
        return None
    return db.session.scalar(
        sa.select(Bid).where(Bid.tender_id == tender.id, Bid.supplier_id == organisation.id,
                             Bid.kind == BidKind.BID, Bid.status == BidStatus.SUBMITTED)
        .execution_options(populate_existing=True))


def live_bids(tender: Tender) -> list[Bid]:
    return list(db.session.scalars(
        sa.select(Bid).where(Bid.tender_id == tender.id, Bid.kind == BidKind.BID, Bid.status == BidStatus.SUBMITTED)
        .order_by(Bid.received_at, Bid.id).execution_options(populate_existing=True)))


def live_bid_count(tender: Tender) -> int:
    """How many live bids a tender holds (all that may be shown about them before the opening)."""
    return db.session.scalar(sa.select(sa.func.count(Bid.id)).where(
        Bid.tender_id == tender.id, Bid.kind == BidKind.BID, Bid.status == BidStatus.SUBMITTED)) or 0


def own_bids(tender: Tender, organisation: Organisation) -> list[Bid]:
    """Every bid the organisation made on the tender, newest first (its own history)."""
    return list(db.session.scalars(sa.select(Bid).where(Bid.tender_id == tender.id,
                                                        Bid.supplier_id == organisation.id)
                                   .order_by(Bid.received_at.desc(), Bid.id.desc())))


# --- Who may do what (object rules; see the report: these belong on the models) --------------------------


def bidding_closed(tender: Tender, now: datetime) -> DomainError | None:
    """Why the tender is not taking bids, replacements or withdrawals at ``now``, or None."""
    phase = rules.phase(tender.status, tender.method, now, deadline=tender.bid_deadline,
                        notice_until=tender.notice_until)
    if phase == "bidding":
        return None
    if tender.status == TenderStatus.PUBLISHED and tender.bid_deadline is not None and phase == "closed":
        return BiddingClosed(_l("The bid deadline passed at %(deadline)s (Beijing time). Bids can no longer be "
                                "submitted, replaced or withdrawn.", deadline=_beijing(tender.bid_deadline)[:16]))
    return BiddingClosed(_l("This tender is not taking bids."))


def bidding_refusal(tender: Tender, organisation: Organisation | None, now: datetime) -> DomainError | None:
    """Why this organisation may not bid on the tender at ``now`` (a translated error), or None if it may."""
    if organisation is None or organisation.kind != OrgKind.SUPPLIER:
        return NotEligible(_l("Only a social-work organisation can bid."))
    closed = bidding_closed(tender, now)
    if closed is not None:
        return closed
    if organisation.status != OrgStatus.ACTIVE:
        return NotEligible(_l("Your organisation has not been approved by the administrator yet, so it cannot bid."))
    if organisation.is_debarred(rules.local_date(now)):
        return NotEligible(_l("Your organisation is barred from government procurement until %(date)s and cannot "
                              "bid.", date=organisation.debarred_until.isoformat()))
    if not services.can_take_part(tender, organisation):
        return NotEligible(_l("Only invited suppliers can bid on this tender, and your organisation was not "
                              "invited."))
    return None


# --- Submitting, replacing, withdrawing -------------------------------------------------------------------


def receipt_digest(price_sha256: str, files: list[tuple[str, str]]) -> str:
    """SHA-256 over a canonical manifest of the sealed price's hash and each file's (kind, SHA-256)."""
    manifest = {"price_sha256": price_sha256,
                "files": sorted([{"kind": kind, "sha256": sha} for kind, sha in files],
                                key=lambda f: (f["kind"], f["sha256"]))}
    return hashlib.sha256(json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def _seal_file(scope: str, kind: str, upload: Upload, *, actor: User) -> BidFile:
    sealed = sealing.seal(scope, upload.data)
    stored = store_bytes(sealed.ciphertext, file_type=SEALED, original_name=upload.filename, uploaded_by=actor,
                         sealed=True)
    return BidFile(kind=kind, file=stored, plain_sha256=sealed.sha256, plain_size=sealed.size)


def submit_bid(tender: Tender, submission: BidSubmission, *, actor: User, now: datetime) -> Bid:
    """Seal and record the actor's organisation's bid; a live bid it already has is replaced in the same step.

    The live bid is always the one received last: a request that waited for the tender lock behind a submission
    received after it is refused (Conflict) and leaves nothing behind.
    """
    tender = _lock(tender)
    supplier = actor.organisation
    refusal = bidding_refusal(tender, supplier, now)
    if refusal is not None:
        raise refusal
    if not all(submission.declarations.get(code) for code in DECLARATIONS):
        raise DomainError(_l("Make both declarations to submit a bid."))
    if not isinstance(submission.price, Decimal):
        raise TypeError("a price must be a Decimal")
    services.raise_problems(rules.price_problems(submission.price, tender.price_cap))
    uploads = [(BidFileKind.TECHNICAL, submission.technical), (BidFileKind.QUALIFICATION, submission.qualification)]
    for _kind, upload in uploads:
        check_upload(upload.data, BID_FILE_TYPES)
    old = live_bid(tender, supplier)
    if old is not None and old.received_at > now:
        # This request waited for the tender lock behind one received after it: the later bid stays live.
        raise Conflict(_l("A later submission of your organisation's bid (received at %(received_at)s, Beijing "
                          "time) is already recorded, so this earlier one was not. Check your bid below."),
                       received_at=_beijing(old.received_at))

    scope = tender.sealing_scope
    sealed_price = sealing.seal_values(scope, {"price": str(submission.price)})
    files = [_seal_file(scope, kind, upload, actor=actor) for kind, upload in uploads]
    if old is not None:
        # Retire the old bid first: the partial unique index must never see two live bids.
        old.status = BidStatus.REPLACED
        db.session.flush()
    bid = Bid(tender_id=tender.id, supplier_id=supplier.id, submitted_by_id=actor.id, kind=BidKind.BID,
              status=BidStatus.SUBMITTED, sealed_price=sealed_price.ciphertext, price_sha256=sealed_price.sha256,
              receipt_sha256=receipt_digest(sealed_price.sha256, [(f.kind, f.plain_sha256) for f in files]),
              received_at=now, created_at=now, files=files)
    try:
        with db.session.begin_nested():
            db.session.add(bid)
            db.session.flush()
    except IntegrityError as exc:
        # Another request of the same organisation got its bid in at the same moment.
        raise Conflict(_l("Another submission of your organisation's bid was received at the same moment. "
                          "Check your bid below and submit again if needed.")) from exc
    if old is not None:
        old.replaced_by_id = bid.id
    db.session.add_all([BidDeclaration(bid_id=bid.id, code=code, accepted=True) for code in DECLARATIONS])
    db.session.flush()
    audit.record("bid.replaced" if old is not None else "bid.submitted", bid, actor=actor, now=now,
                 old={"bid_id": old.id, "status": BidStatus.SUBMITTED} if old is not None else None,
                 new={"tender_id": tender.id, "supplier_id": supplier.id, "received_at": now,
                      "price_sha256": bid.price_sha256, "receipt_sha256": bid.receipt_sha256,
                      "files": [{"kind": f.kind, "sha256": f.plain_sha256, "size": f.plain_size} for f in files],
                      "declarations": list(DECLARATIONS)})
    notify_many(active_users([supplier.id]), "bid_received",
                {"title": tender.title, "reference": tender.reference, "received_at": _beijing(now),
                 "sha256": bid.receipt_sha256},
                link=services.tender_link(tender, "bid"), now=now)
    return bid


def withdraw_bid(tender: Tender, *, actor: User, now: datetime) -> Bid:
    """Withdraw the actor's organisation's live bid, strictly before the deadline."""
    tender = _lock(tender)
    closed = bidding_closed(tender, now)
    if closed is not None:
        raise closed
    bid = live_bid(tender, actor.organisation)
    if bid is None or not bid.is_own(actor):
        raise Conflict(_l("Your organisation has no live bid on this tender to withdraw."))
    bid.status = BidStatus.WITHDRAWN
    bid.withdrawn_at = now
    db.session.flush()
    audit.record("bid.withdrawn", bid, actor=actor, now=now, old={"status": BidStatus.SUBMITTED},
                 new={"status": BidStatus.WITHDRAWN, "withdrawn_at": now})
    notify_many(active_users([bid.supplier_id]), "bid_withdrawn",
                {"title": tender.title, "reference": tender.reference, "withdrawn_at": _beijing(now)},
                link=services.tender_link(tender, "bid"), now=now)
    return bid


def record_refusal(action: str, subject, *, actor, error: DomainError, now: datetime) -> None:
    """Audit a refused attempt (the caller has rolled its work back and commits this alone)."""
    with force_locale("en"):  # audit text is stored untranslated
        message = str(error)
    audit.record(action, subject, actor=actor, now=now, new={"refused": type(error).__name__, "message": message})


# --- Receipts ------------------------------------------------------------------------------------------------


def bid_receipt(bid: Bid) -> sealing.Receipt:
    """The receipt of a bid: when it was received (UTC, to the microsecond) and the SHA-256 of what was sealed."""
    tender = bid.tender
    return sealing.Receipt(scope=tender.sealing_scope, subject=f"{tender.reference} · {bid.supplier.name}",
                           received_at=bid.received_at, sha256=bid.receipt_sha256,
                           size=sum(f.plain_size for f in bid.files))


def receipt_pdf(bid: Bid, *, locale: str) -> bytes:
    return sealing.receipt_pdf(bid_receipt(bid), tender_title=bid.tender.title, bidder=bid.supplier.name,
                               issuer=bid.tender.bureau.name, locale=locale)


# --- Opening -------------------------------------------------------------------------------------------------


def _check_openable(tender: Tender, actor: User) -> None:
    if not tender.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the tender's own bureau can open its bids."))
    if tender.status != TenderStatus.PUBLISHED or tender.method == Method.SINGLE_SOURCE:
        raise Conflict(_l("This tender has no sealed bids waiting to be opened."))


def _fail_for_too_few(tender: Tender, count: int, *, actor: User, now: datetime) -> None:
    """废标: fewer than 3 bids (L36, 87-41, 87-43): nothing is unsealed; bidders told, failure notice published."""
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        reason = _("Only %(count)s bid(s) were received by the deadline; with fewer than %(min)s bids the bids are "
                   "not opened and the tender fails (L36, 87-43).", count=count, min=rules.MIN_BIDS_TO_OPEN)
    services.fail_tender(tender, reason=reason, actor=actor, now=now)


def start_opening(tender: Tender, *, actor: User, now: datetime) -> str:
    """The first officer starts the opening at or after the deadline; returns "started", or "failed" (too few bids)."""
    tender = _lock(tender)
    _check_openable(tender, actor)
    if tender.opening_started_by_id is not None:
        raise Conflict(_l("The opening has already been started; a different officer of the bureau must confirm "
                          "it."))
    services.raise_problems(
        rules.opening_problems(now, tender.bid_deadline, starter_id=actor.id, confirmer_id=None), Conflict)
    count = live_bid_count(tender)
    tender.opening_started_by_id, tender.opening_started_at = actor.id, now
    db.session.flush()
    audit.record("tender.opening_started", tender, actor=actor, now=now, new={"live_bids": count})
    if rules.too_few_bids(count):
        _fail_for_too_few(tender, count, actor=actor, now=now)
        return "failed"
    colleagues = [u for u in active_users([tender.bureau_id]) if u.role == Role.OFFICER and u.id != actor.id]
    notify_many(colleagues, "opening_started", {"title": tender.title, "reference": tender.reference,
                                                "starter": actor.name},
                link=services.tender_link(tender, "opening"), now=now)
    return "started"


def _open_bid(scope: str, bid: Bid) -> Decimal:
    """Unseal a bid's price and check that every file decrypts to what was receipted; raise on any fault."""
    if hashlib.sha256(sealing.unseal(scope, bid.sealed_price)).hexdigest() != bid.price_sha256:
        raise sealing.SealTampered(_l("A sealed file has been altered or damaged."))
    price = Decimal(sealing.unseal_values(scope, bid.sealed_price)["price"])
    for bid_file in bid.files:
        data = sealing.unseal(scope, bid_file.file.read_bytes())
        if hashlib.sha256(data).hexdigest() != bid_file.plain_sha256:
            raise sealing.SealTampered(_l("A sealed file has been altered or damaged."))
    if price <= 0:
        raise ValueError("unsealed price is not positive")
    return price


def confirm_opening(tender: Tender, *, actor: User, now: datetime) -> str:
    """A second, different officer confirms: bids are unsealed, the opening record is issued; returns the outcome.

    "opened", or "failed" when fewer than 3 bids are left (none unsealed) or fewer than 3 could be opened.
    A bid that cannot be decrypted, or whose content no longer matches its receipt, is excluded and named
    in the record. The platform, not the bidder, holds the keys, so such a failure is never the bidder's
    doing (20号令 Art. 31 distinguishes the two; see RULES-CN J.43): the bid cannot be evaluated, the
    incident is audited, and the bidder sees it in the record.
    """
    tender = _lock(tender)
    _check_openable(tender, actor)
    if tender.opening_started_by_id is None:
        raise Conflict(_l("The opening has not been started yet."))
    services.raise_problems(rules.opening_problems(now, tender.bid_deadline, starter_id=tender.opening_started_by_id,
                                  confirmer_id=actor.id), NotAllowed)
    bids = live_bids(tender)
    if rules.too_few_bids(len(bids)):
        _fail_for_too_few(tender, len(bids), actor=actor, now=now)
        return "failed"
    starter = db.session.get(User, tender.opening_started_by_id)
    tender.opening_confirmed_by_id = actor.id
    db.session.flush()
    scope = tender.sealing_scope
    sealing.authorise_opening(scope, actors=[starter, actor], now=now)
    opened, excluded = [], []
    for bid in bids:
        try:
            bid.opened_price = _open_bid(scope, bid)
        except (sealing.SealingError, OSError, ValueError, KeyError, InvalidOperation) as exc:
            bid.status = BidStatus.EXCLUDED
            excluded.append(bid)
            audit.record("bid.excluded", bid, actor=actor, now=now, old={"status": BidStatus.SUBMITTED},
                         new={"status": BidStatus.EXCLUDED, "reason": "decryption failed at the opening",
                              "error": type(exc).__name__})
        else:
            opened.append(bid)
    if not rules.can_transition(tender.status, TenderStatus.OPENED):
        raise Conflict(_l("This tender has no sealed bids waiting to be opened."))
    tender.status, tender.opened_at = TenderStatus.OPENED, now
    db.session.flush()
    document = issue_document(f"opening:{tender.id}", OPENING_RECORD_TEMPLATE, opening_record_context(tender),
                              prefix=OPENING_RECORD_PREFIX, now=now, issued_by=actor)
    tender.opening_record_id = document.id
    db.session.flush()
    audit.record("tender.opened", tender, actor=actor, now=now, old={"status": TenderStatus.PUBLISHED},
                 new={"status": TenderStatus.OPENED, "started_by": starter.id, "confirmed_by": actor.id,
                      "record": document.number, "record_sha256": document.content_sha256,
                      "bids": [{"bid_id": b.id, "supplier_id": b.supplier_id, "price": b.opened_price,
                                "receipt_sha256": b.receipt_sha256} for b in opened],
                      "excluded": [b.id for b in excluded]})
    notify_many(active_users(b.supplier_id for b in bids), "tender_opened",
                {"title": tender.title, "reference": tender.reference, "opened_at": _beijing(now)},
                link=services.tender_link(tender, "opening"), now=now)
    if rules.too_few_bids(len(opened)):
        with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
            reason = _("Only %(count)s bid(s) could be opened; with fewer than %(min)s valid bids the tender fails "
                       "(L36, 87-43).", count=len(opened), min=rules.MIN_BIDS_TO_OPEN)
        services.fail_tender(tender, reason=reason, actor=actor, now=now)
        return "failed"
    return "opened"


def opening_rows(tender: Tender) -> list[OpeningRow]:
    """The bids that took part in the opening, in order of receipt (empty before the opening)."""
    if not tender.is_opened:
        return []
    bids = db.session.scalars(
        sa.select(Bid).where(Bid.tender_id == tender.id, Bid.kind == BidKind.BID,
                             Bid.status.in_([BidStatus.SUBMITTED, BidStatus.EXCLUDED]),
                             Bid.received_at < tender.bid_deadline)
        .order_by(Bid.received_at, Bid.id))
    return [OpeningRow(bid_id=b.id, bidder=b.supplier.name, price=b.opened_price, receipt_sha256=b.receipt_sha256,
                       received_at=b.received_at,
                       excluded=b.status == BidStatus.EXCLUDED and b.opened_price is None) for b in bids]


def grouped(digest: str, size: int = 16) -> str:
    """A hex digest in blocks of 16 separated by spaces, so it wraps in a table cell."""
    return " ".join(digest[i:i + size] for i in range(0, len(digest), size))


def opening_record_context(tender: Tender) -> dict:
    """The plain data of the opening record PDF (in the documents' language, Chinese)."""
    users = {u.id: u.name for u in db.session.scalars(sa.select(User).where(
        User.id.in_([tender.opening_started_by_id or 0, tender.opening_confirmed_by_id or 0])))}
    starter = users.get(tender.opening_started_by_id, "")
    confirmer = users.get(tender.opening_confirmed_by_id, "")
    rows = opening_rows(tender)
    with force_locale(current_app.config["BABEL_DEFAULT_LOCALE"]):
        excluded_note = _("Could not be decrypted: excluded")
        table = [[row.bidder, excluded_note if row.excluded else format_money(row.price),
                  grouped(row.receipt_sha256), _beijing(row.received_at)] for row in rows]
        sections = [{"heading": _("Bidders"),
                     "paragraphs": [_("%(count)s bid(s) were received by the deadline and opened.", count=len(rows))],
                     "columns": [_("Bidder"), _("Price"), _("Receipt SHA-256"), _("Received at (Beijing time)")],
                     "rows": table}]
        if any(row.excluded for row in rows):
            sections.append({"heading": _("Bids that could not be opened"), "paragraphs": [
                _("A bid whose sealed price or files could not be decrypted, or no longer match the bidder's "
                  "receipt, is excluded from evaluation. The platform holds the keys, so this is not the "
                  "bidder's fault; the incident has been recorded for investigation.")]})
        return {
            "issuer": tender.bureau.name,
            "title": _("Bid opening record (开标记录)"),
            "lead": _("%(reference)s %(title)s. Bid deadline: %(deadline)s; opened at %(opened)s (Beijing time). "
                      "The opening was started by %(starter)s and confirmed by %(confirmer)s.",
                      reference=tender.reference, title=tender.title, deadline=_beijing(tender.bid_deadline),
                      opened=_beijing(tender.opened_at), starter=starter, confirmer=confirmer),
            "sections": sections,
            "signatures": [starter, confirmer],
        }


def opening_record(tender: Tender) -> GeneratedDocument | None:
    if tender.opening_record_id is None:
        return None
    return db.session.get(GeneratedDocument, tender.opening_record_id)


def read_bid_file(bid_file: BidFile) -> tuple[bytes, FileType]:
    """Decrypt an opened bid's file in memory; its type is sniffed from the plaintext."""
    data = sealing.unseal(bid_file.bid.tender.sealing_scope, bid_file.file.read_bytes())
    if hashlib.sha256(data).hexdigest() != bid_file.plain_sha256:
        raise sealing.SealTampered(_l("A sealed file has been altered or damaged."))
    return data, sniff(data) or PDF


# --- Competitive negotiation: final quotes (最后报价) ----------------------------------------------------------


def final_scope(tender: Tender) -> str:
    """Final quotes are sealed under their own key, opened separately from the first responses."""
    return f"{tender.sealing_scope}:final"


def current_round(tender: Tender) -> NegotiationRound | None:
    return db.session.scalar(sa.select(NegotiationRound).where(NegotiationRound.tender_id == tender.id)
                             .order_by(NegotiationRound.number.desc()).limit(1))


def final_quotes(tender: Tender) -> list[Bid]:
    return list(db.session.scalars(
        sa.select(Bid).where(Bid.tender_id == tender.id, Bid.kind == BidKind.FINAL_QUOTE,
                             Bid.status == BidStatus.SUBMITTED).order_by(Bid.received_at, Bid.id)))


# Features built on tenders may refuse a final quote for reasons this module cannot see (the evaluation's
# qualification review). Each check takes (tender, organisation) and returns a DomainError or None; features
# register theirs when the app starts (portal.evaluation.init_app), so tenders never imports them.
FINAL_QUOTE_CHECKS: list[Callable[[Tender, Organisation], DomainError | None]] = []


def register_final_quote_check(check: Callable[[Tender, Organisation], DomainError | None]) -> None:
    if check not in FINAL_QUOTE_CHECKS:
        FINAL_QUOTE_CHECKS.append(check)


def final_quote_refusal(tender: Tender, organisation: Organisation | None, now: datetime) -> DomainError | None:
    """Only suppliers still in the negotiation quote, after a round that asked for final quotes, before its deadline."""
    round_ = current_round(tender) if tender.status == TenderStatus.NEGOTIATING else None
    if round_ is None or round_.final_quote_deadline is None:
        return BiddingClosed(_l("Final quotes have not been asked for."))
    if not rules.bidding_open(now, round_.final_quote_deadline):
        return BiddingClosed(_l("The final-quote deadline has passed."))
    if live_bid(tender, organisation) is None:
        return NotEligible(_l("Only suppliers still in the negotiation give a final quote."))
    if organisation.status != OrgStatus.ACTIVE or organisation.is_debarred(rules.local_date(now)):
        return NotEligible(_l("Your organisation cannot take part at present (not approved or debarred)."))
    for check in FINAL_QUOTE_CHECKS:
        refusal = check(tender, organisation)
        if refusal is not None:
            return refusal
    return None


def submit_final_quote(tender: Tender, price: Decimal, *, actor: User, now: datetime) -> Bid:
    """A remaining supplier's sealed final quote (74-33); a new one replaces the earlier one before the deadline."""
    tender = _lock(tender)
    refusal = final_quote_refusal(tender, actor.organisation, now)
    if refusal is not None:
        raise refusal
    services.raise_problems(rules.price_problems(price, tender.price_cap))
    scope = final_scope(tender)
    sealed_price = sealing.seal_values(scope, {"price": str(price)})
    old = db.session.scalar(sa.select(Bid).where(
        Bid.tender_id == tender.id, Bid.supplier_id == actor.organisation_id, Bid.kind == BidKind.FINAL_QUOTE,
        Bid.status == BidStatus.SUBMITTED))
    if old is not None:
        old.status = BidStatus.REPLACED
        db.session.flush()
    quote = Bid(tender_id=tender.id, supplier_id=actor.organisation_id, submitted_by_id=actor.id,
                kind=BidKind.FINAL_QUOTE, status=BidStatus.SUBMITTED, sealed_price=sealed_price.ciphertext,
                price_sha256=sealed_price.sha256, receipt_sha256=receipt_digest(sealed_price.sha256, []),
                received_at=now, created_at=now)
    db.session.add(quote)
    db.session.flush()
    if old is not None:
        old.replaced_by_id = quote.id
    audit.record("bid.final_quote", quote, actor=actor, now=now,
                 new={"tender_id": tender.id, "receipt_sha256": quote.receipt_sha256, "received_at": now})
    return quote


def open_final_quotes(tender: Tender, *, actor: User, confirmer: User, now: datetime) -> str:
    """After the final-quote deadline two officers unseal them; with fewer than 3 the negotiation ends (74-37),
    otherwise the lowest compliant final quote leads (74-35). Returns "opened" or "failed"."""
    tender = _lock(tender)
    if not (tender.can_manage(actor) and tender.can_manage(confirmer)):
        raise NotAllowed(_l("Only an officer of the tender's own bureau can open its bids."))
    if actor.id == confirmer.id:
        services.raise_problems([rules.Problem("opening_same_officer")], Conflict)
    round_ = current_round(tender)
    if tender.status != TenderStatus.NEGOTIATING or round_ is None or round_.final_quote_deadline is None:
        raise Conflict(_l("Final quotes have not been asked for."))
    if rules.bidding_open(now, round_.final_quote_deadline):
        raise Conflict(_l("Final quotes can be opened only after their deadline."))
    quotes = final_quotes(tender)
    if rules.too_few_bids(len(quotes)):
        services.fail_tender(tender, reason=str(_l("Fewer than 3 final quotes were received (74-37).")),
                             actor=actor, now=now)
        return "failed"
    scope = final_scope(tender)
    sealing.authorise_opening(scope, actors=[actor, confirmer], now=now)
    for quote in quotes:
        quote.opened_price = Decimal(sealing.unseal_values(scope, quote.sealed_price)["price"])
    tender.status = TenderStatus.EVALUATING
    audit.record("tender.final_quotes_opened", tender, actor=actor, now=now,
                 old={"status": TenderStatus.NEGOTIATING}, new={"status": tender.status,
                 "quotes": [{"supplier": q.supplier_id, "price": q.opened_price} for q in quotes]})
    return "opened"
