"""Forms for tenders: details and criteria, publication dates, draws, questions and clarifications."""

from __future__ import annotations

from datetime import time

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    BooleanField,
    DateField,
    FieldList,
    FormField,
    HiddenField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
    TimeField,
)
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.forms import CheckboxList, MoneyField, RowForm, choices, strip, within_calendar
from portal.tenders.models import FACTOR_LABELS, GROUND_LABELS, METHOD_LABELS, PoolSource
from portal.tenders.rules import BANNED_FACTORS

REQUIRED = DataRequired(message=_l("This field is required."))
PRESENT = InputRequired(message=_l("This field is required."))
TEXT = [strip]
CRITERIA_ROWS = 6

# The catalogue offers only lawful factors; a banned one posted anyway is refused by the service (RULES-CN B).
CATALOGUE = {factor: label for factor, label in FACTOR_LABELS.items() if factor not in BANNED_FACTORS}

POOL_LABELS = {
    PoolSource.DATABASE: _l("The supplier database (pool at least twice the draw)"),
    PoolSource.PREQUALIFICATION: _l("Suppliers who passed prequalification (资格预审)"),
    PoolSource.RECOMMENDATION: _l("Written recommendation (pool at least twice the draw)"),
}


class CriterionForm(RowForm):
    # Blank rows are skipped, so the choice is checked by the service for the rows that are used.
    factor_type = SelectField(_l("Factor"), choices=choices(CATALOGUE), validate_choice=False)
    name = StringField(_l("Criterion"), filters=TEXT, validators=[Optional(), Length(max=200)])
    weight = IntegerField(_l("Points"), validators=[Optional(), NumberRange(min=1, max=100,
                                                                            message=_l("Between 1 and 100 points."))])
    description = StringField(_l("How it is scored"), filters=TEXT, validators=[Optional(), Length(max=1000)])


class TenderForm(FlaskForm):
    title = StringField(_l("Title"), filters=TEXT, validators=[REQUIRED, Length(max=200)])
    method = SelectField(_l("Procurement method"), choices=choices(METHOD_LABELS))
    budget = MoneyField(_l("Budget (yuan)"), validators=[PRESENT])
    ceiling_price = MoneyField(_l("Ceiling price (最高限价, optional)"), validators=[Optional()])
    service_content = TextAreaField(_l("Service content and targets"), filters=TEXT,
                                    validators=[REQUIRED, Length(max=20000)])
    complex = BooleanField(_l("Complex, or of high social impact (larger committee)"))
    method_ground = SelectField(_l("Lawful ground for a method other than open tender"),
                                choices=choices({"": "—", **GROUND_LABELS}))
    justification = TextAreaField(_l("Justification"), filters=TEXT, validators=[Length(max=5000)])
    single_source_supplier_id = SelectField(_l("The single supplier"), coerce=lambda v: int(v) if v else None)
    approval_document = StringField(_l("Approval document number"), filters=TEXT, validators=[Length(max=120)])
    approval_date = DateField(_l("Approval date"), validators=[Optional(), within_calendar])
    approval_body = StringField(_l("Approving body"), filters=TEXT, validators=[Length(max=200)])
    price_weight = IntegerField(_l("Price weight (points out of 100)"), default=30,
                                validators=[PRESENT, NumberRange(min=0, max=100, message=_l("Between 0 and 100."))])
    criteria = FieldList(FormField(CriterionForm), min_entries=CRITERIA_ROWS, max_entries=20)
    requirements = TextAreaField(_l("Qualification requirements (one per line)"), filters=TEXT,
                                 validators=[Length(max=10000)])


class PublishForm(FlaskForm):
    notice_until = DateField(_l("Notice runs until"), validators=[Optional(), within_calendar])
    documents_from = DateField(_l("Documents available from"), validators=[Optional(), within_calendar])
    documents_until = DateField(_l("Documents available until"), validators=[Optional(), within_calendar])
    deadline_date = DateField(_l("Deadline and opening: date"), validators=[Optional(), within_calendar])
    deadline_time = TimeField(_l("Deadline and opening: time (Beijing)"), default=time(9, 30),
                              validators=[Optional()])


