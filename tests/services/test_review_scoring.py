"""Reviewers and score sheets of a performance review (issue 7 item 4): who may be assigned (no conflict with the
NGO, as in evaluation), declarations, removals, each reviewer's sheet (points within each maximum, low points
explained), submission, the exact weighted total, and who sees which sheet (a reviewer cannot see others' scores
before submitting; the parties only once graded).

The review of tests/review_builders.py: the default rubric (14 scored indicators, each maximum equal to its
weight, so a total is the plain sum of the points), on the contract of tests/contract_builders.py.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
import sqlalchemy as sa

from portal.accounts.models import AffiliationKind, ExpertAffiliation, OrgKind
from portal.audit import AuditEntry
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.notify import Notification
from portal.reviews import grading, scoring
from portal.reviews.models import ReviewerKind, ReviewerStatus, ReviewStatus
from tests.evaluation_factories import make_pool
from tests.review_builders import add_reviewers, leaf_points, planned_review, score_all, started_review

pytestmark = pytest.mark.usefixtures("english_messages")


@pytest.fixture
def planned(city_bureau, create_user, now):
    return planned_review(city_bureau, create_user, now=now)


@pytest.fixture
def started(city_bureau, create_user, now):
    return started_review(city_bureau, create_user, now=now, reviewers=2)


def audited(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def inbox(user) -> list[Notification]:
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def evaluator(create_user):
    user = make_pool(create_user, 1)[0]
    user.locale = "en"
    db.session.commit()
    return user


def leaves(review):
    return scoring.scored_indicators(review)


def full_entries(review, total=80, comment="") -> dict:
    return {key: (points, comment or ("需改进。" if points < max_ * Decimal("0.6") else ""))
            for key, points, max_ in ((i.key, leaf_points(review, total)[i.key], i.max_score)
                                      for i in leaves(review))}


def save(reviewer, entries, now):
    done = scoring.save_sheet(reviewer, entries, actor=reviewer.user, now=now)
    db.session.commit()
    return done


# --- Assigning reviewers ----------------------------------------------------------------------------------------


def test_officer_assigns_an_officer_an_expert_and_a_third_party_assessor(planned, create_user, now):
    review, officer = planned.review, planned.officer
    colleague = planned.officers[1]
    expert, assessor = evaluator(create_user), evaluator(create_user)
    first = scoring.assign_reviewer(review, colleague, kind=ReviewerKind.OFFICER, actor=officer, now=now)
    second = scoring.assign_reviewer(review, expert, kind=ReviewerKind.EXPERT, organisation_name="ignored",
                                     actor=officer, now=now)
    third = scoring.assign_reviewer(review, assessor, kind=ReviewerKind.THIRD_PARTY,
                                    organisation_name="  郑州市 社会工作评估中心 ", actor=officer, now=now)
    db.session.commit()
    assert [r.status for r in (first, second, third)] == [ReviewerStatus.ASSIGNED] * 3
    assert (first.organisation_name, second.organisation_name, third.organisation_name) == (
        "", "", "郑州市 社会工作评估中心")
    assert [e.subject_id for e in audited("review.reviewer_assigned")] == [str(review.id)] * 3
    # A planned review tells its reviewers when it starts, not now.
    assert inbox(expert) == []


def test_a_reviewer_assigned_to_a_started_review_is_told_at_once(started, create_user, now):
    expert = evaluator(create_user)
    scoring.assign_reviewer(started.review, expert, kind=ReviewerKind.EXPERT, actor=started.officer, now=now)
    db.session.commit()
    [message] = inbox(expert)
    assert message.link == f"/reviews/{started.review.id}/declare"
    assert "assigned as a reviewer" in message.body and started.contract.reference in message.body


def test_a_reviewer_with_a_conflict_cannot_be_assigned(planned, create_user, now):
    """An expert's recorded tie to the NGO (R9, as for an evaluation committee), or an assessing organisation that
    is the NGO itself, bars the assignment."""
    review, officer = planned.review, planned.officer
    today = date(2026, 11, 30)
    tied = evaluator(create_user)
    db.session.add(ExpertAffiliation(expert_id=tied.id, organisation_id=planned.contract.supplier_id,
                                     organisation_name=planned.contract.supplier.name, kind=AffiliationKind.EMPLOYEE,
                                     start_date=date(2020, 1, 1), end_date=today - timedelta(days=365 * 2)))
    old_tie = evaluator(create_user)  # left the NGO more than 3 years ago: no longer a tie
    db.session.add(ExpertAffiliation(expert_id=old_tie.id, organisation_id=planned.contract.supplier_id,
                                     organisation_name=planned.contract.supplier.name, kind=AffiliationKind.EMPLOYEE,
                                     start_date=date(2015, 1, 1), end_date=date(2023, 11, 29)))
    db.session.commit()
    with pytest.raises(DomainError, match="a reviewer with a conflict cannot be assigned"):
        scoring.assign_reviewer(review, tied, kind=ReviewerKind.EXPERT, actor=officer, now=now)
    db.session.rollback()
    assessor = evaluator(create_user)
    ngo_name = planned.contract.supplier.name
    with pytest.raises(DomainError, match="conflict of interest"):
        scoring.assign_reviewer(review, assessor, kind=ReviewerKind.THIRD_PARTY, organisation_name=f" {ngo_name} ",
                                actor=officer, now=now)
    db.session.rollback()
    assert scoring.assign_reviewer(review, old_tie, kind=ReviewerKind.EXPERT, actor=officer, now=now).id
    db.session.commit()
    assert [r.user_id for r in review.reviewers] == [old_tie.id]


def test_who_cannot_be_assigned(planned, create_user, create_org, now):
    review, officer = planned.review, planned.officer
    other_bureau = create_org(OrgKind.BUREAU, name="开封市民政局", level="city")
    stranger = create_user("officer", organisation_id=other_bureau.id)
    supplier = planned.supplier
    inactive = evaluator(create_user)
    inactive.active = False
    db.session.commit()
    cases = [
        (supplier, ReviewerKind.EXPERT, "", "supplier's user cannot be a reviewer"),
        (stranger, ReviewerKind.OFFICER, "", "officer of the contracting bureau"),
        (planned.officers[1], ReviewerKind.EXPERT, "", "must be an evaluator"),
        (inactive, ReviewerKind.EXPERT, "", "not active"),
        (evaluator(create_user), ReviewerKind.THIRD_PARTY, " ", "Name the assessing organisation"),
        (evaluator(create_user), "chair", "", "Choose the kind of reviewer"),
    ]
    for user, kind, organisation, message in cases:
        with pytest.raises(DomainError, match=message):
            scoring.assign_reviewer(review, user, kind=kind, organisation_name=organisation, actor=officer, now=now)
        db.session.rollback()
    expert = evaluator(create_user)
    scoring.assign_reviewer(review, expert, kind=ReviewerKind.EXPERT, actor=officer, now=now)
    db.session.commit()
    with pytest.raises(Conflict, match="already a reviewer"):
        scoring.assign_reviewer(review, expert, kind=ReviewerKind.THIRD_PARTY, organisation_name="某评估中心",
                                actor=officer, now=now)
    db.session.rollback()
    assert len(review.reviewers) == 1


def test_only_the_contracting_bureau_assigns_and_only_before_grading(planned, create_user, create_org, now):
    review = planned.review
    expert = evaluator(create_user)
    other_bureau = create_org(OrgKind.BUREAU, name="洛阳市民政局", level="city")
    for actor in (create_user("officer", organisation_id=other_bureau.id), planned.supplier, expert,
                  create_user("admin")):
        with pytest.raises(NotAllowed):
            scoring.assign_reviewer(review, expert, kind=ReviewerKind.EXPERT, actor=actor, now=now)
        db.session.rollback()
    for status in (ReviewStatus.GRADED, ReviewStatus.CANCELLED):
        review.status = status
        if status == ReviewStatus.GRADED:
            review.score, review.grade = Decimal("70"), "pass"
        db.session.commit()
        with pytest.raises(Conflict, match="before the review is graded"):
            scoring.assign_reviewer(review, expert, kind=ReviewerKind.EXPERT, actor=planned.officer, now=now)
        db.session.rollback()


# --- Removing and declaring -------------------------------------------------------------------------------------


def test_officer_removes_a_reviewer_with_a_reason_but_not_after_they_submitted(started, now):
    first, second = started.reviewers
    with pytest.raises(DomainError, match="Say why"):
        scoring.remove_reviewer(first, reason=" ", actor=started.officer, now=now)
    db.session.rollback()
    with pytest.raises(NotAllowed):
        scoring.remove_reviewer(first, reason="无法按时完成评估", actor=started.supplier, now=now)
    db.session.rollback()
    scoring.remove_reviewer(first, reason="无法按时完成评估", actor=started.officer, now=now)
    db.session.commit()
    assert first.status == ReviewerStatus.WITHDRAWN and first.withdrawn_reason == "无法按时完成评估"
    assert "无法按时完成评估" in inbox(first.user)[-1].body
    with pytest.raises(Conflict, match="already withdrawn"):
        scoring.remove_reviewer(first, reason="再次移除评估人", actor=started.officer, now=now)
    db.session.rollback()
    score_all(started.review, 80, now=now)
    with pytest.raises(Conflict, match="submitted their sheet cannot be removed"):
        scoring.remove_reviewer(second, reason="无法按时完成评估", actor=started.officer, now=now)


def test_a_reviewer_declares_no_conflict_and_may_score(started, create_user, now):
    [row] = add_reviewers(started, 1, now=now, create_user=create_user, declared=False)
    with pytest.raises(NotAllowed):
        scoring.save_sheet(row, {}, actor=row.user, now=now)
    db.session.rollback()
    with pytest.raises(NotAllowed, match="own declaration"):
        scoring.declare(row, conflict=False, note="", actor=started.reviewers[0].user, now=now)
    db.session.rollback()
    scoring.declare(row, conflict=False, note="", actor=row.user, now=now)
    db.session.commit()
    assert row.status == ReviewerStatus.ACTIVE and row.declared_at == now
    with pytest.raises(Conflict, match="already made your declaration"):
        scoring.declare(row, conflict=True, note="我曾在该机构任职", actor=row.user, now=now)


def test_a_declared_conflict_withdraws_the_reviewer_and_tells_the_officers(started, create_user, now):
    [row] = add_reviewers(started, 1, now=now, create_user=create_user, declared=False)
    with pytest.raises(DomainError, match="Describe the conflict"):
        scoring.declare(row, conflict=True, note=" ", actor=row.user, now=now)
    db.session.rollback()
    scoring.declare(row, conflict=True, note="本人配偶在该机构任理事", actor=row.user, now=now)
    db.session.commit()
    assert row.status == ReviewerStatus.WITHDRAWN and "本人配偶在该机构任理事" in row.withdrawn_reason
    assert row not in scoring.counting_reviewers(started.review, submitted_only=False)
    for officer in started.officers:
        assert "declared a conflict of interest" in inbox(officer)[-1].body
    assert started.review.reviewer_for(row.user) is None


# --- Sheets ---------------------------------------------------------------------------------------------------------


def test_a_sheet_is_saved_in_parts_and_its_total_is_the_weighted_sum(started, now):
    reviewer = started.reviewers[0]
    first, second, *_ = leaves(started.review)
    save(reviewer, {first.key: (Decimal("8"), ""), second.key: (Decimal("4.5"), "档案基本完整")}, now)
    assert scoring.points_of(reviewer) == {first.key: Decimal("8.00"), second.key: Decimal("4.50")}
    assert scoring.reviewer_total(reviewer) == Fraction(25, 2)  # unscored indicators count nothing yet
    # Clearing points removes them; the comment goes with them.
    save(reviewer, {second.key: (None, "")}, now)
    assert scoring.points_of(reviewer) == {first.key: Decimal("8.00")}
    save(reviewer, full_entries(started.review, "87.65"), now)
    assert scoring.reviewer_total(reviewer) == Fraction(8765, 100)


def test_a_weighted_total_uses_each_maximum(started, now):
    """A rubric whose maxima differ from the weights: points count in proportion to the maximum."""
    reviewer = started.reviewers[0]
    indicator = next(i for i in started.review.indicators if i.parent_id is not None)
    indicator.max_score = Decimal(indicator.weight) * 2  # e.g. 8 weight out of 16 points
    db.session.commit()
    save(reviewer, {indicator.id: (Decimal(indicator.weight), "仅完成一半")}, now)  # half the maximum
    assert scoring.reviewer_total(reviewer) == Fraction(Decimal(indicator.weight)) / 2


def test_points_outside_the_maximum_are_refused_naming_the_indicator(started, now):
    reviewer = started.reviewers[0]
    leaf = leaves(started.review)[0]
    for points in (leaf.max_score + Decimal("0.01"), Decimal("-1"), Decimal("1.005")):
        with pytest.raises(DomainError, match=f"The points for “{leaf.name}” must be from 0 to {leaf.max_score}"):
            scoring.save_sheet(reviewer, {leaf.key: (points, "理由")}, actor=reviewer.user, now=now)
        db.session.rollback()
    with pytest.raises(DomainError, match="scored indicators"):
        first_level = next(i for i in started.review.indicators if i.parent_id is None)
        scoring.save_sheet(reviewer, {first_level.id: (Decimal("1"), "")}, actor=reviewer.user, now=now)
    db.session.rollback()
    with pytest.raises(DomainError, match="before commenting"):
        scoring.save_sheet(reviewer, {leaf.key: (None, "只有意见")}, actor=reviewer.user, now=now)
    db.session.rollback()
    assert scoring.points_of(reviewer) == {}


def test_points_below_60_percent_of_the_maximum_need_a_comment(started, now):
    """House rule: a low mark is explained."""
    reviewer = started.reviewers[0]
    ten = next(i for i in leaves(started.review) if i.max_score == 10)
    with pytest.raises(DomainError, match=f"Explain the points for “{ten.name}”"):
        scoring.save_sheet(reviewer, {ten.key: (Decimal("5.99"), "  ")}, actor=reviewer.user, now=now)
    db.session.rollback()
    save(reviewer, {ten.key: (Decimal("6"), "")}, now)  # exactly 60 percent: no comment needed
    save(reviewer, {ten.key: (Decimal("5.99"), "服务记录缺失较多")}, now)
    assert reviewer.scores[0].comment == "服务记录缺失较多"


def test_every_change_to_a_sheet_is_audited_with_old_and_new_points(started, now):
    reviewer = started.reviewers[0]
    leaf = leaves(started.review)[0]
    save(reviewer, {leaf.key: (Decimal("7"), "")}, now)
    save(reviewer, {leaf.key: (Decimal("7.5"), "")}, now)
    save(reviewer, {leaf.key: (Decimal("7.5"), "")}, now)  # nothing changed: nothing audited
    entries = audited("review.sheet_saved")
    assert len(entries) == 2
    assert f'"{leaf.key}":"7.00"' in entries[1].old_values and f'"{leaf.key}":"7.50"' in entries[1].new_values


def test_only_the_declared_reviewer_fills_their_sheet_while_the_review_is_under_way(planned, started, create_user,
                                                                                     now):
    reviewer = started.reviewers[0]
    leaf = leaves(started.review)[0]
    with pytest.raises(NotAllowed, match="own sheet"):
        scoring.save_sheet(reviewer, {leaf.key: (Decimal("5"), "")}, actor=started.reviewers[1].user, now=now)
    db.session.rollback()
    with pytest.raises(NotAllowed):
        scoring.save_sheet(reviewer, {leaf.key: (Decimal("5"), "")}, actor=started.officer, now=now)
    db.session.rollback()
    [waiting] = add_reviewers(planned, 1, now=now, create_user=create_user)
    with pytest.raises(Conflict, match="while the review is under way"):
        scoring.save_sheet(waiting, {}, actor=waiting.user, now=now)


def test_a_sheet_is_submitted_only_complete_and_then_cannot_change(started, now):
    reviewer, other = started.reviewers
    leaf = leaves(started.review)[0]
    save(reviewer, {leaf.key: (Decimal("5"), "")}, now)
    with pytest.raises(DomainError, match="Points are missing for: .*服务目标完成情况"):
        scoring.submit_sheet(reviewer, actor=reviewer.user, now=now)
    db.session.rollback()
    save(reviewer, full_entries(started.review, 80), now)
    scoring.submit_sheet(reviewer, actor=reviewer.user, now=now)
    db.session.commit()
    assert reviewer.submitted_at == now and reviewer.counts
    with pytest.raises(Conflict, match="has been submitted"):
        scoring.save_sheet(reviewer, {leaf.key: (Decimal("6"), "")}, actor=reviewer.user, now=now)
    db.session.rollback()
    with pytest.raises(Conflict, match="has been submitted"):
        scoring.submit_sheet(reviewer, actor=reviewer.user, now=now)
    db.session.rollback()
    # The officers are told once the last sheet is in.
    assert not any("Ready to grade" in n.subject for n in inbox(started.officer))
    save(other, full_entries(started.review, 70), now)
    scoring.submit_sheet(other, actor=other.user, now=now)
    db.session.commit()
    assert [n.subject for n in inbox(started.officer) if "Ready to grade" in n.subject]
    entry = audited("review.sheet_submitted")[-1]
    assert '"total":"70.00"' in entry.new_values


# --- Who sees which sheet -------------------------------------------------------------------------------------------


def test_a_reviewer_cannot_see_others_scores_before_submitting(started, now):
    first, second = started.reviewers
    review = started.review
    score_all(review, {second.user: 70}, now=now)  # the second reviewer submitted
    save(first, {leaves(review)[0].key: (Decimal("5"), "")}, now)
    assert scoring.visible_sheets(review, first.user) == [first]
    assert not scoring.can_see_sheet(review, first.user, second)
    # The second sees their own, and not the first's draft.
    assert scoring.visible_sheets(review, second.user) == [second]
    save(first, full_entries(review, 80), now)
    scoring.submit_sheet(first, actor=first.user, now=now)
    db.session.commit()
    assert scoring.visible_sheets(review, first.user) == [first, second]
    assert scoring.visible_sheets(review, second.user) == [first, second]


def test_the_parties_see_the_sheets_only_once_graded(started, create_user, now):
    review = started.review
    score_all(review, [80, 70], now=now)
    other_ngo = create_user("supplier")
    outsider = create_user("evaluator")
    readers = [started.officer, started.supplier]
    for user in [*readers, other_ngo, outsider]:
        assert scoring.visible_sheets(review, user) == []
    grading.finalise(review, actor=started.officer, now=now)
    db.session.commit()
    for user in readers:
        assert scoring.visible_sheets(review, user) == started.reviewers
    for user in (other_ngo, outsider):
        assert scoring.visible_sheets(review, user) == []


def test_a_withdrawn_reviewers_sheet_is_never_shown(started, create_user, now):
    review = started.review
    [late] = add_reviewers(started, 1, now=now, create_user=create_user)
    save(late, {leaves(review)[0].key: (Decimal("5"), "")}, now)
    scoring.remove_reviewer(late, reason="评估人时间冲突", actor=started.officer, now=now)
    db.session.commit()
    score_all(review, [80, 70], now=now)
    grading.finalise(review, actor=started.officer, now=now)
    db.session.commit()
    assert late not in scoring.visible_sheets(review, started.officer)
    assert scoring.visible_sheets(review, late.user) == []
