"""The NGO's side of a review through HTTP: evidence on the review page and its download (parties, overseers and
declared reviewers only), the self-assessment, satisfaction surveys, the appeal and its answer, the rectification
page with the plan and the officer's decision, and the performance records (any bureau's officers, admin and the
NGO itself; in a fixed number of queries).

Evidence: a mid-term review of a contract of a district bureau under the city bureau, running through 2027; the
clock is 10 March 2027. Appeals and rectification: a contract running from July 2026, its review graded on 30
September 2026 (the appeal window ends on 13 October, over National Day).
"""

from __future__ import annotations

import io
from datetime import date
from decimal import Decimal

import pytest
import sqlalchemy as sa
import time_machine

from portal.accounts.models import OrgKind
from portal.contracts.models import ContractStatus
from portal.extensions import db
from portal.reviews import appeals, evidence, rectification
from portal.reviews.models import (
    Appeal,
    AppealStatus,
    Evidence,
    EvidenceKind,
    Rectification,
    RectificationStatus,
    ReviewerStatus,
    ReviewKind,
    ReviewStatus,
    SatisfactionSurvey,
)
from tests.conftest import csrf_token
from tests.contract_builders import signed_contract
from tests.files_support import ELF_BYTES, PDF_BYTES
from tests.review_builders import add_reviewers, planned_review, started_review
from tests.support.queries import queries_for
from tests.support.web import as_user, bj, fetch, text

pytestmark = pytest.mark.usefixtures("english_messages")

MARCH = bj("2027-03-10")
GRADED = bj("2026-09-30")
REASONS = "评估人未查阅我方提交的个案档案，服务成效指标的评分与证据不符，请求复核。"
DISMISSAL = "评估人已查阅全部个案档案，评分有据，维持原评定。"
UPHOLDING = "经核查，评估人确未查阅个案档案，同意重新评分。"
PLAN = "一、补充个案档案，完善服务记录；二、每月开展志愿者培训；三、由督导每两周检查服务质量并形成记录。"


@pytest.fixture
def district(create_org, city_bureau):
    return create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)


@pytest.fixture
def outsiders(create_user, create_org):
    """Who may not read the evidence: another city's officer, another NGO, an evaluator not reviewing."""
    other_city = create_org(OrgKind.BUREAU, name="开封市民政局", level="city")
    return [create_user("officer", organisation_id=other_city.id), create_user("supplier"),
            create_user("evaluator")]


@pytest.fixture
def built(district, create_user, now):
    built = planned_review(district, create_user, now=now)
    add_reviewers(built, 1, now=now, create_user=create_user, declared=True)
    add_reviewers(built, 1, now=now, create_user=create_user, declared=False)
    return built


def review_url(built) -> str:
    return f"/reviews/{built.review.id}"


def post(client, url: str, data: dict, *, page: str, multipart: bool = False):
    data = {"csrf_token": csrf_token(client, page)} | data
    return client.post(url, data=data, content_type="multipart/form-data" if multipart else None)


def add_file(built, kind=EvidenceKind.CASE, name="个案档案.pdf") -> Evidence:
    from werkzeug.datastructures import FileStorage

    item = evidence.upload_evidence(built.review, kind=kind, upload=FileStorage(io.BytesIO(PDF_BYTES), name),
                                    actor=built.supplier, now=MARCH)
    db.session.commit()
    return item


# --- Evidence ---------------------------------------------------------------------------------------------------------


def test_the_ngo_uploads_evidence_from_the_review_page(client, built):
    as_user(client, built.supplier)
    page = text(client.get(review_url(built)))
    assert 'id="evidence"' in page and "Upload evidence" in page
    response = post(client, f"{review_url(built)}/evidence",
                    {"kind": "case", "note": "第一季度个案", "attachment": (io.BytesIO(PDF_BYTES), "个案档案.pdf")},
                    page=review_url(built), multipart=True)
    assert response.status_code == 302 and response.headers["Location"].endswith(f"{review_url(built)}#evidence")
    item = db.session.scalar(sa.select(Evidence))
    assert (item.kind, item.note, item.file.original_name) == ("case", "第一季度个案", "个案档案.pdf")
    page = text(client.get(review_url(built)))
    assert "The evidence has been uploaded." in page and f"/reviews/evidence/{item.id}/file" in page


