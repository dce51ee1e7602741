"""The yearly assessment pages: the city officer's list, creating the drafts, an assessment with its figures and the
links to their records, entering points and weights, refreshing and confirming; who may see what; and the criteria
form that offers no commendation or grade as a bid factor."""

from __future__ import annotations

import re
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.assessment.models import Assessment, AssessmentStatus
from portal.db import utcnow
from portal.extensions import db
from portal.projects.models import ProjectStatus, ServiceProject
from portal.tenders.rules import local_date
from tests.conftest import csrf_token
from tests.support.queries import queries_for
from tests.support.web import as_user, text
from tests.yearly_builders import contract, contract_notice, graded, make_district

pytestmark = pytest.mark.usefixtures("english_messages")

INDEX = "/assessment/yearly?year=2026"


@pytest.fixture
def city_officer(create_user, city_bureau):
    user = create_user("officer", organisation_id=city_bureau.id)
    user.locale = "en"
    db.session.commit()
    return user


@pytest.fixture
def district(create_org, city_bureau):
    return make_district(create_org, city_bureau, "金水区民政局")


@pytest.fixture
def seeded(district, create_org, create_user):
    """A district's contract with an NGO, its notice and a graded review, all in 2026."""
    ngo_user = create_user("supplier")
    ngo_user.locale = "en"
    built = contract(district, create_user, signed="2026-03-02", poor_village=True, supplier=ngo_user.organisation)
    notice = contract_notice(built, on="2026-03-03")
    review = graded(built, "91.50", on="2026-06-01")
    return {"contract": built.contract, "notice": notice, "review": review, "ngo_user": ngo_user}


def post(client, url, data=None, page=INDEX):
    return client.post(url, data={"csrf_token": csrf_token(client, page)} | (data or {}))


def create_drafts(client, year="2026"):
    return post(client, "/assessment/yearly/create", {"year": year})


def assessment_of(org) -> Assessment:
    db.session.expire_all()
    return db.session.scalar(sa.select(Assessment).where(Assessment.organisation_id == org.id))


def edit_data(assessment, points="80", **changes) -> dict:
    data = {}
    for n, i in enumerate(assessment.indicators):
        data |= {f"rows-{n}-id": str(i.id), f"rows-{n}-name": i.name, f"rows-{n}-weight": f"{i.weight:f}",
                 f"rows-{n}-points": "" if i.computed else points, f"rows-{n}-note": ""}
    return data | changes


def test_city_officer_creates_the_drafts_and_reads_every_figure_with_its_records(
        client, login_as, city_officer, district, seeded):
    login_as(city_officer)
    page = client.get(INDEX)
    assert page.status_code == 200
    assert "No assessment of this year yet" in text(page) and "Create the drafts" in text(page)

    response = create_drafts(client)
    assert response.status_code == 302 and response.location.endswith(INDEX)
    listing = text(client.get(INDEX))
    assert "2 draft assessments of 2026 were created." in listing
    bureau, ngo = assessment_of(district), assessment_of(seeded["ngo_user"].organisation)
    assert f'href="/assessment/yearly/{bureau.id}"' in listing and f'href="/assessment/yearly/{ngo.id}"' in listing
    assert "Drafts: 2" in listing

    detail = client.get(f"/assessment/yearly/{bureau.id}")
    assert detail.status_code == 200
    body = text(detail)
    assert "贫困村服务资金占比" in body and "100.00%（贫困村项目" in body
    # Every figure links to the records it came from.
    assert f'href="/contracts/{seeded["contract"].id}"' in body
    assert f'href="/reviews/{seeded["review"].id}"' in body
    assert f'href="/notices/{seeded["notice"].id}"' in body
    assert "Enter the points of every entered indicator: 工作总结与创新." in body
    assert "Confirm the assessment" not in body  # not while something is missing
    ngo_page = text(client.get(f"/assessment/yearly/{ngo.id}"))
    assert f'href="/reviews/organisations/{ngo.organisation_id}/record"' in ngo_page


