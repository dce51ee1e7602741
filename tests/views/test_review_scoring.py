"""Scoring through HTTP: the officer's reviewers panel (assign, remove, a conflicted reviewer refused), a reviewer's
list, declaration and sheet (grouped by first-level indicator, running total, refusals), the sheets others may see
(a reviewer cannot see others' scores before submitting; the parties only once graded), grading, the report PDF,
the proposed termination, and who may do each.

The review of tests/review_builders.py on the contract of tests/contract_builders.py; the clock is frozen on
Wednesday 2 December 2026, 10:00 Beijing (the appeal window ends on 9 December, the plan is due on 16 December).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.models import AffiliationKind, ExpertAffiliation, OrgKind
from portal.contracts.models import ContractStatus, Gate
from portal.extensions import db
from portal.reviews import grading, scoring
from portal.reviews.models import Reviewer, ReviewerStatus, ReviewStatus
from portal.reviews.rules import ReviewKind
from tests.conftest import csrf_token
from tests.evaluation_factories import make_pool
from tests.review_builders import add_reviewers, leaf_points, planned_review, score_all, started_review
from tests.support.web import as_user, fetch, in_english, text

AT = datetime(2026, 12, 2, 2, 0, tzinfo=UTC)
SECRET_COMMENT = "乙评估人的独立意见"


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(AT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def started(city_bureau, create_user, now):
    built = started_review(city_bureau, create_user, now=now, reviewers=2)
    in_english(*built.officers, built.supplier)
    return built


@pytest.fixture
def planned(city_bureau, create_user, now):
    built = planned_review(city_bureau, create_user, now=now)
    in_english(*built.officers, built.supplier)
    return built


def post(client, url, **data):
    return client.post(url, data={"csrf_token": csrf_token(client, "/")} | data)


def evaluator(create_user):
    user = make_pool(create_user, 1)[0]
    in_english(user)
    return user


def sheet_data(review, total=80, **overrides) -> dict:
    points = leaf_points(review, total)
    maxima = {i.key: i.max_score for i in scoring.scored_indicators(review)}
    data = {}
    for key, value in points.items():
        data[f"points_{key}"] = f"{value}"
        data[f"comment_{key}"] = "记录不全，需改进。" if value < maxima[key] * Decimal("0.6") else ""
    return data | overrides


def detail(review) -> str:
    return f"/reviews/{review.id}"


# --- The reviewers panel ---------------------------------------------------------------------------------------------


def test_officer_assigns_and_removes_reviewers_on_the_review_page(client, planned, create_user):
    review = planned.review
    expert = evaluator(create_user)
    as_user(client, planned.officer)
    page = text(client.get(detail(review)))
    assert 'id="reviewers"' in page and "Assign a reviewer" in page and expert.username in page
    response = post(client, f"/reviews/{review.id}/reviewers", user_id=str(expert.id), kind="expert",
                    organisation_name="")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/reviews/{review.id}#reviewers")
    [row] = db.session.scalars(sa.select(Reviewer).where(Reviewer.review_id == review.id)).all()
    assert row.user_id == expert.id and row.status == ReviewerStatus.ASSIGNED
    page = text(client.get(detail(review)))
    assert "is assigned as a reviewer" in page and "Declaration pending" in page
    response = post(client, f"/reviews/reviewers/{row.id}/remove", reason="")
    assert response.status_code == 302
    db.session.refresh(row)
    assert row.status == ReviewerStatus.ASSIGNED
    post(client, f"/reviews/reviewers/{row.id}/remove", reason="专家本期时间冲突")
    db.session.refresh(row)
    assert row.status == ReviewerStatus.WITHDRAWN
    assert "专家本期时间冲突" in text(client.get(detail(review)))


def test_a_conflicted_reviewer_is_refused_with_the_reason(client, planned, create_user):
    review = planned.review
    tied = evaluator(create_user)
    db.session.add(ExpertAffiliation(expert_id=tied.id, organisation_id=planned.contract.supplier_id,
                                     organisation_name=planned.contract.supplier.name,
                                     kind=AffiliationKind.DIRECTOR, start_date=date(2024, 1, 1)))
    db.session.commit()
    as_user(client, planned.officer)
    response = post(client, f"/reviews/{review.id}/reviewers", user_id=str(tied.id), kind="expert")
    assert response.status_code == 302
    assert "a reviewer with a conflict cannot be assigned" in text(client.get(detail(review)))
    assert db.session.scalar(sa.select(sa.func.count(Reviewer.id))) == 0


def test_only_the_contracting_bureau_manages_reviewers(client, planned, create_user, create_org):
    review = planned.review
    expert = evaluator(create_user)
    other = create_user("officer", organisation_id=create_org(OrgKind.BUREAU, name="开封市民政局", level="city").id)
    for user, status in ((other, 403), (planned.supplier, 403), (expert, 403)):
        as_user(client, user)
        assert post(client, f"/reviews/{review.id}/reviewers", user_id=str(expert.id),
                    kind="expert").status_code == status
    as_user(client, planned.supplier)
    page = text(client.get(detail(review)))
    assert 'id="reviewers"' in page and "Assign a reviewer" not in page


# --- A reviewer's pages ----------------------------------------------------------------------------------------------


def test_my_reviews_lists_the_reviews_i_am_assigned_to(client, started, create_user, city_bureau, now):
    reviewer = started.reviewers[0]
    as_user(client, reviewer.user)
    page = text(client.get("/reviews/mine"))
    assert started.review.title in page and started.contract.supplier.name in page
    assert f"/reviews/{started.review.id}/sheet" in page
    as_user(client, started.supplier)
    assert client.get("/reviews/mine").status_code == 403


def test_a_reviewer_declares_before_scoring(client, started, create_user, now):
    [row] = add_reviewers(started, 1, now=now, create_user=create_user, declared=False)
    review = started.review
    as_user(client, row.user)
    response = client.get(f"/reviews/{review.id}/sheet")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/reviews/{review.id}/declare")
    page = text(client.get(f"/reviews/{review.id}/declare"))
    assert started.contract.supplier.name in page and "Sign the declaration" in page
    response = post(client, f"/reviews/{review.id}/declare", conflict="yes", note="")
    assert response.status_code == 400 and "Describe the conflict" in text(response)
    response = post(client, f"/reviews/{review.id}/declare", conflict="no", note="")
    assert response.status_code == 302 and response.headers["Location"].endswith(f"/reviews/{review.id}/sheet")
    db.session.refresh(row)
    assert row.status == ReviewerStatus.ACTIVE
    stranger = evaluator(create_user)
    as_user(client, stranger)
    assert client.get(f"/reviews/{review.id}/declare").status_code == 403
    assert client.get(f"/reviews/{review.id}/sheet").status_code == 403


def test_a_declared_conflict_withdraws_through_the_page(client, started, create_user, now):
    [row] = add_reviewers(started, 1, now=now, create_user=create_user, declared=False)
    as_user(client, row.user)
    response = post(client, f"/reviews/{started.review.id}/declare", conflict="yes", note="本人曾任该机构理事")
    assert response.status_code == 302 and response.headers["Location"].endswith("/reviews/mine")
    db.session.refresh(row)
    assert row.status == ReviewerStatus.WITHDRAWN
    as_user(client, started.officer)
    assert "本人曾任该机构理事" in text(client.get(detail(started.review)))


def test_the_sheet_groups_indicators_saves_and_shows_the_running_total(client, started):
    review = started.review
    reviewer = started.reviewers[0]
    as_user(client, reviewer.user)
    page = text(client.get(f"/reviews/{review.id}/sheet"))
    for name in ("项目管理", "项目计划与执行进度", "服务对象满意度", "意见反馈与处理"):
        assert name in page
    assert page.index("项目管理") < page.index("项目计划与执行进度") < page.index("服务成效")
    assert 'id="sheet-total">0.00<' in page
    first, second = scoring.scored_indicators(review)[:2]
    response = post(client, f"/reviews/{review.id}/sheet", **{f"points_{first.key}": "7.5",
                                                              f"points_{second.key}": "6", "save": "1"})
    assert response.status_code == 302
    page = text(client.get(f"/reviews/{review.id}/sheet"))
    assert 'id="sheet-total">13.50<' in page and "Your points have been saved" in page
    assert "Subtotal 13.50 of 20" in page and 'value="7.5"' in page


def test_the_sheet_refuses_bad_points_and_keeps_what_was_typed(client, started):
    review = started.review
    reviewer = started.reviewers[0]
    first = scoring.scored_indicators(review)[0]
    as_user(client, reviewer.user)
    response = post(client, f"/reviews/{review.id}/sheet", **{f"points_{first.key}": "abc", "save": "1"})
    assert response.status_code == 400 and "Enter a number of points" in text(response)
    response = post(client, f"/reviews/{review.id}/sheet", **{f"points_{first.key}": "9", "save": "1"})
    assert response.status_code == 400
    assert f"The points for “{first.name}” must be from 0 to 8" in text(response) and 'value="9"' in text(response)
    response = post(client, f"/reviews/{review.id}/sheet", **{f"points_{first.key}": "2", "save": "1"})
    assert response.status_code == 400 and f"Explain the points for “{first.name}”" in text(response)
    response = post(client, f"/reviews/{review.id}/sheet", **{f"points_{first.key}": "8", "submit_sheet": "1"})
    assert response.status_code == 400 and "Points are missing for" in text(response)
    assert scoring.points_of(reviewer) == {}
    response = post(client, f"/reviews/{review.id}/sheet", **sheet_data(review, 80), submit_sheet="1")
    assert response.status_code == 302
    db.session.refresh(reviewer)
    assert reviewer.submitted_at is not None
    page = text(client.get(f"/reviews/{review.id}/sheet"))
    assert "Your sheet is submitted" in page and 'id="sheet-total">80.00<' in page and "<input" not in page.split(
        'id="sheet-total"')[1]


def test_a_reviewer_cannot_see_others_scores_before_submitting(client, started):
    review = started.review
    first, second = started.reviewers
    points = leaf_points(review, 70)
    leaf = scoring.scored_indicators(review)[0]
    score_all(review, {second.user: points | {}}, now=AT)
    score = next(s for s in second.scores if s.indicator_id == leaf.key)
    score.comment = SECRET_COMMENT
    db.session.commit()
    as_user(client, first.user)
    for url in (f"/reviews/{review.id}/sheets", f"/reviews/{review.id}/sheet", detail(review)):
        page = text(client.get(url))
        assert SECRET_COMMENT not in page and "70.00" not in page, url
    assert "once your own is submitted" in text(client.get(f"/reviews/{review.id}/sheets"))
    post(client, f"/reviews/{review.id}/sheet", **sheet_data(review, 80), submit_sheet="1")
    page = text(client.get(f"/reviews/{review.id}/sheets"))
    assert SECRET_COMMENT in page and "70.00" in page and "80.00" in page
    assert "70.00" in text(client.get(detail(review)))  # the panel's totals, now visible to them
    # The bureau and the NGO see no points before the review is graded: progress only.
    for user in (started.officer, started.supplier):
        as_user(client, user)
        page = text(client.get(detail(review)))
        assert "Sheets submitted: 2 of 2" in page and "70.00" not in page and "80.00" not in page
        assert SECRET_COMMENT not in text(client.get(f"/reviews/{review.id}/sheets"))


def test_grading_shows_the_totals_the_grade_and_the_report(client, started, create_user):
    review = started.review
    score_all(review, [80, 70], now=AT)
    as_user(client, started.supplier)
    assert post(client, f"/reviews/{review.id}/finalise").status_code == 403
    as_user(client, started.officer)
    page = text(client.get(detail(review)))
    assert "Grade the review" in page
    response = post(client, f"/reviews/{review.id}/finalise")
    assert response.status_code == 302
    db.session.refresh(review)
    assert review.status == ReviewStatus.GRADED and review.score == Decimal("75.00")
    page = text(client.get(detail(review)))
    assert "graded Pass (合格) with 75.00 points" in page
    assert "Score 75.00 · grade Pass (合格)" in page and "80.00" in page and "70.00" in page
    assert f"/reviews/{review.id}/report.pdf" in page
    installment = next(i for i in started.contract_built.installments if i.gate == Gate.REVIEW)
    db.session.refresh(installment)
    assert installment.gate_met_at is not None
    for user in (started.officer, started.supplier, started.reviewers[0].user):
        as_user(client, user)
        response = fetch(client, f"/reviews/{review.id}/report.pdf")
        assert response.status_code == 200 and response.mimetype == "application/pdf", user.username
    for user in (create_user("supplier"), evaluator(create_user)):
        as_user(client, user)
        assert fetch(client, f"/reviews/{review.id}/report.pdf").status_code == 403
    as_user(client, started.supplier)
    assert "80.00" in text(client.get(f"/reviews/{review.id}/sheets"))


def test_grading_is_refused_while_sheets_are_missing(client, started):
    review = started.review
    score_all(review, {started.reviewers[0].user: 80}, now=AT)
    as_user(client, started.officer)
    page = text(client.get(detail(review)))
    assert "Grade the review" not in page and "Not every reviewer has submitted" in page
    assert post(client, f"/reviews/{review.id}/finalise").status_code == 302
    assert "Not every reviewer has submitted" in text(client.get(detail(review)))
    db.session.refresh(review)
    assert review.status == ReviewStatus.STARTED


def test_the_officer_decides_a_proposed_termination(client, started, city_bureau, create_user, now):
    review = started.review
    score_all(review, [50, 50], now=AT)
    grading.finalise(review, actor=started.officer, now=AT)
    db.session.commit()
    as_user(client, started.officer)
    assert client.get(f"/reviews/{review.id}/proposal").status_code == 403
    second = started_review(city_bureau, create_user, now=now, on=started, kind=ReviewKind.SUPERVISION,
                            opens_payment=False)
    score_all(second.review, [40, 45], now=AT + timedelta(hours=1))
    grading.finalise(second.review, actor=started.officer, now=AT + timedelta(hours=1))
    db.session.commit()
    page = text(client.get(detail(second.review)))
    assert "Decide on the proposed termination" in page
    page = text(client.get(f"/reviews/{second.review.id}/proposal"))
    assert "Failed in a row, counting back from the latest: 2" in page
    response = post(client, f"/reviews/{second.review.id}/proposal", decision="terminate", note="短")
    assert response.status_code == 400
    grounds = "连续两次绩效评估不合格，整改未见成效，依约终止合同。"
    response = post(client, f"/reviews/{second.review.id}/proposal", decision="terminate", note=grounds)
    assert response.status_code == 302
    db.session.refresh(started.contract)
    assert started.contract.status == ContractStatus.TERMINATED
    assert "terminate the contract" in text(client.get(f"/reviews/{second.review.id}/proposal"))
    as_user(client, started.supplier)
    assert client.get(f"/reviews/{second.review.id}/proposal").status_code == 403
