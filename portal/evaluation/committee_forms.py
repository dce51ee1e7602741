"""Forms for the committee: forming it, the chair, replacements, declarations, the qualification review and
low-price justifications. The rules themselves are checked by the services."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import IntegerField, RadioField, SelectField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.accounts.models import SPECIALTY_LABELS
from portal.evaluation.committee import JUSTIFICATION_MIN
from portal.forms import CheckboxList, choices, strip

REQUIRED = InputRequired(message=_l("This field is required."))
TEXT = [strip]
MAX_SEATS = 25  # far above any lawful committee; bounds the input


def _optional_int(value):
    return int(value) if value not in (None, "", "None") else None


class CommitteeForm(FlaskForm):
    size = IntegerField(_l("Number of members"), validators=[REQUIRED, NumberRange(
        min=1, max=MAX_SEATS, message=_l("Between 1 and %(max)s members.", max=MAX_SEATS))])
    specialty = SelectField(_l("Specialty of the experts drawn"),
                            choices=choices({"": _l("Any specialty"), **SPECIALTY_LABELS}))
    representatives = CheckboxList(_l("Purchaser's representatives (采购人代表), if any"), coerce=int,
                                   description=_l("Officers of the bureau who sit on the committee. They count "
                                                  "towards its size, never chair it, and experts must be at least "
                                                  "two thirds of the members."))


class ChairForm(FlaskForm):
    member_id = SelectField(_l("Chair (组长)"), coerce=int)


class ReplaceForm(FlaskForm):
    reason = TextAreaField(_l("Reason for the replacement"), filters=TEXT,
                           validators=[REQUIRED, Length(max=2000)])
    representative_id = SelectField(_l("Officer who takes a representative's seat"), coerce=_optional_int,
                                    validate_choice=False)


class DeclarationForm(FlaskForm):
    conflict = RadioField(_l("Your declaration"), validators=[REQUIRED], choices=choices([
        ("no", _l("I declare that I have no conflict of interest with any of these bidders.")),
        ("yes", _l("I have a conflict of interest with a bidder and must recuse myself (回避)."))]))
    note = TextAreaField(_l("The conflict (your tie to the bidder)"), filters=TEXT,
                         validators=[Optional(), Length(max=4000)])


def qualification_form(requirements, **kwargs) -> FlaskForm:
    """One bid's findings: pass or fail on each requirement, with the reason for a fail (``prefix`` per bid)."""

    class QualificationForm(FlaskForm):
        def findings(self) -> dict[int, tuple[bool, str]]:
            return {r.id: (self[f"passed_{r.id}"].data == "pass", self[f"reason_{r.id}"].data or "")
                    for r in requirements}

    for requirement in requirements:
        setattr(QualificationForm, f"passed_{requirement.id}", RadioField(
            requirement.text, choices=choices([("pass", _l("Pass")), ("fail", _l("Fail"))]),
            validators=[InputRequired(message=_l("Choose pass or fail."))]))
        setattr(QualificationForm, f"reason_{requirement.id}", StringField(
            _l("Reason"), filters=TEXT, validators=[Optional(), Length(max=1000)]))
    return QualificationForm(**kwargs)


class JustificationForm(FlaskForm):
    text = TextAreaField(_l("Written justification of the price"), filters=TEXT,
                         validators=[REQUIRED, Length(max=20000)],
                         description=_l("Explain how the price covers the service: staff, volunteers, premises, "
                                        "other funding. At least %(n)s characters.", n=JUSTIFICATION_MIN))


class LowPriceDecisionForm(FlaskForm):
    decision = RadioField(_l("The committee's decision"), validators=[REQUIRED], choices=choices([
        ("accept", _l("Accept the justification: the bid is scored")),
        ("reject", _l("Reject the justification: the bid is invalid (87-60)"))]))
    note = TextAreaField(_l("Reason"), filters=TEXT, validators=[Optional(), Length(max=4000)])
