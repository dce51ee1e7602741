"""Flask-Login wiring: sessions carry the user id and a token that logout rotates."""

from __future__ import annotations

from flask_babel import lazy_gettext as _l

from portal.extensions import db, login_manager


def init_login(app):
    login_manager.login_view = "accounts.login"
    login_manager.login_message = _l("Please sign in to see this page.")
    login_manager.login_message_category = "warning"
    login_manager.session_protection = "strong"


@login_manager.user_loader
def load_user(session_id: str):
    from portal.accounts.models import User

    user_id, _, token = session_id.partition(":")
    if not user_id.isdigit() or not token:
        return None
    user = db.session.get(User, int(user_id))
    if user is None or not user.is_active or user.session_token != token:
        return None
    return user