def test_a_bad_upload_is_flashed_and_nothing_is_stored(client, built):
    as_user(client, built.supplier)
    url = f"{review_url(built)}/evidence"
    response = post(client, url, {"kind": "case", "attachment": (io.BytesIO(ELF_BYTES), "个案档案.pdf")},
                    page=review_url(built), multipart=True)
    assert response.status_code == 302
    assert "This kind of file is not accepted." in text(client.get(review_url(built)))
    post(client, url, {"kind": "case"}, page=review_url(built), multipart=True)  # no file
    assert "This field is required." in text(client.get(review_url(built)))
    assert client.post(url, data={"kind": "case"}).status_code == 400  # no CSRF token
    assert db.session.scalar(sa.select(sa.func.count(Evidence.id))) == 0


def test_evidence_files_are_read_by_the_parties_overseers_and_declared_reviewers_only(client, built, outsiders,
                                                                                      create_user):
    item = add_file(built)
    file_url = f"/reviews/evidence/{item.id}/file"
    declared, undeclared = built.reviewers
    for user in (built.supplier, built.officer, create_user("officer"), create_user("admin"), declared.user):
        as_user(client, user)
        download = fetch(client, file_url)
        assert download.status_code == 200 and download.data == PDF_BYTES, user.username
        assert "attachment" in download.headers["Content-Disposition"]
        assert "个案档案.pdf" in text(client.get(review_url(built)))
    for user in (undeclared.user, *outsiders):
        as_user(client, user)
        assert fetch(client, file_url).status_code == 403, user.username
    # The undeclared reviewer sees the review page but not the files, nor their names.
    as_user(client, undeclared.user)
    page = text(client.get(review_url(built)))
    assert "个案档案.pdf" not in page and file_url not in page and "declared that they have no conflict" in page
    as_user(client, None)
    assert fetch(client, file_url).status_code == 302


def test_a_withdrawn_reviewer_no_longer_reads_the_evidence(client, built):
    item = add_file(built)
    declared = built.reviewers[0]
    declared.status = ReviewerStatus.WITHDRAWN
    db.session.commit()
    as_user(client, declared.user)
    assert fetch(client, f"/reviews/evidence/{item.id}/file").status_code == 403


def test_the_ngo_removes_evidence_before_the_start_only(client, built):
    first, second = add_file(built), add_file(built, EvidenceKind.PHOTO, "照片.pdf")
    as_user(client, built.supplier)
    response = post(client, f"/reviews/evidence/{first.id}/remove", {}, page=review_url(built))
    assert response.status_code == 302
    assert [e.id for e in db.session.scalars(sa.select(Evidence))] == [second.id]
    built.review.status, built.review.started_at = ReviewStatus.STARTED, MARCH
    db.session.commit()
    assert "Remove" not in text(client.get(review_url(built))).split('id="surveys"')[0]
    post(client, f"/reviews/evidence/{second.id}/remove", {}, page=review_url(built))
    assert "only before the review starts" in text(client.get(review_url(built)))
    assert db.session.scalar(sa.select(sa.func.count(Evidence.id))) == 1


def test_only_the_ngo_reaches_the_evidence_forms(client, built, outsiders):
    item = add_file(built)
    for user in (built.officer, *outsiders):
        as_user(client, user)
        token = csrf_token(client, "/")
        for url in (f"{review_url(built)}/evidence", f"/reviews/evidence/{item.id}/remove",
                    f"{review_url(built)}/self-assessment"):
            assert client.post(url, data={"csrf_token": token}).status_code == 403, (user.username, url)


def test_the_ngo_writes_its_self_assessment(client, built):
    as_user(client, built.supplier)
    text_ = "本期完成入户探访612人次、个案服务18个，服务目标基本达成，志愿者培训尚有不足。"
    post(client, f"{review_url(built)}/self-assessment", {"text": "很好。"}, page=review_url(built))
    assert "at least 20 characters" in text(client.get(review_url(built)))
    post(client, f"{review_url(built)}/self-assessment", {"text": text_}, page=review_url(built))
    db.session.refresh(built.review)
    assert built.review.self_assessment == text_
    assert text_ in text(client.get(review_url(built)))


# --- Surveys ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def march():
    with time_machine.travel(MARCH, tick=False) as traveller:
        yield traveller


