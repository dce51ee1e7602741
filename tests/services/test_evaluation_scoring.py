"""Scoring (综合评分法) through the services: worked examples with exact totals and ranking, ties, refused
points, who sees which sheet, deviations and re-checks, lawful changes, closing, and the confirmed report."""

from __future__ import annotations

import json
import subprocess
from datetime import timedelta
from decimal import Decimal
from fractions import Fraction

import pytest
import sqlalchemy as sa

from portal.accounts.models import OrgKind
from portal.audit import AuditEntry
from portal.errors import DomainError, NotAllowed
from portal.evaluation import results, rules, scoring
from portal.evaluation.models import (
    CommitteeMember,
    MemberKind,
    MemberStatus,
    Recheck,
    ScoreChange,
    TieBreak,
)
from portal.extensions import db
from portal.notify import Notification
from portal.pdf import GeneratedDocument
from portal.tenders.models import Method, TenderStatus
from tests.evaluation_builders import build_committee, submit_scores
from tests.evaluation_factories import make_opened_tender, make_pool, make_single_source, negotiate_to_final_quotes

# Points of five members for three bids on (服务方案 40, 项目团队 30, 同类经验 20); price weight 10.
A_POINTS = [(30, 20, 18), (31, 21, 18), (32, 21, 18), ("30.5", 22, 18), ("31.5", 21, 18)]  # mean 70
B_POINTS = [(35, 22, "18.5"), (36, 22, 18), (34, 23, 18), ("35.5", 22, 18), (35, "22.5", 18)]  # mean 75.5
C_POINTS = [(30, 20, 19), (31, 20, 19), (30, 21, 19), ("30.5", 20, 19), (31, "20.5", 19)]  # mean 69.8
B_TIED = [(33, 21, 18), (32, 22, 18), (34, 20, 18), (33, 21, 18), (33, 22, 17)]  # mean 72
C_TIED = [("29.99", "22.01", 18), (30, 20, 20), (31, 21, 18), (30, 22, 18), (32, 20, 18)]  # mean 70


pytestmark = pytest.mark.usefixtures("english_messages")


@pytest.fixture
def officers(create_user):
    return create_user("officer"), create_user("officer")


@pytest.fixture
def suppliers(create_user):
    return [create_user("supplier") for _ in range(3)]


@pytest.fixture
def experts(create_user):
    return make_pool(create_user, 7)


def _tender(city_bureau, officers, suppliers, prices, now, **values):
    return make_opened_tender(city_bureau, officers, suppliers, prices, now=now, **values)


@pytest.fixture
def opened(city_bureau, officers, suppliers, now):
    """A comprehensive tender with bids A 400000, B 450000, C 400000 (C equal to the lowest)."""
    return _tender(city_bureau, officers, suppliers, ["400000.00", "450000.00", "400000.00"], now)


@pytest.fixture
def committee(opened, experts, now):
    tender, _bids, opened_at = opened
    return build_committee(tender, experts[:5], now=opened_at + timedelta(hours=1))


def _points(tender, bid, member_points) -> dict:
    return {(bid.id, c.id): Decimal(str(p)) for c, p in zip(tender.criteria, member_points, strict=True)}


def _score_all(committee, bids, tables, now, members=None):
    tender = committee.tender
    seats = committee.sitting
    for member in members or seats:
        index = seats.index(member) if member in seats else 0  # a seat's points are its column of the tables
        points = {}
        for bid, table in zip(bids, tables, strict=True):
            points |= _points(tender, bid, table[index])
        submit_scores(committee, member, points, now)


def _audits(action):
    return list(db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.id)))


def _notified(user) -> list[str]:
    """The pages the user's notifications link to (their wording depends on the user's language)."""
    return list(db.session.scalars(sa.select(Notification.link).where(Notification.user_id == user.id)
                                   .order_by(Notification.id)))


def _close_and_confirm(committee, now, password_free=True):
    chair = committee.chair
    assert scoring.close_scoring(committee, actor=chair.user, now=now) == "closed"
    db.session.commit()
    document = None
    for member in committee.sitting:
        document = scoring.confirm_report(committee, member, actor=member.user, now=now) or document
        db.session.commit()
    return document


def chair_of(committee):
    return committee.chair.user


def _pdftotext(data: bytes, tmp_path) -> str:
    source = tmp_path / "report.pdf"
    source.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True,
                          text=True).stdout


# --- Worked examples --------------------------------------------------------------------------------------


def test_worked_example_exact_totals_full_price_weight_and_ranking(opened, committee, now):
    tender, (a, b, c), opened_at = opened
    _score_all(committee, (a, b, c), (A_POINTS, B_POINTS, C_POINTS), opened_at + timedelta(hours=2))
    outcome = results.results(committee)
    assert outcome.ranked
    rows = {row.bid_id: row for row in outcome.rows}
    assert [row.bid_id for row in outcome.rows] == [b.id, a.id, c.id]
    # Quality: the mean of the five members' totals; criterion means kept per criterion.
    assert rows[a.id].quality == Decimal(70) and rows[b.id].quality == Decimal("75.5")
    assert [rows[b.id].criterion_means[cr.id] for cr in tender.criteria] == [Decimal("35.1"), Decimal("22.3"),
                                                                            Decimal("18.1")]
    # The lowest price, and a bid equal to it, get the full price weight; B gets 400000/450000 x 10.
    assert rows[a.id].price_score == rows[c.id].price_score == Decimal(10)
    assert Fraction(rows[b.id].price_score) - Fraction(80, 9) < Fraction(1, 10 ** 37)
    # Totals with full precision, shown to two places.
    assert abs(Fraction(rows[b.id].total) - Fraction(1519, 18)) < Fraction(1, 10 ** 37)
    assert rows[b.id].total != rules.for_display(rows[b.id].total)
    assert [rules.for_display(rows[x.id].total) for x in (b, a, c)] == [Decimal("84.39"), Decimal("80.00"),
                                                                       Decimal("79.80")]
    assert rows[b.id].rank == 1 and rows[a.id].rank == 2 and rows[c.id].rank == 3


