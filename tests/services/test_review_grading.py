"""Grading a performance review and what the grade does (issue 7 items 4-5): the mean of the reviewers, the
grade bands (a setting), the report PDF in Chinese, a payment gate exactly at 合格, a rectification at 不合格, a
contract year stopped by a failed yearly review and lifted by a passing re-review, two failures in a row proposing
termination, the officer's decision, and the reopening after an upheld appeal.

Graded on Monday 30 November 2026 (Beijing): the appeal window ends on 7 December (5 working days) and the
rectification plan is due on 14 December (10 working days). The contract of tests/contract_builders.py has a REVIEW
installment (the 2nd, 30%, "中期评估") between the signing and the acceptance.
"""

from __future__ import annotations

import subprocess
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.models import User
from portal.audit import AuditEntry
from portal.contracts import delivery, payments
from portal.contracts.models import ContractStatus, Gate
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.notify import Notification
from portal.pdf import GeneratedDocument
from portal.reviews import grading, scoring
from portal.reviews.models import Rectification, RectificationStatus, Review, Reviewer, ReviewStatus
from portal.reviews.rules import Grade, GradeBands, ReviewKind
from tests.review_builders import add_reviewers, leaf_points, score_all, started_review
from tests.support.concurrency import postgresql_only, run_concurrently
from tests.support.web import bj

pytestmark = pytest.mark.usefixtures("english_messages")

APPEAL_LAST_DAY = "2026-12-07"
PLAN_DUE_ON = date(2026, 12, 14)


def audited(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def inbox(user) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def pdftotext(data: bytes, tmp_path) -> str:
    source = tmp_path / "report.pdf"
    source.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True,
                          text=True).stdout


def graded(built, totals, *, now):
    """Score the review with ``totals`` (one per active reviewer) and grade it at ``now``."""
    score_all(built.review, totals, now=now)
    grading.finalise(built.review, actor=built.officer, now=now)
    db.session.commit()
    return built.review


def review_installment(built):
    return next(i for i in built.contract_built.installments if i.gate == Gate.REVIEW)


def resubmit(reviewer, total, at):
    """The reviewer changes every point of their reopened sheet to give ``total``, through the services."""
    review = reviewer.review
    maxima = {i.key: i.max_score for i in scoring.scored_indicators(review)}
    entries = {key: (points, "需改进。" if points < maxima[key] * Decimal("0.6") else "")
               for key, points in leaf_points(review, total).items()}
    scoring.save_sheet(reviewer, entries, actor=reviewer.user, now=at)
    scoring.submit_sheet(reviewer, actor=reviewer.user, now=at)
    db.session.commit()


def rectification_of(review) -> Rectification | None:
    return db.session.scalar(sa.select(Rectification).where(Rectification.review_id == review.id))


@pytest.fixture
def started(city_bureau, create_user, now):
    return started_review(city_bureau, create_user, now=now, reviewers=2)


# --- Grading ---------------------------------------------------------------------------------------------------------


def test_grading_waits_for_every_reviewer_not_withdrawn(started, create_user, now):
    review = started.review
    first, second = started.reviewers
    score_all(review, {first.user: 80}, now=now)
    with pytest.raises(DomainError, match=f"Not every reviewer has submitted their sheet: {second.user.name}"):
        grading.finalise(review, actor=started.officer, now=now)
    db.session.rollback()
    [undeclared] = add_reviewers(started, 1, now=now, create_user=create_user, declared=False)
    score_all(review, {second.user: 70}, now=now)
    with pytest.raises(DomainError, match=undeclared.user.name):
        grading.finalise(review, actor=started.officer, now=now)
    db.session.rollback()
    scoring.remove_reviewer(undeclared, reason="未按时声明利害关系", actor=started.officer, now=now)
    db.session.commit()
    for actor in (started.supplier, first.user):
        with pytest.raises(NotAllowed):
            grading.finalise(review, actor=actor, now=now)
        db.session.rollback()
    grading.finalise(review, actor=started.officer, now=now)
    db.session.commit()
    assert review.status == ReviewStatus.GRADED and review.score == Decimal("75.00")
    with pytest.raises(Conflict, match="Only a review under way"):
        grading.finalise(review, actor=started.officer, now=now)


