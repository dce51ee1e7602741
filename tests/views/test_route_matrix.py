"""Walk every route in the URL map against every role, as ROUTE_MATRIX says."""

from __future__ import annotations

import io

import pytest
from werkzeug.datastructures import FileStorage

from portal.calendar import save_year
from portal.extensions import db
from portal.notices import publish_notice
from portal.notify import notify
from portal.permissions import ROUTE_MATRIX, is_allowed
from tests.conftest import csrf_token, login

PRINCIPALS = ("anonymous", "officer", "supplier", "evaluator", "admin")


def test_every_route_is_in_the_matrix_and_every_entry_is_a_route(app):
    endpoints = {rule.endpoint for rule in app.url_map.iter_rules()}
    assert endpoints - set(ROUTE_MATRIX) == set(), "routes missing from ROUTE_MATRIX"
    assert set(ROUTE_MATRIX) - endpoints == set(), "stale ROUTE_MATRIX entries"


def test_unlisted_endpoint_is_refused(app, client):
    ROUTE_MATRIX.pop("main.index")
    try:
        assert client.get("/").status_code == 403
    finally:
        ROUTE_MATRIX["main.index"] = "public"


@pytest.fixture
def world(create_user, create_org, now):
    """One user per role, plus an object of each kind that routes take as an argument."""
    from datetime import date

    from portal.accounts import services

    users = {role: create_user(role) for role in ("officer", "supplier", "evaluator", "admin")}
    expert = users["evaluator"]
    affiliation = services.add_affiliation(
        expert.expert_profile, {"organisation_id": None, "organisation_name": "某机构", "kind": "employee",
                                "start_date": date(2020, 1, 1), "end_date": None}, actor=users["admin"], now=now)
    save_year(2027, [date(2027, 1, 1)], [], "国办发明电〔2026〕1号", actor=users["admin"], now=now)
    upload = FileStorage(io.BytesIO(b"%PDF-1.4 certificate"), filename="登记证书.pdf")
    document = services.add_organisation_document(users["supplier"].organisation, "registration", upload,
                                                  actor=users["supplier"], now=now)
    note = notify(users["officer"], "mail_check", {"sent_at": now}, now=now)
    notice = publish_notice("tender", bureau=users["officer"].organisation, title="采购公告", body="正文。", now=now)
    from decimal import Decimal

    from portal.projects import services as projects
    project = projects.create_project(users["officer"].organisation, {
        "title": "困境儿童关爱", "plan": "orphans", "fiscal_year": 2027, "budget": Decimal("90000"),
        "duration_months": 12, "base_priority": 50}, actor=users["officer"], now=now)
    projects.attach_needs_survey(project, FileStorage(io.BytesIO(b"%PDF-1.4 survey"), filename="需求调查.pdf"),
                                 actor=users["officer"], now=now)
    db.session.commit()
    args = {"notification_id": note.id, "user_id": expert.id, "org_id": users["supplier"].organisation_id,
            "affiliation_id": affiliation.id, "year": 2027, "filename": "css/portal.css", "document_id": document.id,
            "notice_id": notice.id}
    args["project_id"] = project.id
    # Bids: a published tender (still taking bids) with one sealed bid from the world's supplier.
    from flask import current_app

    from portal.tenders import bidding
    from tests.tender_factories import in_future, make_published_tender, submission
    tender = make_published_tender(users["officer"].organisation, deadline=in_future(days=30))
    with current_app.test_request_context():
        bid = bidding.submit_bid(tender, submission(), actor=users["supplier"], now=now)
    from portal.tenders.models import Objection

    objection = Objection(tender_id=tender.id, name="张三", contact="13800000000", text="异议", submitted_at=now)
    db.session.add(objection)
    db.session.commit()
    args |= {"tender_id": tender.id, "bid_id": bid.id, "file_id": bid.files[0].id, "objection_id": objection.id}
    args["ocid"] = "ocds-portal-" + tender.reference  # public: ocds
    # Evaluation: a second tender evaluated and awarded through the services. The world's evaluator chairs a
    # committee of the whole pool; the world's supplier bid (abnormally low, justified), lost and challenged.
    from tests.evaluation_flow import run_evaluation
    others = [create_user("supplier"), create_user("supplier")]
    experts = [expert] + [create_user("evaluator") for _ in range(4)]
    officer2 = create_user("officer")
    with current_app.test_request_context():
        evaluation = run_evaluation(users["officer"].organisation, [users["officer"], officer2],
                                    [users["supplier"], *others], experts, start=now)
    member = evaluation.committee.member_for(expert)
    score = _sheet_scores(evaluation, member)[0]
    args["evaluation"] = {"tender_id": evaluation.tender.id, "file_id": evaluation.bids[0].files[0].id,
                          "member_id": member.id, "inquiry_id": evaluation.inquiry.id,
                          "recheck_id": evaluation.recheck.id, "score_id": score.id}
    args |= {"challenge_id": evaluation.challenge.id, "complaint_id": evaluation.complaint.id}
    # Contracts: a signed contract of the world's bureau with the world's NGO, amended, with a service report.
    from datetime import UTC, datetime

    from portal.contracts import amendments, delivery
    from tests.contract_builders import signed_contract
    built = signed_contract(users["officer"].organisation, create_user, now=now)
    built.award.supplier_id = built.contract.supplier_id = users["supplier"].organisation_id
    db.session.commit()
    with current_app.test_request_context():
        amendment = amendments.amend(built.contract, reason="服务量增加，双方协商一致。",
                                     changes={"targets": "每月探访不少于250人次。"}, actor=users["officer"], now=now)
        amendments.confirm_amendment(amendment, actor=users["supplier"], now=now)
        report = delivery.submit_report(built.contract, period_start=built.contract.start_date,
                                        summary="本季度开展入户探访126人次、个案服务18个、小组活动6节。",
                                        actor=users["supplier"], now=datetime(2027, 4, 1, 2, 0, tzinfo=UTC))
    db.session.commit()
    args |= {"contract_id": built.contract.id, "award_id": built.award.id,
             "installment_id": built.installments[0].id, "amendment_id": amendment.id, "report_id": report.id}
    args |= _review_world(built.contract, users, later=datetime(2027, 4, 6, 2, 0, tzinfo=UTC))
    args |= _assessment_world(users, create_user, now=now)
    return users, args


