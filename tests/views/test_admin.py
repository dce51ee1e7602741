"""The administrator's pages: users, organisations, experts, the holiday calendar and the audit log.

Also the NGO's own organisation page and the refusals other roles get on admin pages.
"""

from __future__ import annotations

import contextvars
import re

import pytest
import sqlalchemy as sa

from portal.accounts.models import ExpertAffiliation, ExpertProfile, Organisation, OrgKind, User
from portal.accounts.rules import credit_code_check_char
from portal.audit import AuditEntry
from portal.calendar import CalendarYear
from portal.extensions import db
from tests.conftest import csrf_token, login

CHECKED_RE = re.compile(r'<input checked[^>]*name="profile-specialties"[^>]*value="([^"]+)"')


def fresh():
    """End the test's transaction so the next read sees what the requests committed."""
    db.session.rollback()


def actions() -> list[str]:
    fresh()
    return list(db.session.scalars(sa.select(AuditEntry.action).order_by(AuditEntry.seq)))


def count(model) -> int:
    fresh()
    return db.session.scalar(sa.select(sa.func.count()).select_from(model))


def credit_code(serial: int) -> str:
    first17 = f"52410100MJ{serial:07d}"
    return first17 + credit_code_check_char(first17)


def run_cli(app, *args):
    """Run a flask command in its own application context, as the separate process it is in production."""
    return contextvars.Context().run(app.test_cli_runner().invoke, args=list(args))


@pytest.fixture
def admin(create_user):
    return create_user("admin", locale="en")


@pytest.fixture
def admin_client(client, admin, login_as):
    return login_as(admin)


def post(client, url, data, *, token_from=None, prefix=""):
    """Post a form the way a browser does after loading the page (with its CSRF token)."""
    token = csrf_token(client, token_from or url)
    return client.post(url, data=data | {f"{prefix}csrf_token": token})


def text(response) -> str:
    return response.get_data(as_text=True)


# --- users -----------------------------------------------------------------------------------------------------


def user_form(**changes) -> dict:
    data = {"username": "new.officer", "display_name": "李明", "role": "officer", "organisation_id": "0",
            "email": "li@example.gov.cn", "phone": "0371-1234567", "locale": "zh", "active": "y",
            "password": "Fresh-pass-9"}
    return data | changes


def test_admin_creates_an_officer_in_a_bureau(admin_client, city_bureau):
    response = post(admin_client, "/admin/users/new", user_form(organisation_id=str(city_bureau.id)))
    assert response.status_code == 302 and response.location == "/admin/users"
    fresh()
    user = db.session.scalar(sa.select(User).where(User.username == "new.officer"))
    assert user.role == "officer" and user.organisation_id == city_bureau.id and user.approved
    assert user.password_hash.startswith("$argon2")
    assert "user.created" in actions()
    assert login(admin_client.application.test_client(), "new.officer", "Fresh-pass-9").status_code == 302


@pytest.mark.parametrize(
    ("role", "org", "message"),
    [
        ("officer", None, "An officer must belong to a civil-affairs bureau."),
        ("officer", "supplier", "An officer must belong to a civil-affairs bureau."),
        ("supplier", None, "A supplier account must belong to a social-work organisation."),
        ("supplier", "bureau", "A supplier account must belong to a social-work organisation."),
        ("evaluator", "supplier", "Experts and administrators cannot belong to a bidding organisation."),
    ],
)
def test_admin_cannot_create_an_account_in_the_wrong_organisation(admin_client, city_bureau, create_org,
                                                                   role, org, message):
    org_id = {None: 0, "bureau": city_bureau.id}[org] if org != "supplier" else create_org().id
    before = count(User)
    response = post(admin_client, "/admin/users/new", user_form(role=role, organisation_id=str(org_id)))
    assert response.status_code == 200
    assert message in text(response)
    assert count(User) == before


def test_admin_creates_a_supplier_account_for_an_ngo(admin_client, create_org):
    ngo = create_org()
    response = post(admin_client, "/admin/users/new",
                    user_form(username="ngo.staff", role="supplier", organisation_id=str(ngo.id)))
    assert response.status_code == 302
    fresh()
    assert db.session.scalar(sa.select(User.organisation_id).where(User.username == "ngo.staff")) == ngo.id


def test_admin_creates_an_expert_with_a_profile(admin_client):
    response = post(admin_client, "/admin/users/new", user_form(username="expert.zhao", role="evaluator"))
    assert response.status_code == 302
    fresh()
    user = db.session.scalar(sa.select(User).where(User.username == "expert.zhao"))
    assert user.expert_profile is not None


