"""HTTP hygiene of every route for every principal: CSRF, safe GETs, headers and cookies, uploads, lockout.

tests/views/test_security.py proves each point on one route (the login form, the login page, one upload form);
this suite walks the whole URL map of the route matrix's world (tests/views/test_route_matrix.py) as each
principal and proves it everywhere: a POST without this session's CSRF token is refused with a message page and
changes nothing; a GET changes no row; every HTML page carries the security headers and every download is an
attachment the browser may not sniff; every upload form refuses a disguised executable, script markup, unsafe
archives and oversize files; and the sign-in lockout also covers the passwords typed into other forms.
"""

from __future__ import annotations

import hashlib
import io

import sqlalchemy as sa
import time_machine
from werkzeug.datastructures import MultiDict

from portal.accounts.models import LoginAttempt
from portal.audit import AuditEntry, AuditHead
from portal.extensions import db
from portal.files import StoredFile
from tests.conftest import PASSWORD, csrf_token, login
from tests.files_support import ELF_BYTES, PDF_BYTES, zip_bytes
from tests.security import hostile
from tests.views.test_route_matrix import _url, world  # noqa: F401  (the fixture the tests use)

CSRF_MESSAGE = "表单已过期"  # the Chinese of "The form has expired or did not come from this portal."
FEEDS = ("application/json", "application/atom+xml", "text/css", "text/javascript")  # read in place, not saved
HTML_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}


def snapshot() -> dict[str, str]:
    """A digest of every row of every table: equal snapshots mean nothing was inserted, updated or deleted."""
    db.session.rollback()
    digests = {}
    for table in db.metadata.sorted_tables:
        rows = db.session.execute(sa.select(table).order_by(*table.primary_key.columns)).all()
        digests[table.name] = hashlib.sha256(repr([tuple(r) for r in rows]).encode()).hexdigest()
    return digests


def audit_seq() -> int:
    return db.session.scalar(sa.select(AuditHead.seq)) or 0


def changed(before: dict, after: dict) -> list[str]:
    return [name for name in before if before[name] != after[name]]


def post_rules(app):
    return [rule for rule in app.url_map.iter_rules() if "POST" in rule.methods]


# --- CSRF ------------------------------------------------------------------------------------------------------


def test_every_post_refuses_a_missing_or_foreign_csrf_token(app, world, create_user, create_org):  # noqa: F811
    users, args = world
    clients = hostile.sign_in_all(app, users, create_user, create_org)
    foreign = csrf_token(app.test_client(), "/login")  # a token of another browser's session
    before, problems = snapshot(), []
    for principal, client in clients.items():
        csrf_token(client, "/")  # the session has a token of its own, which the requests leave out
        for rule in post_rules(app):
            url = _url(app, rule, args)
            for label, data in (("no token", {}), ("foreign token", {"csrf_token": foreign})):
                response = client.post(url, data=data)
                page = response.get_data(as_text=True)
                if response.status_code != 400 or CSRF_MESSAGE not in page:
                    problems.append(f"{principal} {rule.endpoint} {label}: {response.status_code}")
    assert not problems, "\n".join(problems)
    assert changed(before, snapshot()) == []


# --- GET, headers, cookies, downloads --------------------------------------------------------------------------


def header_problems(response) -> list[str]:
    """What a response lacks: security headers on HTML, attachment and nosniff on a download, cookie flags."""
    headers, problems = response.headers, []
    if response.mimetype == "text/html":
        if "frame-ancestors 'none'" not in headers.get("Content-Security-Policy", ""):
            problems.append("CSP without frame-ancestors 'none'")
        problems += [f"{name} is {headers.get(name)!r}" for name, value in HTML_HEADERS.items()
                     if headers.get(name) != value]
    elif response.status_code == 200 and response.mimetype not in FEEDS:
        if not headers.get("Content-Disposition", "").startswith("attachment"):
            problems.append(f"{response.mimetype} download without Content-Disposition: attachment")
        if headers.get("X-Content-Type-Options") != "nosniff":
            problems.append(f"{response.mimetype} download without nosniff")
    for cookie in headers.getlist("Set-Cookie"):
        if cookie.startswith("session=") and not ("HttpOnly" in cookie and "SameSite=" in cookie):
            problems.append(f"session cookie without HttpOnly/SameSite: {cookie}")
    return problems


def test_no_get_changes_a_row_and_every_response_carries_the_headers(app, world, create_user,  # noqa: F811
                                                                     create_org):
    """A GET writes nothing, except the audit row DESIGN.md asks of every refused access (one per 403)."""
    users, args = world
    clients = hostile.sign_in_all(app, users, create_user, create_org)
    problems = []
    for principal, client in clients.items():
        before, seq, refusals = snapshot(), audit_seq(), 0
        for rule in app.url_map.iter_rules():
            if "GET" not in rule.methods:
                continue
            url = _url(app, rule, args)
            response = client.get(url)
            refusals += response.status_code == 403
            problems += [f"{principal} GET {url}: {p}" for p in header_problems(response)]
            response.close()
        after = snapshot()
        problems += [f"{principal}: GETs changed table {name}" for name in changed(before, after)
                     if name not in ("audit_entries", "audit_head")]
        written = list(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.seq > seq)))
        if written != ["access.refused"] * refusals:
            problems.append(f"{principal}: {refusals} refusals, audited {written}")
    assert not problems, "\n".join(problems)


