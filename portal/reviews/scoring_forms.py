"""Forms of the scoring: assigning and removing a reviewer, the declaration, a reviewer's sheet and the decision
on a proposed termination."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from wtforms import RadioField, SelectField, StringField, SubmitField, TextAreaField
from wtforms.validators import InputRequired, Length, Optional

from portal.evaluation.scoring_forms import PointsField
from portal.forms import choices, strip
from portal.reviews.grading import CONTINUE, TERMINATE
from portal.reviews.models import REVIEWER_KIND_LABELS
from portal.reviews.scoring import COMMENT_MAX, ORGANISATION_MAX

NOTE_MAX = 2000


class AssignReviewerForm(FlaskForm):
    user_id = SelectField(_l("Reviewer"), coerce=int,
                          validators=[InputRequired(message=_l("Choose the reviewer."))])
    kind = SelectField(_l("Takes part as"), choices=choices(REVIEWER_KIND_LABELS),
                       validators=[InputRequired(message=_l("Choose the kind of reviewer."))])
    organisation_name = StringField(_l("Assessing organisation (第三方评估机构)"), filters=[strip],
                                    validators=[Optional(), Length(max=ORGANISATION_MAX)],
                                    description=_l("Only for a third-party assessor: the organisation they assess "
                                                   "for. It may not be the NGO under review."))

    def set_candidates(self, users) -> None:
        """The people who may be chosen: the bureau's officers and the portal's evaluators."""
        self.user_id.choices = choices([(0, _l("Choose…")), *[(u.id, f"{u.name} ({u.username})") for u in users]])


class RemoveReviewerForm(FlaskForm):
    reason = TextAreaField(_l("Why is the reviewer removed?"), filters=[strip],
                           validators=[InputRequired(message=_l("Say why the reviewer is removed.")),
                                       Length(max=NOTE_MAX)])


class DeclarationForm(FlaskForm):
    conflict = RadioField(_l("Your declaration"), choices=choices([
        ("no", _l("I have no conflict of interest with this NGO")),
        ("yes", _l("I have a conflict of interest with this NGO and withdraw"))]),
        validators=[InputRequired(message=_l("Choose one of the two declarations."))])
    note = TextAreaField(_l("The tie to the NGO"), filters=[strip], validators=[Length(max=NOTE_MAX)])


def points_name(indicator_id: int) -> str:
    return f"points_{indicator_id}"


def comment_name(indicator_id: int) -> str:
    return f"comment_{indicator_id}"


class SheetFormBase(FlaskForm):
    save = SubmitField(_l("Save"))
    submit_sheet = SubmitField(_l("Submit the sheet"))


def sheet_form(leaves, scores, **kwargs) -> SheetFormBase:
    """The sheet of one reviewer: points and a comment per scored indicator (``leaves``: rule indicators), filled
    from ``scores`` ({indicator id: ReviewScore})."""

    class SheetForm(SheetFormBase):
        pass

    data = {}
    for leaf in leaves:
        setattr(SheetForm, points_name(leaf.key), PointsField(
            _l("Points for %(indicator)s (0 to %(max)s)", indicator=leaf.name, max=leaf.max_score)))
        setattr(SheetForm, comment_name(leaf.key), TextAreaField(
            _l("Comment on %(indicator)s", indicator=leaf.name), filters=[strip],
            validators=[Optional(), Length(max=COMMENT_MAX)]))
        score = scores.get(leaf.key)
        if score is not None:
            data[points_name(leaf.key)] = score.points
            data[comment_name(leaf.key)] = score.comment
    return SheetForm(data=data, **kwargs)


def sheet_entries(form: SheetFormBase, leaves) -> dict:
    """What the sheet says: {indicator id: (points or None, comment)}."""
    return {leaf.key: (form[points_name(leaf.key)].data, form[comment_name(leaf.key)].data or "") for leaf in leaves}


class ProposalForm(FlaskForm):
    decision = RadioField(_l("Your decision"), choices=choices([
        (TERMINATE, _l("Terminate the contract (failed reviews)")),
        (CONTINUE, _l("Let the contract continue"))]),
        validators=[InputRequired(message=_l("Choose to terminate the contract or to let it continue."))])
    note = TextAreaField(_l("Reasons (for a termination: its grounds, published in kind in the termination notice)"),
                         filters=[strip], validators=[InputRequired(message=_l("Give the reasons for the decision.")),
                                                      Length(max=NOTE_MAX)])