def test_a_review_without_any_submitted_sheet_cannot_be_graded(started, now):
    for reviewer in started.reviewers:
        scoring.remove_reviewer(reviewer, reason="评估人均无法参加", actor=started.officer, now=now)
    db.session.commit()
    with pytest.raises(DomainError, match="At least one reviewer"):
        grading.finalise(started.review, actor=started.officer, now=now)


def test_the_score_is_the_mean_of_the_reviewers_and_the_report_is_issued_in_chinese(city_bureau, create_user, now,
                                                                                   tmp_path):
    built = started_review(city_bureau, create_user, now=now, reviewers=3)
    review = graded(built, [80, 70, "65.5"], now=now)
    assert review.score == Decimal("71.83")  # 215.5 / 3, rounded half up
    assert review.grade == Grade.PASS and review.graded_at == now and review.graded_by_id == built.officer.id
    document = grading.report_document(review)
    assert document.key == f"review-report:{review.id}:1" and document.number.startswith("PG-2026-")
    text = pdftotext(document.file.read_bytes(), tmp_path)
    for words in ("中期评估报告", "评分明细", "服务目标", "评分汇总", "评估结论", "71.83", "合格",
                  built.contract.supplier.name, *[r.user.name for r in built.reviewers]):
        assert words in text, (words, text)
    entry = audited("review.graded")[0]
    assert '"grade":"pass"' in entry.new_values and '"score":"71.83"' in entry.new_values


def test_the_report_shows_each_reviewers_points_and_comments(started, now):
    review = started.review
    first, second = started.reviewers
    score_all(review, {first.user: 80, second.user: "40"}, now=now)  # 40: every point below 60 percent
    grading.finalise(review, actor=started.officer, now=now)
    context = grading.report_context(review)
    sections = {s["heading"]: s for s in context["sections"]}
    detail = sections["评分明细"]
    assert [row[:2] for row in sections["评估人员"]["rows"]] == [["评估人1", first.user.name],
                                                               ["评估人2", second.user.name]]
    assert detail["columns"] == ["一级指标", "二级指标", "权重", "满分", "评估人1", "评估人2", "平均分"]
    leaf, second_leaf = scoring.scored_indicators(review)[:2]
    high, low = leaf_points(review, 80)[leaf.key], leaf_points(review, 40)[leaf.key]
    mean = (high + low) / 2
    assert detail["rows"][0] == ["项目管理", leaf.name, "8", "8", f"{high:.2f}", f"{low:.2f}", f"{mean:.2f}"]
    assert detail["rows"][1][:2] == ["", second_leaf.name]  # the first level is named once
    assert len(detail["rows"]) == 14
    assert {row[1] for row in sections["评审意见"]["rows"]} == {"评估人2"}
    assert [row[-1] for row in sections["评分汇总"]["rows"]] == ["80.00", "40.00", "60.00"]
    assert context["score"] == "60.00" and context["grade"] == "合格"


def test_grading_needs_the_working_day_calendar_of_the_appeal_window(started, now):
    score_all(started.review, 50, now=now)
    with pytest.raises(DomainError, match="holiday calendar for 2027"):
        grading.finalise(started.review, actor=started.officer, now=bj("2027-03-01"))
    db.session.rollback()
    assert started.review.status == ReviewStatus.STARTED and db.session.scalar(
        sa.select(sa.func.count(GeneratedDocument.id))) == 0


