"""Forms of the scoring: a member's sheet, a lawful change, a re-check and its answer, a tie decision, and the
password that confirms the report."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import (
    HiddenField,
    IntegerField,
    PasswordField,
    RadioField,
    SelectField,
    StringField,
    SubmitField,
    TextAreaField,
)
from wtforms.validators import InputRequired, Length, NumberRange, Optional

from portal.evaluation.models import CHANGE_REASON_LABELS
from portal.forms import choices, strip

NOTE_MAX = 2000


class PointsField(StringField):
    """Points typed by a member, read as Decimal (never float); blank is None. The range and the number of
    decimals are the service's rules (rules.score_problems), so its messages name the bid and the criterion."""

    def process_formdata(self, valuelist):
        self.data = None
        self.raw = valuelist[0].strip() if valuelist else ""
        if not self.raw:
            return
        try:
            value = Decimal(self.raw.replace("，", ".").replace(",", "."))
        except InvalidOperation:
            raise ValueError(_l("Enter a number of points, e.g. 35 or 35.5.")) from None
        if not value.is_finite():
            raise ValueError(_l("Enter a number of points, e.g. 35 or 35.5."))
        self.data = value

    def _value(self):
        if self.data is None:
            return getattr(self, "raw", "")  # what the member typed, shown back with its error
        return format(self.data.normalize(), "f")  # 30.50 -> 30.5, 40 -> 40


def points_name(bid_id: int, criterion_id: int) -> str:
    return f"points_{bid_id}_{criterion_id}"


def comment_name(bid_id: int, criterion_id: int) -> str:
    return f"comment_{bid_id}_{criterion_id}"


class SheetFormBase(FlaskForm):
    save = SubmitField(_l("Save draft"))
    submit_sheet = SubmitField(_l("Submit the sheet"))


def sheet_form(bids, criteria, scores, **kwargs) -> SheetFormBase:
    """The sheet of one member: a points field and a comment per qualified bid and criterion, filled from
    ``scores`` ({(bid_id, criterion_id): Score})."""

    class SheetForm(SheetFormBase):
        pass

    data = {}
    for bid in bids:
        for criterion in criteria:
            setattr(SheetForm, points_name(bid.id, criterion.id), PointsField(
                # gettext, not a lazy string: a lazy string counts as safe markup and the name is typed by a user.
                _("Points for %(criterion)s (0 to %(max)s)", criterion=criterion.name, max=criterion.weight)))
            setattr(SheetForm, comment_name(bid.id, criterion.id), StringField(
                _l("Comment"), filters=[strip], validators=[Optional(), Length(max=NOTE_MAX)]))
            score = scores.get((bid.id, criterion.id))
            if score is not None:
                data[points_name(bid.id, criterion.id)] = score.points
                data[comment_name(bid.id, criterion.id)] = score.comment
    return SheetForm(data=data, **kwargs)


def sheet_entries(form: SheetFormBase, bids, criteria) -> tuple[dict, dict]:
    """The points (None where blank) and comments typed on the sheet, keyed by (bid id, criterion id)."""
    entries, comments = {}, {}
    for bid in bids:
        for criterion in criteria:
            key = (bid.id, criterion.id)
            entries[key] = form[points_name(*key)].data
            comments[key] = form[comment_name(*key)].data or ""
    return entries, comments


def change_reason_choices():
    return choices([("", _l("Choose the lawful reason")), *CHANGE_REASON_LABELS.items()])


class ChangeScoreForm(FlaskForm):
    new_points = PointsField(_l("New points"), validators=[InputRequired(message=_l("Enter the new points."))])
    reason = SelectField(_l("Lawful reason (87-64)"), validators=[InputRequired(message=_l("Choose the reason."))])
    note = TextAreaField(_l("Explain the change"), filters=[strip],
                         validators=[InputRequired(message=_l("Explain the change.")), Length(max=NOTE_MAX)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reason.choices = change_reason_choices()


class RecheckForm(FlaskForm):
    member_id = SelectField(_l("Member"), coerce=int)
    bid_id = HiddenField(validators=[InputRequired()])
    criterion_id = HiddenField(validators=[InputRequired()])
    note = TextAreaField(_l("What should be re-checked"), filters=[strip],
                         validators=[InputRequired(message=_l("Say what should be re-checked.")),
                                     Length(max=NOTE_MAX)])

    def ids(self) -> tuple[int, int] | None:
        try:
            return int(self.bid_id.data), int(self.criterion_id.data)
        except (TypeError, ValueError):
            return None


class ResolveRecheckForm(FlaskForm):
    decision = RadioField(_l("Your answer"), choices=choices([("keep", _l("Keep the score")),
                                                              ("change", _l("Change it for a lawful reason"))]),
                          validators=[InputRequired(message=_l("Choose keep or change."))])
    new_points = PointsField(_l("New points"))
    reason = SelectField(_l("Lawful reason (87-64)"), validators=[Optional()])
    note = TextAreaField(_l("Note"), filters=[strip], validators=[Length(max=NOTE_MAX)])

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.reason.choices = change_reason_choices()


class TieForm(FlaskForm):
    """One group of tied bids: by the documents' method (a place per bid and a note), or by lot."""

    ids = HiddenField(validators=[InputRequired()])
    mode = RadioField(_l("How the tie is decided"), default="lot",
                      choices=choices([("documents", _l("By the method in the tender documents")),
                                       ("lot", _l("By lot (随机抽取), the seed recorded"))]),
                      validators=[InputRequired()])
    note = TextAreaField(_l("The rule of the tender documents, or a note"), filters=[strip],
                         validators=[Length(max=NOTE_MAX)])

    def group(self) -> list[int]:
        try:
            return [int(part) for part in (self.ids.data or "").split(",") if part]
        except ValueError:
            return []


def tie_form(ids: list[int], names: dict[int, str], **kwargs) -> TieForm:
    """The tie form for one group, with a place (1 ranks first) for each tied bid."""

    class GroupTieForm(TieForm):
        def validate(self, extra_validators=None):
            ok = super().validate(extra_validators)
            if ok and self.mode.data == "documents":
                places = [self[f"place_{bid_id}"].data for bid_id in ids]
                if None in places or sorted(places) != list(range(1, len(ids) + 1)):
                    self.mode.errors.append(_l("Give each tied bid its own place, from 1 to %(n)s.", n=len(ids)))
                    return False
            return ok

        def order(self) -> list[int]:
            return sorted(ids, key=lambda bid_id: self[f"place_{bid_id}"].data)

    for bid_id in ids:
        setattr(GroupTieForm, f"place_{bid_id}", IntegerField(
            _("Place of %(bidder)s", bidder=names.get(bid_id, str(bid_id))),
            validators=[Optional(), NumberRange(min=1, max=len(ids))]))
    return GroupTieForm(data={"ids": ",".join(str(i) for i in ids)}, **kwargs)


class ConfirmReportForm(FlaskForm):
    dissent = TextAreaField(_l("Dissenting opinion (if any)"), filters=[strip], validators=[Length(max=5000)],
                            description=_l("If you disagree with the report, write your opinion and its reasons: "
                                           "they are recorded in the report with your confirmation (87-62)."))
    password = PasswordField(_l("Your password"), validators=[InputRequired(message=_l("Enter your password."))])
