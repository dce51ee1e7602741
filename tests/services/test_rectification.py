"""Rectification (整改) after a failed review (issue 7, item 5): the NGO's plan with its completion day, the officer's
acceptance (a re-review 整改复评 is planned with the failed review's rubric and reviewers) or return, the reminder
when a plan is overdue, and the re-review's grade closing the rectification.

The failed review is a mid-term review of a contract running from July 2026, graded 不合格 on Wednesday 30
September 2026; the plan is due 10 working days later, on Tuesday 20 October (1-7 October are holidays, Saturday
10 October a working day).
"""

from __future__ import annotations

import io
import json
from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa
from werkzeug.datastructures import FileStorage

from portal.accounts.models import OrgKind
from portal.audit import AuditEntry
from portal.contracts.models import ContractStatus
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.files import UploadRejected
from portal.notify import Notification
from portal.reviews import grading, rectification, rubrics
from portal.reviews.models import (
    Rectification,
    RectificationStatus,
    Review,
    ReviewerKind,
    ReviewerStatus,
    ReviewKind,
    ReviewStatus,
)
from tests.files_support import ELF_BYTES, PDF_BYTES
from tests.review_builders import score_all, started_review
from tests.support.web import bj

pytestmark = pytest.mark.usefixtures("english_messages")

GRADED = bj("2026-09-30")
PLAN_DUE = date(2026, 10, 20)
PLAN = "一、补充个案档案，完善服务记录；二、每月开展志愿者培训；三、由督导每两周检查服务质量并形成记录。"
NOTE = "请补充志愿者培训的具体安排和负责人。"


@pytest.fixture
def built(city_bureau, create_user):
    """Three experts reviewed; the third withdrew. Graded 不合格 (55.00) and its rectification awaits the plan."""
    built = started_review(city_bureau, create_user, now=bj("2026-09-01"), reviewers=3, start=date(2026, 7, 1),
                           signed_at=bj("2026-06-20"), third_party="某社会工作评估中心")
    withdrawn = built.reviewers[2]
    withdrawn.status, withdrawn.withdrawn_reason = ReviewerStatus.WITHDRAWN, "与机构负责人系亲属"
    review = built.review
    review.status, review.score, review.grade, review.graded_at = ReviewStatus.GRADED, Decimal("55.00"), "fail", GRADED
    db.session.add(Rectification(review_id=review.id, contract_id=review.contract_id, plan_due_on=PLAN_DUE,
                                 status=RectificationStatus.AWAITING_PLAN))
    db.session.commit()
    return built


@pytest.fixture
def item(built) -> Rectification:
    return db.session.scalar(sa.select(Rectification))


def submit(item, built, *, at=bj("2026-10-15"), plan=PLAN, due_on=date(2026, 12, 31), upload=None, actor=None):
    rectification.submit_plan(item, plan=plan, due_on=due_on, upload=upload, actor=actor or built.supplier, now=at)
    db.session.commit()
    return item


def accept(item, built, *, at=bj("2026-10-16"), note="同意整改方案。", actor=None):
    rectification.accept_plan(item, note=note, actor=actor or built.officer, now=at)
    db.session.commit()
    return item


def give_back(item, built, *, at=bj("2026-10-16"), note=NOTE, actor=None):
    rectification.return_plan(item, note=note, actor=actor or built.officer, now=at)
    db.session.commit()
    return item


def inbox(user, start: str) -> list[Notification]:
    return [n for n in db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                          .order_by(Notification.id)) if n.subject.startswith(start)]


def audit_of(action: str) -> list[dict]:
    return [json.loads(e.new_values) for e in db.session.scalars(
        sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq))]


# --- The NGO's plan ---------------------------------------------------------------------------------------------------


