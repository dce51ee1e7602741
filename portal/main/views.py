"""Landing page, the dashboard of each role, the language switch and the health check."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, current_app, jsonify, redirect, render_template, request, session, url_for
from flask_login import current_user, login_required
from sqlalchemy.orm import selectinload

from portal.accounts.models import SPECIALTY_LABELS, ExpertProfile, Organisation, OrgKind, User
from portal.db import utcnow
from portal.extensions import db
from portal.i18n import LANG_COOKIE
from portal.urls import safe_next

bp = Blueprint("main", __name__, template_folder="templates")


@bp.get("/")
def index():
    return render_template("main/index.html")


@bp.get("/healthz")
def healthz():
    try:
        db.session.execute(sa.text("SELECT 1"))
    except sa.exc.SQLAlchemyError:
        current_app.logger.exception("health check: database unreachable")
        db.session.rollback()
        return jsonify(status="error", database="unreachable"), 503
    return jsonify(status="ok", database="ok")


@bp.post("/language")
def set_language():
    """Switch the interface language and remember it (cookie, session and the user's profile)."""
    from portal.forms import ActionForm

    lang = request.form.get("lang", "")
    target = safe_next(request.form.get("next")) or url_for("main.index")
    if not ActionForm().validate_on_submit() or lang not in current_app.config["PORTAL_LANGUAGES"]:
        return redirect(target)
    session["lang"] = lang
    if current_user.is_authenticated and current_user.locale != lang:
        current_user.locale = lang
        db.session.commit()
    response = redirect(target)
    response.set_cookie(LANG_COOKIE, lang, max_age=365 * 24 * 3600, samesite="Lax", httponly=True,
                        secure=current_app.config["PORTAL_HTTPS"])
    return response


def _admin_dashboard() -> dict:
    pending = db.session.scalars(
        sa.select(User).where(User.approved.is_(False)).options(selectinload(User.organisation)).order_by(User.id)
    ).all()
    counts = dict(db.session.execute(sa.select(User.role, sa.func.count()).group_by(User.role)).all())
    return {"pending": pending, "counts": counts}


def _officer_dashboard() -> dict:
    from portal.projects.models import ServiceProject
    from portal.tenders.models import Tender, TenderStatus

    bureau = current_user.organisation
    districts = db.session.scalars(
        sa.select(Organisation).where(Organisation.parent_id == bureau.id).order_by(Organisation.name)
    ).all() if bureau.is_city_bureau else []
    bureau_ids = [bureau.id] + [d.id for d in districts]
    supplier_count = db.session.scalar(
        sa.select(sa.func.count()).select_from(Organisation).where(
            Organisation.kind == OrgKind.SUPPLIER, Organisation.status == "active")
    )
    projects = db.session.scalars(
        sa.select(ServiceProject).where(ServiceProject.bureau_id.in_(bureau_ids))
        .order_by(ServiceProject.id.desc()).limit(5)).all()  # the newest, by the primary key's index
    live = (TenderStatus.DRAFT, TenderStatus.PUBLISHED, TenderStatus.NEGOTIATING, TenderStatus.OPENED,
            TenderStatus.EVALUATING)
    tenders = db.session.scalars(
        sa.select(Tender).where(Tender.bureau_id.in_(bureau_ids), Tender.status.in_(live))
        .order_by(Tender.bid_deadline.is_(None), Tender.bid_deadline, Tender.created_at.desc()).limit(10)).all()
    from portal.contracts.services import dashboard_contracts
    from portal.evaluation.committee import awaiting_committee

    return {"bureau": bureau, "districts": districts, "supplier_count": supplier_count, "projects": projects,
            "tenders": tenders, "now": utcnow(), "awaiting_committee": awaiting_committee(tenders),
            "contracts": dashboard_contracts(current_user)}


def _supplier_dashboard() -> dict:
    from portal.tenders.models import Bid, BidStatus, Method, Tender, TenderInvitation, TenderStatus

    org = current_user.organisation
    now = utcnow()
    invited = sa.select(TenderInvitation.tender_id).where(TenderInvitation.supplier_id == org.id)
    open_tenders = db.session.scalars(
        sa.select(Tender).where(Tender.status == TenderStatus.PUBLISHED, Tender.bid_deadline > now,
                                sa.or_(Tender.method == Method.OPEN, Tender.id.in_(invited)))
        .options(selectinload(Tender.bureau)).order_by(Tender.bid_deadline).limit(20)).all()
    bids = db.session.scalars(
        sa.select(Bid).where(Bid.supplier_id == org.id, Bid.status == BidStatus.SUBMITTED)
        .options(selectinload(Bid.tender)).order_by(Bid.received_at.desc()).limit(20)).all()
    from portal.contracts.services import dashboard_contracts

    return {"org": org, "open_tenders": open_tenders, "bids": bids, "now": now,
            "contracts": dashboard_contracts(current_user)}


def _evaluator_dashboard() -> dict:
    from portal.evaluation.committee import SEAT_TASK_LABELS, member_tasks

    profile = db.session.scalar(
        sa.select(ExpertProfile).where(ExpertProfile.user_id == current_user.id)
        .options(selectinload(ExpertProfile.affiliations))
    )
    return {"profile": profile, "specialty_labels": SPECIALTY_LABELS, "seats": member_tasks(current_user),
            "seat_task_labels": SEAT_TASK_LABELS}


DASHBOARDS = {
    "admin": _admin_dashboard,
    "officer": _officer_dashboard,
    "evaluator": _evaluator_dashboard,
    "supplier": _supplier_dashboard,
}


@bp.get("/dashboard")
@login_required
def dashboard():
    context = DASHBOARDS[current_user.role]()
    return render_template(f"main/dashboard_{current_user.role}.html", **context)


