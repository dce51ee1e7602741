"""Notifications and e-mail: nothing leaves before the commit, nothing is lost when SMTP fails.

A real SMTP server (aiosmtpd) listens on 127.0.0.1; the tests read what it received.
"""

from __future__ import annotations

import email
import email.policy
import logging
import socket
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from aiosmtpd.controller import Controller

from portal import notify as notify_module
from portal.extensions import db
from portal.notify import (
    JOBS,
    Notification,
    OutgoingEmail,
    deliver_due_emails,
    mark_all_read,
    mark_read,
    notify,
    notify_many,
    retry_delay,
    unread_count,
)

ZH_PORTAL = "政府购买社会工作服务平台"
EN_PORTAL = "Social-work Services Procurement Portal"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Inbox:
    """What the SMTP server received; addresses in ``refuse`` are rejected at RCPT TO."""

    def __init__(self):
        self.envelopes = []
        self.refuse: set[str] = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refuse:
            return "550 5.1.1 mailbox unavailable"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    @property
    def messages(self):
        return [email.message_from_bytes(e.content, policy=email.policy.default) for e in self.envelopes]


@pytest.fixture
def mail_config(app):
    """Mail switched on for one test; the settings are put back afterwards."""
    keys = ("MAIL_SERVER", "MAIL_PORT", "MAIL_ENABLED", "MAIL_SENDER", "MAIL_SEND_AFTER_COMMIT",
            "MAIL_MAX_ATTEMPTS", "PORTAL_BASE_URL")
    saved = {key: app.config[key] for key in keys if key in app.config}
    app.config.update(MAIL_SERVER="127.0.0.1", MAIL_PORT=free_port(), MAIL_ENABLED=True,
                      MAIL_SENDER="平台 <portal@mca.example.cn>")
    yield app.config
    for key in keys:
        app.config.pop(key, None)
    app.config.update(saved)


@pytest.fixture
def start_smtp(mail_config):
    """Start a local SMTP server on the configured port (call it when the test wants it up)."""
    controllers = []

    def start() -> Inbox:
        inbox = Inbox()
        controller = Controller(inbox, hostname="127.0.0.1", port=mail_config["MAIL_PORT"])
        controller.start()
        controllers.append(controller)
        return inbox

    yield start
    for controller in controllers:
        controller.stop()


@pytest.fixture
def smtp(start_smtp):
    return start_smtp()


@pytest.fixture
def recipients(create_user):
    zh = create_user("officer", display_name="王科长", email="wang@mca.example.cn", locale="zh")
    en = create_user("supplier", display_name="Ms Li", email="li@ngo.example.org", locale="en")
    return zh, en


def emails() -> list[OutgoingEmail]:
    db.session.expire_all()
    return db.session.scalars(sa.select(OutgoingEmail).order_by(OutgoingEmail.id)).all()


def test_notify_reaches_inbox_and_smtp_only_after_commit(smtp, recipients, now):
    zh, en = recipients
    notify_many([zh, en], "mail_check", {"sent_at": now}, link="/dashboard", now=now)
    assert db.session.scalar(sa.select(sa.func.count()).select_from(OutgoingEmail)) == 2  # flushed...
    assert smtp.envelopes == []  # ...but nothing has left
    db.session.commit()

    assert len(smtp.envelopes) == 2
    by_address = {e.rcpt_tos[0]: e for e in smtp.envelopes}
    assert set(by_address) == {zh.email, en.email}
    zh_mail = email.message_from_bytes(by_address[zh.email].content, policy=email.policy.default)
    en_mail = email.message_from_bytes(by_address[en.email].content, policy=email.policy.default)
    assert zh_mail["Subject"].startswith(f"[{ZH_PORTAL}]")
    assert "2026年11月30日" in zh_mail.get_content()
    assert "王科长" in zh_mail.get_content()
    assert en_mail["Subject"].startswith(f"[{EN_PORTAL}]")
    assert "November 30, 2026" in en_mail.get_content()
    assert zh_mail["From"].addresses[0].addr_spec == "portal@mca.example.cn"
    assert zh_mail["To"] == zh.email
    assert zh_mail["Message-ID"].endswith("@mca.example.cn>")
    assert zh_mail["Date"].datetime == now
    assert zh_mail["Auto-Submitted"] == "auto-generated"

    rows = emails()
    assert [(row.status, row.attempts, row.sent_at) for row in rows] == [("sent", 1, now)] * 2
    zh_note = db.session.scalars(sa.select(Notification).where(Notification.user_id == zh.id)).one()
    assert "2026年11月30日" in zh_note.body and zh_note.link == "/dashboard" and zh_note.read_at is None
    assert "[" not in zh_note.subject  # the portal's name is for the e-mail only


