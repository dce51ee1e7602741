"""The public notice board, its Atom feed and the published audit anchors."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, time, timedelta

import sqlalchemy as sa
from flask import Blueprint, Response, abort, render_template, request
from flask_babel import gettext as _
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from portal.accounts.models import Organisation, OrgKind
from portal.db import LIKE_ESCAPE, like_pattern
from portal.extensions import db
from portal.files import send_stored
from portal.notices import NOTICE_KIND_LABELS, Notice, NoticeKind
from portal.projects.models import PLAN_LABELS, Plan, ServiceProject
from portal.public.anchor import AuditAnchor
from portal.public.feed import FEED_SIZE, atom_feed
from portal.tenders.models import METHOD_LABELS, Method, Tender
from portal.tenders.rules import beijing_instant
from portal.urls import MAX_ID, page_arg

bp = Blueprint("public", __name__, template_folder="templates")

NOTICES_PER_PAGE = 20
ANCHORS_PER_PAGE = 30
SEARCH_MAX = 100  # characters of the search text that are used
FIRST_YEAR, LAST_YEAR = 2000, 2099  # dates outside these years are refused (and cannot overflow)

FILTER_ERRORS = {
    "kind": _l("Choose a notice type from the list."),
    "bureau": _l("Choose a civil-affairs bureau from the list."),
    "method": _l("Choose a procurement method from the list."),
    "plan": _l("Choose a plan from the list."),
    "from": _l("Give the first publication date as YYYY-MM-DD (years 2000 to 2099)."),
    "to": _l("Give the last publication date as YYYY-MM-DD (years 2000 to 2099)."),
    "range": _l("The first publication date must not be after the last one."),
}


@dataclass
class BoardFilters:
    """The board's filters as read from the query string; ``errors`` maps a field to its message."""

    kind: str | None = None
    bureau_id: int | None = None
    method: str | None = None
    plan: str | None = None
    published_from: date | None = None
    published_to: date | None = None
    q: str = ""
    errors: dict = field(default_factory=dict)

    @property
    def active(self) -> bool:
        return any((self.kind, self.bureau_id, self.method, self.plan, self.published_from, self.published_to,
                    self.q))

    def args(self) -> dict[str, str]:
        """The filters as query-string arguments (for the pager and links), empty ones left out."""
        values = {"kind": self.kind, "bureau": self.bureau_id, "method": self.method, "plan": self.plan,
                  "from": self.published_from and self.published_from.isoformat(),
                  "to": self.published_to and self.published_to.isoformat(), "q": self.q}
        return {name: str(value) for name, value in values.items() if value}


def _choice(name: str, choices, filters: BoardFilters) -> str | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    if value not in set(choices):
        filters.errors[name] = FILTER_ERRORS[name]
        return None
    return value


def _day(name: str, filters: BoardFilters) -> date | None:
    value = (request.args.get(name) or "").strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value) if len(value) == 10 else None
    except ValueError:
        day = None
    if day is None or not FIRST_YEAR <= day.year <= LAST_YEAR:
        filters.errors[name] = FILTER_ERRORS[name]
        return None
    return day


def read_filters(bureau_ids: set[int]) -> BoardFilters:
    """Read and check the board's filters; a bad value is reported, never passed to the database."""
    filters = BoardFilters()
    filters.kind = _choice("kind", NoticeKind, filters)
    filters.method = _choice("method", Method, filters)
    filters.plan = _choice("plan", Plan, filters)
    bureau = (request.args.get("bureau") or "").strip()
    if bureau:
        if bureau.isdigit() and 0 < int(bureau) <= MAX_ID and int(bureau) in bureau_ids:
            filters.bureau_id = int(bureau)
        else:
            filters.errors["bureau"] = FILTER_ERRORS["bureau"]
    filters.published_from = _day("from", filters)
    filters.published_to = _day("to", filters)
    if filters.published_from and filters.published_to and filters.published_from > filters.published_to:
        filters.errors["range"] = FILTER_ERRORS["range"]
    filters.q = (request.args.get("q") or "").strip()[:SEARCH_MAX]
    return filters


def _notice_query(filters: BoardFilters):
    query = (sa.select(Notice).options(selectinload(Notice.bureau), selectinload(Notice.tender))
             .order_by(Notice.published_at.desc(), Notice.id.desc()))
    if filters.kind:
        query = query.where(Notice.kind == filters.kind)
    if filters.bureau_id:
        query = query.where(Notice.bureau_id == filters.bureau_id)
    if filters.method or filters.plan:
        query = query.join(Tender, Notice.tender_id == Tender.id)
        if filters.method:
            query = query.where(Tender.method == filters.method)
        if filters.plan:
            query = (query.join(ServiceProject, Tender.project_id == ServiceProject.id)
                     .where(ServiceProject.plan == filters.plan))
    if filters.published_from:
        query = query.where(Notice.published_at >= beijing_instant(filters.published_from, time(0)))
    if filters.published_to:
        query = query.where(Notice.published_at < beijing_instant(filters.published_to + timedelta(days=1), time(0)))
    if filters.q:
        pattern = like_pattern(filters.q)
        query = query.where(sa.or_(Notice.title.ilike(pattern, escape=LIKE_ESCAPE),
                                   Notice.body.ilike(pattern, escape=LIKE_ESCAPE)))
    return query


@bp.get("/notices")
def notices():
    page = page_arg()
    bureaus = db.session.scalars(
        sa.select(Organisation).where(Organisation.kind == OrgKind.BUREAU).order_by(Organisation.name)).all()
    filters = read_filters({b.id for b in bureaus})
    context = {"bureau_options": [(b.id, b.name) for b in bureaus], "filters": filters,
               "notice_kinds": NOTICE_KIND_LABELS, "methods": METHOD_LABELS, "plans": PLAN_LABELS}
    if filters.errors:  # the form with the messages, no list (200 like any search page: nothing failed)
        return render_template("public/notices.html", results=None, **context)
    results = db.paginate(_notice_query(filters), page=page, per_page=NOTICES_PER_PAGE, error_out=False)
    if page > 1 and not results.items:
        abort(404)
    return render_template("public/notices.html", results=results, **context)


@bp.get("/notices.atom")
def notices_feed():
    newest = db.session.scalars(
        sa.select(Notice).options(selectinload(Notice.bureau))
        .order_by(Notice.published_at.desc(), Notice.id.desc()).limit(FEED_SIZE)).all()
    return Response(atom_feed(newest, title=_("Notices of the social-work services procurement portal")),
                    mimetype="application/atom+xml")


@bp.get("/notices/<int:notice_id>")
def notice(notice_id):
    notice = db.get_or_404(Notice, notice_id)
    return render_template("public/notice.html", notice=notice, notice_kinds=NOTICE_KIND_LABELS,
                           methods=METHOD_LABELS, plans=PLAN_LABELS)


@bp.get("/notices/<int:notice_id>.pdf")
def notice_pdf(notice_id):
    notice = db.get_or_404(Notice, notice_id)
    if notice.document is None:
        abort(404)
    return send_stored(notice.document.file)


@bp.get("/audit-anchors")
def audit_anchors():
    page = page_arg()
    query = sa.select(AuditAnchor).order_by(AuditAnchor.day.desc(), AuditAnchor.id.desc())
    results = db.paginate(query, page=page, per_page=ANCHORS_PER_PAGE, error_out=False)
    if page > 1 and not results.items:
        abort(404)
    return render_template("public/audit_anchors.html", results=results)
