"""Hostile inputs and the form discovery the security suite posts them through.

The corpus holds what an attacker or a careless paste puts into a form: markup and script, SQL fragments, LIKE
wildcards, overlong and control-character text, bytes that are not UTF-8, numbers a column cannot hold, negative
and over-precise money, dates that do not exist. Each field type gets the part of the corpus that can hurt it
(``PAYLOADS``), so that every field of every form is tried without trying everything everywhere.

Forms are found by reading the pages themselves (the stdlib's html.parser, no new dependency): every
``<form method="post">`` with its fields and the values the page filled in, so a post changes one field and keeps
the rest as a person would have left them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from html.parser import HTMLParser
from urllib.parse import quote_from_bytes, urlsplit

from portal.accounts.models import OrgKind
from tests.conftest import login
from tests.files_support import PDF_BYTES
from tests.views.test_route_matrix import _url

SCRIPT = "<script>alert(1)</script>"
ATTRIBUTE_BREAK = '"><img src=x onerror=alert(1)>'
SQL_DROP = "'; DROP TABLE users; --"
SQL_OR = "' OR '1'='1"
LIKE_WILDCARDS = "%_\\"
OVERLONG = "长" * 5_000 + "x" * 5_000
CONTROL = "a\x00b\x1bc\u202ed"
EMOJI_CJK = "社工服务😀👩‍👧‍👦𠀀"
EMPTY = ""
MARKUP = ATTRIBUTE_BREAK + SCRIPT


@dataclass(frozen=True)
class RawBytes:
    """A value sent as raw bytes in a urlencoded body: not UTF-8 at all, or a lone surrogate encoded as UTF-8."""

    data: bytes
    label: str


INVALID_UTF8 = RawBytes(b"\xff\xfe\xc3(" + SCRIPT.encode(), "invalid UTF-8")
LONE_SURROGATE = RawBytes(b"x\xed\xa0\x80y", "lone surrogate")

HUGE_FLOAT = "1e308"
HUGE_INTEGER = "99999999999999999999"
NUMBERS = (HUGE_FLOAT, HUGE_INTEGER, "-1", "-0.01", "1.001", "NaN", "Infinity", EMPTY, SQL_OR)
DATES = ("2026-02-30", "2026-13-01", "yesterday", "0000-00-00", EMPTY, SCRIPT)

# Raw markup of the corpus: finding one of these in a page means a payload was written out unescaped.
UNESCAPED = ("<script>alert(1)", "<img src=x onerror")

PAYLOADS = {
    # Values a form is likely to refuse first, so that one accepted early does not change what the rest meet.
    "text": (EMPTY, OVERLONG, CONTROL, INVALID_UTF8, LONE_SURROGATE, LIKE_WILDCARDS, SQL_DROP, SQL_OR, EMOJI_CJK,
             SCRIPT, ATTRIBUTE_BREAK, MARKUP),
    "number": NUMBERS,
    "date": DATES,
    "select": (SCRIPT, HUGE_INTEGER, "-1", SQL_OR, EMPTY),
    # Passwords: only values refused before the password is checked, so the fuzzing never locks the account.
    "password": (EMPTY, OVERLONG),
    "file": ("file-name", "file-html"),
}

# Values for a file input: the page's default is a small valid PDF; the hostile ones keep a PDF name.
HOSTILE_FILES = {
    "default": (PDF_BYTES, "说明.pdf"),
    "file-name": (PDF_BYTES, ATTRIBUTE_BREAK + ".pdf"),
    "file-html": (b"<html><body>" + SCRIPT.encode() + b"</body></html>", "report.pdf"),
}


ROW_RE = re.compile(r"-[1-9][0-9]*-")


def assignments(form) -> list[tuple]:
    """(field, value) pairs to post: every value of a type's corpus somewhere in the form, at least one on each
    field, and the markup on every text field (each is written back in its own place)."""
    by_kind: dict[str, list] = {}
    for target in form.targets():
        if not ROW_RE.search(target.name):  # a list of rows: the first row stands for the others
            by_kind.setdefault(target.kind if target.kind in PAYLOADS else "select", []).append(target)
    pairs = []
    for kind, fields in by_kind.items():
        corpus = PAYLOADS[kind]
        per_field = max(1, -(-len(corpus) // len(fields)))
        for i, target in enumerate(fields):
            values = [corpus[(i * per_field + j) % len(corpus)] for j in range(per_field)]
            if kind == "text" and MARKUP not in values:
                values.append(MARKUP)
            pairs += [(target, value) for value in dict.fromkeys(values)]
    return pairs


def label(value) -> str:
    """A short printable name for a payload, for failure messages."""
    if isinstance(value, RawBytes):
        return value.label
    return repr(value if len(value) < 40 else value[:20] + f"...({len(value)} chars)")


# --- form discovery ------------------------------------------------------------------------------------------

TEXT_TYPES = {"text", "search", "email", "tel", "url", ""}
SKIPPED_TYPES = {"submit", "button", "reset", "image"}


@dataclass
class Field:
    name: str
    kind: str  # text, number, date, select, password, file, hidden, checkbox, radio
    value: str = ""
    checked: bool = False
    options: list[str] = field(default_factory=list)


@dataclass
class Form:
    action: str
    multipart: bool
    fields: list[Field] = field(default_factory=list)
    button: tuple[str, str] | None = None  # the first named submit button: the one a person presses

    @property
    def path(self) -> str:
        return urlsplit(self.action).path

    def signature(self) -> tuple:
        """The same form on two pages (an action button in a list and on a detail page) is posted once."""
        return re.sub(r"\d+", "N", self.path), tuple(sorted({ROW_RE.sub("-0-", f.name) for f in self.fields}))

    def targets(self) -> list[Field]:
        """The fields hostile values go into: one per name, the CSRF token never."""
        seen, fields = set(), []
        for f in self.fields:
            if f.name != "csrf_token" and f.name not in seen and f.kind not in ("checkbox", "radio"):
                seen.add(f.name)
                fields.append(f)
        return fields


def _kind(tag: str, attrs: dict) -> str:
    if tag == "textarea":
        return "text"
    if tag == "select":
        return "select"
    kind = (attrs.get("type") or "").lower()
    if kind in TEXT_TYPES:
        return "number" if attrs.get("inputmode") in ("decimal", "numeric") else "text"
    if kind in ("datetime-local", "month", "time"):
        return "date"
    return kind


class FormParser(HTMLParser):
    """Collects the POST forms of a page with their fields and the values the page put in them."""

    def __init__(self, page_url: str):
        super().__init__(convert_charrefs=True)
        self.page_url = page_url
        self.forms: list[Form] = []
        self._form: Form | None = None
        self._text: Field | None = None  # the textarea being read
        self._select: Field | None = None
        self._option: str | None = None

    def handle_starttag(self, tag, attrs):
        attrs = {k: (v or "") for k, v in attrs}
        if tag == "form":
            if attrs.get("method", "get").lower() == "post":
                self._form = Form(attrs.get("action") or self.page_url, "multipart" in attrs.get("enctype", ""))
            return
        if tag == "option" and self._select is not None:
            self._option_tag(attrs)
            return
        if self._form is None or not attrs.get("name") or "disabled" in attrs:
            return
        kind = (attrs.get("type") or ("submit" if tag == "button" else "")).lower()
        if kind == "submit" and self._form.button is None:
            self._form.button = attrs["name"], attrs.get("value", "")
        if tag == "input" and kind not in SKIPPED_TYPES:
            self._form.fields.append(Field(attrs["name"], _kind(tag, attrs), attrs.get("value", ""),
                                           "checked" in attrs))
        elif tag == "textarea":
            self._text = Field(attrs["name"], "text")
            self._form.fields.append(self._text)
        elif tag == "select":
            self._select = Field(attrs["name"], "select", value=None)
            self._form.fields.append(self._select)

    def _option_tag(self, attrs):
        self._option = attrs.get("value")
        if self._option is not None:
            self._select.options.append(self._option)
            if "selected" in attrs or self._select.value is None:
                self._select.value = self._option

    def handle_data(self, data):
        if self._text is not None:
            self._text.value += data

    def handle_endtag(self, tag):
        if tag == "form" and self._form is not None:
            self.forms.append(self._form)
            self._form = None
        elif tag == "textarea":
            self._text = None
        elif tag == "select" and self._select is not None:
            self._select.value = self._select.value or ""
            self._select = None
        elif tag == "option":
            self._option = None


def post_forms(html: str, page_url: str) -> list[Form]:
    """The POST forms of a page."""
    parser = FormParser(page_url)
    parser.feed(html)
    parser.close()
    return parser.forms


def form_data(form: Form, name: str | None = None, value=None, *, password: str = "") -> list[tuple[str, object]]:
    """The form as a person left it, with field ``name`` (if given) set to ``value``."""
    data, replaced = [], False
    for f in form.fields:
        if f.name == name:
            if not replaced:
                data.append((f.name, _file(value) if f.kind == "file" else value))
            replaced = True
            continue
        if f.kind in ("checkbox", "radio") and not f.checked:
            continue
        if f.kind == "file":
            data.append((f.name, _file("default")))
        elif f.kind == "password":
            data.append((f.name, password))
        else:
            data.append((f.name, f.value))
    return data + ([form.button] if form.button else [])


def _file(which: str):
    import io

    content, filename = HOSTILE_FILES[which]
    return io.BytesIO(content), filename


def urlencoded(data: list[tuple[str, object]]) -> bytes:
    """A urlencoded body that keeps raw byte values as they are (no re-encoding to valid UTF-8)."""
    def enc(value) -> str:
        raw = value.data if isinstance(value, RawBytes) else str(value).encode("utf-8", "surrogatepass")
        return quote_from_bytes(raw, safe="")

    return "&".join(f"{enc(k)}={enc(v)}" for k, v in data).encode("ascii")


# --- the principals and their pages ---------------------------------------------------------------------------

PRINCIPALS = ("anonymous", "officer", "district_officer", "supplier", "evaluator", "admin")


def sign_in(app, users, principal, create_user, create_org):
    """A client signed in as the principal; the district officer is of a district under the world's city bureau."""
    client = app.test_client()
    user = users.get(principal)
    if principal == "district_officer":
        district = create_org(OrgKind.BUREAU, name="中原区民政局", level="district",
                              parent_id=users["officer"].organisation_id)
        user = create_user("officer", organisation_id=district.id)
    if user:
        assert login(client, user.username).status_code == 302
    return client


