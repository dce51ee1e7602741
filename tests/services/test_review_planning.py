"""The review plan and rubrics through the services: the default rubric, the plan made at signing, the officer's
additions, changes, cancellations and starts, rubrics frozen once a review starts, the bureau's templates, and the
reminders of reviews falling due.

Contracts from tests/contract_builders.py (start 2027-01-01, 12 months, quarterly reports, signed 30 Nov 2026); the
clock of the services is ``now`` (30 Nov 2026, 10:00 Beijing) unless said otherwise.
"""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.models import OrgKind
from portal.audit import AuditEntry
from portal.contracts import services as contract_services
from portal.contracts.models import ContractStatus
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.notify import Notification
from portal.reviews import planning, rubrics, rules
from portal.reviews.models import (
    Review,
    ReviewerStatus,
    ReviewIndicator,
    ReviewStatus,
    RubricTemplate,
    TemplateIndicator,
)
from portal.reviews.rules import ReviewKind
from tests.contract_builders import draft_contract_row, signed_contract
from tests.review_builders import add_reviewers, planned_review, score_all, started_review
from tests.support.web import bj

pytestmark = pytest.mark.usefixtures("english_messages")


@pytest.fixture
def district(create_org, city_bureau):
    return create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)


@pytest.fixture
def stranger(create_user, district):
    """An officer of another bureau."""
    return create_user("officer", organisation_id=district.id)


def audits(action: str) -> list[AuditEntry]:
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)))


def inbox(user) -> list[Notification]:
    """The user's notifications about reviews (the contract's own, e.g. payable installments, left out)."""
    return list(db.session.scalars(sa.select(Notification).where(Notification.user_id == user.id,
                                                                 Notification.link.like("/reviews/%"))
                                   .order_by(Notification.id)))


def rows(*spec) -> list[dict]:
    """Rubric rows from (level, name, weight, max) tuples."""
    return [{"level": level, "name": name, "weight": weight, "max_score": top, "guidance": ""}
            for level, name, weight, top in spec]


GOOD_ROWS = rows((1, "服务成效", "60", "60"), (2, "目标达成", "40", "40"), (2, "服务对象改变", "20", "10"),
                 (1, "财务管理", "40", "20"))


# --- The default rubric ---------------------------------------------------------------------------------------------


def test_default_template_is_created_once_with_five_first_levels_adding_up_to_100(app_context):
    template = planning.default_template()
    db.session.commit()
    assert planning.default_template().id == template.id
    assert db.session.scalar(sa.select(sa.func.count(RubricTemplate.id))) == 1
    assert template.is_default and template.bureau_id is None
    pairs = rubrics.rubric_rows(template.indicators)
    assert [p.name for p, _ in pairs] == ["项目管理", "服务成效", "专业服务与人员配置", "财务管理", "服务对象满意度"]
    assert sum(p.weight for p, _ in pairs) == 100
    assert all(2 <= len(children) <= 4 for _, children in pairs)
    assert all(sum(c.weight for c in children) == p.weight for p, children in pairs)
    assert all(c.max_score == c.weight for _, children in pairs for c in children)
    assert not rules.rubric_problems(rubrics.to_rule_indicators(template.indicators))


def test_default_template_is_read_only(city_bureau, create_user, now):
    officer = create_user("officer")
    template = planning.default_template()
    with pytest.raises(NotAllowed, match="default rubric cannot be changed"):
        rubrics.update_template(template, name="x", description="", rows=GOOD_ROWS, actor=officer, now=now)
    with pytest.raises(NotAllowed):
        rubrics.delete_template(template, actor=officer, now=now)


def test_to_rule_indicators_keys_by_id_and_parent_and_sheet_totals_follow(city_bureau, create_user, now):
    review = planned_review(city_bureau, create_user, now=now).review
    view = rubrics.to_rule_indicators(review.indicators)
    by_id = {i.id: i for i in review.indicators}
    assert [v.key for v in view] == [i.id for i in review.indicators]
    assert all(v.parent == by_id[v.key].parent_id for v in view)
    leaves = rules.leaves(view)
    assert len(leaves) == rubrics.leaf_count(review.indicators) == 14
    full = rules.sheet_total(view, {leaf.key: leaf.max_score for leaf in leaves})
    assert full == 100


# --- The plan made at signing ---------------------------------------------------------------------------------------


