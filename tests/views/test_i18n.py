"""Translations: the Chinese catalog is complete, pages are Chinese by default and English on request.

The completeness test extracts the messages from portal/ itself (the same babel.cfg and keywords as
``make babel-extract``), so it fails as soon as a developer wraps a new string without translating it.
The catalogs are compiled here when the .mo files are missing or older than the .po files, so these
tests never depend on ``make translations`` having been run.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import sqlalchemy as sa
from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
from babel.messages.frontend import parse_mapping_cfg
from babel.messages.pofile import read_po
from babel.support import Translations
from flask_babel import get_locale
from flask_wtf import FlaskForm
from wtforms import IntegerField, PasswordField, StringField
from wtforms.validators import EqualTo, Length, NumberRange

from portal.accounts.models import User
from portal.config import PROJECT_ROOT
from portal.extensions import db
from portal.i18n import LANG_COOKIE
from tests.conftest import compile_catalogs, csrf_token, login

TRANSLATIONS = PROJECT_ROOT / "portal" / "translations"
LANGUAGES = ("zh", "en")
# Keywords of `make babel-extract`: babel's defaults plus -k _l -k lazy_gettext -k lazy_ngettext:1,2.
KEYWORDS = {**DEFAULT_KEYWORDS, "_l": None, "lazy_gettext": None, "lazy_ngettext": (1, 2)}
# A printf directive: %(name)s, %s, %5.2f, %% ...
DIRECTIVE = re.compile(r"%(?:\((\w+)\))?[#0\- +]*(?:\*|\d+)?(?:\.(?:\*|\d+))?[diouxXeEfFgGcrsa%]")
HTML_LANG = re.compile(r'<html lang="([^"]+)">')


def po_path(lang: str) -> Path:
    return TRANSLATIONS / lang / "LC_MESSAGES" / "messages.po"


def read_catalog(lang: str):
    with po_path(lang).open("rb") as f:
        return read_po(f)


@pytest.fixture(scope="module", autouse=True)
def compiled_catalogs(app):
    """Compiled catalogs in place, and Flask-Babel's translation cache emptied so it reads them."""
    compile_catalogs()
    with app.app_context():
        app.extensions["babel"].instance.domain_instance.cache.clear()
    yield


def extracted_messages() -> dict[tuple[str, str | None], tuple[str | tuple[str, ...], list[str]]]:
    """Every translatable message in portal/: (msgid, context) -> (message, ["file:line", ...])."""
    with (PROJECT_ROOT / "babel.cfg").open() as f:
        method_map, options_map = parse_mapping_cfg(f, "babel.cfg")
    found: dict = {}
    for filename, lineno, message, _comments, context in extract_from_dir(
        PROJECT_ROOT, method_map, options_map, keywords=KEYWORDS, comment_tags=("TRANSLATORS:",)
    ):
        msgid = message[0] if isinstance(message, tuple) else message
        if not msgid:
            continue
        entry = found.setdefault((msgid, context), (message, []))
        entry[1].append(f"{filename}:{lineno}")
    return found


def directives(text: str) -> list[str]:
    return [m.group(0) for m in DIRECTIVE.finditer(text)]


def placeholder_problem(msgid: str, msgstr: str) -> str | None:
    wanted, found = set(directives(msgid)), set(directives(msgstr))
    if wanted != found:
        return f"placeholders {sorted(wanted)} != {sorted(found)}"
    if "%" in DIRECTIVE.sub("", msgstr):
        return "a stray % (write %% for a literal percent sign)"
    return None


# ---------------------------------------------------------------- the catalogs


def test_catalog_headers():
    zh = read_catalog("zh")
    assert not zh.fuzzy, "zh catalog header is marked fuzzy"
    assert str(zh.locale) == "zh"
    assert zh.num_plurals == 1 and zh.plural_expr.strip() == "0"
    en = read_catalog("en")
    assert not en.fuzzy, "en catalog header is marked fuzzy"
    assert str(en.locale) == "en"


def test_every_extracted_message_is_translated_into_chinese():
    extracted = extracted_messages()
    assert len(extracted) > 100, "extraction found almost nothing: is babel.cfg still right?"
    catalog = read_catalog("zh")
    problems = []
    for (msgid, context), (message, places) in sorted(extracted.items(), key=lambda kv: kv[1][1][0]):
        where = places[0]
        entry = catalog.get(msgid, context=context)
        if entry is None:
            problems.append(f"{where}: not in the zh catalog (run `make babel-extract`): {msgid!r}")
            continue
        if entry.fuzzy:
            problems.append(f"{where}: fuzzy in the zh catalog: {msgid!r}")
        ids = message if isinstance(message, tuple) else (message,)
        strings = entry.string if isinstance(entry.string, tuple) else (entry.string,)
        if not all(s.strip() for s in strings):
            problems.append(f"{where}: no Chinese translation: {msgid!r}")
            continue
        for string in strings:
            problem = placeholder_problem(ids[-1] if len(ids) > 1 else ids[0], string)
            if problem:
                problems.append(f"{where}: {problem}: {msgid!r} -> {string!r}")
    assert not problems, "\n".join(problems)


