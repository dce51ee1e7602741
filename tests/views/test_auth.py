"""Sign-in, lockout, sign-out, password change, session renewal and NGO self-registration."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.models import LoginAttempt, Organisation, OrgStatus, User
from portal.accounts.rules import CREDIT_CODE_CHARSET, credit_code_check_char
from portal.audit import AuditEntry
from portal.extensions import db
from portal.i18n import LANG_COOKIE
from tests.conftest import PASSWORD, csrf_token, login

ALERT_RE = re.compile(r'<div class="alert alert-danger" role="alert">(.*?)</div>', re.S)
START = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def english(client):
    """Choose English for an anonymous browser, so messages can be checked as text."""
    client.set_cookie(LANG_COOKIE, "en")
    return client


def actions() -> list[str]:
    db.session.rollback()  # see what the requests committed
    return list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.seq)))


def attempts() -> list[LoginAttempt]:
    db.session.rollback()
    return list(db.session.scalars(sa.select(LoginAttempt).order_by(LoginAttempt.id)))


def alert(response) -> str:
    match = ALERT_RE.search(response.get_data(as_text=True))
    assert match, "no error shown"
    return match.group(1).strip()


def login_from(client, username, password, ip):
    """Post the sign-in form as if from the address ``ip``."""
    token = csrf_token(client, "/login")
    return client.post("/login", data={"username": username, "password": password, "csrf_token": token},
                       environ_base={"REMOTE_ADDR": ip})


def signed_in(client) -> bool:
    response = client.get("/dashboard")
    return response.status_code == 200


# --- sign-in ---------------------------------------------------------------------------------------------------


def test_login_ok_redirects_to_dashboard_and_records_it(client, create_user):
    user = create_user("officer")
    response = login(client, user.username)
    assert response.status_code == 302 and response.location == "/dashboard"
    assert client.get("/dashboard").status_code == 200
    assert "login.ok" in actions()
    (attempt,) = attempts()
    assert attempt.success and attempt.username == user.username and attempt.ip == "127.0.0.1"
    assert db.session.get(User, user.id).last_login_at is not None


def test_login_wrong_password_shows_error_and_records_failure(client, create_user):
    user = create_user("officer")
    english(client)
    response = login(client, user.username, "Wrong-pass-1")
    assert response.status_code == 200
    assert alert(response) == "Wrong user name or password."
    assert not signed_in(client)
    assert actions()[-1] == "login.failed"
    (attempt,) = attempts()
    assert not attempt.success


def test_login_unknown_user_behaves_like_wrong_password(client, create_user):
    user = create_user("officer")
    english(client)
    wrong = login(client, user.username, "Wrong-pass-1")
    unknown = login(client, "nobody-here", "Wrong-pass-1")
    assert unknown.status_code == wrong.status_code == 200
    assert alert(unknown) == alert(wrong)
    assert actions()[-2:] == ["login.failed", "login.failed"]
    assert [a.success for a in attempts()] == [False, False]


def test_login_page_redirects_a_signed_in_user(client, create_user, login_as):
    login_as(create_user("officer"))
    response = client.get("/login")
    assert response.status_code == 302 and response.location == "/dashboard"


# --- lockout ---------------------------------------------------------------------------------------------------


@pytest.fixture
def clock():
    """Freeze the wall clock at START for the whole test (sessions signed at a frozen time stay valid in it)."""
    with time_machine.travel(START, tick=False) as traveller:
        yield traveller


def test_sixth_try_after_five_failures_is_locked_even_with_the_right_password(client, create_user, clock):
    user = create_user("officer")
    english(client)
    for _ in range(5):
        assert login(client, user.username, "Wrong-pass-1").status_code == 200
    response = login(client, user.username, PASSWORD)
    assert response.status_code == 429
    assert "Too many failed sign-ins" in alert(response)
    assert not signed_in(client)
    assert actions()[-1] == "login.locked"


def test_four_failures_then_the_right_password_succeeds(client, create_user, clock):
    user = create_user("officer")
    for _ in range(4):
        login(client, user.username, "Wrong-pass-1")
    response = login(client, user.username, PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)


def test_account_is_locked_whatever_address_the_failures_came_from(client, create_user, clock):
    user = create_user("officer")
    for i in range(5):
        assert login_from(client, user.username, "Wrong-pass-1", f"10.0.0.{i + 1}").status_code == 200
    response = login_from(client, user.username, PASSWORD, "10.0.0.99")
    assert response.status_code == 429


def test_address_is_locked_after_failures_against_different_user_names(client, create_user, clock):
    user = create_user("officer")
    for i in range(5):
        assert login_from(client, f"guess{i}", "Wrong-pass-1", "10.1.1.1").status_code == 200
    assert login_from(client, user.username, PASSWORD, "10.1.1.1").status_code == 429
    # The account itself is not locked: the same password from another address works.
    assert login_from(client, user.username, PASSWORD, "10.2.2.2").status_code == 302


def test_failures_older_than_fifteen_minutes_do_not_count(client, create_user, clock):
    user = create_user("officer")
    for _ in range(5):
        login(client, user.username, "Wrong-pass-1")
    clock.move_to(START + timedelta(minutes=14))
    assert login(client, user.username, PASSWORD).status_code == 429
    clock.move_to(START + timedelta(minutes=15, seconds=1))
    assert login(client, user.username, PASSWORD).status_code == 302
    assert signed_in(client)


def test_deactivated_user_cannot_sign_in(client, create_user):
    user = create_user("officer", active=False)
    english(client)
    response = login(client, user.username)
    assert response.status_code == 200
    assert "deactivated" in alert(response)
    assert not signed_in(client)
    assert actions()[-1] == "login.refused_inactive"


# --- redirects after sign-in -----------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:x"])
def test_login_never_redirects_off_site(client, create_user, target):
    user = create_user("officer")
    token = csrf_token(client, "/login")
    response = client.post("/login", query_string={"next": target},
                           data={"username": user.username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.location == "/dashboard"


def test_login_follows_a_local_next(client, create_user):
    admin = create_user("admin")
    token = csrf_token(client, "/login?next=/admin/users")
    response = client.post("/login?next=/admin/users",
                           data={"username": admin.username, "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.location == "/admin/users"
    assert client.get(response.location).status_code == 200


def test_anonymous_visitor_is_sent_to_login_with_next(client):
    response = client.get("/admin/users")
    assert response.status_code == 302 and response.location.startswith("/login")
    assert "next=" in response.location


# --- sessions --------------------------------------------------------------------------------------------------


def test_session_is_renewed_at_login_but_keeps_the_language(client, create_user):
    user = create_user("officer")
    csrf_token(client, "/login")
    with client.session_transaction() as sess:
        sess["planted"] = "by an attacker"
        sess["lang"] = "en"
    assert login(client, user.username).status_code == 302
    with client.session_transaction() as sess:
        assert "planted" not in sess
        assert sess["lang"] == "en"
        assert sess["_user_id"].startswith(f"{user.id}:")


def test_logout_ends_the_session_even_for_a_copied_cookie(app, client, create_user, login_as):
    user = create_user("officer")
    login_as(user)
    stolen = client.get_cookie("session").value
    response = client.post("/logout", data={"csrf_token": csrf_token(client, "/dashboard")})
    assert response.status_code == 302
    assert "logout" in actions()
    other = app.test_client()
    other.set_cookie("session", stolen)
    response = other.get("/dashboard")
    assert response.status_code == 302 and response.location.startswith("/login")
    assert not signed_in(client)


def test_password_change_ends_other_sessions_and_keeps_this_one(app, create_user):
    user = create_user("officer")
    here, elsewhere = app.test_client(), app.test_client()
    assert login(here, user.username).status_code == 302
    assert login(elsewhere, user.username).status_code == 302
    token = csrf_token(here, "/password")
    response = here.post("/password", data={"current": PASSWORD, "new": "New-secret-2", "confirm": "New-secret-2",
                                            "csrf_token": token})
    assert response.status_code == 302 and response.location == "/dashboard"
    assert signed_in(here)
    assert not signed_in(elsewhere)
    assert "user.password_changed" in actions()
    third = app.test_client()
    assert login(third, user.username, PASSWORD).status_code == 200
    assert login(third, user.username, "New-secret-2").status_code == 302


@pytest.mark.parametrize(
    ("current", "new", "confirm"),
    [
        ("Wrong-pass-1", "New-secret-2", "New-secret-2"),  # wrong current password
        (PASSWORD, "short1", "short1"),  # too short
        (PASSWORD, "onlyletters", "onlyletters"),  # no digits
        (PASSWORD, "New-secret-2", "New-secret-3"),  # not repeated correctly
    ],
)
def test_password_change_refusals_keep_the_old_password(client, create_user, login_as, current, new, confirm):
    user = create_user("officer")
    login_as(user)
    old_hash = user.password_hash
    token = csrf_token(client, "/password")
    response = client.post("/password", data={"current": current, "new": new, "confirm": confirm,
                                              "csrf_token": token})
    assert response.status_code == 200
    assert 'class="invalid-feedback' in response.get_data(as_text=True)
    db.session.rollback()
    assert db.session.get(User, user.id).password_hash == old_hash
    assert signed_in(client)


# --- registration ----------------------------------------------------------------------------------------------


def credit_code(serial: int) -> str:
    first17 = f"52410100MJ{serial:07d}"
    return first17 + credit_code_check_char(first17)


def registration(**changes) -> dict:
    data = {
        "org_name": "郑州市阳光社会工作服务中心", "credit_code": credit_code(1),
        "registration_authority": "郑州市民政局", "registration_date": "2015-03-01", "address": "郑州市金水区",
        "contact_name": "王芳", "phone": "0371-12345678",
        "email": "wang@example.org", "username": "sunshine", "display_name": "王芳", "password": "Sunny-day-7",
        "confirm": "Sunny-day-7",
    }
    return data | changes


def register(client, **changes):
    token = csrf_token(client, "/register")
    return client.post("/register", data=registration(**changes) | {"csrf_token": token})


def counts() -> tuple[int, int]:
    db.session.rollback()
    return (db.session.scalar(sa.select(sa.func.count()).select_from(User)),
            db.session.scalar(sa.select(sa.func.count()).select_from(Organisation)))


def test_registered_ngo_signs_in_only_after_approval(app, client, create_user):
    admin = create_user("admin")
    english(client)
    response = register(client)
    assert response.status_code == 302 and response.location == "/login"
    db.session.rollback()
    user = db.session.scalar(sa.select(User).where(User.username == "sunshine"))
    assert user.role == "supplier" and not user.approved
    assert user.organisation.status == OrgStatus.PENDING and user.organisation.credit_code == credit_code(1)

    refused = login(client, "sunshine", "Sunny-day-7")
    assert refused.status_code == 200 and "approval" in alert(refused)
    assert not signed_in(client)

    admin_client = app.test_client()
    assert login(admin_client, admin.username).status_code == 302
    response = admin_client.post(f"/admin/users/{user.id}/approve",
                                 data={"csrf_token": csrf_token(admin_client, "/admin/users")})
    assert response.status_code == 302
    db.session.rollback()
    user = db.session.get(User, user.id)
    assert user.approved and user.organisation.status == OrgStatus.ACTIVE
    assert "user.approved" in actions()

    assert login(client, "sunshine", "Sunny-day-7").status_code == 302
    assert signed_in(client)


def test_registration_accepts_a_lowercase_code_and_stores_it_in_capitals(client):
    response = register(client, credit_code=credit_code(2).lower())
    assert response.status_code == 302
    db.session.rollback()
    assert db.session.scalar(sa.select(Organisation.credit_code)) == credit_code(2)


def _wrong_check(code: str) -> str:
    other = CREDIT_CODE_CHARSET[(CREDIT_CODE_CHARSET.index(code[17]) + 1) % len(CREDIT_CODE_CHARSET)]
    return code[:17] + other


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"credit_code": _wrong_check(credit_code(1))}, "does not match its check character"),
        ({"credit_code": credit_code(1)[:17]}, "exactly 18 characters"),
        ({"credit_code": "52410100MJ000000I" + "1"}, "only digits and capital letters"),
        ({"credit_code": "52410100mj00000o1A"}, "only digits and capital letters"),
        ({"credit_code": "52410100MJ00000-1A"}, "only digits and capital letters"),
        ({"password": "Sun1", "confirm": "Sun1"}, "at least 8 characters"),
        ({"password": "sunnydayonly", "confirm": "sunnydayonly"}, "letters and digits"),
        ({"confirm": "Sunny-day-8"}, "The two passwords are not the same."),
        ({"email": "wang-at-example.org"}, "Enter a valid e-mail address."),
        ({"username": "a b"}, "User names use 3 to 64"),
        ({"org_name": ""}, "This field is required."),
    ],
    ids=["check-char", "17-chars", "letter-I", "lowercase-o", "dash", "short-password", "no-digits",
         "mismatch", "email", "username", "no-name"],
)
def test_registration_refuses_bad_input_and_creates_nothing(client, changes, message):
    english(client)
    response = register(client, **changes)
    assert response.status_code == 200
    assert message in response.get_data(as_text=True)
    assert counts() == (0, 0)
    assert actions() == []


def test_registration_refuses_a_taken_credit_code(client, create_org):
    create_org(credit_code=credit_code(1))
    before = counts()
    english(client)
    response = register(client)
    assert response.status_code == 200
    assert "already has the credit code" in response.get_data(as_text=True)
    assert counts() == before


def test_registration_refuses_a_taken_user_name(client, create_user):
    create_user("officer", username="sunshine")
    before = counts()
    english(client)
    response = register(client)
    assert response.status_code == 200
    assert "is already taken" in response.get_data(as_text=True)
    assert counts() == before  # the organisation created before the user clash was rolled back