def _assessment_world(users, create_user, *, now):
    """The city's draft yearly assessments of 2026 (the world's NGO among them), a confirmed commendation list with
    a certificate and an answered comment, and a funding plan of 2027 with its lines."""
    from flask import current_app

    from portal.assessment import yearly
    from tests.commendation_builders import route_world
    from tests.funding_builders import route_world as funding_world

    officer = users["officer"]
    with current_app.test_request_context():
        drafts = yearly.create_assessments(officer.organisation, 2026, actor=officer, now=now)
        db.session.commit()
        assessment = next(a for a in drafts if a.organisation_id == users["supplier"].organisation_id)
        args = {"assessment_id": assessment.id} | route_world(officer.organisation, officer, create_user)
        args |= funding_world(officer.organisation, officer, create_user, now=now)
    return args


def _review_world(contract, users, *, later):
    """A review of the world's contract, scored by the world's evaluator, graded 不合格 and appealed by the world's
    NGO (so it has evidence, a survey, a rectification and an appeal), and a rubric template of the bureau."""
    from datetime import timedelta

    from flask import current_app

    from portal.reviews import appeals, evidence, grading, planning, rectification, rubrics, scoring
    from tests.review_builders import score_all

    officer, supplier, expert = users["officer"], users["supplier"], users["evaluator"]
    with current_app.test_request_context():
        review = planning.add_review(contract, kind="extra", title="专项督查", due_on=later.date(),
                                     period_start=contract.start_date, period_end=later.date() - timedelta(days=7),
                                     actor=officer, now=later)
        reviewer = scoring.assign_reviewer(review, expert, kind="expert", actor=officer, now=later)
        upload = FileStorage(io.BytesIO(b"%PDF-1.4 evidence"), filename="活动记录.pdf")
        item = evidence.upload_evidence(review, kind="activity", upload=upload, actor=supplier, now=later)
        survey = evidence.add_survey(review, title="满意度问卷", surveyed_on=later.date() - timedelta(days=2),
                                     respondents=20, satisfied=9, actor=supplier, now=later)
        planning.start_review(review, actor=officer, now=later)
        scoring.declare(reviewer, conflict=False, note="", actor=expert, now=later)
        db.session.commit()
        score_all(review, 50, now=later)
        grading.finalise(review, actor=officer, now=later + timedelta(hours=1))
        appeal = appeals.file_appeal(review, reasons="评估期间部分服务记录尚未归档，并非未开展服务，请求重新评分。",
                                     actor=supplier, now=later + timedelta(hours=2))
        template = rubrics.create_template(officer.organisation, name="本局评估模板",
                                           copy_from=planning.default_template(), actor=officer, now=later)
        db.session.commit()
    return {"review_id": review.id, "reviewer_id": reviewer.id, "evidence_id": item.id, "survey_id": survey.id,
            "appeal_id": appeal.id, "rectification_id": rectification.rectification_of(review).id,
            "template_id": template.id}