def test_tie_broken_by_price_then_an_exact_tie_decided_by_lot(city_bureau, officers, suppliers, experts, now):
    tender, (a, b, c), opened_at = _tender(city_bureau, officers, suppliers,
                                           ["400000.00", "500000.00", "400000.00"], now)
    committee = build_committee(tender, experts[:5], now=opened_at)
    later = opened_at + timedelta(hours=2)
    _score_all(committee, (a, b, c), (A_POINTS, B_TIED, C_TIED), later)
    outcome = results.results(committee)
    totals = {row.bid_id: row.total for row in outcome.rows}
    assert totals[a.id] == totals[b.id] == totals[c.id] == Decimal(80)  # B: 72 + 8; A and C: 70 + 10
    assert not outcome.ranked
    assert [(p.code, p.params["ids"]) for p in outcome.problems] == [("tie_undecided", sorted([a.id, c.id]))]
    # The chair cannot close: the bureau's officers are told to decide the tie.
    assert scoring.close_scoring(committee, actor=committee.chair.user, now=later) == "tie"
    db.session.commit()
    assert committee.scoring_closed_at is None
    tie_page = f"/tenders/{tender.id}/evaluation/tie"
    assert tie_page in _notified(officers[0]) and tie_page in _notified(officers[1])
    # Only the bureau's officers decide, only between bids that tie.
    with pytest.raises(NotAllowed):
        scoring.decide_tie(committee, order=None, note="", actor=committee.chair.user, now=later)
    with pytest.raises(DomainError, match="do not tie"):
        scoring.decide_tie(committee, order=[a.id, b.id], note="招标文件第三章", actor=officers[0], now=later)
    rows = scoring.decide_tie(committee, order=None, note="", actor=officers[0], now=later)
    db.session.commit()
    seed = rows[0].seed
    assert seed and all(r.seed == seed and r.round == 1 for r in rows)
    drawn = rules.draw_tie_order(sorted([a.id, c.id]), seed)  # reproducible from the recorded seed
    assert {r.bid_id: r.position for r in rows} == drawn
    first, second = sorted(drawn, key=drawn.get)
    outcome = results.results(committee)
    assert outcome.ranked and [row.bid_id for row in outcome.rows] == [first, second, b.id]  # B last: higher price
    assert json.loads(_audits("evaluation.tie_decided")[0].new_values)["seed"] == seed
    with pytest.raises(DomainError, match="do not tie"):  # already decided
        scoring.decide_tie(committee, order=None, note="", actor=officers[0], now=later)
    assert scoring.close_scoring(committee, actor=committee.chair.user, now=later) == "closed"


def test_tie_decided_by_the_documents_needs_a_note(city_bureau, officers, suppliers, experts, create_org,
                                                   create_user, now):
    tender, (a, b, c), opened_at = _tender(city_bureau, officers, suppliers,
                                           ["400000.00", "500000.00", "400000.00"], now)
    committee = build_committee(tender, experts[:5], now=opened_at)
    _score_all(committee, (a, b, c), (A_POINTS, B_TIED, C_TIED), opened_at)
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    with pytest.raises(NotAllowed):
        scoring.decide_tie(committee, order=[c.id, a.id], note="x", now=now,
                           actor=create_user("officer", organisation_id=district.id))
    with pytest.raises(DomainError, match="rule of the tender documents"):
        scoring.decide_tie(committee, order=[c.id, a.id], note=" ", actor=officers[0], now=now)
    with pytest.raises(DomainError, match="own place"):
        scoring.decide_tie(committee, order=[c.id, c.id], note="x", actor=officers[0], now=now)
    scoring.decide_tie(committee, order=[c.id, a.id], note="招标文件规定：服务方案得分高者优先", actor=officers[0],
                       now=now)
    db.session.commit()
    assert [row.bid_id for row in results.results(committee).rows] == [c.id, a.id, b.id]
    assert {t.seed for t in db.session.scalars(sa.select(TieBreak))} == {""}


# --- Entering points ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("points", "message"), [
    ("40.01", "must be from 0 to 40"), ("-1", "must be from 0 to 40"), ("12.345", "at most 2 decimal places"),
    ("NaN", "not a number"),
])
def test_bad_points_are_refused_naming_bid_and_criterion(opened, committee, points, message, now):
    tender, (a, _b, _c), _at = opened
    member = committee.sitting[1]
    plan = tender.criteria[0]
    with pytest.raises(DomainError, match=message) as refused:
        scoring.save_scores(committee, member, {(a.id, plan.id): Decimal(points)}, {}, actor=member.user, now=now)
    assert a.supplier.name in str(refused.value) and plan.name in str(refused.value)


