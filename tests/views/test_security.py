"""CSRF, security headers and cookies, the health check, error pages and production settings."""

from __future__ import annotations

import secrets

import pytest
import sqlalchemy as sa

from portal import create_app
from portal.accounts.models import LoginAttempt, User
from portal.config import ConfigError, load_config
from portal.extensions import db
from portal.i18n import LANG_COOKIE
from tests.conftest import csrf_token, login


def count(model) -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def make_app(tmp_path, **overrides):
    """A second application like the test one, for settings the shared app cannot change."""
    return create_app({
        "TESTING": True,
        "PORTAL_ENV": "testing",
        "INSTANCE_PATH": str(tmp_path / "instance"),
        "SQLALCHEMY_DATABASE_URI": f"sqlite:///{tmp_path / 'other.db'}",
        "SECRET_KEY": "other-secret-key",
        "PORTAL_AUDIT_KEY": "other-audit-key",
        "PORTAL_SEALING_KEY": secrets.token_hex(32),
        "UPLOAD_FOLDER": str(tmp_path / "uploads"),
        "MAIL_ENABLED": False,
    } | overrides)


@pytest.fixture
def other_app(tmp_path):
    """Build a second app; its engine is disposed at the end so no connection is left open."""
    apps = []

    def build(**overrides):
        apps.append(make_app(tmp_path, **overrides))
        return apps[-1]

    yield build
    for app in apps:
        with app.app_context():
            db.engine.dispose()


# --- CSRF ------------------------------------------------------------------------------------------------------


def test_login_without_csrf_token_is_refused(client, create_user):
    user = create_user("officer")
    response = client.post("/login", data={"username": user.username, "password": "Secret-pass-1"})
    assert response.status_code == 400
    assert count(LoginAttempt) == 0
    assert client.get("/dashboard").status_code == 302


def test_logout_without_csrf_token_is_refused(client, create_user, login_as):
    user = create_user("officer")
    login_as(user)
    token_before = user.session_token
    response = client.post("/logout")
    assert response.status_code == 400
    assert client.get("/dashboard").status_code == 200
    db.session.rollback()
    assert db.session.get(User, user.id).session_token == token_before


def test_admin_user_creation_without_csrf_token_is_refused(client, create_user, login_as, city_bureau):
    login_as(create_user("admin"))
    before = count(User)
    response = client.post("/admin/users/new", data={
        "username": "sneaky", "display_name": "x", "role": "admin", "organisation_id": "0", "locale": "zh",
        "active": "y", "password": "Sneaky-pass-1"})
    assert response.status_code == 400
    assert count(User) == before


def test_language_switch_without_csrf_token_is_refused(client):
    response = client.post("/language", data={"lang": "en", "next": "/"})
    assert response.status_code == 400
    assert client.get_cookie(LANG_COOKIE) is None
    assert '<html lang="zh-CN">' in client.get("/").get_data(as_text=True)


def test_csrf_token_of_another_session_is_refused(app, client, create_user):
    user = create_user("officer")
    foreign = csrf_token(app.test_client(), "/login")
    csrf_token(client, "/login")  # this browser has its own session and token
    response = client.post("/login", data={"username": user.username, "password": "Secret-pass-1",
                                           "csrf_token": foreign})
    assert response.status_code == 400
    assert count(LoginAttempt) == 0


# --- headers and cookies ---------------------------------------------------------------------------------------


def test_html_pages_carry_security_headers(client):
    response = client.get("/login")
    headers = response.headers
    assert response.mimetype == "text/html"
    csp = headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "default-src 'self'" in csp and "'unsafe-inline'" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["X-Frame-Options"] == "DENY"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["Cache-Control"] == "no-store"
    assert "Strict-Transport-Security" not in headers  # plain HTTP in this configuration


def test_error_pages_carry_security_headers_too(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert "frame-ancestors 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_session_cookie_is_httponly_and_samesite_lax(client, create_user):
    user = create_user("officer")
    response = login(client, user.username)
    cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" not in cookie


def test_https_deployment_sets_secure_cookies_and_hsts(monkeypatch, other_app):
    monkeypatch.setenv("PORTAL_HTTPS", "1")
    app = other_app()
    client = app.test_client()
    response = client.get("/login")  # renders the form without touching the database
    assert response.status_code == 200
    assert response.headers["Strict-Transport-Security"].startswith("max-age=31536000")
    session_cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith("session="))
    assert "Secure" in session_cookie and "HttpOnly" in session_cookie and "SameSite=Lax" in session_cookie
    token = csrf_token(client, "/login")
    response = client.post("/language", data={"lang": "en", "next": "/login", "csrf_token": token})
    assert response.status_code == 302
    lang_cookie = next(c for c in response.headers.getlist("Set-Cookie") if c.startswith(f"{LANG_COOKIE}="))
    assert "Secure" in lang_cookie and "HttpOnly" in lang_cookie


