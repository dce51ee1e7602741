"""Form helpers shared by every feature."""

from __future__ import annotations

import re
from decimal import Decimal

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.i18n import translations
from wtforms import Form, SelectChoice, SelectMultipleField, StringField
from wtforms.validators import Optional, Regexp, ValidationError
from wtforms.widgets import CheckboxInput, ListWidget

EMAIL = Regexp(r"^[^@\s]+@[^@\s]+\.[^@\s]+$", message=_l("Enter a valid e-mail address."))
PHONE = Regexp(r"^[0-9+\-() ]{5,40}$", message=_l("Enter a valid telephone number (digits, spaces, + - and brackets)."))


def strip(value):
    """Trim surrounding whitespace and drop control characters from text input."""
    if not isinstance(value, str):
        return value
    return "".join(ch for ch in value if ch >= " " or ch in "\n\t").strip()


def optional_email():
    return [Optional(), EMAIL]


class RowForm(Form):
    """One row of a FieldList (no CSRF of its own: the outer form carries it), its messages translated as a
    FlaskForm's are: a plain WTForms form would show WTForms' English messages on a Chinese page."""

    class Meta:
        def get_translations(self, form):
            return translations


class ActionForm(FlaskForm):
    """A form with nothing but its CSRF token, for buttons that change state."""


def choices(pairs) -> list[SelectChoice]:
    """Select options from a {value: label} mapping or (value, label) pairs."""
    items = pairs.items() if isinstance(pairs, dict) else pairs
    return [SelectChoice(value=str(value) if not isinstance(value, int) else value, label=label)
            for value, label in items]


MONEY_PATTERN = re.compile(r"^\d{1,12}(\.\d{1,2})?$")


class MoneyField(StringField):
    """An amount in yuan typed by a person: digits with at most two decimals, read as Decimal (never float)."""

    def process_formdata(self, valuelist):
        self.data = None
        if not valuelist or not valuelist[0].strip():
            return
        raw = valuelist[0].strip().replace(",", "").replace("，", "").replace("¥", "").replace("￥", "")
        if not MONEY_PATTERN.match(raw):
            raise ValueError(_l("Enter an amount in yuan, e.g. 120000 or 120000.50 (at most two decimals)."))
        self.data = Decimal(raw)

    def _value(self):
        return "" if self.data is None else f"{self.data:.2f}"


class CheckboxList(SelectMultipleField):
    """A multiple choice shown as a list of checkboxes."""

    widget = ListWidget(prefix_label=False)
    option_widget = CheckboxInput()


def within_calendar(form, field):
    """Dates the portal can compute with: the years the working-day calendar accepts (2000 to 2100)."""
    from datetime import date

    if field.data is not None and not date(2000, 1, 1) <= field.data <= date(2100, 12, 31):
        raise ValidationError(_l("Enter a date between the years 2000 and 2100."))
