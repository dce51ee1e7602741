"""Excel exports of the registers for officers and administrators: a page listing them and one download each."""

from __future__ import annotations

from flask import render_template
from flask_login import current_user

from portal.db import utcnow
from portal.files import XLSX, send_bytes
from portal.permissions import Role, role_required
from portal.public.exports import REGISTERS, export
from portal.public.views import bp


@bp.get("/exports")
@role_required(Role.OFFICER, Role.ADMIN)
def exports():
    return render_template("public/exports.html", registers=REGISTERS.values())


def _download(key: str):
    @role_required(Role.OFFICER, Role.ADMIN)
    def view():
        # The object rule is applied by the query: only rows of the bureaus the user oversees (exports.py).
        data, name = export(key, current_user, utcnow())
        return send_bytes(data, XLSX, name)

    view.__name__ = f"export_{key}"
    return view


for _key in REGISTERS:
    bp.add_url_rule(f"/exports/{_key}.xlsx", f"export_{_key}", _download(_key), methods=["GET"])