# --- health check ----------------------------------------------------------------------------------------------


def test_healthz_reports_ok(client):
    response = client.get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "database": "ok"}


def test_healthz_reports_an_unreachable_database(tmp_path, other_app):
    app = other_app(SQLALCHEMY_DATABASE_URI=f"sqlite:///{tmp_path / 'missing-dir' / 'portal.db'}")
    response = app.test_client().get("/healthz")
    assert response.status_code == 503
    assert response.get_json() == {"status": "error", "database": "unreachable"}


# --- error pages -----------------------------------------------------------------------------------------------


def test_404_page_is_chinese_by_default_and_english_on_request(client):
    response = client.get("/no-such-page")
    assert response.status_code == 404
    assert '<html lang="zh-CN">' in response.get_data(as_text=True)

    token = csrf_token(client, "/")
    response = client.post("/language", data={"lang": "en", "next": "/no-such-page", "csrf_token": token})
    assert response.status_code == 302 and response.location == "/no-such-page"
    response = client.get("/no-such-page")
    assert response.status_code == 404
    page = response.get_data(as_text=True)
    assert '<html lang="en">' in page and "Page not found" in page


def test_language_switch_never_redirects_off_site(client):
    token = csrf_token(client, "/")
    response = client.post("/language", data={"lang": "en", "next": "https://evil.example/", "csrf_token": token})
    assert response.status_code == 302 and response.location == "/"


def test_signed_in_users_language_choice_is_remembered_on_their_account(client, create_user, login_as):
    user = create_user("officer")
    login_as(user)
    token = csrf_token(client, "/dashboard")
    client.post("/language", data={"lang": "en", "next": "/dashboard", "csrf_token": token})
    db.session.rollback()
    assert db.session.get(User, user.id).locale == "en"
    assert '<html lang="en">' in client.get("/dashboard").get_data(as_text=True)


def test_json_clients_get_json_errors(client):
    response = client.get("/no-such-page", headers={"Accept": "application/json"})
    assert response.status_code == 404
    assert set(response.get_json()) == {"error", "message"}


# --- settings --------------------------------------------------------------------------------------------------


def test_production_refuses_to_start_without_a_secret_key(monkeypatch, tmp_path):
    for name in ("SECRET_KEY", "PORTAL_SEALING_KEY", "PORTAL_AUDIT_KEY"):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(ConfigError, match="SECRET_KEY"):
        load_config({"PORTAL_ENV": "production", "INSTANCE_PATH": str(tmp_path)})
    assert not (tmp_path / "secret_key").exists()  # production never falls back to a generated secret


def test_production_refuses_a_placeholder_secret_key(monkeypatch, tmp_path):
    monkeypatch.setenv("SECRET_KEY", "dev")
    monkeypatch.setenv("PORTAL_SEALING_KEY", "s" * 64)
    monkeypatch.setenv("PORTAL_AUDIT_KEY", "a" * 64)
    with pytest.raises(ConfigError):
        load_config({"PORTAL_ENV": "production", "INSTANCE_PATH": str(tmp_path)})


def test_development_creates_a_secret_key_once_and_reuses_it(monkeypatch, tmp_path):
    for name in ("SECRET_KEY", "PORTAL_SEALING_KEY", "PORTAL_AUDIT_KEY"):
        monkeypatch.delenv(name, raising=False)
    instance = tmp_path / "instance"
    first = load_config({"PORTAL_ENV": "development", "INSTANCE_PATH": str(instance)})
    path = instance / "secret_key"
    assert path.read_text().strip() == first["SECRET_KEY"] and len(first["SECRET_KEY"]) >= 32
    assert path.stat().st_mode & 0o077 == 0  # readable by the owner only
    second = load_config({"PORTAL_ENV": "development", "INSTANCE_PATH": str(instance)})
    assert second["SECRET_KEY"] == first["SECRET_KEY"]
    assert second["PORTAL_AUDIT_KEY"] == first["PORTAL_AUDIT_KEY"] != first["SECRET_KEY"]