def sign_in_all(app, users, create_user, create_org) -> dict:
    """A signed-in client for each principal, by name."""
    return {principal: sign_in(app, users, principal, create_user, create_org) for principal in PRINCIPALS}


def read_pages(app, client, args, endpoints=None) -> dict[str, str]:
    """The world's GET routes (or those of ``endpoints``) as this client sees them: the HTML of each page that
    answered 200, by endpoint and URL."""
    pages = {}
    for rule in app.url_map.iter_rules():
        if "GET" not in rule.methods or rule.endpoint == "static" or (endpoints and rule.endpoint not in endpoints):
            continue
        url = _url(app, rule, args)
        response = client.get(url)
        if response.status_code == 200 and response.mimetype == "text/html":
            pages[rule.endpoint, url] = response.get_data(as_text=True)
        response.close()
    return pages


# --- reading a response --------------------------------------------------------------------------------------

MESSAGE_RE = re.compile(
    r'<(?:div|p|span|li)[^>]*class="[^"]*\b(?:invalid-feedback|alert-danger|alert-warning|lead|empty-state|text-danger)\b'
    r'[^"]*"[^>]*>(.*?)</(?:div|p|span|li)>', re.S)
TAG_RE = re.compile(r"<[^>]+>")
CJK_RE = re.compile(r"[\u4e00-\u9fff]")


def messages(html: str) -> list[str]:
    """The error messages a page shows: field errors, danger and warning flashes, an error page's text, the note
    in place of a form that no longer applies."""
    return [" ".join(TAG_RE.sub(" ", m).split()) for m in MESSAGE_RE.findall(html)]


def untranslated(texts: list[str]) -> list[str]:
    """Messages without a single Chinese character: English msgids left on a Chinese page."""
    return [t for t in texts if not CJK_RE.search(t)]


def unescaped(html: str) -> list[str]:
    """The corpus markup found raw in a page."""
    return [marker for marker in UNESCAPED if marker in html]