def test_plan_contract_plans_each_review_once_with_its_own_copy_of_the_default_rubric(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now)
    reviews = planning.plan_contract(built.contract, actor=built.officers[0], now=now)
    db.session.commit()
    assert [r.title for r in reviews] == [
        "需求评估", "第1期督导评估（2027-01-01至2027-03-31）", "第2期督导评估（2027-04-01至2027-06-30）", "中期评估",
        "第3期督导评估（2027-07-01至2027-09-30）", "末期效果评估", "第4期督导评估（2027-10-01至2027-12-31）"]
    assert all(r.status == ReviewStatus.PLANNED and r.created_by_id is None for r in reviews)
    assert [r.opens_payment for r in reviews] == [False, False, False, True, False, True, False]
    template = planning.default_template()
    assert all(r.template_id == template.id and len(r.indicators) == len(template.indicators) for r in reviews)
    assert len({i.id for r in reviews for i in r.indicators}) == 7 * len(template.indicators)  # copies, not shared
    (entry,) = audits("review.planned")
    assert '"count":7' in entry.new_values
    assert planning.plan_contract(built.contract, actor=built.officers[0], now=now) == []
    assert db.session.scalar(sa.select(sa.func.count(Review.id))) == 7
    assert len(audits("review.planned")) == 1


def test_plan_of_a_36_month_monthly_contract_names_its_years(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now, months=36, report_interval="monthly")
    reviews = planning.plan_contract(built.contract, actor=built.officers[0], now=now)
    titles = [r.title for r in reviews]
    assert len(reviews) == 41
    assert "第1年度评估" in titles and "第2年度评估" in titles and "中期评估" in titles
    assert "第36期督导评估（2029-12-01至2029-12-31）" in titles
    assert [r.year_index for r in reviews if r.kind == ReviewKind.FINAL] == [3]


def test_plan_of_a_24_month_contract_merges_the_midterm_into_year_one(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now, months=24)
    reviews = planning.plan_contract(built.contract, actor=built.officers[0], now=now)
    (midterm,) = [r for r in reviews if r.kind == ReviewKind.MIDTERM]
    assert (midterm.title, midterm.year_index) == ("中期评估（第1年度）", 1)


def test_plan_contract_refuses_a_contract_not_signed(city_bureau, create_user, now):
    built = draft_contract_row(city_bureau, create_user, now=now)
    with pytest.raises(DomainError, match="once the contract is signed"):
        planning.plan_contract(built.contract, actor=built.officers[0], now=now)


def test_signing_by_both_parties_plans_the_reviews_in_the_same_transaction(city_bureau, create_user, now):
    built = draft_contract_row(city_bureau, create_user, now=now, months=3)
    at = now + timedelta(days=1)
    contract_services.sign(built.contract, actor=built.officers[0], now=at)
    assert db.session.scalar(sa.select(sa.func.count(Review.id))) == 0
    contract_services.sign(built.contract, actor=built.supplier, now=at + timedelta(minutes=5))
    db.session.commit()
    assert built.contract.status == ContractStatus.SIGNED
    reviews = planning.contract_reviews(built.contract)
    assert [r.kind for r in reviews] == [ReviewKind.NEEDS, ReviewKind.FINAL, ReviewKind.SUPERVISION]
    (entry,) = audits("review.planned")
    assert entry.actor_id == built.supplier.id


# --- Adding, changing, cancelling -----------------------------------------------------------------------------------


def add(built, **values):
    defaults = {"kind": ReviewKind.EXTRA, "title": "", "due_on": date(2027, 5, 15), "period_start": date(2027, 1, 1),
                "period_end": date(2027, 4, 30), "opens_payment": False, "year_index": None, "third_party": ""}
    actor = values.pop("actor", built.officers[0])
    return planning.add_review(built.contract, actor=actor, now=values.pop("now", bj("2026-12-01")),
                               **(defaults | values))


def test_officer_adds_a_third_party_spot_check_with_the_default_title_and_rubric(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now)
    review = add(built, third_party="  郑州市社会工作评估中心 ")
    db.session.commit()
    assert (review.title, review.third_party, review.created_by_id) == (
        "专项评估", "郑州市社会工作评估中心", built.officers[0].id)
    assert review.template_id == planning.default_template().id and len(review.indicators) == 19
    (entry,) = audits("review.added")
    assert entry.subject_id == str(review.id)