# --- The payment gate at 合格 -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("totals", "score", "passes"), [
    (["59.99"], "59.99", False),
    ([60], "60.00", True),
    (["59.98", 60], "59.99", False),  # the mean 59.99 fails
    (["59.99", 60], "60.00", True),  # the mean 59.995 rounds half up to 60.00: the score shown is the score graded
])
def test_a_payment_gate_opens_exactly_when_the_review_reaches_pass(city_bureau, create_user, now, totals, score,
                                                                    passes):
    built = started_review(city_bureau, create_user, now=now, reviewers=len(totals))
    review = graded(built, totals, now=now)
    installment = review_installment(built)
    assert review.score == Decimal(score)
    assert review.grade == (Grade.PASS if passes else Grade.FAIL)
    if passes:
        assert installment.gate_met_at == now and installment.gate_source == f"review:{review.id}"
        assert review.gate_installment_id == installment.id
        assert rectification_of(review) is None
        notice = inbox(built.supplier)[-1]
        assert "graded Pass (合格)" in notice.body and APPEAL_LAST_DAY in notice.body
        assert any("Payable now" in n.subject for n in inbox(built.officer))
    else:
        assert installment.gate_met_at is None and review.gate_installment_id is None
        rectification = rectification_of(review)
        assert rectification.status == RectificationStatus.AWAITING_PLAN
        assert rectification.plan_due_on == PLAN_DUE_ON and rectification.contract_id == built.contract.id
        notice = inbox(built.supplier)[-1]
        assert "rectification plan" in notice.body and PLAN_DUE_ON.isoformat() in notice.body
        assert APPEAL_LAST_DAY in notice.body


def test_custom_grade_bands_decide_the_grade(app, started, now, monkeypatch):
    monkeypatch.setitem(app.config, "REVIEW_GRADE_BANDS", GradeBands.parse("95,85,70"))
    review = graded(started, ["69.99", "69.99"], now=now)
    assert review.grade == Grade.FAIL and review_installment(started).gate_met_at is None
    assert rectification_of(review) is not None


def test_a_review_that_opens_no_payment_opens_no_gate(city_bureau, create_user, now):
    built = started_review(city_bureau, create_user, now=now, kind=ReviewKind.SUPERVISION, opens_payment=False)
    review = graded(built, [95, 91], now=now)
    assert review.grade == Grade.EXCELLENT
    assert review_installment(built).gate_met_at is None and review.gate_installment_id is None


def test_grading_again_opens_the_same_gate_once(started, now):
    review = graded(started, [75, 75], now=now)
    first = review.gate_installment_id
    grading.apply_grade(review, actor=started.officer, now=now + timedelta(hours=1))
    db.session.commit()
    assert review.gate_installment_id == first
    assert [i.gate_source for i in started.contract_built.installments].count(f"review:{review.id}") == 1


# --- Contract years ------------------------------------------------------------------------------------------------


def test_a_failed_yearly_review_stops_the_next_year_and_a_passing_re_review_lifts_it(city_bureau, create_user, now):
    built = started_review(city_bureau, create_user, now=now, months=24, kind=ReviewKind.YEARLY, year_index=1)
    contract = built.contract
    yearly = graded(built, [55, 50], now=now)
    assert yearly.grade == Grade.FAIL
    assert not delivery.year_may_continue(contract, 2)
    rectification = rectification_of(yearly)
    assert rectification.status == RectificationStatus.AWAITING_PLAN
    # The officers are told that the next year may not start (the contracts feature's notice).
    assert any("may not continue" in n.subject for n in inbox(built.officer))
    # The NGO's plan accepted, a re-review of the same year follows (the rectification helper's job, built here).
    later = now + timedelta(days=1)
    again = started_review(city_bureau, create_user, now=later, on=built, kind=ReviewKind.RE_REVIEW, year_index=1,
                           opens_payment=True)
    rectification.status, rectification.re_review_id = RectificationStatus.IN_PROGRESS, again.review.id
    db.session.commit()
    re_review = graded(again, [72, 68], now=later)
    assert re_review.grade == Grade.PASS
    assert delivery.year_may_continue(contract, 2)
    assert rectification.status == RectificationStatus.CLOSED and rectification.closed_at == later
    assert "合格" in rectification.closed_reason and "70.00" in rectification.closed_reason
    # The passing re-review opens the review gate the failed yearly review could not.
    assert review_installment(built).gate_source == f"review:{re_review.id}"


def test_a_gate_refused_by_the_contract_does_not_undo_the_grading(city_bureau, create_user, now):
    built = started_review(city_bureau, create_user, now=now, months=24, kind=ReviewKind.YEARLY, year_index=1,
                           opens_payment=False)
    graded(built, [50, 50], now=now)
    later = now + timedelta(days=1)
    midterm = started_review(city_bureau, create_user, now=later, on=built, kind=ReviewKind.MIDTERM)
    review = graded(midterm, [85, 85], now=later)
    assert review.status == ReviewStatus.GRADED and review.grade == Grade.GOOD
    assert review_installment(built).gate_met_at is None and review.gate_installment_id is None
    message = next(n for n in inbox(built.officer) if "No payment opened" in n.subject)
    assert "contract year 1 failed" in message.body
    assert "contract year 1 failed" in audited("review.grade_applied")[-1].new_values


