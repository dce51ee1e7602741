import sqlalchemy as sa

from portal.accounts.models import ExpertProfile, Organisation, User
from portal.accounts.rules import credit_code_problem
from portal.accounts.services import check_password
from portal.extensions import db
from portal.seed import DEMO_PASSWORD


def _counts():
    return tuple(db.session.scalar(sa.select(sa.func.count()).select_from(m)) for m in (Organisation, User))


def test_seed_demo_twice_changes_nothing(app):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["seed-demo"])
    assert first.exit_code == 0, first.output
    assert "Demo@2026" in first.output
    counts = _counts()
    second = runner.invoke(args=["seed-demo"])
    assert second.exit_code == 0
    assert "(0 records created)" in second.output
    assert _counts() == counts


def test_seed_demo_content(app):
    app.test_cli_runner().invoke(args=["seed-demo"])
    city = db.session.scalar(sa.select(Organisation).where(Organisation.name == "郑州市民政局"))
    assert city.is_city_bureau and len(city.children) >= 5
    ngos = db.session.scalars(sa.select(Organisation).where(Organisation.kind == "supplier")).all()
    assert len(ngos) >= 6
    assert all(credit_code_problem(o.credit_code) is None for o in ngos)
    assert len({o.rating for o in ngos}) >= 3
    experts = db.session.scalar(sa.select(sa.func.count()).select_from(ExpertProfile))
    assert experts >= 9
    names = set(db.session.scalars(sa.select(User.username)))
    expected = {"admin", "officer", "officer2", "district_officer", "ngo1", "ngo2", "ngo3"}
    assert expected | {f"expert{i}" for i in range(1, 8)} <= names
    admin = db.session.scalar(sa.select(User).where(User.username == "admin"))
    assert check_password(admin, DEMO_PASSWORD)
    district = db.session.scalar(sa.select(User).where(User.username == "district_officer"))
    assert district.organisation.parent_id == city.id


def test_seed_demo_refused_in_production(app):
    app.config["PORTAL_ENV"] = "production"
    try:
        result = app.test_cli_runner().invoke(args=["seed-demo"])
    finally:
        app.config["PORTAL_ENV"] = "testing"
    assert result.exit_code == 1
    assert "production" in result.output
    assert _counts() == (0, 0)


def test_seed_demo_procurement_stages(app):
    from portal.sealing import SealingKey
    from portal.tenders.models import Bid, Tender

    app.test_cli_runner().invoke(args=["seed-demo"])
    by_method_status = {(t.method, t.status) for t in db.session.scalars(sa.select(Tender))}
    assert {("open", "draft"), ("open", "published"), ("invited", "published"), ("open", "evaluating"),
            ("open", "failed"), ("single_source", "published"), ("negotiation", "published")} <= by_method_status
    # Bids on tenders still taking bids stay sealed: no opened price, no authorised key.
    sealed = db.session.scalars(sa.select(Bid).join(Tender).where(Tender.status == "published")).all()
    assert sealed and all(b.opened_price is None for b in sealed)
    authorised = set(db.session.scalars(sa.select(SealingKey.scope).where(
        SealingKey.opening_authorised_at.is_not(None))))
    opened = db.session.scalars(sa.select(Tender).where(Tender.opened_at.is_not(None))).all()
    assert {t.sealing_scope for t in opened} <= authorised
    assert not any(t.sealing_scope in authorised for t in db.session.scalars(
        sa.select(Tender).where(Tender.status == "published")))
    evaluating = db.session.scalar(sa.select(Tender).where(Tender.status == "evaluating", Tender.method == "open"))
    assert all(b.opened_price is not None for b in evaluating.bids)


def test_seed_demo_evaluation_stages(app):
    from portal.audit import verify_chain
    from portal.evaluation import results
    from portal.evaluation.models import Award, Challenge, ScoreSheet
    from portal.notices import Notice
    from portal.tenders.models import Tender

    app.test_cli_runner().invoke(args=["seed-demo"])
    # A committee at work: every member declared, qualification closed, three of five sheets in.
    evaluating = db.session.scalar(sa.select(Tender).where(Tender.status == "evaluating", Tender.method == "open"))
    committee = results.committee_for(evaluating)
    assert committee.qualification_closed_at is not None and len(committee.sitting) == 5
    assert all(m.status == "active" for m in committee.members) and committee.chair is not None
    sheets = db.session.scalars(sa.select(ScoreSheet).where(ScoreSheet.committee_id == committee.id)).all()
    assert sorted(s.submitted_at is not None for s in sheets) == [True, True, True]
    # Awards under every method, each with its report, result notice (naming the members) and letter.
    # (a signed contract concludes its tender)
    awarded = db.session.scalars(sa.select(Tender).where(Tender.status.in_(["awarded", "concluded"]))).all()
    assert {t.method for t in awarded} == {"open", "invited", "negotiation", "single_source"}
    for tender in awarded:
        award = db.session.scalar(sa.select(Award).where(Award.tender_id == tender.id, Award.status == "active"))
        committee = results.committee_for(tender)
        assert committee.report_document_id is not None and award.letter_document_id is not None
        notice = db.session.get(Notice, award.notice_id)
        assert notice.kind == "result" and all(m.user.name in notice.body for m in committee.sitting)
        assert results.results(committee).rows[0].supplier_id == award.supplier_id
    # One challenge under way, filed in its window and not yet answered.
    challenge = db.session.scalar(sa.select(Challenge))
    assert challenge.status == "open" and challenge.received_on <= challenge.award.challenge_last_day
    assert verify_chain().ok


