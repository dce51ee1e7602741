"""Hostile inputs in every field of every form each principal can reach.

For each principal the pages of the route matrix's world are read, their POST forms found, and each form posted
with one field at a time set to a hostile value of its type (tests/security/hostile.py) while the other fields
keep what the page filled in. Whatever the portal does with the value, it must not fail (no 5xx), must not write
the markup back raw (on the response, the page it redirects to, or any page afterwards), and when it refuses the
value it must say why in Chinese, without a trace in the audit chain.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import sqlalchemy as sa
from werkzeug.datastructures import MultiDict

from portal.audit import AuditEntry, AuditHead
from portal.extensions import db
from tests.conftest import PASSWORD
from tests.security import hostile
from tests.views.test_route_matrix import world  # noqa: F401  (the fixture the test uses)

# Forms not posted with hostile values, and why.
NOT_FUZZED = {
    # Its only field is where to go back to (tests/views/test_security.py proves it never leaves the site); a
    # successful switch turns the pages English, which would hide untranslated messages from this suite.
    "/language",
}

# Forms whose first post shows the entry back for confirmation (200, no message), not a refusal.
PREVIEWS = {"/tenders/N/clarify"}

# Forms that end what the other forms work on: posted last, so the others meet the world as it was.
ENDINGS = ("terminate", "cancel", "withdraw", "delete", "annul", "fail", "close", "finalise", "confirm")

# Refusals that are audited on purpose: a wrong password is recorded so that guessing it is limited.
AUDITED_REFUSALS = (".wrong_password", "login.failed", ".locked")


@dataclass
class Findings:
    """What went wrong, collected over the whole walk so one run shows every problem."""

    problems: list[str] = field(default_factory=list)
    posts: int = 0

    def add(self, where: str, what: str) -> None:
        self.problems.append(f"{where}: {what}")


def audit_seq() -> int:
    db.session.rollback()
    return db.session.scalar(sa.select(AuditHead.seq)) or 0


def audit_actions_after(seq: int) -> list[str]:
    return list(db.session.scalars(sa.select(AuditEntry.action).where(AuditEntry.seq > seq)))


def discover_forms(pages: dict, seen: set) -> list[hostile.Form]:
    """The forms of the pages not met before (the same form of another object or principal is posted once)."""
    forms = []
    for (_, url), html in pages.items():
        for form in hostile.post_forms(html, url):
            if form.signature() not in seen and form.path not in NOT_FUZZED and form.targets():
                seen.add(form.signature())
                forms.append(form)
    return sorted(forms, key=lambda form: any(word in form.path for word in ENDINGS))


def post(client, form: hostile.Form, name: str, value, password: str):
    data = hostile.form_data(form, name, value, password=password)
    if form.multipart:
        return client.post(form.action, data=MultiDict(data), content_type="multipart/form-data")
    return client.post(form.action, data=hostile.urlencoded(data), content_type="application/x-www-form-urlencoded")


def check_page(findings: Findings, where: str, response) -> str:
    """No 5xx and no raw markup; the page's HTML."""
    html = response.get_data(as_text=True) if response.mimetype == "text/html" else ""
    if response.status_code >= 500:
        findings.add(where, f"{response.status_code}")
    for marker in hostile.unescaped(html):
        findings.add(where, f"unescaped {marker!r}")
    return html


def try_value(client, findings: Findings, form: hostile.Form, target: hostile.Field, value, principal: str):
    """Post one hostile value and check what comes back, and that a refusal is explained and leaves no trace."""
    where = f"{principal} {form.action} {target.name}={hostile.label(value)}"
    before = audit_seq()
    response = post(client, form, target.name, value, PASSWORD)
    findings.posts += 1
    html = check_page(findings, where, response)
    redirected = 300 <= response.status_code < 400
    refused = not redirected and hostile.re.sub(r"\d+", "N", form.path) not in PREVIEWS
    if redirected and response.location.startswith("/"):
        html = check_page(findings, where + " (after redirect)", client.get(response.location))
        refused = 'class="alert alert-danger' in html
    if not refused:
        return
    texts = hostile.messages(html)
    if response.status_code < 500 and not any(texts):
        findings.add(where, f"refused ({response.status_code}) without a message")
    for text in hostile.untranslated(texts):
        findings.add(where, f"untranslated message {text[:80]!r}")
    written = [a for a in audit_actions_after(before) if not a.endswith(AUDITED_REFUSALS)]
    if written:
        findings.add(where, f"refused but audited {written}")


def test_hostile_values_in_every_form(app, world, create_user, create_org):  # noqa: F811
    users, args = world
    clients = hostile.sign_in_all(app, users, create_user, create_org)
    findings, seen, shown = Findings(), set(), {}
    for principal, client in clients.items():
        pages = hostile.read_pages(app, client, args)
        shown[principal] = {endpoint for endpoint, _ in pages}
        for form in discover_forms(pages, seen):
            for target, value in hostile.assignments(form):
                if not (isinstance(value, hostile.RawBytes) and form.multipart):
                    try_value(client, findings, form, target, value, principal)
    for principal, client in clients.items():  # what was stored is shown escaped to everyone
        for (_, url), html in hostile.read_pages(app, client, args, shown[principal]).items():
            for marker in hostile.unescaped(html):
                findings.add(f"{principal} GET {url}", f"stored and shown unescaped: {marker!r}")
    print(len(seen), "forms", findings.posts, "posts")
    assert not findings.problems, "\n".join(findings.problems)


def test_labels_that_carry_user_text_are_escaped(app):
    """A lazy string counts as safe markup in Jinja and WTForms: a label built from a criterion or bidder name
    typed by a user must be a plain string, or the name's markup reaches the expert's page raw."""
    from types import SimpleNamespace

    from portal.evaluation.scoring_forms import sheet_form, tie_form

    with app.test_request_context("/"):
        criterion = SimpleNamespace(id=1, name=hostile.MARKUP, weight=10)
        sheet = sheet_form([SimpleNamespace(id=1)], [criterion], {}, meta={"csrf": False})
        tie = tie_form([1, 2], {1: hostile.MARKUP, 2: "机构"}, meta={"csrf": False})
        rendered = str(sheet["points_1_1"].label()) + str(tie["place_1"].label())
    assert hostile.unescaped(rendered) == []
    assert "&lt;script&gt;alert(1)" in rendered