def test_draft_is_partial_then_submission_needs_every_score(opened, committee, now):
    tender, (a, b, c), _at = opened
    member = committee.sitting[1]
    plan, team, experience = tender.criteria
    scoring.save_scores(committee, member, {(a.id, plan.id): Decimal("30.5")}, {(a.id, plan.id): "方案完整"},
                        actor=member.user, now=now)
    db.session.commit()
    sheet = scoring.sheet_for(committee, member)
    assert [(s.bid_id, s.points, s.comment) for s in sheet.scores] == [(a.id, Decimal("30.50"), "方案完整")]
    with pytest.raises(DomainError, match="missing") as refused:
        scoring.submit_sheet(committee, member, actor=member.user, now=now)
    assert b.supplier.name in str(refused.value) and team.name in str(refused.value)
    assert sheet.submitted_at is None
    # A comment needs points; a blank clears a draft point; other tenders' bids and criteria are refused.
    with pytest.raises(DomainError, match="before commenting"):
        scoring.save_scores(committee, member, {}, {(b.id, team.id): "很好"}, actor=member.user, now=now)
    with pytest.raises(DomainError, match="qualified bids"):
        scoring.save_scores(committee, member, {(a.id, 999999): Decimal(1)}, {}, actor=member.user, now=now)
    scoring.save_scores(committee, member, {(a.id, plan.id): None}, {}, actor=member.user, now=now)
    db.session.commit()
    assert scoring.sheet_for(committee, member).scores == []
    everything = {(bid.id, cr.id): Decimal(cr.weight) for bid in (a, b, c) for cr in (plan, team, experience)}
    scoring.save_scores(committee, member, everything, {}, actor=member.user, now=now)
    scoring.submit_sheet(committee, member, actor=member.user, now=now)
    db.session.commit()
    assert sheet.submitted_at is not None
    points = json.loads(_audits("score_sheet.submitted")[0].new_values)["points"]
    assert points[f"{a.id}/{plan.id}"] == "40.00" and len(points) == 9
    with pytest.raises(DomainError, match="submitted"):
        scoring.save_scores(committee, member, {(a.id, plan.id): Decimal(1)}, {}, actor=member.user, now=now)
    with pytest.raises(DomainError, match="already been submitted"):
        scoring.submit_sheet(committee, member, actor=member.user, now=now)


def test_only_the_member_scores_their_own_sheet_while_scoring_is_open(opened, committee, experts, now):
    tender, (a, _b, _c), _at = opened
    member, other = committee.sitting[1], committee.sitting[2]
    key = (a.id, tender.criteria[0].id)
    with pytest.raises(NotAllowed):
        scoring.save_scores(committee, member, {key: Decimal(1)}, {}, actor=other.user, now=now)
    with pytest.raises(NotAllowed):
        scoring.save_scores(committee, member, {key: Decimal(1)}, {}, actor=experts[6], now=now)
    committee.qualification_closed_at = None
    with pytest.raises(DomainError, match="qualification"):
        scoring.save_scores(committee, member, {key: Decimal(1)}, {}, actor=member.user, now=now)
    committee.qualification_closed_at = now
    member.status = MemberStatus.DRAWN
    with pytest.raises(NotAllowed, match="declared no conflict"):
        scoring.save_scores(committee, member, {key: Decimal(1)}, {}, actor=member.user, now=now)


# --- Who sees what --------------------------------------------------------------------------------------------


def test_a_member_sees_others_sheets_only_after_submitting_their_own(opened, committee, officers, suppliers,
                                                                    create_org, create_user, city_bureau, now):
    tender, bids, _at = opened
    first, second = committee.sitting[0], committee.sitting[1]
    _score_all(committee, bids, (A_POINTS, B_POINTS, C_POINTS), now, members=[first])
    first_sheet = scoring.sheet_for(committee, first)
    second_sheet = scoring.sheet_for(committee, second)
    db.session.commit()
    # The second member has not submitted: only their own (empty) sheet.
    assert not scoring.can_see_sheet(committee, second.user, first_sheet)
    assert scoring.can_see_sheet(committee, second.user, second_sheet)
    assert scoring.visible_sheets(committee, second.user) == [second_sheet]
    # The first has submitted, but the second's draft is still private.
    assert scoring.visible_sheets(committee, first.user) == [first_sheet]
    # Suppliers and overseers see nothing before the scoring is closed; another bureau's officer never.
    district = create_org(OrgKind.BUREAU, name="金水区民政局", level="district", parent_id=city_bureau.id)
    outsider = create_user("officer", organisation_id=district.id)
    for user in (suppliers[0], officers[0], outsider):
        assert not scoring.can_see_sheet(committee, user, first_sheet)
        assert scoring.visible_sheets(committee, user) == []
    _score_all(committee, bids, (A_POINTS, B_POINTS, C_POINTS), now, members=[second])
    assert scoring.can_see_sheet(committee, second.user, first_sheet)
    assert [s.member_id for s in scoring.visible_sheets(committee, first.user)] == [first.id, second.id]
    _score_all(committee, bids, (A_POINTS, B_POINTS, C_POINTS), now, members=committee.sitting[2:])
    assert scoring.close_scoring(committee, actor=first.user, now=now) == "closed"
    assert len(scoring.visible_sheets(committee, officers[0])) == 5
    assert scoring.visible_sheets(committee, suppliers[0]) == []
    assert scoring.visible_sheets(committee, outsider) == []


def test_deviations_from_the_median_for_the_chair(opened, committee, now):
    tender, (a, b, c), _at = opened
    _score_all(committee, (a, b, c), (A_POINTS, B_POINTS, C_POINTS), now)
    chair, member = committee.sitting[0], committee.sitting[1]
    assert scoring.can_see_deviations(committee, chair.user)
    assert not scoring.can_see_deviations(committee, member.user)
    plan = tender.criteria[0]
    row = scoring.deviations(committee)[plan.id][a.id]
    assert row["median"] == Decimal("31")  # 30, 31, 32, 30.5, 31.5
    assert [row["deviations"][m.id] for m in committee.sitting] == [Decimal(-1), 0, 1, Decimal("-0.5"),
                                                                    Decimal("0.5")]


def test_chair_sees_deviations_only_once_their_own_sheet_is_submitted(opened, committee, now):
    _tender, bids, _at = opened
    chair = committee.sitting[0]
    assert not scoring.can_see_deviations(committee, chair.user)
    _score_all(committee, bids, (A_POINTS, B_POINTS, C_POINTS), now, members=[chair])
    assert scoring.can_see_deviations(committee, chair.user)


# --- Re-checks and lawful changes ------------------------------------------------------------------------------


