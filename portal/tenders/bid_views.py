"""Bids and the opening: a supplier's sealed bid, its receipt, the bids list and the two-officer opening.

Routes live on the tenders blueprint. Before the opening nobody but the bidder itself sees anything
of a bid, and even the bidder sees only hashes and sizes: the price and files stay sealed.
"""

from __future__ import annotations

import io

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, send_file, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user

from portal.accounts.models import User
from portal.db import utcnow
from portal.errors import DomainError
from portal.extensions import db
from portal.files import send_bytes, send_stored
from portal.forms import ActionForm
from portal.permissions import Role, ensure, role_required
from portal.tenders import bidding
from portal.tenders.bid_forms import BidForm, FinalQuoteForm
from portal.tenders.models import Bid, BidFile, BidFileKind, BidStatus, Tender
from portal.tenders.views import bp

BID_STATUS_LABELS = {
    BidStatus.SUBMITTED: _l("Live (sealed)"),
    BidStatus.REPLACED: _l("Replaced"),
    BidStatus.WITHDRAWN: _l("Withdrawn"),
    BidStatus.EXCLUDED: _l("Excluded"),
}
FILE_KIND_LABELS = {
    BidFileKind.TECHNICAL: _l("Technical and service proposal"),
    BidFileKind.QUALIFICATION: _l("Qualification documents"),
    BidFileKind.DECLARATION: _l("Declaration"),
}


def _render(template: str, **context):
    return render_template(f"tenders/bids/{template}", bid_status_labels=BID_STATUS_LABELS,
                           file_kind_labels=FILE_KIND_LABELS, **context)


def _refused(error: DomainError, action: str, subject, now) -> None:
    """Undo the attempt, audit the refusal on its own, and tell the user why."""
    db.session.rollback()
    bidding.record_refusal(action, subject, actor=current_user, error=error, now=now)
    db.session.commit()
    flash(str(error), "danger")


def _bid_page(tender: Tender, form: BidForm, status: int = 200):
    now = utcnow()
    organisation = current_user.organisation
    return _render(
        "bid.html", tender=tender, form=form, action_form=ActionForm(), now=now,
        refusal=bidding.bidding_refusal(tender, organisation, now), closed=bidding.bidding_closed(tender, now),
        live=bidding.live_bid(tender, organisation), history=bidding.own_bids(tender, organisation),
        can_view_opening=tender.can_view_opening(current_user)), status


@bp.get("/tenders/<int:tender_id>/bid")
@role_required(Role.SUPPLIER)
def bid(tender_id):
    tender = db.get_or_404(Tender, tender_id)
    ensure(tender.can_view(current_user))
    return _bid_page(tender, BidForm())


@bp.post("/tenders/<int:tender_id>/bid")
@role_required(Role.SUPPLIER)
def bid_submit(tender_id):
    tender = db.get_or_404(Tender, tender_id)
    ensure(tender.can_view(current_user))
    form = BidForm()
    if not form.validate_on_submit():
        return _bid_page(tender, form, status=400)
    now = utcnow()
    try:
        bidding.submit_bid(tender, form.submission(), actor=current_user, now=now)
    except DomainError as error:
        _refused(error, "bid.submit_refused", tender, now)
        return _bid_page(tender, form, status=error.status_code)
    db.session.commit()
    flash(_("Your bid has been received and sealed. Keep the receipt."), "success")
    return redirect(url_for("tenders.bid", tender_id=tender_id))


@bp.post("/tenders/<int:tender_id>/bid/withdraw")
@role_required(Role.SUPPLIER)
def bid_withdraw(tender_id):
    tender = db.get_or_404(Tender, tender_id)
    ensure(tender.can_view(current_user) and ActionForm().validate_on_submit())
    now = utcnow()
    try:
        bidding.withdraw_bid(tender, actor=current_user, now=now)
    except DomainError as error:
        _refused(error, "bid.withdraw_refused", tender, now)
    else:
        db.session.commit()
        flash(_("Your bid has been withdrawn. You may submit a new one before the deadline."), "success")
    return redirect(url_for("tenders.bid", tender_id=tender_id))


@bp.get("/bids/<int:bid_id>/receipt.pdf")
@role_required(Role.SUPPLIER)
def bid_receipt(bid_id):
    bid = db.get_or_404(Bid, bid_id)
    ensure(bid.is_own(current_user))
    data = bidding.receipt_pdf(bid, locale=str(get_locale() or "zh"))
    return send_file(io.BytesIO(data), mimetype="application/pdf", as_attachment=True,
                     download_name=f"receipt-{bid.tender.reference}-{bid.receipt_sha256[:12]}.pdf", max_age=0)


@bp.get("/bids/<int:bid_id>/files/<int:file_id>")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def bid_file(bid_id, file_id):
    bid_file = db.session.get(BidFile, file_id)
    if bid_file is None or bid_file.bid_id != bid_id:
        abort(404)
    ensure(bid_file.bid.can_read_files(current_user))
    data, file_type = bidding.read_bid_file(bid_file)
    return send_bytes(data, file_type, bid_file.file.original_name)