def survey_data(**values) -> dict:
    return {"title": "一季度满意度调查", "surveyed_on": "2027-03-05", "method": "问卷", "respondents": "50",
            "satisfied": "45"} | values


@pytest.mark.usefixtures("march")
def test_the_officer_and_the_ngo_enter_surveys_and_the_page_shows_the_rate(client, built):
    as_user(client, built.officer)
    response = post(client, f"{review_url(built)}/surveys", survey_data(), page=review_url(built))
    assert response.status_code == 302 and response.headers["Location"].endswith("#surveys")
    as_user(client, built.supplier)
    post(client, f"{review_url(built)}/surveys", survey_data(title="电话回访", respondents="30", satisfied="27"),
         page=review_url(built))
    page = text(client.get(review_url(built)))
    assert "Satisfaction over all surveys: 90.00 percent." in page and "电话回访" in page
    assert db.session.scalar(sa.select(sa.func.count(SatisfactionSurvey.id))) == 2


@pytest.mark.usefixtures("march")
def test_bad_survey_figures_are_flashed(client, built):
    as_user(client, built.supplier)
    post(client, f"{review_url(built)}/surveys", survey_data(satisfied="51"), page=review_url(built))
    assert "from 0 to the number of respondents (50)" in text(client.get(review_url(built)))
    post(client, f"{review_url(built)}/surveys", survey_data(surveyed_on="2027-03-11"), page=review_url(built))
    assert "cannot be in the future" in text(client.get(review_url(built)))
    post(client, f"{review_url(built)}/surveys", survey_data(respondents="0"), page=review_url(built))
    assert "Respondents" in text(client.get(review_url(built)))
    assert db.session.scalar(sa.select(sa.func.count(SatisfactionSurvey.id))) == 0


@pytest.mark.usefixtures("march")
def test_surveys_are_removed_by_whom_the_rules_allow(client, built, outsiders):
    own = evidence.add_survey(built.review, title="问卷", surveyed_on=date(2027, 3, 1), respondents=10, satisfied=9,
                              actor=built.supplier, now=MARCH)
    db.session.commit()
    for user in outsiders[:2]:
        as_user(client, user)
        assert client.post(f"/reviews/surveys/{own.id}/remove",
                           data={"csrf_token": csrf_token(client, "/")}).status_code == 403
    as_user(client, built.supplier)
    assert post(client, f"/reviews/surveys/{own.id}/remove", {}, page=review_url(built)).status_code == 302
    assert db.session.scalar(sa.select(sa.func.count(SatisfactionSurvey.id))) == 0


# --- Appeals ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def graded(city_bureau, create_user):
    built = started_review(city_bureau, create_user, now=bj("2026-09-01"), reviewers=2, start=date(2026, 7, 1),
                           signed_at=bj("2026-06-20"))
    review = built.review
    review.status, review.score, review.grade, review.graded_at = ReviewStatus.GRADED, Decimal("58.50"), "fail", GRADED
    db.session.commit()
    return built


def test_the_ngo_contests_the_grade_and_the_officer_dismisses_it(client, graded):
    url = f"/reviews/{graded.review.id}/appeal"
    with time_machine.travel(bj("2026-10-13", "20:00"), tick=False):
        as_user(client, graded.supplier)
        page = text(client.get(f"/reviews/{graded.review.id}"))
        assert "until 2026-10-13" in page and url in page
        page = text(client.get(url))
        assert "Last day to appeal" in page and "2026-10-13" in page and 'name="reasons"' in page
        response = post(client, url, {"reasons": "不服。"}, page=url)
        assert response.status_code == 422 and "at least 20 characters" in text(response)
        response = post(client, url, {"reasons": REASONS}, page=url)
        assert response.status_code == 302 and response.headers["Location"].endswith("#appeals")
        appeal = db.session.scalar(sa.select(Appeal))
        assert appeal.reasons == REASONS
        page = text(client.get(url))
        assert REASONS in page and 'name="reasons"' not in page and "cannot be contested now" in page
    as_user(client, graded.officer)
    answer_url = f"/reviews/appeals/{appeal.id}/answer"
    assert answer_url in text(client.get(f"/reviews/{graded.review.id}"))
    assert 'name="answer"' in text(client.get(answer_url))
    response = post(client, answer_url, {"decision": "dismiss", "answer": "维持。"}, page=answer_url)
    assert response.status_code == 422 and "at least 10 characters" in text(response)
    response = post(client, answer_url, {"decision": "dismiss", "answer": DISMISSAL}, page=answer_url)
    assert response.status_code == 302
    db.session.refresh(appeal)
    assert appeal.status == AppealStatus.DISMISSED
    response = client.get(answer_url)
    assert response.status_code == 302  # answered: back to the review
    as_user(client, graded.supplier)
    assert "Dismissed: the grade stands" in text(client.get(f"/reviews/{graded.review.id}"))


