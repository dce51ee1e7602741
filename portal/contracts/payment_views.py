"""Contract views: recording payments and the final acceptance (验收), amendments with their PDFs. Routes live on the
contracts blueprint (views.py).

A template global, ``payments_panel(contract)``, feeds ``contracts/_payments_panel.html`` on the contract page: the
schedule with each gate's state, the totals, the forms for the officer, and the amendment history, loaded in a
fixed number of queries however many installments and amendments there are.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from portal.accounts.services import LoginLocked, WrongPassword, confirm_password
from portal.audit import client_ip
from portal.contracts import amendments, payments
from portal.contracts.delivery import failed_year
from portal.contracts.models import (
    GATE_LABELS,
    REPORT_INTERVAL_LABELS,
    Amendment,
    ContractStatus,
    Installment,
)
from portal.contracts.payment_forms import (
    AcceptanceForm,
    AmendmentForm,
    ConfirmAmendmentForm,
    PaymentForm,
    budget_lines_text,
)
from portal.contracts.views import bp, load_contract, run
from portal.db import utcnow
from portal.errors import DomainError
from portal.extensions import db
from portal.files import send_stored
from portal.forms import ActionForm
from portal.permissions import Role, ensure, role_required
from portal.tenders.rules import local_date

LABELS = {"gate_labels": GATE_LABELS, "report_interval_labels": REPORT_INTERVAL_LABELS,
          "term_labels": amendments.TERM_LABELS, "value_shown": amendments.value_shown}


def _render(template: str, status: int = 200, **context):
    return render_template(f"contracts/{template}", **LABELS, **context), status


def _prefix(installment: Installment) -> str:
    return f"pay{installment.id}"


def _payment_form(installment: Installment, today) -> PaymentForm:
    return PaymentForm(prefix=_prefix(installment), formdata=None, paid_on=today, amount=installment.amount)


def _detail(contract_id: int) -> str:
    return url_for("contracts.detail", contract_id=contract_id)


def gate_source_label(source: str) -> str:
    """What met a gate, in words."""
    if source == payments.SIGNING_SOURCE:
        return _("signing")
    if source == payments.ACCEPTANCE_SOURCE:
        return _("final acceptance (验收)")
    return _("a performance review graded at least 合格") if source else ""


@bp.app_template_global("payments_panel")
def payments_panel(contract) -> dict:
    """What the contract page shows of payments and amendments (two queries, whatever their number)."""
    installments = list(db.session.scalars(sa.select(Installment).where(Installment.contract_id == contract.id)
                                           .order_by(Installment.position)))
    history = list(db.session.scalars(sa.select(Amendment).where(Amendment.contract_id == contract.id)
                                      .options(selectinload(Amendment.document)).order_by(Amendment.number)))
    manage = contract.can_manage(current_user)
    today = local_date(utcnow())
    forms = {}
    if manage:
        forms = {i.id: _payment_form(i, today) for i in installments if payments.payable(i)}
    signed = contract.status == ContractStatus.SIGNED
    return {
        "installments": installments, "amendments": history,
        "summary": payments.payment_summary(contract, installments), "payable": payments.payable,
        "gate_label": payments.gate_label, "source_label": gate_source_label, "forms": forms, "manage": manage,
        "acceptance_form": (AcceptanceForm(formdata=None, accepted_on=today)
                            if manage and signed and contract.accepted_at is None else None),
        "can_amend": manage and signed, "term_labels": amendments.TERM_LABELS,
        "pending": any(a.confirmed_at is None for a in history),
        "failed_year": failed_year(contract) if signed else None,
    }


# --- Payments and the acceptance -----------------------------------------------------------------------------------


@bp.post("/contracts/installments/<int:installment_id>/payment")
@role_required(Role.OFFICER)
def record_payment(installment_id):
    installment = db.get_or_404(Installment, installment_id)
    contract = installment.contract
    ensure(contract.can_manage(current_user))
    form = PaymentForm(prefix=_prefix(installment))
    if form.validate_on_submit():
        done = run(lambda: payments.record_payment(installment, paid_on=form.paid_on.data, amount=form.amount.data,
                                                   voucher=form.voucher.data, actor=current_user, now=utcnow()),
                   _("The payment of installment %(n)s is recorded.", n=installment.position), _detail(contract.id))
        if done is not None:
            return done
    return _render("payment_form.html", 400, contract=contract, installment=installment, form=form)


@bp.post("/contracts/<int:contract_id>/acceptance")
@role_required(Role.OFFICER)
def record_acceptance(contract_id):
    contract = load_contract(contract_id)
    ensure(contract.can_manage(current_user))
    form = AcceptanceForm()
    if form.validate_on_submit():
        done = run(lambda: payments.record_acceptance(
            contract, record=form.record.data, conclusion=form.conclusion.data,
            accepted_on=form.accepted_on.data, participants=form.participants.data,
            actor=current_user, now=utcnow()),
            _("The final acceptance (验收) is recorded and its result published."), _detail(contract_id))
        if done is not None:
            return done
    return _render("payment_form.html", 400, contract=contract, installment=None, form=form)


# --- Amendments ------------------------------------------------------------------------------------------------------


def _amend_page(contract, form, status: int = 200):
    return _render("amendment_form.html", status, contract=contract, form=form,
                   original=amendments.original_amount(contract), add_on_left=amendments.add_on_left(contract),
                   latest_end=amendments.latest_end(contract))


@bp.route("/contracts/<int:contract_id>/amend", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def amend(contract_id):
    contract = load_contract(contract_id)
    ensure(contract.can_manage(current_user))
    if contract.status != ContractStatus.SIGNED:
        flash(_("Only a signed contract in force can be amended."), "warning")
        return redirect(_detail(contract_id))
    form = AmendmentForm(service_content=contract.service_content, targets=contract.targets,
                         breach_terms=contract.breach_terms, report_interval=contract.report_interval,
                         budget_secured=contract.budget_secured, service_stable=contract.service_stable,
                         long_term_note=contract.long_term_note,
                         budget_lines=budget_lines_text(contract.budget_lines))
    if not form.validate_on_submit():
        return _amend_page(contract, form, 400 if request.method == "POST" else 200)
    try:
        made = amendments.amend(contract, reason=form.reason.data, changes=form.changes(),
                                added_amount=form.added_amount.data, new_end_date=form.new_end_date.data,
                                actor=current_user, now=utcnow())
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return _amend_page(contract, form, exc.status_code)
    db.session.commit()
    flash(_("Amendment %(n)s is proposed: it takes effect, and its PDF is issued, once the supplier confirms it.",
            n=made.number), "success")
    return redirect(url_for("contracts.amendment", amendment_id=made.id))


def _load_amendment(amendment_id: int) -> Amendment:
    amendment = db.get_or_404(Amendment, amendment_id)
    ensure(amendment.contract.can_view(current_user))
    return amendment


def _amendment_page(made, status: int = 200, form=None):
    contract = made.contract
    pending = amendments.is_pending(made) and contract.status == ContractStatus.SIGNED
    confirm = pending and contract.is_supplier(current_user)
    return _render("amendment.html", status, amendment=made, contract=contract, changes=amendments.changes_of(made),
                   pending=amendments.is_pending(made),
                   confirm_form=(form or ConfirmAmendmentForm()) if confirm else None,
                   withdraw_form=ActionForm() if pending and contract.can_manage(current_user) else None)


@bp.get("/contracts/amendments/<int:amendment_id>")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def amendment(amendment_id):
    return _amendment_page(_load_amendment(amendment_id))


@bp.post("/contracts/amendments/<int:amendment_id>/confirm")
@role_required(Role.SUPPLIER)
def confirm_amendment(amendment_id):
    made = _load_amendment(amendment_id)
    ensure(made.contract.is_supplier(current_user))
    form = ConfirmAmendmentForm()
    if not form.validate_on_submit():
        return _amendment_page(made, 400, form)
    now = utcnow()
    try:
        confirm_password(current_user, form.password.data, purpose="contract.amendment", actor=current_user,
                         ip=client_ip(), now=now)
    except (WrongPassword, LoginLocked) as exc:
        db.session.commit()  # the recorded attempt counts towards the lockout
        flash(str(exc), "danger")
        return _amendment_page(made, 400, form)
    target = url_for("contracts.amendment", amendment_id=amendment_id)
    return run(lambda: amendments.confirm_amendment(made, actor=current_user, now=now),
               _("You have confirmed amendment %(n)s: it is now in force and its PDF issued.", n=made.number),
               target) or _amendment_page(made, 400, form)


@bp.post("/contracts/amendments/<int:amendment_id>/withdraw")
@role_required(Role.OFFICER)
def withdraw_amendment(amendment_id):
    made = _load_amendment(amendment_id)
    contract_id = made.contract_id
    ensure(made.contract.can_manage(current_user) and ActionForm().validate_on_submit())
    target = _detail(contract_id)
    return run(lambda: amendments.withdraw_amendment(made, actor=current_user, now=utcnow()),
               _("The proposed amendment has been withdrawn."), target) or redirect(
        url_for("contracts.amendment", amendment_id=amendment_id))


@bp.get("/contracts/amendments/<int:amendment_id>/amendment.pdf")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def amendment_pdf(amendment_id):
    made = _load_amendment(amendment_id)
    if made.document is None:
        flash(_("The amendment's PDF is issued once the supplier confirms the amendment."), "info")
        return redirect(url_for("contracts.amendment", amendment_id=amendment_id))
    return send_stored(made.document.file)
