"""Evaluation views: scoring (see views.py). A member's sheet, the others' sheets once visible, the chair's
deviations and re-checks, lawful changes, the bureau's tie decision, closing, and the report with each
member's confirmation (password) and its PDF.

Visibility follows ``scoring.can_see_sheet``: nobody reaches another member's points before submitting their
own, overseers only once the scoring is closed, suppliers never.
"""

from __future__ import annotations

from flask import abort, current_app, flash, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from werkzeug.routing import BuildError

from portal.accounts.services import LoginLocked, WrongPassword, confirm_password
from portal.audit import client_ip
from portal.db import utcnow
from portal.errors import DomainError
from portal.evaluation import results, rules, scoring
from portal.evaluation.committee import is_chair
from portal.evaluation.models import CHANGE_REASON_LABELS, CommitteeMember, Recheck, Score
from portal.evaluation.scoring_forms import (
    ChangeScoreForm,
    ConfirmReportForm,
    RecheckForm,
    ResolveRecheckForm,
    comment_name,
    points_name,
    sheet_entries,
    sheet_form,
    tie_form,
)
from portal.evaluation.views import bp, load_committee, run
from portal.extensions import db
from portal.files import send_stored
from portal.forms import ActionForm, choices
from portal.permissions import Role, ensure, role_required

MEMBERS = (Role.EVALUATOR, Role.OFFICER)  # experts, and officers sitting as the purchaser's representative
READERS = (Role.EVALUATOR, Role.OFFICER, Role.ADMIN)  # members and the bureau's overseers
OVERVIEW_ENDPOINTS = ("evaluation.overview", "evaluation.committee")  # the committee helper's page, if present


def _overview_url(tender) -> str:
    for endpoint in OVERVIEW_ENDPOINTS:
        if endpoint in current_app.view_functions:
            try:
                return url_for(endpoint, tender_id=tender.id)
            except BuildError:
                continue
    return url_for("tenders.detail", tender_id=tender.id)


def _render(template: str, committee, status: int = 200, **context):
    tender = committee.tender
    return render_template(f"evaluation/{template}", tender=tender, committee=committee,
                           overview_url=_overview_url(tender), change_reason_labels=CHANGE_REASON_LABELS,
                           for_display=rules.for_display,
                           bid_file_links="evaluation.bid_file" in current_app.view_functions, **context), status


def _sheet_target(tender_id: int) -> str:
    return url_for("evaluation.sheet", tender_id=tender_id)


def _flash_errors(form) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "danger")


# --- The member's own sheet ---------------------------------------------------------------------------------


def _sheet_page(committee, member, form=None, status: int = 200):
    tender = committee.tender
    sheet = scoring.own_sheet(committee, member)
    bids = results.qualified_bids(committee)
    scores = {(s.bid_id, s.criterion_id): s for s in sheet.scores} if sheet else {}
    submitted = sheet is not None and sheet.submitted_at is not None
    refusal = scoring.scoring_refusal(committee)
    if form is None and not submitted and refusal is None:
        form = sheet_form(bids, tender.criteria, scores)
    return _render("sheet.html", committee, status, member=member, sheet=sheet, bids=bids, criteria=tender.criteria,
                   scores=scores, submitted=submitted, form=form, refusal=refusal, points_name=points_name,
                   comment_name=comment_name, change_form=ChangeScoreForm(formdata=None),
                   resolve_form=ResolveRecheckForm(formdata=None),
                   rechecks=scoring.open_rechecks(committee, member) if submitted else [],
                   frozen=committee.report_completed_at is not None)


@bp.route("/tenders/<int:tender_id>/evaluation/sheet", methods=["GET", "POST"])
@role_required(*MEMBERS)
def sheet(tender_id):
    committee = load_committee(tender_id)
    member = committee.member_for(current_user)
    ensure(member is not None and member.is_active and scoring.is_comprehensive(committee.tender))
    bids = results.qualified_bids(committee)
    existing = scoring.own_sheet(committee, member)
    scores = {(s.bid_id, s.criterion_id): s for s in existing.scores} if existing else {}
    form = sheet_form(bids, committee.tender.criteria, scores)
    if not form.validate_on_submit():
        if form.is_submitted():
            _flash_errors(form)
            return _sheet_page(committee, member, form, status=400)
        return _sheet_page(committee, member)
    entries, comments = sheet_entries(form, bids, committee.tender.criteria)
    actor, now = current_user._get_current_object(), utcnow()
    if form.submit_sheet.data:
        def action():
            scoring.save_scores(committee, member, entries, comments, actor=actor, now=now)
            scoring.submit_sheet(committee, member, actor=actor, now=now)
        message = _("Your sheet has been submitted. You can now see the other members' submitted sheets.")
    else:
        def action():
            scoring.save_scores(committee, member, entries, comments, actor=actor, now=now)
        message = _("Your draft has been saved. Nobody else can see it.")
    response = run(action, message, _sheet_target(tender_id))
    return response or _sheet_page(committee, member, form, status=400)


