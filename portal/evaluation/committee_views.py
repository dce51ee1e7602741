"""Evaluation views: the committee (forming, declarations, chair, replacements), the qualification review,
low-price justifications and the bid files members read. Routes live on ``views.bp``.

Member names reach only the bureau's overseers and the committee itself. A member who has not declared no
conflict sees the bidders' names and nothing else of the bids (87-48).
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import selectinload

from portal.accounts.models import SPECIALTY_LABELS, User
from portal.db import utcnow
from portal.evaluation import committee as service
from portal.evaluation import rules
from portal.evaluation.committee_forms import (
    ChairForm,
    CommitteeForm,
    DeclarationForm,
    JustificationForm,
    LowPriceDecisionForm,
    ReplaceForm,
    qualification_form,
)
from portal.evaluation.models import MEMBER_STATUS_LABELS, CommitteeMember, LowPriceInquiry, MemberKind, MemberStatus
from portal.evaluation.results import committee_for, opened_bids, results
from portal.evaluation.views import bp, load_committee, load_tender, run
from portal.extensions import db
from portal.files import send_bytes
from portal.forms import ActionForm, choices
from portal.permissions import Role, ensure, role_required
from portal.tenders import bidding
from portal.tenders.models import Bid, BidFile, Method, Tender

KIND_LABELS = {
    MemberKind.EXPERT: _l("Expert (评审专家)"),
    MemberKind.REPRESENTATIVE: _l("Purchaser's representative (采购人代表)"),
}
QUALIFICATION_OUTCOMES = {
    "closed": lambda: _("The qualification review is closed. Bids priced abnormally low must now be justified by "
                        "their bidders; the others can be scored."),
    "failed": lambda: _("Fewer than 3 bids qualified: the procurement has failed (废标/终止). The bidders have been "
                        "told and the failure notice published."),
}
LOW_PRICE_OUTCOMES = {
    "accepted": lambda: _("The justification has been accepted; the bid will be scored."),
    "rejected": lambda: _("The justification has been rejected; the bid is invalid (87-60)."),
    "failed": lambda: _("The bid is invalid and fewer than 3 qualified bids remain: the procurement has failed "
                        "(废标/终止)."),
}


def _overview(tender_id: int) -> str:
    return url_for("evaluation.overview", tender_id=tender_id)


def _flash_errors(form) -> None:
    for errors in form.errors.values():
        flash(" ".join(str(e) for e in errors), "danger")


def _members(committee) -> list[CommitteeMember]:
    return list(db.session.scalars(sa.select(CommitteeMember).where(CommitteeMember.committee_id == committee.id)
                                   .options(selectinload(CommitteeMember.user)).order_by(CommitteeMember.position)))


def _bureau_officers(tender: Tender, exclude=()) -> list[User]:
    """Active officers of the tender's own bureau (who may sit as its representatives)."""
    return [u for u in db.session.scalars(sa.select(User).where(
        User.organisation_id == tender.bureau_id, User.role == Role.OFFICER, User.active.is_(True),
        User.approved.is_(True)).order_by(User.id)) if u.id not in set(exclude)]


def _bidder_names(tender: Tender) -> list[str]:
    if tender.method == Method.SINGLE_SOURCE:
        return [tender.single_source_supplier.name] if tender.single_source_supplier else []
    return [bid.supplier.name for bid in _bids_with_files(tender)]


def _bids_with_files(tender: Tender) -> list[Bid]:
    """The opened bids, their suppliers and files loaded in a constant number of queries."""
    ids = [bid.id for bid in opened_bids(tender)]
    if not ids:
        return []
    loaded = {bid.id: bid for bid in db.session.scalars(sa.select(Bid).where(Bid.id.in_(ids)).options(
        selectinload(Bid.supplier), selectinload(Bid.files).selectinload(BidFile.file)))}
    return [loaded[i] for i in ids]


def _inquiries(committee) -> list[LowPriceInquiry]:
    return list(db.session.scalars(sa.select(LowPriceInquiry).where(LowPriceInquiry.committee_id == committee.id)
                                   .options(selectinload(LowPriceInquiry.bid).selectinload(Bid.supplier))
                                   .order_by(LowPriceInquiry.id)))


def _load_member(committee, member_id: int) -> CommitteeMember:
    member = db.session.get(CommitteeMember, member_id)
    if member is None or member.committee_id != committee.id:
        abort(404)
    return member