def test_admin_user_needs_a_password_and_a_strong_one(admin_client, city_bureau):
    before = count(User)
    for password, message in (("", "Give the new account a password."),
                              ("weakpass", "The password must contain both letters and digits.")):
        response = post(admin_client, "/admin/users/new",
                        user_form(organisation_id=str(city_bureau.id), password=password))
        assert response.status_code == 200 and message in text(response)
    assert count(User) == before


def test_admin_edits_a_user(admin_client, create_user, create_org):
    user = create_user("officer", display_name="旧名字")
    old_hash = user.password_hash
    response = post(admin_client, f"/admin/users/{user.id}",
                    user_form(username=user.username, display_name="新名字", organisation_id=str(user.organisation_id),
                              password=""))
    assert response.status_code == 302
    fresh()
    user = db.session.get(User, user.id)
    assert user.display_name == "新名字" and user.password_hash == old_hash and user.active
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "user.updated"))
    assert "新名字" in entry.new_values and "旧名字" in entry.old_values


def test_admin_edit_refuses_a_taken_user_name(admin_client, create_user, admin):
    user = create_user("officer", username="first.one")
    response = post(admin_client, f"/admin/users/{user.id}",
                    user_form(username=admin.username, organisation_id=str(user.organisation_id), password=""))
    assert response.status_code == 200 and "is already taken" in text(response)
    fresh()
    assert db.session.get(User, user.id).username == "first.one"


def test_admin_search_finds_users(admin_client, create_user):
    create_user("officer", username="findme.please")
    create_user("officer", username="other.person")
    page = text(admin_client.get("/admin/users?q=findme"))
    assert "findme.please" in page and "other.person" not in page


# --- deactivation ----------------------------------------------------------------------------------------------


def test_deactivated_user_is_signed_out_and_cannot_sign_in(app, admin_client, create_user):
    victim = create_user("officer", locale="en")
    victim_client = app.test_client()
    assert login(victim_client, victim.username).status_code == 302
    assert victim_client.get("/dashboard").status_code == 200

    response = post(admin_client, f"/admin/users/{victim.id}/deactivate", {}, token_from="/admin/users")
    assert response.status_code == 302
    fresh()
    assert not db.session.get(User, victim.id).active
    assert "user.deactivated" in actions()

    response = victim_client.get("/dashboard")
    assert response.status_code == 302 and response.location.startswith("/login")
    victim_client.set_cookie("portal_lang", "en")
    response = login(victim_client, victim.username)
    assert response.status_code == 200 and "This account has been deactivated." in text(response)
    assert victim_client.get("/dashboard").status_code == 302


def test_reactivated_user_can_sign_in_again(app, admin_client, create_user):
    user = create_user("officer", active=False)
    response = post(admin_client, f"/admin/users/{user.id}/activate", {}, token_from="/admin/users")
    assert response.status_code == 302
    assert login(app.test_client(), user.username).status_code == 302


def test_admin_cannot_deactivate_themself(admin_client, admin):
    response = post(admin_client, f"/admin/users/{admin.id}/deactivate", {}, token_from="/admin/users")
    assert response.status_code == 302
    page = text(admin_client.get("/admin/users"))
    assert "You cannot deactivate your own account" in page
    fresh()
    assert db.session.get(User, admin.id).active
    assert admin_client.get("/dashboard").status_code == 200


def test_admin_cannot_deactivate_themself_through_the_edit_form(admin_client, admin):
    data = user_form(username=admin.username, role="admin", password="")
    del data["active"]
    response = post(admin_client, f"/admin/users/{admin.id}", data)
    assert response.status_code == 200 and "You cannot deactivate your own account" in text(response)
    fresh()
    assert db.session.get(User, admin.id).active


def test_approving_an_approved_account_is_refused(admin_client, create_user):
    user = create_user("officer")
    before = actions()
    post(admin_client, f"/admin/users/{user.id}/approve", {}, token_from="/admin/users")
    assert "This account is already approved." in text(admin_client.get("/admin/users"))
    assert "user.approved" not in actions()[len(before):]


