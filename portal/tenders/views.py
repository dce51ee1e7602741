"""Tenders: create from a project, edit, publish, draw or invite suppliers, questions and
clarifications, single-source objections and approval, negotiation rounds, failure and re-tender.
Bids and the opening have their views in ``bid_views.py`` on the same blueprint."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from flask import Blueprint, abort, current_app, flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organisation, OrgKind, OrgStatus, User
from portal.accounts.services import LoginLocked, WrongPassword, confirm_password
from portal.actions import run_action
from portal.audit import client_ip
from portal.calendar import load_calendar
from portal.db import utcnow
from portal.errors import DomainError
from portal.extensions import db
from portal.forms import ActionForm, choices
from portal.notices import Notice
from portal.permissions import Role, ensure, role_required
from portal.projects.models import ServiceProject
from portal.tenders import forms, rules, services
from portal.tenders.models import (
    EVALUATION_METHOD_LABELS,
    FACTOR_LABELS,
    GROUND_LABELS,
    METHOD_LABELS,
    STATUS_LABELS,
    Clarification,
    Method,
    NegotiationRound,
    Objection,
    Question,
    SupplierDraw,
    Tender,
    TenderStatus,
)
from portal.urls import page_arg

bp = Blueprint("tenders", __name__, template_folder="templates")

PAGE_SIZE = 30
PHASE_LABELS = {
    "bidding": _l("Taking bids"),
    "closed": _l("Deadline passed, awaiting opening"),
    "public_notice": _l("Single-source notice running"),
    "awaiting_approval": _l("Notice ended, awaiting approval"),
}


def _load(tender_id: int) -> Tender:
    return db.get_or_404(Tender, tender_id)


_run = run_action  # one service per request: commit and redirect, or roll back and flash


def _criteria_from(form: forms.TenderForm) -> list[rules.CriterionSpec]:
    rows = [row.form for row in form.criteria]
    return [rules.CriterionSpec(r.factor_type.data, r.name.data, r.weight.data or 0, r.description.data or "")
            for r in rows if r.name.data]


def _requirements_from(form: forms.TenderForm) -> list[str]:
    return [line.strip() for line in (form.requirements.data or "").splitlines() if line.strip()]


def _supplier_choices():
    query = sa.select(Organisation).where(Organisation.kind == OrgKind.SUPPLIER,
                                          Organisation.status == OrgStatus.ACTIVE).order_by(Organisation.name)
    return [(o.id, o.name) for o in db.session.scalars(query)]


def _tender_form(tender: Tender | None = None) -> forms.TenderForm:
    form = forms.TenderForm(obj=tender)
    form.single_source_supplier_id.choices = choices([("", "—")] + _supplier_choices())
    if tender is not None and request.method == "GET":
        form.requirements.data = "\n".join(r.text for r in tender.requirements)
        for row, criterion in zip(form.criteria, tender.criteria, strict=False):
            row.form.factor_type.data, row.form.name.data = criterion.factor_type, criterion.name
            row.form.weight.data, row.form.description.data = criterion.weight, criterion.description
    return form


def _form_values(form: forms.TenderForm) -> dict:
    return {k: getattr(form, k).data for k in services.TENDER_FIELDS if hasattr(form, k)} | {
        "method_ground": form.method_ground.data or None}


@bp.get("/tenders")
@role_required(Role.OFFICER, Role.ADMIN)
def index():
    page = page_arg()
    query = sa.select(Tender).options(selectinload(Tender.bureau), selectinload(Tender.project)).order_by(
        Tender.created_at.desc())
    if current_user.role == Role.OFFICER:
        bureau = current_user.organisation
        ids = [bureau.id] + ([c.id for c in bureau.children] if bureau.is_city_bureau else [])
        query = query.where(Tender.bureau_id.in_(ids))
    status = request.args.get("status")
    if status in set(TenderStatus):
        query = query.where(Tender.status == status)
    tenders = db.paginate(query, page=page, per_page=PAGE_SIZE, error_out=False)
    return render_template("tenders/index.html", tenders=tenders, status=status, now=utcnow())


@bp.route("/projects/<int:project_id>/tenders/new", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def new_tender(project_id):
    project = db.get_or_404(ServiceProject, project_id)
    ensure(project.can_manage(current_user))
    form = _tender_form()
    if request.method == "GET":
        form.title.data, form.budget.data = project.title, project.budget
    if form.validate_on_submit():
        try:
            tender = services.create_tender(project, _form_values(form), _criteria_from(form), _requirements_from(form),
                                            actor=current_user, now=utcnow())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            db.session.commit()
            flash(_("The tender has been saved as a draft."), "success")
            return redirect(url_for("tenders.detail", tender_id=tender.id))
    return render_template("tenders/form.html", form=form, project=project, tender=None)


@bp.route("/tenders/<int:tender_id>/edit", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def edit(tender_id):
    tender = _load(tender_id)
    ensure(tender.can_manage(current_user))
    form = _tender_form(tender)
    if form.validate_on_submit() and (response := _run(
            lambda: services.update_tender(tender, _form_values(form), _criteria_from(form), _requirements_from(form),
                                           actor=current_user, now=utcnow()),
            _("Saved."), url_for("tenders.detail", tender_id=tender.id))):
        return response
    return render_template("tenders/form.html", form=form, project=tender.project, tender=tender)


@bp.get("/tenders/<int:tender_id>")
def detail(tender_id):
    tender = db.session.scalar(sa.select(Tender).where(Tender.id == tender_id).options(
        selectinload(Tender.criteria), selectinload(Tender.requirements), selectinload(Tender.invitations)))
    if tender is None:
        abort(404)
    ensure(tender.can_view(current_user))
    now = utcnow()
    manage = tender.can_manage(current_user)
    own_org = current_user.organisation if current_user.is_authenticated else None
    questions = []
    if tender.can_oversee(current_user):
        questions = db.session.scalars(sa.select(Question).where(Question.tender_id == tender.id)
                                       .order_by(Question.asked_at)).all()
    elif own_org is not None:
        questions = db.session.scalars(sa.select(Question).where(Question.tender_id == tender.id,
                                                                 Question.supplier_id == own_org.id)).all()
    context = {
        "tender": tender,
        "now": now,
        "phase": rules.phase(tender.status, tender.method, now, deadline=tender.bid_deadline,
                             notice_until=tender.notice_until),
        "manage": manage,
        "may_take_part": services.can_take_part(tender, own_org),
        "questions": questions,
        "clarifications": db.session.scalars(sa.select(Clarification).where(Clarification.tender_id == tender.id)
                                             .order_by(Clarification.number)).all(),
        # The bureau sees every objection with its author; everyone else the answered ones, without name or contact.
        "objections": db.session.scalars(
            sa.select(Objection).where(Objection.tender_id == tender.id,
                                       sa.true() if manage else Objection.responded_at.is_not(None))
            .order_by(Objection.submitted_at)).all(),
        "rounds": db.session.scalars(sa.select(NegotiationRound).where(NegotiationRound.tender_id == tender.id)
                                     .order_by(NegotiationRound.number)).all(),
        "draws": db.session.scalars(sa.select(SupplierDraw).where(SupplierDraw.tender_id == tender.id)).all(),
        "notices": db.session.scalars(sa.select(Notice).where(Notice.tender_id == tender.id)
                                      .order_by(Notice.published_at)).all(),
        "action_form": ActionForm(),
        "question_form": forms.QuestionForm(),
        "objection_form": forms.ObjectionForm(),
        "answer_form": forms.AnswerForm(),
        "approval_form": forms.ApprovalForm(),
        "agreement_form": forms.AgreementForm(),
        "round_form": forms.RoundForm(),
        "cancel_form": forms.CancelForm(),
        "retender_form": forms.RetenderForm(method=tender.method),
    }
    if tender.method == Method.NEGOTIATION and tender.status in (TenderStatus.NEGOTIATING, TenderStatus.EVALUATING):
        from portal.tenders import bidding
        from portal.tenders.bid_forms import FinalQuoteForm

        round_ = bidding.current_round(tender)
        opened = tender.status == TenderStatus.EVALUATING and tender.can_view_opening(current_user)
        context |= {
            "final_quote_round": round_,
            "final_quote_form": FinalQuoteForm(),
            "final_quote_opening_form": final_quote_opening_form(tender) if manage else None,
            "may_quote": bidding.final_quote_refusal(tender, own_org, now) is None,
            "final_quotes": bidding.final_quotes(tender) if opened else [],
        }
    return render_template("tenders/detail.html", **context)


@bp.route("/tenders/<int:tender_id>/publish", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def publish(tender_id):
    tender = _load(tender_id)
    ensure(tender.can_manage(current_user))
    form = forms.PublishForm()
    calendar, now = load_calendar(), utcnow()
    today = rules.local_date(now)
    try:
        suggested = _suggested_dates(tender, today, calendar)
    except DomainError as exc:
        suggested = {}
        flash(str(exc), "warning")
    if request.method == "GET":
        for name, value in suggested.items():
            getattr(form, name).data = value
    if form.validate_on_submit():
        deadline = (rules.beijing_instant(form.deadline_date.data, form.deadline_time.data)
                    if form.deadline_date.data and form.deadline_time.data else None)
        if response := _run(lambda: services.publish_tender(
                tender, notice_until=form.notice_until.data, documents_from=form.documents_from.data,
                documents_until=form.documents_until.data, bid_deadline=deadline, calendar=calendar,
                actor=current_user, now=now), _("The tender has been published."),
                url_for("tenders.detail", tender_id=tender.id)):
            return response
    return render_template("tenders/publish.html", form=form, tender=tender, suggested=suggested, today=today)


def _suggested_dates(tender: Tender, today, calendar) -> dict:
    """The earliest lawful dates for publishing today (the officer may choose later ones)."""
    if tender.method == Method.SINGLE_SOURCE:
        return {"notice_until": calendar.add_working_days(today, rules.SINGLE_SOURCE_NOTICE_MIN_WORKING_DAYS)}
    deadline_day = rules.earliest_deadline_day(tender.method, today, calendar)
    suggested = {"documents_from": today, "deadline_date": deadline_day,
                 "documents_until": max(calendar.add_working_days(today, rules.DOCUMENTS_MIN_WORKING_DAYS),
                                        today) if tender.method != Method.NEGOTIATION else deadline_day}
    if suggested["documents_until"] > deadline_day:
        suggested["documents_until"] = deadline_day
    if tender.method == Method.OPEN:
        suggested["notice_until"] = calendar.add_working_days(today, rules.NOTICE_MIN_WORKING_DAYS)
    return suggested


def _colleagues(tender: Tender) -> list[User]:
    """The other active officers of the tender's bureau (second witnesses and confirmers)."""
    return list(db.session.scalars(sa.select(User).where(
        User.organisation_id == tender.bureau_id, User.role == Role.OFFICER, User.active.is_(True),
        User.id != current_user.id).order_by(User.display_name)))