def test_officer_adds_a_review_with_a_template_of_the_bureau(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now)
    template = rubrics.create_template(city_bureau, name="专项检查", actor=built.officers[0], now=now)
    rubrics.update_template(template, name="专项检查", description="", rows=GOOD_ROWS, actor=built.officers[0],
                            now=now)
    review = add(built, template=template, title="财务专项检查")
    assert [i.name for i in review.indicators] == ["服务成效", "目标达成", "服务对象改变", "财务管理"]
    assert review.template_id == template.id


@pytest.mark.parametrize(("values", "message"), [
    ({"period_start": date(2026, 12, 1)}, "within the contract's term"),
    ({"period_end": date(2028, 1, 1)}, "within the contract's term"),
    ({"period_end": date(2026, 12, 31), "period_start": date(2027, 1, 1)}, "ends before it starts"),
    ({"due_on": date(2027, 2, 1), "now": bj("2027-03-01")}, "cannot be due in the past"),
    ({"due_on": date(2027, 1, 1), "period_start": date(2027, 2, 1)}, "before the period it reviews starts"),
    ({"year_index": 1}, "Only a multi-year contract"),
    ({"kind": "annual"}, "Choose the kind of review"),
    ({"title": "评" * 201}, "at most 200 characters"),
])
def test_add_review_refuses_bad_dates_and_values(city_bureau, create_user, now, values, message):
    built = signed_contract(city_bureau, create_user, now=now)
    with pytest.raises(DomainError, match=message):
        add(built, **values)


def test_add_review_year_index_must_be_a_year_of_the_contract(city_bureau, create_user, now):
    built = signed_contract(city_bureau, create_user, now=now, months=24)
    assert add(built, kind=ReviewKind.YEARLY, year_index=2).year_index == 2
    with pytest.raises(DomainError, match="between 1 and 2"):
        add(built, kind=ReviewKind.YEARLY, year_index=3)


def test_only_the_contracting_bureaus_officer_adds_a_review(city_bureau, create_user, now, stranger):
    built = signed_contract(city_bureau, create_user, now=now)
    for actor in (built.supplier, stranger):
        with pytest.raises(NotAllowed):
            add(built, actor=actor)


def test_add_review_refuses_a_draft_contract_and_another_bureaus_template(city_bureau, create_user, now, district,
                                                                           stranger):
    draft = draft_contract_row(city_bureau, create_user, now=now)
    with pytest.raises(DomainError, match="signed contract in force"):
        add(draft)
    built = signed_contract(city_bureau, create_user, now=now)
    theirs = rubrics.create_template(district, name="区模板", copy_from=planning.default_template(), actor=stranger,
                                     now=now)
    with pytest.raises(NotAllowed, match="your bureau's templates"):
        add(built, template=theirs)


def test_update_review_changes_a_planned_review_and_audits_what_changed(city_bureau, create_user, now):
    built = planned_review(city_bureau, create_user, now=now)
    review = planning.update_review(built.review, {"due_on": date(2027, 7, 15), "third_party": "评估中心"},
                                    actor=built.officer, now=now)
    db.session.commit()
    assert (review.due_on, review.third_party, review.title) == (date(2027, 7, 15), "评估中心", "中期评估")
    (entry,) = audits("review.updated")
    assert "2027-07-02" in entry.old_values and "2027-07-15" in entry.new_values
    assert "title" not in entry.new_values


def test_update_review_refused_once_started_and_for_others(city_bureau, create_user, now, stranger):
    built = planned_review(city_bureau, create_user, now=now)
    with pytest.raises(NotAllowed):
        planning.update_review(built.review, {"title": "x"}, actor=stranger, now=now)
    with pytest.raises(DomainError, match="within the contract's term"):
        planning.update_review(built.review, {"period_end": date(2028, 3, 1)}, actor=built.officer, now=now)
    started = started_review(city_bureau, create_user, now=now, on=built)
    with pytest.raises(Conflict, match="Only a planned review can be changed"):
        planning.update_review(started.review, {"title": "x"}, actor=built.officer, now=now)


