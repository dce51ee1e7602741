"""Running one service from a view: commit and say so, or roll back and say which rule was broken.

A platform helper for the thin views of every feature: the service raises ``DomainError`` with a translated
message; the view shows it as a flash and stays on its page, or commits and redirects.
"""

from __future__ import annotations

from flask import flash, redirect

from portal.errors import DomainError
from portal.extensions import db


def run_action(action, success_message, target: str):
    """Call ``action()``; on success commit, flash ``success_message`` (text or a callable) and return a redirect
    to ``target``; on a DomainError roll back, flash its message and return None."""
    try:
        action()
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return None
    db.session.commit()
    flash(success_message() if callable(success_message) else success_message, "success")
    return redirect(target)