def test_entering_points_and_weights_then_confirming(client, login_as, city_officer, district, seeded):
    login_as(city_officer)
    create_drafts(client)
    assessment = assessment_of(district)
    edit_url = f"/assessment/yearly/{assessment.id}/edit"
    form = client.get(edit_url)
    assert form.status_code == 200 and "工作总结与创新" in text(form)
    assert len(re.findall(r'name="rows-\d+-weight"', text(form))) == len(assessment.indicators) + 2  # 2 spare rows

    summary_row = next(n for n, i in enumerate(assessment.indicators) if not i.computed)
    bad = post(client, edit_url, edit_data(assessment, **{f"rows-{summary_row}-points": "120"}), page=edit_url)
    assert bad.status_code == 422
    assert "“工作总结与创新”: the points are a number from 0 to 100" in text(bad)

    spare = len(assessment.indicators)
    data = edit_data(assessment, points="60", **{f"rows-{spare}-name": "社工人才队伍建设", f"rows-{spare}-weight": "5",
                                                 f"rows-{spare}-points": "70", f"rows-{summary_row}-weight": "5"})
    saved = post(client, edit_url, data, page=edit_url)
    assert saved.status_code == 302 and saved.location.endswith(f"/assessment/yearly/{assessment.id}")
    assessment = assessment_of(district)
    assert [(i.name, i.weight, i.points) for i in assessment.indicators if not i.computed] == [
        ("工作总结与创新", Decimal("5.00"), Decimal("60.00")), ("社工人才队伍建设", Decimal("5.00"), Decimal("70.00"))]
    detail = text(client.get(f"/assessment/yearly/{assessment.id}"))
    assert "Score if confirmed now" in detail and "Confirm the assessment" in detail

    refreshed = post(client, f"/assessment/yearly/{assessment.id}/refresh", page=f"/assessment/yearly/{assessment.id}")
    assert refreshed.status_code == 302
    confirmed = post(client, f"/assessment/yearly/{assessment.id}/confirm", page=f"/assessment/yearly/{assessment.id}")
    assert confirmed.status_code == 302
    assessment = assessment_of(district)
    assert assessment.status == AssessmentStatus.CONFIRMED
    # share 100 x 20, one contract 20 x 15, mean 91.5 x 25, notices 100 x 10, no challenge 100 x 10,
    # no rectification 100 x 10, summary 60 x 5, talent 70 x 5: 20 + 3 + 22.875 + 10 + 10 + 10 + 3 + 3.5 = 82.375
    assert assessment.score == Decimal("82.38") and assessment.grade == "good"
    page = text(client.get(f"/assessment/yearly/{assessment.id}"))
    assert "The assessment is confirmed: 82.38 points, Good (良好)." in page
    assert "Enter points and weights" not in page and "Refresh the figures" not in page
    frozen = client.get(edit_url)
    assert frozen.status_code == 302
    assert "A confirmed assessment is frozen" in text(client.get(frozen.location))


def test_confirming_with_problems_says_what_is_missing(client, login_as, city_officer, district):
    login_as(city_officer)
    create_drafts(client)
    assessment = assessment_of(district)
    response = post(client, f"/assessment/yearly/{assessment.id}/confirm", page=f"/assessment/yearly/{assessment.id}")
    assert response.status_code == 302
    assert "Enter the points of every entered indicator" in text(client.get(response.location))
    assert assessment_of(district).status == AssessmentStatus.DRAFT


def test_who_may_see_and_change_an_assessment(app, client, login_as, city_officer, district, seeded, create_user,
                                             create_org):
    login_as(city_officer)
    create_drafts(client)
    bureau, ngo = assessment_of(district), assessment_of(seeded["ngo_user"].organisation)
    district_officer = create_user("officer", organisation_id=district.id)
    other_ngo_user = create_user("supplier")
    other_ngo_user.locale = "en"  # the page's wording is read in English
    admin = create_user("admin", organisation_id=None)
    evaluator = create_user("evaluator")
    detail = f"/assessment/yearly/{bureau.id}"

    for user, status in ((district_officer, 403), (seeded["ngo_user"], 403), (admin, 200), (evaluator, 403)):
        assert as_user(client, user).get(detail).status_code == status, user.role
    anonymous = as_user(client, None).get(detail)
    assert anonymous.status_code == 302 and "/login" in anonymous.location
    # Changes: only the city's officers.
    as_user(client, district_officer)
    assert client.get(f"{detail}/edit").status_code == 403
    for url in ("/assessment/yearly/create", f"{detail}/refresh", f"{detail}/confirm", f"{detail}/edit"):
        assert post(client, url).status_code == 403, url
    as_user(client, admin)
    assert post(client, f"{detail}/confirm").status_code == 403
    assert "Create the drafts" not in text(client.get(INDEX))

    # Confirmed: the district's officers and the NGO's users see their own, nobody else's.
    for assessment in (bureau, ngo):
        rows = edit_data(assessment, points="90")
        as_user(client, city_officer)
        assert post(client, f"/assessment/yearly/{assessment.id}/edit", rows).status_code == 302
        assert post(client, f"/assessment/yearly/{assessment.id}/confirm").status_code == 302
    assert as_user(client, district_officer).get(detail).status_code == 200
    own = text(client.get(INDEX))
    assert f'href="{detail}"' in own and f'href="/assessment/yearly/{ngo.id}"' not in own
    assert as_user(client, seeded["ngo_user"]).get(f"/assessment/yearly/{ngo.id}").status_code == 200
    assert client.get(detail).status_code == 403
    assert as_user(client, other_ngo_user).get(f"/assessment/yearly/{ngo.id}").status_code == 403
    assert "No assessment of this year to show." in text(client.get(INDEX))


