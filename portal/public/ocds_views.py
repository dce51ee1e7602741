"""OCDS open data endpoints: the release package (paged, ``since``) and one process's releases."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click
from flask import abort, current_app, jsonify, request, url_for
from flask.cli import AppGroup

from portal.db import utcnow
from portal.public import ocds
from portal.public.views import bp
from portal.urls import page_arg


def _since() -> datetime | None:
    raw = (request.args.get("since") or "").strip()
    if not raw:
        return None
    try:
        since = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        abort(400)
    return since if since.tzinfo else since.replace(tzinfo=UTC)


@bp.get("/ocds/releases.json")
def ocds_releases():
    page = page_arg()
    since = _since()
    found = ocds.release_page(page, since=since)
    if found is None:
        abort(404)
    releases, more = found
    args = {"since": request.args["since"]} if since else {}
    data = ocds.package(releases, uri=url_for("public.ocds_releases", page=page, _external=True, **args),
                        now=utcnow())
    if more:
        data["links"] = {"next": url_for("public.ocds_releases", page=page + 1, _external=True, **args)}
    return jsonify(data)


@bp.get("/ocds/<ocid>.json")
def ocds_process(ocid):
    releases = ocds.process_releases(ocid)
    if not releases:
        abort(404)
    return jsonify(ocds.package(releases, uri=url_for("public.ocds_process", ocid=ocid, _external=True),
                                now=utcnow()))


ocds_cli = AppGroup("ocds", help="OCDS open data.")


@ocds_cli.command("export")
@click.option("--output", "output", required=True, type=click.Path(dir_okay=False, writable=True),
              help="The file to write the full release package to (JSON, UTF-8).")
def ocds_export(output):
    """Write every release of every published process as one OCDS 1.1 release package."""
    releases = ocds.all_releases()
    if not releases:
        click.echo("No published processes: nothing to export.", err=True)
        raise SystemExit(1)
    base = current_app.config.get("PORTAL_BASE_URL") or "http://localhost"
    data = ocds.package(releases, uri=f"{base}/ocds/releases.json", now=utcnow())
    with open(output, "w", encoding="utf-8") as fh:
        json.dump(data, fh, ensure_ascii=False, indent=1)
    click.echo(f"Wrote {len(releases)} releases to {output}")