def test_english_catalog_has_no_fuzzy_entries_and_no_bad_placeholders():
    catalog = read_catalog("en")
    problems = [f"fuzzy: {m.id!r}" for m in catalog if m.id and m.fuzzy]
    for m in catalog:
        if m.id and isinstance(m.string, str) and m.string:
            problem = placeholder_problem(m.id, m.string)
            if problem:
                problems.append(f"{problem}: {m.id!r}")
    assert not problems, "\n".join(problems)


def test_compiled_catalog_loads_from_the_configured_directory(app):
    assert Path(app.config["BABEL_TRANSLATION_DIRECTORIES"]) == TRANSLATIONS
    assert app.extensions["babel"].translation_directories == [str(TRANSLATIONS)]
    zh = Translations.load(str(TRANSLATIONS), ["zh"])
    assert isinstance(zh, Translations), "zh .mo did not load"
    assert zh.gettext("Sign in") == "登录"
    assert zh.gettext("Sign out") == "退出登录"
    assert zh.gettext("Audit log") == "审计日志"
    en = Translations.load(str(TRANSLATIONS), ["en"])
    assert en.gettext("Sign in") == "Sign in"


def test_gettext_in_the_app_is_chinese_by_default(app):
    from flask_babel import gettext, lazy_gettext

    with app.test_request_context("/"):
        assert str(get_locale()) == "zh"
        assert gettext("Dashboard") == "工作台"
        assert str(lazy_gettext("Holiday calendar")) == "节假日安排"
        assert gettext("The user name %(name)s is already taken.", name="张三") == "用户名张三已被使用。"


# ---------------------------------------------------------------- pages


def lang_of(response) -> str:
    match = HTML_LANG.search(response.get_data(as_text=True))
    assert match, "no <html lang> on the page"
    return match.group(1)


def switch_language(client, lang: str, next_url: str = "/"):
    return client.post("/language", data={"lang": lang, "next": next_url,
                                          "csrf_token": csrf_token(client, next_url)})


def assert_chinese_pages(client):
    home = client.get("/")
    assert home.status_code == 200
    assert lang_of(home) == "zh-CN"
    text = home.get_data(as_text=True)
    assert "登录" in text and "政府购买社会工作服务" in text
    assert "Sign in" not in text

    page = client.get("/login")
    assert lang_of(page) == "zh-CN"
    text = page.get_data(as_text=True)
    assert "登录" in text and "用户名" in text and "密码" in text

    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert lang_of(missing) == "zh-CN"
    text = missing.get_data(as_text=True)
    assert "页面不存在" in text and "返回首页" in text


def assert_english_pages(client):
    home = client.get("/")
    assert lang_of(home) == "en"
    text = home.get_data(as_text=True)
    assert "Sign in" in text and "Government purchase of social-work services" in text
    assert "登录" not in text

    page = client.get("/login")
    assert lang_of(page) == "en"
    assert "User name" in page.get_data(as_text=True)

    missing = client.get("/no-such-page")
    assert missing.status_code == 404
    assert lang_of(missing) == "en"
    assert "Page not found" in missing.get_data(as_text=True)


def test_pages_are_chinese_by_default(client):
    assert_chinese_pages(client)


def test_browser_language_does_not_override_the_chinese_default(client):
    response = client.get("/", headers={"Accept-Language": "en-US,en;q=0.9"})
    assert lang_of(response) == "zh-CN"


def test_switch_to_english_and_back(client):
    response = switch_language(client, "en", "/login")
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/login")
    assert f"{LANG_COOKIE}=en" in response.headers["Set-Cookie"]
    with client.session_transaction() as session:
        assert session["lang"] == "en"
    assert_english_pages(client)

    response = switch_language(client, "zh")
    assert response.status_code == 302
    assert_chinese_pages(client)


def test_choice_is_remembered_by_the_cookie_alone(app, client):
    switch_language(client, "en")
    with client.session_transaction() as session:
        session.clear()
    assert lang_of(client.get("/")) == "en"

    other = app.test_client()
    other.set_cookie(LANG_COOKIE, "en")
    assert_english_pages(other)


def test_choice_is_remembered_by_the_session_alone(client):
    switch_language(client, "en")
    client.delete_cookie(LANG_COOKIE)
    assert client.get_cookie(LANG_COOKIE) is None
    assert lang_of(client.get("/")) == "en"


def test_unknown_language_is_ignored(client):
    response = switch_language(client, "fr")
    assert response.status_code == 302
    assert client.get_cookie(LANG_COOKIE) is None
    assert lang_of(client.get("/")) == "zh-CN"