def test_a_failed_review_of_an_ended_contract_opens_no_rectification(started, now):
    started.contract.status = ContractStatus.TERMINATED
    db.session.commit()
    score_all(started.review, [40, 45], now=now)
    with pytest.raises(DomainError, match="contract is not in force"):
        grading.finalise(started.review, actor=started.officer, now=now)
    db.session.rollback()
    # What a grade does still guards itself: a failure on an ended contract opens no rectification.
    review = started.review
    review.status, review.score, review.grade, review.graded_at = ReviewStatus.GRADED, Decimal("42.50"), "fail", now
    db.session.commit()
    grading.apply_grade(review, actor=started.officer, now=now)
    db.session.commit()
    assert review.grade == Grade.FAIL and rectification_of(review) is None
    notice = inbox(started.supplier)[-1]
    assert "graded Fail (不合格)" in notice.body and "rectification plan" not in notice.body


# --- Two failures in a row -----------------------------------------------------------------------------------------


def _review_on(built, city_bureau, create_user, at, totals, **values):
    another = started_review(city_bureau, create_user, now=at, on=built, kind=ReviewKind.SUPERVISION,
                             opens_payment=False, **values)
    return graded(another, totals, now=at)


def test_two_failed_reviews_in_a_row_propose_termination(started, city_bureau, create_user, now):
    first = graded(started, [50, 55], now=now)
    assert first.termination_proposed_at is None
    later = now + timedelta(days=2)
    second = _review_on(started, city_bureau, create_user, later, [58, 59])
    assert second.grade == Grade.FAIL and second.termination_proposed_at == later
    message = next(n for n in inbox(started.officer) if "Termination proposed" in n.subject)
    assert "failed 2 reviews in a row" in message.subject and message.link == f"/reviews/{second.id}/proposal"
    assert started.contract.status == ContractStatus.SIGNED  # nothing is terminated automatically


def test_a_fail_then_a_pass_then_a_fail_proposes_nothing(started, city_bureau, create_user, now):
    graded(started, [50, 55], now=now)
    passed = _review_on(started, city_bureau, create_user, now + timedelta(days=1), [65, 70])
    failed = _review_on(started, city_bureau, create_user, now + timedelta(days=2), [40, 45])
    assert passed.grade == Grade.PASS and failed.grade == Grade.FAIL
    assert failed.termination_proposed_at is None
    assert not any("Termination proposed" in n.subject for n in inbox(started.officer))


def test_the_officer_terminates_on_the_proposal(started, city_bureau, create_user, now):
    graded(started, [50, 55], now=now)
    later = now + timedelta(days=2)
    second = _review_on(started, city_bureau, create_user, later, [58, 59])
    grounds = "连续两次绩效评估不合格，整改未见成效，依约终止合同。"
    with pytest.raises(NotAllowed):
        grading.decide_proposal(second, decision=grading.TERMINATE, note=grounds, actor=started.supplier, now=later)
    db.session.rollback()
    with pytest.raises(DomainError, match="Choose to terminate"):
        grading.decide_proposal(second, decision="pause", note=grounds, actor=started.officer, now=later)
    db.session.rollback()
    with pytest.raises(DomainError, match="reasons for the decision"):
        grading.decide_proposal(second, decision=grading.TERMINATE, note="终止", actor=started.officer, now=later)
    db.session.rollback()
    grading.decide_proposal(second, decision=grading.TERMINATE, note=grounds, actor=started.officer, now=later)
    db.session.commit()
    assert started.contract.status == ContractStatus.TERMINATED
    assert started.contract.termination_grounds == grounds
    assert '"cause":"failed_review"' in audited("contract.terminated")[0].new_values
    assert second.proposal_decision == grading.TERMINATE and second.proposal_decided_at == later
    with pytest.raises(Conflict, match="already been decided"):
        grading.decide_proposal(second, decision=grading.CONTINUE, note=grounds, actor=started.officer, now=later)
    db.session.rollback()
    with pytest.raises(Conflict, match="No termination is proposed"):
        grading.decide_proposal(started.review, decision=grading.CONTINUE, note=grounds, actor=started.officer,
                                now=later)