def _sheet_tables(sheets, bids, criteria) -> list[tuple]:
    """Each sheet with its rows: (bid, points per criterion or None, the member's total shown to 2 places)."""
    tables = []
    for shown in sheets:
        points = {(s.bid_id, s.criterion_id): s.points for s in shown.scores}
        rows = []
        for bid in bids:
            row = [points.get((bid.id, c.id)) for c in criteria]
            total = rules.member_totals({"m": dict(enumerate(row))})["m"] if None not in row else None
            rows.append((bid, row, rules.for_display(total) if total is not None else None))
        tables.append((shown, rows))
    return tables


def _sheets_page(committee, shown, *, single: bool):
    bids = results.qualified_bids(committee)
    criteria = committee.tender.criteria
    return _render("sheets.html", committee, tables=_sheet_tables(shown, bids, criteria), criteria=criteria,
                   single=single)


@bp.get("/tenders/<int:tender_id>/evaluation/sheets/<int:member_id>")
@role_required(*READERS)
def member_sheet(tender_id, member_id):
    committee = load_committee(tender_id)
    member = db.get_or_404(CommitteeMember, member_id)
    if member.committee_id != committee.id:
        abort(404)
    shown = scoring.own_sheet(committee, member)
    ensure(shown is not None and scoring.can_see_sheet(committee, current_user, shown))
    return _sheets_page(committee, [shown], single=True)


@bp.get("/tenders/<int:tender_id>/evaluation/sheets")
@role_required(*READERS)
def sheets(tender_id):
    committee = load_committee(tender_id)
    member = committee.member_for(current_user)
    ensure((member is not None and member.is_active) or committee.tender.can_oversee(current_user))
    return _sheets_page(committee, scoring.visible_sheets(committee, current_user), single=False)


# --- Deviations and re-checks -------------------------------------------------------------------------------


def _recheck_form(committee, **kwargs) -> RecheckForm:
    form = RecheckForm(**kwargs)
    form.member_id.choices = choices([(m.id, m.user.name) for m in committee.sitting if m.is_active])
    return form


@bp.get("/tenders/<int:tender_id>/evaluation/deviations")
@role_required(*MEMBERS)
def deviations(tender_id):
    committee = load_committee(tender_id)
    ensure(scoring.can_see_deviations(committee, current_user))
    bids = results.qualified_bids(committee)
    return _render("deviations.html", committee, table=scoring.deviations(committee), bids=bids,
                   names={b.id: b.supplier.name for b in bids}, criteria=committee.tender.criteria,
                   members=[m for m in committee.sitting if m.is_active], recheck_form=_recheck_form(committee),
                   rechecks=scoring.open_rechecks(committee), close_form=ActionForm())


@bp.post("/tenders/<int:tender_id>/evaluation/rechecks")
@role_required(*MEMBERS)
def request_recheck(tender_id):
    committee = load_committee(tender_id)
    ensure(scoring.can_see_deviations(committee, current_user))
    form = _recheck_form(committee)
    target = url_for("evaluation.deviations", tender_id=tender_id)
    ids = form.ids()
    if not form.validate_on_submit() or ids is None:
        _flash_errors(form)
        return redirect(target)
    member = db.get_or_404(CommitteeMember, form.member_id.data)
    return run(lambda: scoring.request_recheck(committee, member, *ids, form.note.data, actor=current_user,
                                               now=utcnow()),
               _("The member has been asked to re-check the score."), target) or redirect(target)


@bp.post("/tenders/<int:tender_id>/evaluation/rechecks/<int:recheck_id>")
@role_required(*MEMBERS)
def resolve_recheck(tender_id, recheck_id):
    committee = load_committee(tender_id)
    recheck = db.get_or_404(Recheck, recheck_id)
    if recheck.committee_id != committee.id:
        abort(404)
    ensure(recheck.member.user_id == current_user.id)
    form = ResolveRecheckForm()
    target = _sheet_target(tender_id)
    if not form.validate_on_submit():
        _flash_errors(form)
        return redirect(target)
    keep = form.decision.data == "keep"
    return run(lambda: scoring.resolve_recheck(recheck, keep=keep, new_points=form.new_points.data,
                                               reason=form.reason.data or None, note=form.note.data or "",
                                               actor=current_user, now=utcnow()),
               _("Your answer to the re-check has been recorded."), target) or redirect(target)


@bp.post("/tenders/<int:tender_id>/evaluation/scores/<int:score_id>/change")
@role_required(*MEMBERS)
def change_score(tender_id, score_id):
    committee = load_committee(tender_id)
    score = db.get_or_404(Score, score_id)
    if score.sheet.committee_id != committee.id:
        abort(404)
    ensure(score.sheet.member.user_id == current_user.id)
    form = ChangeScoreForm()
    target = _sheet_target(tender_id)
    if not form.validate_on_submit():
        _flash_errors(form)
        return redirect(target)
    return run(lambda: scoring.change_score(score, form.new_points.data, reason=form.reason.data,
                                            note=form.note.data, actor=current_user, now=utcnow()),
               _("The score has been changed; the change and its reason are recorded."), target) or redirect(target)


# --- Ties, closing -----------------------------------------------------------------------------------------------


