"""Commendation views: the city officer's lists (candidates by rule, entries, the 公示 with its comments,
confirmation), the public pages of publicised lists with the comment form, and the certificates."""

from __future__ import annotations

import sqlalchemy as sa
from flask import abort, redirect, render_template, url_for
from flask_babel import gettext as _
from flask_login import current_user
from sqlalchemy.orm import selectinload

from portal.assessment import commendations
from portal.assessment.commendation_forms import (
    AddCommendationForm,
    AnswerCommentForm,
    NewListForm,
    PublicCommentForm,
    WithdrawForm,
)
from portal.assessment.models import (
    LEVEL_LABELS,
    LIST_STATUS_LABELS,
    SUBJECT_LABELS,
    Commendation,
    CommendationList,
    ListStatus,
    PublicComment,
    is_city_officer,
)
from portal.assessment.views import bp, load_list, run
from portal.db import utcnow
from portal.extensions import db
from portal.files import send_stored
from portal.forms import ActionForm
from portal.permissions import Role, ensure, role_required
from portal.tenders.rules import local_date

STATUS_BADGES = {ListStatus.DRAFT: "draft", ListStatus.PUBLICISED: "open", ListStatus.CONFIRMED: "approved"}
LABELS = {"status_labels": LIST_STATUS_LABELS, "status_badges": STATUS_BADGES, "subject_labels": SUBJECT_LABELS,
          "level_labels": LEVEL_LABELS, "rule_labels": commendations.RULE_LABELS}
PUBLIC_STATUSES = (ListStatus.PUBLICISED, ListStatus.CONFIRMED)


def _render(page: str, status: int = 200, **context):
    return render_template(f"assessment/{page}", **LABELS, **context), status


def _detail(list_id: int) -> str:
    return url_for("assessment.commendation_detail", list_id=list_id)


def _public(list_id: int) -> str:
    return url_for("assessment.public_commendations", list_id=list_id)


def _load_entries(commendation_list: CommendationList) -> list[Commendation]:
    return list(db.session.scalars(
        sa.select(Commendation).where(Commendation.list_id == commendation_list.id)
        .options(selectinload(Commendation.organisation), selectinload(Commendation.project),
                 selectinload(Commendation.certificate))
        .order_by(Commendation.id)))


# --- The officer's pages -------------------------------------------------------------------------------------------


def _index_page(form=None, status: int = 200):
    counts = (sa.select(Commendation.list_id, sa.func.count(Commendation.id).label("entries"))
              .group_by(Commendation.list_id).subquery())
    query = (sa.select(CommendationList, sa.func.coalesce(counts.c.entries, 0))
             .outerjoin(counts, counts.c.list_id == CommendationList.id)
             .options(selectinload(CommendationList.bureau))
             .order_by(CommendationList.year.desc(), CommendationList.id.desc()))
    if current_user.role != Role.ADMIN:
        query = query.where(CommendationList.bureau_id == current_user.organisation_id)
    rows = db.session.execute(query).all()
    if form is None and is_city_officer(current_user):
        form = NewListForm(formdata=None, year=local_date(utcnow()).year)
    return _render("commendation_index.html", status, rows=rows, form=form)


@bp.get("/commendations")
@role_required(Role.OFFICER, Role.ADMIN)
def commendation_index():
    return _index_page()


@bp.post("/commendations")
@role_required(Role.OFFICER)
def new_commendation_list():
    ensure(is_city_officer(current_user))
    form = NewListForm()
    if not form.validate_on_submit():
        return _index_page(form, 400)
    made = []
    done = run(lambda: made.append(commendations.create_list(current_user.organisation, form.year.data,
                                                             actor=current_user, now=utcnow())),
               _("The commendation list is opened: choose among the candidates."),
               url_for("assessment.commendation_index"))
    return redirect(_detail(made[0].id)) if done is not None else _index_page(form, 422)


