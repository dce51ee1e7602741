"""Forms of the funding plan (资金安排): a new plan, its pool and title, and the correction of one line."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, IntegerField, StringField
from wtforms.validators import DataRequired, InputRequired, Length, NumberRange, Optional

from portal.assessment.funding import FIRST_FISCAL_YEAR, HOUSEHOLDS_MAX, LAST_FISCAL_YEAR, TITLE_MAX
from portal.forms import MoneyField, strip

REQUIRED = DataRequired(message=_l("This field is required."))
GIVEN = InputRequired(message=_l("This field is required."))
TEXT = [strip]


class YuanField(MoneyField):
    """An amount in whole yuan: shown without fen (the services refuse fen)."""

    def _value(self):
        if self.data is not None and self.data == int(self.data):
            return str(int(self.data))
        return super()._value()


class PlanForm(FlaskForm):
    """A draft plan's pool and title."""

    pool = YuanField(_l("Pool to share (资金池, whole yuan)"), validators=[GIVEN],
                      description=_l("The money of the fiscal year shared among the candidate projects. Reward "
                                     "grants (奖补) come on their own line, outside the pool."))
    title = StringField(_l("Plan title"), filters=TEXT, validators=[Optional(), Length(max=TITLE_MAX)],
                        description=_l("Leave empty for the usual title, e.g. 2027年度社会工作服务项目资金安排."))


class NewPlanForm(PlanForm):
    fiscal_year = IntegerField(_l("Fiscal year of the funds"), validators=[
        REQUIRED, NumberRange(min=FIRST_FISCAL_YEAR, max=LAST_FISCAL_YEAR)],
        description=_l("The district tilt uses the confirmed yearly assessments of the year before; reward grants "
                       "follow the commendations of the year before."))


class LineForm(FlaskForm):
    """The facts of one line, copied from the project and corrected by the city officer while the plan is a
    draft (the district grade comes from the confirmed yearly assessment only)."""

    requested = YuanField(_l("Requested amount (申请金额, whole yuan)"), validators=[GIVEN],
                           description=_l("From 0 to the project's budget."))
    base_priority = IntegerField(_l("Base priority from the needs assessment (0-100)"),
                                 validators=[GIVEN, NumberRange(min=0, max=100)])
    poor_households = IntegerField(_l("Poor households served (贫困户)"),
                                   validators=[GIVEN, NumberRange(min=0, max=HOUSEHOLDS_MAX)])
    poor_village = BooleanField(_l("Serves a poor village (贫困村)"))
    remote_area = BooleanField(_l("In a remote or less-developed area (边远/欠发达地区)"))

    def values(self) -> dict:
        return {"requested": self.requested.data, "base_priority": self.base_priority.data,
                "poor_households": self.poor_households.data, "poor_village": bool(self.poor_village.data),
                "remote_area": bool(self.remote_area.data)}
