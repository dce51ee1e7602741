"""Operations on accounts and organisations. They flush and audit; the caller commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from flask import current_app
from flask_babel import lazy_gettext as _l

from portal import audit
from portal.accounts import rules
from portal.accounts.models import (
    BureauLevel,
    DocumentKind,
    ExpertAffiliation,
    ExpertProfile,
    LoginAttempt,
    Organisation,
    OrganisationDocument,
    OrgKind,
    OrgStatus,
    User,
)
from portal.errors import DomainError
from portal.extensions import db
from portal.files import store_upload
from portal.permissions import Role

_hasher = PasswordHasher()
# Verified against when the username is unknown, so a miss costs as long as a hit.
_DUMMY_HASH = _hasher.hash("not-a-real-password-0")


class LoginLocked(DomainError):
    status_code = 429


class LoginFailed(DomainError):
    status_code = 401


PASSWORD_MESSAGES = {
    "short": _l("The password must have at least %(n)s characters.", n=rules.PASSWORD_MIN_LENGTH),
    "mix": _l("The password must contain both letters and digits."),
    "username": _l("The password must not contain the user name."),
}

ORG_FIELDS = (
    "name", "kind", "level", "status", "parent_id", "credit_code", "registration_authority", "registration_date",
    "rating", "assistant_social_workers", "social_workers", "senior_social_workers", "service_areas", "address",
    "contact_name", "contact_phone", "contact_email", "debarred_until", "debarment_reason",
)
USER_FIELDS = ("username", "role", "organisation_id", "display_name", "email", "phone", "locale", "active", "approved")


def active_users(organisation_ids) -> list[User]:
    """The active, approved users of the given organisations: who is told about their business."""
    ids = set(organisation_ids)
    if not ids:
        return []
    return list(db.session.scalars(sa.select(User).where(User.organisation_id.in_(ids), User.active.is_(True),
                                                         User.approved.is_(True)).order_by(User.id)))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def check_password(user: User | None, password: str) -> bool:
    """Verify with argon2, spending the same time whether or not the user exists."""
    try:
        return _hasher.verify(user.password_hash if user else _DUMMY_HASH, password) and user is not None
    except (VerificationError, InvalidHashError):
        return False


def _snapshot(obj, fields) -> dict:
    return {f: getattr(obj, f) for f in fields}


def _changes(before: dict, after: dict) -> tuple[dict, dict]:
    keys = [k for k in after if before.get(k) != after[k]]
    return {k: before.get(k) for k in keys}, {k: after[k] for k in keys}


def validate_password(password: str, username: str = "") -> None:
    problems = rules.password_problems(password, username=username)
    if problems:
        raise DomainError(PASSWORD_MESSAGES[problems[0]])


def recent_failures(username: str, ip: str, *, now: datetime) -> int:
    since = rules.lockout_since(now, current_app.config["LOGIN_FAILURE_WINDOW_SECONDS"])
    return db.session.scalar(
        sa.select(sa.func.count(LoginAttempt.id)).where(
            LoginAttempt.success.is_(False),
            LoginAttempt.at > since,
            sa.or_(LoginAttempt.username == username, LoginAttempt.ip == ip),
        )
    )


def authenticate(username: str, password: str, *, ip: str, now: datetime) -> User:
    """Check a login; record the attempt; raise LoginLocked or LoginFailed when refused."""
    username = username.strip()
    if rules.is_locked_out(recent_failures(username, ip, now=now), current_app.config["LOGIN_MAX_FAILURES"]):
        audit.record("login.locked", ("user", username), ip=ip, now=now)
        raise LoginLocked(_l("Too many failed sign-ins for this account or address. Please wait 15 minutes."))
    user = db.session.scalar(sa.select(User).where(User.username == username))
    ok = check_password(user, password)
    db.session.add(LoginAttempt(username=username, ip=ip, at=now, success=ok and user.is_active))
    if not ok:
        audit.record("login.failed", ("user", username), ip=ip, now=now)
        raise LoginFailed(_l("Wrong user name or password."))
    if not user.active:
        audit.record("login.refused_inactive", user, actor=user, ip=ip, now=now)
        raise LoginFailed(_l("This account has been deactivated. Please contact the administrator."))
    if not user.approved:
        audit.record("login.refused_pending", user, actor=user, ip=ip, now=now)
        raise LoginFailed(_l("This account is waiting for an administrator's approval."))
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = hash_password(password)
    user.last_login_at = now
    audit.record("login.ok", user, actor=user, ip=ip, now=now)
    return user


def logout(user: User, *, now: datetime) -> None:
    """End the user's sessions everywhere by changing the session token."""
    user.rotate_session()
    audit.record("logout", user, actor=user, now=now)


