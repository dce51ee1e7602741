"""Account and organisation services: validation, password hashing, sign-in and approval (no HTTP)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
import sqlalchemy as sa
from flask_babel import force_locale

from portal.accounts import services
from portal.accounts.models import ExpertAffiliation, LoginAttempt, Organisation, OrgKind, OrgStatus, User
from portal.accounts.rules import credit_code_check_char
from portal.audit import AuditEntry
from portal.errors import DomainError
from portal.extensions import db
from tests.conftest import PASSWORD


@pytest.fixture(autouse=True)
def english(app_context):
    """Read messages in the source language; the default (Chinese) depends on compiled catalogs."""
    with force_locale("en"):
        yield


def credit_code(serial: int) -> str:
    first17 = f"52410100MJ{serial:07d}"
    return first17 + credit_code_check_char(first17)


def last_action() -> str:
    return db.session.scalar(sa.select(AuditEntry.action).order_by(AuditEntry.seq.desc()).limit(1))


# --- passwords -------------------------------------------------------------------------------------------------


def test_passwords_are_hashed_with_argon2(create_user):
    user = create_user("officer")
    assert user.password_hash.startswith("$argon2id$")
    assert PASSWORD not in user.password_hash
    assert services.check_password(user, PASSWORD)
    assert not services.check_password(user, PASSWORD.upper())


def test_same_password_gets_a_different_hash_each_time():
    assert services.hash_password("Same-pass-1") != services.hash_password("Same-pass-1")


def test_check_password_for_unknown_user_is_false():
    assert services.check_password(None, "anything") is False
    assert services.check_password(None, "not-a-real-password-0") is False  # not even the dummy hash's password


def test_check_password_with_a_broken_hash_is_false(create_user):
    user = create_user("officer")
    user.password_hash = "not-a-hash"
    assert services.check_password(user, PASSWORD) is False


# --- create_user -----------------------------------------------------------------------------------------------


def test_create_user_audits_without_the_password(now, city_bureau):
    user = services.create_user({"username": "li.ming", "role": "officer", "organisation_id": city_bureau.id},
                                "Good-pass-12", actor=None, now=now)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "user.created"))
    assert entry.subject_id == str(user.id) and "Good-pass-12" not in entry.new_values
    assert "password" not in entry.new_values
    assert user.locale == "zh" and user.is_active


def test_create_evaluator_gets_an_expert_profile(now):
    user = services.create_user({"username": "expert.x", "role": "evaluator"}, "Good-pass-12", actor=None, now=now)
    assert user.expert_profile is not None and user.expert_profile.in_pool


@pytest.mark.parametrize(
    ("values", "password", "message"),
    [
        ({"username": "ab", "role": "admin"}, "Good-pass-12", "User names use 3 to 64"),
        ({"username": "has space", "role": "admin"}, "Good-pass-12", "User names use 3 to 64"),
        ({"username": "li.ming", "role": "officer"}, "Good-pass-12", "officer must belong to a civil-affairs bureau"),
        ({"username": "li.ming", "role": "supplier"}, "Good-pass-12", "must belong to a social-work organisation"),
        ({"username": "li.ming", "role": "admin"}, "Sh0rt", "at least 8 characters"),
        ({"username": "li.ming", "role": "admin"}, "12345678901", "letters and digits"),
        ({"username": "li.ming", "role": "admin"}, "li.ming-2026", "must not contain the user name"),
    ],
)
def test_create_user_refusals(now, values, password, message):
    with pytest.raises(DomainError, match=message):
        services.create_user(values, password, actor=None, now=now)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(User)) == 0


def test_create_user_refuses_a_taken_name(now, create_user):
    create_user("admin", username="taken")
    with pytest.raises(DomainError, match="already taken"):
        services.create_user({"username": "taken", "role": "admin"}, "Good-pass-12", actor=None, now=now)


def test_create_user_refuses_wrong_kind_of_organisation(now, create_org, city_bureau):
    ngo = create_org()
    with pytest.raises(DomainError, match="officer must belong"):
        services.create_user({"username": "x.officer", "role": "officer", "organisation_id": ngo.id},
                             "Good-pass-12", actor=None, now=now)
    with pytest.raises(DomainError, match="supplier account must belong"):
        services.create_user({"username": "x.supplier", "role": "supplier", "organisation_id": city_bureau.id},
                             "Good-pass-12", actor=None, now=now)
    with pytest.raises(DomainError, match="cannot belong to a bidding organisation"):
        services.create_user({"username": "x.expert", "role": "evaluator", "organisation_id": ngo.id},
                             "Good-pass-12", actor=None, now=now)


def test_create_user_ignores_fields_it_does_not_know(now):
    user = services.create_user({"username": "plain", "role": "admin", "password_hash": "x", "session_token": "y"},
                                "Good-pass-12", actor=None, now=now)
    assert user.password_hash.startswith("$argon2") and user.session_token != "y"


# --- update_user -----------------------------------------------------------------------------------------------


def test_update_user_records_old_and_new_values(now, create_user):
    admin, user = create_user("admin"), create_user("officer", display_name="旧")
    services.update_user(user, {"display_name": "新"}, actor=admin, now=now)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "user.updated"))
    assert entry.old_values == '{"display_name":"旧"}' and entry.new_values == '{"display_name":"新"}'


def test_update_user_new_password_ends_sessions(now, create_user):
    admin, user = create_user("admin"), create_user("officer")
    token = user.session_token
    services.update_user(user, {}, actor=admin, now=now, new_password="Other-pass-3")
    assert user.session_token != token
    assert services.check_password(user, "Other-pass-3") and not services.check_password(user, PASSWORD)
    assert '"password":"changed"' in db.session.scalar(
        sa.select(AuditEntry.new_values).where(AuditEntry.action == "user.updated"))


def test_update_user_role_change_ends_sessions_and_adds_an_expert_profile(now, create_user):
    admin, user = create_user("admin"), create_user("officer")
    token = user.session_token
    services.update_user(user, {"role": "evaluator", "organisation_id": None}, actor=admin, now=now)
    db.session.flush()
    assert user.session_token != token and user.expert_profile is not None


def test_update_user_deactivation_ends_sessions(now, create_user):
    admin, user = create_user("admin"), create_user("officer")
    token = user.session_token
    services.update_user(user, {"active": False}, actor=admin, now=now)
    assert not user.is_active and user.session_token != token


@pytest.mark.parametrize("values", [{"active": False}, {"role": "officer"}])
def test_update_user_admin_cannot_lock_themself_out(now, create_user, city_bureau, values):
    admin = create_user("admin")
    with pytest.raises(DomainError, match="your own account"):
        services.update_user(admin, values | {"organisation_id": city_bureau.id}, actor=admin, now=now)


def test_update_user_refuses_a_weak_new_password(now, create_user):
    admin, user = create_user("admin"), create_user("officer")
    with pytest.raises(DomainError, match="letters and digits"):
        services.update_user(user, {}, actor=admin, now=now, new_password="onlyletters")


def test_update_user_refuses_a_taken_name(now, create_user):
    admin, user = create_user("admin", username="boss"), create_user("officer")
    with pytest.raises(DomainError, match="already taken"):
        services.update_user(user, {"username": "boss"}, actor=admin, now=now)


def test_update_user_keeps_the_own_name(now, create_user):
    admin, user = create_user("admin"), create_user("officer", username="keeper")
    services.update_user(user, {"username": "keeper", "phone": "123456"}, actor=admin, now=now)
    assert user.phone == "123456"


def test_set_user_active_refuses_self_and_rotates_others(now, create_user):
    admin, user = create_user("admin"), create_user("officer")
    with pytest.raises(DomainError):
        services.set_user_active(admin, False, actor=admin, now=now)
    token = user.session_token
    services.set_user_active(user, False, actor=admin, now=now)
    assert not user.active and user.session_token != token and last_action() == "user.deactivated"


# --- organisations ---------------------------------------------------------------------------------------------


def supplier(**changes) -> dict:
    return {"name": "某社工机构", "kind": OrgKind.SUPPLIER, "credit_code": credit_code(1)} | changes


def test_create_organisation_supplier_drops_bureau_fields(now, city_bureau):
    org = services.create_organisation(supplier(level="city", parent_id=city_bureau.id), actor=None, now=now)
    assert org.level is None and org.parent_id is None and org.status == OrgStatus.ACTIVE
    assert last_action() == "organisation.created"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"credit_code": credit_code(1)[:17]}, "exactly 18 characters"),
        ({"credit_code": credit_code(1).lower()}, "only digits and capital letters"),
        ({"credit_code": credit_code(1)[:16] + "I" + credit_code(1)[17]}, "only digits and capital letters"),
        ({"credit_code": credit_code(1)[:17] + ("0" if credit_code(1)[17] != "0" else "1")}, "check character"),
        ({"credit_code": ""}, "must have a unified social credit code"),
        ({"debarred_until": date(2027, 1, 1), "debarment_reason": "  "}, "reason and the decision"),
    ],
)
def test_create_organisation_refusals(now, changes, message):
    with pytest.raises(DomainError, match=message):
        services.create_organisation(supplier(**changes), actor=None, now=now)


def test_create_organisation_refuses_duplicates(now, create_org):
    existing = create_org(name="重名机构")
    with pytest.raises(DomainError, match="already has the credit code"):
        services.create_organisation(supplier(credit_code=existing.credit_code), actor=None, now=now)
    with pytest.raises(DomainError, match="already exists"):
        services.create_organisation(supplier(name="重名机构", credit_code=credit_code(77)), actor=None, now=now)


def test_bureau_needs_a_level_and_a_city_parent(now, city_bureau, create_org):
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    with pytest.raises(DomainError, match="city or a district"):
        services.create_organisation({"name": "无级别", "kind": OrgKind.BUREAU}, actor=None, now=now)
    with pytest.raises(DomainError, match="only sit under a city bureau"):
        services.create_organisation({"name": "街道", "kind": OrgKind.BUREAU, "level": "district",
                                      "parent_id": district.id}, actor=None, now=now)
    ngo = create_org()
    with pytest.raises(DomainError, match="only sit under a city bureau"):
        services.create_organisation({"name": "挂错", "kind": OrgKind.BUREAU, "level": "district",
                                      "parent_id": ngo.id}, actor=None, now=now)
    assert city_bureau.oversees(district) and not district.oversees(city_bureau)


def test_city_bureau_cannot_be_its_own_parent(now, city_bureau, create_user):
    admin = create_user("admin")
    with pytest.raises(DomainError, match="no supervising bureau|没有上级主管单位"):
        services.update_organisation(city_bureau, {"parent_id": city_bureau.id}, actor=admin, now=now)


def test_update_organisation_audits_only_changes(now, create_org, create_user):
    admin, org = create_user("admin"), create_org()
    services.update_organisation(org, {"contact_name": "张三"}, actor=admin, now=now)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "organisation.updated"))
    assert entry.old_values == '{"contact_name":""}' and entry.new_values == '{"contact_name":"张三"}'
    services.update_organisation(org, {"contact_name": "张三"}, actor=admin, now=now)
    assert db.session.scalar(sa.select(sa.func.count()).where(AuditEntry.action == "organisation.updated")) == 1


def test_debarment_is_inclusive_of_its_last_day(create_org):
    org = create_org(debarred_until=date(2027, 6, 30), debarment_reason="处罚决定")
    assert org.is_debarred(date(2027, 6, 30)) and not org.is_debarred(date(2027, 7, 1))


# --- sign-in ---------------------------------------------------------------------------------------------------


def test_authenticate_records_attempts_and_locks_after_five(now, create_user):
    user = create_user("officer")
    for _ in range(5):
        with pytest.raises(services.LoginFailed):
            services.authenticate(user.username, "Wrong-pass-1", ip="10.0.0.1", now=now)
    with pytest.raises(services.LoginLocked):
        services.authenticate(user.username, PASSWORD, ip="10.0.0.2", now=now)
    assert services.authenticate(user.username, PASSWORD, ip="10.0.0.2", now=now + timedelta(minutes=16)) == user
    results = db.session.scalars(sa.select(LoginAttempt.success).order_by(LoginAttempt.id)).all()
    assert results == [False] * 5 + [True]


def test_authenticate_refuses_pending_and_inactive_accounts(now, create_user):
    pending = create_user("officer", approved=False)
    inactive = create_user("officer", active=False)
    with pytest.raises(services.LoginFailed, match="approval"):
        services.authenticate(pending.username, PASSWORD, ip="10.0.0.1", now=now)
    with pytest.raises(services.LoginFailed, match="deactivated"):
        services.authenticate(inactive.username, PASSWORD, ip="10.0.0.1", now=now)
    assert db.session.scalars(sa.select(LoginAttempt.success)).all() == [False, False]


def test_logout_rotates_the_session_token(now, create_user):
    user = create_user("officer")
    session_id = user.get_id()
    services.logout(user, now=now)
    assert user.get_id() != session_id and last_action() == "logout"


def test_change_password_checks_the_current_one(now, create_user):
    user = create_user("officer")
    with pytest.raises(DomainError, match="current password is wrong"):
        services.change_password(user, "Wrong-pass-1", "Next-pass-22", now=now)
    services.change_password(user, PASSWORD, "Next-pass-22", now=now)
    assert services.check_password(user, "Next-pass-22")


# --- registration and experts ----------------------------------------------------------------------------------


def test_register_supplier_waits_for_approval(now, create_user):
    reg = services.Registration(
        username="ngo.new", password="Register-1", display_name="王", email="w@example.org", phone="0371-1",
        org_name="新机构", credit_code=credit_code(5), registration_authority="郑州市民政局",
        registration_date=date(2015, 1, 1), contact_name="王", address="郑州")
    user = services.register_supplier(reg, now=now)
    assert not user.approved and not user.is_active
    assert user.organisation.status == OrgStatus.PENDING and user.organisation.kind == OrgKind.SUPPLIER
    admin = create_user("admin")
    services.approve_registration(user, actor=admin, now=now)
    assert user.is_active and user.organisation.status == OrgStatus.ACTIVE
    with pytest.raises(DomainError, match="already approved"):
        services.approve_registration(user, actor=admin, now=now)


def test_affiliation_needs_an_organisation_and_sane_dates(now, create_user):
    admin, expert = create_user("admin"), create_user("evaluator")
    profile = expert.expert_profile
    with pytest.raises(DomainError, match="Choose an organisation"):
        services.add_affiliation(profile, {"organisation_name": " ", "kind": "employee",
                                           "start_date": date(2020, 1, 1)}, actor=admin, now=now)
    with pytest.raises(DomainError, match="end date cannot be before"):
        services.add_affiliation(profile, {"organisation_name": "甲", "kind": "employee",
                                           "start_date": date(2020, 1, 1), "end_date": date(2019, 1, 1)},
                                 actor=admin, now=now)
    tie = services.add_affiliation(profile, {"organisation_name": "甲", "kind": "relative",
                                             "start_date": date(2020, 1, 1)}, actor=admin, now=now)
    services.remove_affiliation(tie, actor=admin, now=now)
    db.session.flush()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(ExpertAffiliation)) == 0
    assert last_action() == "expert.affiliation_removed"


def test_expert_profile_update_audits_changed_fields(now, create_user):
    admin, expert = create_user("admin"), create_user("evaluator")
    services.update_expert_profile(expert.expert_profile, {"specialties": "law,finance", "title": "教授"},
                                   actor=admin, now=now)
    assert expert.expert_profile.specialty_list == ["law", "finance"]
    assert last_action() == "expert.updated"
    assert db.session.scalar(sa.select(Organisation).where(Organisation.kind == "supplier")) is None


def test_bureau_hierarchy_is_enforced(create_org, city_bureau, now):
    from portal.accounts import services
    from portal.errors import DomainError

    with pytest.raises(DomainError, match="supervises"):
        services.create_organisation({"name": "某区民政局", "kind": "bureau", "level": "district"}, actor=None, now=now)
    with pytest.raises(DomainError):
        services.create_organisation({"name": "另一市民政局", "kind": "bureau", "level": "city",
                                      "parent_id": city_bureau.id}, actor=None, now=now)
    district = services.create_organisation({"name": "某区民政局", "kind": "bureau", "level": "district",
                                             "parent_id": city_bureau.id}, actor=None, now=now)
    assert district.parent_id == city_bureau.id