@bp.get("/tenders/<int:tender_id>/bids")
@role_required(Role.OFFICER, Role.ADMIN)
def bids(tender_id):
    tender = db.get_or_404(Tender, tender_id)
    ensure(tender.can_oversee(current_user))
    rows = bidding.opening_rows(tender)
    bids_by_id = {b.id: b for b in db.session.scalars(sa.select(Bid).where(Bid.id.in_([r.bid_id for r in rows])))}
    return _render("list.html", tender=tender, rows=rows, bids_by_id=bids_by_id,
                   live_count=None if tender.is_opened else bidding.live_bid_count(tender))


@bp.get("/tenders/<int:tender_id>/opening")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def opening(tender_id):
    tender = db.get_or_404(Tender, tender_id)
    ensure(tender.can_view_opening(current_user))
    oversee = tender.can_oversee(current_user)
    return _render(
        "opening.html", tender=tender, rows=bidding.opening_rows(tender), now=utcnow(),
        record=bidding.opening_record(tender), manage=tender.can_manage(current_user), oversee=oversee,
        live_count=bidding.live_bid_count(tender) if oversee and not tender.is_opened else None,
        starter=db.session.get(User, tender.opening_started_by_id or 0),
        confirmer=db.session.get(User, tender.opening_confirmed_by_id or 0), action_form=ActionForm())


@bp.get("/tenders/<int:tender_id>/opening.pdf")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def opening_pdf(tender_id):
    tender = db.get_or_404(Tender, tender_id)
    ensure(tender.can_view_opening(current_user))
    record = bidding.opening_record(tender)
    if record is None:
        flash(_("The opening record is issued when the bids are opened."), "info")
        return redirect(url_for("tenders.opening", tender_id=tender_id))
    return send_stored(record.file)


def _opening_step(tender_id: int, step, action: str):
    tender = db.get_or_404(Tender, tender_id)
    ensure(tender.can_manage(current_user) and ActionForm().validate_on_submit())
    now = utcnow()
    try:
        outcome = step(tender, actor=current_user, now=now)
    except DomainError as error:
        _refused(error, action, tender, now)
    else:
        db.session.commit()
        flash(OUTCOME_MESSAGES[outcome](), "success" if outcome != "failed" else "warning")
    return redirect(url_for("tenders.opening", tender_id=tender_id))


OUTCOME_MESSAGES = {
    "started": lambda: _("The opening has been started. A different officer of the bureau must now confirm it."),
    "opened": lambda: _("The bids have been opened and the opening record issued."),
    "failed": lambda: _("Fewer than 3 valid bids: the tender has failed (废标). The bidders have been told and the "
                        "failure notice published."),
}


@bp.post("/tenders/<int:tender_id>/opening/start")
@role_required(Role.OFFICER)
def opening_start(tender_id):
    return _opening_step(tender_id, bidding.start_opening, "tender.opening_start_refused")


@bp.post("/tenders/<int:tender_id>/opening/confirm")
@role_required(Role.OFFICER)
def opening_confirm(tender_id):
    return _opening_step(tender_id, bidding.confirm_opening, "tender.opening_confirm_refused")


@bp.post("/tenders/<int:tender_id>/final-quote")
@role_required(Role.SUPPLIER)
def final_quote(tender_id):
    tender = db.get_or_404(Tender, tender_id)
    ensure(tender.can_view(current_user))
    form = FinalQuoteForm()
    target = url_for("tenders.detail", tender_id=tender.id)
    if not form.validate_on_submit():
        flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "danger")
        return redirect(target)
    now = utcnow()
    try:
        bidding.submit_final_quote(tender, form.price.data, actor=current_user, now=now)
    except DomainError as exc:
        _refused(exc, "bid.final_quote_refused", tender, now)
        return redirect(target)
    db.session.commit()
    flash(_("Your final quote has been sealed. It will be opened after the deadline."), "success")
    return redirect(target)


@bp.post("/tenders/<int:tender_id>/final-quotes/open")
@role_required(Role.OFFICER)
def open_final_quotes(tender_id):
    from portal.tenders.views import final_quote_opening_form, witness_confirmed

    tender = db.get_or_404(Tender, tender_id)
    ensure(tender.can_manage(current_user))
    form = final_quote_opening_form(tender)
    target = url_for("tenders.detail", tender_id=tender.id)
    if not form.validate_on_submit():
        flash(" ".join(str(e) for errors in form.errors.values() for e in errors), "danger")
        return redirect(target)
    confirmer = db.session.get(User, form.confirmer.data)
    if not witness_confirmed(confirmer, form.confirmer_password, purpose="tender.final_quotes_confirm"):
        flash(" ".join(str(e) for e in form.confirmer_password.errors), "danger")
        return redirect(target)
    now = utcnow()
    try:
        outcome = bidding.open_final_quotes(tender, actor=current_user, confirmer=confirmer, now=now)
    except DomainError as exc:
        _refused(exc, "tender.final_quotes_refused", tender, now)
        return redirect(target)
    db.session.commit()
    flash(_("Fewer than 3 final quotes: the negotiation has ended.") if outcome == "failed"
          else _("The final quotes have been opened."), "warning" if outcome == "failed" else "success")
    return redirect(target)