class WrongPassword(DomainError):
    """A password typed to confirm an action was wrong; the attempt was recorded (commit it, don't roll back)."""


def confirm_password(user: User, password: str, *, purpose: str, actor: User | None, ip: str, now: datetime
                     ) -> None:
    """Check a password typed outside the sign-in form (a witness, a password change) under the same lockout.

    Every try is recorded like a sign-in attempt, so guessing a colleague's password is as limited as guessing it
    at /login; a failure is audited and raises WrongPassword, a lockout raises LoginLocked.
    """
    if rules.is_locked_out(recent_failures(user.username, ip, now=now), current_app.config["LOGIN_MAX_FAILURES"]):
        audit.record(f"{purpose}.locked", user, actor=actor, ip=ip, now=now)
        raise LoginLocked(_l("Too many wrong passwords for this account or address. Please wait 15 minutes."))
    ok = check_password(user, password)
    db.session.add(LoginAttempt(username=user.username, ip=ip, at=now, success=ok))
    if not ok:
        audit.record(f"{purpose}.wrong_password", user, actor=actor, ip=ip, now=now)
        db.session.flush()
        raise WrongPassword(_l("The password is wrong."))


def change_password(user: User, current: str, new: str, *, now: datetime, ip: str = "") -> None:
    try:
        confirm_password(user, current, purpose="user.password_change", actor=user, ip=ip, now=now)
    except WrongPassword as exc:
        raise WrongPassword(_l("The current password is wrong.")) from exc
    validate_password(new, user.username)
    user.password_hash = hash_password(new)
    user.rotate_session()
    audit.record("user.password_changed", user, actor=user, now=now)


def _check_user_fields(values: dict, user: User | None = None) -> None:
    if not rules.USERNAME_PATTERN.match(values["username"]):
        raise DomainError(_l("User names use 3 to 64 letters, digits, dots, dashes or underscores."))
    clash = db.session.scalar(sa.select(User.id).where(User.username == values["username"]))
    if clash and (user is None or clash != user.id):
        raise DomainError(_l("The user name %(name)s is already taken.", name=values["username"]))
    role = values["role"]
    org = db.session.get(Organisation, values["organisation_id"]) if values.get("organisation_id") else None
    if role == Role.OFFICER and (org is None or org.kind != OrgKind.BUREAU):
        raise DomainError(_l("An officer must belong to a civil-affairs bureau."))
    if role == Role.SUPPLIER and (org is None or org.kind != OrgKind.SUPPLIER):
        raise DomainError(_l("A supplier account must belong to a social-work organisation."))
    if role in (Role.ADMIN, Role.EVALUATOR) and org is not None and org.kind == OrgKind.SUPPLIER:
        raise DomainError(_l("Experts and administrators cannot belong to a bidding organisation."))


def create_user(values: dict, password: str, *, actor: User | None, now: datetime) -> User:
    """Create an account (an administrator's action, or a registration)."""
    values = {k: values[k] for k in USER_FIELDS if k in values}
    values.setdefault("locale", "zh")
    _check_user_fields(values)
    validate_password(password, values["username"])
    user = User(password_hash=hash_password(password), **values)
    db.session.add(user)
    db.session.flush()
    if user.role == Role.EVALUATOR:
        db.session.add(ExpertProfile(user=user))
    audit.record("user.created", user, actor=actor, new=_snapshot(user, USER_FIELDS), now=now)
    return user


def update_user(user: User, values: dict, *, actor: User, now: datetime, new_password: str = "") -> User:
    before = _snapshot(user, USER_FIELDS)
    merged = before | {k: values[k] for k in USER_FIELDS if k in values}
    _check_user_fields(merged, user)
    if user.id == actor.id and (not merged["active"] or merged["role"] != before["role"]):
        raise DomainError(_l("You cannot deactivate your own account or change your own role."))
    for key, value in merged.items():
        setattr(user, key, value)
    if new_password:
        validate_password(new_password, user.username)
        user.password_hash = hash_password(new_password)
    if new_password or not user.is_active or merged["role"] != before["role"]:
        user.rotate_session()
    if user.role == Role.EVALUATOR and user.expert_profile is None:
        db.session.add(ExpertProfile(user=user))
    old, new = _changes(before, _snapshot(user, USER_FIELDS))
    if new_password:
        new["password"] = "changed"  # noqa: S105 - a marker in the audit row, never the password
    audit.record("user.updated", user, actor=actor, old=old, new=new, now=now)
    return user


