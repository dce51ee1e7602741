"""The portal app as the benchmark runs it: a given database and instance folder (keys), plus one bare route
``/bench/ping`` that touches neither the database nor a template: the ceiling of the server."""

from __future__ import annotations

import os
from pathlib import Path

from portal import create_app
from portal.permissions import PUBLIC, ROUTE_MATRIX

PING = "bench.ping"


def bench_app(database_url: str, instance: str):
    """The portal on ``database_url`` with its development keys kept in ``instance``."""
    Path(instance).mkdir(parents=True, exist_ok=True)
    return create_app({"SQLALCHEMY_DATABASE_URI": database_url, "INSTANCE_PATH": str(Path(instance).resolve()),
                       "UPLOAD_FOLDER": str(Path(instance).resolve() / "uploads")})


def with_ping(app):
    """Add the bare endpoint (in the bench only; the route matrix lists it as public)."""
    ROUTE_MATRIX[PING] = PUBLIC
    app.add_url_rule("/bench/ping", PING, lambda: ("ok", 200, {"Content-Type": "text/plain"}))
    return app


def wsgi():
    """gunicorn entry point: ``gunicorn 'bench.app:wsgi()'`` with BENCH_DATABASE_URL and BENCH_INSTANCE set."""
    return with_ping(bench_app(os.environ["BENCH_DATABASE_URL"], os.environ["BENCH_INSTANCE"]))