def test_the_officer_lets_the_contract_continue(started, city_bureau, create_user, now):
    graded(started, [50, 55], now=now)
    second = _review_on(started, city_bureau, create_user, now + timedelta(days=2), [58, 59])
    grading.decide_proposal(second, decision=grading.CONTINUE, note="机构已更换项目负责人，继续观察一期。",
                            actor=started.officer, now=now)
    db.session.commit()
    assert started.contract.status == ContractStatus.SIGNED and second.proposal_decision == grading.CONTINUE
    assert '"decision":"continue"' in audited("review.proposal_decided")[0].new_values


# --- Reopening after an upheld appeal --------------------------------------------------------------------------------


def test_an_upheld_appeal_reopens_the_scoring_and_a_pass_lifts_the_rectification(started, now, tmp_path):
    review = graded(started, [55, 58], now=now)
    first_document = review.document_id
    assert rectification_of(review) is not None
    later = now + timedelta(days=1)
    with pytest.raises(NotAllowed):
        grading.reopen(review, reason="申诉理由成立，重新评分", actor=started.supplier, now=later)
    db.session.rollback()
    with pytest.raises(DomainError, match="Say why"):
        grading.reopen(review, reason="", actor=started.officer, now=later)
    db.session.rollback()
    grading.reopen(review, reason="申诉理由成立：满意度调查结果未被采纳。", actor=started.officer, now=later)
    db.session.commit()
    assert review.status == ReviewStatus.STARTED and review.round == 2
    assert review.score is None and review.grade is None and review.document_id is None
    assert all(r.submitted_at is None for r in started.reviewers)
    for reviewer in started.reviewers:
        message = inbox(reviewer.user)[-1]
        assert "Scoring reopened" in message.subject and message.link == f"/reviews/{review.id}/sheet"
    with pytest.raises(Conflict, match="Only a graded review"):
        grading.reopen(review, reason="再次重新评分", actor=started.officer, now=later)
    db.session.rollback()
    # A reviewer raises one indicator; the change is audited with the old and new points.
    reviewer = started.reviewers[0]
    leaf = scoring.scored_indicators(review)[0]
    old = scoring.points_of(reviewer)[leaf.key]
    scoring.save_sheet(reviewer, {leaf.key: (leaf.max_score, "")}, actor=reviewer.user, now=later)
    db.session.commit()
    entry = audited("review.sheet_saved")[-1]
    assert f'"{leaf.key}":"{old:.2f}"' in entry.old_values and '"round":2' in entry.new_values
    for reviewer, total in zip(started.reviewers, (62, 64), strict=True):
        resubmit(reviewer, total, later)
    grading.finalise(review, actor=started.officer, now=later)
    db.session.commit()
    regraded = review
    assert regraded.grade == Grade.PASS and regraded.round == 2 and regraded.score == Decimal("63.00")
    assert regraded.document_id != first_document
    assert grading.report_document(regraded).key == f"review-report:{review.id}:2"
    rectification = rectification_of(review)
    assert rectification.status == RectificationStatus.CLOSED and "整改解除" in rectification.closed_reason
    assert review_installment(started).gate_source == f"review:{review.id}"
    assert "本报告为申诉后第 2" in pdftotext(grading.report_document(regraded).file.read_bytes(), tmp_path)


def _regrade(review, officer, reviewers, total, at):
    """An upheld appeal reopens the review; every reviewer gives ``total``; the officer grades it again."""
    grading.reopen(review, reason="申诉理由成立，重新评分。", actor=officer, now=at)
    db.session.commit()
    for reviewer in reviewers:
        resubmit(reviewer, total, at)
    grading.finalise(review, actor=officer, now=at)
    db.session.commit()
    return review