def test_cancel_needs_a_reason_and_tells_the_ngo(city_bureau, create_user, now):
    built = planned_review(city_bureau, create_user, now=now)
    with pytest.raises(DomainError, match="Say why the review is cancelled"):
        planning.cancel_review(built.review, reason=" 取消 ", actor=built.officer, now=now)
    with pytest.raises(NotAllowed):
        planning.cancel_review(built.review, reason="与年度评估合并进行。", actor=built.supplier, now=now)
    review = planning.cancel_review(built.review, reason="与年度评估合并进行。", actor=built.officer, now=now)
    db.session.commit()
    assert (review.status, review.cancelled_reason) == (ReviewStatus.CANCELLED, "与年度评估合并进行。")
    (note,) = inbox(built.supplier)
    assert note.subject.startswith("Review cancelled: 中期评估") and "与年度评估合并进行。" in note.body
    with pytest.raises(Conflict, match="Only a planned or started review"):
        planning.cancel_review(review, reason="再次取消的理由", actor=built.officer, now=now)


def test_a_started_review_can_be_cancelled_until_a_sheet_is_submitted(city_bureau, create_user, now):
    built = started_review(city_bureau, create_user, now=now, reviewers=2)
    score_all(built.review, {built.experts[0]: 70}, now=now, submit=False)  # saved, not submitted
    planning.cancel_review(built.review, reason="合同提前终止，评估取消。", actor=built.officer, now=now)
    db.session.commit()
    assert built.review.status == ReviewStatus.CANCELLED
    subjects = [n.subject for n in inbox(built.experts[1])]
    assert subjects == [f"Review cancelled: 中期评估 ({built.contract.reference})"]

    other = started_review(city_bureau, create_user, now=now, on=built)
    score_all(other.review, {other.experts[0]: 70}, now=now)
    with pytest.raises(Conflict, match="already submitted a score sheet"):
        planning.cancel_review(other.review, reason="合同提前终止，评估取消。", actor=built.officer, now=now)


# --- Starting: the rubric freezes -----------------------------------------------------------------------------------


def test_start_needs_a_reviewer_a_valid_rubric_and_a_contract_in_force(city_bureau, create_user, now):
    built = planned_review(city_bureau, create_user, now=now)
    review = built.review
    assert planning.start_problems(review) == ["Assign at least one reviewer first."]
    with pytest.raises(DomainError, match="Assign at least one reviewer"):
        planning.start_review(review, actor=built.officer, now=now)
    db.session.rollback()
    (reviewer,) = add_reviewers(built, 1, now=now, create_user=create_user, declared=False)
    reviewer.status = ReviewerStatus.WITHDRAWN
    db.session.commit()
    with pytest.raises(DomainError, match="Assign at least one reviewer"):
        planning.start_review(review, actor=built.officer, now=now)
    db.session.rollback()
    add_reviewers(built, 1, now=now, create_user=create_user, declared=False)
    leaf = next(i for i in review.indicators if i.parent_id is not None)
    leaf.weight = leaf.weight + 1  # the rubric no longer adds up
    db.session.commit()
    assert planning.start_problems(review) == ["The rubric is not complete: the weights must add up to 100."]
    with pytest.raises(DomainError, match="add up to"):
        planning.start_review(review, actor=built.officer, now=now)
    db.session.rollback()
    leaf.weight = leaf.weight - 1
    built.contract.status = ContractStatus.TERMINATED
    db.session.commit()
    with pytest.raises(DomainError, match="while the contract is in force"):
        planning.start_review(review, actor=built.officer, now=now)


def test_start_freezes_the_rubric_and_tells_the_reviewers_and_the_ngo(city_bureau, create_user, now):
    built = planned_review(city_bureau, create_user, now=now)
    (reviewer,) = add_reviewers(built, 1, now=now, create_user=create_user, declared=False)
    with pytest.raises(NotAllowed):
        planning.start_review(built.review, actor=built.supplier, now=now)
    review = planning.start_review(built.review, actor=built.officer, now=now)
    db.session.commit()
    assert (review.status, review.started_at, review.started_by_id) == (ReviewStatus.STARTED, now, built.officer.id)
    (to_reviewer,) = inbox(reviewer.user)
    assert to_reviewer.subject.startswith("Review started: 中期评估") and "Declare that you have no conflict" in \
        to_reviewer.body
    (to_ngo,) = inbox(built.supplier)
    assert "self-assessment and evidence" in to_ngo.body
    assert audits("review.started")
    with pytest.raises(Conflict, match="Only a planned review can be started"):
        planning.start_review(review, actor=built.officer, now=now)

    frozen = [(i.name, i.weight) for i in review.indicators]
    with pytest.raises(Conflict, match="A rubric cannot change once a review has started."):
        rubrics.update_rubric(review, GOOD_ROWS, actor=built.officer, now=now)
    with pytest.raises(Conflict, match="A rubric cannot change once a review has started."):
        rubrics.copy_rubric(review, planning.default_template(), actor=built.officer, now=now)
    db.session.rollback()
    db.session.expire_all()
    assert [(i.name, i.weight) for i in db.session.get(Review, review.id).indicators] == frozen


