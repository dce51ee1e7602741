"""Fixtures shared by every test layer.

The database under test is SQLite (a file in a temporary folder) unless TEST_DATABASE_URL
names a PostgreSQL server, in which case a throwaway database is created on it for this
run and dropped at the end. The schema is built by the migrations, so every run also
checks that they apply from empty.
"""

from __future__ import annotations

import os
import re
import secrets
import tempfile
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po
from flask.globals import _cv_app
from flask.testing import FlaskClient
from flask_babel import force_locale
from flask_migrate import upgrade

from portal import create_app
from portal.accounts import services as account_services
from portal.accounts.models import Organisation, OrgKind, User
from portal.accounts.rules import credit_code_check_char
from portal.config import PROJECT_ROOT
from portal.extensions import db

PASSWORD = "Secret-pass-1"
CSRF_RE = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def _postgres_database(server_url: str):
    """Create a database for this run on the given server; return its URL and a dropper."""
    url = sa.make_url(server_url).set(drivername="postgresql+psycopg")
    name = f"portal_test_{secrets.token_hex(4)}"
    admin_engine = sa.create_engine(url, isolation_level="AUTOCOMMIT")
    with admin_engine.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))

    def drop():
        with admin_engine.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin_engine.dispose()

    return url.set(database=name).render_as_string(hide_password=False), drop


@pytest.fixture(scope="session")
def database_url(tmp_path_factory):
    server = os.environ.get("TEST_DATABASE_URL")
    if server:
        url, drop = _postgres_database(server)
        yield url
        drop()
    else:
        yield f"sqlite:///{tmp_path_factory.mktemp('db') / 'portal-test.db'}"


class IsolatedClient(FlaskClient):
    """A test client whose every request gets its own application context, as in production.

    Without this, a request made while the test holds an app context would share the test's
    ``g`` and database session, hiding bugs that only show across requests.
    """

    def open(self, *args, **kwargs):
        token = _cv_app.set(None)
        try:
            return super().open(*args, **kwargs)
        finally:
            _cv_app.reset(token)


def compile_catalogs() -> None:
    """Write each catalog's .mo next to its .po when it is missing or older (as `make translations`)."""
    for po in (PROJECT_ROOT / "portal" / "translations").glob("*/LC_MESSAGES/messages.po"):
        mo = po.with_suffix(".mo")
        if mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as f:
            catalog = read_po(f)
        fd, tmp = tempfile.mkstemp(dir=mo.parent, prefix=".messages-", suffix=".mo")
        try:
            with os.fdopen(fd, "wb") as f:
                write_mo(f, catalog)  # fuzzy entries left out, as pybabel compile does
            os.replace(tmp, mo)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing():
    """Argon2 with the cheapest parameters: the same code path, a hundredth of the time per hash."""
    from argon2 import PasswordHasher

    cheap = PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1)
    original = account_services._hasher, account_services._DUMMY_HASH
    account_services._hasher = cheap
    account_services._DUMMY_HASH = cheap.hash("not-a-real-password-0")
    yield
    account_services._hasher, account_services._DUMMY_HASH = original


@pytest.fixture(scope="session")
def app(database_url, tmp_path_factory):
    compile_catalogs()
    instance = tmp_path_factory.mktemp("instance")
    app = create_app({
        "TESTING": True,
        "PORTAL_ENV": "testing",
        "INSTANCE_PATH": str(instance),
        "SQLALCHEMY_DATABASE_URI": database_url,
        "SECRET_KEY": "test-secret-key",
        "PORTAL_AUDIT_KEY": "test-audit-key",
        "PORTAL_SEALING_KEY": secrets.token_hex(32),
        "UPLOAD_FOLDER": str(instance / "uploads"),
        "MAIL_ENABLED": False,
        "PUBLIC_FIGURES_CACHE_SECONDS": 0,  # each test sees its own data (tests/views/test_dashboard.py caches)
    })
    app.test_client_class = IsolatedClient
    with app.app_context():
        upgrade()
    yield app
    with app.app_context():
        db.engine.dispose()


def _clear_tables():
    tables = [t for t in reversed(db.metadata.sorted_tables)]
    if db.engine.dialect.name == "postgresql":
        names = ", ".join(f'"{t.name}"' for t in tables)
        db.session.execute(sa.text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
    else:
        # Some tables point at each other (a committee and its chair): check references when all are empty.
        db.session.execute(sa.text("PRAGMA defer_foreign_keys = ON"))
        for table in tables:
            db.session.execute(table.delete())
    db.session.commit()


@pytest.fixture(autouse=True)
def app_context(request):
    """Each test outside tests/rules runs in an application context and leaves an empty database."""
    if "rules" in request.node.path.parts:
        yield None
        return
    app = request.getfixturevalue("app")
    with app.app_context():
        yield app
        db.session.rollback()
        _clear_tables()
        db.session.remove()


@pytest.fixture
def english_messages(app_context):
    """Service messages in the source language, for tests that read the wording of a refusal."""
    with force_locale("en"):
        yield


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def now():
    return datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def valid_credit_code(seed: int) -> str:
    first17 = f"5241010{seed:08d}MJ"[:17]
    return first17 + credit_code_check_char(first17)


@pytest.fixture
def create_org(now):
    counter = iter(range(1, 10_000))

    def make(kind: str = OrgKind.SUPPLIER, **values) -> Organisation:
        n = next(counter)
        defaults = {"name": f"机构{n}", "kind": kind}
        if kind == OrgKind.SUPPLIER:
            defaults["credit_code"] = valid_credit_code(n)
        else:
            defaults["level"] = "city"
        org = account_services.create_organisation(defaults | values, actor=None, now=now)
        db.session.commit()
        return org

    return make


@pytest.fixture
def city_bureau(create_org):
    return create_org(OrgKind.BUREAU, name="郑州市民政局", level="city")


@pytest.fixture
def create_user(now, create_org, city_bureau):
    def make(role: str = "officer", username: str | None = None, password: str = PASSWORD, **values) -> User:
        if "organisation_id" not in values:
            if role == "officer":
                values["organisation_id"] = city_bureau.id
            elif role == "supplier":
                values["organisation_id"] = create_org().id
        username = username or f"{role}{secrets.token_hex(3)}"
        user = account_services.create_user({"username": username, "role": role} | values, password,
                                            actor=None, now=now)
        db.session.commit()
        return user

    return make


def csrf_token(client, url: str = "/") -> str:
    """The CSRF token of the client's session, read from a page's form."""
    response = client.get(url)
    match = CSRF_RE.search(response.get_data(as_text=True))
    assert match, f"no CSRF token on {url}"
    return match.group(1)


def login(client, username: str, password: str = PASSWORD):
    return client.post("/login", data={"username": username, "password": password,
                                       "csrf_token": csrf_token(client, "/login")})


@pytest.fixture
def login_as(client):
    def do(user: User, password: str = PASSWORD):
        response = login(client, user.username, password)
        assert response.status_code == 302, response.get_data(as_text=True)
        return client

    return do
