"""Contract views: the list, drafting from the award, the contract page, signing with one's own password, the
contract notice, the filing record and the frozen PDF. Routes live on the contracts blueprint (views.py).

A template global, ``award_contract(tender)``, feeds the award panel's link to the contract.
"""

from __future__ import annotations

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.accounts.services import LoginLocked, WrongPassword, confirm_password
from portal.audit import client_ip
from portal.contracts import rules, services
from portal.contracts.draft_forms import ContractForm, FilingForm, SignForm, WithdrawForm
from portal.contracts.models import (
    CONTRACT_STATUS_LABELS,
    GATE_LABELS,
    REPORT_INTERVAL_LABELS,
    ContractStatus,
)
from portal.contracts.views import bp, load_contract, run
from portal.db import utcnow
from portal.errors import DomainError
from portal.evaluation.award import active_award, contract_block_reason
from portal.evaluation.models import Award
from portal.extensions import db
from portal.files import send_stored
from portal.forms import ActionForm
from portal.permissions import Role, ensure, role_required
from portal.tenders.rules import local_date

LABELS = {"contract_status_labels": CONTRACT_STATUS_LABELS, "gate_labels": GATE_LABELS,
          "report_interval_labels": REPORT_INTERVAL_LABELS}


def _render(template: str, status: int = 200, **context):
    return render_template(f"contracts/{template}", **LABELS, **context), status


def _form_errors(form) -> None:
    for name, errors in form.errors.items():
        for error in errors:
            if isinstance(error, str):
                flash(f"{form[name].label.text}: {error}", "danger")


@bp.app_template_global("award_contract")
def award_contract(tender) -> dict:
    """For the award panel: the award in force, its contract if drafted, and whether the user may draft one."""
    award = active_award(tender)
    contract = services.contract_for_award(award) if award is not None else None
    return {"award": award, "contract": contract,
            "can_draft": award is not None and contract is None and tender.can_manage(current_user),
            "can_view": contract is not None and contract.can_view(current_user)}


# --- The list -------------------------------------------------------------------------------------------------


@bp.get("/contracts")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def index():
    today = local_date(utcnow())
    contracts = services.contracts_for(current_user)
    return _render("index.html", contracts=contracts, today=today,
                   clocks={c.id: services.clocks(c, today) for c in contracts},
                   awaiting=services.awards_awaiting_contract(current_user))


# --- Drafting -------------------------------------------------------------------------------------------------------


def _fill_schedule(form: ContractForm, installments, lines: dict) -> None:
    for row, (percent, gate, label) in zip(form.installments, installments, strict=False):
        row.form.percent.data, row.form.gate.data, row.form.condition.data = percent, str(gate), label
    for row, (year, amount) in zip(form.budget_lines, sorted(lines.items()), strict=False):
        row.form.fiscal_year.data, row.form.amount.data = year, amount


def _fill_contract(form: ContractForm, contract) -> None:
    for name, value in services.contract_values(contract).items():
        form[name].data = value
    _fill_schedule(form, [(i.percent, i.gate, i.gate_label) for i in contract.installments],
                   {line.fiscal_year: line.amount for line in contract.budget_lines})


def _form_page(form: ContractForm, status: int, **context):
    """The draft form; the grounds for a term over 12 months are unfolded when they are needed or given."""
    start, end = form.start_date.data, form.end_date.data
    long_term = (form.budget_secured.data or form.service_stable.data or bool(form.long_term_note.data)
                 or (start is not None and end is not None and end >= start
                     and rules.term_months(start, end) > rules.DEFAULT_MAX_TERM_MONTHS))
    return _render("form.html", status, form=form, long_term=long_term, **context)


