"""Forms of the review plan: adding and changing a review, cancelling it, its rubric, and rubric templates."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, DateField, FieldList, FormField, SelectField, StringField, TextAreaField
from wtforms.validators import DataRequired, Length, Optional

from portal.forms import RowForm, choices, strip, within_calendar
from portal.reviews.models import REVIEW_KIND_LABELS
from portal.reviews.planning import CANCEL_REASON_MIN_CHARS, THIRD_PARTY_MAX, TITLE_MAX
from portal.reviews.rubrics import GUIDANCE_MAX, NAME_MAX, RubricRow, points_text
from portal.reviews.rules import ReviewKind

REQUIRED = DataRequired(message=_l("This field is required."))
TEXT = [strip]
SPARE_ROWS = 3  # empty rows offered under a rubric to add indicators
# The kinds an officer adds by hand: a re-review is planned by an accepted rectification plan.
ADDABLE_KINDS = [ReviewKind.EXTRA, ReviewKind.SUPERVISION, ReviewKind.NEEDS, ReviewKind.MIDTERM, ReviewKind.YEARLY,
                 ReviewKind.FINAL]
LEVEL_LABELS = {"1": _l("First level (一级指标)"), "2": _l("Second level (二级指标)")}


def year_choices(years: int) -> list:
    return [("", _l("None"))] + [(str(n), _l("Contract year %(n)s", n=n)) for n in range(1, years + 1)]


class ReviewForm(FlaskForm):
    """A planned review's title, period, due date, gate, contract year and assessing organisation."""

    title = StringField(_l("Review title"), filters=TEXT, validators=[Optional(), Length(max=TITLE_MAX)],
                        description=_l("Leave empty for the usual Chinese title of its kind, e.g. 专项评估."))
    period_start = DateField(_l("Service period reviewed: from"), validators=[REQUIRED, within_calendar])
    period_end = DateField(_l("to"), validators=[REQUIRED, within_calendar])
    due_on = DateField(_l("Due on"), validators=[REQUIRED, within_calendar],
                       description=_l("The day by which the review should be graded."))
    opens_payment = BooleanField(_l("Opens a review gate of the payment schedule when graded at least 合格"))
    year_index = SelectField(_l("Decides whether the next contract year goes ahead (年度评估)"), choices=[],
                             description=_l("Only for a multi-year contract: a failed review of that year stops the "
                                            "next one."))
    third_party = StringField(_l("Third-party assessing organisation (第三方评估机构)"), filters=TEXT,
                              validators=[Optional(), Length(max=THIRD_PARTY_MAX)],
                              description=_l("Leave empty when the bureau reviews itself."))

    def set_years(self, years: int) -> None:
        self.year_index.choices = year_choices(years)

    def values(self) -> dict:
        return {"title": self.title.data or "", "period_start": self.period_start.data,
                "period_end": self.period_end.data, "due_on": self.due_on.data,
                "opens_payment": bool(self.opens_payment.data),
                "year_index": int(self.year_index.data) if self.year_index.data else None,
                "third_party": self.third_party.data or ""}


class AddReviewForm(ReviewForm):
    kind = SelectField(_l("Kind of review"), choices=choices({k: REVIEW_KIND_LABELS[k] for k in ADDABLE_KINDS}))
    template = SelectField(_l("Rubric"), choices=[],
                           description=_l("The review gets its own copy, which you can adjust until it starts."))

    def set_templates(self, templates) -> None:
        self.template.choices = [(str(t.id), t.name) for t in templates]

    def values(self) -> dict:
        return super().values() | {"kind": self.kind.data}


class CancelReviewForm(FlaskForm):
    reason = TextAreaField(_l("Why is the review cancelled?"), filters=TEXT,
                           validators=[REQUIRED, Length(min=CANCEL_REASON_MIN_CHARS, max=2000)],
                           description=_l("Kept with the review; its reviewers and the NGO are told."))


class IndicatorRowForm(RowForm):
    """One indicator row of a rubric form (no CSRF of its own: the outer form carries it)."""

    level = SelectField(_l("Level"), choices=choices(LEVEL_LABELS), default="2")
    name = StringField(_l("Indicator"), filters=TEXT, validators=[Optional(), Length(max=NAME_MAX)])
    weight = StringField(_l("Weight"), filters=TEXT, validators=[Optional(), Length(max=12)])
    max_score = StringField(_l("Maximum score"), filters=TEXT, validators=[Optional(), Length(max=12)])
    guidance = TextAreaField(_l("Scoring guidance"), filters=TEXT, validators=[Optional(), Length(max=GUIDANCE_MAX)])

    def is_blank(self) -> bool:
        return not (self.name.data or self.weight.data or self.max_score.data or self.guidance.data)


class RubricForm(FlaskForm):
    """A rubric as rows: a second-level row belongs to the first-level row above it. Blank rows are ignored, so
    clearing a row removes its indicator."""

    rows = FieldList(FormField(IndicatorRowForm), min_entries=0)

    def fill(self, rows: list[RubricRow]) -> None:
        """Show ``rows`` (on GET) followed by a few empty rows."""
        while len(self.rows):
            self.rows.pop_entry()
        for row in rows:
            self.rows.append_entry({"level": str(row.level), "name": row.name, "weight": points_text(row.weight),
                                    "max_score": points_text(row.max_score), "guidance": row.guidance})
        for _ in range(SPARE_ROWS):
            self.rows.append_entry({"level": "2"})

    def row_values(self) -> list[dict]:
        """The non-blank rows for ``rubrics.update_rubric`` / ``update_template``."""
        return [{"level": int(entry.form.level.data or 2), "name": entry.form.name.data or "",
                 "weight": entry.form.weight.data or "", "max_score": entry.form.max_score.data or "",
                 "guidance": entry.form.guidance.data or ""}
                for entry in self.rows if not entry.form.is_blank()]


class TemplateForm(RubricForm):
    name = StringField(_l("Template name"), filters=TEXT, validators=[REQUIRED, Length(max=NAME_MAX)])
    description = TextAreaField(_l("Description"), filters=TEXT, validators=[Optional(), Length(max=GUIDANCE_MAX)])


class NewTemplateForm(FlaskForm):
    name = StringField(_l("Template name"), filters=TEXT, validators=[REQUIRED, Length(max=NAME_MAX)])
    copy_from = SelectField(_l("Start from"), choices=[])

    def set_templates(self, templates) -> None:
        self.copy_from.choices = [("", _l("An empty rubric"))] + [(str(t.id), t.name) for t in templates]


class CopyRubricForm(FlaskForm):
    template = SelectField(_l("Replace the rubric by a copy of"), choices=[])

    def set_templates(self, templates) -> None:
        self.template.choices = [(str(t.id), t.name) for t in templates]
