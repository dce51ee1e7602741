"""Forms of the yearly assessment: creating the year's drafts and the officer's changes to a draft's indicators."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import BooleanField, FieldList, FormField, HiddenField, SelectField, StringField
from wtforms.validators import Length, Optional

from portal.assessment.yearly import NAME_MAX, NOTE_MAX
from portal.forms import RowForm, strip
from portal.reviews.rubrics import points_text

TEXT = [strip]
SPARE_ROWS = 2  # empty rows offered to add entered indicators


class CreateForm(FlaskForm):
    year = SelectField(_l("Year assessed"), coerce=int, choices=[])

    def set_years(self, years) -> None:
        self.year.choices = [(y, str(y)) for y in years]


class IndicatorRowForm(RowForm):
    """One indicator (no CSRF of its own: the outer form carries it). The numbers stay text: the service reads
    them and says which indicator is wrong."""

    id = HiddenField()
    name = StringField(_l("Indicator"), filters=TEXT, validators=[Optional(), Length(max=NAME_MAX)])
    weight = StringField(_l("Weight (权重)"), filters=TEXT, validators=[Optional(), Length(max=12)])
    points = StringField(_l("Points out of 100"), filters=TEXT, validators=[Optional(), Length(max=12)])
    note = StringField(_l("Note"), filters=TEXT, validators=[Optional(), Length(max=NOTE_MAX)])
    remove = BooleanField(_l("Remove"))

    def is_blank(self) -> bool:
        return not (self.id.data or self.name.data or self.weight.data or self.points.data or self.note.data)


class IndicatorsForm(FlaskForm):
    rows = FieldList(FormField(IndicatorRowForm), min_entries=0, max_entries=40)

    def fill(self, indicators) -> None:
        """Show the assessment's indicators (on GET), then a few empty rows for new entered ones."""
        while len(self.rows):
            self.rows.pop_entry()
        for i in indicators:
            self.rows.append_entry({"id": str(i.id), "name": i.name, "weight": points_text(i.weight),
                                    "points": "" if i.points is None else points_text(i.points), "note": i.note})
        for _ in range(SPARE_ROWS):
            self.rows.append_entry({})

    def row_values(self) -> list[dict]:
        """The rows for ``yearly.update_indicators`` (blank new rows left out)."""
        values = []
        for entry in self.rows:
            row = entry.form
            if row.is_blank():
                continue
            ident = row.id.data or ""
            # An id that is not an ASCII number ("²" is a digit to str.isdigit but no int) is no indicator of this
            # assessment: the service refuses it.
            number = int(ident) if ident.isascii() and ident.isdigit() else (-1 if ident else None)
            values.append({"id": number, "name": row.name.data or "",
                           "weight": row.weight.data or "", "points": row.points.data or "",
                           "note": row.note.data or "", "remove": bool(row.remove.data)})
        return values

