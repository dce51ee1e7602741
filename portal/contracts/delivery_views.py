"""Contract views of delivery and the end: the NGO's service reports, termination and completion. Routes live on
the contracts blueprint (views.py).

The template global ``delivery_panel`` feeds ``contracts/_delivery_panel.html``, which the contract page includes.
"""

from __future__ import annotations

from datetime import date

from flask import flash, redirect, render_template, request, url_for
from flask_babel import gettext as _
from flask_login import current_user

from portal.contracts import delivery as service
from portal.contracts import rules
from portal.contracts.delivery_forms import ReportForm, TerminateForm
from portal.contracts.models import CONTRACT_STATUS_LABELS, Contract, ContractStatus, ServiceReport
from portal.contracts.services import contract_link
from portal.contracts.views import bp, load_contract, run
from portal.db import utcnow
from portal.errors import DomainError
from portal.extensions import db
from portal.files import send_stored
from portal.forms import ActionForm
from portal.permissions import Role, ensure, role_required
from portal.tenders.rules import local_date

LABELS = {"report_state_labels": service.REPORT_STATE_LABELS, "contract_status_labels": CONTRACT_STATUS_LABELS,
          "termination_cause_labels": service.TERMINATION_CAUSE_LABELS}


def _render(template: str, status: int = 200, *, contract: Contract, **context):
    return render_template(f"contracts/{template}", **LABELS, contract=contract,
                           contract_url=contract_link(contract), due_days=rules.REPORT_DUE_DAYS, **context), status


@bp.app_template_global("delivery_panel")
def delivery_panel(contract: Contract) -> dict:
    """What the contract page shows of delivery and the end: the reporting schedule, the days to expiry, the contract
    years and their reviews, the termination or completion, and what the viewer may do."""
    today = local_date(utcnow())
    manage = contract.can_manage(current_user)
    in_force = contract.status == ContractStatus.SIGNED
    return {
        "rows": service.schedule(contract, today) if contract.status != ContractStatus.DRAFT else [],
        "today": today,
        "days_to_expiry": service.days_to_expiry(contract, today),
        "years": service.years(contract) if contract.status != ContractStatus.DRAFT else [],
        "termination_notice": service.termination_notice(contract),
        "supplier": contract.is_supplier(current_user) and in_force,
        "can_terminate": manage and in_force,
        "can_complete": manage and in_force and contract.accepted_at is not None,
        "action_form": ActionForm(),
        "due_days": rules.REPORT_DUE_DAYS,
        **LABELS,
    }


def _load_report(report_id: int) -> ServiceReport:
    return db.get_or_404(ServiceReport, report_id)


# --- Service reports ---------------------------------------------------------------------------------------------


def _report_form(contract: Contract) -> tuple[ReportForm, list]:
    """The report form with the periods open for submission as its choices (the period in ?period= preselected)."""
    rows = [row for row in service.schedule(contract, local_date(utcnow())) if row.submittable]
    form = ReportForm(period=request.args.get("period"))
    form.period.choices = [(row.period.start.isoformat(),
                            _("%(start)s to %(end)s (due %(due)s)", start=row.period.start.isoformat(),
                              end=row.period.end.isoformat(), due=row.period.due.isoformat())) for row in rows]
    return form, rows


@bp.route("/contracts/<int:contract_id>/reports/submit", methods=["GET", "POST"])
@role_required(Role.SUPPLIER)
def submit_report(contract_id):
    contract = load_contract(contract_id)
    ensure(contract.is_supplier(current_user))
    form, rows = _report_form(contract)
    status = 400 if request.method == "POST" else 200
    if form.validate_on_submit():
        try:
            report = service.submit_report(contract, period_start=date.fromisoformat(form.period.data),
                                           summary=form.summary.data, upload=form.attachment.data,
                                           actor=current_user, now=utcnow())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
            status = exc.status_code
        else:
            db.session.commit()
            flash(_("Your service report has been submitted; it is marked late (due %(date)s).",
                    date=report.due_on.isoformat()) if report.late else _("Your service report has been submitted."),
                  "success")
            return redirect(url_for("contracts.report", report_id=report.id))
    return _render("report_form.html", status, contract=contract, form=form, open_rows=rows)


@bp.get("/contracts/reports/<int:report_id>")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def report(report_id):
    report = _load_report(report_id)
    ensure(report.contract.can_view(current_user))
    return _render("report.html", contract=report.contract, report=report)


@bp.get("/contracts/reports/<int:report_id>/file")
@role_required(Role.OFFICER, Role.ADMIN, Role.SUPPLIER)
def report_file(report_id):
    report = _load_report(report_id)
    ensure(report.contract.can_view(current_user))
    if report.file is None:
        flash(_("This report has no attachment."), "info")
        return redirect(url_for("contracts.report", report_id=report.id))
    return send_stored(report.file)


# --- The end -------------------------------------------------------------------------------------------------------


@bp.route("/contracts/<int:contract_id>/terminate", methods=["GET", "POST"])
@role_required(Role.OFFICER)
def terminate(contract_id):
    contract = load_contract(contract_id)
    ensure(contract.can_manage(current_user))
    form = TerminateForm()
    if form.validate_on_submit():
        done = run(lambda: service.terminate(contract, grounds=form.grounds.data, cause=form.cause.data,
                                             actor=current_user, now=utcnow()),
                   _("The contract is terminated and the termination notice (合同终止公告) is published."),
                   contract_link(contract))
        if done is not None:
            return done
    status = 400 if request.method == "POST" else 200
    return _render("terminate.html", status, contract=contract, form=form)


@bp.post("/contracts/<int:contract_id>/complete")
@role_required(Role.OFFICER)
def complete(contract_id):
    contract = load_contract(contract_id)
    ensure(contract.can_manage(current_user) and ActionForm().validate_on_submit())
    target = contract_link(contract)
    run(lambda: service.complete(contract, actor=current_user, now=utcnow()), _("The contract is completed."),
        target)
    return redirect(target)
