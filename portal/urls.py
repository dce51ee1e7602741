"""URL helpers."""

from __future__ import annotations

from urllib.parse import urlsplit


def safe_next(target: str | None) -> str | None:
    """Only a path on this site may be a redirect target after sign-in (no open redirects)."""
    if not target:
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return None
    return target


MAX_PAGE = 100_000
MAX_ID = 2**31 - 1


def page_arg() -> int:
    """The ?page= of a list, kept within sane bounds (a huge number must not reach the database)."""
    from flask import request

    page = request.args.get("page", 1, type=int)
    return min(max(page, 1), MAX_PAGE)


def id_arg(name: str) -> int | None:
    """An integer id from the query string, or None when missing or out of range."""
    from flask import request

    value = request.args.get(name, type=int)
    return value if value is not None and 0 < value <= MAX_ID else None