def test_the_list_runs_the_same_queries_however_many_assessments(client, login_as, city_officer, city_bureau,
                                                                  create_org):
    login_as(city_officer)
    for n in range(2):
        make_district(create_org, city_bureau, f"第{n}区民政局")
    create_drafts(client)
    few = queries_for(client, INDEX)
    for n in range(2, 8):
        make_district(create_org, city_bureau, f"第{n}区民政局")
    create_drafts(client)
    assert db.session.scalar(sa.select(sa.func.count(Assessment.id))) == 8
    assert queries_for(client, INDEX) == few


def test_the_year_selector_and_a_year_out_of_range(client, login_as, city_officer, district):
    login_as(city_officer)
    this_year = local_date(utcnow()).year
    page = text(client.get("/assessment/yearly?year=1999"))  # not offered: the current year is shown
    assert f'<option value="{this_year}" selected>' in page
    assert f"Yearly assessment (年度考核) {this_year}" in page
    refused = create_drafts(client, year="2030")
    assert refused.status_code == 400
    assert db.session.scalar(sa.select(sa.func.count(Assessment.id))) == 0


# --- The wall: the criteria catalogue offers no commendation, grade or tilt ------------------------------------------


def test_the_criteria_form_offers_no_banned_factor(client, login_as, create_user):
    officer = create_user("officer")
    officer.locale = "en"  # the page's wording is read in English
    project = ServiceProject(bureau_id=officer.organisation_id, title="留守儿童关爱服务", plan="left_behind_children",
                             status=ProjectStatus.READY, fiscal_year=2026, budget=Decimal("800000"),
                             duration_months=12, needs_survey="走访 12 个行政村")
    db.session.add(project)
    db.session.commit()
    login_as(officer)
    form = text(client.get(f"/projects/{project.id}/tenders/new"))
    offered = set(re.findall(r'<option[^>]*value="([a-z_]+)"', form.split('name="criteria-0-factor_type"')[1]
                             .split("</select>")[0]))
    assert offered == {"service_plan", "team", "experience", "management", "resources", "other"}
    assert "move funding, never bid points" in form


def test_a_crafted_indicator_id_is_refused_not_a_server_error(client, login_as, city_officer, district):
    """"²" is a digit to str.isdigit but no int: the row is no indicator of the assessment."""
    login_as(city_officer)
    create_drafts(client)
    assessment = assessment_of(district)
    edit_url = f"/assessment/yearly/{assessment.id}/edit"
    for crafted in ("²", "١٢", "-3"):
        response = post(client, edit_url, edit_data(assessment, **{"rows-0-id": crafted}), page=edit_url)
        assert response.status_code == 422, crafted


def test_a_refresh_or_confirmation_without_a_valid_form_is_a_bad_request(client, login_as, city_officer, district,
                                                                         create_user, app, monkeypatch):
    login_as(city_officer)
    create_drafts(client)
    assessment = assessment_of(district)
    # Behind the app-wide CSRF check, the view's own form check: a 400 with a word, never a 403.
    monkeypatch.setitem(app.config, "WTF_CSRF_CHECK_DEFAULT", False)
    for action in ("refresh", "confirm"):
        response = client.post(f"/assessment/yearly/{assessment.id}/{action}", data={"csrf_token": "forged"})
        assert response.status_code == 400
        assert "The form could not be sent (it may have expired)" in text(response)
    assert assessment_of(district).status == AssessmentStatus.DRAFT
    as_user(client, create_user("supplier"))  # no permission: refused before the form is read
    assert client.post(f"/assessment/yearly/{assessment.id}/refresh", data={}).status_code == 403