def test_recheck_requested_by_the_chair_kept_or_changed(opened, committee, now):
    tender, (a, b, c), _at = opened
    chair, member = committee.sitting[0], committee.sitting[2]
    _score_all(committee, (a, b, c), (A_POINTS, B_POINTS, C_POINTS), now, members=[chair])
    plan = tender.criteria[0]
    with pytest.raises(DomainError, match="submitted sheet"):
        scoring.request_recheck(committee, member, a.id, plan.id, "请复核", actor=chair.user, now=now)
    _score_all(committee, (a, b, c), (A_POINTS, B_POINTS, C_POINTS), now, members=committee.sitting[1:])
    with pytest.raises(NotAllowed):
        scoring.request_recheck(committee, member, a.id, plan.id, "请复核", actor=member.user, now=now)
    with pytest.raises(DomainError, match="Say what"):
        scoring.request_recheck(committee, member, a.id, plan.id, " ", actor=chair.user, now=now)
    recheck = scoring.request_recheck(committee, member, a.id, plan.id, "偏离中位数较大，请复核", actor=chair.user,
                                      now=now)
    db.session.commit()
    assert _notified(member.user) == [f"/tenders/{tender.id}/evaluation/sheet"]
    with pytest.raises(DomainError, match="already open"):
        scoring.request_recheck(committee, member, a.id, plan.id, "再次", actor=chair.user, now=now)
    # The chair cannot close while it is open.
    with pytest.raises(DomainError, match="re-check"):
        scoring.close_scoring(committee, actor=chair.user, now=now)
    with pytest.raises(NotAllowed):
        scoring.resolve_recheck(recheck, keep=True, actor=chair.user, now=now)
    with pytest.raises(DomainError, match="lawful reasons"):
        scoring.resolve_recheck(recheck, keep=False, new_points=Decimal(31), reason="changed_my_mind", note="x",
                                actor=member.user, now=now)
    db.session.rollback()
    scoring.resolve_recheck(recheck, keep=False, new_points=Decimal(33), reason=rules.ChangeReason.ABNORMAL_SCORE,
                            note="经复核，评分偏高", actor=member.user, now=now)
    db.session.commit()
    recheck = db.session.get(Recheck, recheck.id)
    assert recheck.resolution == "changed" and recheck.resolved_at is not None
    assert db.session.scalar(sa.select(ScoreChange.new_points)) == Decimal(33)
    other = scoring.request_recheck(committee, member, b.id, plan.id, "请复核", actor=chair.user, now=now)
    scoring.resolve_recheck(other, keep=True, note="评分有据", actor=member.user, now=now)
    db.session.commit()
    assert other.resolution == "kept"
    with pytest.raises(DomainError, match="already been answered"):
        scoring.resolve_recheck(other, keep=True, actor=member.user, now=now)
    assert scoring.close_scoring(committee, actor=chair.user, now=now) == "closed"


@pytest.mark.parametrize("reason", list(rules.ChangeReason))
def test_lawful_change_accepted_and_audited(opened, committee, reason, now):
    tender, bids, _at = opened
    _score_all(committee, bids, (A_POINTS, B_POINTS, C_POINTS), now)
    member = committee.sitting[3]
    score = scoring.sheet_for(committee, member).scores[0]
    if reason in scoring.COMMITTEE_FINDINGS:  # changed only on the committee's finding: the chair's re-check
        scoring.request_recheck(committee, member, score.bid_id, score.criterion_id, "请复核",
                                actor=chair_of(committee), now=now)
    change = scoring.change_score(score, Decimal("29.75"), reason=reason, note="复核后更正", actor=member.user,
                                  now=now)
    db.session.commit()
    assert score.points == Decimal("29.75") and change.old_points == Decimal("30.50") and change.reason == reason
    entry = _audits("score.changed")[0]
    assert json.loads(entry.old_values) == {"points": "30.50"}
    new = json.loads(entry.new_values)
    assert new["points"] == "29.75" and new["reason"] == reason and new["note"] == "复核后更正"
    assert new["article"] == rules.LAWFUL_CHANGE_REASONS[reason]


def test_change_refused_for_other_reasons_drafts_other_members_and_bad_points(opened, committee, now):
    tender, (a, b, c), _at = opened
    member, other = committee.sitting[1], committee.sitting[2]
    plan = tender.criteria[0]
    scoring.save_scores(committee, member, {(a.id, plan.id): Decimal(30)}, {}, actor=member.user, now=now)
    db.session.commit()
    draft = scoring.sheet_for(committee, member).scores[0]
    with pytest.raises(DomainError, match="not been submitted"):
        scoring.change_score(draft, Decimal(31), reason=rules.ChangeReason.ADDITION_ERROR, note="x",
                             actor=member.user, now=now)
    _score_all(committee, (a, b, c), (A_POINTS, B_POINTS, C_POINTS), now, members=[other])
    score = scoring.sheet_for(committee, other).scores[0]
    for reason in ("changed_my_mind", "", None, "ABNORMAL_SCORE"):
        with pytest.raises(DomainError, match="lawful reasons"):
            scoring.change_score(score, Decimal(31), reason=reason, note="x", actor=other.user, now=now)
    with pytest.raises(NotAllowed):
        scoring.change_score(score, Decimal(31), reason=rules.ChangeReason.ADDITION_ERROR, note="x",
                             actor=member.user, now=now)
    with pytest.raises(DomainError, match="Explain"):
        scoring.change_score(score, Decimal(31), reason=rules.ChangeReason.ADDITION_ERROR, note=" ",
                             actor=other.user, now=now)
    with pytest.raises(DomainError, match="from 0 to 40"):
        scoring.change_score(score, Decimal(41), reason=rules.ChangeReason.OUT_OF_RANGE, note="x",
                             actor=other.user, now=now)
    with pytest.raises(DomainError, match="same"):
        scoring.change_score(score, score.points, reason=rules.ChangeReason.OUT_OF_RANGE, note="x",
                             actor=other.user, now=now)
    db.session.rollback()
    assert db.session.scalar(sa.select(sa.func.count(ScoreChange.id))) == 0
    assert _audits("score.changed") == []