def test_seed_demo_contracts(app):
    from portal.contracts import rules
    from portal.contracts.models import Contract

    app.test_cli_runner().invoke(args=["seed-demo"])
    contracts = db.session.scalars(sa.select(Contract).order_by(Contract.id)).all()
    by_status = {}
    for contract in contracts:
        by_status.setdefault(contract.status, []).append(contract)
    assert len(by_status["draft"]) == 1 and len(by_status["signed"]) == 2
    terms = sorted(rules.term_months(c.start_date, c.end_date) for c in by_status["signed"])
    assert terms == [12, 36]
    for contract in by_status["signed"]:
        assert contract.document_id is not None and contract.notice_id is not None
        assert any(i.paid_on is not None for i in contract.installments)
        assert sum(i.amount for i in contract.installments) == contract.amount
    three_years = next(c for c in by_status["signed"] if rules.term_months(c.start_date, c.end_date) == 36)
    assert three_years.budget_secured and three_years.service_stable and len(three_years.budget_lines) >= 3
    assert sum(line.amount for line in three_years.budget_lines) == three_years.amount
    assert len(three_years.amendments) == 1 and three_years.amendments[0].added_amount > 0


def test_seed_demo_reviews_in_every_grade_with_an_appeal_and_a_rectification(app):
    from portal.reviews.models import Appeal, Rectification, Review, ReviewStatus
    from portal.reviews.rules import Grade, ReviewKind

    app.test_cli_runner().invoke(args=["seed-demo"])
    graded = db.session.scalars(sa.select(Review).where(Review.status == ReviewStatus.GRADED)).all()
    assert {r.grade for r in graded} == set(Grade)
    for review in graded:
        assert review.document_id is not None  # the report PDF was issued
        assert review.score is not None
    # Every signed contract got its plan at signing: a needs assessment, supervision reviews and a final review.
    kinds = set(db.session.scalars(sa.select(Review.kind)))
    assert {ReviewKind.NEEDS, ReviewKind.SUPERVISION, ReviewKind.FINAL, ReviewKind.RE_REVIEW} <= kinds
    failed = next(r for r in graded if r.grade == Grade.FAIL)
    appeal = db.session.scalar(sa.select(Appeal).where(Appeal.review_id == failed.id))
    assert appeal.status == "dismissed" and appeal.answer
    case = db.session.scalar(sa.select(Rectification).where(Rectification.review_id == failed.id))
    assert case.status == "in_progress" and case.plan and case.re_review.status == ReviewStatus.PLANNED


def test_seed_demo_assessment_commendations_and_funding_plan(app):
    from portal.assessment.models import (
        Assessment,
        AssessmentStatus,
        CommendationList,
        FundingPlan,
        ListStatus,
        PlanStatus,
    )
    from portal.reviews.rules import Grade

    app.test_cli_runner().invoke(args=["seed-demo"])
    assessments = db.session.scalars(sa.select(Assessment)).all()
    assert assessments and all(a.status == AssessmentStatus.CONFIRMED for a in assessments)
    assert {"bureau", "ngo"} <= {a.kind for a in assessments}
    assert Grade.EXCELLENT in {a.grade for a in assessments if a.kind == "bureau"}  # a district tilt of +15%
    listing = db.session.scalar(sa.select(CommendationList))
    assert listing.status == ListStatus.CONFIRMED and listing.comments and listing.comments[0].response
    assert listing.commendations and all(c.certificate_id for c in listing.commendations)
    plan = db.session.scalar(sa.select(FundingPlan))
    assert plan.status == PlanStatus.PUBLISHED and plan.fiscal_year == listing.year + 1
    assert sum(line.amount for line in plan.lines) == min(plan.pool, sum(line.requested for line in plan.lines))
    assert all(line.explanation for line in plan.lines)
    assert any(line.amount != line.untilted_amount for line in plan.lines)  # the tilts move money
    assert plan.rewards and plan.notice_id is not None