def test_login_page_sets_the_session_cookie_httponly_and_samesite(client):
    response = client.get("/login")
    assert header_problems(response) == []
    assert any(c.startswith("session=") for c in response.headers.getlist("Set-Cookie"))


# --- uploads ---------------------------------------------------------------------------------------------------

HOSTILE_UPLOADS = {
    "renamed executable": (ELF_BYTES, "证书.pdf"),
    "HTML with script": (b"<html><script>alert(1)</script></html>", "report.html"),
    "SVG with script": (b'<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>', "logo.svg"),
    "zip bomb": (zip_bytes({"zeros.bin": b"\x00" * (20 * 1024 * 1024)}), "evidence.zip"),
    "traversal zip": (zip_bytes({"../../evil.sh": b"rm -rf /"}), "evidence.zip"),
    "oversize": (PDF_BYTES + b"\x00" * 8192, "big.pdf"),
}
OVERSIZE_LIMIT = 4096


def upload_forms(app, clients, args) -> list[tuple[str, hostile.Form]]:
    """Every form with a file input that some principal is shown, once, with the principal who sees it."""
    found, seen = [], set()
    for principal, client in clients.items():
        for (_, url), html in hostile.read_pages(app, client, args).items():
            for form in hostile.post_forms(html, url):
                if any(f.kind == "file" for f in form.fields) and form.signature() not in seen:
                    seen.add(form.signature())
                    found.append((principal, form))
    return found


def stored_files() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(sa.func.count()).select_from(StoredFile))


def post_upload(client, form: hostile.Form, content: bytes, filename: str):
    data = MultiDict(hostile.form_data(form, password=PASSWORD))
    for name in [f.name for f in form.fields if f.kind == "file"]:
        data.setlist(name, [(io.BytesIO(content), filename)])
    return client.post(form.action, data=data, content_type="multipart/form-data")


def test_every_upload_form_refuses_hostile_files_with_a_message(app, world, create_user, create_org):  # noqa: F811
    users, args = world
    clients = hostile.sign_in_all(app, users, create_user, create_org)
    forms = upload_forms(app, clients, args)
    assert len(forms) >= 4, [form.action for _, form in forms]  # survey, credentials, bid, rectification plan
    problems = []
    for principal, form in forms:
        for label, (content, filename) in HOSTILE_UPLOADS.items():
            where = f"{principal} {form.action} {label}"
            before = stored_files()
            if label == "oversize":
                app.config["MAX_CONTENT_LENGTH"] = OVERSIZE_LIMIT
            try:
                response = post_upload(clients[principal], form, content, filename)
            finally:
                app.config["MAX_CONTENT_LENGTH"] = 50 * 1024 * 1024
            page = response.get_data(as_text=True)
            if 300 <= response.status_code < 400:
                page = clients[principal].get(response.location).get_data(as_text=True)
            if response.status_code >= 500 or not any(hostile.messages(page)):
                problems.append(f"{where}: {response.status_code} without a message")
            if stored_files() != before:
                problems.append(f"{where}: stored")
    assert not problems, "\n".join(problems)


# --- lockout ---------------------------------------------------------------------------------------------------


def test_wrong_passwords_in_the_password_form_lock_sign_in_too(client, create_user, login_as):
    """tests/views/test_auth.py proves the lockout at /login; a password typed into another form counts the same,
    and once locked, neither that form nor /login lets the right password through."""
    user = create_user("officer")
    with time_machine.travel("2026-11-30 02:00:00+00:00", tick=False):
        login_as(user)
        for _ in range(5):
            response = client.post("/password", data={"csrf_token": csrf_token(client, "/password"),
                                                      "current": "Wrong-pass-1", "new": "New-secret-pass-2",
                                                      "confirm": "New-secret-pass-2"})
            assert response.status_code in (200, 400, 422) and any(hostile.messages(response.get_data(as_text=True)))
        response = client.post("/password", data={"csrf_token": csrf_token(client, "/password"), "current": PASSWORD,
                                                  "new": "New-secret-pass-2", "confirm": "New-secret-pass-2"})
        assert response.status_code == 200 and "15" in " ".join(hostile.messages(response.get_data(as_text=True)))
        stranger = client.application.test_client()
        assert login(stranger, user.username).status_code == 429
        assert login(stranger, user.username, "New-secret-pass-2").status_code == 429
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(LoginAttempt)
                             .where(LoginAttempt.success.is_(False))) == 5