def set_user_active(user: User, active: bool, *, actor: User, now: datetime) -> None:
    """Deactivate (ending every session at once) or reactivate an account."""
    if user.id == actor.id:
        raise DomainError(_l("You cannot deactivate your own account or change your own role."))
    user.active = active
    user.rotate_session()
    audit.record("user.activated" if active else "user.deactivated", user, actor=actor,
                 old={"active": not active}, new={"active": active}, now=now)


def approve_registration(user: User, *, actor: User, now: datetime) -> None:
    """Approve a self-registered NGO account and its organisation."""
    if user.approved:
        raise DomainError(_l("This account is already approved."))
    user.approved = True
    if user.organisation and user.organisation.status == OrgStatus.PENDING:
        user.organisation.status = OrgStatus.ACTIVE
    audit.record("user.approved", user, actor=actor, old={"approved": False}, new={"approved": True}, now=now)


def _check_org_fields(values: dict, org: Organisation | None = None) -> None:
    code = values.get("credit_code") or None
    values["credit_code"] = code
    if code:
        problem = rules.credit_code_problem(code)
        if problem:
            raise DomainError(CREDIT_CODE_MESSAGES[problem])
        clash = db.session.scalar(sa.select(Organisation.id).where(Organisation.credit_code == code))
        if clash and (org is None or clash != org.id):
            raise DomainError(_l("Another organisation already has the credit code %(code)s.", code=code))
    elif values["kind"] == OrgKind.SUPPLIER:
        raise DomainError(_l("A social-work organisation must have a unified social credit code."))
    clash = db.session.scalar(sa.select(Organisation.id).where(Organisation.name == values["name"]))
    if clash and (org is None or clash != org.id):
        raise DomainError(_l("An organisation named %(name)s already exists.", name=values["name"]))
    if values["kind"] == OrgKind.SUPPLIER:
        values["level"] = None
        values["parent_id"] = None
    elif not values.get("level"):
        raise DomainError(_l("A bureau must be a city or a district/county bureau."))
    parent_id = values.get("parent_id")
    if values["kind"] == OrgKind.BUREAU and values["level"] == BureauLevel.CITY and parent_id:
        raise DomainError(_l("A city bureau has no supervising bureau in the portal."))
    if values["kind"] == OrgKind.BUREAU and values["level"] == BureauLevel.DISTRICT and not parent_id:
        raise DomainError(_l("Choose the city bureau that supervises this district/county bureau."))
    if parent_id:
        parent = db.session.get(Organisation, parent_id)
        if parent is None or not parent.is_city_bureau or (org is not None and parent.id == org.id):
            raise DomainError(_l("A district/county bureau can only sit under a city bureau."))
    if values.get("debarred_until") and not (values.get("debarment_reason") or "").strip():
        raise DomainError(_l("Give the reason and the decision for the debarment."))


CREDIT_CODE_MESSAGES = {
    "length": _l("A unified social credit code has exactly 18 characters."),
    "charset": _l("A unified social credit code uses only digits and capital letters other than I, O, Z, S and V."),
    "check": _l("The last character of this credit code does not match its check character; please check the code."),
}


def create_organisation(values: dict, *, actor: User | None, now: datetime) -> Organisation:
    values = {k: values[k] for k in ORG_FIELDS if k in values}
    _check_org_fields(values)
    org = Organisation(**values)
    db.session.add(org)
    db.session.flush()
    audit.record("organisation.created", org, actor=actor, new=_snapshot(org, ORG_FIELDS), now=now)
    return org


def update_organisation(org: Organisation, values: dict, *, actor: User, now: datetime) -> Organisation:
    before = _snapshot(org, ORG_FIELDS)
    merged = before | {k: values[k] for k in ORG_FIELDS if k in values}
    _check_org_fields(merged, org)
    for key, value in merged.items():
        setattr(org, key, value)
    db.session.flush()
    old, new = _changes(before, _snapshot(org, ORG_FIELDS))
    if new:
        audit.record("organisation.updated", org, actor=actor, old=old, new=new, now=now)
    return org