def _detail_page(commendation_list: CommendationList, status: int = 200, *, add=None, withdraw=None, answer=None):
    """The list's page; a form that failed comes back in ``add``/``withdraw``/``answer`` as (id, form)."""
    manage = commendation_list.can_manage(current_user)
    entries = _load_entries(commendation_list)
    draft = commendation_list.status == ListStatus.DRAFT
    on_list = {commendations.entry_key(c) for c in entries}
    comments = list(db.session.scalars(sa.select(PublicComment).where(PublicComment.list_id == commendation_list.id)
                                       .order_by(PublicComment.submitted_at, PublicComment.id)))
    today = local_date(utcnow())
    return _render(
        "commendation_detail.html", status, lst=commendation_list, manage=manage, entries=entries,
        candidates=commendations.candidates(commendation_list.bureau, commendation_list.year) if draft else [],
        on_list=on_list, comments=comments, today=today, entry_name=commendations.entry_name,
        open_for_comment=commendations.is_open_for_comment(commendation_list, today),
        unanswered=sum(1 for c in comments if c.responded_at is None),
        add=add or (None, AddCommendationForm(formdata=None)), withdraw=withdraw or (None, WithdrawForm(formdata=None)),
        answer=answer or (None, AnswerCommentForm(formdata=None)), action_form=ActionForm())


@bp.get("/commendations/<int:list_id>")
@role_required(Role.OFFICER, Role.ADMIN)
def commendation_detail(list_id):
    commendation_list = load_list(list_id)
    ensure(commendation_list.can_view(current_user))
    return _detail_page(commendation_list)


@bp.post("/commendations/<int:list_id>/entries")
@role_required(Role.OFFICER)
def add_commendation(list_id):
    commendation_list = load_list(list_id)
    ensure(commendation_list.can_manage(current_user))
    form = AddCommendationForm()
    if not form.validate_on_submit():
        return _detail_page(commendation_list, 400, add=(form.key.data, form))
    return run(lambda: commendations.add_commendation(commendation_list, key=form.key.data, level=form.level.data,
                                                      reason=form.reason.data or "", actor=current_user, now=utcnow()),
               _("Added to the commendation list."), _detail(list_id)) \
        or _detail_page(commendation_list, 422, add=(form.key.data, form))


def _entry(commendation_id: int) -> Commendation:
    commendation = db.get_or_404(Commendation, commendation_id)
    ensure(commendation.commendation_list.can_manage(current_user))
    return commendation


@bp.post("/commendations/entries/<int:commendation_id>/remove")
@role_required(Role.OFFICER)
def remove_commendation(commendation_id):
    commendation = _entry(commendation_id)
    commendation_list = commendation.commendation_list
    if not ActionForm().validate_on_submit():
        return _detail_page(commendation_list, 400)
    return run(lambda: commendations.remove_commendation(commendation, actor=current_user, now=utcnow()),
               _("Removed from the commendation list."), _detail(commendation_list.id)) \
        or _detail_page(commendation_list, 422)


@bp.post("/commendations/entries/<int:commendation_id>/withdraw")
@role_required(Role.OFFICER)
def withdraw_commendation(commendation_id):
    commendation = _entry(commendation_id)
    commendation_list = commendation.commendation_list
    form = WithdrawForm()
    if not form.validate_on_submit():
        return _detail_page(commendation_list, 400, withdraw=(commendation_id, form))
    return run(lambda: commendations.withdraw_commendation(commendation, reason=form.reason.data, actor=current_user,
                                                           now=utcnow()),
               _("The entry is withdrawn from the list."), _detail(commendation_list.id)) \
        or _detail_page(commendation_list, 422, withdraw=(commendation_id, form))