def test_a_pass_regraded_as_a_failure_shuts_the_gate_it_opened(started, city_bureau, create_user, now):
    review = graded(started, [70, 72], now=now)
    installment = review_installment(started)
    assert installment.gate_source == f"review:{review.id}" and review.gate_installment_id == installment.id
    later = now + timedelta(days=1)
    _regrade(review, started.officer, started.reviewers, 50, later)
    db.session.refresh(installment)
    assert review.grade == Grade.FAIL and review.round == 2
    assert installment.gate_met_at is None and installment.gate_source == "" and review.gate_installment_id is None
    assert '"gate_closed":2' in audited("review.grade_applied")[-1].new_values
    [closed] = audited("payment.gate_closed")
    assert f'"review":"review:{review.id}"' in closed.new_values and "经申诉重新评定为不合格" in closed.new_values
    message = inbox(started.officer)[-1]
    assert message.subject == f"Not payable any more: {started.contract.reference}, installment 2"
    assert "经申诉重新评定为不合格（50.00分）" in message.body
    with pytest.raises(DomainError, match="Installment 2 is not payable yet"):
        payments.record_payment(installment, paid_on=date(2026, 12, 1), amount=installment.amount, voucher="PZ-1",
                                actor=started.officer, now=later)
    db.session.rollback()
    assert rectification_of(review).status == RectificationStatus.AWAITING_PLAN
    # A later review that passes opens the same installment again.
    another = started_review(city_bureau, create_user, now=later, on=started, kind=ReviewKind.SUPERVISION,
                             opens_payment=True)
    passed = graded(another, [75, 75], now=later)
    db.session.refresh(installment)
    assert installment.gate_source == f"review:{passed.id}" and installment.gate_met_at == later


def test_an_installment_paid_before_its_review_is_regraded_as_a_failure_stays_paid(started, now):
    review = graded(started, [70, 72], now=now)
    installment = review_installment(started)
    payments.record_payment(installment, paid_on=date(2026, 11, 30), amount=installment.amount, voucher="PZ-2026-7",
                            actor=started.officer, now=now)
    db.session.commit()
    later = now + timedelta(days=1)
    _regrade(review, started.officer, started.reviewers, 50, later)
    db.session.refresh(installment)
    assert review.grade == Grade.FAIL
    assert installment.paid_on == date(2026, 11, 30) and installment.gate_met_at == now
    assert review.gate_installment_id == installment.id and not audited("payment.gate_closed")
    assert '"gate_paid_before_regrade":2' in audited("review.grade_applied")[-1].new_values
    [flagged] = audited("payment.gate_regraded_after_payment")
    assert '"paid_on":"2026-11-30"' in flagged.new_values
    message = next(n for n in inbox(started.officer) if n.subject.startswith("Paid on a grade"))
    assert message.subject == f"Paid on a grade that no longer stands: {started.contract.reference}, installment 2"
    assert "was paid on 2026-11-30" in message.body and "recovered" in message.body


def test_a_pass_after_an_appeal_lifts_an_undecided_termination_proposal(started, city_bureau, create_user, now):
    graded(started, [50, 55], now=now)
    later = now + timedelta(days=2)
    second = _review_on(started, city_bureau, create_user, later, [58, 59])
    assert second.termination_proposed_at == later
    grading.reopen(second, reason="申诉理由成立，重新评分。", actor=started.officer, now=later)
    db.session.commit()
    for reviewer in second.reviewers:
        resubmit(reviewer, 61, later)
    grading.finalise(second, actor=started.officer, now=later)
    db.session.commit()
    assert second.grade == Grade.PASS and second.termination_proposed_at is None
    assert '"termination_proposal_lifted":true' in audited("review.grade_applied")[-1].new_values


# --- Concurrency ------------------------------------------------------------------------------------------------------


def test_two_officers_grading_at_once_grade_once(app, started, now):
    postgresql_only()
    score_all(started.review, [75, 65], now=now)
    review_id, officer_ids = started.review.id, [o.id for o in started.officers]

    def attempt(officer_id: int):
        return lambda: grading.finalise(db.session.get(Review, review_id), actor=db.session.get(User, officer_id),
                                        now=now)

    outcomes = run_concurrently(app, [attempt(officer_id) for officer_id in officer_ids])
    assert outcomes.count("ok") == 1 and all(o == "ok" or isinstance(o, Conflict) for o in outcomes), outcomes
    assert len(audited("review.graded")) == 1 and len(audited("review.grade_applied")) == 1
    assert db.session.scalar(sa.select(sa.func.count(GeneratedDocument.id))) == 1


