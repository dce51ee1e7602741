"""The review plan through HTTP: the plan page, adding a review, the review page (header, rubric, actions), changing,
starting and cancelling a review, the rubric editor (frozen once the review starts), the bureau's rubric templates,
the reviews panel of the contract page (no N+1 queries), and who may do each.

The contract of tests/contract_builders.py (start 2027-01-01, 12 months, signed 30 November 2026); the clock is
frozen on Wednesday 2 December 2026, 10:00 Beijing.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.models import OrgKind
from portal.extensions import db
from portal.reviews import planning, rubrics
from portal.reviews.models import Review, ReviewStatus, RubricTemplate
from portal.reviews.rules import ReviewKind
from tests.conftest import csrf_token
from tests.review_builders import add_reviewers, planned_review, started_review
from tests.support.queries import queries_for
from tests.support.web import as_user, text

AT = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(AT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def english(english_messages):
    """Pages in English, for tests that read their wording."""


@pytest.fixture
def built(city_bureau, create_user, now):
    built = planned_review(city_bureau, create_user, now=now)
    for user in (*built.officers, built.supplier):
        user.locale = "en"
    db.session.commit()
    return built


@pytest.fixture
def district(create_org, city_bureau):
    return create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)


def post(client, url, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, "/")} | data)


def add_data(**values) -> dict:
    template = planning.default_template()
    return {"kind": "extra", "title": "", "period_start": "2027-01-01", "period_end": "2027-04-30",
            "due_on": "2027-05-15", "year_index": "", "third_party": "郑州市社会工作评估中心",
            "template": str(template.id)} | values


def rubric_data(*spec) -> dict:
    data = {}
    for index, (level, name, weight, top) in enumerate(spec):
        data |= {f"rows-{index}-level": str(level), f"rows-{index}-name": name, f"rows-{index}-weight": weight,
                 f"rows-{index}-max_score": top, f"rows-{index}-guidance": ""}
    return data


# --- The plan page --------------------------------------------------------------------------------------------------


def test_plan_page_lists_every_review_with_its_state_and_flags_the_overdue(client, built, now, create_user,
                                                                          city_bureau, english):
    late = planned_review(city_bureau, create_user, now=now, on=built, kind=ReviewKind.NEEDS,
                          due_on=date(2026, 12, 1), period_start=date(2027, 1, 1), period_end=date(2027, 1, 31))
    started = started_review(city_bureau, create_user, now=now, on=built, reviewers=2, kind=ReviewKind.EXTRA,
                             due_on=date(2027, 3, 1), third_party="评估中心")
    as_user(client, built.officer)
    page = text(client.get(f"/reviews/contracts/{built.contract.id}"))
    assert "中期评估" in page and "需求评估" in page and "专项评估" in page
    row = page.split(f'id="review-{late.review.id}"')[1].split("</tr>")[0]
    assert "Overdue" in row and "Planned" in row
    row = page.split(f'id="review-{started.review.id}"')[1].split("</tr>")[0]
    assert "Under review" in row and "third party: 评估中心" in row and ">2</td>" in row and "Overdue" not in row
    assert f'action="/reviews/contracts/{built.contract.id}/add"' in page


def test_the_ngo_reads_the_plan_without_the_add_form_and_others_are_refused(client, built, create_user, district):
    as_user(client, built.supplier)
    response = client.get(f"/reviews/contracts/{built.contract.id}")
    assert response.status_code == 200 and "/add" not in text(response)
    for user in (create_user("supplier"), create_user("officer", organisation_id=district.id),
                 create_user("evaluator")):
        as_user(client, user)
        assert client.get(f"/reviews/contracts/{built.contract.id}").status_code == 403
    as_user(client, None)
    assert client.get(f"/reviews/contracts/{built.contract.id}").status_code in (302, 401)


def test_officer_adds_a_review_and_lands_on_its_page(client, built, english):
    as_user(client, built.officer)
    response = post(client, f"/reviews/contracts/{built.contract.id}/add", **add_data())
    assert response.status_code == 302
    review = db.session.scalars(sa.select(Review).where(Review.kind == ReviewKind.EXTRA)).one()
    assert response.headers["Location"].endswith(f"/reviews/{review.id}")
    assert (review.title, review.third_party) == ("专项评估", "郑州市社会工作评估中心")
    assert review.due_on == date(2027, 5, 15)
    page = text(client.get(response.headers["Location"]))
    assert "The review “专项评估” is added to the plan." in page


def test_adding_a_review_with_bad_dates_says_why(client, built, english):
    as_user(client, built.officer)
    response = post(client, f"/reviews/contracts/{built.contract.id}/add", **add_data(due_on="2026-12-31"))
    assert response.status_code == 422
    assert "A review cannot be due before the period it reviews starts (2027-01-01)." in text(response)
    response = post(client, f"/reviews/contracts/{built.contract.id}/add", **add_data(period_end="2028-06-30"))
    assert response.status_code == 422 and "within the contract&#39;s term" in text(response)
    response = post(client, f"/reviews/contracts/{built.contract.id}/add", **add_data(due_on=""))
    assert response.status_code == 400 and "This field is required." in text(response)
    assert db.session.scalar(sa.select(sa.func.count(Review.id))) == 1


def test_only_the_contracting_bureau_adds_reviews(client, built, create_user, district):
    as_user(client, create_user("officer", organisation_id=district.id))
    assert post(client, f"/reviews/contracts/{built.contract.id}/add", **add_data()).status_code == 403
    as_user(client, built.supplier)
    assert post(client, f"/reviews/contracts/{built.contract.id}/add", **add_data()).status_code == 403
    assert db.session.scalar(sa.select(sa.func.count(Review.id))) == 1


# --- The review page ------------------------------------------------------------------------------------------------


def test_review_page_shows_the_header_the_rubric_and_what_blocks_the_start(client, built, english):
    as_user(client, built.officer)
    page = text(client.get(f"/reviews/{built.review.id}"))
    assert "中期评估" in page and "Mid-term review (中期评估)" in page and "2027-01-01 – 2027-07-02" in page
    assert "项目管理" in page and "项目计划与执行进度" in page and "14 scored indicators" in page
    assert "Assign at least one reviewer first." in page and "Start the review" not in page
    assert f"/reviews/{built.review.id}/rubric" in page and f"/reviews/{built.review.id}/edit" in page


def test_review_page_is_read_by_the_parties_overseers_and_its_reviewers_only(client, built, create_user, district,
                                                                             now):
    (reviewer,) = add_reviewers(built, 1, now=now, create_user=create_user, declared=False)
    for user in (built.supplier, reviewer.user, create_user("admin")):
        as_user(client, user)
        response = client.get(f"/reviews/{built.review.id}")
        assert response.status_code == 200
        assert f"/reviews/{built.review.id}/rubric" not in text(response)
    for user in (create_user("evaluator"), create_user("supplier"),
                 create_user("officer", organisation_id=district.id)):
        as_user(client, user)
        assert client.get(f"/reviews/{built.review.id}").status_code == 403


def test_officer_changes_a_planned_review(client, built, english):
    as_user(client, built.officer)
    assert client.get(f"/reviews/{built.review.id}/edit").status_code == 200
    data = {"title": "中期评估（调整）", "period_start": "2027-01-01", "period_end": "2027-06-30",
            "due_on": "2027-07-20", "year_index": "", "third_party": "", "opens_payment": "y"}
    response = post(client, f"/reviews/{built.review.id}/edit", **data)
    assert response.status_code == 302
    db.session.refresh(built.review)
    assert (built.review.title, built.review.due_on, built.review.period_end) == (
        "中期评估（调整）", date(2027, 7, 20), date(2027, 6, 30))
    response = post(client, f"/reviews/{built.review.id}/edit", **(data | {"period_start": "2026-06-01"}))
    assert response.status_code == 422 and "within the contract&#39;s term" in text(response)
    as_user(client, built.supplier)
    assert client.get(f"/reviews/{built.review.id}/edit").status_code == 403
    built.review.status = ReviewStatus.STARTED
    db.session.commit()
    as_user(client, built.officer)
    response = client.get(f"/reviews/{built.review.id}/edit", follow_redirects=True)
    assert "Only a planned review can be changed." in text(response)


def test_starting_freezes_the_rubric_and_the_rubric_editor_refuses_after(client, built, create_user, now, english):
    add_reviewers(built, 2, now=now, create_user=create_user, declared=False)
    as_user(client, built.officer)
    response = post(client, f"/reviews/{built.review.id}/start")
    assert response.status_code == 302
    db.session.refresh(built.review)
    assert built.review.status == ReviewStatus.STARTED
    page = text(client.get(f"/reviews/{built.review.id}"))
    assert "The review has started" in page and "The rubric is frozen" in page
    assert f"/reviews/{built.review.id}/rubric" not in page

    before = [(i.name, i.weight) for i in built.review.indicators]
    response = post(client, f"/reviews/{built.review.id}/rubric", **rubric_data((1, "服务成效", "100", "100")))
    assert response.status_code == 302
    assert "A rubric cannot change once a review has started." in text(client.get(response.headers["Location"]))
    response = client.get(f"/reviews/{built.review.id}/rubric", follow_redirects=True)
    assert "A rubric cannot change once a review has started." in text(response)
    copy = post(client, f"/reviews/{built.review.id}/rubric/copy", template=str(planning.default_template().id))
    assert copy.status_code in (302, 400)
    db.session.expire_all()
    assert [(i.name, i.weight) for i in db.session.get(Review, built.review.id).indicators] == before

    response = post(client, f"/reviews/{built.review.id}/start")
    assert "Only a planned review can be started." in text(client.get(response.headers["Location"]))


def test_start_without_a_reviewer_is_refused_with_the_reason(client, built, english):
    as_user(client, built.officer)
    response = post(client, f"/reviews/{built.review.id}/start")
    assert "Assign at least one reviewer before starting the review." in text(client.get(response.headers["Location"]))
    assert db.session.get(Review, built.review.id).status == ReviewStatus.PLANNED
    as_user(client, built.supplier)
    assert post(client, f"/reviews/{built.review.id}/start").status_code == 403


def test_cancel_needs_a_reason(client, built, english):
    as_user(client, built.officer)
    response = post(client, f"/reviews/{built.review.id}/cancel", reason="")
    assert response.status_code == 400 and "This field is required." in text(response)
    response = post(client, f"/reviews/{built.review.id}/cancel", reason="与年度评估合并进行。")
    assert response.status_code == 302
    db.session.refresh(built.review)
    assert built.review.status == ReviewStatus.CANCELLED
    page = text(client.get(f"/reviews/{built.review.id}"))
    assert "The review is cancelled." in page and "与年度评估合并进行。" in page and "Cancel the review" not in page


# --- The rubric editor ----------------------------------------------------------------------------------------------


def test_rubric_editor_saves_a_rubric_that_adds_up_and_explains_one_that_does_not(client, built, english):
    as_user(client, built.officer)
    page = text(client.get(f"/reviews/{built.review.id}/rubric"))
    assert 'value="项目计划与执行进度"' in page and 'name="rows-21-name"' in page  # 19 rows and 3 empty ones
    response = post(client, f"/reviews/{built.review.id}/rubric",
                    **rubric_data((1, "服务成效", "70", "70"), (2, "目标达成", "40", "40"),
                                  (2, "服务对象改变", "20", "20"), (1, "财务管理", "30", "30"), (2, "", "", "")))
    assert response.status_code == 422
    assert ("The second-level weights under “服务成效” add up to 60; they must add up to its weight 70."
            in text(response))
    response = post(client, f"/reviews/{built.review.id}/rubric",
                    **rubric_data((1, "服务成效", "70", "70"), (2, "目标达成", "50", "50"),
                                  (2, "服务对象改变", "20", "20"), (1, "财务管理", "30", "30"), (2, "", "", "")))
    assert response.status_code == 302
    db.session.expire_all()
    assert [i.name for i in db.session.get(Review, built.review.id).indicators] == [
        "服务成效", "目标达成", "服务对象改变", "财务管理"]
    as_user(client, built.supplier)
    assert client.get(f"/reviews/{built.review.id}/rubric").status_code == 403


def test_officer_copies_a_bureau_template_into_the_review(client, built, now, english):
    template = rubrics.create_template(built.contract.bureau, name="本局模板", copy_from=planning.default_template(),
                                       actor=built.officer, now=now)
    db.session.commit()
    as_user(client, built.officer)
    response = post(client, f"/reviews/{built.review.id}/rubric/copy", template=str(template.id))
    assert response.status_code == 302
    assert "The rubric is replaced by a copy of “本局模板”." in text(client.get(response.headers["Location"]))
    db.session.refresh(built.review)
    assert built.review.template_id == template.id


# --- Rubric templates -----------------------------------------------------------------------------------------------


def test_templates_page_creates_changes_and_deletes_a_bureau_template(client, built, english):
    as_user(client, built.officer)
    page = text(client.get("/reviews/templates"))
    assert planning.DEFAULT_TEMPLATE_NAME in page and "Portal default (read-only)" in page
    response = post(client, "/reviews/templates/new", name="社区养老服务评估",
                    copy_from=str(planning.default_template().id))
    template = db.session.scalars(sa.select(RubricTemplate).where(RubricTemplate.bureau_id.is_not(None))).one()
    assert response.headers["Location"].endswith(f"/reviews/templates/{template.id}")
    assert len(template.indicators) == 19
    response = post(client, f"/reviews/templates/{template.id}", name="社区养老", description="试行",
                    **rubric_data((1, "服务成效", "100", "100"), (2, "目标达成", "100", "10")))
    assert response.status_code == 302
    db.session.expire_all()
    assert [i.name for i in db.session.get(RubricTemplate, template.id).indicators] == ["服务成效", "目标达成"]
    response = post(client, f"/reviews/templates/{template.id}", name="社区养老", description="",
                    **rubric_data((1, "服务成效", "90", "100")))
    assert response.status_code == 422 and "they must add up to 100" in text(response)
    template_id = template.id
    response = post(client, f"/reviews/templates/{template_id}/delete")
    assert response.status_code == 302
    db.session.expunge_all()
    assert db.session.get(RubricTemplate, template_id) is None
    assert post(client, "/reviews/templates/new", name="", copy_from="").status_code == 400


def test_the_default_template_is_read_only_and_other_bureaus_templates_are_hidden(client, built, create_user,
                                                                                  district, now, english):
    default = planning.default_template()
    stranger = create_user("officer", organisation_id=district.id)
    theirs = rubrics.create_template(district, name="区模板", copy_from=default, actor=stranger, now=now)
    db.session.commit()
    as_user(client, built.officer)
    page = text(client.get(f"/reviews/templates/{default.id}"))
    assert "项目管理" in page and 'name="rows-0-name"' not in page
    assert post(client, f"/reviews/templates/{default.id}", name="x").status_code == 403
    assert post(client, f"/reviews/templates/{default.id}/delete").status_code == 403
    assert client.get(f"/reviews/templates/{theirs.id}").status_code == 403
    assert post(client, f"/reviews/templates/{theirs.id}/delete").status_code == 403
    assert "区模板" not in text(client.get("/reviews/templates"))
    as_user(client, built.supplier)
    assert client.get("/reviews/templates").status_code == 403


def test_a_template_in_use_cannot_be_deleted(client, built, now, english):
    template = rubrics.create_template(built.contract.bureau, name="本局模板", copy_from=planning.default_template(),
                                       actor=built.officer, now=now)
    rubrics.copy_rubric(built.review, template, actor=built.officer, now=now)
    db.session.commit()
    as_user(client, built.officer)
    response = post(client, f"/reviews/templates/{template.id}/delete")
    assert "cannot be deleted" in text(client.get(response.headers["Location"]))
    assert db.session.get(RubricTemplate, template.id) is not None


# --- The contract page and the navigation ---------------------------------------------------------------------------


def test_contract_page_shows_the_next_reviews_without_n_plus_one_queries(client, built, city_bureau, create_user,
                                                                         now, english):
    as_user(client, built.officer)
    url = f"/contracts/{built.contract.id}"
    page = text(client.get(url))
    assert "Performance reviews (绩效评估)" in page and "中期评估" in page
    assert f"/reviews/contracts/{built.contract.id}" in page
    few = queries_for(client, url)
    for day in range(1, 9):
        extra = started_review(city_bureau, create_user, now=now, on=built, reviewers=1, kind=ReviewKind.EXTRA,
                               title=f"专项评估{day}", due_on=date(2027, 2, day))
        extra.review.status = ReviewStatus.GRADED if day % 2 else ReviewStatus.STARTED
        extra.review.score, extra.review.grade = (80, "good") if day % 2 else (None, None)
        extra.review.graded_at = now if day % 2 else None
    db.session.commit()
    assert queries_for(client, url) == few
    page = text(client.get(url))
    assert "9 reviews: 5 to do, 4 graded." in page and "Good (良好)" in page


def test_plan_page_queries_do_not_grow_with_the_reviews(client, built, city_bureau, create_user, now):
    as_user(client, built.officer)
    url = f"/reviews/contracts/{built.contract.id}"
    few = queries_for(client, url)
    for day in range(1, 6):
        started_review(city_bureau, create_user, now=now, on=built, reviewers=2, kind=ReviewKind.EXTRA,
                       due_on=date(2027, 2, day))
    assert queries_for(client, url) == few


def test_nav_links_officers_to_the_templates(client, built):
    """The officer's nav links "Performance reviews" to the NGOs' records, whose page links to the rubrics."""
    as_user(client, built.officer)
    dashboard = text(client.get("/dashboard"))
    assert 'href="/reviews/organisations"' in dashboard and "Performance reviews" in dashboard
    records = text(client.get("/reviews/organisations"))
    assert 'href="/reviews/templates"' in records and "Rubrics" in records
    as_user(client, built.supplier)
    dashboard = text(client.get("/dashboard"))
    assert 'href="/reviews/organisations"' not in dashboard and 'href="/reviews/templates"' not in dashboard


def test_a_crafted_rubric_posted_to_a_started_review_is_refused_without_an_error(client, built, create_user, now,
                                                                                 english):
    add_reviewers(built, 1, now=now, create_user=create_user)
    built.review.status = ReviewStatus.STARTED
    db.session.commit()
    before = [(i.name, i.weight) for i in built.review.indicators]
    as_user(client, built.officer)
    crafted = rubric_data(("abc", "服务成效", "100", "100")) | {"rows-1-level": "1e9999", "rows-x-name": "x"}
    response = post(client, f"/reviews/{built.review.id}/rubric", **crafted)
    assert response.status_code == 302
    assert "A rubric cannot change once a review has started." in text(client.get(response.headers["Location"]))
    db.session.expire_all()
    assert [(i.name, i.weight) for i in db.session.get(Review, built.review.id).indicators] == before