# --- other roles on admin pages --------------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["officer", "supplier", "evaluator"])
def test_other_roles_are_refused_a_user_page_and_it_is_logged(client, create_user, login_as, role):
    target = create_user("admin")
    intruder = create_user(role)
    login_as(intruder)
    response = client.get(f"/admin/users/{target.id}")
    assert response.status_code == 403
    fresh()
    entry = db.session.scalar(sa.select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(1))
    assert entry.action == "access.refused" and entry.actor_id == intruder.id
    assert f"/admin/users/{target.id}" in entry.new_values


def test_other_roles_cannot_post_admin_actions(client, create_user, login_as):
    victim = create_user("officer")
    login_as(create_user("supplier"))
    response = client.post(f"/admin/users/{victim.id}/deactivate",
                           data={"csrf_token": csrf_token(client, "/dashboard")})
    assert response.status_code == 403
    fresh()
    assert db.session.get(User, victim.id).active


# --- organisations ---------------------------------------------------------------------------------------------


def org_form(**changes) -> dict:
    data = {"name": "郑州市和谐社工服务中心", "kind": "supplier", "level": "", "parent_id": "0", "status": "active",
            "credit_code": credit_code(11), "registration_authority": "郑州市民政局", "registration_date": "2016-05-04",
            "rating": "4A", "assistant_social_workers": "3", "social_workers": "2", "senior_social_workers": "1",
            "service_areas": "金水区", "address": "郑州市", "contact_name": "赵敏", "contact_phone": "0371-7654321",
            "contact_email": "zhao@example.org", "debarred_until": "", "debarment_reason": ""}
    return data | changes


def test_admin_creates_an_organisation(admin_client):
    response = post(admin_client, "/admin/organisations/new", org_form())
    assert response.status_code == 302 and response.location == "/admin/organisations"
    fresh()
    org = db.session.scalar(sa.select(Organisation).where(Organisation.credit_code == credit_code(11)))
    assert org.rating == "4A" and org.social_workers == 2 and org.level is None
    assert "organisation.created" in actions()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"credit_code": credit_code(11)[:17] + "0" if credit_code(11)[17] != "0" else credit_code(11)[:17] + "1"},
         "does not match its check character"),
        ({"credit_code": "12345"}, "exactly 18 characters"),
        ({"credit_code": ""}, "must have a unified social credit code"),
        ({"debarred_until": "2027-06-30"}, "Give the reason and the decision for the debarment."),
    ],
    ids=["check-char", "length", "missing", "debarment-without-reason"],
)
def test_admin_organisation_refusals_create_nothing(admin_client, changes, message):
    before = count(Organisation)
    response = post(admin_client, "/admin/organisations/new", org_form(**changes))
    assert response.status_code == 200 and message in text(response)
    assert count(Organisation) == before


def test_district_bureau_only_under_the_city_bureau(admin_client, city_bureau, create_org):
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    before = count(Organisation)
    bureau = {"kind": "bureau", "credit_code": "", "rating": "none"}
    response = post(admin_client, "/admin/organisations/new",
                    org_form(name="某街道", level="district", parent_id=str(district.id), **bureau))
    assert response.status_code == 200
    assert count(Organisation) == before
    response = post(admin_client, "/admin/organisations/new",
                    org_form(name="二七区民政局", level="district", parent_id=str(city_bureau.id), **bureau))
    assert response.status_code == 302
    fresh()
    created = db.session.scalar(sa.select(Organisation).where(Organisation.name == "二七区民政局"))
    assert created.parent_id == city_bureau.id and created.level == "district"


def test_admin_edits_an_organisation_and_records_a_debarment(admin_client, create_org):
    ngo = create_org(name="原名称")
    data = org_form(name="新名称", credit_code=ngo.credit_code, debarred_until="2027-06-30",
                    debarment_reason="郑财采〔2026〕12号 处罚决定")
    response = post(admin_client, f"/admin/organisations/{ngo.id}", data)
    assert response.status_code == 302
    fresh()
    ngo = db.session.get(Organisation, ngo.id)
    assert ngo.name == "新名称" and str(ngo.debarred_until) == "2027-06-30"
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "organisation.updated"))
    assert "原名称" in entry.old_values and "新名称" in entry.new_values


def test_admin_organisation_edit_refuses_an_invalid_code(admin_client, create_org):
    ngo = create_org()
    code = ngo.credit_code
    broken = code[:17] + ("0" if code[17] != "0" else "1")
    response = post(admin_client, f"/admin/organisations/{ngo.id}", org_form(name=ngo.name, credit_code=broken))
    assert response.status_code == 200 and "does not match its check character" in text(response)
    fresh()
    assert db.session.get(Organisation, ngo.id).credit_code == code