@bp.route("/awards/<int:award_id>/contract/new", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def new(award_id):
    award = db.get_or_404(Award, award_id)
    ensure(award.tender.can_manage(current_user))
    existing = services.contract_for_award(award)
    if existing is not None:
        return redirect(url_for("contracts.detail", contract_id=existing.id))
    now = utcnow()
    form = ContractForm()
    if request.method == "GET":
        defaults = services.draft_defaults(award, local_date(now))
        for name, value in defaults.items():
            form[name].data = value
        _fill_schedule(form, services.DEFAULT_INSTALLMENTS,
                       services.default_budget_lines(award.amount, defaults["start_date"], defaults["end_date"]))
    elif form.validate_on_submit():
        try:
            contract = services.draft_contract(award, form.values(), form.schedule(), form.lines(),
                                               actor=current_user, now=now)
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            return _form_page(form, exc.status_code, award=award, contract=None,
                              block=contract_block_reason(award.tender, now))
        db.session.commit()
        flash(_("The contract has been drafted. Both parties now sign it with their own accounts."), "success")
        return redirect(url_for("contracts.detail", contract_id=contract.id))
    return _form_page(form, 400 if request.method == "POST" else 200, award=award, contract=None,
                      block=contract_block_reason(award.tender, now))


@bp.route("/contracts/<int:contract_id>/edit", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def edit(contract_id):
    contract = load_contract(contract_id)
    ensure(contract.can_manage(current_user))
    target = url_for("contracts.detail", contract_id=contract_id)
    if not services.can_edit(contract):
        flash(_("A party has signed the contract: its terms can no longer be changed."), "warning")
        return redirect(target)
    form = ContractForm()
    if request.method == "GET":
        _fill_contract(form, contract)
    elif form.validate_on_submit() and (response := run(
            lambda: services.update_draft(contract, form.values(), form.schedule(), form.lines(),
                                          actor=current_user, now=utcnow()), _("The draft has been saved."), target)):
        return response
    return _form_page(form, 400 if request.method == "POST" else 200, award=None, contract=contract, block=None)


# --- The contract page and its PDF ----------------------------------------------------------------------------------


@bp.get("/contracts/<int:contract_id>")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def detail(contract_id):
    contract = load_contract(contract_id)
    ensure(contract.can_view(current_user))
    now = utcnow()
    manage = contract.can_manage(current_user)
    block = contract_block_reason(contract.tender, now) if contract.status == ContractStatus.DRAFT else None
    return _render("detail.html", contract=contract, manage=manage, clocks=services.clocks(contract, local_date(now)),
                   can_edit=manage and services.can_edit(contract), can_sign=services.can_sign(contract, current_user),
                   block=block, document=services.contract_pdf(contract), action_form=ActionForm(),
                   can_withdraw=services.can_withdraw(contract, current_user), withdraw_form=WithdrawForm(),
                   award_in_force=services.award_in_force(contract),
                   filing_form=FilingForm(filed_on=local_date(now)), today=local_date(now))


@bp.get("/contracts/<int:contract_id>/contract.pdf")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def pdf(contract_id):
    contract = load_contract(contract_id)
    ensure(contract.can_view(current_user))
    document = services.contract_pdf(contract)
    if document is None:
        flash(_("The contract PDF is issued once both parties have signed."), "info")
        return redirect(url_for("contracts.detail", contract_id=contract_id))
    return send_stored(document.file)


# --- Signing ----------------------------------------------------------------------------------------------------------


@bp.route("/contracts/<int:contract_id>/sign", methods=["GET", "POST"])
@role_required(Role.OFFICER, Role.SUPPLIER)
def sign(contract_id):
    contract = load_contract(contract_id)
    ensure(services.signing_side(contract, current_user) is not None)
    target = url_for("contracts.detail", contract_id=contract_id)
    if not services.can_sign(contract, current_user):
        flash(_("Your side has already signed this contract."), "info")
        return redirect(target)
    now = utcnow()
    form = SignForm()
    page = {"contract": contract, "form": form, "clocks": services.clocks(contract, local_date(now)),
            "block": contract_block_reason(contract.tender, now)}
    if not form.validate_on_submit():
        return _render("sign.html", 400 if request.method == "POST" else 200, **page)
    try:
        confirm_password(current_user, form.password.data, purpose="contract.sign", actor=current_user,
                         ip=client_ip(), now=now)
    except (WrongPassword, LoginLocked) as exc:
        db.session.commit()  # the recorded attempt counts towards the lockout
        flash(str(exc), "danger")
        return _render("sign.html", 400, **page)
    return run(lambda: services.sign(contract, actor=current_user, now=now),
               _("You have signed the contract."), target) or _render("sign.html", 400, **page)


@bp.post("/contracts/<int:contract_id>/withdraw")
@role_required(Role.OFFICER)
def withdraw(contract_id):
    contract = load_contract(contract_id)
    ensure(contract.can_manage(current_user))
    form = WithdrawForm()
    target = url_for("contracts.detail", contract_id=contract_id)
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(target)
    run(lambda: services.withdraw_draft(contract, reason=form.reason.data, actor=current_user, now=utcnow()),
        _("The draft has been withdrawn."), target)
    return redirect(target)


# --- After signing --------------------------------------------------------------------------------------------------


@bp.post("/contracts/<int:contract_id>/notice")
@role_required(Role.OFFICER)
def publish_notice(contract_id):
    contract = load_contract(contract_id)
    ensure(contract.can_manage(current_user) and ActionForm().validate_on_submit())
    target = url_for("contracts.detail", contract_id=contract_id)
    run(lambda: services.publish_contract_notice(contract, actor=current_user, now=utcnow()),
        _("The contract notice (合同公告) has been published."), target)
    return redirect(target)


@bp.post("/contracts/<int:contract_id>/filing")
@role_required(Role.OFFICER)
def record_filing(contract_id):
    contract = load_contract(contract_id)
    ensure(contract.can_manage(current_user))
    form = FilingForm()
    target = url_for("contracts.detail", contract_id=contract_id)
    if not form.validate_on_submit():
        _form_errors(form)
        return redirect(target)
    run(lambda: services.record_filing(contract, reference=form.reference.data, filed_on=form.filed_on.data,
                                       actor=current_user, now=utcnow()),
        _("The filing with the finance bureau (备案) has been recorded."), target)
    return redirect(target)