def _load_inquiry(committee, inquiry_id: int) -> LowPriceInquiry:
    inquiry = db.session.get(LowPriceInquiry, inquiry_id)
    if inquiry is None or inquiry.committee_id != committee.id:
        abort(404)
    return inquiry


def _render(template: str, **context):
    return render_template(f"evaluation/{template}", kind_labels=KIND_LABELS, member_status_labels=MEMBER_STATUS_LABELS,
                           specialty_labels=SPECIALTY_LABELS, **context)


# --- The overview ------------------------------------------------------------------------------------------------


@bp.get("/tenders/<int:tender_id>/evaluation")
@role_required(Role.OFFICER, Role.ADMIN, Role.EVALUATOR)
def overview(tender_id):
    tender = load_tender(tender_id)
    committee = committee_for(tender)
    ensure(service.can_view_committee(committee, current_user) if committee else tender.can_oversee(current_user))
    seat = committee.member_for(current_user) if committee else None
    if seat is not None and seat.status == MemberStatus.DRAWN:
        return _render("overview.html", tender=tender, committee=committee, seat=seat, undeclared=True,
                       bidders=_bidder_names(tender), results=None)
    if committee is None:
        return _render("overview.html", tender=tender, committee=None, seat=None, undeclared=False,
                       manage=tender.can_manage(current_user), formable=service.can_form_committee(tender),
                       results=None)
    members = _members(committee)
    chair_form = ChairForm()
    chair_form.member_id.choices = choices([(m.id, m.user.name) for m in members
                                            if m.status == MemberStatus.ACTIVE and m.kind == MemberKind.EXPERT])
    replace_form = ReplaceForm()
    replace_form.representative_id.choices = choices([("", "—")] + [
        (u.id, u.name) for u in _bureau_officers(tender, exclude=[m.user_id for m in members])])
    return _render(
        "overview.html", tender=tender, committee=committee, members=members, seat=seat, undeclared=False,
        manage=tender.can_manage(current_user), oversee=tender.can_oversee(current_user),
        chair=service.is_chair(committee, current_user), member_reads=service.can_read_bids(committee, current_user),
        bids=_bids_with_files(tender), inquiries=_inquiries(committee), results=results(committee),
        checks=service.checks_by_bid(committee), chair_form=chair_form, replace_form=replace_form,
        action_form=ActionForm(), working=tender.status in service.WORKING and not committee.report_completed_at)


# --- Forming the committee, the chair, replacements --------------------------------------------------------------


