"""The procurement and contract portal for government purchase of social-work services."""

from __future__ import annotations

from flask import Flask

from portal.config import PROJECT_ROOT, load_config


def create_app(config: dict | None = None) -> Flask:
    """Build the application; ``config`` overrides settings (used by tests)."""
    settings = load_config(config)
    app = Flask(
        __name__,
        instance_path=settings["INSTANCE_PATH"],
        static_folder=str(PROJECT_ROOT / "static"),
        static_url_path="/static",
    )
    app.config.update(settings)

    from portal import i18n, pdf, security
    from portal.db import configure_engine_events, include_object
    from portal.errors import register_error_handlers
    from portal.extensions import babel, csrf, db, login_manager, migrate

    configure_engine_events()
    db.init_app(app)
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"), include_object=include_object)
    csrf.init_app(app)
    babel.init_app(app, locale_selector=i18n.select_locale, timezone_selector=i18n.select_timezone)
    login_manager.init_app(app)
    security.init_app(app)
    i18n.init_app(app)
    pdf.init_app(app)
    register_error_handlers(app)

    # Platform modules with models of their own, then the features in lifecycle order.
    from portal import (  # noqa: F401
        accounts,
        assessment,
        contracts,
        evaluation,
        files,
        main,
        notices,
        notify,
        projects,
        public,
        reviews,
        scheduler,
        sealing,
        tenders,
    )
    from portal.cli import register_cli

    for feature in (main, accounts, notify, projects, tenders, evaluation, contracts, reviews, assessment, public):
        feature.init_app(app)
    register_cli(app)

    from portal.permissions import init_app as init_permissions

    init_permissions(app)
    return app
