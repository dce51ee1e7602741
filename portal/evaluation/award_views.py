"""Evaluation views: the award (confirm, pass over, deemed day), the result notice and award letter, each bidder's
own result, challenges (质疑) and complaints (投诉). Routes live on the evaluation blueprint (views.py).

Two template globals feed the partials other pages include: ``award_panel`` (the committee overview's award box)
and ``award_summary`` (the tender page: result notice, and for a bidder its result and challenges).
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.models import Organisation
from portal.calendar import CalendarYearMissing
from portal.db import utcnow
from portal.errors import DomainError
from portal.evaluation import award as service
from portal.evaluation import award_forms as forms
from portal.evaluation import results, rules
from portal.evaluation.models import (
    CHALLENGE_STATUS_LABELS,
    PASS_OVER_LABELS,
    REMEDY_LABELS,
    Challenge,
    Complaint,
)
from portal.evaluation.views import bp, load_tender, run
from portal.extensions import db
from portal.files import send_stored
from portal.forms import ActionForm, choices
from portal.permissions import Role, ensure, role_required
from portal.tenders.models import Tender
from portal.tenders.rules import local_date


def shown(value) -> str:
    """A computed score to two places (四舍五入), or a dash."""
    return str(rules.for_display(value)) if value is not None else "—"


LABELS = {"pass_over_labels": PASS_OVER_LABELS, "challenge_status_labels": CHALLENGE_STATUS_LABELS,
          "remedy_labels": REMEDY_LABELS, "shown": shown}


def _render(template: str, status: int = 200, **context):
    return render_template(f"evaluation/{template}", **LABELS, **context), status


def _form_errors(form) -> None:
    for errors in form.errors.values():
        for error in errors:
            flash(str(error), "danger")


def _candidates(committee, outcome: results.Results | None = None) -> tuple[list, str | None]:
    """The remaining candidates, or why there are none yet (a translated message)."""
    if committee is None:
        return [], str(_("No committee has been formed yet."))
    try:
        return service.candidates(committee, outcome), None
    except DomainError as exc:
        return [], str(exc)


def _deemed_day(committee):
    try:
        return service.deemed_award_day(committee) if committee is not None else None
    except CalendarYearMissing:
        return None


@bp.app_template_global("award_panel")
def award_panel(tender: Tender, committee, outcome: results.Results | None = None) -> dict:
    """What the committee overview shows of the award: state, deemed day, candidates and pass-overs."""
    remaining, problem = _candidates(committee, outcome)
    return {"award": service.active_award(tender), "deemed_day": _deemed_day(committee), "candidates": remaining,
            "problem": problem, "pass_overs": service.pass_overs(tender)}


@bp.app_template_global("award_summary")
def award_summary(tender: Tender) -> dict:
    """What the tender page shows of the award: the result notice, and to a bidder its result and challenges."""
    award = service.active_award(tender)
    summary = {"award": award, "notice": award.notice if award is not None else None, "bidder": False}
    if award is not None and service.is_bidder(tender, current_user):
        is_open, last_day = service.challenge_window(award, local_date(utcnow()))
        summary.update(bidder=True, window_open=is_open, last_day=last_day,
                       challenges=service.challenges(tender, current_user.organisation_id))
    return summary


# --- The award ------------------------------------------------------------------------------------------------


@bp.get("/tenders/<int:tender_id>/award")
@role_required(Role.OFFICER, Role.ADMIN)
def award(tender_id):
    tender = load_tender(tender_id)
    ensure(tender.can_oversee(current_user))
    committee = results.committee_for(tender)
    remaining, problem = _candidates(committee)
    active = service.active_award(tender)
    manage = tender.can_manage(current_user)
    awarding = (manage and active is None and bool(remaining) and committee.report_completed_at is not None
                and service.awardable(tender))
    target = None
    if manage and active is not None:
        target = {"supplier_id": active.supplier_id, "name": active.supplier.name}
    elif awarding:
        target = {"supplier_id": remaining[0].supplier_id, "name": remaining[0].supplier_name}
    return _render("award.html", tender=tender, committee=committee, candidates=remaining, problem=problem,
                   active=active, awards=service.awards(tender), pass_overs=service.pass_overs(tender),
                   deemed_day=_deemed_day(committee), challenges=service.challenges(tender), manage=manage,
                   can_confirm=awarding, pass_over_target=target, action_form=ActionForm(),
                   contract_block=service.contract_block_reason(tender, utcnow()) if active is not None else None,
                   pass_over_form=forms.PassOverForm())


@bp.post("/tenders/<int:tender_id>/award/confirm")
@role_required(Role.OFFICER)
def confirm_award(tender_id):
    tender = load_tender(tender_id)
    ensure(tender.can_manage(current_user) and ActionForm().validate_on_submit())
    target = url_for("evaluation.award", tender_id=tender_id)
    run(lambda: service.confirm_award(tender, actor=current_user, now=utcnow()),
        _("The award is confirmed: the result notice is published and the award letter issued."), target)
    return redirect(target)


@bp.post("/tenders/<int:tender_id>/award/pass-over")
@role_required(Role.OFFICER)
def pass_over(tender_id):
    tender = load_tender(tender_id)
    ensure(tender.can_manage(current_user))
    form = forms.PassOverForm()
    target = url_for("evaluation.award", tender_id=tender_id)
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(target)
    run(lambda: service.pass_over(tender, supplier_id=form.supplier_id.data, reason=form.reason.data,
                                  note=form.note.data, actor=current_user, now=utcnow()),
        _("The candidate has been passed over."), target)
    return redirect(target)


@bp.get("/tenders/<int:tender_id>/award/letter.pdf")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def award_letter(tender_id):
    tender = load_tender(tender_id)
    active = service.active_award(tender)
    if active is None or active.letter_document is None:
        flash(_("The award letter is issued with the award."), "info")
        return redirect(url_for("tenders.detail", tender_id=tender_id))
    ensure(service.can_read_letter(active, current_user))
    return send_stored(active.letter_document.file)


@bp.get("/tenders/<int:tender_id>/award/my-result")
@role_required(Role.SUPPLIER)
def my_result(tender_id):
    tender = load_tender(tender_id)
    ensure(service.is_bidder(tender, current_user))
    active = service.active_award(tender)
    window = service.challenge_window(active, local_date(utcnow())) if active is not None else (False, None)
    return _render("my_result.html", tender=tender, result=service.own_result(tender, current_user.organisation),
                   active=active, window_open=window[0], last_day=window[1],
                   challenges=service.challenges(tender, current_user.organisation_id))


# --- Challenges (质疑) -------------------------------------------------------------------------------------------


def _challenge_page(tender: Tender, form, status: int = 200):
    active = service.active_award(tender)
    window = service.challenge_window(active, local_date(utcnow())) if active is not None else (False, None)
    return _render("challenge_form.html", status, tender=tender, form=form, active=active, window_open=window[0],
                   last_day=window[1], challenges=service.challenges(tender, current_user.organisation_id))


@bp.route("/tenders/<int:tender_id>/award/challenge", methods=["GET", "POST"])
@role_required(Role.SUPPLIER)
def file_challenge(tender_id):
    tender = load_tender(tender_id)
    ensure(service.is_bidder(tender, current_user))
    form = forms.ChallengeForm()
    if not form.validate_on_submit():
        return _challenge_page(tender, form, 400 if request.method == "POST" else 200)
    try:
        filed = service.file_challenge(tender, grounds=form.grounds.data, evidence=form.evidence.data,
                                       actor=current_user, now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return _challenge_page(tender, form, exc.status_code)
    db.session.commit()
    flash(_("Your challenge has been received. The bureau must answer it in writing by %(date)s.",
             date=filed.answer_due.isoformat()), "success")
    return redirect(url_for("evaluation.challenge", challenge_id=filed.id))


@bp.get("/tenders/<int:tender_id>/award/challenges")
@role_required(Role.OFFICER, Role.ADMIN)
def challenges(tender_id):
    tender = load_tender(tender_id)
    ensure(tender.can_oversee(current_user))
    return _render("challenges.html", tender=tender, challenges=service.challenges(tender),
                   complaints=service.complaints(tender), manage=tender.can_manage(current_user),
                   outcome_form=forms.ComplaintOutcomeForm())


def _load_challenge(challenge_id: int) -> Challenge:
    return db.get_or_404(Challenge, challenge_id)


@bp.get("/challenges/<int:challenge_id>")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def challenge(challenge_id):
    filed = _load_challenge(challenge_id)
    ensure(service.can_view_challenge(filed, current_user))
    manage = filed.tender.can_manage(current_user)
    return _render("challenge.html", tender=filed.tender, challenge=filed, manage=manage,
                   oversee=filed.tender.can_oversee(current_user),
                   complaint_last_day=service.complaint_last_day(filed) if manage else None,
                   answer_form=forms.AnswerForm(), not_affecting_form=forms.NotAffectingForm())


@bp.post("/challenges/<int:challenge_id>/answer")
@role_required(Role.OFFICER)
def answer_challenge(challenge_id):
    filed = _load_challenge(challenge_id)
    ensure(filed.tender.can_manage(current_user))
    form = forms.AnswerForm()
    target = url_for("evaluation.challenge", challenge_id=challenge_id)
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(target)
    run(lambda: service.answer_challenge(filed, upheld=form.outcome.data == "upheld", remedy=form.remedy.data or None,
                                         answer=form.answer.data, actor=current_user, now=utcnow()),
        _("The answer has been recorded and sent to the challenger and the other bidders."), target)
    return redirect(target)


@bp.post("/challenges/<int:challenge_id>/not-affecting")
@role_required(Role.OFFICER)
def mark_not_affecting(challenge_id):
    filed = _load_challenge(challenge_id)
    ensure(filed.tender.can_manage(current_user))
    form = forms.NotAffectingForm()
    target = url_for("evaluation.challenge", challenge_id=challenge_id)
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(target)
    run(lambda: service.mark_not_affecting(filed, reason=form.reason.data, actor=current_user, now=utcnow()),
        _("Recorded: this challenge cannot change the result, so the contract need not wait for it."), target)
    return redirect(target)


@bp.get("/challenges/<int:challenge_id>/evidence")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def challenge_evidence(challenge_id):
    filed = _load_challenge(challenge_id)
    ensure(service.can_view_challenge(filed, current_user))
    if filed.evidence_file is None:
        flash(_("This challenge came without evidence."), "info")
        return redirect(url_for("evaluation.challenge", challenge_id=challenge_id))
    return send_stored(filed.evidence_file)


# --- Complaints (投诉) -------------------------------------------------------------------------------------------


def _complaint_form(tender: Tender, filed: list[Challenge]) -> forms.ComplaintForm:
    form = forms.ComplaintForm()
    bidders = db.session.scalars(db.select(Organisation).where(Organisation.id.in_(service.bidder_ids(tender)))
                                 .order_by(Organisation.name)).all()
    form.supplier_id.choices = choices([(o.id, o.name) for o in bidders])
    form.challenge_id.choices = choices([("", "—")] + [(c.id, f"{c.supplier.name} · {c.received_on.isoformat()}")
                                                       for c in filed])
    if request.method == "GET":
        form.authority.data = service.default_authority(tender)
    return form


@bp.route("/tenders/<int:tender_id>/award/complaint", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def record_complaint(tender_id):
    tender = load_tender(tender_id)
    ensure(tender.can_manage(current_user))
    filed = service.challenges(tender)
    form = _complaint_form(tender, filed)
    if form.validate_on_submit():
        done = run(lambda: service.record_complaint(
            tender, challenge_id=form.challenge_id.data, supplier_id=form.supplier_id.data,
            filed_on=form.filed_on.data, authority=form.authority.data, summary=form.summary.data,
            actor=current_user, now=utcnow()),
            _("The complaint has been recorded."), url_for("evaluation.challenges", tender_id=tender_id))
        if done is not None:
            return done
    last_days = {c.id: service.complaint_last_day(c) for c in filed}
    return _render("complaint_form.html", 400 if request.method == "POST" else 200, tender=tender, form=form,
                   challenges=filed, last_days=last_days)


@bp.post("/complaints/<int:complaint_id>/outcome")
@role_required(Role.OFFICER)
def complaint_outcome(complaint_id):
    complaint = db.get_or_404(Complaint, complaint_id)
    ensure(db.session.get(Tender, complaint.tender_id).can_manage(current_user))
    form = forms.ComplaintOutcomeForm()
    target = url_for("evaluation.challenges", tender_id=complaint.tender_id)
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(target)
    run(lambda: service.record_complaint_outcome(complaint, outcome=form.outcome.data,
                                                 decided_on=form.decided_on.data, actor=current_user,
                                                 now=utcnow()),
        _("The outcome of the complaint has been recorded."), target)
    return redirect(target)

