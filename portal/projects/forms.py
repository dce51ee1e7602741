"""Forms for recording a service project, filtering the list and attaching the needs survey."""

from __future__ import annotations

from zoneinfo import ZoneInfo

from flask import current_app
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, Form, IntegerField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, InputRequired, NumberRange, Optional

from portal.db import utcnow
from portal.forms import MoneyField, choices, strip
from portal.projects import rules
from portal.projects.models import PLAN_LABELS, PROJECT_STATUS_LABELS
from portal.projects.services import PROBLEM_MESSAGES, PROJECT_FIELDS

REQUIRED = DataRequired(message=_l("This field is required."))
PRESENT = InputRequired(message=_l("This field is required."))
TEXT = [strip]


def _this_year() -> int:
    """The current year in the portal's time zone (the default fiscal year)."""
    return utcnow().astimezone(ZoneInfo(current_app.config["PORTAL_TIMEZONE"])).year


class ProjectForm(FlaskForm):
    """What an officer records about a need. Ranges and limits are checked by the service (rules.py)."""

    title = StringField(_l("Project title"), filters=TEXT, validators=[REQUIRED],
                        render_kw={"maxlength": rules.TITLE_MAX_LENGTH})
    plan = SelectField(_l("Plan"), choices=choices(PLAN_LABELS))
    fiscal_year = IntegerField(_l("Fiscal year"), default=_this_year, validators=[PRESENT],
                               render_kw={"min": rules.FISCAL_YEAR_MIN, "max": rules.FISCAL_YEAR_MAX})
    target_groups = TextAreaField(_l("Target groups"), filters=TEXT, render_kw={"rows": 2},
                                  description=_l("For example: elderly people living alone, left-behind children."))
    description = TextAreaField(_l("Services to be bought"), filters=TEXT, render_kw={"rows": 4})
    district = StringField(_l("District/county"), filters=TEXT, render_kw={"maxlength": rules.PLACE_MAX_LENGTH})
    township = StringField(_l("Township/street (乡镇/街道)"), filters=TEXT,
                           render_kw={"maxlength": rules.PLACE_MAX_LENGTH})
    villages = TextAreaField(_l("Villages/communities (村/社区)"), filters=TEXT, render_kw={"rows": 2},
                             description=_l("One per line."))
    poor_village = BooleanField(_l("The area includes a poor village (贫困村)"))
    poor_households = IntegerField(_l("Number of poor households (贫困户)"), default=0, validators=[PRESENT],
                                   render_kw={"min": 0})
    remote_area = BooleanField(_l("Remote or less-developed area (边远/欠发达地区)"))
    budget = MoneyField(_l("Budget (yuan)"), validators=[PRESENT], render_kw={"inputmode": "decimal"},
                        description=_l("An amount in yuan with at most 2 decimal places, for example 150000.00."))
    duration_months = IntegerField(
        _l("Service period (months)"), default=12, validators=[PRESENT],
        render_kw={"min": rules.DURATION_MIN_MONTHS, "max": rules.DURATION_MAX_MONTHS},
        description=_l("1 to 36 months. A contract of more than 12 months needs grounds: a secured budget and a "
                       "fixed, continuous, stably priced service (政府购买服务管理办法 art. 24)."))
    base_priority = IntegerField(_l("Priority from the needs assessment (0-100)"), default=50, validators=[PRESENT],
                                 render_kw={"min": rules.PRIORITY_MIN, "max": rules.PRIORITY_MAX})
    needs_survey = TextAreaField(
        _l("Needs survey (需求调查): summary"), filters=TEXT, render_kw={"rows": 6},
        description=_l("Who needs which services, how the need was surveyed and what was found. "
                       "Required before the project can be tendered."))

    def validate(self, extra_validators=None) -> bool:
        """Check the input, then the project rules, so that every problem is shown at once."""
        valid = super().validate(extra_validators)
        problems = [code for code in rules.project_problems(self.values()) if not self[rules.field_of(code)].errors]
        self.show_problems(problems)
        return valid and not problems

    def values(self) -> dict:
        """The recorded values, as the services take them."""
        return {name: self[name].data for name in PROJECT_FIELDS}

    def show_problems(self, problems: list[str]) -> None:
        """Put the message of each broken rule next to its field."""
        for code in problems:
            field = self[rules.field_of(code)]
            if not field.errors:
                field.errors = [PROBLEM_MESSAGES[code]]


class ProjectFilterForm(Form):
    """The list's filters, read from the query string; a value that does not fit is ignored."""

    plan = SelectField(_l("Plan"), choices=choices({"": _l("All plans"), **PLAN_LABELS}))
    status = SelectField(_l("Status"), choices=choices({"": _l("All statuses"), **PROJECT_STATUS_LABELS}))
    fiscal_year = IntegerField(_l("Fiscal year"), validators=[Optional(), NumberRange(min=2000, max=2100)])

    def selected(self) -> dict:
        """The filters that hold a valid value."""
        self.validate()
        return {field.name: field.data for field in self if field.data not in (None, "") and not field.errors}


class SurveyForm(FlaskForm):
    file = FileField(_l("Needs survey report (PDF, Word, Excel or ZIP)"),
                     validators=[FileRequired(message=_l("Choose a file to upload."))])