class DrawForm(FlaskForm):
    pool_source = SelectField(_l("Where the pool comes from"), choices=choices(POOL_LABELS))
    pool = CheckboxList(_l("Pool (leave empty to use every eligible supplier in the database)"), coerce=int)
    count = IntegerField(_l("How many to draw"), default=3, validators=[PRESENT, NumberRange(min=1, max=50)])
    witness = SelectField(_l("Second witness (another officer of the bureau)"), coerce=int)
    witness_password = PasswordField(_l("The second witness's password (the witness types it here)"),
                                     validators=[REQUIRED, Length(max=200)])


class InviteForm(FlaskForm):
    suppliers = CheckboxList(_l("Suppliers to invite"), coerce=int)
    reason = TextAreaField(_l("Why they are recommended (published with the result)"), filters=TEXT,
                           validators=[REQUIRED, Length(max=2000)])


class QuestionForm(FlaskForm):
    text = TextAreaField(_l("Your question"), filters=TEXT, validators=[REQUIRED, Length(min=5, max=4000)])


class ClarificationForm(FlaskForm):
    text = TextAreaField(_l("Clarification or change"), filters=TEXT, validators=[REQUIRED, Length(max=20000)])
    affects_bids = BooleanField(_l("It may affect how bids are prepared"), default=True)
    questions = CheckboxList(_l("Questions it answers"), coerce=int)
    expected_deadline = HiddenField()


class TimetableForm(FlaskForm):
    documents_until = DateField(_l("Documents available until"), validators=[PRESENT, within_calendar])
    deadline_date = DateField(_l("New deadline and opening: date"), validators=[PRESENT, within_calendar])
    deadline_time = TimeField(_l("Deadline and opening: time (Beijing)"), validators=[PRESENT])
    reason = TextAreaField(_l("Reason for the change (published)"), filters=TEXT,
                           validators=[REQUIRED, Length(max=2000)])


class ObjectionForm(FlaskForm):
    name = StringField(_l("Your name or organisation"), filters=TEXT, validators=[REQUIRED, Length(max=100)])
    contact = StringField(_l("How to reach you (telephone or e-mail)"), filters=TEXT,
                          validators=[REQUIRED, Length(max=200)])
    text = TextAreaField(_l("Objection and its reasons"), filters=TEXT, validators=[REQUIRED, Length(min=10, max=5000)])


class AnswerForm(FlaskForm):
    response = TextAreaField(_l("Answer"), filters=TEXT, validators=[REQUIRED, Length(max=5000)])


class ApprovalForm(FlaskForm):
    approval_document = StringField(_l("Approval document number"), filters=TEXT,
                                    validators=[REQUIRED, Length(max=120)])
    approval_date = DateField(_l("Approval date"), validators=[PRESENT, within_calendar])
    approval_body = StringField(_l("Approving body"), filters=TEXT, validators=[REQUIRED, Length(max=200)])


class AgreementForm(FlaskForm):
    price = MoneyField(_l("Agreed price (yuan)"), validators=[PRESENT])
    record = TextAreaField(_l("Negotiation record (who took part, what was agreed)"), filters=TEXT,
                           validators=[REQUIRED, Length(max=20000)])


class RoundForm(FlaskForm):
    changes = TextAreaField(_l("Changes to technical, service or contract terms"), filters=TEXT,
                            validators=[REQUIRED, Length(max=20000)])
    final_quote_date = DateField(_l("Final quotes due: date (optional)"), validators=[Optional(), within_calendar])
    final_quote_time = TimeField(_l("Final quotes due: time (Beijing)"), default=time(9, 30), validators=[Optional()])


class CancelForm(FlaskForm):
    reason = TextAreaField(_l("Reason (published)"), filters=TEXT, validators=[REQUIRED, Length(max=2000)])


class RetenderForm(FlaskForm):
    method = SelectField(_l("Procurement method"), choices=choices(METHOD_LABELS))
    method_ground = SelectField(_l("Lawful ground"), choices=choices({"": "—", **GROUND_LABELS}))
    approval_document = StringField(_l("Approval document number"), filters=TEXT, validators=[Length(max=120)])
    approval_date = DateField(_l("Approval date"), validators=[Optional(), within_calendar])
    approval_body = StringField(_l("Approving body"), filters=TEXT, validators=[Length(max=200)])