# --- Closing and the report ----------------------------------------------------------------------------------


def test_close_scoring_refusals(opened, committee, experts, now):
    tender, bids, _at = opened
    chair = committee.sitting[0]
    with pytest.raises(DomainError, match="not submitted"):
        scoring.close_scoring(committee, actor=chair.user, now=now)
    _score_all(committee, bids, (A_POINTS, B_POINTS, C_POINTS), now)
    with pytest.raises(NotAllowed):
        scoring.close_scoring(committee, actor=committee.sitting[1].user, now=now)
    # A member drawn to replace another has not declared yet.
    drawn = CommitteeMember(committee_id=committee.id, user_id=experts[6].id, kind=MemberKind.EXPERT,
                            status=MemberStatus.DRAWN, position=6)
    db.session.add(drawn)
    db.session.commit()
    db.session.refresh(committee)
    with pytest.raises(DomainError, match="declaration of no conflict"):
        scoring.close_scoring(committee, actor=chair.user, now=now)
    db.session.delete(drawn)
    committee.chair_id = None
    db.session.commit()
    db.session.refresh(committee)
    with pytest.raises(DomainError, match="no chair"):
        scoring.close_scoring(committee, actor=chair.user, now=now)
    committee.chair_id = chair.id
    db.session.commit()
    with pytest.raises(DomainError, match="no report to confirm"):
        scoring.confirm_report(committee, chair, actor=chair.user, now=now)
    assert scoring.close_scoring(committee, actor=chair.user, now=now) == "closed"
    db.session.commit()
    assert committee.scoring_closed_at == now
    assert all(f"/tenders/{tender.id}/evaluation/report" in _notified(m.user) for m in committee.sitting)
    with pytest.raises(DomainError, match="already been closed"):
        scoring.close_scoring(committee, actor=chair.user, now=now)
    # Nothing more is typed on a sheet once closed.
    member = committee.sitting[1]
    with pytest.raises(DomainError, match="closed"):
        scoring.save_scores(committee, member, {}, {}, actor=member.user, now=now)


def test_report_confirmed_by_every_member_issues_the_pdf_once(opened, committee, officers, now, tmp_path):
    tender, (a, b, c), _at = opened
    _score_all(committee, (a, b, c), (A_POINTS, B_POINTS, C_POINTS), now)
    chair = committee.sitting[0]
    assert scoring.close_scoring(committee, actor=chair.user, now=now) == "closed"
    db.session.commit()
    members = committee.sitting
    with pytest.raises(NotAllowed):
        scoring.confirm_report(committee, members[1], actor=members[2].user, now=now)
    for member in members[:-1]:
        assert scoring.confirm_report(committee, member, actor=member.user, now=now) is None
        db.session.commit()
    with pytest.raises(DomainError, match="already confirmed"):
        scoring.confirm_report(committee, members[0], actor=members[0].user, now=now)
    assert committee.report_document_id is None
    later = now + timedelta(hours=1)
    document = scoring.confirm_report(committee, members[-1], actor=members[-1].user, now=later)
    db.session.commit()
    assert document is not None and document.number.startswith("PB-2026-")
    assert committee.report_document_id == document.id and committee.report_completed_at == later
    assert db.session.scalar(sa.select(sa.func.count(GeneratedDocument.id)).where(
        GeneratedDocument.key == f"evaluation-report:{committee.id}:1")) == 1
    text = _pdftotext(document.file.read_bytes(), tmp_path)
    assert "评标报告" in text and tender.reference in text
    for member in members:
        assert member.user.name in text
    for name in (a.supplier.name, b.supplier.name, c.supplier.name):
        assert name in text
    for total in ("84.39", "80.00", "79.80", "8.89"):
        assert total in text
    # The officers are told the report is in, with the last day of the 5-working-day award period.
    bodies = list(db.session.scalars(sa.select(Notification.body).where(Notification.user_id == officers[0].id)))
    assert len(bodies) == 1 and "2026-12-07" in bodies[0]  # Monday 30 November + 5 working days
    # Scores are frozen now.
    score = scoring.sheet_for(committee, members[1]).scores[0]
    with pytest.raises(DomainError, match="frozen"):
        scoring.change_score(score, Decimal(1), reason=rules.ChangeReason.ADDITION_ERROR, note="x",
                             actor=members[1].user, now=later)


def test_a_member_signs_the_report_with_a_dissent(opened, committee, now, tmp_path):
    tender, bids, _at = opened
    _score_all(committee, bids, (A_POINTS, B_POINTS, C_POINTS), now)
    members = committee.sitting
    assert scoring.close_scoring(committee, actor=members[0].user, now=now) == "closed"
    dissent = "本人认为第二名的服务方案更具针对性，对排序持保留意见。"
    scoring.confirm_report(committee, members[1], actor=members[1].user, now=now, dissent=f"  {dissent}  ")
    assert members[1].report_dissent == dissent
    entry = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "evaluation_report.confirmed")).one()
    assert dissent in entry.new_values
    for member in members[2:] + members[:1]:
        document = scoring.confirm_report(committee, member, actor=member.user, now=now)
    db.session.commit()
    text = _pdftotext(document.file.read_bytes(), tmp_path)
    assert "不同意见" in text and members[1].user.name in text and "保留意见" in text