def final_quote_opening_form(tender: Tender):
    from portal.tenders.bid_forms import FinalQuoteOpeningForm

    form = FinalQuoteOpeningForm()
    form.confirmer.choices = choices([(u.id, u.name) for u in _colleagues(tender)])
    return form


def witness_confirmed(witness: User, password_field, *, purpose: str) -> bool:
    """The second officer types their own password (87-14: two staff witness the draw); tries count as sign-ins."""
    try:
        confirm_password(witness, password_field.data, purpose=purpose, actor=current_user, ip=client_ip(),
                         now=utcnow())
    except (WrongPassword, LoginLocked) as exc:
        db.session.commit()  # the recorded attempt counts towards the lockout
        password_field.errors.append(str(exc))
        return False
    return True


@bp.route("/tenders/<int:tender_id>/draw", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def draw(tender_id):
    tender = _load(tender_id)
    ensure(tender.can_manage(current_user))
    form = forms.DrawForm()
    form.pool.choices = choices(_supplier_choices())
    form.witness.choices = choices([(u.id, u.name) for u in _colleagues(tender)])
    if form.validate_on_submit():
        witness = db.session.get(User, form.witness.data)
        confirmed = witness_confirmed(witness, form.witness_password, purpose="tender.draw_witness")
        if confirmed and (response := _run(lambda: services.draw_invitations(
                tender, pool_source=form.pool_source.data, pool_ids=form.pool.data or None, count=form.count.data,
                witnesses=(current_user._get_current_object(), witness), actor=current_user, now=utcnow()),
                _("The suppliers have been drawn and invited."), url_for("tenders.detail", tender_id=tender.id))):
            return response
    return render_template("tenders/draw.html", form=form, tender=tender)


@bp.route("/tenders/<int:tender_id>/invite", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def invite(tender_id):
    tender = _load(tender_id)
    ensure(tender.can_manage(current_user))
    form = forms.InviteForm()
    form.suppliers.choices = choices(_supplier_choices())
    if form.validate_on_submit() and (response := _run(
            lambda: services.invite_suppliers(tender, form.suppliers.data, reason=form.reason.data,
                                              actor=current_user, now=utcnow()),
            _("The suppliers have been invited."), url_for("tenders.detail", tender_id=tender.id))):
        return response
    return render_template("tenders/invite.html", form=form, tender=tender)


@bp.post("/tenders/<int:tender_id>/questions")
@role_required(Role.SUPPLIER)
def ask(tender_id):
    tender = _load(tender_id)
    form = forms.QuestionForm()
    ensure(tender.can_view(current_user))
    target = url_for("tenders.detail", tender_id=tender.id)
    if not form.validate_on_submit():
        flash(_("Write the question in 5 to 4000 characters."), "danger")
        return redirect(target)
    return _run(lambda: services.ask_question(tender, form.text.data, asker=current_user, now=utcnow()),
                _("Your question has been sent. The answer will be published for every supplier."),
                target) or redirect(target)


@bp.route("/tenders/<int:tender_id>/clarify", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def clarify(tender_id):
    tender = _load(tender_id)
    ensure(tender.can_manage(current_user))
    form = forms.ClarificationForm()
    open_questions = db.session.scalars(sa.select(Question).where(Question.tender_id == tender.id,
                                                                  Question.clarification_id.is_(None))).all()
    form.questions.choices = choices([(q.id, q.text[:120]) for q in open_questions])
    calendar, now = load_calendar(), utcnow()
    preview = None
    if form.validate_on_submit():
        try:
            preview = services.clarification_deadline(tender, now=now, affects_bids=form.affects_bids.data,
                                                      calendar=calendar)
        except DomainError as exc:
            flash(str(exc), "danger")
        confirmed = preview is not None and form.expected_deadline.data == preview.isoformat()
        if confirmed and "confirm" in request.form and (response := _run(lambda: services.publish_clarification(
                    tender, form.text.data, question_ids=form.questions.data, affects_bids=form.affects_bids.data,
                    expected_deadline=preview, calendar=calendar, actor=current_user, now=now),
                    _("The clarification has been published."), url_for("tenders.detail", tender_id=tender.id))):
            return response
        form.expected_deadline.data = preview.isoformat() if preview else ""
    return render_template("tenders/clarify.html", form=form, tender=tender, preview=preview)


@bp.route("/tenders/<int:tender_id>/timetable", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def timetable(tender_id):
    tender = _load(tender_id)
    ensure(tender.can_manage(current_user))
    form = forms.TimetableForm()
    if request.method == "GET" and tender.bid_deadline is not None:
        local = tender.bid_deadline.astimezone(rules.BEIJING)
        form.documents_until.data, form.deadline_date.data = tender.documents_until, local.date()
        form.deadline_time.data = local.time().replace(tzinfo=None)
    if form.validate_on_submit() and (response := _run(lambda: services.change_timetable(
            tender, documents_until=form.documents_until.data,
            bid_deadline=rules.beijing_instant(form.deadline_date.data, form.deadline_time.data),
            reason=form.reason.data, calendar=load_calendar(), actor=current_user, now=utcnow()),
            _("The correction notice has been published with the new timetable."),
            url_for("tenders.detail", tender_id=tender.id))):
        return response
    return render_template("tenders/timetable.html", form=form, tender=tender)


@bp.post("/tenders/<int:tender_id>/objections")
def object_to(tender_id):
    tender = _load(tender_id)
    ensure(tender.method == Method.SINGLE_SOURCE and tender.can_view(current_user))
    form = forms.ObjectionForm()
    target = url_for("tenders.detail", tender_id=tender.id)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(" ".join(str(e) for e in errors), "danger")
        return redirect(target)
    return _run(lambda: services.submit_objection(tender, name=form.name.data, contact=form.contact.data,
                                                  text=form.text.data, now=utcnow()),
                _("Your objection has been received; the bureau must answer it before approval. The answer is "
                  "published on this page (without your name or contact)."),
                target) or redirect(target)


@bp.post("/objections/<int:objection_id>/answer")
@role_required(Role.OFFICER)
def answer_objection(objection_id):
    objection = db.get_or_404(Objection, objection_id)
    tender = _load(objection.tender_id)
    ensure(tender.can_manage(current_user))
    form = forms.AnswerForm()
    target = url_for("tenders.detail", tender_id=tender.id)
    if not form.validate_on_submit():
        flash(_("Write the answer to the objection."), "danger")
        return redirect(target)
    return _run(lambda: services.answer_objection(objection, form.response.data, actor=current_user, now=utcnow()),
                _("Saved."), target) or redirect(target)


def _tender_action(tender_id: int, form_class, action, message):
    """Load, check, validate the form, run one service; ``message`` may depend on the outcome (a callable)."""
    tender = _load(tender_id)
    ensure(tender.can_manage(current_user))
    form = form_class()
    target = url_for("tenders.detail", tender_id=tender.id)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            flash(" ".join(str(e) for e in errors), "danger")
        return redirect(target)
    success = (lambda: message(tender)) if callable(message) else message
    return _run(lambda: action(tender, form), success, target) or redirect(target)


@bp.post("/tenders/<int:tender_id>/approve")
@role_required(Role.OFFICER)
def approve(tender_id):
    return _tender_action(tender_id, forms.ApprovalForm, lambda t, f: services.approve_single_source(
        t, approval_document=f.approval_document.data, approval_date=f.approval_date.data,
        approval_body=f.approval_body.data, actor=current_user, now=utcnow()), _("The approval has been recorded."))


@bp.post("/tenders/<int:tender_id>/agreement")
@role_required(Role.OFFICER)
def agreement(tender_id):
    return _tender_action(tender_id, forms.AgreementForm, lambda t, f: services.record_single_source_agreement(
        t, price=f.price.data, record=f.record.data, actor=current_user, now=utcnow()),
        lambda t: _("The agreed price exceeds the budget: the procedure has ended.")
        if t.status == TenderStatus.FAILED else _("The negotiation record has been saved."))


def _final_quote_deadline(form: forms.RoundForm) -> datetime | None:
    if form.final_quote_date.data and form.final_quote_time.data:
        return rules.beijing_instant(form.final_quote_date.data, form.final_quote_time.data)
    return None


@bp.post("/tenders/<int:tender_id>/rounds")
@role_required(Role.OFFICER)
def negotiation_round(tender_id):
    return _tender_action(tender_id, forms.RoundForm, lambda t, f: services.issue_negotiation_round(
        t, f.changes.data, final_quote_deadline=_final_quote_deadline(f), actor=current_user, now=utcnow()),
        lambda t: _("Fewer than 3 suppliers remain: the negotiation has ended (74-37).")
        if t.status == TenderStatus.FAILED else _("The round has been sent to every remaining supplier."))


@bp.post("/tenders/<int:tender_id>/cancel")
@role_required(Role.OFFICER)
def cancel(tender_id):
    return _tender_action(tender_id, forms.CancelForm, lambda t, f: services.cancel_tender(
        t, reason=f.reason.data, actor=current_user, now=utcnow()), _("The tender has been cancelled."))


@bp.post("/tenders/<int:tender_id>/retender")
@role_required(Role.OFFICER)
def retender(tender_id):
    tender = _load(tender_id)
    ensure(tender.can_manage(current_user))
    form = forms.RetenderForm()
    target = url_for("tenders.detail", tender_id=tender.id)
    if not form.validate_on_submit():
        return redirect(target)
    try:
        new = services.retender(tender, method=form.method.data, ground=form.method_ground.data or None,
                                approval_document=form.approval_document.data or "",
                                approval_date=form.approval_date.data, approval_body=form.approval_body.data or "",
                                actor=current_user, now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return redirect(target)
    db.session.commit()
    flash(_("A new draft has been created from the failed tender."), "success")
    return redirect(url_for("tenders.edit", tender_id=new.id))


@bp.app_context_processor
def inject_tender_labels():
    return {"method_labels": METHOD_LABELS, "tender_status_labels": STATUS_LABELS,
            "factor_labels": FACTOR_LABELS, "ground_labels": GROUND_LABELS,
            "evaluation_method_labels": EVALUATION_METHOD_LABELS, "phase_labels": PHASE_LABELS,
            "has_endpoint": lambda name: name in current_app.view_functions}


from portal.tenders import bid_views  # noqa: E402,F401 - routes on bp