# --- A review's rubric ----------------------------------------------------------------------------------------------


def test_update_rubric_replaces_the_indicators_of_a_planned_review(city_bureau, create_user, now):
    built = planned_review(city_bureau, create_user, now=now)
    review = rubrics.update_rubric(built.review, GOOD_ROWS, actor=built.officer, now=now)
    db.session.commit()
    pairs = rubrics.rubric_rows(review.indicators)
    assert [(p.name, [c.name for c in children]) for p, children in pairs] == [
        ("服务成效", ["目标达成", "服务对象改变"]), ("财务管理", [])]
    assert db.session.scalar(sa.select(sa.func.count(ReviewIndicator.id))) == 4
    view = rubrics.to_rule_indicators(review.indicators)
    assert [leaf.name for leaf in rules.leaves(view)] == ["目标达成", "服务对象改变", "财务管理"]
    (entry,) = audits("review.rubric_updated")
    assert "项目管理" in entry.old_values and "服务成效" in entry.new_values


@pytest.mark.parametrize(("spec", "message"), [
    ([], "at least one first-level indicator"),
    ([(1, "服务成效", "90", "90")], "first-level weights add up to 90; they must add up to 100"),
    ([(1, "服务成效", "100", "100"), (2, "目标达成", "60", "60"), (2, "记录", "30", "30")],
     "second-level weights under “服务成效” add up to 90; they must add up to its weight 100"),
    ([(1, "服务成效", "100", "100"), (2, "", "100", "100")], "Every indicator needs a name"),
    ([(1, "服务成效", "100", "0")], "must be above zero"),
    ([(2, "目标达成", "100", "100")], "must follow the first-level indicator"),
    ([(1, "服务成效", "abc", "10")], "must be numbers"),
    ([(1, "服务成效", "99.999", "10")], "at most two decimal places"),
    ([(3, "服务成效", "100", "10")], "first-level or second-level"),
])
def test_update_rubric_refuses_a_rubric_that_does_not_add_up(city_bureau, create_user, now, spec, message):
    built = planned_review(city_bureau, create_user, now=now)
    with pytest.raises(DomainError, match=message):
        rubrics.update_rubric(built.review, rows(*spec), actor=built.officer, now=now)


def test_update_rubric_only_by_the_contracting_bureau(city_bureau, create_user, now, stranger):
    built = planned_review(city_bureau, create_user, now=now)
    for actor in (built.supplier, stranger):
        with pytest.raises(NotAllowed):
            rubrics.update_rubric(built.review, GOOD_ROWS, actor=actor, now=now)


def test_copy_rubric_from_a_template_of_the_bureau_only(city_bureau, create_user, now, district, stranger):
    built = planned_review(city_bureau, create_user, now=now)
    ours = rubrics.create_template(city_bureau, name="本局模板", actor=built.officer, now=now)
    with pytest.raises(DomainError, match="no indicators yet"):
        rubrics.copy_rubric(built.review, ours, actor=built.officer, now=now)
    rubrics.update_template(ours, name="本局模板", description="", rows=GOOD_ROWS, actor=built.officer, now=now)
    review = rubrics.copy_rubric(built.review, ours, actor=built.officer, now=now)
    assert review.template_id == ours.id and len(review.indicators) == 4
    theirs = rubrics.create_template(district, name="区模板", copy_from=planning.default_template(), actor=stranger,
                                     now=now)
    with pytest.raises(NotAllowed):
        rubrics.copy_rubric(built.review, theirs, actor=built.officer, now=now)


# --- Templates ------------------------------------------------------------------------------------------------------