def seen_by_others(model) -> int:
    """Rows another connection sees, as another request would."""
    with db.engine.connect() as conn:
        return conn.scalar(sa.select(sa.func.count()).select_from(model))


def test_nothing_is_visible_or_received_between_flush_and_commit(smtp, recipients, now):
    zh, _ = recipients
    notify(zh, "mail_check", {"sent_at": now}, now=now)
    db.session.flush()
    assert (seen_by_others(Notification), seen_by_others(OutgoingEmail)) == (0, 0)
    assert smtp.envelopes == []
    db.session.commit()
    assert seen_by_others(Notification) == 1
    assert len(smtp.envelopes) == 1


def test_an_error_while_sending_after_commit_never_reaches_the_caller(smtp, recipients, now, monkeypatch, caplog):
    zh, _ = recipients

    def broken_claim(*args, **kwargs):
        raise sa.exc.OperationalError("UPDATE outgoing_emails", {}, Exception("database went away"))

    monkeypatch.setattr(notify_module, "_claim", broken_claim)
    notify(zh, "mail_check", {"sent_at": now}, now=now)
    with caplog.at_level(logging.WARNING):
        db.session.commit()
    assert any("sending e-mails" in r.getMessage() for r in caplog.records)
    assert smtp.envelopes == []
    monkeypatch.undo()
    assert [(row.status, row.attempts) for row in emails()] == [("pending", 0)]
    assert deliver_due_emails(now) == 1  # the scheduler picks it up
    assert len(smtp.envelopes) == 1


def test_rolled_back_action_sends_nothing(smtp, recipients, now):
    zh, en = recipients
    notify_many([zh, en], "mail_check", {"sent_at": now}, now=now)
    db.session.rollback()
    assert smtp.envelopes == []
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 0
    assert emails() == []
    # A later, unrelated commit does not pick up what was rolled back.
    zh.display_name = "王处长"
    db.session.commit()
    assert smtp.envelopes == []


def test_savepoints_send_only_what_the_outer_commit_keeps(smtp, recipients, now):
    zh, en = recipients
    with db.session.begin_nested():
        notify(zh, "mail_check", {"sent_at": now}, now=now)
    assert smtp.envelopes == []  # releasing a savepoint is not the commit
    savepoint = db.session.begin_nested()
    notify(en, "mail_check", {"sent_at": now}, now=now)
    savepoint.rollback()
    db.session.commit()
    assert [e.rcpt_tos for e in smtp.envelopes] == [[zh.email]]
    assert [row.to_address for row in emails()] == [zh.email]


def test_failing_smtp_loses_nothing_and_is_retried(start_smtp, mail_config, recipients, now, caplog):
    zh, _ = recipients  # no server listens on the configured port yet
    with caplog.at_level(logging.WARNING):
        notify(zh, "mail_check", {"sent_at": now}, now=now)
        db.session.commit()  # the user's action stands
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 1
    [row] = emails()
    assert (row.status, row.attempts, row.sent_at) == ("pending", 1, None)
    assert "ConnectionRefusedError" in row.last_error
    assert row.next_attempt_at == now + timedelta(minutes=1)
    assert any(r.levelno == logging.WARNING and f"e-mail {row.id} not sent" in r.getMessage() for r in caplog.records)

    assert deliver_due_emails(now + timedelta(seconds=30)) == 0  # not due yet
    smtp = start_smtp()
    later = now + timedelta(minutes=2)
    assert deliver_due_emails(later) == 1
    assert len(smtp.envelopes) == 1
    [row] = emails()
    assert (row.status, row.attempts, row.sent_at) == ("sent", 2, later)
    assert deliver_due_emails(later + timedelta(hours=1)) == 0
    assert len(smtp.envelopes) == 1