def test_change_after_closing_clears_confirmations(opened, committee, now):
    tender, bids, _at = opened
    _score_all(committee, bids, (A_POINTS, B_POINTS, C_POINTS), now)
    chair, member = committee.sitting[0], committee.sitting[1]
    scoring.close_scoring(committee, actor=chair.user, now=now)
    scoring.confirm_report(committee, chair, actor=chair.user, now=now)
    db.session.commit()
    assert chair.report_confirmed_at is not None
    score = scoring.sheet_for(committee, member).scores[0]
    # After the closing the chair can still ask for a re-check, the committee's finding that 87-64 needs.
    scoring.request_recheck(committee, member, score.bid_id, score.criterion_id, "客观分不一致，请复核",
                            actor=chair.user, now=now)
    scoring.change_score(score, Decimal("30.5"), reason=rules.ChangeReason.OBJECTIVE_INCONSISTENT, note="客观分统一",
                         actor=member.user, now=now)
    db.session.commit()
    assert chair.report_confirmed_at is None and committee.scoring_closed_at is not None
    assert _notified(chair.user)[-1] == f"/tenders/{tender.id}/evaluation/report"
    assert len(_notified(chair.user)) == 3  # every sheet in; confirm the report; confirm it again
    assert _audits("evaluation_report.confirmations_cleared")


def test_change_after_closing_that_makes_a_tie_reopens_the_scoring(city_bureau, officers, suppliers, experts, now):
    tender, (a, b, c), opened_at = _tender(city_bureau, officers, suppliers,
                                           ["400000.00", "500000.00", "400000.00"], now)
    committee = build_committee(tender, experts[:5], now=opened_at)
    c_almost = [list(row) for row in C_TIED]
    c_almost[1][2] = "19.5"  # C is half a point (0.1 on the mean) below A
    _score_all(committee, (a, b, c), (A_POINTS, B_TIED, c_almost), now)
    chair, member = committee.sitting[0], committee.sitting[1]
    assert scoring.close_scoring(committee, actor=chair.user, now=now) == "closed"
    score = next(s for s in scoring.sheet_for(committee, member).scores
                 if s.bid_id == c.id and s.criterion_id == tender.criteria[2].id)
    scoring.change_score(score, Decimal(20), reason=rules.ChangeReason.ADDITION_ERROR, note="漏加半分",
                         actor=member.user, now=now)
    db.session.commit()
    assert committee.scoring_closed_at is None
    assert scoring.undecided_ties(committee) == [sorted([a.id, c.id])]


def test_a_replaced_members_sheet_is_not_counted(opened, committee, experts, now):
    tender, (a, b, c), _at = opened
    wild = [(0, 0, 0)] * 5
    replaced = committee.sitting[4]
    _score_all(committee, (a, b, c), (wild, [(40, 30, 20)] * 5, wild), now, members=[replaced])
    replaced.status, replaced.replaced_reason = MemberStatus.REPLACED, "声明与投标人存在利害关系"
    newcomer = CommitteeMember(committee_id=committee.id, user_id=experts[5].id, kind=MemberKind.EXPERT,
                               status=MemberStatus.ACTIVE, position=6, replacement_of_id=replaced.id)
    db.session.add(newcomer)
    db.session.commit()
    db.session.refresh(committee)
    # The newcomer sits in the fifth seat: their points are the fifth column of the tables.
    _score_all(committee, (a, b, c), (A_POINTS, B_POINTS, C_POINTS), now)
    rows = {row.bid_id: row for row in results.results(committee).rows}
    assert rows[a.id].quality == Decimal(70) and rows[b.id].quality == Decimal("75.5")
    assert scoring.sheet_for(committee, replaced).submitted_at is not None
    assert replaced.id not in results.submitted_sheets(committee)[a.id]
    with pytest.raises(NotAllowed):
        scoring.change_score(scoring.sheet_for(committee, replaced).scores[0], Decimal(1),
                             reason=rules.ChangeReason.ADDITION_ERROR, note="x", actor=replaced.user, now=now)
    assert scoring.close_scoring(committee, actor=committee.chair.user, now=now) == "closed"
    context = scoring.report_context(committee)
    headings = [s["heading"] for s in context["sections"]]
    assert not any(replaced.user.name in h for h in headings)
    assert any(newcomer.user.name in h for h in headings)
    members = next(s for s in context["sections"] if s["heading"] == "评标委员会成员")
    assert any("已更换" in row[4] and row[1] == replaced.user.name for row in members["rows"])


def test_negotiation_ranks_by_final_quote_and_the_report_says_so(city_bureau, officers, suppliers, experts, now,
                                                                 tmp_path):
    tender, bids, opened_at = _tender(city_bureau, officers, suppliers, ["480000", "470000", "490000"], now,
                                      method=Method.NEGOTIATION)
    at = negotiate_to_final_quotes(tender, officers, suppliers, ["455000.00", "461000.00", "449999.99"],
                                   at=opened_at)
    committee = build_committee(tender, experts[:3], now=at)
    member = committee.sitting[1]
    with pytest.raises(DomainError, match="decided by price"):
        scoring.save_scores(committee, member, {}, {}, actor=member.user, now=at)
    assert scoring.close_scoring(committee, actor=committee.chair.user, now=at) == "closed"
    db.session.commit()
    outcome = results.results(committee)
    assert [row.supplier_id for row in outcome.rows] == [s.organisation_id for s in (suppliers[2], suppliers[0],
                                                                                     suppliers[1])]
    document = None
    for seat in committee.sitting:
        document = scoring.confirm_report(committee, seat, actor=seat.user, now=at) or document
    db.session.commit()
    text = _pdftotext(document.file.read_bytes(), tmp_path)
    assert "谈判报告" in text and "最后报价" in text and "449,999.99" in text


def test_negotiation_cannot_close_before_final_quotes(city_bureau, officers, suppliers, experts, now):
    tender, bids, opened_at = _tender(city_bureau, officers, suppliers, ["480000", "470000", "490000"], now,
                                      method=Method.NEGOTIATION)
    committee = build_committee(tender, experts[:3], now=opened_at)
    tender.status = TenderStatus.NEGOTIATING
    db.session.commit()
    with pytest.raises(DomainError, match="final quotes"):
        scoring.close_scoring(committee, actor=committee.chair.user, now=now)