def test_language_switch_needs_the_csrf_token(client):
    client.post("/language", data={"lang": "en", "next": "/"})
    assert lang_of(client.get("/")) == "zh-CN"


def test_signed_in_choice_is_saved_to_the_profile_and_survives_a_new_session(app, client, create_user, login_as):
    user = create_user("officer")
    login_as(user)
    assert lang_of(client.get("/dashboard")) == "zh-CN"

    switch_language(client, "en", "/dashboard")
    db.session.expire_all()
    assert db.session.scalar(sa.select(User.locale).where(User.id == user.id)) == "en"
    dashboard = client.get("/dashboard")
    assert lang_of(dashboard) == "en"
    assert "Sign out" in dashboard.get_data(as_text=True)

    fresh = app.test_client()  # another browser: no cookie, no session
    assert lang_of(fresh.get("/")) == "zh-CN"
    assert login(fresh, user.username).status_code == 302
    dashboard = fresh.get("/dashboard")
    assert lang_of(dashboard) == "en"
    assert "Sign out" in dashboard.get_data(as_text=True)

    switch_language(fresh, "zh", "/dashboard")
    db.session.expire_all()
    assert db.session.scalar(sa.select(User.locale).where(User.id == user.id)) == "zh"
    dashboard = fresh.get("/dashboard")
    assert lang_of(dashboard) == "zh-CN"
    assert "退出登录" in dashboard.get_data(as_text=True)


def test_choice_made_before_signing_in_is_kept_at_sign_in(client, create_user):
    user = create_user("supplier")
    switch_language(client, "en", "/login")
    assert login(client, user.username).status_code == 302
    with client.session_transaction() as session:
        assert session["lang"] == "en"


# ---------------------------------------------------------------- form messages


def post_login(client, username: str):
    return client.post("/login", data={"username": username, "password": "x",
                                       "csrf_token": csrf_token(client, "/login")})


def test_form_error_is_translated(client):
    response = post_login(client, "")
    assert response.status_code == 200
    text = response.get_data(as_text=True)
    assert "此项为必填项。" in text
    assert "This field is required." not in text

    switch_language(client, "en", "/login")
    response = post_login(client, "")
    text = response.get_data(as_text=True)
    assert "This field is required." in text
    assert "此项为必填项。" not in text


def test_domain_error_is_translated(client):
    response = post_login(client, "nobody")
    assert "用户名或密码错误。" in response.get_data(as_text=True)
    switch_language(client, "en", "/login")
    response = post_login(client, "nobody")
    assert "Wrong user name or password." in response.get_data(as_text=True)


def test_wtforms_builtin_message_on_a_page_is_chinese(client):
    """Length(min=3, max=64) on the registration user name has no message of its own."""
    data = {"username": "ab", "csrf_token": csrf_token(client, "/register")}
    text = client.post("/register", data=data).get_data(as_text=True)
    assert "字段长度必须介于 3 到 64 个字符之间。" in text
    assert "Field must be between" not in text

    switch_language(client, "en", "/register")
    data["csrf_token"] = csrf_token(client, "/register")
    text = client.post("/register", data=data).get_data(as_text=True)
    assert "Field must be between 3 and 64 characters long." in text


class BuiltinMessagesForm(FlaskForm):
    """Validators without a message of their own, so WTForms' catalog supplies it."""

    class Meta:
        csrf = False

    name = StringField(validators=[Length(min=5)])
    password = PasswordField()
    confirm = PasswordField(validators=[EqualTo("password")])
    count = IntegerField(validators=[NumberRange(min=1, max=9)])


@pytest.mark.parametrize(("cookie", "expected"), [
    (None, {
        "name": "字段长度必须至少 5 个字符。",
        "confirm": "字段必须和 password 相等。",
        "count": "不是有效的整数。",
    }),
    ("en", {
        "name": "Field must be at least 5 characters long.",
        "confirm": "Field must be equal to password.",
        "count": "Not a valid integer value.",
    }),
])
def test_wtforms_builtin_messages_follow_the_locale(app, cookie, expected):
    assert app.config.get("WTF_I18N_ENABLED", True), "Flask-WTF's i18n is switched off"
    headers = {"Cookie": f"{LANG_COOKIE}={cookie}"} if cookie else {}
    data = {"name": "abc", "password": "one", "confirm": "two", "count": "many"}
    with app.test_request_context("/", method="POST", data=data, headers=headers):
        form = BuiltinMessagesForm()
        assert not form.validate()
        assert {name: form.errors[name][0] for name in expected} == expected


def test_wtforms_number_range_message_is_chinese(app):
    with app.test_request_context("/", method="POST", data={"count": "20"}):
        form = BuiltinMessagesForm()
        form.validate()
        assert form.errors["count"] == ["数值大小必须介于 1 到 9 之间。"]