def test_the_last_two_reviewers_submitting_at_once_tell_the_officers_once(app, started, now):
    postgresql_only()
    score_all(started.review, 70, now=now, submit=False)
    ids = [(r.id, r.user_id) for r in started.reviewers]

    def attempt(reviewer_id: int, user_id: int):
        return lambda: scoring.submit_sheet(db.session.get(Reviewer, reviewer_id), actor=db.session.get(User, user_id),
                                            now=now)

    outcomes = run_concurrently(app, [attempt(*pair) for pair in ids])
    assert outcomes == ["ok", "ok"], outcomes
    assert len([n for n in inbox(started.officer) if "Ready to grade" in n.subject]) == 1


# --- A lifted rectification, a broken run, the decision's grounds, the report's rounding -----------------------------


GROUNDS = "连续两次绩效评估不合格，整改未见成效，依约终止合同。"
PLAN_TEXT = "一、补充个案档案，完善服务记录；二、每月开展志愿者培训；三、由督导每两周检查服务质量并形成记录。"


def _with_re_review(started, now):
    """The review fails (55, 58), the NGO's plan is accepted: a re-review is planned. Returns (rectification,
    re-review)."""
    from portal.reviews import rectification as rectifications

    review = graded(started, [55, 58], now=now)
    item = rectification_of(review)
    rectifications.submit_plan(item, plan=PLAN_TEXT, due_on=date(2027, 1, 31), actor=started.supplier, now=now)
    rectifications.accept_plan(item, note="同意整改方案。", actor=started.officer, now=now)
    db.session.commit()
    return item, item.re_review


def _regrade_as_pass(started, at):
    review = started.review
    grading.reopen(review, reason="申诉理由成立，重新评分。", actor=started.officer, now=at)
    db.session.commit()
    for reviewer in started.reviewers:
        resubmit(reviewer, 65, at)
    grading.finalise(review, actor=started.officer, now=at)
    db.session.commit()
    return review


def test_a_failure_regraded_as_a_pass_cancels_the_planned_re_review(started, now):
    item, re_review = _with_re_review(started, now)
    assert re_review.status == ReviewStatus.PLANNED
    later = now + timedelta(days=2)
    review = _regrade_as_pass(started, later)
    db.session.refresh(item)
    db.session.refresh(re_review)
    assert review.grade == Grade.PASS and item.status == RectificationStatus.CLOSED
    assert re_review.status == ReviewStatus.CANCELLED and re_review.cancelled_reason == "申诉后重新评定，整改解除"
    cancelled = audited("review.cancelled")[-1]
    assert cancelled.subject_id == str(re_review.id) and "申诉后重新评定，整改解除" in cancelled.new_values
    assert f'"re_review_cancelled":{re_review.id}' in audited("review.grade_applied")[-1].new_values


def test_a_started_re_review_without_sheets_is_cancelled_too(started, now):
    item, re_review = _with_re_review(started, now)
    for reviewer in re_review.reviewers:
        reviewer.status, reviewer.declared_at = "active", now
    re_review.status, re_review.started_at = ReviewStatus.STARTED, now
    db.session.commit()
    _regrade_as_pass(started, now + timedelta(days=2))
    db.session.refresh(re_review)
    assert re_review.status == ReviewStatus.CANCELLED


