"""In-app notifications and e-mail, delivered only once the caller's transaction commits.

Inbox rows and e-mails are written in the caller's transaction (an outbox): a rolled-back
action leaves neither. After the commit, pending e-mails are handed to SMTP; a failure is
logged and retried later by the scheduler, never lost and never raised into the user's
action.

Sending never holds a database transaction open: an e-mail is first *claimed* by a short
UPDATE that pushes its next attempt past a lease (row-locked with SKIP LOCKED on
PostgreSQL, serialised by the write lock on SQLite), then sent, then its outcome is
written in a second short transaction. Two runners therefore never send one e-mail
twice; a runner that dies mid-send leaves the e-mail to be retried once the lease ends.
"""

from __future__ import annotations

import smtplib
import ssl
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, parseaddr

import sqlalchemy as sa
from flask import (
    Blueprint,
    current_app,
    has_app_context,
    has_request_context,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_babel import force_locale
from flask_login import current_user, login_required
from sqlalchemy.orm import Mapped, mapped_column

from portal.db import UTCDateTime, utcnow
from portal.extensions import db
from portal.forms import ActionForm
from portal.permissions import ensure
from portal.urls import page_arg, safe_next

SMTP_TIMEOUT = 10  # seconds, for each network operation
CLAIM_LEASE = timedelta(minutes=15)  # longer than any one SMTP exchange can take
MAX_RETRY_DELAY = timedelta(hours=6)
DEFAULT_MAX_ATTEMPTS = 12
PAGE_SIZE = 30

# Keys in Session.info: e-mails queued in the open transaction ({id: now}) and whether
# the outermost transaction committed.
_OUTBOX_KEY = "notify.outbox"
_COMMITTED_KEY = "notify.committed"


class Notification(db.Model):
    __tablename__ = "notifications"
    __table_args__ = (sa.Index("ix_notifications_user_unread", "user_id", "read_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    link: Mapped[str] = mapped_column(sa.String(500), nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    read_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    @property
    def is_read(self) -> bool:
        return self.read_at is not None

    def can_read(self, user) -> bool:
        """Only the recipient sees a notification or marks it read."""
        return user is not None and getattr(user, "is_authenticated", False) and user.id == self.user_id


class OutgoingEmail(db.Model):
    __tablename__ = "outgoing_emails"
    __table_args__ = (
        sa.CheckConstraint("status IN ('pending', 'sent', 'failed')", name="status"),
        sa.Index("ix_outgoing_emails_due", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"), index=True)
    to_address: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    subject: Mapped[str] = mapped_column(sa.String(300), nullable=False)
    body: Mapped[str] = mapped_column(sa.Text, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(10), nullable=False, default="pending")
    attempts: Mapped[int] = mapped_column(nullable=False, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    last_error: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


# ---------------------------------------------------------------- writing (in the caller's transaction)


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


def _render(template: str, context: dict, locale: str) -> tuple[str, str]:
    """Subject and body of ``notify/<template>`` in ``locale``."""
    env = current_app.jinja_env
    with force_locale(locale):
        subject = env.get_template(f"notify/{template}.subject.txt").render(context)
        body = env.get_template(f"notify/{template}.body.txt").render(context)
    return _one_line(subject), body.strip()


def _render_email(recipient, subject: str, body: str, link: str, locale: str) -> tuple[str, str]:
    """The e-mail around a notification: the portal's name in the subject, greeting, link and footer."""
    base_url = (current_app.config.get("PORTAL_BASE_URL") or "").rstrip("/")
    context = {"recipient": recipient, "subject": subject, "body": body,
               "link_url": f"{base_url}{link}" if link and base_url else ""}
    return _render("_email", context, locale)


def _locale_of(user) -> str:
    languages = current_app.config["PORTAL_LANGUAGES"]
    return user.locale if user.locale in languages else current_app.config["BABEL_DEFAULT_LOCALE"]


def _wants_email(user, email: bool) -> bool:
    return bool(email and user.email and user.is_active and current_app.config.get("MAIL_ENABLED"))


def notify_many(users: Iterable, template: str, context: dict, *, link: str = "", email: bool = True,
                now: datetime) -> list[Notification]:
    """Queue one notification (and e-mail) per user, each in the user's language; flushes, never commits."""
    if link and safe_next(link) != link:
        raise ValueError(f"a notification link must be a path on this site, not {link!r}")
    session = db.session
    rendered: dict[str, tuple[str, str]] = {}
    notifications, emails = [], []
    seen: set[int] = set()
    for user in users:
        if user.id in seen:
            continue
        seen.add(user.id)
        locale = _locale_of(user)
        if locale not in rendered:
            rendered[locale] = _render(template, context, locale)
        subject, body = rendered[locale]
        notifications.append(Notification(user_id=user.id, subject=subject, body=body, link=link, created_at=now))
        if _wants_email(user, email):
            mail_subject, mail_body = _render_email(user, subject, body, link, locale)
            emails.append(OutgoingEmail(user_id=user.id, to_address=user.email, subject=mail_subject,
                                        body=mail_body, status="pending", attempts=0, next_attempt_at=now,
                                        last_error="", created_at=now))
    session.add_all(notifications + emails)
    session.flush()
    if emails:
        session.info.setdefault(_OUTBOX_KEY, {}).update({mail.id: now for mail in emails})
    return notifications


def notify(user, template: str, context: dict, *, link: str = "", email: bool = True,
           now: datetime) -> Notification:
    """Queue a notification (and an e-mail) for ``user`` in the user's language; flushes, never commits.

    ``template`` names ``notify/<template>.subject.txt`` and ``.body.txt``; ``link`` is a
    path on this site. The e-mail goes out only after the caller's transaction commits.
    """
    return notify_many([user], template, context, link=link, email=email, now=now)[0]


def unread_count(user) -> int:
    """How many of the user's notifications are unread (one COUNT query)."""
    return db.session.scalar(
        sa.select(sa.func.count()).select_from(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
    ) or 0


def mark_read(notification: Notification, *, now: datetime) -> None:
    """Mark one notification read (again is harmless); flushes, never commits."""
    if notification.read_at is None:
        notification.read_at = now
        db.session.flush()


def mark_all_read(user, *, now: datetime) -> int:
    """Mark all the user's notifications read; returns how many were unread. Never commits."""
    result = db.session.execute(
        sa.update(Notification)
        .where(Notification.user_id == user.id, Notification.read_at.is_(None))
        .values(read_at=now)
    )
    return result.rowcount


# ---------------------------------------------------------------- delivery (outside the caller's transaction)


def retry_delay(attempts: int) -> timedelta:
    """Wait after the ``attempts``-th failure: 1, 2, 4, ... minutes, at most six hours."""
    return min(timedelta(minutes=2 ** min(max(attempts - 1, 0), 20)), MAX_RETRY_DELAY)


class _Mailer:
    """One SMTP connection, opened on the first message and reused for the next ones."""

    def __init__(self, config):
        self.config = config
        self.smtp: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        config = self.config
        smtp = smtplib.SMTP(config["MAIL_SERVER"], config["MAIL_PORT"], timeout=SMTP_TIMEOUT)
        try:
            if config.get("MAIL_USE_TLS"):
                smtp.starttls(context=ssl.create_default_context())
            if config.get("MAIL_USERNAME"):
                smtp.login(config["MAIL_USERNAME"], config.get("MAIL_PASSWORD", ""))
        except BaseException:
            smtp.close()
            raise
        return smtp

    def send(self, message: EmailMessage, to_address: str) -> None:
        if self.smtp is None:
            self.smtp = self._connect()
        try:
            self.smtp.send_message(message, from_addr=parseaddr(self.config["MAIL_SENDER"])[1],
                                   to_addrs=[to_address])
        except (smtplib.SMTPRecipientsRefused, smtplib.SMTPDataError):
            raise  # this message was refused; the connection is still good for the next
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.smtp is None:
            return
        smtp, self.smtp = self.smtp, None
        try:
            smtp.quit()
        except Exception:  # noqa: S110 - closing a broken connection; the socket is closed below
            pass
        finally:
            smtp.close()


def _build_message(row, now: datetime, sender: str) -> EmailMessage:
    domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
    message = EmailMessage()
    message["Subject"] = row.subject
    message["From"] = sender
    message["To"] = row.to_address
    message["Date"] = format_datetime(now)
    # Stable across retries, so a receiver can drop a copy sent twice after a crash.
    message["Message-ID"] = f"<outbox.{row.id}.{int(row.created_at.timestamp())}@{domain}>"
    message["Auto-Submitted"] = "auto-generated"
    # base64 for Chinese text: 8-bit bodies are refused by relays without 8BITMIME.
    message.set_content(row.body, charset="utf-8", cte=None if row.body.isascii() else "base64")
    return message


def _server_trouble(exc: BaseException) -> bool:
    """Whether the failure is the server's (stop this run) rather than this one message's."""
    return isinstance(exc, OSError) and not isinstance(exc, smtplib.SMTPRecipientsRefused | smtplib.SMTPDataError)


_TABLE = OutgoingEmail.__table__
_CLAIMED_COLUMNS = (_TABLE.c.id, _TABLE.c.to_address, _TABLE.c.subject, _TABLE.c.body, _TABLE.c.attempts,
                    _TABLE.c.created_at)


def _claim(where, now: datetime):
    """Take one pending e-mail matching ``where`` for this runner; None if there is none (left)."""
    with db.engine.begin() as conn:
        return conn.execute(
            _TABLE.update()
            .where(where, _TABLE.c.status == "pending", _TABLE.c.next_attempt_at <= now)
            .values(next_attempt_at=now + CLAIM_LEASE)
            .returning(*_CLAIMED_COLUMNS)
        ).first()


def _claim_next_due(now: datetime):
    due = (
        sa.select(_TABLE.c.id)
        .where(_TABLE.c.status == "pending", _TABLE.c.next_attempt_at <= now)
        .order_by(_TABLE.c.next_attempt_at, _TABLE.c.id)
        .limit(1)
        .with_for_update(skip_locked=True)
        .scalar_subquery()
    )
    return _claim(_TABLE.c.id == due, now)


def _record_sent(row, now: datetime) -> None:
    with db.engine.begin() as conn:
        conn.execute(_TABLE.update().where(_TABLE.c.id == row.id)
                     .values(status="sent", sent_at=now, attempts=row.attempts + 1))


def _record_failure(row, exc: BaseException, now: datetime) -> None:
    attempts = row.attempts + 1
    max_attempts = current_app.config.get("MAIL_MAX_ATTEMPTS", DEFAULT_MAX_ATTEMPTS)
    error = f"{type(exc).__name__}: {exc}"[:2000]
    values = {"attempts": attempts, "last_error": error, "next_attempt_at": now + retry_delay(attempts)}
    if attempts >= max_attempts:
        values["status"] = "failed"
    with db.engine.begin() as conn:
        conn.execute(_TABLE.update().where(_TABLE.c.id == row.id).values(**values))
    if attempts >= max_attempts:
        current_app.logger.error("e-mail %s failed for good after %d attempts: %s", row.id, attempts, error)
    else:
        current_app.logger.warning("e-mail %s not sent (attempt %d of %d), next try at %s: %s", row.id, attempts,
                                   max_attempts, values["next_attempt_at"].isoformat(), error)


def _send_claimed(claim_next: Callable[[], object], now: datetime, limit: int) -> int:
    """Claim, send and record e-mails until ``claim_next`` has none or ``limit`` is reached."""
    config = current_app.config
    mailer = _Mailer(config)
    sent = 0
    try:
        for _ in range(limit):
            row = claim_next()
            if row is None:
                break
            try:
                mailer.send(_build_message(row, now, config["MAIL_SENDER"]), row.to_address)
            except Exception as exc:
                _record_failure(row, exc, now)
                if _server_trouble(exc):
                    break  # the rest stay due and are tried on the next run
            else:
                _record_sent(row, now)
                sent += 1
    finally:
        mailer.close()
    return sent


def deliver_due_emails(now: datetime, *, limit: int = 100) -> int:
    """Send pending e-mails that are due, oldest first (scheduler job); returns how many were sent."""
    if not current_app.config.get("MAIL_ENABLED"):
        return 0
    return _send_claimed(lambda: _claim_next_due(now), now, limit)


def _deliver_outbox(outbox: dict[int, datetime]) -> int:
    """Send the e-mails one transaction queued, right after it committed."""
    items = iter(sorted(outbox.items()))

    def claim_next():
        for email_id, queued_at in items:
            row = _claim(_TABLE.c.id == email_id, queued_at)
            if row is not None:
                return row
        return None

    return _send_claimed(claim_next, max(outbox.values()), len(outbox))


JOBS = [{"id": "notify.deliver_due_emails", "func": deliver_due_emails, "minutes": 1}]


# ---------------------------------------------------------------- session events


def _remember_commit(session) -> None:
    # after_commit also fires when a savepoint is released; only the outermost commit counts.
    if session.info.get(_OUTBOX_KEY) and not session.in_nested_transaction():
        session.info[_COMMITTED_KEY] = True


def _after_transaction_end(session, transaction) -> None:
    if transaction.parent is not None:
        return
    outbox = session.info.pop(_OUTBOX_KEY, None)
    committed = session.info.pop(_COMMITTED_KEY, False)
    if not (outbox and committed and has_app_context()):
        return  # rolled back (nothing to send), or left to the scheduler
    config = current_app.config
    if not (config.get("MAIL_ENABLED") and config.get("MAIL_SEND_AFTER_COMMIT", True)):
        return
    try:
        _deliver_outbox(outbox)
    except Exception:
        # The e-mails are safe in the outbox; the scheduler retries them. The user's action stands.
        current_app.logger.warning("sending e-mails %s after commit failed", sorted(outbox), exc_info=True)


def _listen(target, name: str, fn) -> None:
    if not sa.event.contains(target, name, fn):
        sa.event.listen(target, name, fn)


# db.session is scoped: these attach to Flask-SQLAlchemy's Session class, so they fire for
# every request's and job's session, and not for the plain connections used for sending.
_listen(db.session, "after_commit", _remember_commit)
_listen(db.session, "after_transaction_end", _after_transaction_end)


# ---------------------------------------------------------------- inbox

bp = Blueprint("notify", __name__)


@bp.get("/inbox")
@login_required
def inbox():
    page = page_arg()
    query = (sa.select(Notification).where(Notification.user_id == current_user.id)
             .order_by(Notification.created_at.desc(), Notification.id.desc()))
    notifications = db.paginate(query, page=page, per_page=PAGE_SIZE, error_out=False)
    return render_template("notify/inbox.html", notifications=notifications, action_form=ActionForm())


@bp.post("/inbox/<int:notification_id>/read")
@login_required
def read(notification_id: int):
    notification = db.get_or_404(Notification, notification_id)
    ensure(notification.can_read(current_user))
    mark_read(notification, now=utcnow())
    db.session.commit()
    return redirect(safe_next(request.form.get("next")) or url_for("notify.inbox"))


@bp.post("/inbox/read-all")
@login_required
def read_all():
    mark_all_read(current_user, now=utcnow())
    db.session.commit()
    return redirect(url_for("notify.inbox"))


@bp.app_context_processor
def inject_unread_count():
    # Templates are also rendered outside requests (PDFs, jobs), where there is no user.
    if not (has_request_context() and getattr(current_user, "is_authenticated", False)):
        return {}
    try:
        return {"unread_count": unread_count(current_user)}
    except sa.exc.SQLAlchemyError:
        # An error page must still render when the database is the problem.
        current_app.logger.warning("could not count unread notifications", exc_info=True)
        return {"unread_count": 0}


def init_app(app) -> None:
    app.register_blueprint(bp)
