"""Small helpers the service and view tests share: Beijing instants, response text, downloads and sign-ins."""

from __future__ import annotations

from datetime import date, datetime, time

from portal.tenders.rules import beijing_instant
from tests.conftest import login


def bj(day: str, at: str = "10:00") -> datetime:
    """The instant of ``day`` (ISO) at ``at`` o'clock in Beijing."""
    return beijing_instant(date.fromisoformat(day), time.fromisoformat(at))


def text(response) -> str:
    return response.get_data(as_text=True)


def fetch(client, url):
    """GET ``url`` and close the response (a file download keeps its file open until then)."""
    response = client.get(url)
    response.get_data()
    response.close()
    return response


def as_user(client, user):
    """Sign in as ``user`` in a fresh session (the previous user's session cookie is dropped); None: anonymous."""
    client.delete_cookie(client.application.config.get("SESSION_COOKIE_NAME", "session"))
    if user is not None:
        assert login(client, user.username).status_code == 302
    return client


def in_english(*users) -> None:
    """Show these users' pages and notifications in English (their locale), so tests can read the wording."""
    from portal.extensions import db

    for user in users:
        user.locale = "en"
    db.session.commit()