def test_admin_organisation_edit_refuses_another_organisations_code(admin_client, create_org):
    first, second = create_org(), create_org()
    own_code = second.credit_code
    response = post(admin_client, f"/admin/organisations/{second.id}",
                    org_form(name=second.name, credit_code=first.credit_code))
    assert response.status_code == 200 and "already has the credit code" in text(response)
    fresh()
    assert db.session.get(Organisation, second.id).credit_code == own_code


def test_admin_organisation_list_filters_by_kind(admin_client, city_bureau, create_org):
    create_org(name="某社工机构")
    page = text(admin_client.get("/admin/organisations?kind=bureau"))
    assert city_bureau.name in page and "某社工机构" not in page


# --- the NGO's own page ----------------------------------------------------------------------------------------


def test_supplier_updates_its_contacts_but_not_its_identity(client, create_user, login_as):
    supplier = create_user("supplier")
    org = supplier.organisation
    name, code = org.name, org.credit_code
    login_as(supplier)
    response = post(client, "/organisation", {
        "contact_name": "新联系人", "contact_phone": "0371-9999999", "contact_email": "new@example.org",
        "assistant_social_workers": "5", "social_workers": "4", "senior_social_workers": "0",
        "service_areas": "中原区", "address": "郑州市中原区",
        # Fields the page does not offer: a crafted post must not change them.
        "name": "冒名机构", "credit_code": credit_code(99), "rating": "5A", "debarred_until": "",
        "status": "inactive",
    })
    assert response.status_code == 302
    fresh()
    org = db.session.get(Organisation, org.id)
    assert (org.contact_name, org.contact_phone, org.contact_email) == ("新联系人", "0371-9999999", "new@example.org")
    assert org.social_workers == 4 and org.address == "郑州市中原区"
    assert (org.name, org.credit_code, org.rating, org.status) == (name, code, "none", "active")


def test_supplier_contacts_must_be_valid(client, create_user, login_as):
    supplier = create_user("supplier", locale="en")
    login_as(supplier)
    response = post(client, "/organisation", {
        "contact_name": "", "contact_phone": "0371", "contact_email": "no-at-sign",
        "assistant_social_workers": "0", "social_workers": "0", "senior_social_workers": "0",
    })
    assert response.status_code == 200
    page = text(response)
    assert "This field is required." in page and "Enter a valid e-mail address." in page
    fresh()
    assert db.session.get(Organisation, supplier.organisation_id).contact_email == ""


def test_only_suppliers_have_an_organisation_page(client, create_user, login_as):
    login_as(create_user("officer"))
    assert client.get("/organisation").status_code == 403


# --- experts ---------------------------------------------------------------------------------------------------


def test_admin_saves_expert_specialties(admin_client, create_user):
    expert = create_user("evaluator")
    url = f"/admin/experts/{expert.id}"
    token = csrf_token(admin_client, url)
    response = admin_client.post(url, data={
        "profile-title": "副教授", "profile-employer": "郑州大学", "profile-specialties": ["elderly_care", "law"],
        "profile-in_pool": "y", "profile-submit": "1", "profile-csrf_token": token,
    })
    assert response.status_code == 302
    fresh()
    profile = db.session.get(ExpertProfile, expert.id)
    assert profile.specialty_list == ["elderly_care", "law"] and profile.title == "副教授" and profile.in_pool
    assert "expert.updated" in actions()
    page = text(admin_client.get(url))
    assert CHECKED_RE.findall(page) == ["elderly_care", "law"]  # the saved choices show as ticked


def tie(token, **changes) -> dict:
    data = {"tie-organisation_id": "0", "tie-organisation_name": "郑州市某社工中心", "tie-kind": "director",
            "tie-start_date": "2019-01-01", "tie-end_date": "2022-12-31", "tie-submit": "1", "tie-csrf_token": token}
    return data | changes


def test_admin_adds_and_removes_an_affiliation(admin_client, create_user, create_org):
    expert = create_user("evaluator")
    ngo = create_org()
    url = f"/admin/experts/{expert.id}"
    response = admin_client.post(url, data=tie(csrf_token(admin_client, url), **{
        "tie-organisation_id": str(ngo.id), "tie-organisation_name": ""}))
    assert response.status_code == 302
    fresh()
    (affiliation,) = db.session.get(ExpertProfile, expert.id).affiliations
    assert affiliation.organisation_id == ngo.id and affiliation.organisation_name == ngo.name
    assert affiliation.kind == "director"

    response = admin_client.post(f"{url}/affiliations/{affiliation.id}/delete",
                                 data={"csrf_token": csrf_token(admin_client, url)})
    assert response.status_code == 302
    assert count(ExpertAffiliation) == 0
    assert actions()[-2:] == ["expert.affiliation_added", "expert.affiliation_removed"]