def test_templates_are_created_copied_changed_and_deleted_by_their_bureau(city_bureau, create_user, now, stranger):
    officer = create_user("officer")
    default = planning.default_template()
    template = rubrics.create_template(city_bureau, name="  社区养老  服务评估 ", copy_from=default, actor=officer,
                                       now=now)
    db.session.commit()
    assert template.name == "社区养老 服务评估" and len(template.indicators) == len(default.indicators)
    assert [t.id for t in rubrics.templates_for(officer)] == [default.id, template.id]
    assert [t.id for t in rubrics.templates_for(stranger)] == [default.id]
    assert rubrics.can_view_template(template, officer) and not rubrics.can_view_template(template, stranger)
    assert rubrics.can_view_template(default, stranger)

    with pytest.raises(NotAllowed):
        rubrics.update_template(template, name="x", description="", rows=GOOD_ROWS, actor=stranger, now=now)
    with pytest.raises(DomainError, match="Give the template a name"):
        rubrics.update_template(template, name=" ", description="", rows=GOOD_ROWS, actor=officer, now=now)
    rubrics.update_template(template, name="社区养老", description="试行", rows=GOOD_ROWS, actor=officer, now=now)
    db.session.commit()
    assert (template.name, template.description, len(template.indicators)) == ("社区养老", "试行", 4)
    assert audits("review.template_updated")

    with pytest.raises(NotAllowed):
        rubrics.delete_template(template, actor=stranger, now=now)
    rubrics.delete_template(template, actor=officer, now=now)
    db.session.commit()
    assert db.session.get(RubricTemplate, template.id) is None
    assert db.session.scalar(sa.select(sa.func.count(TemplateIndicator.id))) == len(default.indicators)


def test_a_template_used_by_a_review_cannot_be_deleted(city_bureau, create_user, now):
    built = planned_review(city_bureau, create_user, now=now)
    template = rubrics.create_template(city_bureau, name="本局模板", copy_from=planning.default_template(),
                                       actor=built.officer, now=now)
    rubrics.copy_rubric(built.review, template, actor=built.officer, now=now)
    db.session.commit()
    assert rubrics.templates_in_use([template.id]) == {template.id: 1}
    with pytest.raises(Conflict, match="used by 1 review"):
        rubrics.delete_template(template, actor=built.officer, now=now)


def test_only_officers_of_the_bureau_create_its_templates(city_bureau, create_user, now, stranger):
    supplier = create_user("supplier")
    for actor in (supplier, stranger):
        with pytest.raises(NotAllowed):
            rubrics.create_template(city_bureau, name="x", actor=actor, now=now)


# --- Reminders ------------------------------------------------------------------------------------------------------


def test_officers_are_reminded_once_a_week_before_and_once_when_overdue(city_bureau, create_user, now):
    built = planned_review(city_bureau, create_user, now=now, due_on=date(2027, 3, 10))
    later = planned_review(city_bureau, create_user, now=now, on=built, due_on=date(2027, 3, 18))
    dropped = planned_review(city_bureau, create_user, now=now, on=built, due_on=date(2027, 3, 5))
    dropped.review.status = ReviewStatus.CANCELLED
    db.session.commit()

    assert planning.remind_due_reviews(bj("2027-03-02")) == 0  # 8 days before
    assert planning.remind_due_reviews(bj("2027-03-03")) == 1  # 7 days before
    db.session.commit()
    assert planning.remind_due_reviews(bj("2027-03-04")) == 0
    for officer in built.officers:
        (note,) = inbox(officer)
        assert note.subject == f"Review due in 7 days: 中期评估 ({built.contract.reference})"
        assert note.link == f"/reviews/{built.review.id}"
    assert not inbox(built.supplier)

    started = started_review(city_bureau, create_user, now=now, on=built, due_on=date(2027, 3, 12))
    assert planning.remind_due_reviews(bj("2027-03-05")) == 0  # a started review is not reminded before its day
    assert planning.remind_due_reviews(bj("2027-03-11")) == 2  # the first is overdue; `later` is due in 7 days
    db.session.commit()
    assert planning.remind_due_reviews(bj("2027-03-12", "23:59")) == 0  # the started review is due today
    assert planning.remind_due_reviews(bj("2027-03-13", "00:01")) == 1  # and overdue once its day is over
    db.session.commit()
    assert planning.remind_due_reviews(bj("2027-03-19")) == 1  # `later` is overdue
    db.session.commit()
    assert planning.remind_due_reviews(bj("2027-04-20")) == 0
    subjects = [n.subject for n in inbox(built.officer)]
    assert subjects.count(f"Review overdue: 中期评估 ({built.contract.reference})") == 3
    assert len(audits(planning.REMINDED_OVERDUE)) == 3 and len(audits(planning.REMINDED_DUE)) == 2
    assert {e.subject_id for e in audits(planning.REMINDED_OVERDUE)} == {
        str(built.review.id), str(started.review.id), str(later.review.id)}


