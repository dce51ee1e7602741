"""Forms for drafting and signing contracts: the terms, the payment schedule rows, the yearly budget lines, the
signer's password, the filing record."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    FormField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.contracts.models import GATE_LABELS, REPORT_INTERVAL_LABELS
from portal.errors import DomainError
from portal.forms import MoneyField, RowForm, choices, strip, within_calendar

REQUIRED = DataRequired(message=_l("This field is required."))
PRESENT = InputRequired(message=_l("This field is required."))
TEXT = [strip]
INSTALLMENT_ROWS = 5
BUDGET_ROWS = 4


class PercentField(StringField):
    """A share in percent typed by a person (e.g. 30 or 33.33), read as Decimal; the rules check its range."""

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist or not valuelist[0].strip():
            return
        raw = valuelist[0].strip().rstrip("%").rstrip("％").strip()
        try:
            self.data = Decimal(raw)
        except InvalidOperation as exc:
            raise ValueError(_l("Enter a share in percent, e.g. 30 or 33.33.")) from exc
        if not self.data.is_finite():
            self.data = None
            raise ValueError(_l("Enter a share in percent, e.g. 30 or 33.33."))

    def _value(self):
        return "" if self.data is None else f"{self.data.normalize():f}"


class InstallmentForm(RowForm):
    # Rows without a share are skipped; the service checks the rows that are used.
    percent = PercentField(_l("Share (percent)"), validators=[Optional()])
    gate = SelectField(_l("Payable"), choices=choices(GATE_LABELS), validate_choice=False)
    condition = StringField(_l("Condition as written in the contract"), filters=TEXT,
                        validators=[Optional(), Length(max=200)])


class BudgetLineForm(RowForm):
    fiscal_year = IntegerField(_l("Fiscal year"), validators=[Optional(), NumberRange(min=2000, max=2100)])
    amount = MoneyField(_l("Amount (yuan)"), validators=[Optional()])


class ContractForm(FlaskForm):
    title = StringField(_l("Contract title"), filters=TEXT, validators=[REQUIRED, Length(max=200)])
    service_content = TextAreaField(_l("Service content"), filters=TEXT, validators=[REQUIRED, Length(max=20000)])
    targets = TextAreaField(_l("Service targets and indicators (服务目标与指标)"), filters=TEXT,
                            validators=[REQUIRED, Length(max=20000)])
    start_date = DateField(_l("Term starts"), validators=[PRESENT, within_calendar])
    end_date = DateField(_l("Term ends"), validators=[PRESENT, within_calendar])
    budget_secured = BooleanField(_l("The budget for the whole term is secured"))
    service_stable = BooleanField(_l("The service is fixed, continuous and stably priced"))
    long_term_note = TextAreaField(_l("Why a term over 12 months (102-24)"), filters=TEXT,
                                   validators=[Optional(), Length(max=5000)],
                                   description=_l("Needed with both grounds when the term is longer than 12 months; "
                                                  "never more than 36 months."))
    report_interval = SelectField(_l("Service reports"), choices=choices(REPORT_INTERVAL_LABELS))
    performance_bond = MoneyField(_l("Performance bond (履约保证金, optional)"), validators=[Optional()],
                                  description=_l("At most 10 percent of the contract amount (R48)."))
    breach_terms = TextAreaField(_l("Breach terms (违约责任)"), filters=TEXT, validators=[REQUIRED, Length(max=20000)])
    installments = FieldList(FormField(InstallmentForm), min_entries=INSTALLMENT_ROWS, max_entries=12)
    budget_lines = FieldList(FormField(BudgetLineForm), min_entries=BUDGET_ROWS, max_entries=6)

    def values(self) -> dict:
        return {name: self[name].data for name in (
            "title", "service_content", "targets", "start_date", "end_date", "budget_secured", "service_stable",
            "long_term_note", "report_interval", "performance_bond", "breach_terms")}

    def schedule(self) -> list[tuple[Decimal, str, str]]:
        return [(row.form.percent.data, row.form.gate.data, row.form.condition.data or "")
                for row in self.installments if row.form.percent.data is not None]

    def lines(self) -> dict[int, Decimal]:
        """The yearly budget lines; a fiscal year entered twice is refused (DomainError), never silently merged."""
        rows = [(row.form.fiscal_year.data, row.form.amount.data) for row in self.budget_lines
                if row.form.fiscal_year.data is not None or row.form.amount.data is not None]
        years = [year for year, _amount in rows]
        if len(set(years)) != len(years):
            raise DomainError(_l("Each fiscal year may have only one budget line."))
        return dict(rows)


class SignForm(FlaskForm):
    password = PasswordField(_l("Your password, to sign with your own account"),
                             validators=[REQUIRED, Length(max=200)])
    agree = BooleanField(_l("I have read the contract and sign it for my organisation"), validators=[REQUIRED])


class WithdrawForm(FlaskForm):
    reason = TextAreaField(_l("Why the draft is withdrawn"), filters=TEXT,
                           validators=[REQUIRED, Length(min=5, max=2000)])


class FilingForm(FlaskForm):
    reference = StringField(_l("Filing reference (备案编号)"), filters=TEXT, validators=[REQUIRED, Length(max=120)])
    filed_on = DateField(_l("Filed on"), validators=[PRESENT, within_calendar])