def test_the_appeal_window_is_enforced_in_the_browser(client, graded):
    url = f"/reviews/{graded.review.id}/appeal"
    with time_machine.travel(bj("2026-10-14", "00:01"), tick=False):
        as_user(client, graded.supplier)
        assert url not in text(client.get(f"/reviews/{graded.review.id}"))
        assert "cannot be contested now" in text(client.get(url))
        response = post(client, url, {"reasons": REASONS}, page="/")
        assert response.status_code == 422 and "closed on 2026-10-13" in text(response)
    assert db.session.scalar(sa.select(sa.func.count(Appeal.id))) == 0


def test_an_upheld_appeal_reopens_the_scoring(client, graded):
    appeal = appeals.file_appeal(graded.review, reasons=REASONS, actor=graded.supplier, now=bj("2026-10-08"))
    db.session.commit()
    as_user(client, graded.officer)
    url = f"/reviews/appeals/{appeal.id}/answer"
    response = post(client, url, {"decision": "uphold", "answer": UPHOLDING}, page=url)
    assert response.status_code == 302
    db.session.refresh(graded.review)
    assert (graded.review.status, graded.review.round) == (ReviewStatus.STARTED, 2)
    assert "The appeal is upheld" in text(client.get(f"/reviews/{graded.review.id}"))


def test_appeal_pages_refuse_everyone_else(client, graded, outsiders, create_user):
    appeal = appeals.file_appeal(graded.review, reasons=REASONS, actor=graded.supplier, now=bj("2026-10-08"))
    db.session.commit()
    appeal_url, answer_url = f"/reviews/{graded.review.id}/appeal", f"/reviews/appeals/{appeal.id}/answer"
    for user in (graded.officer, create_user("admin"), *outsiders):
        as_user(client, user)
        assert client.get(appeal_url).status_code == 403, user.username
    for user in (graded.supplier, create_user("admin"), *outsiders):
        as_user(client, user)
        assert client.get(answer_url).status_code == 403, user.username
    # A reviewer sees the review but not the appeals.
    as_user(client, graded.reviewers[0].user)
    page = text(client.get(f"/reviews/{graded.review.id}"))
    assert REASONS not in page and 'id="appeals"' not in page


# --- Rectification ----------------------------------------------------------------------------------------------------


@pytest.fixture
def failed(graded):
    review = graded.review
    db.session.add(Rectification(review_id=review.id, contract_id=review.contract_id, plan_due_on=date(2026, 10, 20)))
    db.session.commit()
    return graded


def rect_url(failed) -> str:
    return f"/reviews/rectifications/{db.session.scalar(sa.select(Rectification.id))}"


def test_the_ngo_submits_its_plan_and_the_officer_accepts_it(client, failed):
    url = rect_url(failed)
    as_user(client, failed.supplier)
    assert url in text(client.get(f"/reviews/{failed.review.id}"))
    with time_machine.travel(bj("2026-10-15"), tick=False):
        as_user(client, failed.supplier)
        page = text(client.get(url))
        assert 'name="plan"' in page and "2026-10-20" in page
        response = post(client, f"{url}/plan", {"plan": PLAN, "due_on": "2027-02-01"}, page=url, multipart=True)
        assert response.status_code == 422 and "within 90 days" in text(response)
        response = post(client, f"{url}/plan", {"plan": PLAN, "due_on": "2026-12-31",
                                               "attachment": (io.BytesIO(PDF_BYTES), "整改方案.pdf")},
                        page=url, multipart=True)
        assert response.status_code == 302 and response.headers["Location"].endswith(url)
    item = db.session.scalar(sa.select(Rectification))
    assert item.status == RectificationStatus.PLAN_SUBMITTED
    as_user(client, failed.supplier)  # signed in afresh outside the travelled clock
    download = fetch(client, f"{url}/plan-file")
    assert download.status_code == 200 and download.data == PDF_BYTES
    as_user(client, failed.officer)
    page = text(client.get(url))
    assert PLAN in page and "Accept the plan" in page and "Return the plan" in page
    response = post(client, f"{url}/accept", {"accept-note": "同意。"}, page=url)
    assert response.status_code == 302
    db.session.refresh(item)
    assert item.status == RectificationStatus.IN_PROGRESS and item.re_review.kind == ReviewKind.RE_REVIEW
    page = text(client.get(url))
    assert f"/reviews/{item.re_review_id}" in page and "Accept the plan" not in page
    assert "re-review (整改复评) of a rectification" in text(client.get(f"/reviews/{item.re_review_id}"))


