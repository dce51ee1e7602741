"""The audit trail through the web: what each request leaves in the chain, and that the chain catches tampering.

DESIGN.md: every state change and every refused access writes one row. So a state-changing request that succeeds
leaves at least one row, every row by the requester and of an action that request does; where one request changes
several subjects (the tender's opening and its sealing key, the award with its notice and the tender's status) or
takes one subject through several steps (a score sheet saved, then submitted), each is its own row. The rows
expected of each request are listed, in order, in EXPECTED; the chain verifies after each.

A refused access (403: the wrong role, another organisation's object) leaves exactly one row, ``access.refused``
by the requester, and nothing else in the database changes. A request a business rule refuses (after a deadline,
a gate not met, twice the same report) is no refused access: it leaves no row and changes nothing, except in the
bidding and the opening, whose views also audit the rule's refusal (``bid.submit_refused``,
``tender.opening_confirm_refused``: one row). A form error (400) and a GET leave none.
At the end the chain verifies, and editing one row breaks it.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import sqlalchemy as sa
import time_machine

from portal.accounts.models import OrgKind
from portal.assessment.models import FundingPlan
from portal.audit import AuditEntry, verify_chain
from portal.contracts.models import Contract, Gate
from portal.evaluation.models import Award, Challenge
from portal.extensions import db
from tests.conftest import PASSWORD
from tests.contract_builders import Built, awarded
from tests.files_support import DOCX_BYTES
from tests.funding_builders import district, project
from tests.review_builders import started_review
from tests.security.audit_steps import (
    Trail,
    chain_ok,
    challenge_data,
    changed_tables,
    contract_data,
    drawn_committee,
    enter_2027,
    fingerprint,
    payment_data,
    qualify,
    report_data,
    review_sheet_data,
    sheet_data,
    sign_data,
)
from tests.tender_factories import make_published_tender, pdf_with

# The rows each successful request leaves, in order, all by the requester.
EXPECTED = {
    # Bidding and opening: the confirmed opening authorises the sealing key and opens the tender (two subjects).
    "submit bid": ("bid.submitted",),
    "start opening": ("tender.opening_started",),
    "confirm opening": ("sealing.opening_authorised", "tender.opened"),
    # Evaluation: a sheet is saved then submitted (one subject, two steps); the last confirmation completes the
    # report (the committee's report issued).
    "declare no conflict": ("committee.declared",),
    "submit score sheet": ("score_sheet.saved", "score_sheet.submitted"),
    "close scoring": ("scoring.closed",),
    "confirm report": ("evaluation_report.confirmed",),
    "confirm report, the last member": ("evaluation_report.confirmed", "evaluation_report.completed"),
    # The award: the tender's status, the result notice, the award itself.
    "confirm award": ("tender.awarded", "notice.published", "award.confirmed"),
    "file challenge": ("challenge.filed",),
    "answer challenge": ("challenge.answered",),
    # The contract: the second signature puts it in force, which opens the signing installment's gate, concludes
    # the tender and plans the contract's reviews.
    "draft contract": ("contract.drafted",),
    "officer signs": ("contract.signed_by_officer",),
    "supplier signs": ("contract.signed_by_supplier", "payment.gate_opened", "tender.concluded", "contract.signed",
                       "review.planned"),
    "record payment": ("payment.recorded",),
    "submit service report": ("contract.report_submitted",),
    # The review: a passing grade opens the review installment's gate (the installment, and the contract's record).
    "submit review sheet": ("review.sheet_saved", "review.sheet_submitted"),
    "grade review": ("review.graded", "payment.gate_opened", "payment.review_gate", "review.grade_applied"),
    # Funding: the city's plan, then its candidate projects.
    "create funding plan": ("funding.plan_created",),
    "add funding candidates": ("funding.candidates_added",),
}


def _succeeded(step: str, response, rows, user) -> None:
    """The request redirected to a page (not the sign-in), left EXPECTED[step] by ``user``, and the chain holds."""
    assert response.status_code == 302 and "/login" not in response.location, (step, response.status_code)
    assert [r.action for r in rows] == list(EXPECTED[step]), step
    assert all(r.actor_id == user.id for r in rows), (step, [(r.action, r.actor_id) for r in rows])
    assert chain_ok(), step


def _refused(trail: Trail, user, url: str, **data) -> None:
    """A POST refused for access: one ``access.refused`` row by ``user``, nothing else changed."""
    trail.client(user)  # signed in before the fingerprint: the sign-in is not the request
    before = fingerprint()
    response, rows = trail.request(user, "POST", url, **data)
    assert response.status_code == 403, (url, response.status_code)
    assert [(r.action, r.actor_id) for r in rows] == [("access.refused", user.id)], (url, [r.action for r in rows])
    assert changed_tables(before) == [], url


def _ruled_out(trail: Trail, user, url: str, status: int, says: str = "", **data) -> None:
    """A POST a business rule refuses (saying why, in English for a user who reads English): no row, nothing
    changed."""
    trail.client(user)
    before = fingerprint()
    response, rows = trail.request(user, "POST", url, **data)
    assert response.status_code == status, (url, response.status_code)
    assert says in response.get_data(as_text=True), (url, says)
    assert rows == [], (url, [r.action for r in rows])
    assert changed_tables(before) == [], url


def _bid(price: str, *, declare: bool = True) -> dict:
    data = {"price": price, "technical": (io.BytesIO(pdf_with("技术方案")), "技术方案.pdf"),
            "qualification": (io.BytesIO(DOCX_BYTES), "资格证明.docx")}
    return data | ({"meets_requirements": "y", "no_collusion": "y"} if declare else {})


def _quiet_gets(trail: Trail, user, *urls: str) -> None:
    for url in urls:
        response, rows = trail.request(user, "GET", url)
        assert response.status_code == 200 and rows == [], (url, response.status_code, [r.action for r in rows])


def test_bidding_and_opening_leave_their_rows_and_the_chain_catches_tampering(app, city_bureau, create_user,
                                                                              create_org, now):
    officers = [create_user("officer"), create_user("officer")]
    outsider = create_user("officer", organisation_id=create_org(OrgKind.BUREAU, name="二七区民政局", level="district",
                                                                 parent_id=city_bureau.id).id)
    ngos = [create_user("supplier") for _ in range(3)]
    tender = make_published_tender(city_bureau, deadline=now + timedelta(hours=2), budget=Decimal("500000.00"))
    trail = Trail(app)
    with time_machine.travel(now, tick=False) as clock:
        for user, price in zip(ngos, ("400000.00", "410000.00", "420000.00"), strict=True):
            _succeeded("submit bid", *trail.request(user, "POST", f"/tenders/{tender.id}/bid", **_bid(price)), user)
        response, rows = trail.request(ngos[0], "POST", f"/tenders/{tender.id}/bid", **_bid("1", declare=False))
        assert response.status_code in (200, 400) and rows == []  # a form error: nothing changed, nothing recorded
        _quiet_gets(trail, ngos[1], f"/tenders/{tender.id}", f"/tenders/{tender.id}/bid", "/notices")
        _quiet_gets(trail, officers[0], f"/tenders/{tender.id}/bids")
        _refused(trail, outsider, f"/tenders/{tender.id}/opening/start")
        response, rows = trail.request(ngos[0], "GET", "/admin/audit")
        assert response.status_code == 403 and [(r.action, r.actor_id) for r in rows] == [("access.refused",
                                                                                           ngos[0].id)]

        clock.move_to(tender.bid_deadline + timedelta(minutes=1))
        trail.forget_sessions()
        _succeeded("start opening", *trail.request(officers[0], "POST", f"/tenders/{tender.id}/opening/start"),
                   officers[0])
        # The same officer cannot confirm: the bidding views audit this rule's refusal, one row.
        response, rows = trail.request(officers[0], "POST", f"/tenders/{tender.id}/opening/confirm")
        assert response.status_code == 302
        assert [(r.action, r.actor_id) for r in rows] == [("tender.opening_confirm_refused", officers[0].id)]
        _succeeded("confirm opening", *trail.request(officers[1], "POST", f"/tenders/{tender.id}/opening/confirm"),
                   officers[1])

    assert verify_chain().ok
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "bid.submitted").limit(1))
    db.session.execute(sa.update(AuditEntry).where(AuditEntry.id == entry.id).values(ip="198.51.100.1"))
    db.session.commit()
    report = verify_chain()
    assert not report.ok and report.bad_seq == entry.seq


def test_evaluation_award_and_challenge_leave_their_rows(app, city_bureau, create_user, create_org, now):
    """Experts declare, score and confirm the report; the officer awards; the last-ranked NGO challenges within the
    period and is answered; then a challenge after the period, and requests of the wrong role or organisation."""
    start = now - timedelta(days=10)
    drawn = drawn_committee(city_bureau, create_user, at=start)
    tender, experts, officer = drawn.tender, drawn.experts, drawn.officers[0]
    loser, late = drawn.suppliers[1], drawn.suppliers[0]  # last and second (tests/award_builders.POINTS)
    late.locale = "en"  # challenges after the period, and reads why it is refused
    db.session.commit()
    stranger = create_user("supplier")  # an NGO that did not bid
    expert_out = create_user("evaluator")
    district_officer = create_user("officer", organisation_id=district(create_org, city_bureau, "二七区民政局").id)
    evaluation = f"/tenders/{tender.id}/evaluation"
    trail = Trail(app)
    with time_machine.travel(tender.opened_at + timedelta(hours=2), tick=False) as clock:
        _refused(trail, expert_out, f"{evaluation}/declaration", conflict="no")
        for expert in experts:
            _succeeded("declare no conflict",
                       *trail.request(expert, "POST", f"{evaluation}/declaration", conflict="no"), expert)
        qualify(drawn, at=tender.opened_at + timedelta(hours=2))
        for index, expert in enumerate(experts):
            _succeeded("submit score sheet",
                       *trail.request(expert, "POST", f"{evaluation}/sheet", **sheet_data(drawn, index)), expert)
        _refused(trail, experts[1], f"{evaluation}/close")  # only the chair closes
        _succeeded("close scoring", *trail.request(experts[0], "POST", f"{evaluation}/close"), experts[0])
        _refused(trail, loser, f"{evaluation}/report/confirm", password=PASSWORD)  # a supplier is no member
        for number, expert in enumerate(experts, 1):
            step = "confirm report, the last member" if number == len(experts) else "confirm report"
            _succeeded(step, *trail.request(expert, "POST", f"{evaluation}/report/confirm", password=PASSWORD),
                       expert)
        _quiet_gets(trail, officer, f"{evaluation}/report", f"/tenders/{tender.id}/award")
        _refused(trail, district_officer, f"/tenders/{tender.id}/award/confirm")  # another bureau's tender
        _succeeded("confirm award", *trail.request(officer, "POST", f"/tenders/{tender.id}/award/confirm"), officer)
        award = db.session.scalar(sa.select(Award).where(Award.tender_id == tender.id))
        assert award.supplier_id == drawn.suppliers[2].organisation_id

        clock.move_to(award.decided_at + timedelta(days=1))
        trail.forget_sessions()
        challenge_url = f"/tenders/{tender.id}/award/challenge"
        _refused(trail, stranger, challenge_url, **challenge_data())  # only a bidder challenges
        _succeeded("file challenge", *trail.request(loser, "POST", challenge_url, **challenge_data()), loser)
        challenge = db.session.scalar(sa.select(Challenge).where(Challenge.tender_id == tender.id))
        _quiet_gets(trail, loser, f"/challenges/{challenge.id}", f"/tenders/{tender.id}/award/my-result")
        answer = {"outcome": "rejected", "remedy": "", "answer": "经复核，评分符合评分标准，质疑不成立。"}
        _refused(trail, loser, f"/challenges/{challenge.id}/answer", **answer)
        _succeeded("answer challenge", *trail.request(officer, "POST", f"/challenges/{challenge.id}/answer",
                                                      **answer), officer)

        clock.move_to(datetime.combine(award.challenge_last_day + timedelta(days=1), datetime.min.time(), UTC)
                      + timedelta(hours=2))
        trail.forget_sessions()
        _ruled_out(trail, late, challenge_url, 400, says="a challenge can no longer be filed", **challenge_data())
    assert verify_chain().ok


def test_contract_review_and_payment_leave_their_rows(app, city_bureau, create_user, create_org, now):
    """An award (single source) becomes a contract drafted and signed by both parties; the signing installment is
    paid; the NGO reports on its first quarter; two experts score the mid-term review, the officer grades it and
    pays the installment it opened. Between them, requests of the wrong role or organisation and rule refusals."""
    enter_2027(create_user("admin"))
    tender, award, evaluated = awarded(city_bureau, create_user, now=now)
    officer, ngo = evaluated.officers[0], evaluated.suppliers[0]
    other_ngo = create_user("supplier")
    district_officer = create_user("officer", organisation_id=district(create_org, city_bureau, "二七区民政局").id)
    trail = Trail(app)
    with time_machine.travel(now + timedelta(days=1), tick=False) as clock:
        draft = contract_data(award.amount, start=date(2027, 1, 1), end=date(2027, 12, 31))
        _refused(trail, ngo, f"/awards/{award.id}/contract/new", **draft)  # a supplier does not draft
        _refused(trail, district_officer, f"/awards/{award.id}/contract/new", **draft)  # another bureau's award
        _succeeded("draft contract", *trail.request(officer, "POST", f"/awards/{award.id}/contract/new", **draft),
                   officer)
        contract = db.session.scalar(sa.select(Contract).where(Contract.award_id == award.id))
        sign = f"/contracts/{contract.id}/sign"
        _succeeded("officer signs", *trail.request(officer, "POST", sign, **sign_data()), officer)
        _refused(trail, other_ngo, sign, **sign_data())  # not a party
        _succeeded("supplier signs", *trail.request(ngo, "POST", sign, **sign_data()), ngo)
        signing, by_review, on_acceptance = sorted(contract.installments, key=lambda i: i.position)
        assert (signing.gate, by_review.gate, on_acceptance.gate) == (Gate.SIGNING, Gate.REVIEW, Gate.ACCEPTANCE)
        paid_on = (now + timedelta(days=1)).date()
        pay = f"/contracts/installments/{signing.id}/payment"
        _refused(trail, ngo, pay, **payment_data(signing, paid_on))  # a supplier records no payment
        _ruled_out(trail, officer, f"/contracts/installments/{on_acceptance.id}/payment", 400,
                   says="is not payable yet", **payment_data(on_acceptance, paid_on))  # no acceptance yet
        _succeeded("record payment", *trail.request(officer, "POST", pay, **payment_data(signing, paid_on)), officer)
        _quiet_gets(trail, ngo, f"/contracts/{contract.id}", "/contracts")

        clock.move_to(datetime(2027, 4, 2, 2, 0, tzinfo=UTC))
        trail.forget_sessions()
        reports = f"/contracts/{contract.id}/reports/submit"
        _refused(trail, other_ngo, reports, **report_data(contract.start_date))
        _succeeded("submit service report", *trail.request(ngo, "POST", reports, **report_data(contract.start_date)),
                   ngo)
        _ruled_out(trail, ngo, reports, 400, **report_data(contract.start_date))  # reported: no longer offered

        reviewed_at = datetime(2027, 7, 5, 2, 0, tzinfo=UTC)
        clock.move_to(reviewed_at)
        trail.forget_sessions()
        built = Built(contract, tender, award, evaluated.officers, ngo, evaluated.experts)
        review = started_review(city_bureau, create_user, now=reviewed_at, on=built, reviewers=2).review
        for reviewer in sorted(review.reviewers, key=lambda r: r.id):
            _succeeded("submit review sheet", *trail.request(reviewer.user, "POST", f"/reviews/{review.id}/sheet",
                                                            **review_sheet_data(review, 85)), reviewer.user)
        _refused(trail, district_officer, f"/reviews/{review.id}/finalise")  # another bureau's review
        _succeeded("grade review", *trail.request(officer, "POST", f"/reviews/{review.id}/finalise"), officer)
        _quiet_gets(trail, ngo, f"/reviews/{review.id}")
        _succeeded("record payment", *trail.request(officer, "POST", f"/contracts/installments/{by_review.id}/payment",
                                                    **payment_data(by_review, reviewed_at.date())), officer)
    assert verify_chain().ok


def test_a_funding_plan_leaves_its_rows(app, city_bureau, create_user, create_org, now):
    """The city officer creates the plan of 2027 and adds its candidate projects; a district officer and an NGO are
    refused."""
    officer = create_user("officer")
    district_officer = create_user("officer", organisation_id=district(create_org, city_bureau, "二七区民政局").id)
    ngo = create_user("supplier")
    project(city_bureau, "困境儿童关爱服务", budget=100_000, base_priority=50)
    new_plan = {"fiscal_year": "2027", "pool": "80000", "title": ""}
    trail = Trail(app)
    with time_machine.travel(now, tick=False):
        _refused(trail, district_officer, "/assessment/funding/new", **new_plan)  # the city's plan, not a district's
        _refused(trail, ngo, "/assessment/funding/new", **new_plan)
        _succeeded("create funding plan", *trail.request(officer, "POST", "/assessment/funding/new", **new_plan),
                   officer)
        plan_id = db.session.scalar(sa.select(FundingPlan.id).where(FundingPlan.bureau_id == city_bureau.id))
        _refused(trail, district_officer, f"/assessment/funding/{plan_id}/candidates")
        _succeeded("add funding candidates", *trail.request(officer, "POST",
                                                            f"/assessment/funding/{plan_id}/candidates"), officer)
    assert verify_chain().ok
