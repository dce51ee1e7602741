"""Forms of the commendations: opening a year's list, adding a candidate, withdrawing an entry, answering a comment,
and the public's comment during the 公示."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import HiddenField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.assessment import commendations
from portal.assessment.models import LEVEL_LABELS, Level
from portal.forms import choices, strip

REQUIRED = DataRequired(message=_l("This field is required."))
TEXT = [strip]


class NewListForm(FlaskForm):
    year = IntegerField(_l("Year commended"), validators=[
        InputRequired(message=_l("This field is required.")),
        NumberRange(min=commendations.FIRST_YEAR, max=2100, message=_l("Enter a year from 2000."))])


class AddCommendationForm(FlaskForm):
    key = HiddenField(validators=[REQUIRED, Length(max=40)])
    level = SelectField(_l("Level of the commendation"), choices=choices(LEVEL_LABELS), default=Level.SECOND)
    reason = TextAreaField(_l("Reason for the commendation (事迹)"), filters=TEXT,
                           validators=[Optional(), Length(max=commendations.REASON_MAX)],
                           description=_l("Leave empty to use the rule's reason with its figures."))


class WithdrawForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the withdrawal"), filters=TEXT, validators=[
        REQUIRED, Length(min=commendations.WITHDRAW_REASON_MIN, max=commendations.WITHDRAW_REASON_MAX)])


class AnswerCommentForm(FlaskForm):
    response = TextAreaField(_l("Answer to the comment"), filters=TEXT, validators=[
        REQUIRED, Length(min=commendations.ANSWER_MIN, max=commendations.ANSWER_MAX)])


class PublicCommentForm(FlaskForm):
    name = StringField(_l("Your name or organisation"), filters=TEXT,
                       validators=[REQUIRED, Length(max=commendations.NAME_MAX)])
    contact = StringField(_l("How to reach you (telephone or e-mail)"), filters=TEXT,
                          validators=[REQUIRED, Length(max=commendations.CONTACT_MAX)])
    text = TextAreaField(_l("Your comment on the list and its reasons"), filters=TEXT, validators=[
        REQUIRED, Length(min=commendations.COMMENT_MIN, max=commendations.COMMENT_MAX)])