def _sheet_scores(evaluation, member):
    from portal.evaluation.models import ScoreSheet

    sheet = db.session.scalar(db.select(ScoreSheet).where(ScoreSheet.member_id == member.id))
    return sheet.scores


# Routes the matrix opens to every signed-in user but whose object rule (a can_* method) narrows it
# further: who, in the world above, may reach the object.
OBJECT_RULES = {
    "accounts.download_document": {"officer", "supplier", "admin"},
    "accounts.delete_document": {"supplier", "admin"},
    "notify.read": {"officer"},
    "tenders.bid_file": set(),  # sealed: nobody reads a bid's file before the opening
    # Evaluation (the evaluated tender): the officer is not a member of the committee the evaluator chairs;
    # the supplier lost, so the award letter is not its own.
    "evaluation.declare": {"evaluator"},
    "evaluation.bid_file": {"evaluator"},
    "evaluation.sheet": {"evaluator"},
    "evaluation.deviations": {"evaluator"},
    "evaluation.award_letter": {"officer", "admin"},
    # Reviews (the graded review): the evaluator is its reviewer, the officer is not; no termination is proposed.
    "reviews.declare": {"evaluator"},
    "reviews.sheet": {"evaluator"},
    "reviews.proposal": set(),
    # Assessment: the world's NGO's assessment is still a draft, which only the city bureau's officers and admin see.
    "assessment.yearly_detail": {"officer", "admin"},
}


def _url(app, rule, args):
    if rule.endpoint.startswith("evaluation."):
        args = args | args["evaluation"]  # the evaluated tender, its bid files and records
    with app.test_request_context():
        from flask import url_for

        return url_for(rule.endpoint, **{name: args[name] for name in rule.arguments})


@pytest.mark.parametrize("principal", PRINCIPALS)
def test_matrix_holds_for_every_route(app, world, principal):
    users, args = world
    client = app.test_client()
    user = users.get(principal)
    if user:
        assert login(client, user.username).status_code == 302
    token = csrf_token(client)
    for rule in app.url_map.iter_rules():
        url = _url(app, rule, args)
        allowed = is_allowed(rule.endpoint, user)
        if allowed and rule.endpoint in OBJECT_RULES:
            allowed = principal in OBJECT_RULES[rule.endpoint]
        if "GET" in rule.methods:
            response = client.get(url)
        else:
            if allowed:
                continue  # a permitted POST would change data; its own tests cover it
            response = client.post(url, data={"csrf_token": token})
        response.close()
        where = f"{principal} {rule.endpoint} {url}"
        if allowed:
            assert response.status_code in (200, 302), where
            assert "/login" not in (response.location or "") or rule.endpoint == "accounts.login", where
        elif user is None:
            assert response.status_code == 302 and "/login" in response.location, where
        else:
            assert response.status_code == 403, where
