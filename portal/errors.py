"""Domain errors and the HTTP error pages."""

from __future__ import annotations

from flask import jsonify, render_template, request
from flask_babel import lazy_gettext as _l


class DomainError(Exception):
    """A business rule was broken. The message is user-facing and translatable."""

    status_code = 400

    def __init__(self, message, **params):
        super().__init__(str(message))
        self.message = message
        self.params = params

    def __str__(self):
        text = str(self.message)
        return text % self.params if self.params else text


class NotAllowed(DomainError):
    status_code = 403


class Conflict(DomainError):
    status_code = 409


ERROR_TITLES = {
    400: _l("Bad request"),
    403: _l("Access denied"),
    404: _l("Page not found"),
    405: _l("Method not allowed"),
    413: _l("File too large"),
    429: _l("Too many attempts"),
    500: _l("Internal error"),
    503: _l("Service unavailable"),
}

ERROR_TEXTS = {
    400: _l("The request could not be understood. Please check what you entered and try again."),
    403: _l("You do not have permission to see this page or do this action."),
    404: _l("The page you asked for does not exist or has been removed."),
    405: _l("This address does not accept that kind of request."),
    413: _l("The uploaded file is larger than the portal accepts."),
    429: _l("Too many attempts. Please wait a while and try again."),
    500: _l("Something went wrong on our side. The error has been logged; please try again later."),
    503: _l("The service is temporarily unavailable. Please try again later."),
}


def render_error(code: int, message=None):
    """Render an error page (HTML, or JSON for API clients) with a translated text."""
    text = str(message) if message else str(ERROR_TEXTS.get(code, ERROR_TEXTS[500]))
    title = str(ERROR_TITLES.get(code, ERROR_TITLES[500]))
    if request.accept_mimetypes.best == "application/json" or request.path.startswith("/ocds/"):
        return jsonify(error=title, message=text), code
    return render_template("errors/error.html", code=code, title=title, text=text), code


def register_error_handlers(app):
    from flask_wtf.csrf import CSRFError
    from werkzeug.exceptions import HTTPException

    @app.errorhandler(HTTPException)
    def handle_http(exc):
        description = exc.description if getattr(exc, "portal_message", False) else None
        return render_error(exc.code or 500, description)

    @app.errorhandler(CSRFError)
    def handle_csrf(exc):
        return render_error(400, _l("The form has expired or did not come from this portal. "
                                    "Please go back, reload the page and try again."))

    @app.errorhandler(DomainError)
    def handle_domain(exc):
        return render_error(exc.status_code, str(exc))

    @app.errorhandler(Exception)
    def handle_unexpected(exc):
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        from portal.extensions import db

        db.session.rollback()
        return render_error(500)
