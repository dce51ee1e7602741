"""``make bench`` (``python -m bench.run``): generate or reuse the data, measure, write docs/PERFORMANCE.md.

``BENCH_SCALE`` (city, province, tiny) and ``BENCH_DB`` (sqlite, postgresql) choose the run; the SQLite file and the
keys live in ``instance/bench/<db>-<scale>/``, the PostgreSQL data in the database ``portal_bench_<scale>`` on
``BENCH_PG_SERVER``. Query counts and the contract PDF are measured in-process; the pages under gunicorn with ab."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path

import click
import sqlalchemy as sa

from bench.app import bench_app, with_ping
from bench.load import Server, ab, session_cookies
from bench.measure import first_contract_pdf, pages, query_counts, stored_contract_pdf
from bench.report import machine, runs_in_doc, save_result, write_doc
from portal.config import PROJECT_ROOT
from portal.extensions import db

BENCH_ROOT = PROJECT_ROOT / "instance" / "bench"
DOC = PROJECT_ROOT / "docs" / "PERFORMANCE.md"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
WARM_UP = 20


def database_url(db_kind: str, scale: str, pg_server: str, instance: Path) -> str:
    """The benchmark database's URL; on PostgreSQL the database is created when missing."""
    if db_kind == "sqlite":
        return f"sqlite:///{instance / 'portal.db'}"
    server = sa.make_url(pg_server).set(drivername="postgresql+psycopg")
    name = f"portal_bench_{scale}"
    engine = sa.create_engine(server, isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        if conn.scalar(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name}) is None:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    engine.dispose()
    return server.set(database=name).render_as_string(hide_password=False)


def generate(scale: str, url: str, instance: Path) -> dict:
    """Run the generator as a child (its progress bar on this terminal); its timings."""
    report = instance / "generation.json"
    command = [sys.executable, "-m", "bench.generate", "--scale", scale, "--database-url", url,
               "--instance", str(instance), "--report-json", str(report)]
    subprocess.run(command, cwd=PROJECT_ROOT, check=True)  # noqa: S603 - this interpreter, our module
    return json.loads(report.read_text())


def generation_text(instance: Path, latest: dict) -> str:
    """What to say about how the data was made: the run that wrote the rows, not a later no-op resume."""
    record = instance / "generation-first.json"
    if latest["written"]:
        record.write_text(json.dumps(latest))
    first = json.loads(record.read_text()) if record.exists() else latest
    return first["summary"]


def in_process(app) -> dict:
    """The contract PDF timings, query counts, row counts and the database version."""
    with app.app_context():
        contract_id, first = first_contract_pdf()
        found = pages(app)
        engine = db.engine
        rows = {name: db.session.scalar(sa.select(sa.func.count()).select_from(db.metadata.tables[name]))
                for name in ("tenders", "bids", "contracts", "reviews", "scores", "notices")}
        if engine.dialect.name == "postgresql":
            version = "PostgreSQL " + db.session.scalar(sa.text("SHOW server_version"))
        else:
            version = "SQLite " + db.session.scalar(sa.text("SELECT sqlite_version()"))
    pdf = {"first": first, "cached": stored_contract_pdf(app, contract_id)}
    return {"pdf": pdf, "pages": found, "queries": query_counts(app, engine, found), "rows": rows,
            "version": version}


def load_pages(server: Server, found, queries: dict, *, requests: int, concurrency: int) -> list[dict]:
    cookies = session_cookies(server.base)
    measured = []
    for page in found:
        url, jar = server.base + page.url, cookies if page.signed_in else []
        ab(url, requests=WARM_UP, concurrency=2, cookies=jar)
        result = ab(url, requests=requests, concurrency=concurrency, cookies=jar)
        if result.non_2xx:
            raise click.ClickException(f"{page.url}: {result.non_2xx} answers were not 2xx (see gunicorn.log)")
        click.echo(f"{page.key:<14} {result.requests_per_second:8.1f} req/s  p50 {result.p50_ms:6.0f} ms  "
                   f"p95 {result.p95_ms:6.0f} ms  non-2xx {result.non_2xx}")
        measured.append({"key": page.key, "label": page.label, "url": page.url, "queries": queries[page.key],
                         "rps": result.requests_per_second, "p50": result.p50_ms, "p95": result.p95_ms,
                         "non_2xx": result.non_2xx})
    return measured


@click.command()
@click.option("--scale", type=click.Choice(["tiny", "city", "province"]), default="city", envvar="BENCH_SCALE")
@click.option("--db", "db_kind", type=click.Choice(["sqlite", "postgresql"]), default="sqlite", envvar="BENCH_DB")
@click.option("--pg-server", default=DEFAULT_PG, envvar="BENCH_PG_SERVER", show_default=True)
@click.option("--requests", default=200, envvar="BENCH_REQUESTS", show_default=True, help="per page")
@click.option("--concurrency", default=8, envvar="BENCH_CONCURRENCY", show_default=True)
def main(scale: str, db_kind: str, pg_server: str, requests: int, concurrency: int) -> None:
    """Generate (or reuse) the data, measure every page, and write the tables to docs/PERFORMANCE.md."""
    name = f"{db_kind}-{scale}"
    instance = BENCH_ROOT / name
    instance.mkdir(parents=True, exist_ok=True)
    url = database_url(db_kind, scale, pg_server, instance)
    generation = generation_text(instance, generate(scale, url, instance))
    before = [round(x, 2) for x in os.getloadavg()]
    app = with_ping(bench_app(url, str(instance)))
    measured = in_process(app)
    server = Server(url, instance, instance / "gunicorn.log")
    try:
        results = load_pages(server, measured["pages"], measured["queries"], requests=requests,
                             concurrency=concurrency)
    finally:
        server.stop()
    run = {"database": db_kind, "scale": scale, "date": datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
           "machine": machine(measured["version"]), "loadavg": {"before": before,
                                                                "after": [round(x, 2) for x in os.getloadavg()]},
           "rows": measured["rows"], "generation": generation, "requests": requests, "concurrency": concurrency,
           "pages": results, "contract_pdf": measured["pdf"], "finished": time.time()}
    write_doc(DOC, save_result(BENCH_ROOT / "results.json", name, run, earlier=runs_in_doc(DOC)))
    click.echo(f"written to {DOC}")


if __name__ == "__main__":
    main()
