"""The public notice board."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, render_template, request
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organisation, OrgKind
from portal.db import LIKE_ESCAPE, like_pattern
from portal.extensions import db
from portal.files import send_stored
from portal.notices import NOTICE_KIND_LABELS, Notice, NoticeKind
from portal.urls import id_arg, page_arg

bp = Blueprint("public", __name__, template_folder="templates")

NOTICES_PER_PAGE = 20
SEARCH_MAX = 100  # characters of the search text that are used


def _notice_query(kind: str | None, bureau_id: int | None, q: str):
    query = (sa.select(Notice).options(selectinload(Notice.bureau), selectinload(Notice.tender))
             .order_by(Notice.published_at.desc(), Notice.id.desc()))
    if kind:
        query = query.where(Notice.kind == kind)
    if bureau_id:
        query = query.where(Notice.bureau_id == bureau_id)
    if q:
        pattern = like_pattern(q)
        query = query.where(sa.or_(Notice.title.ilike(pattern, escape=LIKE_ESCAPE),
                                   Notice.body.ilike(pattern, escape=LIKE_ESCAPE)))
    return query


@bp.get("/notices")
def notices():
    page = page_arg()
    kind = request.args.get("kind") if request.args.get("kind") in set(NoticeKind) else None
    bureau_id = id_arg("bureau")
    q = (request.args.get("q") or "").strip()[:SEARCH_MAX]
    results = db.paginate(_notice_query(kind, bureau_id, q), page=page, per_page=NOTICES_PER_PAGE, error_out=False)
    if page > 1 and not results.items:
        abort(404)
    bureaus = db.session.scalars(
        sa.select(Organisation).where(Organisation.kind == OrgKind.BUREAU).order_by(Organisation.name)).all()
    return render_template("public/notices.html", results=results, bureaus=bureaus, kind=kind,
                           bureau_id=bureau_id, q=q, notice_kinds=NOTICE_KIND_LABELS)


@bp.get("/notices/<int:notice_id>")
def notice(notice_id):
    notice = db.get_or_404(Notice, notice_id)
    return render_template("public/notice.html", notice=notice, notice_kinds=NOTICE_KIND_LABELS)


@bp.get("/notices/<int:notice_id>.pdf")
def notice_pdf(notice_id):
    notice = db.get_or_404(Notice, notice_id)
    if notice.document is None:
        abort(404)
    return send_stored(notice.document.file)