def test_the_ngo_submits_its_plan_and_the_officers_are_told(item, built):
    upload = FileStorage(stream=io.BytesIO(PDF_BYTES), filename="整改方案.pdf")
    submit(item, built, plan=f"  {PLAN}  ", upload=upload)
    assert (item.status, item.plan, item.due_on) == (RectificationStatus.PLAN_SUBMITTED, PLAN, date(2026, 12, 31))
    assert item.submitted_by_id == built.supplier.id and item.plan_file.original_name == "整改方案.pdf"
    [entry] = audit_of("review.rectification_plan_submitted")
    assert entry["late"] is False and entry["file_sha256"] == item.plan_file.sha256
    for officer in built.officers:
        [note] = inbox(officer, "Rectification plan submitted")
        assert "2026-12-31" in note.body and "late" not in note.body


def test_a_late_plan_is_accepted_and_recorded_as_late(item, built):
    submit(item, built, at=bj("2026-10-21"))
    assert item.status == RectificationStatus.PLAN_SUBMITTED
    assert audit_of("review.rectification_plan_submitted")[0]["late"] is True
    assert "recorded as late" in inbox(built.officer, "Rectification plan submitted")[0].body


def test_a_plan_on_its_due_day_is_not_late(item, built):
    submit(item, built, at=bj("2026-10-20", "23:00"))
    assert audit_of("review.rectification_plan_submitted")[0]["late"] is False


@pytest.mark.parametrize(("due_on", "ok"), [
    (date(2026, 10, 15), False),  # today
    (date(2026, 10, 16), True),  # tomorrow
    (date(2026, 10, 15) + timedelta(days=90), True),
    (date(2026, 10, 15) + timedelta(days=91), False),
    (None, False),
])
def test_the_completion_day_is_after_today_and_within_90_days(item, built, due_on, ok):
    if ok:
        assert submit(item, built, due_on=due_on).due_on == due_on
    else:
        with pytest.raises(DomainError, match="after today and within 90 days"):
            submit(item, built, due_on=due_on)


def test_a_plan_needs_twenty_characters(item, built):
    with pytest.raises(DomainError, match="at least 20 characters"):
        submit(item, built, plan="加强管理。")


def test_a_plan_attachment_is_checked_by_content(item, built):
    with pytest.raises(UploadRejected):
        submit(item, built, upload=FileStorage(stream=io.BytesIO(ELF_BYTES), filename="整改方案.pdf"))


def test_only_the_ngo_submits_the_plan_and_only_once(item, built, create_user):
    for outsider in (built.officer, create_user("supplier")):
        with pytest.raises(NotAllowed):
            submit(item, built, actor=outsider)
        db.session.rollback()
    submit(item, built)
    with pytest.raises(Conflict, match="not awaited"):
        submit(item, built)


def test_no_plan_once_the_contract_has_ended(item, built):
    built.contract.status = ContractStatus.TERMINATED
    db.session.commit()
    with pytest.raises(DomainError, match="no longer in force"):
        submit(item, built)


# --- The officer accepts: the re-review -------------------------------------------------------------------------------


def test_accepting_plans_the_re_review_like_the_failed_review(item, built):
    failed = built.review
    submit(item, built)
    accept(item, built)
    re_review = item.re_review
    assert item.status == RectificationStatus.IN_PROGRESS and item.decision_note == "同意整改方案。"
    assert (re_review.kind, re_review.title, re_review.status) == (ReviewKind.RE_REVIEW, "整改复评",
                                                                     ReviewStatus.PLANNED)
    assert re_review.due_on == date(2026, 12, 31)
    assert ((re_review.period_start, re_review.period_end, re_review.year_index, re_review.opens_payment,
             re_review.third_party, re_review.template_id, re_review.contract_id)
            == (failed.period_start, failed.period_end, failed.year_index, failed.opens_payment,
                failed.third_party, failed.template_id, failed.contract_id))
    assert rubrics.rows_of(re_review.indicators) == rubrics.rows_of(failed.indicators)
    assert {i.id for i in re_review.indicators}.isdisjoint({i.id for i in failed.indicators})
    # The two reviewers still in the failed review are assigned again (to declare anew); the withdrawn one is not.
    assert [(r.user_id, r.kind, r.status) for r in re_review.reviewers] == [
        (r.user_id, ReviewerKind.EXPERT, ReviewerStatus.ASSIGNED) for r in built.reviewers[:2]]
    entry = audit_of("review.rectification_accepted")[0]
    assert entry["re_review_id"] == re_review.id and entry["reviewers_skipped"] == []
    [told] = inbox(built.supplier, "Rectification plan accepted")
    assert "2026-12-31" in told.body