def test_the_officer_returns_a_plan_with_what_it_lacks(client, failed):
    item = db.session.scalar(sa.select(Rectification))
    rectification.submit_plan(item, plan=PLAN, due_on=date(2026, 12, 31), actor=failed.supplier,
                              now=bj("2026-10-15"))
    db.session.commit()
    url = rect_url(failed)
    with time_machine.travel(bj("2026-10-16"), tick=False):
        as_user(client, failed.officer)
        response = post(client, f"{url}/return", {"return-note": ""}, page=url)
        assert response.status_code == 400 and "This field is required." in text(response)
        response = post(client, f"{url}/return", {"return-note": "请补充志愿者培训的具体安排和负责人。"}, page=url)
        assert response.status_code == 302
    db.session.refresh(item)
    assert item.status == RectificationStatus.AWAITING_PLAN
    as_user(client, failed.supplier)
    page = text(client.get(url))
    assert "请补充志愿者培训的具体安排和负责人。" in page and 'name="plan"' in page


def test_rectification_pages_are_for_the_parties_and_overseers(client, failed, outsiders, create_user):
    url = rect_url(failed)
    for user in (failed.supplier, failed.officer, create_user("admin")):
        as_user(client, user)
        assert client.get(url).status_code == 200, user.username
    for user in outsiders:
        as_user(client, user)
        assert client.get(url).status_code == 403, user.username
    as_user(client, failed.supplier)
    token = csrf_token(client, url)
    for action in ("accept", "return"):
        assert client.post(f"{url}/{action}", data={"csrf_token": token}).status_code == 403
    as_user(client, failed.officer)
    assert client.post(f"{url}/plan", data={"csrf_token": csrf_token(client, "/")}).status_code == 403
    as_user(client, None)
    assert client.get(url).status_code == 302


def test_a_rectification_of_an_ended_contract_offers_no_form(client, failed):
    failed.contract.status = ContractStatus.TERMINATED
    db.session.commit()
    as_user(client, failed.supplier)
    page = text(client.get(rect_url(failed)))
    assert "no longer in force" in page and 'name="plan"' not in page


# --- Performance records ----------------------------------------------------------------------------------------------


def graded_reviews(built_contract, bureau, create_user, now, count: int) -> None:
    for n in range(count):
        review = planned_review(bureau, create_user, now=now, on=built_contract,
                                kind=ReviewKind.SUPERVISION).review
        review.status, review.score, review.grade = ReviewStatus.GRADED, Decimal("50.00") + n * 10, "pass"
        review.grade = "fail" if review.score < 60 else "pass" if review.score < 80 else "good"
        review.graded_at = bj(f"2027-0{n + 1}-15")
        db.session.add(Rectification(review_id=review.id, contract_id=review.contract_id,
                                     plan_due_on=date(2027, 12, 1), status=RectificationStatus.CLOSED))
    db.session.commit()


