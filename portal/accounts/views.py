"""Sign-in, registration, the NGO's own profile and the administrator's pages."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint, abort, flash, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_required, login_user, logout_user
from sqlalchemy.orm import selectinload

from portal import audit
from portal.accounts import rules, services
from portal.accounts.forms import (
    AffiliationForm,
    CalendarYearForm,
    DocumentForm,
    ExpertForm,
    LoginForm,
    MyOrganisationForm,
    OrganisationForm,
    PasswordChangeForm,
    RegistrationForm,
    UserForm,
)
from portal.accounts.models import (
    AFFILIATION_LABELS,
    DOCUMENT_KIND_LABELS,
    LEVEL_LABELS,
    ORG_KIND_LABELS,
    RATING_LABELS,
    ROLE_LABELS,
    STATUS_LABELS,
    ExpertAffiliation,
    ExpertProfile,
    Organisation,
    OrganisationDocument,
    OrgKind,
    User,
)
from portal.calendar import CalendarYear, parse_date_list, save_year
from portal.db import utcnow
from portal.errors import DomainError
from portal.extensions import db
from portal.files import send_stored
from portal.forms import ActionForm, choices
from portal.permissions import Role, ensure, role_required
from portal.urls import page_arg, safe_next

bp = Blueprint("accounts", __name__, template_folder="templates")

PAGE_SIZE = 50


@bp.route("/login", methods=["GET", "POST"])
def login():
    if current_user.is_authenticated:
        return redirect(url_for("main.dashboard"))
    form = LoginForm()
    if form.validate_on_submit():
        try:
            user = services.authenticate(form.username.data, form.password.data, ip=audit.client_ip(), now=utcnow())
        except services.LoginLocked as exc:
            db.session.commit()
            return render_template("accounts/login.html", form=form, error=str(exc)), 429
        except services.LoginFailed as exc:
            db.session.commit()
            return render_template("accounts/login.html", form=form, error=str(exc)), 200
        db.session.commit()
        lang = session.get("lang")
        session.clear()  # a fresh session at sign-in: nothing from before carries over
        if lang:
            session["lang"] = lang
        login_user(user)
        return redirect(safe_next(request.args.get("next")) or url_for("main.dashboard"))
    return render_template("accounts/login.html", form=form, error=None)


@bp.post("/logout")
@login_required
def logout():
    form = ActionForm()
    ensure(form.validate_on_submit())
    services.logout(current_user, now=utcnow())
    db.session.commit()
    logout_user()
    session.clear()
    flash(_("You have signed out."), "info")
    return redirect(url_for("main.index"))


@bp.route("/password", methods=["GET", "POST"])
@login_required
def change_password():
    form = PasswordChangeForm()
    if form.validate_on_submit():
        try:
            services.change_password(current_user, form.current.data, form.new.data, now=utcnow(),
                                     ip=audit.client_ip())
        except (services.WrongPassword, services.LoginLocked) as exc:
            db.session.commit()  # keep the recorded attempt: it counts towards the lockout
            form.current.errors.append(str(exc))
        except DomainError as exc:
            db.session.rollback()
            form.new.errors.append(str(exc))
        else:
            db.session.commit()
            login_user(current_user._get_current_object())  # keep this session alive with the new token; others end
            flash(_("Your password has been changed. Other sessions have been signed out."), "success")
            return redirect(url_for("main.dashboard"))
    return render_template("accounts/password.html", form=form, password_min_length=rules.PASSWORD_MIN_LENGTH)


@bp.route("/register", methods=["GET", "POST"])
def register():
    form = RegistrationForm()
    if form.validate_on_submit():
        data = {k: v for k, v in form.data.items() if k not in ("confirm", "csrf_token")}
        try:
            services.register_supplier(services.Registration(**data), now=utcnow())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            db.session.commit()
            flash(_("Your registration has been received. You can sign in once an administrator approves it."),
                  "success")
            return redirect(url_for("accounts.login"))
    return render_template("accounts/register.html", form=form)


@bp.route("/organisation", methods=["GET", "POST"])
@role_required(Role.SUPPLIER)
def my_organisation():
    org = current_user.organisation
    form = MyOrganisationForm(obj=org)
    if form.validate_on_submit():
        values = {k: v for k, v in form.data.items() if k != "csrf_token"}
        services.update_organisation(org, values, actor=current_user, now=utcnow())
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("accounts.my_organisation"))
    return render_template("accounts/my_organisation.html", form=form, org=org, document_form=DocumentForm(),
                           action_form=ActionForm())


@bp.post("/organisation/documents")
@role_required(Role.SUPPLIER)
def upload_document():
    form = DocumentForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for error in errors:
                flash(error, "danger")
        return redirect(url_for("accounts.my_organisation")), 303
    services.add_organisation_document(current_user.organisation, form.kind.data, form.file.data,
                                       actor=current_user, now=utcnow())
    db.session.commit()
    flash(_("The document has been uploaded."), "success")
    return redirect(url_for("accounts.my_organisation"))


@bp.get("/documents/<int:document_id>")
@login_required
def download_document(document_id):
    document = db.get_or_404(OrganisationDocument, document_id)
    ensure(document.can_download(current_user))
    return send_stored(document.file)


@bp.post("/documents/<int:document_id>/delete")
@login_required
def delete_document(document_id):
    document = db.get_or_404(OrganisationDocument, document_id)
    ensure(document.can_delete(current_user) and ActionForm().validate_on_submit())
    services.remove_organisation_document(document, actor=current_user, now=utcnow())
    db.session.commit()
    flash(_("Removed."), "success")
    if current_user.role == Role.SUPPLIER:
        return redirect(url_for("accounts.my_organisation"))
    return redirect(url_for("accounts.admin_organisation_edit", org_id=document.organisation_id))


# --- administrator -----------------------------------------------------------------------------------------


def _org_choices(kind: str | None = None, *, blank: str = "—"):
    query = sa.select(Organisation).order_by(Organisation.kind, Organisation.name)
    if kind:
        query = query.where(Organisation.kind == kind)
    return choices([(0, blank)] + [(o.id, o.name) for o in db.session.scalars(query)])


@bp.get("/admin/users")
@role_required(Role.ADMIN)
def admin_users():
    page = page_arg()
    q = (request.args.get("q") or "").strip()
    query = sa.select(User).options(selectinload(User.organisation)).order_by(User.approved, User.username)
    if q:
        like = f"%{q}%"
        query = query.where(sa.or_(User.username.ilike(like), User.display_name.ilike(like)))
    users = db.paginate(query, page=page, per_page=PAGE_SIZE, error_out=False)
    return render_template("accounts/admin_users.html", users=users, q=q, action_form=ActionForm())


def _save_user(form: UserForm, user: User | None):
    values = {k: v for k, v in form.data.items() if k not in ("csrf_token", "password")}
    try:
        if user is None:
            if not form.password.data:
                raise DomainError(_("Give the new account a password."))
            user = services.create_user(values, form.password.data, actor=current_user, now=utcnow())
        else:
            services.update_user(user, values, actor=current_user, now=utcnow(), new_password=form.password.data)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
        return None
    db.session.commit()
    flash(_("Saved."), "success")
    return redirect(url_for("accounts.admin_users"))


@bp.route("/admin/users/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_user_new():
    form = UserForm()
    form.organisation_id.choices = _org_choices()
    if form.validate_on_submit() and (response := _save_user(form, None)):
        return response
    return render_template("accounts/admin_user_form.html", form=form, user=None)


@bp.route("/admin/users/<int:user_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_user_edit(user_id):
    user = db.get_or_404(User, user_id)
    form = UserForm(obj=user)
    form.organisation_id.choices = _org_choices()
    if form.validate_on_submit() and (response := _save_user(form, user)):
        return response
    return render_template("accounts/admin_user_form.html", form=form, user=user)


def _user_action(user_id: int, action):
    user = db.get_or_404(User, user_id)
    ensure(ActionForm().validate_on_submit())
    try:
        action(user)
    except DomainError as exc:
        db.session.rollback()
        flash(str(exc), "danger")
    else:
        db.session.commit()
        flash(_("Saved."), "success")
    return redirect(url_for("accounts.admin_users"))


@bp.post("/admin/users/<int:user_id>/deactivate")
@role_required(Role.ADMIN)
def admin_user_deactivate(user_id):
    return _user_action(user_id, lambda u: services.set_user_active(u, False, actor=current_user, now=utcnow()))


@bp.post("/admin/users/<int:user_id>/activate")
@role_required(Role.ADMIN)
def admin_user_activate(user_id):
    return _user_action(user_id, lambda u: services.set_user_active(u, True, actor=current_user, now=utcnow()))


@bp.post("/admin/users/<int:user_id>/approve")
@role_required(Role.ADMIN)
def admin_user_approve(user_id):
    return _user_action(user_id, lambda u: services.approve_registration(u, actor=current_user, now=utcnow()))


@bp.get("/admin/organisations")
@role_required(Role.ADMIN)
def admin_organisations():
    page = page_arg()
    kind = request.args.get("kind") if request.args.get("kind") in set(OrgKind) else None
    query = sa.select(Organisation).options(selectinload(Organisation.parent)).order_by(
        Organisation.kind, Organisation.parent_id.is_not(None), Organisation.name
    )
    if kind:
        query = query.where(Organisation.kind == kind)
    orgs = db.paginate(query, page=page, per_page=PAGE_SIZE, error_out=False)
    return render_template("accounts/admin_organisations.html", orgs=orgs, kind=kind)


def _organisation_form(org: Organisation | None):
    form = OrganisationForm(obj=org)
    city_bureaus = sa.select(Organisation).where(Organisation.kind == OrgKind.BUREAU, Organisation.level == "city")
    form.parent_id.choices = choices([(0, "—")] + [(o.id, o.name) for o in db.session.scalars(city_bureaus)])
    if form.validate_on_submit():
        values = {k: v for k, v in form.data.items() if k != "csrf_token"}
        values["level"] = values["level"] or None
        try:
            if org is None:
                services.create_organisation(values, actor=current_user, now=utcnow())
            else:
                services.update_organisation(org, values, actor=current_user, now=utcnow())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("accounts.admin_organisations"))
    return render_template("accounts/admin_organisation_form.html", form=form, org=org, action_form=ActionForm())


@bp.route("/admin/organisations/new", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_organisation_new():
    return _organisation_form(None)


@bp.route("/admin/organisations/<int:org_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_organisation_edit(org_id):
    return _organisation_form(db.get_or_404(Organisation, org_id))


@bp.route("/admin/experts/<int:user_id>", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_expert(user_id):
    profile = db.get_or_404(ExpertProfile, user_id)
    form = ExpertForm(obj=profile, prefix="profile")
    if request.method == "GET":
        form.specialties.data = profile.specialty_list
    affiliation_form = AffiliationForm(prefix="tie")
    affiliation_form.organisation_id.choices = _org_choices(OrgKind.SUPPLIER)
    if "profile-submit" in request.form and form.validate_on_submit():
        values = form.data | {"specialties": ",".join(form.specialties.data)}
        services.update_expert_profile(profile, values, actor=current_user, now=utcnow())
        db.session.commit()
        flash(_("Saved."), "success")
        return redirect(url_for("accounts.admin_expert", user_id=user_id))
    if "tie-submit" in request.form and affiliation_form.validate_on_submit():
        try:
            services.add_affiliation(profile, affiliation_form.data, actor=current_user, now=utcnow())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            db.session.commit()
            flash(_("Saved."), "success")
            return redirect(url_for("accounts.admin_expert", user_id=user_id))
    return render_template("accounts/admin_expert.html", profile=profile, form=form,
                           affiliation_form=affiliation_form, action_form=ActionForm())


@bp.post("/admin/experts/<int:user_id>/affiliations/<int:affiliation_id>/delete")
@role_required(Role.ADMIN)
def admin_expert_affiliation_delete(user_id, affiliation_id):
    affiliation = db.get_or_404(ExpertAffiliation, affiliation_id)
    ensure(affiliation.expert_id == user_id and ActionForm().validate_on_submit())
    services.remove_affiliation(affiliation, actor=current_user, now=utcnow())
    db.session.commit()
    flash(_("Removed."), "success")
    return redirect(url_for("accounts.admin_expert", user_id=user_id))


@bp.route("/admin/calendar", methods=["GET", "POST"])
@role_required(Role.ADMIN)
def admin_calendar():
    years = db.session.scalars(sa.select(CalendarYear).order_by(CalendarYear.year.desc())).all()
    form = CalendarYearForm()
    if form.validate_on_submit():
        try:
            save_year(form.year.data, parse_date_list(form.holidays.data), parse_date_list(form.workdays.data or ""),
                      form.notice.data, actor=current_user, now=utcnow())
        except DomainError as exc:
            db.session.rollback()
            flash(str(exc), "danger")
        else:
            db.session.commit()
            flash(_("The holiday calendar for %(year)s has been saved.", year=form.year.data), "success")
            return redirect(url_for("accounts.admin_calendar"))
    return render_template("accounts/admin_calendar.html", years=years, form=form)


@bp.get("/admin/calendar/<int:year>")
@role_required(Role.ADMIN)
def admin_calendar_year(year):
    entry = db.get_or_404(CalendarYear, year)
    form = CalendarYearForm(data={
        "year": entry.year, "notice": entry.notice,
        "holidays": "\n".join(sorted(d.isoformat() for d in entry.holiday_dates)),
        "workdays": "\n".join(sorted(d.isoformat() for d in entry.workday_dates)),
    })
    years = db.session.scalars(sa.select(CalendarYear).order_by(CalendarYear.year.desc())).all()
    return render_template("accounts/admin_calendar.html", years=years, form=form)


@bp.get("/admin/audit")
@role_required(Role.ADMIN)
def admin_audit():
    page = page_arg()
    action = (request.args.get("action") or "").strip()
    query = sa.select(audit.AuditEntry).order_by(audit.AuditEntry.seq.desc())
    if action:
        query = query.where(audit.AuditEntry.action.startswith(action))
    entries = db.paginate(query, page=page, per_page=PAGE_SIZE, error_out=False)
    if page > 1 and not entries.items:
        abort(404)
    return render_template("accounts/admin_audit.html", entries=entries, action=action)


@bp.app_context_processor
def inject_labels():
    return {
        "role_labels": ROLE_LABELS, "kind_labels": ORG_KIND_LABELS, "level_labels": LEVEL_LABELS,
        "rating_labels": RATING_LABELS, "status_labels": STATUS_LABELS, "affiliation_labels": AFFILIATION_LABELS,
        "document_kind_labels": DOCUMENT_KIND_LABELS,
    }