@pytest.mark.parametrize("totals", [[70, 75], [40, 45]])
def test_a_scored_re_review_of_a_lifted_rectification_opens_no_gate_rectification_or_proposal(started, now, totals):
    item, re_review = _with_re_review(started, now)
    for reviewer in re_review.reviewers:
        reviewer.status, reviewer.declared_at = "active", now
    re_review.status, re_review.started_at = ReviewStatus.STARTED, now
    db.session.commit()
    score_all(re_review, totals, now=now)  # sheets submitted: it can no longer be cancelled
    later = now + timedelta(days=2)
    _regrade_as_pass(started, later)
    db.session.refresh(re_review)
    assert re_review.status == ReviewStatus.STARTED
    gate = review_installment(started)
    assert gate.gate_source == f"review:{started.review.id}"
    grading.finalise(re_review, actor=started.officer, now=later + timedelta(days=1))
    db.session.commit()
    db.session.refresh(gate)
    assert re_review.status == ReviewStatus.GRADED
    assert re_review.gate_installment_id is None and gate.gate_source == f"review:{started.review.id}"
    assert rectification_of(re_review) is None and re_review.termination_proposed_at is None
    assert f'"moot_rectification":{item.id}' in audited("review.grade_applied")[-1].new_values


def test_a_proposal_lapses_when_a_failure_of_its_run_is_regraded_as_a_pass(started, city_bureau, create_user, now):
    graded(started, [50, 55], now=now)
    second = _review_on(started, city_bureau, create_user, now + timedelta(days=2), [58, 59])
    assert second.termination_proposed_at is not None
    _regrade_as_pass(started, now + timedelta(days=3))
    db.session.refresh(second)
    assert second.termination_proposed_at is None and second.proposal_decision == ""
    assert f'"termination_proposals_lapsed":[{second.id}]' in audited("review.grade_applied")[-1].new_values
    with pytest.raises(Conflict, match="No termination is proposed"):
        grading.decide_proposal(second, decision=grading.TERMINATE, note=GROUNDS, actor=started.officer,
                                now=now + timedelta(days=4))


def test_termination_rechecks_the_run_of_failures(started, city_bureau, create_user, now):
    graded(started, [50, 55], now=now)
    second = _review_on(started, city_bureau, create_user, now + timedelta(days=2), [58, 59])
    # The first failure is reopened after an appeal: no longer graded, the run is broken until it is graded again.
    grading.reopen(started.review, reason="申诉理由成立，重新评分。", actor=started.officer,
                   now=now + timedelta(days=3))
    db.session.commit()
    with pytest.raises(Conflict, match="no longer in a row"):
        grading.decide_proposal(second, decision=grading.TERMINATE, note=GROUNDS, actor=started.officer,
                                now=now + timedelta(days=4))
    db.session.rollback()
    assert started.contract.status == ContractStatus.SIGNED
    grading.decide_proposal(second, decision=grading.CONTINUE, note="机构已更换项目负责人，继续观察一期。",
                            actor=started.officer, now=now + timedelta(days=4))
    db.session.commit()
    assert second.proposal_decision == grading.CONTINUE


def test_terminating_on_a_proposal_needs_the_grounds_of_a_termination(started, city_bureau, create_user, now):
    graded(started, [50, 55], now=now)
    second = _review_on(started, city_bureau, create_user, now + timedelta(days=2), [58, 59])
    short = "连续两次评估不合格终止"  # enough for a decision (10), not for a termination's grounds (20)
    assert grading.DECISION_NOTE_MIN <= len(short) < delivery.GROUNDS_MIN_CHARS
    with pytest.raises(DomainError, match="Terminating the contract needs its grounds: give at least 20 characters"):
        grading.decide_proposal(second, decision=grading.TERMINATE, note=short, actor=started.officer, now=now)
    db.session.rollback()
    assert started.contract.status == ContractStatus.SIGNED and second.proposal_decision == ""


def test_the_reports_mean_per_indicator_rounds_half_up(started, now):
    review = started.review
    first, second = sorted(started.reviewers, key=lambda r: r.id)
    leaf = next(i for i in scoring.scored_indicators(review) if i.max_score == 8)
    base = leaf_points(review, 70)
    assert base[leaf.key] == Decimal("5.60")
    score_all(review, {first.user: base, second.user: base | {leaf.key: Decimal("5.85")}}, now=now)
    grading.finalise(review, actor=started.officer, now=now)
    db.session.commit()
    detail = grading.report_context(review)["sections"][1]
    row = next(r for r in detail["rows"] if r[1] == leaf.name)
    assert row[-3:] == ["5.60", "5.85", "5.73"]  # 5.725 half up (half-even would show 5.72)