def test_reviews_of_a_terminated_contract_are_not_reminded(city_bureau, create_user, now):
    built = planned_review(city_bureau, create_user, now=now, due_on=date(2027, 3, 10))
    built.contract.status = ContractStatus.TERMINATED
    db.session.commit()
    assert planning.remind_due_reviews(bj("2027-03-20")) == 0


def test_plan_summary_counts_open_overdue_and_graded(city_bureau, create_user, now):
    built = planned_review(city_bureau, create_user, now=now, due_on=date(2027, 2, 1))
    planned_review(city_bureau, create_user, now=now, on=built, due_on=date(2027, 6, 1))
    graded = started_review(city_bureau, create_user, now=now, on=built, due_on=date(2027, 1, 20))
    graded.review.status, graded.review.score, graded.review.grade = ReviewStatus.GRADED, Decimal("81.50"), "good"
    graded.review.graded_at = bj("2027-01-20")
    db.session.commit()
    summary = planning.plan_summary(built.contract, date(2027, 2, 10))
    assert (summary.total, summary.open, summary.overdue, summary.graded) == (3, 2, 1, 1)
    assert summary.latest.id == graded.review.id
    assert [r.due_on for r in summary.upcoming] == [date(2027, 2, 1), date(2027, 6, 1)]


# --- Fixes of issue 7's review: due-date limits, the rubric lock, the end of the contract --------------------------


@pytest.mark.parametrize(("values", "message"), [
    ({"due_on": date(2028, 1, 1)}, "cannot be due after the contract ends \\(2027-12-31\\)"),
    ({"kind": ReviewKind.FINAL, "due_on": date(2027, 12, 2), "period_end": date(2027, 12, 31)},
     "final review is due at least 1 month\\(s\\) before the contract ends: on 2027-12-01 at the latest"),
    ({"kind": ReviewKind.FINAL, "due_on": date(2027, 12, 31), "period_end": date(2027, 12, 31)},
     "on 2027-12-01 at the latest"),
])
def test_a_review_is_not_due_after_the_end_and_a_final_one_a_month_before_it(city_bureau, create_user, now, values,
                                                                             message):
    built = signed_contract(city_bureau, create_user, now=now)
    with pytest.raises(DomainError, match=message):
        add(built, **values)


def test_a_final_review_due_exactly_a_month_before_the_end_and_any_review_due_on_the_last_day(city_bureau,
                                                                                               create_user, now):
    built = signed_contract(city_bureau, create_user, now=now)
    final = add(built, kind=ReviewKind.FINAL, due_on=date(2027, 12, 1), period_end=date(2027, 12, 31))
    extra = add(built, due_on=date(2027, 12, 31))
    db.session.commit()
    assert (final.due_on, extra.due_on) == (date(2027, 12, 1), date(2027, 12, 31))
    with pytest.raises(DomainError, match="on 2027-12-01 at the latest"):
        planning.update_review(final, {"due_on": date(2027, 12, 15)}, actor=built.officers[0], now=bj("2026-12-01"))


def test_a_stale_review_cannot_change_the_rubric_of_a_review_started_meanwhile(city_bureau, create_user, now):
    """The rubric services lock the contract and read the review afresh, as start_review does: the review object
    in hand still says planned, but another officer started it."""
    built = planned_review(city_bureau, create_user, now=now)
    review = built.review
    before = rubrics.rows_of(review.indicators)
    assert review.status == ReviewStatus.PLANNED
    db.session.execute(sa.update(Review).where(Review.id == review.id).values(status=ReviewStatus.STARTED)
                       .execution_options(synchronize_session=False))
    assert review.status == ReviewStatus.PLANNED  # the object in hand is stale
    with pytest.raises(Conflict, match="cannot change once a review has started"):
        rubrics.update_rubric(review, GOOD_ROWS, actor=built.officers[0], now=now)
    db.session.rollback()
    db.session.execute(sa.update(Review).where(Review.id == review.id).values(status=ReviewStatus.STARTED)
                       .execution_options(synchronize_session=False))
    with pytest.raises(Conflict, match="cannot change once a review has started"):
        rubrics.copy_rubric(review, planning.default_template(), actor=built.officers[0], now=now)
    db.session.rollback()
    db.session.refresh(review)
    assert rubrics.rows_of(review.indicators) == before


