"""The bid form: price, the two sealed files and the bidder's declarations."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import BooleanField, PasswordField, SelectField
from wtforms.validators import DataRequired, InputRequired

from portal.files import max_file_bytes
from portal.forms import MoneyField
from portal.tenders.bidding import BidSubmission, Upload

DECLARE = DataRequired(message=_l("You must make this declaration to submit a bid."))


def _upload(field) -> Upload:
    storage = field.data
    # One byte past the limit is enough for check_upload to refuse it as too large.
    return Upload(data=storage.read(max_file_bytes() + 1), filename=storage.filename or "")


class BidForm(FlaskForm):
    price = MoneyField(_l("Price in yuan (all costs included)"),
                       validators=[InputRequired(message=_l("Enter your price."))],
                       description=_l("Digits with at most two decimals, e.g. 480000 or 480000.50. It may not exceed "
                                      "the ceiling price, or the budget where there is none."))
    technical = FileField(_l("Technical and service proposal (PDF, Word or ZIP)"),
                          validators=[FileRequired(message=_l("Attach your technical and service proposal."))])
    qualification = FileField(_l("Qualification documents (PDF, Word or ZIP)"),
                              validators=[FileRequired(message=_l("Attach your qualification documents."))])
    meets_requirements = BooleanField(
        _l("We declare that our organisation meets every qualification requirement of this tender."),
        validators=[DECLARE])
    no_collusion = BooleanField(
        _l("We declare that we have not colluded with any other bidder, and we accept the terms of the tender "
           "documents."), validators=[DECLARE])

    def submission(self) -> BidSubmission:
        """What the bidder submitted, read into memory for sealing."""
        return BidSubmission(price=self.price.data, technical=_upload(self.technical),
                             qualification=_upload(self.qualification),
                             declarations={"meets_requirements": bool(self.meets_requirements.data),
                                           "no_collusion": bool(self.no_collusion.data)})


class FinalQuoteForm(FlaskForm):
    price = MoneyField(_l("Final quote in yuan (最后报价)"),
                       validators=[InputRequired(message=_l("Enter your price."))])


class FinalQuoteOpeningForm(FlaskForm):
    confirmer = SelectField(_l("Second officer"), coerce=int)
    confirmer_password = PasswordField(_l("The second officer's password (typed by that officer)"),
                                       validators=[InputRequired(message=_l("This field is required."))])