def test_retries_back_off_and_end_as_failed(mail_config, recipients, now, caplog):
    mail_config["MAIL_MAX_ATTEMPTS"] = 12
    zh, _ = recipients
    notify(zh, "mail_check", {"sent_at": now}, now=now)
    db.session.commit()  # attempt 1 fails: nobody listens
    delays = []
    clock = now
    with caplog.at_level(logging.WARNING):
        for _ in range(11):
            [row] = emails()
            assert row.status == "pending"
            delays.append(row.next_attempt_at - clock)
            clock = row.next_attempt_at
            assert deliver_due_emails(clock) == 0
    [row] = emails()
    assert delays == [timedelta(minutes=m) for m in (1, 2, 4, 8, 16, 32, 64, 128, 256, 360, 360)]
    assert (row.status, row.attempts) == ("failed", 12)
    assert row.last_error  # kept for the administrator
    assert any(r.levelno == logging.ERROR and "failed for good" in r.getMessage() for r in caplog.records)
    assert deliver_due_emails(clock + timedelta(days=1)) == 0
    assert emails()[0].attempts == 12


def test_retry_delay_doubles_up_to_six_hours():
    assert [retry_delay(n) for n in (1, 2, 3, 9, 10, 50)] == [
        timedelta(minutes=1), timedelta(minutes=2), timedelta(minutes=4), timedelta(minutes=256),
        timedelta(hours=6), timedelta(hours=6)]


def test_refused_recipient_does_not_hold_back_the_others(smtp, mail_config, create_user, now):
    mail_config["MAIL_SEND_AFTER_COMMIT"] = False
    users = [create_user("officer", email=f"u{n}@example.cn") for n in range(3)]
    smtp.refuse.add("u1@example.cn")
    notify_many(users, "mail_check", {"sent_at": now}, now=now)
    db.session.commit()
    assert smtp.envelopes == []  # left to the scheduler
    assert deliver_due_emails(now) == 2
    assert sorted(e.rcpt_tos[0] for e in smtp.envelopes) == ["u0@example.cn", "u2@example.cn"]
    statuses = {row.to_address: (row.status, row.attempts) for row in emails()}
    assert statuses == {"u0@example.cn": ("sent", 1), "u1@example.cn": ("pending", 1), "u2@example.cn": ("sent", 1)}
    assert "550" in emails()[1].last_error


def test_deliver_due_emails_oldest_first_within_limit(smtp, mail_config, create_user, now):
    mail_config["MAIL_SEND_AFTER_COMMIT"] = False
    users = [create_user("officer", email=f"u{n}@example.cn") for n in range(3)]
    for minutes, user in zip((5, 1, 3), users, strict=True):
        notify(user, "mail_check", {"sent_at": now}, now=now + timedelta(minutes=minutes))
    db.session.commit()
    assert deliver_due_emails(now + timedelta(minutes=10), limit=2) == 2
    assert [e.rcpt_tos[0] for e in smtp.envelopes] == ["u1@example.cn", "u2@example.cn"]
    assert deliver_due_emails(now + timedelta(minutes=10)) == 1
    assert deliver_due_emails(now + timedelta(minutes=10)) == 0
    assert len(smtp.envelopes) == 3


def test_an_email_another_runner_claimed_is_not_sent_twice(smtp, mail_config, recipients, now):
    mail_config["MAIL_SEND_AFTER_COMMIT"] = False
    zh, _ = recipients
    notify(zh, "mail_check", {"sent_at": now}, now=now)
    db.session.commit()
    claimed = notify_module._claim_next_due(now)  # another runner is in the middle of sending it
    assert claimed is not None
    assert deliver_due_emails(now + timedelta(minutes=1)) == 0
    assert smtp.envelopes == []
    # Had that runner died, the e-mail goes out once its claim has lapsed.
    assert deliver_due_emails(now + notify_module.CLAIM_LEASE) == 1
    assert len(smtp.envelopes) == 1


