"""Forms of the payment pages: recording a payment, the final acceptance (验收) and an amendment."""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, PasswordField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional, ValidationError

from portal.contracts.amendments import REASON_MIN_CHARS
from portal.contracts.models import REPORT_INTERVAL_LABELS
from portal.contracts.payments import VOUCHER_MAX_CHARS
from portal.forms import MONEY_PATTERN, MoneyField, choices, strip, within_calendar

REQUIRED = DataRequired(message=_l("This field is required."))
TEXT = [strip]
BUDGET_LINE = re.compile(r"^(\d{4})\s*[:：]\s*([\d,，]+(?:\.\d{1,2})?)$")


class PaymentForm(FlaskForm):
    paid_on = DateField(_l("Paid on"), validators=[REQUIRED, within_calendar])
    amount = MoneyField(_l("Amount paid (yuan)"), validators=[InputRequired(message=_l("This field is required."))])
    voucher = StringField(_l("Voucher number (凭证号)"), filters=TEXT,
                          validators=[REQUIRED, Length(max=VOUCHER_MAX_CHARS)])


class AcceptanceForm(FlaskForm):
    accepted_on = DateField(_l("Accepted on"), validators=[REQUIRED, within_calendar])
    participants = TextAreaField(_l("Who took part"), filters=TEXT, validators=[REQUIRED, Length(max=2000)],
                                 description=_l("The bureau's staff and the invited service users (R45). Kept in the "
                                                "contract's file, not published."))
    record = TextAreaField(_l("Acceptance record"), filters=TEXT, validators=[REQUIRED, Length(max=5000)],
                           description=_l("What was checked against the contract's content and targets, and the "
                                          "finding. Kept in the contract's file, not published."))
    conclusion = TextAreaField(_l("Public conclusion"), filters=TEXT, validators=[REQUIRED, Length(max=500)],
                               description=_l("A short conclusion, e.g. 验收合格. Published as is in the acceptance "
                                              "result notice: write no personal data."))


def parse_budget_lines(text: str) -> dict[int, Decimal]:
    """One "2027: 90000.00" a line into {2027: Decimal("90000.00")}; ValueError names a malformed line."""
    lines: dict[int, Decimal] = {}
    for raw in (text or "").splitlines():
        line = raw.strip()
        if not line:
            continue
        match = BUDGET_LINE.match(line)
        amount = match.group(2).replace(",", "").replace("，", "") if match else ""
        if not match or not MONEY_PATTERN.match(amount) or int(match.group(1)) in lines:
            raise ValueError(line)
        lines[int(match.group(1))] = Decimal(amount)
    return lines


def budget_lines_text(lines) -> str:
    return "\n".join(f"{line.fiscal_year}: {line.amount:.2f}" for line in lines)


def valid_budget_lines(form, field):
    try:
        parse_budget_lines(field.data)
    except ValueError as exc:
        # gettext, not a lazy string: a lazy string counts as safe markup, and the line is the user's own text.
        raise ValidationError(_("Write one budget line per fiscal year, e.g. “2027: 90000.00” (not “%(line)s”).",
                                line=str(exc))) from exc


class AmendmentForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the amendment"), filters=TEXT, validators=[REQUIRED, Length(max=5000)],
                           description=_l("At least %(n)s characters; it appears in the amendment's PDF.",
                                          n=REASON_MIN_CHARS))
    service_content = TextAreaField(_l("Service content"), filters=TEXT, validators=[REQUIRED, Length(max=20000)])
    targets = TextAreaField(_l("Service targets and indicators (服务目标与指标)"), filters=TEXT,
                            validators=[REQUIRED, Length(max=20000)])
    breach_terms = TextAreaField(_l("Breach terms (违约责任)"), filters=TEXT, validators=[REQUIRED, Length(max=20000)])
    report_interval = SelectField(_l("Service reports"), choices=choices(REPORT_INTERVAL_LABELS))
    new_end_date = DateField(_l("New end date (extension)"), validators=[Optional(), within_calendar],
                             description=_l("Leave empty to keep the term. At most 36 months from the start, "
                                            "extensions included (102-24)."))
    budget_secured = BooleanField(_l("The budget for the whole term is secured"))
    service_stable = BooleanField(_l("The service is fixed, continuous and stably priced"))
    long_term_note = TextAreaField(_l("Why a term over 12 months (102-24)"), filters=TEXT,
                                   validators=[Optional(), Length(max=5000)],
                                   description=_l("Needed with both grounds when the extension takes the term past 12 "
                                                  "months; never more than 36 months."))
    added_amount = MoneyField(_l("Added amount (yuan)"), validators=[Optional()],
                              description=_l("Paid as a new installment after the final acceptance (验收). All "
                                             "amendments together may add at most 10 percent of the original "
                                             "amount (L49)."))
    budget_lines = TextAreaField(_l("Yearly budget lines"), filters=TEXT, validators=[Optional(), valid_budget_lines],
                                 description=_l("One line per fiscal year, e.g. “2027: 90000.00”. They must add up to "
                                                "the new amount and cover every year of the new term."))

    def changes(self) -> dict:
        """The proposed terms for ``amendments.amend`` (unchanged ones are dropped there)."""
        changes = {"service_content": self.service_content.data, "targets": self.targets.data,
                   "breach_terms": self.breach_terms.data, "report_interval": self.report_interval.data,
                   "budget_secured": self.budget_secured.data, "service_stable": self.service_stable.data,
                   "long_term_note": self.long_term_note.data or ""}
        if self.budget_lines.data:
            changes["budget_lines"] = parse_budget_lines(self.budget_lines.data)
        return changes


class ConfirmAmendmentForm(FlaskForm):
    password = PasswordField(_l("Your password, to confirm with your own account"),
                             validators=[REQUIRED, Length(max=200)])
    agree = BooleanField(_l("I have read the amendment and agree to it for my organisation"), validators=[REQUIRED])