def test_the_record_page_for_officers_of_any_bureau_and_the_ngo(client, city_bureau, create_user, create_org, now):
    built = signed_contract(city_bureau, create_user, now=now)
    graded_reviews(built, city_bureau, create_user, now, 2)
    ngo = built.contract.supplier
    url = f"/reviews/organisations/{ngo.id}/record"
    other_city = create_org(OrgKind.BUREAU, name="开封市民政局", level="city")
    readers = (create_user("officer", organisation_id=other_city.id), create_user("admin"), built.supplier)
    for user in readers:
        user.locale = "en"  # pages follow the user's language; english_messages covers the services' messages
    db.session.commit()
    for user in readers:
        as_user(client, user)
        page = text(client.get(url))
        assert f"Performance record of {ngo.name}" in page and "郑州市民政局" in page and "55.00" in page, user.role
    for user in (create_user("supplier"), create_user("evaluator")):
        as_user(client, user)
        assert client.get(url).status_code == 403, user.role
    as_user(client, None)
    assert client.get(url).status_code == 302
    as_user(client, create_user("admin"))
    assert client.get(f"/reviews/organisations/{city_bureau.id}/record").status_code == 403
    assert client.get("/reviews/organisations/999999/record").status_code == 404


def test_the_ngo_reaches_its_own_record(client, city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now)
    as_user(client, built.supplier)
    response = client.get("/reviews/my-record")
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/reviews/organisations/{built.supplier.organisation_id}/record")
    as_user(client, create_user("officer"))
    assert client.get("/reviews/my-record").status_code == 403


def test_the_record_page_runs_a_fixed_number_of_queries(client, city_bureau, create_user, create_org, now):
    one = signed_contract(city_bureau, create_user, now=now)
    graded_reviews(one, city_bureau, create_user, now, 1)
    many = signed_contract(city_bureau, create_user, now=now)
    graded_reviews(many, city_bureau, create_user, now, 4)
    second = signed_contract(city_bureau, create_user, now=now)
    second.award.supplier_id = second.contract.supplier_id = many.contract.supplier_id
    second.contract.status, second.contract.ended_at = ContractStatus.TERMINATED, bj("2027-06-01")
    second.contract.termination_grounds = "乙方连续两次评估不合格，经整改后仍未达到合同约定的服务标准。"
    db.session.commit()
    graded_reviews(second, city_bureau, create_user, now, 3)
    as_user(client, create_user("officer"))
    small = queries_for(client, f"/reviews/organisations/{one.contract.supplier_id}/record")
    large = queries_for(client, f"/reviews/organisations/{many.contract.supplier_id}/record")
    assert small == large


def test_the_list_of_records_searches_ngos_for_officers_and_admin(client, city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now)
    graded_reviews(built, city_bureau, create_user, now, 3)
    ngo = built.contract.supplier
    other = signed_contract(city_bureau, create_user, now=now).contract.supplier
    as_user(client, create_user("officer"))
    page = text(client.get("/reviews/organisations"))
    assert ngo.name in page and other.name in page and "60.00" in page
    page = text(client.get("/reviews/organisations", query_string={"q": ngo.name}))
    assert ngo.name in page and other.name not in page
    assert f"/reviews/organisations/{ngo.id}/record" in page
    for user in (built.supplier, create_user("evaluator")):
        as_user(client, user)
        assert client.get("/reviews/organisations").status_code == 403


def test_an_officer_who_reviewed_cannot_answer_the_appeal(client, graded):
    from portal.reviews.models import Reviewer, ReviewerKind, ReviewerStatus

    reviewer_officer = graded.officers[1]
    db.session.add(Reviewer(review_id=graded.review.id, user_id=reviewer_officer.id, kind=ReviewerKind.OFFICER,
                            status=ReviewerStatus.ACTIVE, declared_at=bj("2026-09-01"),
                            assigned_by_id=graded.officer.id, assigned_at=bj("2026-09-01")))
    db.session.commit()
    appeal = appeals.file_appeal(graded.review, reasons=REASONS, actor=graded.supplier, now=bj("2026-10-08"))
    db.session.commit()
    answer_url = f"/reviews/appeals/{appeal.id}/answer"
    as_user(client, reviewer_officer)
    assert answer_url not in text(client.get(f"/reviews/{graded.review.id}"))
    assert client.get(answer_url).status_code == 403
    response = post(client, answer_url, {"decision": "uphold", "answer": UPHOLDING},
                    page=f"/reviews/{graded.review.id}")
    assert response.status_code == 403
    db.session.refresh(appeal)
    assert appeal.status == AppealStatus.OPEN
    as_user(client, graded.officer)
    assert answer_url in text(client.get(f"/reviews/{graded.review.id}"))