def test_concurrent_runners_send_each_email_once(app, smtp, mail_config, create_user, now):
    mail_config["MAIL_SEND_AFTER_COMMIT"] = False
    users = [create_user("officer", email=f"u{n}@example.cn") for n in range(12)]
    notify_many(users, "mail_check", {"sent_at": now}, now=now)
    db.session.commit()
    counts, errors = [], []

    def run():
        try:
            with app.app_context():
                counts.append(deliver_due_emails(now))
        except Exception as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(counts) == 12
    assert sorted(e.rcpt_tos[0] for e in smtp.envelopes) == sorted(u.email for u in users)
    assert {(row.status, row.attempts) for row in emails()} == {("sent", 1)}


def test_mail_disabled_keeps_the_inbox_and_queues_no_email(smtp, mail_config, recipients, now):
    mail_config["MAIL_ENABLED"] = False
    zh, _ = recipients
    notify(zh, "mail_check", {"sent_at": now}, now=now)
    db.session.commit()
    assert unread_count(zh) == 1
    assert emails() == []
    assert smtp.envelopes == []


def test_no_email_without_address_inactive_account_or_when_not_wanted(smtp, create_user, now):
    no_address = create_user("officer", email="")
    inactive = create_user("officer", email="gone@example.cn", active=False)
    wanted_inbox_only = create_user("officer", email="quiet@example.cn")
    notify(no_address, "mail_check", {"sent_at": now}, now=now)
    notify(inactive, "mail_check", {"sent_at": now}, now=now)
    notify(wanted_inbox_only, "mail_check", {"sent_at": now}, email=False, now=now)
    db.session.commit()
    assert db.session.scalar(sa.select(sa.func.count()).select_from(Notification)) == 3
    assert emails() == []
    assert smtp.envelopes == []


def test_email_carries_the_absolute_link_when_the_portal_address_is_known(smtp, mail_config, recipients, now):
    mail_config["PORTAL_BASE_URL"] = "https://mca.example.cn/"
    zh, _ = recipients
    notify(zh, "mail_check", {"sent_at": now}, link="/inbox", now=now)
    db.session.commit()
    assert "https://mca.example.cn/inbox" in smtp.messages[0].get_content()


def test_link_must_be_a_path_on_this_site(recipients, now):
    zh, _ = recipients
    for link in ("https://evil.example.com/", "//evil.example.com", "javascript:alert(1)"):
        with pytest.raises(ValueError):
            notify(zh, "mail_check", {"sent_at": now}, link=link, now=now)


def test_notify_many_sends_each_user_once(smtp, recipients, now):
    zh, en = recipients
    notes = notify_many([zh, en, zh], "mail_check", {"sent_at": now}, now=now)
    db.session.commit()
    assert [n.user_id for n in notes] == [zh.id, en.id]
    assert len(smtp.envelopes) == 2


def test_mark_read_and_unread_count(recipients, now):
    zh, en = recipients
    first = notify(zh, "mail_check", {"sent_at": now}, now=now)
    notify(zh, "mail_check", {"sent_at": now}, now=now)
    notify(en, "mail_check", {"sent_at": now}, now=now)
    db.session.commit()
    assert (unread_count(zh), unread_count(en)) == (2, 1)
    mark_read(first, now=now + timedelta(minutes=1))
    db.session.commit()
    assert unread_count(zh) == 1
    assert mark_all_read(zh, now=now + timedelta(minutes=2)) == 1
    db.session.commit()
    db.session.expire_all()
    assert (unread_count(zh), unread_count(en)) == (0, 1)
    assert first.read_at == now + timedelta(minutes=1)


def test_delivery_is_a_scheduler_job():
    [job] = JOBS
    assert job["id"] == "notify.deliver_due_emails" and job["func"] is deliver_due_emails
