"""Forms of delivery and the end of a contract: a service report, a termination."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import SelectField, TextAreaField
from wtforms.validators import DataRequired, Length

from portal.contracts.delivery import GROUNDS_MIN_CHARS, SUMMARY_MIN_CHARS, TERMINATION_CAUSE_LABELS
from portal.forms import choices, strip

REQUIRED = DataRequired(message=_l("This field is required."))
TEXT = [strip]


class ReportForm(FlaskForm):
    period = SelectField(_l("Reporting period"), validators=[REQUIRED])
    summary = TextAreaField(_l("Service delivered in the period"), filters=TEXT,
                            description=_l("Activities, people served against the targets, problems and what was "
                                           "done about them. At least %(n)s characters; no personal data of the "
                                           "service users beyond what the contract requires.", n=SUMMARY_MIN_CHARS),
                            validators=[REQUIRED, Length(max=20000)])
    attachment = FileField(_l("Attachment (optional: PDF, Word, Excel, ZIP, PNG or JPEG)"))


class TerminateForm(FlaskForm):
    cause = SelectField(_l("Kind of grounds (stated in the public notice)"),
                        choices=choices(TERMINATION_CAUSE_LABELS))
    grounds = TextAreaField(_l("Grounds of the termination (kept in the file and sent to the supplier)"),
                            filters=TEXT,
                            description=_l("The facts and the contract clause or rule relied on. At least %(n)s "
                                           "characters.", n=GROUNDS_MIN_CHARS),
                            validators=[REQUIRED, Length(max=20000)])
