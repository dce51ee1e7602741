"""The inbox: unread count in the navigation, marking read, and only one's own notifications."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from portal.extensions import db
from portal.notify import Notification, notify
from tests.conftest import csrf_token


@pytest.fixture
def officer(create_user):
    return create_user("officer", display_name="王科长", locale="en")


def send(user, now, *, minutes: int = 0, link: str = "") -> Notification:
    note = notify(user, "mail_check", {"sent_at": now}, link=link, now=now + timedelta(minutes=minutes))
    db.session.commit()
    return note


def unread_badge(html: str) -> str | None:
    match = re.search(r'class="badge text-bg-light unread-count">(\d+)<', html)
    return match.group(1) if match else None


def read_at(note_id: int):
    db.session.expire_all()
    return db.session.get(Notification, note_id).read_at


def test_navbar_shows_the_unread_count(client, login_as, officer, now):
    login_as(officer)
    assert unread_badge(client.get("/dashboard").get_data(as_text=True)) is None
    send(officer, now)
    send(officer, now, minutes=1)
    html = client.get("/dashboard").get_data(as_text=True)
    assert unread_badge(html) == "2"
    assert 'href="/inbox"' in html


def test_inbox_lists_own_notifications_newest_first_unread_bold(client, login_as, officer, create_user, now):
    other = create_user("officer", locale="en")
    send(other, now)
    older = send(officer, now, minutes=1)
    newer = send(officer, now, minutes=2)
    older.read_at = now + timedelta(minutes=3)
    db.session.commit()
    login_as(officer)
    response = client.get("/inbox")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    items = re.findall(r'<li class="list-group-item( notification-unread)?">', html)
    assert items == [" notification-unread", ""]  # newer (unread) first, then the read one
    assert html.count('class="mb-1 fw-bold"') == 1
    assert f"/inbox/{newer.id}/read" in html
    assert "2026-11-30 10:02" in html  # shown in Beijing time


def test_mark_read_by_its_recipient(client, login_as, officer, now):
    note = send(officer, now)
    login_as(officer)
    response = client.post(f"/inbox/{note.id}/read", data={"csrf_token": csrf_token(client, "/inbox")})
    assert response.status_code == 302 and response.location.endswith("/inbox")
    assert read_at(note.id) is not None
    assert unread_badge(client.get("/inbox").get_data(as_text=True)) is None


def test_opening_a_notification_marks_it_read_and_follows_its_link(client, login_as, officer, now):
    note = send(officer, now, link="/dashboard")
    login_as(officer)
    token = csrf_token(client, "/inbox")
    response = client.post(f"/inbox/{note.id}/read", data={"csrf_token": token, "next": note.link})
    assert response.status_code == 302 and response.location.endswith("/dashboard")
    assert read_at(note.id) is not None
    response = client.post(f"/inbox/{note.id}/read", data={"csrf_token": token, "next": "https://evil.example.com/"})
    assert response.location.endswith("/inbox")  # no open redirect


def test_another_users_notification_is_refused(client, login_as, officer, create_user, now):
    note = send(create_user("supplier"), now)
    login_as(officer)
    token = csrf_token(client, "/inbox")
    assert client.post(f"/inbox/{note.id}/read", data={"csrf_token": token}).status_code == 403
    assert read_at(note.id) is None
    assert client.post("/inbox/999999/read", data={"csrf_token": token}).status_code == 404
    assert client.post("/inbox/read-all", data={"csrf_token": token}).status_code == 302
    assert read_at(note.id) is None  # read-all touches only one's own


def test_mark_all_read(client, login_as, officer, now):
    notes = [send(officer, now, minutes=n) for n in range(3)]
    login_as(officer)
    html = client.get("/inbox").get_data(as_text=True)
    assert unread_badge(html) == "3" and "/inbox/read-all" in html
    response = client.post("/inbox/read-all", data={"csrf_token": csrf_token(client, "/inbox")})
    assert response.status_code == 302
    assert all(read_at(note.id) is not None for note in notes)
    assert "/inbox/read-all" not in client.get("/inbox").get_data(as_text=True)


def test_marking_read_needs_the_csrf_token(client, login_as, officer, now):
    note = send(officer, now)
    login_as(officer)
    assert client.post(f"/inbox/{note.id}/read").status_code == 400
    assert client.post("/inbox/read-all").status_code == 400
    assert read_at(note.id) is None


def test_inbox_needs_sign_in(client, officer, now):
    response = client.get("/inbox")
    assert response.status_code == 302 and "/login" in response.location


def test_empty_inbox(client, login_as, officer):
    login_as(officer)
    assert "You have no notifications." in client.get("/inbox").get_data(as_text=True)