def test_a_rubric_change_racing_the_start_never_changes_a_started_rubric(app, city_bureau, create_user, now):
    from portal.accounts.models import User
    from tests.support.concurrency import postgresql_only, run_concurrently

    postgresql_only()
    built = planned_review(city_bureau, create_user, now=now)
    add_reviewers(built, 1, now=now, create_user=create_user)
    review_id, officer_id = built.review.id, built.officers[0].id

    def start():
        planning.start_review(db.session.get(Review, review_id), actor=db.session.get(User, officer_id), now=now)

    def change():
        rubrics.update_rubric(db.session.get(Review, review_id), GOOD_ROWS, actor=db.session.get(User, officer_id),
                              now=now)

    outcomes = run_concurrently(app, [start, change])
    assert outcomes[0] == "ok" or outcomes[1] == "ok", outcomes
    assert all(o == "ok" or isinstance(o, Conflict) for o in outcomes), outcomes
    db.session.expire_all()
    started = audits("review.started")
    changed = audits("review.rubric_updated")
    assert len(started) == 1
    assert all(entry.seq < started[0].seq for entry in changed)  # a change, if any, came before the start


def test_ending_the_contract_cancels_its_open_reviews(city_bureau, create_user, now):
    from portal.contracts import delivery

    built = planned_review(city_bureau, create_user, now=now, due_on=date(2027, 2, 1))
    started = started_review(city_bureau, create_user, now=now, on=built, due_on=date(2027, 3, 1))
    graded = started_review(city_bureau, create_user, now=now, on=built, due_on=date(2027, 1, 20))
    graded.review.status, graded.review.score, graded.review.grade = ReviewStatus.GRADED, Decimal("81.50"), "good"
    graded.review.graded_at = bj("2027-01-20")
    db.session.commit()
    delivery.terminate(built.contract, grounds="供应商严重违约，经催告仍未改正，依约终止合同。",
                       cause=delivery.TerminationCause.BREACH, actor=built.officers[0], now=bj("2027-02-10"))
    db.session.commit()
    for review in (built.review, started.review):
        db.session.refresh(review)
        assert review.status == ReviewStatus.CANCELLED
        assert review.cancelled_reason == "合同于2027-02-10终止，评估取消"
    assert graded.review.status == ReviewStatus.GRADED
    assert len(audits("review.cancelled")) == 2
    # The plan counts nothing overdue once the reviews are cancelled.
    summary = planning.plan_summary(built.contract, date(2027, 3, 10))
    assert (summary.open, summary.overdue, summary.graded) == (0, 0, 1)


def test_review_writers_refuse_once_the_contract_has_ended(city_bureau, create_user, now):
    from portal.reviews import evidence, grading, scoring

    built = started_review(city_bureau, create_user, now=now, reviewers=1)
    planned = planned_review(city_bureau, create_user, now=now, on=built)
    add_reviewers(planned, 1, now=now, create_user=create_user)
    score_all(built.review, 70, now=now, submit=False)
    # Ended without going through terminate (e.g. before the receiver existed): the writers still refuse.
    built.contract.status = ContractStatus.TERMINATED
    db.session.commit()
    reviewer = built.reviewers[0]
    officer, ngo = built.officers[0], built.supplier
    expert = create_user("evaluator")
    attempts = [
        lambda: planning.add_review(built.contract, kind=ReviewKind.EXTRA, due_on=date(2027, 5, 1),
                                    period_start=date(2027, 1, 1), period_end=date(2027, 4, 30), actor=officer,
                                    now=now),
        lambda: planning.start_review(planned.review, actor=officer, now=now),
        lambda: scoring.assign_reviewer(planned.review, expert, kind="expert", actor=officer, now=now),
        lambda: scoring.save_sheet(reviewer, {}, actor=reviewer.user, now=now),
        lambda: scoring.submit_sheet(reviewer, actor=reviewer.user, now=now),
        lambda: grading.finalise(built.review, actor=officer, now=now),
        lambda: evidence.save_self_assessment(built.review, text="本期服务按计划推进，各项指标基本完成。" * 3,
                                              actor=ngo, now=now),
        lambda: evidence.add_survey(built.review, title="服务对象满意度调查", surveyed_on=date(2026, 11, 1),
                                    respondents=10, satisfied=9, actor=ngo, now=now),
    ]
    for attempt in attempts:
        with pytest.raises(DomainError, match="not in force|in force"):
            attempt()
        db.session.rollback()
