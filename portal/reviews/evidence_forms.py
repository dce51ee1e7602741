"""Forms of the NGO's side of a review: evidence, the self-assessment, satisfaction surveys, an appeal and its
answer, and the rectification plan with the officer's decision."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField
from wtforms import DateField, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.forms import choices, strip, within_calendar
from portal.reviews import appeals, evidence, rectification
from portal.reviews.models import EVIDENCE_KIND_LABELS

REQUIRED = DataRequired(message=_l("This field is required."))
GIVEN = InputRequired(message=_l("This field is required."))
TEXT = [strip]


class EvidenceForm(FlaskForm):
    kind = SelectField(_l("Kind of evidence"), choices=choices(EVIDENCE_KIND_LABELS))
    attachment = FileField(_l("File (PDF, Word, Excel, ZIP, PNG or JPEG)"), validators=[REQUIRED])
    note = StringField(_l("Note"), filters=TEXT, validators=[Optional(), Length(max=evidence.NOTE_MAX_CHARS)],
                       description=_l("What the file shows, e.g. the period or the activity."))


class SelfAssessmentForm(FlaskForm):
    text = TextAreaField(_l("Self-assessment (自评)"), filters=TEXT,
                         validators=[REQUIRED, Length(max=evidence.SELF_ASSESSMENT_MAX_CHARS)],
                         description=_l("How the service went against the contract's targets, indicator by "
                                        "indicator. At least %(n)s characters.", n=evidence.SELF_ASSESSMENT_MIN_CHARS))


class SurveyForm(FlaskForm):
    title = StringField(_l("Survey"), filters=TEXT,
                        validators=[REQUIRED, Length(max=evidence.SURVEY_TITLE_MAX_CHARS)])
    surveyed_on = DateField(_l("Surveyed on"), validators=[REQUIRED, within_calendar])
    method = StringField(_l("Survey method"), filters=TEXT,
                         validators=[Optional(), Length(max=evidence.SURVEY_METHOD_MAX_CHARS)],
                         description=_l("E.g. questionnaire, telephone follow-up, home visit."))
    respondents = IntegerField(_l("Respondents"), validators=[GIVEN, NumberRange(min=1, max=1_000_000)])
    satisfied = IntegerField(_l("Satisfied respondents"), validators=[GIVEN, NumberRange(min=0, max=1_000_000)])


class AppealForm(FlaskForm):
    reasons = TextAreaField(_l("Reasons for the appeal"), filters=TEXT,
                            validators=[REQUIRED, Length(max=appeals.REASONS_MAX_CHARS)],
                            description=_l("Which indicators or scores you contest and why, with the evidence "
                                           "relied on. At least %(n)s characters.", n=appeals.REASONS_MIN_CHARS))


ANSWER_CHOICES = {"dismiss": _l("Dismiss: the grade stands"), "uphold": _l("Uphold: reopen the scoring")}


class AnswerForm(FlaskForm):
    decision = SelectField(_l("Decision"), choices=choices(ANSWER_CHOICES))
    answer = TextAreaField(_l("Answer"), filters=TEXT, validators=[REQUIRED, Length(max=appeals.ANSWER_MAX_CHARS)],
                           description=_l("Your grounds, sent to the NGO (and to the reviewers when the scoring is "
                                          "reopened). At least %(n)s characters.", n=appeals.ANSWER_MIN_CHARS))


class PlanForm(FlaskForm):
    plan = TextAreaField(_l("Rectification plan (整改方案)"), filters=TEXT,
                         validators=[REQUIRED, Length(max=rectification.PLAN_MAX_CHARS)],
                         description=_l("What will change, who does it and by when, for each failed indicator. At "
                                        "least %(n)s characters.", n=rectification.PLAN_MIN_CHARS))
    due_on = DateField(_l("Completed by"), validators=[REQUIRED, within_calendar],
                       description=_l("The re-review (整改复评) is due that day: after today, within %(n)s days.",
                                      n=rectification.rules.RECTIFICATION_MAX_DAYS))
    attachment = FileField(_l("Attachment (optional: PDF, Word or ZIP)"))


class AcceptPlanForm(FlaskForm):
    note = TextAreaField(_l("Note to the NGO (optional)"), filters=TEXT,
                         validators=[Optional(), Length(max=rectification.NOTE_MAX_CHARS)])


class ReturnPlanForm(FlaskForm):
    note = TextAreaField(_l("What the plan lacks"), filters=TEXT,
                         validators=[REQUIRED, Length(max=rectification.NOTE_MAX_CHARS)],
                         description=_l("Sent to the NGO, who writes the plan again. At least %(n)s characters.",
                                        n=rectification.NOTE_MIN_CHARS))