@bp.route("/tenders/<int:tender_id>/evaluation/committee", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def form_committee(tender_id):
    tender = load_tender(tender_id)
    ensure(tender.can_manage(current_user))
    if committee_for(tender) is not None:
        return redirect(_overview(tender_id))
    form = CommitteeForm()
    form.representatives.choices = choices([(u.id, u.name) for u in _bureau_officers(tender)])
    if form.validate_on_submit():
        response = run(lambda: service.form_committee(
            tender, size=form.size.data, specialty=form.specialty.data, representative_ids=form.representatives.data,
            actor=current_user, now=utcnow()),
            _("The committee has been drawn. Each member must declare that they have no conflict of interest "
              "before seeing any bid."), _overview(tender_id))
        if response:
            return response
    minimum = (rules.minimum_committee_size(tender.method, tender.budget, tender.complex,
                                            service.open_tender_threshold())
               if service.can_form_committee(tender) else None)
    return _render("committee_form.html", tender=tender, form=form, minimum=minimum,
                   pool_sizes=service.pool_sizes(), formable=service.can_form_committee(tender))


@bp.post("/tenders/<int:tender_id>/evaluation/chair")
@role_required(Role.OFFICER)
def set_chair(tender_id):
    committee = load_committee(tender_id)
    ensure(committee.tender.can_manage(current_user))
    form = ChairForm()
    form.member_id.choices = choices([(m.id, str(m.id)) for m in committee.sitting])
    target = _overview(tender_id)
    if not form.validate_on_submit():
        _flash_errors(form)
        return redirect(target)
    member = _load_member(committee, form.member_id.data)
    return run(lambda: service.set_chair(committee, member, actor=current_user, now=utcnow()),
               _("The chair has been recorded."), target) or redirect(target)


@bp.post("/tenders/<int:tender_id>/evaluation/members/<int:member_id>/replace")
@role_required(Role.OFFICER)
def replace_member(tender_id, member_id):
    committee = load_committee(tender_id)
    member = _load_member(committee, member_id)
    ensure(committee.tender.can_manage(current_user))
    form = ReplaceForm()
    target = _overview(tender_id)
    if not form.validate_on_submit():
        _flash_errors(form)
        return redirect(target)
    return run(lambda: service.replace_member(member, reason=form.reason.data, actor=current_user, now=utcnow(),
                                              representative_id=form.representative_id.data),
               _("The member has been replaced; the new member has been asked to declare."), target) \
        or redirect(target)


# --- The member's declaration -------------------------------------------------------------------------------------


@bp.route("/tenders/<int:tender_id>/evaluation/declaration", methods=["GET", "POST"])
@role_required(Role.EVALUATOR, Role.OFFICER)
def declare(tender_id):
    committee = load_committee(tender_id)
    seat = committee.member_for(current_user)
    ensure(seat is not None)
    form = DeclarationForm()
    if seat.status == MemberStatus.DRAWN and form.validate_on_submit():
        conflict = form.conflict.data == "yes"
        response = run(lambda: service.declare(seat, conflict=conflict, note=form.note.data or "",
                                               actor=current_user, now=utcnow()),
                       _("Your conflict of interest has been recorded and another expert drawn in your place. "
                         "Thank you.") if conflict else _("Your declaration has been recorded."),
                       url_for("main.dashboard") if conflict else _overview(tender_id))
        if response:
            return response
    return _render("declaration.html", tender=committee.tender, committee=committee, seat=seat, form=form,
                   bidders=_bidder_names(committee.tender))


# --- Qualification and compliance review ---------------------------------------------------------------------------


def _qualification_forms(tender: Tender, bids: list[Bid], checks: dict) -> dict:
    """Each bid's form, filled with the findings recorded so far (not bound to the request)."""
    forms = {}
    for bid in bids:
        found = checks.get(bid.id, {})
        data = {}
        for requirement in tender.requirements:
            if requirement.id in found:
                data[f"passed_{requirement.id}"] = "pass" if found[requirement.id].passed else "fail"
                data[f"reason_{requirement.id}"] = found[requirement.id].reason
        forms[bid.id] = qualification_form(tender.requirements, formdata=None, prefix=f"b{bid.id}", data=data)
    return forms


@bp.route("/tenders/<int:tender_id>/evaluation/qualification", methods=["GET", "POST"])
@role_required(Role.OFFICER, Role.ADMIN, Role.EVALUATOR)
def qualification(tender_id):
    committee = load_committee(tender_id)
    tender = committee.tender
    ensure(tender.can_oversee(current_user) or service.can_read_bids(committee, current_user))
    chair = service.is_chair(committee, current_user)
    bids = _bids_with_files(tender)
    posted = None
    if request.method == "POST":
        ensure(chair)
        bid = next((b for b in bids if b.id == request.form.get("bid_id", type=int)), None)
        if bid is None:
            abort(404)
        posted = (bid.id, qualification_form(tender.requirements, prefix=f"b{bid.id}"))
        if posted[1].validate_on_submit():
            response = run(lambda: service.record_checks(committee, bid, posted[1].findings(), actor=current_user,
                                                         now=utcnow()),
                           _("The findings on %(bidder)s have been recorded.", bidder=bid.supplier.name),
                           url_for("evaluation.qualification", tender_id=tender_id))
            if response:
                return response
        else:
            _flash_errors(posted[1])
    checks = service.checks_by_bid(committee)
    forms = _qualification_forms(tender, bids, checks)
    if posted is not None:
        forms[posted[0]] = posted[1]
    return _render("qualification.html", tender=tender, committee=committee, bids=bids, checks=checks, forms=forms,
                   chair=chair, action_form=ActionForm(), member_reads=service.can_read_bids(committee, current_user),
                   open=committee.qualification_closed_at is None and tender.status in service.WORKING
                   and tender.method != Method.SINGLE_SOURCE)


@bp.post("/tenders/<int:tender_id>/evaluation/qualification/close")
@role_required(Role.EVALUATOR)
def close_qualification(tender_id):
    committee = load_committee(tender_id)
    ensure(service.is_chair(committee, current_user))
    outcome = []
    target = url_for("evaluation.qualification", tender_id=tender_id)
    return run(lambda: outcome.append(service.close_qualification(committee, actor=current_user, now=utcnow())),
               lambda: QUALIFICATION_OUTCOMES[outcome[0]](), target) or redirect(target)


# --- Abnormally low prices ------------------------------------------------------------------------------------------


@bp.route("/tenders/<int:tender_id>/evaluation/low-price/<int:inquiry_id>", methods=["GET", "POST"])
@role_required(Role.SUPPLIER, Role.OFFICER, Role.ADMIN, Role.EVALUATOR)
def low_price(tender_id, inquiry_id):
    committee = load_committee(tender_id)
    inquiry = _load_inquiry(committee, inquiry_id)
    own = inquiry.bid.is_own(current_user)
    ensure(own or committee.tender.can_oversee(current_user) or service.can_read_bids(committee, current_user))
    form = JustificationForm()
    if request.method == "POST":
        ensure(own)
        if form.validate_on_submit():
            target = url_for("evaluation.low_price", tender_id=tender_id, inquiry_id=inquiry_id)
            response = run(lambda: service.justify_low_price(inquiry, form.text.data, actor=current_user,
                                                             now=utcnow()),
                           _("Your justification has been sent to the committee."), target)
            if response:
                return response
    elif inquiry.justified_at:
        form.text.data = inquiry.justification
    chair = service.is_chair(committee, current_user)
    now = utcnow()
    return _render("low_price.html", tender=committee.tender, committee=committee, inquiry=inquiry, own=own,
                   form=form, chair=chair, decision_form=LowPriceDecisionForm() if chair else None,
                   time_over=inquiry.due_at is not None and now >= inquiry.due_at,
                   overdue=service.justification_overdue(inquiry, now),
                   threshold_pct=f"{(service.abnormally_low_threshold() * 100).normalize():f}%")


@bp.post("/tenders/<int:tender_id>/evaluation/low-price/<int:inquiry_id>/decide")
@role_required(Role.EVALUATOR)
def decide_low_price(tender_id, inquiry_id):
    committee = load_committee(tender_id)
    inquiry = _load_inquiry(committee, inquiry_id)
    ensure(service.is_chair(committee, current_user))
    form = LowPriceDecisionForm()
    target = url_for("evaluation.low_price", tender_id=tender_id, inquiry_id=inquiry_id)
    if not form.validate_on_submit():
        _flash_errors(form)
        return redirect(target)
    outcome = []
    return run(lambda: outcome.append(service.decide_low_price(
        inquiry, accepted=form.decision.data == "accept", note=form.note.data or "", actor=current_user,
        now=utcnow())), lambda: LOW_PRICE_OUTCOMES[outcome[0]](), target) or redirect(target)


# --- Bid files for the committee ------------------------------------------------------------------------------------


@bp.get("/tenders/<int:tender_id>/evaluation/files/<int:file_id>")
@role_required(Role.EVALUATOR, Role.OFFICER)
def bid_file(tender_id, file_id):
    committee = load_committee(tender_id)
    bid_file = db.session.get(BidFile, file_id)
    if bid_file is None or bid_file.bid.tender_id != committee.tender_id:
        abort(404)
    ensure(service.can_read_bids(committee, current_user) and bid_file.bid.opened_price is not None)
    data, file_type = bidding.read_bid_file(bid_file)
    return send_bytes(data, file_type, bid_file.file.original_name)


# --- On the tender's page -------------------------------------------------------------------------------------------


def detail_links(tender: Tender) -> dict:
    """What the tender's page links to: the evaluation (for those who may see it) and a pending justification."""
    committee = committee_for(tender)
    user = current_user
    links = {"overview": False, "seat": None, "inquiries": [], "out_of_negotiation": False}
    if committee is None:
        links["overview"] = tender.can_oversee(user) and service.can_form_committee(tender)
        return links
    links["overview"] = service.can_view_committee(committee, user)
    links["seat"] = committee.member_for(user)
    if getattr(user, "is_authenticated", False) and user.role == Role.SUPPLIER:
        links["inquiries"] = list(db.session.scalars(
            sa.select(LowPriceInquiry).join(Bid, Bid.id == LowPriceInquiry.bid_id)
            .where(LowPriceInquiry.committee_id == committee.id, Bid.supplier_id == user.organisation_id,
                   LowPriceInquiry.decided_at.is_(None))))
        links["out_of_negotiation"] = (tender.method == Method.NEGOTIATION and tender.status in service.WORKING
                                       and service.failed_qualification(tender, user.organisation))
    return links


@bp.app_context_processor
def inject_evaluation_links():
    return {"evaluation_detail_links": detail_links}