def test_affiliation_ending_before_it_starts_is_refused(admin_client, create_user):
    expert = create_user("evaluator")
    url = f"/admin/experts/{expert.id}"
    response = admin_client.post(url, data=tie(csrf_token(admin_client, url), **{"tie-end_date": "2018-01-01"}))
    assert response.status_code == 200
    assert "The end date cannot be before the start date." in text(response)
    assert count(ExpertAffiliation) == 0


def test_affiliation_of_another_expert_cannot_be_removed_through_this_one(admin_client, create_user):
    from datetime import date

    from portal.accounts import services

    first, second = create_user("evaluator"), create_user("evaluator")
    affiliation = services.add_affiliation(
        first.expert_profile, {"organisation_name": "某机构", "kind": "employee", "start_date": date(2020, 1, 1)},
        actor=None, now=first.created_at)
    db.session.commit()
    response = admin_client.post(f"/admin/experts/{second.id}/affiliations/{affiliation.id}/delete",
                                 data={"csrf_token": csrf_token(admin_client, "/admin/users")})
    assert response.status_code == 403
    assert count(ExpertAffiliation) == 1


# --- holiday calendar ------------------------------------------------------------------------------------------


def calendar_form(**changes) -> dict:
    data = {"year": "2027", "notice": "国办发明电〔2026〕9号",
            "holidays": "2027-01-01..2027-01-03\n2027-02-06 .. 2027-02-12", "workdays": "2027-01-09, 2027-02-13"}
    return data | changes


def test_entered_year_lets_a_deadline_run_into_it(app, admin_client):
    before = run_cli(app, "calendar", "due", "2026-12-25", "10")
    assert before.exit_code == 1 and "2027" in before.output

    response = post(admin_client, "/admin/calendar", calendar_form())
    assert response.status_code == 302 and response.location == "/admin/calendar"
    fresh()
    year = db.session.get(CalendarYear, 2027)
    assert len(year.holiday_dates) == 3 + 7 and {str(d) for d in year.workday_dates} == {"2027-01-09", "2027-02-13"}
    assert "calendar.year_saved" in actions()

    after = run_cli(app, "calendar", "due", "2026-12-25", "10")
    # 28-31 Dec (4), 4-8 Jan (9), then Saturday 9 Jan, a declared working day (10); 1 Jan is off.
    assert after.exit_code == 0, after.output
    assert after.output.strip() == "2027-01-09"
    assert admin_client.get("/admin/calendar/2027").status_code == 200


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"workdays": "2027-01-04"}, "2027-01-04 is a weekday"),
        ({"holidays": "2027-02-30"}, "2027-02-30"),
        ({"holidays": "2027-02-12..2027-02-06"}, "ends before it starts"),
        ({"holidays": "2028-01-01"}, "2028-01-01 is not in 2027"),
        ({"workdays": "2027-02-06"}, "2027-02-06 is listed both as a holiday and as a working day"),
    ],
    ids=["weekday-workday", "bad-date", "backwards-range", "other-year", "both"],
)
def test_calendar_refusals_save_nothing(admin_client, changes, message):
    response = post(admin_client, "/admin/calendar", calendar_form(**changes))
    assert response.status_code == 200
    assert message in text(response)
    assert count(CalendarYear) == 0


# --- audit log -------------------------------------------------------------------------------------------------


def test_audit_log_lists_and_filters_entries(admin_client, create_user):
    create_user("officer")
    page = text(admin_client.get("/admin/audit"))
    assert "<code>login.ok</code>" in page and "<code>user.created</code>" in page
    filtered = text(admin_client.get("/admin/audit?action=user."))
    assert "<code>user.created</code>" in filtered and "<code>login.ok</code>" not in filtered
    empty = text(admin_client.get("/admin/audit?action=nothing.like.this"))
    assert 'class="text-muted empty-state"' in empty


def test_audit_log_is_for_admins_only(client, create_user, login_as):
    login_as(create_user("officer"))
    assert client.get("/admin/audit").status_code == 403