def test_single_source_report_with_the_agreed_price_and_negotiators(city_bureau, suppliers, experts, now, tmp_path):
    tender = make_single_source(city_bureau, suppliers[0].organisation, now=now)
    committee = build_committee(tender, experts[:3], now=now)
    committee.qualification_closed_at = None
    db.session.commit()
    assert tender.status == TenderStatus.NEGOTIATING
    document = _close_and_confirm(committee, now)
    assert committee.report_completed_at == now
    text = _pdftotext(document.file.read_bytes(), tmp_path)
    assert "单一来源谈判记录" in text and "180,000.00" in text and "壹拾捌万元整" in text
    assert suppliers[0].organisation.name in text
    for member in committee.sitting:
        assert member.user.name in text


def test_single_source_without_agreed_price_cannot_close(city_bureau, suppliers, experts, now):
    tender = make_single_source(city_bureau, suppliers[0].organisation, now=now)
    tender.agreed_price = None
    committee = build_committee(tender, experts[:3], now=now)
    with pytest.raises(DomainError, match="agreed price"):
        scoring.close_scoring(committee, actor=committee.chair.user, now=now)


# --- Review fixes ----------------------------------------------------------------------------------------------


def test_no_report_is_confirmed_on_an_incomplete_scoring(opened, committee, now):
    tender, bids, _at = opened
    _score_all(committee, bids, (A_POINTS, B_POINTS, C_POINTS), now, members=committee.sitting[:4])
    committee.scoring_closed_at = now  # as if closed while the last sheet was missing
    db.session.commit()
    member = committee.sitting[0]
    with pytest.raises(DomainError, match="complete score sheet"):
        scoring.confirm_report(committee, member, actor=member.user, now=now)
    db.session.rollback()
    assert member.report_confirmed_at is None and committee.report_completed_at is None


def test_committee_findings_need_the_chairs_recheck_own_corrections_do_not(opened, committee, now):
    tender, bids, _at = opened
    _score_all(committee, bids, (A_POINTS, B_POINTS, C_POINTS), now)
    chair, member = committee.chair, committee.sitting[2]
    score = scoring.sheet_for(committee, member).scores[0]
    for reason in scoring.COMMITTEE_FINDINGS:
        with pytest.raises(DomainError, match="re-check this score"):
            scoring.change_score(score, Decimal(29), reason=reason, note="评分偏高", actor=member.user, now=now)
    # An addition error or a score outside its range: the member alone.
    scoring.change_score(score, Decimal(29), reason=rules.ChangeReason.ADDITION_ERROR, note="汇总错误",
                         actor=member.user, now=now)
    db.session.commit()
    other = scoring.sheet_for(committee, member).scores[1]
    with pytest.raises(DomainError, match="re-check this score"):  # a re-check of another score does not count
        scoring.request_recheck(committee, member, score.bid_id, score.criterion_id, "偏离中位数", actor=chair.user,
                                now=now)
        scoring.change_score(other, Decimal(19), reason=rules.ChangeReason.ABNORMAL_SCORE, note="评分畸高",
                             actor=member.user, now=now)
    db.session.rollback()
    recheck = scoring.request_recheck(committee, member, other.bid_id, other.criterion_id, "偏离中位数较大",
                                      actor=chair.user, now=now)
    scoring.resolve_recheck(recheck, keep=False, new_points=Decimal(19), reason=rules.ChangeReason.ABNORMAL_SCORE,
                            note="经委员会认定评分畸高", actor=member.user, now=now)
    db.session.commit()
    assert other.points == Decimal(19) and recheck.resolution == "changed"
    assert [c.reason for c in db.session.scalars(sa.select(ScoreChange).order_by(ScoreChange.id))] == [
        rules.ChangeReason.ADDITION_ERROR, rules.ChangeReason.ABNORMAL_SCORE]


def test_a_recheck_after_the_closing_holds_the_report_and_none_is_answered_once_frozen(opened, committee, now):
    tender, bids, _at = opened
    _score_all(committee, bids, (A_POINTS, B_POINTS, C_POINTS), now)
    chair, member = committee.chair, committee.sitting[1]
    assert scoring.close_scoring(committee, actor=chair.user, now=now) == "closed"
    score = scoring.sheet_for(committee, member).scores[0]
    recheck = scoring.request_recheck(committee, member, score.bid_id, score.criterion_id, "请复核", actor=chair.user,
                                      now=now)
    db.session.commit()
    with pytest.raises(DomainError, match="re-check"):
        scoring.confirm_report(committee, chair, actor=chair.user, now=now)
    db.session.rollback()
    scoring.resolve_recheck(recheck, keep=True, note="评分有据", actor=member.user, now=now)
    late = scoring.request_recheck(committee, member, bids[1].id, score.criterion_id, "请复核", actor=chair.user,
                                   now=now)
    db.session.commit()
    late.resolved_at, late.resolution = now, "kept"  # answered, so that the report can be completed
    db.session.commit()
    _close_and_confirm_all(committee, now)
    assert committee.report_completed_at is not None
    late.resolved_at, late.resolution = None, ""  # an open re-check left over: it can no longer be answered
    db.session.commit()
    with pytest.raises(DomainError, match="frozen"):
        scoring.resolve_recheck(late, keep=True, actor=member.user, now=now)


def _close_and_confirm_all(committee, now):
    for member in committee.sitting:
        if member.report_confirmed_at is None:
            scoring.confirm_report(committee, member, actor=member.user, now=now)
    db.session.commit()