def test_a_reviewer_who_may_no_longer_review_is_skipped(item, built):
    gone = built.reviewers[1].user
    gone.active = False
    db.session.commit()
    submit(item, built)
    accept(item, built)
    assert [r.user_id for r in item.re_review.reviewers] == [built.reviewers[0].user_id]
    assert audit_of("review.re_review_planned")[0]["reviewers_skipped"] == [gone.name]


def test_only_an_officer_of_the_contracting_bureau_accepts_or_returns(built, item, create_user, create_org):
    submit(item, built)
    other_city = create_org(OrgKind.BUREAU, name="开封市民政局", level="city")
    for outsider in (built.supplier, create_user("admin"), create_user("officer", organisation_id=other_city.id)):
        for decide in (accept, give_back):
            with pytest.raises(NotAllowed, match="Only an officer of the contracting bureau"):
                decide(item, built, actor=outsider)
            db.session.rollback()
    assert item.status == RectificationStatus.PLAN_SUBMITTED
    assert db.session.scalar(sa.select(sa.func.count(Review.id))) == 1


def test_a_plan_not_submitted_cannot_be_accepted_or_returned(item, built):
    for decide in (accept, give_back):
        with pytest.raises(Conflict, match="Only a submitted rectification plan"):
            decide(item, built)
        db.session.rollback()


def test_a_plan_whose_completion_day_has_passed_is_not_accepted(item, built):
    submit(item, built, due_on=date(2026, 10, 30))
    with pytest.raises(DomainError, match="completion day \\(2026-10-30\\) has passed"):
        accept(item, built, at=bj("2026-10-30"))
    db.session.rollback()
    give_back(item, built, at=bj("2026-10-30"))
    assert item.status == RectificationStatus.AWAITING_PLAN


# --- The officer returns it -------------------------------------------------------------------------------------------


def test_a_returned_plan_is_written_again_with_a_fresh_due_day(item, built):
    submit(item, built, at=bj("2026-10-21"))  # late
    give_back(item, built, at=bj("2026-10-22"))
    assert (item.status, item.decision_note) == (RectificationStatus.AWAITING_PLAN, NOTE)
    assert item.plan_due_on == date(2026, 11, 5)  # 10 working days after Thursday 22 October
    [told] = inbox(built.supplier, "Rectification plan returned")
    assert NOTE in told.body and "2026-11-05" in told.body
    submit(item, built, at=bj("2026-10-26"), plan=PLAN + "四、志愿者培训由项目主管负责，每月第一周开展。")
    accept(item, built, at=bj("2026-10-27"))
    assert item.status == RectificationStatus.IN_PROGRESS


def test_a_return_never_shortens_the_due_day(item, built):
    item.plan_due_on = date(2026, 12, 1)
    db.session.commit()
    submit(item, built, at=bj("2026-10-15"))
    give_back(item, built, at=bj("2026-10-16"))  # a fresh 10 working days would end on 30 October
    assert item.plan_due_on == date(2026, 12, 1)


def test_a_return_needs_what_the_plan_lacks(item, built):
    submit(item, built)
    with pytest.raises(DomainError, match="at least 10 characters"):
        give_back(item, built, note="不行。")


# --- The reminder -----------------------------------------------------------------------------------------------------


def test_an_overdue_plan_is_reminded_once_to_both_parties(item, built):
    assert rectification.remind_overdue_plans(bj("2026-10-20", "23:00")) == 0
    assert rectification.remind_overdue_plans(bj("2026-10-21")) == 1
    db.session.commit()
    assert rectification.remind_overdue_plans(bj("2026-10-22")) == 0
    for user in (built.supplier, *built.officers):
        [note] = inbox(user, "Rectification plan overdue")
        assert "2026-10-20" in note.body


