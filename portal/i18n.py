"""Language and time-zone selection, and the Jinja filters that show dates and money."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from flask import current_app, has_request_context, request, session
from flask_babel import format_datetime, get_locale
from flask_login import current_user

LANG_COOKIE = "portal_lang"


def select_locale() -> str:
    """Chinese unless the user (or this browser) chose English."""
    languages = current_app.config["PORTAL_LANGUAGES"]
    if not has_request_context():
        return current_app.config["BABEL_DEFAULT_LOCALE"]
    if getattr(current_user, "is_authenticated", False) and current_user.locale in languages:
        return current_user.locale
    chosen = session.get("lang") or request.cookies.get(LANG_COOKIE)
    if chosen in languages:
        return chosen
    return current_app.config["BABEL_DEFAULT_LOCALE"]


def select_timezone() -> str:
    return current_app.config["PORTAL_TIMEZONE"]


def format_money(value: Decimal | None) -> str:
    """¥1,234,567.89 (a dash for no amount)."""
    if value is None:
        return "—"
    return f"¥{Decimal(value):,.2f}"


def format_local(value: datetime | date | None, fmt: str = "yyyy-MM-dd HH:mm") -> str:
    """A UTC timestamp shown in Asia/Shanghai; a date shown as it is."""
    if value is None:
        return "—"
    if isinstance(value, datetime):
        return format_datetime(value, fmt)
    return value.isoformat()


def init_app(app) -> None:
    app.jinja_env.filters["money"] = format_money
    app.jinja_env.filters["local"] = format_local

    @app.context_processor
    def inject_locale():
        return {"current_locale": str(get_locale() or "zh")}
