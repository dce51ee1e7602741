"""What the browser journeys share: the travelled clock, the demo cast, signed-in pages and the page helpers.

The live server runs in this process, so time_machine moves its clock too. Every journey starts on
2026-09-01 09:00 Beijing (inside the known 2026 holiday calendar) and only ever moves forward.
Flask's signed session cookie is refused once it is older than PERMANENT_SESSION_LIFETIME (8 hours),
so after a jump of days everybody signs in again, as real users would.

Fields are found by their WTForms ids and buttons by their form's action, never by visible text:
the Chinese catalog is being completed while these tests are written.

The fixtures reach every browser test through tests/e2e/conftest.py.
"""

from __future__ import annotations

import io
import re
import zipfile
from dataclasses import dataclass, field
from datetime import date, time
from pathlib import Path

import pytest
import sqlalchemy as sa
import time_machine
from playwright.sync_api import Browser, Page, expect

from portal.accounts.models import Organisation, OrgKind, User
from portal.db import transaction
from portal.extensions import db
from portal.seed import DEMO_PASSWORD, seed
from portal.tenders.rules import beijing_instant

START = beijing_instant(date(2026, 9, 1), time(9))
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"

PDF_BYTES = b"%PDF-1.4\n% E2E technical and service proposal\n1 0 obj<<>>endobj\ntrailer<<>>\n%%EOF\n"


# --- Fixtures ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args, live_server):
    """Relative URLs (page.goto("/login")) go to the live server, for the ``page`` fixture too."""
    return {**browser_context_args, "base_url": live_server}


@pytest.fixture
def clock():
    """The whole process (the live server included) on 2026-09-01 09:00 Beijing, ticking."""
    with time_machine.travel(START, tick=True) as traveller:
        yield traveller


@dataclass
class Cast:
    """The NGO accounts: organisation name -> username, and username -> organisation name."""

    ngo_by_org: dict[str, str] = field(default_factory=dict)
    org_by_ngo: dict[str, str] = field(default_factory=dict)


@pytest.fixture
def cast(clock) -> Cast:
    """The demo data seeded on the travelled clock: every demo NGO has an account (ngo1 to ngo6)."""
    with transaction():
        seed()
    rows = db.session.execute(
        sa.select(User.username, Organisation.name).join(Organisation, User.organisation_id == Organisation.id)
        .where(Organisation.kind == OrgKind.SUPPLIER)).all()
    db.session.rollback()  # release the read (SQLite: a reader would block the live server's writers)
    result = Cast()
    for username, org_name in rows:
        result.ngo_by_org[org_name] = username
        result.org_by_ngo[username] = org_name
    return result


@pytest.fixture
def people(browser: Browser, live_server):
    """A factory of signed-in pages, one browser context each; all closed at the end."""
    contexts = []

    def open_as(username: str | None) -> Page:
        context = browser.new_context(base_url=live_server)
        contexts.append(context)
        page = context.new_page()
        if username:
            sign_in(page, username)
        return page

    yield open_as
    for context in contexts:
        context.close()


def _docx_bytes() -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document>资格证明文件</w:document>")
    return buffer.getvalue()


@pytest.fixture
def files(tmp_path):
    technical = tmp_path / "技术和服务方案.pdf"
    technical.write_bytes(PDF_BYTES)
    qualification = tmp_path / "资格证明文件.docx"
    qualification.write_bytes(_docx_bytes())
    return technical, qualification


# --- Helpers ---------------------------------------------------------------------------------------------------


def snap(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def submit(page: Page, button) -> None:
    """Click a submit button and wait for the page the server answers with (after any redirect)."""
    with page.expect_navigation():
        button.click()


def expect_flash(page: Page, kind: str = "success") -> None:
    """The page shows a flash message of this kind and no error (an error's text fails the test)."""
    errors = page.locator("main > .alert-danger")
    if kind != "danger" and errors.count():
        pytest.fail(f"{page.url}: {' | '.join(errors.all_inner_texts())}")
    expect(page.locator(f"main > .alert-{kind}").first).to_be_visible()


def expect_no_form_errors(page: Page) -> None:
    problems = page.locator("main .invalid-feedback, main > .alert-danger")
    if problems.count():
        pytest.fail(f"{page.url}: {' | '.join(problems.all_inner_texts())}")


def sign_in(page: Page, username: str) -> None:
    """Sign in (again, after the clock jumped past the session's lifetime)."""
    page.goto("/login")
    if page.url.endswith("/dashboard"):
        return
    page.fill("#username", username)
    page.fill("#password", DEMO_PASSWORD)
    submit(page, page.locator("main form button[type=submit]"))
    expect(page).to_have_url(re.compile(r"/dashboard$"))


def click_through(page: Page, href: str) -> None:
    """Follow the first link to ``href`` on the current page (it must be there)."""
    link = page.locator(f"main a[href='{href}']").first
    expect(link).to_be_visible()
    submit(page, link)
    expect(page).to_have_url(re.compile(re.escape(href) + "$"))


def form_button(page: Page, action: str):
    return page.locator(f"main form[action='{action}'] button[type=submit]")


def download(page: Page, href: str) -> bytes:
    link = page.locator(f"main a[href='{href}']").first
    expect(link).to_be_visible()
    with page.expect_download() as info:
        link.click()
    return Path(info.value.path()).read_bytes()
