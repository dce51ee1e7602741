"""Forms of the award pages: pass-overs, challenges (质疑) and their answers, complaints (投诉)."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, Optional

from portal.evaluation.award import GROUNDS_MIN_CHARS
from portal.evaluation.models import PASS_OVER_LABELS, REMEDY_LABELS
from portal.forms import choices, strip, within_calendar

REQUIRED = DataRequired(message=_l("This field is required."))
TEXT = [strip]

OUTCOME_LABELS = {"rejected": _l("Not upheld (质疑不成立)"), "upheld": _l("Upheld (质疑成立)")}


class PassOverForm(FlaskForm):
    supplier_id = IntegerField(validators=[InputRequired()])
    reason = SelectField(_l("Why"), choices=choices(PASS_OVER_LABELS))
    note = TextAreaField(_l("Note (kept in the file)"), filters=TEXT, validators=[REQUIRED, Length(max=2000)])


class ChallengeForm(FlaskForm):
    grounds = TextAreaField(_l("Grounds of the challenge"), filters=TEXT,
                            description=_l("What in the result harms your organisation's rights, and why. At least "
                                           "%(n)s characters.", n=GROUNDS_MIN_CHARS),
                            validators=[REQUIRED, Length(max=20000)])
    evidence = FileField(_l("Evidence (optional: PDF, Word, PNG or JPEG)"))


class AnswerForm(FlaskForm):
    outcome = SelectField(_l("Outcome"), choices=choices(OUTCOME_LABELS))
    remedy = SelectField(_l("Remedy if upheld"), choices=choices({"": "—", **REMEDY_LABELS}))
    answer = TextAreaField(_l("Written answer (sent to the challenger and the other bidders)"), filters=TEXT,
                           validators=[REQUIRED, Length(max=20000)])


class NotAffectingForm(FlaskForm):
    reason = TextAreaField(_l("Why this challenge cannot change the result (R54)"), filters=TEXT,
                           validators=[REQUIRED, Length(max=2000)])


class ComplaintForm(FlaskForm):
    supplier_id = SelectField(_l("Complainant"), coerce=int)
    challenge_id = SelectField(_l("The challenge it follows"), coerce=lambda v: int(v) if v else None)
    filed_on = DateField(_l("Filed with the finance bureau on"), validators=[REQUIRED, within_calendar])
    authority = StringField(_l("Finance bureau"), filters=TEXT, validators=[Optional(), Length(max=200)])
    summary = TextAreaField(_l("Summary of the complaint"), filters=TEXT, validators=[REQUIRED, Length(max=5000)])


class ComplaintOutcomeForm(FlaskForm):
    outcome = TextAreaField(_l("Decision of the finance bureau"), filters=TEXT,
                            validators=[REQUIRED, Length(max=5000)])
    decided_on = DateField(_l("Decided on"), validators=[REQUIRED, within_calendar])