@bp.post("/commendations/<int:list_id>/publicise")
@role_required(Role.OFFICER)
def publicise_commendations(list_id):
    commendation_list = load_list(list_id)
    ensure(commendation_list.can_manage(current_user))
    if not ActionForm().validate_on_submit():
        return _detail_page(commendation_list, 400)
    return run(lambda: commendations.publicise(commendation_list, actor=current_user, now=utcnow()),
               _("The list is publicised (公示): the public may comment for 5 working days."), _detail(list_id)) \
        or _detail_page(commendation_list, 422)


@bp.post("/commendations/comments/<int:comment_id>/answer")
@role_required(Role.OFFICER)
def answer_commendation_comment(comment_id):
    comment = db.get_or_404(PublicComment, comment_id)
    commendation_list = comment.commendation_list
    ensure(commendation_list.can_manage(current_user))
    form = AnswerCommentForm()
    if not form.validate_on_submit():
        return _detail_page(commendation_list, 400, answer=(comment_id, form))
    return run(lambda: commendations.answer_comment(comment, response=form.response.data, actor=current_user,
                                                    now=utcnow()),
               _("The comment is answered."), _detail(commendation_list.id)) \
        or _detail_page(commendation_list, 422, answer=(comment_id, form))


@bp.post("/commendations/<int:list_id>/confirm")
@role_required(Role.OFFICER)
def confirm_commendations(list_id):
    commendation_list = load_list(list_id)
    ensure(commendation_list.can_manage(current_user))
    if not ActionForm().validate_on_submit():
        return _detail_page(commendation_list, 400)
    return run(lambda: commendations.confirm(commendation_list, actor=current_user, now=utcnow()),
               _("The commendation list is confirmed and published; the certificates are issued."),
               _detail(list_id)) or _detail_page(commendation_list, 422)


# --- The public pages ----------------------------------------------------------------------------------------------


def _published(list_id: int) -> CommendationList:
    """A list the public may see: publicised or confirmed (a draft does not exist for the public)."""
    commendation_list = load_list(list_id)
    if commendation_list.status not in PUBLIC_STATUSES:
        abort(404)
    return commendation_list


@bp.get("/public/commendations")
def public_commendation_lists():
    lists = db.session.scalars(sa.select(CommendationList).where(CommendationList.status.in_(PUBLIC_STATUSES))
                               .options(selectinload(CommendationList.bureau))
                               .order_by(CommendationList.year.desc(), CommendationList.id.desc())).all()
    return _render("commendation_public_index.html", lists=lists)


def _public_page(commendation_list: CommendationList, status: int = 200, form=None):
    today = local_date(utcnow())
    open_for_comment = commendations.is_open_for_comment(commendation_list, today)
    if form is None and open_for_comment:
        form = PublicCommentForm(formdata=None)
    return _render("commendation_public.html", status, lst=commendation_list,
                   entries=_load_entries(commendation_list), entry_name=commendations.entry_name,
                   open_for_comment=open_for_comment, form=form)


@bp.get("/public/commendations/<int:list_id>")
def public_commendations(list_id):
    return _public_page(_published(list_id))


@bp.post("/public/commendations/<int:list_id>/comments")
def comment_on_commendations(list_id):
    commendation_list = _published(list_id)
    form = PublicCommentForm()
    if not form.validate_on_submit():
        return _public_page(commendation_list, 400, form)
    throttled = []

    def comment():
        try:
            commendations.add_public_comment(commendation_list, name=form.name.data, contact=form.contact.data,
                                             text=form.text.data, now=utcnow())
        except commendations.TooManyComments:
            throttled.append(True)
            raise

    return run(comment, _("Your comment has been received; the bureau will look into it and answer before the list "
                          "is confirmed."), _public(list_id)) or _public_page(
        commendation_list, 429 if throttled else 422, form)


@bp.get("/public/certificates/<int:commendation_id>.pdf")
def certificate(commendation_id):
    commendation = db.get_or_404(Commendation, commendation_id)
    if commendation.commendation_list.status != ListStatus.CONFIRMED or commendation.certificate is None:
        abort(404)
    return send_stored(commendation.certificate.file)
