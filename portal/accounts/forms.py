"""Forms for sign-in, registration and the administrator's pages."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l
from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import (
    BooleanField,
    DateField,
    IntegerField,
    PasswordField,
    SelectField,
    StringField,
    TextAreaField,
)
from wtforms.validators import DataRequired, EqualTo, InputRequired, Length, NumberRange, Optional

from portal.accounts.models import (
    AFFILIATION_LABELS,
    DOCUMENT_KIND_LABELS,
    LEVEL_LABELS,
    ORG_KIND_LABELS,
    RATING_LABELS,
    ROLE_LABELS,
    SPECIALTY_LABELS,
    STATUS_LABELS,
)
from portal.forms import EMAIL, PHONE, CheckboxList, choices, strip

REQUIRED = DataRequired(message=_l("This field is required."))
PRESENT = InputRequired(message=_l("This field is required."))
CREDIT_CODE_LENGTH = Length(min=18, max=18, message=_l("A unified social credit code has exactly 18 characters."))


NUMBER_OF_PEOPLE = NumberRange(min=0, max=100000, message=_l("Enter a whole number between 0 and 100000."))


def _upper(value):
    return value.upper() if isinstance(value, str) else value

TEXT = [strip]


def _choices(labels: dict):
    return choices(labels)


def _coerce_id(value):
    return int(value) if value not in (None, "", "0", 0) else None


class LoginForm(FlaskForm):
    username = StringField(_l("User name"), filters=TEXT, validators=[REQUIRED, Length(max=64)])
    password = PasswordField(_l("Password"), validators=[REQUIRED, Length(max=200)])


class PasswordChangeForm(FlaskForm):
    current = PasswordField(_l("Current password"), validators=[REQUIRED, Length(max=200)])
    new = PasswordField(_l("New password"), validators=[REQUIRED, Length(max=200)])
    confirm = PasswordField(
        _l("Repeat the new password"),
        validators=[REQUIRED, EqualTo("new", message=_l("The two new passwords are not the same."))],
    )


class RegistrationForm(FlaskForm):
    org_name = StringField(_l("Organisation name"), filters=TEXT, validators=[REQUIRED, Length(max=200)])
    credit_code = StringField(
        _l("Unified social credit code"), filters=[strip, _upper], validators=[REQUIRED, CREDIT_CODE_LENGTH],
    )
    registration_authority = StringField(_l("Registration authority"), filters=TEXT,
                                         validators=[REQUIRED, Length(max=200)])
    registration_date = DateField(_l("Registration date"), validators=[Optional()])
    address = StringField(_l("Address"), filters=TEXT, validators=[Optional(), Length(max=300)])
    contact_name = StringField(_l("Contact person"), filters=TEXT, validators=[REQUIRED, Length(max=100)])
    phone = StringField(_l("Telephone"), filters=TEXT, validators=[REQUIRED, PHONE])
    email = StringField(_l("E-mail"), filters=TEXT, validators=[REQUIRED, EMAIL, Length(max=200)])
    username = StringField(_l("User name"), filters=TEXT, validators=[REQUIRED, Length(min=3, max=64)])
    display_name = StringField(_l("Your name"), filters=TEXT, validators=[REQUIRED, Length(max=100)])
    password = PasswordField(_l("Password"), validators=[REQUIRED, Length(max=200)])
    confirm = PasswordField(
        _l("Repeat the password"),
        validators=[REQUIRED, EqualTo("password", message=_l("The two passwords are not the same."))],
    )


class UserForm(FlaskForm):
    username = StringField(_l("User name"), filters=TEXT, validators=[REQUIRED, Length(min=3, max=64)])
    display_name = StringField(_l("Full name"), filters=TEXT, validators=[REQUIRED, Length(max=100)])
    role = SelectField(_l("Role"), choices=_choices(ROLE_LABELS), validators=[REQUIRED])
    organisation_id = SelectField(_l("Organisation"), coerce=_coerce_id, validate_choice=True)
    email = StringField(_l("E-mail"), filters=TEXT, validators=[Optional(), EMAIL, Length(max=200)])
    phone = StringField(_l("Telephone"), filters=TEXT, validators=[Optional(), PHONE])
    locale = SelectField(_l("Language"), choices=choices({"zh": "简体中文", "en": "English"}))
    active = BooleanField(_l("Active"), default=True)
    password = PasswordField(_l("Password"), validators=[Optional(), Length(max=200)],
                             description=_l("Leave empty to keep the current password."))


class OrganisationForm(FlaskForm):
    name = StringField(_l("Name"), filters=TEXT, validators=[REQUIRED, Length(max=200)])
    kind = SelectField(_l("Type"), choices=_choices(ORG_KIND_LABELS))
    level = SelectField(_l("Bureau level"), choices=choices({"": "—", **LEVEL_LABELS}))
    parent_id = SelectField(_l("Supervising bureau"), coerce=_coerce_id)
    status = SelectField(_l("Status"), choices=_choices(STATUS_LABELS))
    credit_code = StringField(
        _l("Unified social credit code"), filters=[strip, _upper], validators=[Optional(), CREDIT_CODE_LENGTH],
    )
    registration_authority = StringField(_l("Registration authority"), filters=TEXT, validators=[Length(max=200)])
    registration_date = DateField(_l("Registration date"), validators=[Optional()])
    rating = SelectField(_l("Social-organisation rating"), choices=_choices(RATING_LABELS))
    assistant_social_workers = IntegerField(_l("Assistant social workers (助理社会工作师)"), default=0,
                                            validators=[PRESENT, NUMBER_OF_PEOPLE])
    social_workers = IntegerField(_l("Social workers (社会工作师)"), default=0,
                                  validators=[PRESENT, NUMBER_OF_PEOPLE])
    senior_social_workers = IntegerField(_l("Senior social workers (高级社会工作师)"), default=0,
                                         validators=[PRESENT, NUMBER_OF_PEOPLE])
    service_areas = TextAreaField(_l("Service areas"), filters=TEXT, validators=[Length(max=2000)])
    address = StringField(_l("Address"), filters=TEXT, validators=[Length(max=300)])
    contact_name = StringField(_l("Contact person"), filters=TEXT, validators=[Length(max=100)])
    contact_phone = StringField(_l("Telephone"), filters=TEXT, validators=[Optional(), PHONE])
    contact_email = StringField(_l("E-mail"), filters=TEXT, validators=[Optional(), EMAIL, Length(max=200)])
    debarred_until = DateField(_l("Debarred until (失信/禁止参加政府采购)"), validators=[Optional()])
    debarment_reason = TextAreaField(_l("Debarment decision and reason"), filters=TEXT, validators=[Length(max=2000)])


class MyOrganisationForm(FlaskForm):
    """What an NGO may change about itself; name, code, rating and debarment stay with the administrator."""

    assistant_social_workers = OrganisationForm.assistant_social_workers
    social_workers = OrganisationForm.social_workers
    senior_social_workers = OrganisationForm.senior_social_workers
    service_areas = OrganisationForm.service_areas
    address = OrganisationForm.address
    contact_name = StringField(_l("Contact person"), filters=TEXT, validators=[REQUIRED, Length(max=100)])
    contact_phone = StringField(_l("Telephone"), filters=TEXT, validators=[REQUIRED, PHONE])
    contact_email = StringField(_l("E-mail"), filters=TEXT, validators=[REQUIRED, EMAIL, Length(max=200)])


class DocumentForm(FlaskForm):
    kind = SelectField(_l("Document"), choices=_choices(DOCUMENT_KIND_LABELS))
    file = FileField(_l("File (PDF, Word, Excel, JPEG, PNG or ZIP)"),
                     validators=[FileRequired(message=_l("Choose a file to upload."))])


class ExpertForm(FlaskForm):
    title = StringField(_l("Professional title"), filters=TEXT, validators=[Length(max=100)])
    employer = StringField(_l("Employer"), filters=TEXT, validators=[Length(max=200)])
    specialties = CheckboxList(_l("Specialties"), choices=_choices(SPECIALTY_LABELS))
    in_pool = BooleanField(_l("Available in the expert pool"), default=True)


class AffiliationForm(FlaskForm):
    organisation_id = SelectField(_l("Organisation in the portal"), coerce=_coerce_id)
    organisation_name = StringField(_l("Organisation not in the portal: its name"), filters=TEXT,
                                    validators=[Length(max=200)])
    kind = SelectField(_l("Relationship"), choices=_choices(AFFILIATION_LABELS))
    start_date = DateField(_l("From"), validators=[InputRequired(message=_l("Enter a valid date."))])
    end_date = DateField(_l("Until (leave empty if it continues)"), validators=[Optional()])


class CalendarYearForm(FlaskForm):
    year = IntegerField(_l("Year"), validators=[
        PRESENT, NumberRange(min=2000, max=2100, message=_l("Enter a year between 2000 and 2100."))])
    notice = StringField(_l("State Council notice"), filters=TEXT, validators=[REQUIRED, Length(max=200)])
    holidays = TextAreaField(_l("Days off (one date or range per line, e.g. 2027-02-06..2027-02-12)"),
                             filters=TEXT, validators=[REQUIRED, Length(max=5000)])
    workdays = TextAreaField(_l("Weekend days that are working days (调休)"), filters=TEXT,
                             validators=[Length(max=2000)])
