"""Appeals against a review's grade (issue 7, item 6): the NGO contests within 5 working days of the Beijing date of
the grade, with reasons, once per grading round; an officer of the contracting bureau answers; an upheld appeal
reopens the scoring (grading.reopen) and the re-graded review may be contested again.

The window is checked around National Day 2026 (chinese_calendar): 1-7 October are holidays and Saturday 10 October
is a working day (调休). A review graded on Wednesday 30 September may be contested through Tuesday 13 October:
the working days after it are 8, 9, 10 (Saturday), 12 and 13 October. Counting weekdays only would end on 7
October; skipping the 调休 Saturday would end on 14 October.
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.audit import AuditEntry
from portal.calendar import CalendarYearMissing, save_year
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.notify import Notification
from portal.reviews import appeals, grading, scoring
from portal.reviews.models import Appeal, AppealStatus, Rectification, RectificationStatus, ReviewStatus
from tests.review_builders import LOW_COMMENT, leaf_points, score_all, started_review
from tests.support.web import bj

pytestmark = pytest.mark.usefixtures("english_messages")

GRADED = bj("2026-09-30", "10:00")
REASONS = "评估人未查阅我方提交的个案档案，服务成效指标的评分与证据不符，请求复核。"
ANSWER = "经核查，评估人确未查阅个案档案，同意重新评分。"


@pytest.fixture
def built(city_bureau, create_user, now):
    """A review of a contract running from July 2026, scored by two experts (62 and 58: a mean of 60.00) and
    graded 合格 on 30 September 2026 at 10:00 Beijing, directly in the database."""
    built = started_review(city_bureau, create_user, now=bj("2026-09-01"), reviewers=2, start=date(2026, 7, 1),
                           signed_at=bj("2026-06-20"))
    score_all(built.review, [62, 58], now=bj("2026-09-29"))
    graded(built.review, GRADED)
    return built


def graded(review, at: datetime, *, score: str = "60.00", grade: str = "pass") -> None:
    review.status, review.score, review.grade, review.graded_at = ReviewStatus.GRADED, Decimal(score), grade, at
    db.session.commit()


def file(built, at: datetime, *, reasons: str = REASONS, actor=None) -> Appeal:
    appeal = appeals.file_appeal(built.review, reasons=reasons, actor=actor or built.supplier, now=at)
    db.session.commit()
    return appeal


def answer(appeal, *, upheld: bool, actor, text: str = ANSWER, at: datetime = bj("2026-10-15")) -> Appeal:
    appeals.answer_appeal(appeal, upheld=upheld, answer=text, actor=actor, now=at)
    db.session.commit()
    return appeal


def rescore(review, totals, at: datetime) -> None:
    """The reviewers change their points through the scoring service after the scoring is reopened."""
    for reviewer, total in zip(sorted(review.reviewers, key=lambda r: r.id), totals, strict=True):
        points = leaf_points(review, total)
        scoring.save_sheet(reviewer, {key: (value, LOW_COMMENT) for key, value in points.items()},
                           actor=reviewer.user, now=at)
        scoring.submit_sheet(reviewer, actor=reviewer.user, now=at)
    db.session.commit()


def inbox(user) -> list[str]:
    return list(db.session.scalars(sa.select(Notification.subject).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def audit_of(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action)
                                   .order_by(AuditEntry.seq)))


# --- The window -------------------------------------------------------------------------------------------------------


def test_the_deadline_counts_working_days_over_the_holiday_and_the_adjusted_saturday(built):
    assert appeals.appeal_deadline(built.review) == date(2026, 10, 13)


def test_an_appeal_on_the_last_day_is_accepted(built):
    appeal = file(built, bj("2026-10-13", "23:59"))
    assert appeal.status == AppealStatus.OPEN and appeal.round == 1


@pytest.mark.parametrize("at", [bj("2026-10-14", "00:00"), bj("2026-10-20")])
def test_an_appeal_after_the_last_day_is_refused(built, at):
    with pytest.raises(DomainError, match="appeal window closed on 2026-10-13 \\(5 working days"):
        file(built, at)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(Appeal.id))) == 0


def test_an_appeal_on_the_grading_day_and_during_the_holiday_is_accepted(built):
    assert file(built, bj("2026-10-03")).id


def test_the_window_counts_from_the_beijing_date_of_the_grade(built):
    # 00:30 on 30 September in Beijing is still 29 September in UTC: counted from the UTC day the window would
    # end on 12 October.
    graded(built.review, datetime(2026, 9, 29, 16, 30, tzinfo=UTC))
    assert appeals.appeal_deadline(built.review) == date(2026, 10, 13)
    assert file(built, bj("2026-10-13", "18:00")).id


def test_a_grade_just_before_midnight_in_beijing_counts_from_that_day(built):
    graded(built.review, bj("2026-09-29", "23:50"))  # Tuesday 29 September: 30 Sep, 8, 9, 10 and 12 October
    assert appeals.appeal_deadline(built.review) == date(2026, 10, 12)
    with pytest.raises(DomainError, match="closed on 2026-10-12"):
        file(built, bj("2026-10-13", "09:00"))


def test_a_window_reaching_a_year_without_its_calendar_is_refused_until_an_admin_enters_it(built, create_user):
    graded(built.review, bj("2026-12-29"))  # the 5th working day falls in January 2027
    with pytest.raises(CalendarYearMissing, match="holiday calendar for 2027"):
        file(built, bj("2026-12-30"))
    db.session.rollback()
    admin = create_user("admin")
    db.session.refresh(admin)
    save_year(2027, [date(2027, 1, 1)], [], "国办发明电〔2026〕1号", actor=admin, now=bj("2026-12-01"))
    db.session.commit()
    assert appeals.appeal_deadline(built.review) == date(2027, 1, 6)  # 30, 31 Dec; 4, 5, 6 Jan (1 Jan off)
    assert file(built, bj("2027-01-06")).id


# --- Filing -----------------------------------------------------------------------------------------------------------


def test_filing_keeps_the_grade_contested_audits_and_tells_the_officers(built):
    appeal = file(built, bj("2026-10-08"), reasons=f"  {REASONS}  ")
    assert appeal.reasons == REASONS and appeal.filed_by_id == built.supplier.id
    assert (appeal.score_before, appeal.grade_before) == (Decimal("60.00"), "pass")
    [entry] = audit_of("review.appeal_filed")
    assert json.loads(entry.new_values)["last_day"] == "2026-10-13"
    for officer in built.officers:
        assert [s for s in inbox(officer) if s.startswith("Appeal against a review")]
    assert not [s for s in inbox(built.supplier) if s.startswith("Appeal against a review")]


def test_only_the_ngo_contests_its_review(built, create_user):
    for outsider in (built.officer, create_user("supplier"), create_user("evaluator"), create_user("admin")):
        with pytest.raises(NotAllowed, match="Only the contracted organisation"):
            file(built, bj("2026-10-08"), actor=outsider)
        db.session.rollback()


def test_a_review_not_graded_cannot_be_contested(built):
    built.review.status, built.review.score, built.review.grade = ReviewStatus.STARTED, None, None
    db.session.commit()
    with pytest.raises(DomainError, match="Only a graded review"):
        file(built, bj("2026-10-08"))


def test_reasons_need_twenty_characters(built):
    with pytest.raises(DomainError, match="at least 20 characters"):
        file(built, bj("2026-10-08"), reasons="评分不公，请求复核。")


def test_one_appeal_per_grading_round(built):
    file(built, bj("2026-10-08"))
    with pytest.raises(Conflict, match="already been contested"):
        file(built, bj("2026-10-09"))


# --- Answering --------------------------------------------------------------------------------------------------------


def test_a_dismissed_appeal_leaves_the_grade_and_tells_the_ngo(built):
    appeal = answer(file(built, bj("2026-10-08")), upheld=False, actor=built.officers[1],
                    text="评估人已查阅全部个案档案，评分有据，维持原评定。")
    assert appeal.status == AppealStatus.DISMISSED and appeal.answered_by_id == built.officers[1].id
    assert appeal.answered_at == bj("2026-10-15")
    review = built.review
    assert (review.status, review.score, review.grade, review.round) == (ReviewStatus.GRADED, Decimal("60.00"),
                                                                         "pass", 1)
    [entry] = audit_of("review.appeal_answered")
    assert json.loads(entry.old_values)["status"] == "open"
    assert json.loads(entry.new_values)["status"] == "dismissed"
    assert [s for s in inbox(built.supplier) if s.startswith("Your appeal is dismissed")]


def test_an_upheld_appeal_reopens_the_scoring_and_the_regraded_review_can_be_contested_again(built):
    appeal = answer(file(built, bj("2026-10-08")), upheld=True, actor=built.officer)
    review = built.review
    assert appeal.status == AppealStatus.UPHELD
    assert (review.status, review.round, review.score, review.grade) == (ReviewStatus.STARTED, 2, None, None)
    assert all(r.submitted_at is None for r in review.reviewers)
    new = json.loads(audit_of("review.appeal_answered")[0].new_values)
    assert (new["status"], new["review_status"], new["round"]) == ("upheld", "started", 2)
    assert [s for s in inbox(built.supplier) if s.startswith("Your appeal is upheld")]
    # Re-scored and graded again: the second round may be contested in its own window.
    rescore(review, [70, 66], bj("2026-10-20"))
    graded(review, bj("2026-10-21"), score="68.00")
    second = file(built, bj("2026-10-22"))
    assert (second.round, second.score_before) == (2, Decimal("68.00"))
    assert [a.round for a in db.session.scalars(sa.select(Appeal).order_by(Appeal.id))] == [1, 2]


def test_only_an_officer_of_the_contracting_bureau_answers(built, create_user, create_org):
    from portal.accounts.models import OrgKind

    appeal = file(built, bj("2026-10-08"))
    other_city = create_org(OrgKind.BUREAU, name="开封市民政局", level="city")
    for outsider in (built.supplier, create_user("admin"), create_user("evaluator"),
                     create_user("officer", organisation_id=other_city.id)):
        with pytest.raises(NotAllowed, match="Only an officer of the contracting bureau"):
            answer(appeal, upheld=True, actor=outsider)
        db.session.rollback()
    assert appeal.status == AppealStatus.OPEN


def test_an_answer_needs_grounds_and_is_given_once(built):
    appeal = file(built, bj("2026-10-08"))
    with pytest.raises(DomainError, match="at least 10 characters"):
        answer(appeal, upheld=False, actor=built.officer, text="维持。")
    db.session.rollback()
    answer(appeal, upheld=False, actor=built.officer)
    with pytest.raises(Conflict, match="already been answered"):
        answer(appeal, upheld=True, actor=built.officer)


# --- With the real grading --------------------------------------------------------------------------------------------


def test_a_failed_grade_upheld_on_appeal_and_regraded_as_passing_lifts_the_rectification(city_bureau, create_user):
    """Through grading.finalise: 不合格 opens a rectification; the upheld appeal reopens the scoring; the re-graded
    合格 closes the rectification (grading.apply_grade)."""
    built = started_review(city_bureau, create_user, now=bj("2026-09-01"), reviewers=2, start=date(2026, 7, 1),
                           signed_at=bj("2026-06-20"))
    review = built.review
    score_all(review, [58, 59], now=bj("2026-09-29"))
    grading.finalise(review, actor=built.officer, now=GRADED)
    db.session.commit()
    assert (review.grade, review.score) == ("fail", Decimal("58.50"))
    rectification = db.session.scalar(sa.select(Rectification).where(Rectification.review_id == review.id))
    assert rectification.status == RectificationStatus.AWAITING_PLAN
    answer(file(built, bj("2026-10-09")), upheld=True, actor=built.officer)
    rescore(review, [62, 61], bj("2026-10-19"))
    grading.finalise(review, actor=built.officer, now=bj("2026-10-20"))
    db.session.commit()
    db.session.refresh(rectification)
    assert (review.round, review.grade, review.score) == (2, "pass", Decimal("61.50"))
    assert rectification.status == RectificationStatus.CLOSED


def test_an_officer_who_is_or_was_a_reviewer_cannot_answer(built):
    from portal.reviews.models import Reviewer, ReviewerKind, ReviewerStatus

    reviewer_officer = built.officers[1]
    db.session.add(Reviewer(review_id=built.review.id, user_id=reviewer_officer.id, kind=ReviewerKind.OFFICER,
                            status=ReviewerStatus.WITHDRAWN, withdrawn_reason="改由其他人员评估",
                            assigned_by_id=built.officer.id, assigned_at=bj("2026-09-01")))
    db.session.commit()
    db.session.expire(built.review, ["reviewers"])
    appeal = file(built, bj("2026-10-09"))
    assert not built.review.can_answer_appeal(reviewer_officer) and built.review.can_answer_appeal(built.officer)
    with pytest.raises(NotAllowed, match="reviewer of this review"):
        appeals.answer_appeal(appeal, upheld=False, answer=ANSWER, actor=reviewer_officer, now=bj("2026-10-15"))
    db.session.rollback()
    answer(appeal, upheld=False, actor=built.officer)
    assert appeal.status == AppealStatus.DISMISSED