@bp.route("/tenders/<int:tender_id>/evaluation/tie", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def tie(tender_id):
    committee = load_committee(tender_id)
    tender = committee.tender
    ensure(tender.can_manage(current_user))
    groups = scoring.undecided_ties(committee)
    names = {b.id: b.supplier.name for b in results.opened_bids(tender)}
    forms = [tie_form(group, names, formdata=None) for group in groups]
    posted = tie_form([], names)
    if posted.is_submitted():
        group = next((g for g in groups if g == sorted(posted.group())), None)
        if group is None:
            flash(_("These bids do not tie, or their tie has already been decided."), "danger")
            return redirect(url_for("evaluation.tie", tender_id=tender_id))
        form = tie_form(group, names)
        if form.validate_on_submit() and (response := run(
                lambda: scoring.decide_tie(committee, order=form.order() if form.mode.data == "documents" else None,
                                           ids=group, note=form.note.data or "", actor=current_user, now=utcnow()),
                _("The decision on the tie has been recorded."), url_for("evaluation.tie", tender_id=tender_id))):
            return response
        forms[groups.index(group)] = form
    outcome = results.results(committee)
    rows = {row.bid_id: row for row in outcome.rows}
    # The decisions the ranking applies, including one carried from an earlier round for the same tied bids.
    decided = [t for d in sorted(outcome.ties, key=lambda d: (d.rows[0].decided_at, d.rows[0].id)) for t in d.rows]
    return _render("tie.html", committee, 400 if posted.is_submitted() else 200, groups=list(zip(groups, forms,
                   strict=True)), names=names, rows=rows, decided=decided)


@bp.post("/tenders/<int:tender_id>/evaluation/close")
@role_required(Role.EVALUATOR)
def close_scoring(tender_id):
    committee = load_committee(tender_id)
    ensure(is_chair(committee, current_user) and ActionForm().validate_on_submit())
    try:
        outcome = scoring.close_scoring(committee, actor=current_user, now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return redirect(_overview_url(committee.tender))
    db.session.commit()
    if outcome == "failed":
        flash(_("Fewer than 3 suppliers that passed the qualification review gave a final quote: the negotiation "
                "has ended (74-37). The bidders have been told and the failure notice published."), "warning")
        return redirect(url_for("tenders.detail", tender_id=tender_id))
    if outcome == "tie":
        flash(_("Bids tie on total and price: the bureau has been asked to record how the tie is decided. Close "
                "the scoring again once it has."), "warning")
        return redirect(_overview_url(committee.tender))
    flash(_("The scoring is closed. Every member is asked to confirm the report."), "success")
    return redirect(url_for("evaluation.report", tender_id=tender_id))


# --- The report ---------------------------------------------------------------------------------------------------


@bp.get("/tenders/<int:tender_id>/evaluation/report")
@role_required(*READERS)
def report(tender_id):
    committee = load_committee(tender_id)
    ensure(scoring.can_read_report(committee, current_user))
    member = committee.member_for(current_user)
    must_confirm = (member is not None and member.is_active and member.report_confirmed_at is None
                    and committee.report_completed_at is None)
    return _render("report.html", committee, report=scoring.report_context(committee), member=member,
                   must_confirm=must_confirm, confirm_form=ConfirmReportForm() if must_confirm else None,
                   document=scoring.report_document(committee))


@bp.post("/tenders/<int:tender_id>/evaluation/report/confirm")
@role_required(*MEMBERS)
def confirm_report(tender_id):
    committee = load_committee(tender_id)
    member = committee.member_for(current_user)
    ensure(member is not None and member.is_active)
    form = ConfirmReportForm()
    target = url_for("evaluation.report", tender_id=tender_id)
    if not form.validate_on_submit():
        _flash_errors(form)
        return redirect(target)
    now = utcnow()
    try:
        confirm_password(current_user, form.password.data, purpose="evaluation.report_confirm", actor=current_user,
                         ip=client_ip(), now=now)
    except (WrongPassword, LoginLocked) as exc:
        db.session.commit()  # the recorded attempt counts towards the lockout
        flash(str(exc), "danger")
        return redirect(target)
    return run(lambda: scoring.confirm_report(committee, member, actor=current_user, now=now,
                                              dissent=form.dissent.data or ""),
               _("You have confirmed the report."), target) or redirect(target)


@bp.get("/tenders/<int:tender_id>/evaluation/report.pdf")
@role_required(*READERS)
def report_pdf(tender_id):
    committee = load_committee(tender_id)
    ensure(scoring.can_read_report(committee, current_user))
    document = scoring.report_document(committee)
    if document is None:
        flash(_("The report PDF is issued once every member has confirmed the report."), "info")
        return redirect(url_for("evaluation.report", tender_id=tender_id))
    return send_stored(document.file)


@bp.app_context_processor
def scoring_helpers():
    """For the scoring panel on the committee's overview page: ``scoring_progress(committee, current_user)``, and
    ``score_display`` (a computed score to two places, rounded half up)."""
    return {"scoring_progress": scoring.scoring_progress, "score_display": rules.for_display}