def test_a_returned_plan_overdue_again_is_reminded_again(item, built):
    rectification.remind_overdue_plans(bj("2026-10-21"))
    submit(item, built, at=bj("2026-10-21"))
    give_back(item, built, at=bj("2026-10-22"))
    assert rectification.remind_overdue_plans(bj("2026-11-05")) == 0
    assert rectification.remind_overdue_plans(bj("2026-11-06")) == 1
    assert len(inbox(built.supplier, "Rectification plan overdue")) == 2


def test_submitted_plans_and_ended_contracts_are_not_reminded(item, built):
    submit(item, built)
    assert rectification.remind_overdue_plans(bj("2026-10-21")) == 0
    give_back(item, built, at=bj("2026-10-16"))
    built.contract.status = ContractStatus.TERMINATED
    db.session.commit()
    assert rectification.remind_overdue_plans(bj("2026-11-30")) == 0


# --- The re-review's grade --------------------------------------------------------------------------------------------


def test_the_graded_re_review_closes_the_rectification(item, built):
    submit(item, built)
    accept(item, built)
    re_review = item.re_review
    for reviewer in re_review.reviewers:
        reviewer.status, reviewer.declared_at = ReviewerStatus.ACTIVE, bj("2026-11-10")
    re_review.status, re_review.started_at = ReviewStatus.STARTED, bj("2026-11-10")
    db.session.commit()
    score_all(re_review, [75, 71], now=bj("2026-11-19"))
    grading.finalise(re_review, actor=built.officer, now=bj("2026-11-20"))
    db.session.commit()
    db.session.refresh(item)
    assert (re_review.grade, re_review.score) == ("pass", Decimal("73.00"))
    assert item.status == RectificationStatus.CLOSED and "合格" in item.closed_reason


# --- The re-review cannot be dropped; the end of the contract closes the rectification -------------------------------


def test_the_re_review_of_an_open_rectification_cannot_be_cancelled(item, built):
    from portal.reviews import planning

    submit(item, built)
    accept(item, built)
    with pytest.raises(Conflict, match="re-review of a rectification still open"):
        planning.cancel_review(item.re_review, reason="不再需要复评", actor=built.officer, now=bj("2026-10-20"))
    db.session.rollback()
    assert item.re_review.status == ReviewStatus.PLANNED


def test_ending_the_contract_closes_the_rectification_and_cancels_its_re_review(item, built):
    from portal.contracts import delivery

    submit(item, built)
    accept(item, built)
    re_review = item.re_review
    delivery.terminate(built.contract, grounds="连续两次绩效评估不合格，整改未见成效，依约终止合同。",
                       cause=delivery.TerminationCause.FAILED_REVIEW, actor=built.officer, now=bj("2026-10-20"))
    db.session.commit()
    db.session.refresh(item)
    db.session.refresh(re_review)
    assert item.status == RectificationStatus.CLOSED and item.closed_reason == "合同于2026-10-20终止，整改关闭"
    assert re_review.status == ReviewStatus.CANCELLED and re_review.cancelled_reason.startswith("合同于2026-10-20终止")
    assert audit_of("rectification.closed")[-1]["reason"] == "合同于2026-10-20终止，整改关闭"


def test_completing_the_contract_closes_a_rectification_awaiting_its_plan(item, built):
    from portal.contracts import delivery

    contract = built.contract
    contract.accepted_at = bj("2026-10-20")
    for installment in contract.installments:
        installment.gate_met_at = installment.gate_met_at or bj("2026-10-20")
    db.session.commit()
    delivery.complete(contract, actor=built.officer, now=bj("2026-10-21"))
    db.session.commit()
    db.session.refresh(item)
    assert item.status == RectificationStatus.CLOSED and item.closed_reason == "合同于2026-10-21履行完毕，整改关闭"