def test_a_re_evaluation_keeps_a_tie_already_drawn_between_the_same_bids(city_bureau, officers, suppliers, experts,
                                                                        now, tmp_path):
    from portal.evaluation import award
    from portal.evaluation.models import Remedy

    tender, (a, b, c), opened_at = _tender(city_bureau, officers, suppliers,
                                           ["400000.00", "500000.00", "400000.00"], now)
    committee = build_committee(tender, experts[:5], now=opened_at)
    later = opened_at + timedelta(hours=2)
    _score_all(committee, (a, b, c), (A_POINTS, B_TIED, C_TIED), later)
    assert scoring.close_scoring(committee, actor=committee.chair.user, now=later) == "tie"
    drawn = {r.bid_id: r.position for r in scoring.decide_tie(committee, order=None, note="", actor=officers[0],
                                                               now=later)}
    db.session.commit()
    order = [row.bid_id for row in results.results(committee).rows]
    _close_and_confirm(committee, later)
    won = award.confirm_award(tender, actor=officers[0], now=later + timedelta(days=1))
    db.session.commit()
    loser = next(s for s in suppliers if s.organisation_id != won.supplier_id)
    filed = award.file_challenge(tender, grounds="评审委员会对我单位服务方案的评分明显畸低，与评分标准不符。",
                                 evidence=None, actor=loser, now=later + timedelta(days=2))
    award.answer_challenge(filed, upheld=True, remedy=Remedy.REEVALUATE, answer="质疑成立，由原评标委员会重新评审。",
                           actor=officers[0], now=later + timedelta(days=3))
    db.session.commit()
    assert committee.round == 2 and tender.status == TenderStatus.EVALUATING
    # The same bids still tie: the lot drawn in round 1 stands; nobody draws it again.
    outcome = results.results(committee)
    assert outcome.ranked and [row.bid_id for row in outcome.rows] == order
    assert scoring.undecided_ties(committee) == []
    with pytest.raises(DomainError, match="do not tie"):
        scoring.decide_tie(committee, order=None, note="", actor=officers[0], now=later + timedelta(days=3))
    db.session.rollback()
    document = _close_and_confirm(committee, later + timedelta(days=3))
    assert db.session.scalar(sa.select(sa.func.count(TieBreak.id))) == 2  # nothing new recorded
    ties = next(s for s in scoring.report_context(committee)["sections"] if s["heading"] == "并列名次的决定")
    assert all("第 1 次评审时决定，沿用" in row[2] and drawn[bid] == int(row[1])
               for row, bid in zip(ties["rows"], sorted(drawn, key=drawn.get), strict=True))
    assert "沿用" in _pdftotext(document.file.read_bytes(), tmp_path)


def test_a_tie_between_other_bids_needs_its_own_decision(city_bureau, officers, suppliers, experts, now):
    tender, (a, b, c), opened_at = _tender(city_bureau, officers, suppliers,
                                           ["400000.00", "500000.00", "400000.00"], now)
    committee = build_committee(tender, experts[:5], now=opened_at)
    _score_all(committee, (a, b, c), (A_POINTS, B_TIED, C_TIED), opened_at)
    scoring.decide_tie(committee, order=[c.id, a.id], note="招标文件规定：服务方案得分高者优先", actor=officers[0],
                       now=opened_at)
    # A decision recorded for A and B, as if of an earlier tie, says nothing about A and C.
    db.session.query(TieBreak).delete()
    db.session.add_all([TieBreak(committee_id=committee.id, round=1, bid_id=bid_id, position=position, note="x",
                                 decided_by_id=officers[0].id, decided_at=opened_at)
                        for bid_id, position in ((a.id, 1), (b.id, 2))])
    db.session.commit()
    assert scoring.undecided_ties(committee) == [sorted([a.id, c.id])]


def test_single_source_is_evaluated_and_awarded_again_after_an_upheld_challenge(city_bureau, officers, suppliers,
                                                                                experts, now):
    from portal.evaluation import award
    from portal.evaluation.models import AwardStatus, Remedy

    tender = make_single_source(city_bureau, suppliers[0].organisation, now=now)
    committee = build_committee(tender, experts[:3], now=now)
    committee.qualification_closed_at = None
    db.session.commit()
    _close_and_confirm(committee, now)
    first = award.confirm_award(tender, actor=officers[0], now=now + timedelta(days=1))
    db.session.commit()
    filed = award.file_challenge(tender, grounds="成交价格的确定程序不符合单一来源采购的规定，请求重新协商。",
                                 evidence=None, actor=suppliers[0], now=now + timedelta(days=2))
    award.answer_challenge(filed, upheld=True, remedy=Remedy.REEVALUATE, answer="质疑成立，由协商小组重新评审。",
                           actor=officers[0], now=now + timedelta(days=3))
    db.session.commit()
    assert first.status == AwardStatus.ANNULLED and tender.status == TenderStatus.EVALUATING
    assert committee.round == 2 and committee.scoring_closed_at is None
    again = now + timedelta(days=4)
    document = _close_and_confirm(committee, again)
    assert document is not None and committee.report_completed_at == again
    second = award.confirm_award(tender, actor=officers[0], now=again)
    db.session.commit()
    assert tender.status == TenderStatus.AWARDED and second.status == AwardStatus.ACTIVE
    assert second.amount == Decimal("180000.00") and second.id != first.id


def test_single_source_price_changed_after_the_closing_is_not_awarded(city_bureau, officers, suppliers, experts,
                                                                       now):
    from portal.evaluation import award
    from portal.tenders import services as tender_services

    tender = make_single_source(city_bureau, suppliers[0].organisation, now=now)
    committee = build_committee(tender, experts[:3], now=now)
    _close_and_confirm(committee, now)
    record = "谈判小组与供应商重新协商，确定成交价格。"
    tender_services.record_single_source_agreement(tender, price=Decimal("170000.00"), record=record,
                                                   actor=officers[0], now=now)
    db.session.commit()
    with pytest.raises(DomainError, match="changed after the negotiators closed"):
        award.confirm_award(tender, actor=officers[0], now=now + timedelta(days=1))
    db.session.rollback()
    assert award.deem_awards(now + timedelta(days=30)) == 0 and award.active_award(tender) is None
    tender_services.record_single_source_agreement(tender, price=Decimal("180000.00"), record=record,
                                                   actor=officers[0], now=now)
    assert award.confirm_award(tender, actor=officers[0], now=now + timedelta(days=1)).amount == Decimal("180000.00")