@dataclass
class Registration:
    username: str
    password: str
    display_name: str
    email: str
    phone: str
    org_name: str
    credit_code: str
    registration_authority: str
    registration_date: date | None
    contact_name: str
    address: str


def register_supplier(reg: Registration, *, now: datetime) -> User:
    """An NGO registers itself; account and organisation wait for an administrator."""
    org = create_organisation(
        {
            "name": reg.org_name, "kind": OrgKind.SUPPLIER, "status": OrgStatus.PENDING,
            "credit_code": reg.credit_code, "registration_authority": reg.registration_authority,
            "registration_date": reg.registration_date, "contact_name": reg.contact_name,
            "contact_phone": reg.phone, "contact_email": reg.email, "address": reg.address,
        },
        actor=None, now=now,
    )
    return create_user(
        {"username": reg.username, "role": Role.SUPPLIER, "organisation_id": org.id, "display_name": reg.display_name,
         "email": reg.email, "phone": reg.phone, "approved": False},
        reg.password, actor=None, now=now,
    )


EXPERT_FIELDS = ("title", "employer", "specialties", "in_pool")


def update_expert_profile(profile: ExpertProfile, values: dict, *, actor: User, now: datetime) -> None:
    before = _snapshot(profile, EXPERT_FIELDS)
    for key in EXPERT_FIELDS:
        if key in values:
            setattr(profile, key, values[key])
    old, new = _changes(before, _snapshot(profile, EXPERT_FIELDS))
    if new:
        audit.record("expert.updated", ("ExpertProfile", profile.user_id), actor=actor, old=old, new=new, now=now)


def add_affiliation(profile: ExpertProfile, values: dict, *, actor: User, now: datetime) -> ExpertAffiliation:
    if values.get("end_date") and values["end_date"] < values["start_date"]:
        raise DomainError(_l("The end date cannot be before the start date."))
    org = db.session.get(Organisation, values["organisation_id"]) if values.get("organisation_id") else None
    name = (values.get("organisation_name") or "").strip() or (org.name if org else "")
    if not name:
        raise DomainError(_l("Choose an organisation or type its name."))
    affiliation = ExpertAffiliation(
        expert=profile, organisation=org, organisation_name=name, kind=values["kind"],
        start_date=values["start_date"], end_date=values.get("end_date"),
    )
    db.session.add(affiliation)
    db.session.flush()
    audit.record("expert.affiliation_added", ("ExpertProfile", profile.user_id), actor=actor, now=now,
                 new={"organisation": name, "kind": values["kind"], "start": values["start_date"],
                      "end": values.get("end_date")})
    return affiliation


def remove_affiliation(affiliation: ExpertAffiliation, *, actor: User, now: datetime) -> None:
    audit.record("expert.affiliation_removed", ("ExpertProfile", affiliation.expert_id), actor=actor, now=now,
                 old={"organisation": affiliation.organisation_name, "kind": affiliation.kind,
                      "start": affiliation.start_date, "end": affiliation.end_date})
    db.session.delete(affiliation)


def add_organisation_document(org: Organisation, kind: str, upload, *, actor: User, now: datetime
                              ) -> OrganisationDocument:
    """Keep a credential on file: the upload is checked by content and stored under a random name."""
    if kind not in set(DocumentKind):
        raise DomainError(_l("Choose what kind of document this is."))
    stored = store_upload(upload, uploaded_by=actor)
    document = OrganisationDocument(organisation=org, kind=kind, file=stored, uploaded_at=now)
    db.session.add(document)
    db.session.flush()
    audit.record("organisation.document_added", org, actor=actor, now=now,
                 new={"document": document.id, "kind": kind, "name": stored.original_name, "sha256": stored.sha256})
    return document


def remove_organisation_document(document: OrganisationDocument, *, actor: User, now: datetime) -> None:
    """Take a credential off the profile; the stored file is kept for the record."""
    audit.record("organisation.document_removed", document.organisation, actor=actor, now=now,
                 old={"document": document.id, "kind": document.kind, "sha256": document.file.sha256})
    db.session.delete(document)
