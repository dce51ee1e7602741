"""The committee and its qualification review: size and make-up at their boundaries, automatic recusal, the
reproducible draw, declarations and replacements, void opinions, the pass/fail review and low prices."""

from __future__ import annotations

from datetime import date, timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from portal.accounts.models import ExpertAffiliation, User
from portal.audit import AuditEntry
from portal.errors import Conflict, DomainError, NotAllowed
from portal.evaluation import award, results, rules, scoring
from portal.evaluation import committee as service
from portal.evaluation.models import (
    CommitteeMember,
    LowPriceInquiry,
    MemberKind,
    MemberStatus,
    QualificationCheck,
    Score,
    ScoreSheet,
)
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from portal.notify import Notification
from portal.tenders import bidding
from portal.tenders import services as tender_services
from portal.tenders.models import Method, TenderStatus
from tests.evaluation_builders import submit_scores
from tests.evaluation_factories import make_opened_tender, make_pool, make_single_source

PRICES = ("400000.00", "410000.00", "420000.00")


pytestmark = pytest.mark.usefixtures("english_messages")


@pytest.fixture
def officers(create_user):
    return create_user("officer"), create_user("officer")


@pytest.fixture
def suppliers(create_user):
    return [create_user("supplier") for _ in range(4)]


@pytest.fixture
def pool(create_user):
    return make_pool(create_user, 9)


@pytest.fixture
def opened(city_bureau, officers, suppliers, now):
    """An open tender whose three bids were opened; returns (tender, bids, a time after the opening)."""
    tender, bids, opened_at = make_opened_tender(city_bureau, officers, suppliers[:3], PRICES, now=now)
    return tender, bids, opened_at + timedelta(hours=1)


def _form(tender, officer, at, size=5, reps=(), specialty="elderly_care"):
    committee = service.form_committee(tender, size=size, specialty=specialty, representative_ids=list(reps),
                                       actor=officer, now=at)
    db.session.commit()
    return committee


def _seat_everyone(committee, at):
    """Every member declares no conflict; the first expert chairs."""
    for member in list(committee.sitting):
        if member.status == MemberStatus.DRAWN:
            service.declare(member, conflict=False, note="", actor=member.user, now=at)
    chair = next(m for m in committee.sitting if m.kind == MemberKind.EXPERT)
    service.set_chair(committee, chair, actor=db.session.get(User, committee.formed_by_id), now=at)
    db.session.commit()
    return chair.user


def _pass_all(committee, chair, at, failing=()):
    """The chair records every requirement passed, except on the bids in ``failing``."""
    for bid in results.opened_bids(committee.tender):
        findings = {r.id: (bid not in failing, "" if bid not in failing else "未提供财务会计制度证明")
                    for r in committee.tender.requirements}
        service.record_checks(committee, bid, findings, actor=chair, now=at)
    db.session.commit()


def _refused(action, match=None, error=DomainError):
    with pytest.raises(error, match=match):
        action()
    db.session.rollback()


# --- Size and make-up (87-47, 74-7) --------------------------------------------------------------------------


def test_tender_committee_of_five_odd_and_nothing_else(opened, officers, pool):
    tender, _bids, at = opened
    _refused(lambda: _form(tender, officers[0], at, size=4), "at least 5 members")
    _refused(lambda: _form(tender, officers[0], at, size=6), "odd number")
    committee = _form(tender, officers[0], at, size=5)
    assert [m.position for m in committee.members] == [1, 2, 3, 4, 5]
    assert all(m.status == MemberStatus.DRAWN and m.draw_seed == committee.seed for m in committee.members)
    assert tender.status == TenderStatus.EVALUATING
    drawn = {m.user_id for m in committee.members}
    notes = db.session.scalars(sa.select(Notification).where(Notification.user_id.in_(drawn))).all()
    assert len(notes) == 5 and {n.link for n in notes} == {f"/tenders/{tender.id}/evaluation/declaration"}
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "committee.formed"))
    assert committee.seed in entry.new_values and str(sorted(drawn)[0]) in entry.new_values
    _refused(lambda: _form(tender, officers[0], at), "already has a committee")


@pytest.mark.parametrize("budget, complex_", [(rules.LARGE_TENDER_BUDGET, False), (Decimal("500000.00"), True)])
def test_large_or_complex_tender_needs_seven(city_bureau, officers, suppliers, pool, now, budget, complex_):
    tender, _bids, opened_at = make_opened_tender(city_bureau, officers, suppliers[:3], PRICES, now=now,
                                                  budget=budget)
    tender.complex = complex_
    db.session.commit()
    at = opened_at + timedelta(hours=1)
    _refused(lambda: _form(tender, officers[0], at, size=5), "at least 7 members")
    assert len(_form(tender, officers[0], at, size=7).members) == 7


def test_just_below_the_large_budget_five_suffice(city_bureau, officers, suppliers, pool, now):
    tender, _bids, opened_at = make_opened_tender(city_bureau, officers, suppliers[:3], PRICES, now=now,
                                                  budget=rules.LARGE_TENDER_BUDGET - Decimal("0.01"))
    assert len(_form(tender, officers[0], opened_at + timedelta(hours=1), size=5).members) == 5


def test_negotiation_group_of_three_below_the_threshold(city_bureau, officers, suppliers, pool, now):
    tender, _bids, opened_at = make_opened_tender(city_bureau, officers, suppliers[:3], PRICES, now=now,
                                                  method=Method.NEGOTIATION)
    at = opened_at + timedelta(hours=1)
    _refused(lambda: _form(tender, officers[0], at, size=1), "at least 3 members")
    _refused(lambda: _form(tender, officers[0], at, size=4), "odd number")
    assert len(_form(tender, officers[0], at, size=3).members) == 3
    assert tender.status == TenderStatus.OPENED  # the rounds come next, not the evaluation


def test_negotiation_at_the_threshold_needs_five(app, city_bureau, officers, suppliers, pool, now):
    threshold = app.config["OPEN_TENDER_THRESHOLD"]
    tender, _bids, opened_at = make_opened_tender(city_bureau, officers, suppliers[:3], PRICES, now=now,
                                                  method=Method.NEGOTIATION, budget=threshold)
    at = opened_at + timedelta(hours=1)
    _refused(lambda: _form(tender, officers[0], at, size=3), "at least 5 members")
    assert len(_form(tender, officers[0], at, size=5).members) == 5


def test_single_source_negotiators_three(city_bureau, create_org, officers, pool, now):
    tender = make_single_source(city_bureau, create_org(), now=now)
    _refused(lambda: _form(tender, officers[0], now, size=2), "at least 3 members")
    assert len(_form(tender, officers[0], now, size=3).members) == 3
    assert tender.status == TenderStatus.NEGOTIATING


def test_experts_at_least_two_thirds_with_representatives(opened, officers, create_user, pool):
    tender, _bids, at = opened
    third = create_user("officer")
    _refused(lambda: _form(tender, officers[0], at, size=5, reps=[officers[1].id, third.id]),
             "at least 4 experts")
    committee = _form(tender, officers[0], at, size=5, reps=[officers[1].id])
    kinds = [(m.position, m.kind, m.draw_seed) for m in committee.members]
    assert kinds[-1] == (5, MemberKind.REPRESENTATIVE, "")
    assert [k for _p, k, _s in kinds].count(MemberKind.EXPERT) == 4


def test_seven_with_two_representatives_is_lawful(city_bureau, officers, suppliers, pool, now, create_user):
    tender, _bids, opened_at = make_opened_tender(city_bureau, officers, suppliers[:3], PRICES, now=now,
                                                  budget=rules.LARGE_TENDER_BUDGET)
    committee = _form(tender, officers[0], opened_at + timedelta(hours=1), size=7,
                      reps=[officers[1].id, create_user("officer").id])
    assert sum(m.kind == MemberKind.EXPERT for m in committee.members) == 5


def test_representatives_must_be_officers_of_the_bureau(opened, officers, create_user, create_org, pool):
    tender, _bids, at = opened
    other_bureau = create_org("bureau", name="开封市民政局", level="city")
    stranger = create_user("officer", organisation_id=other_bureau.id)
    for user in (stranger, create_user("supplier"), pool[0]):
        _refused(lambda u=user: _form(tender, officers[0], at, reps=[u.id]), "active officers of the tender")


def test_only_the_bureau_forms_the_committee_after_the_opening(city_bureau, officers, suppliers, create_user,
                                                               create_org, pool, now):
    tender, _bids, opened_at = make_opened_tender(city_bureau, officers, suppliers[:3], PRICES, now=now)
    stranger = create_user("officer", organisation_id=create_org("bureau", name="洛阳市民政局", level="city").id)
    _refused(lambda: _form(tender, stranger, opened_at), error=NotAllowed)
    tender.status = TenderStatus.PUBLISHED
    db.session.commit()
    _refused(lambda: _form(tender, officers[0], opened_at), "only after the bids are opened")


def test_expert_pool_too_small_and_specialty(opened, officers, create_user):
    tender, _bids, at = opened
    make_pool(create_user, 4)
    make_pool(create_user, 3, specialty="law")
    _refused(lambda: _form(tender, officers[0], at), r"only 4 eligible .*; 5 are needed")
    committee = _form(tender, officers[0], at, specialty="")  # every specialty: 7 in the pool
    assert len(committee.pool_ids) == 7


# --- Recusal and the draw (R9, 87-48) ------------------------------------------------------------------------


def _tie(expert, organisation, ended: date, kind="employee"):
    db.session.add(ExpertAffiliation(expert_id=expert.id, organisation_id=organisation.id,
                                     organisation_name=organisation.name, kind=kind, start_date=date(2015, 1, 1),
                                     end_date=ended))
    db.session.commit()


def test_conflicted_expert_is_left_out_automatically(opened, officers, suppliers, create_user):
    tender, _bids, at = opened
    experts = make_pool(create_user, 6)
    bidder = suppliers[0].organisation
    _tie(experts[0], bidder, date(2024, 11, 1))  # ended 2 years ago: within 3 years, recuses
    _tie(experts[1], bidder, date(2022, 11, 1))  # ended 4 years ago: eligible
    _tie(experts[2], suppliers[3].organisation, date(2026, 1, 1))  # a tie to an organisation that did not bid
    committee = _form(tender, officers[0], at)
    assert committee.excluded_ids == [experts[0].id]
    assert {m.user_id for m in committee.members} == {e.id for e in experts[1:]}


def test_the_draw_replays_from_its_record(opened, officers, pool):
    tender, _bids, at = opened
    committee = _form(tender, officers[0], at)
    drawn = [m.user_id for m in committee.members]
    assert service.replay_draw(committee) == drawn
    assert rules.draw_experts(committee.pool_ids, 5, committee.seed) == drawn
    assert committee.pool_ids == sorted(u.id for u in pool)


# --- Declarations and replacements (87-48, 87-49) ------------------------------------------------------------


def test_declaring_no_conflict_seats_the_member(opened, officers, pool):
    tender, _bids, at = opened
    committee = _form(tender, officers[0], at)
    member = committee.members[0]
    _refused(lambda: service.declare(member, conflict=False, note="", actor=committee.members[1].user, now=at),
             error=NotAllowed)
    assert service.declare(member, conflict=False, note="", actor=member.user, now=at) is None
    db.session.commit()
    assert member.status == MemberStatus.ACTIVE and member.declared_at == at
    _refused(lambda: service.declare(member, conflict=False, note="", actor=member.user, now=at),
             "already made your declaration")


def test_declared_conflict_draws_a_replacement_with_its_own_seed(opened, officers, pool):
    tender, _bids, at = opened
    committee = _form(tender, officers[0], at)
    first, second = committee.members[0], committee.members[1]
    _refused(lambda: service.declare(first, conflict=True, note="", actor=first.user, now=at), "Describe")
    new = service.declare(first, conflict=True, note="三年内曾任投标人理事", actor=first.user, now=at)
    db.session.commit()
    assert first.status == MemberStatus.REPLACED and "三年内曾任投标人理事" in first.replaced_reason
    assert new.draw_seed == f"{committee.seed}/r1" and new.replacement_of_id == first.id and new.position == 6
    initial = {m.user_id for m in committee.members[:5]}
    assert new.user_id not in initial
    assert [new.user_id] == rules.draw_experts(committee.pool_ids, 1, new.draw_seed, initial)
    newer = service.declare(second, conflict=True, note="配偶为投标人法定代表人", actor=second.user, now=at)
    db.session.commit()
    assert newer.draw_seed == f"{committee.seed}/r2" and newer.user_id not in initial | {new.user_id}
    assert len(committee.sitting) == 5
    assert service.replay_draw(committee) == [m.user_id for m in committee.members[:5]]  # the first draw stands


def test_replacement_refused_when_the_pool_is_exhausted(opened, officers, create_user):
    tender, _bids, at = opened
    make_pool(create_user, 6)
    committee = _form(tender, officers[0], at)
    member = committee.members[0]
    service.replace_member(member, reason="无法出席评审", actor=officers[0], now=at)
    db.session.commit()
    last = committee.members[1]
    _refused(lambda: service.replace_member(last, reason="无法出席评审", actor=officers[0], now=at),
             "expert_pool|eligible expert")
    db.session.expire_all()
    assert last.status == MemberStatus.DRAWN and len(committee.sitting) == 5


def test_replacing_a_member_needs_the_bureau_and_a_reason(opened, officers, pool, create_user, create_org):
    tender, _bids, at = opened
    committee = _form(tender, officers[0], at, reps=[officers[1].id])
    chair_user = _seat_everyone(committee, at)
    chair = committee.member_for(chair_user)
    stranger = create_user("officer", organisation_id=create_org("bureau", name="新乡市民政局", level="city").id)
    _refused(lambda: service.replace_member(chair, reason="无法出席评审", actor=stranger, now=at), error=NotAllowed)
    _refused(lambda: service.replace_member(chair, reason=" ", actor=officers[0], now=at), "reason")
    new = service.replace_member(chair, reason="发现与投标人存在利害关系", actor=officers[0], now=at)
    db.session.commit()
    assert committee.chair_id is None and new.status == MemberStatus.DRAWN
    _refused(lambda: service.replace_member(chair, reason="再次替换", actor=officers[0], now=at),
             "already been replaced")
    representative = next(m for m in committee.sitting if m.kind == MemberKind.REPRESENTATIVE)
    _refused(lambda: service.replace_member(representative, reason="工作调动", actor=officers[0], now=at),
             "not replaced by a draw")
    successor = create_user("officer")
    seat = service.replace_member(representative, reason="工作调动", actor=officers[0], now=at,
                                  representative_id=successor.id)
    db.session.commit()
    assert (seat.kind, seat.user_id, seat.draw_seed) == (MemberKind.REPRESENTATIVE, successor.id, "")
    assert len(committee.sitting) == 5


def test_chair_is_a_declared_expert_never_the_representative(opened, officers, pool, create_user, create_org):
    tender, _bids, at = opened
    committee = _form(tender, officers[0], at, reps=[officers[1].id])
    expert, representative = committee.members[0], committee.members[4]
    _refused(lambda: service.set_chair(committee, expert, actor=officers[0], now=at), "declare")
    for member in (expert, representative):
        service.declare(member, conflict=False, note="", actor=member.user, now=at)
    db.session.commit()
    _refused(lambda: service.set_chair(committee, representative, actor=officers[0], now=at),
             r"may not chair.*87-45")
    stranger = create_user("officer", organisation_id=create_org("bureau", name="许昌市民政局", level="city").id)
    _refused(lambda: service.set_chair(committee, expert, actor=stranger, now=at), error=NotAllowed)
    service.set_chair(committee, expert, actor=officers[0], now=at)
    db.session.commit()
    assert service.is_chair(committee, expert.user) and not service.is_chair(committee, representative.user)


def test_who_reads_bids_and_who_sees_the_committee(opened, officers, pool, create_user, suppliers):
    tender, _bids, at = opened
    committee = _form(tender, officers[0], at)
    member = committee.members[0]
    assert not service.can_read_bids(committee, member.user)  # drawn, not declared
    assert service.can_view_committee(committee, member.user)
    service.declare(member, conflict=False, note="", actor=member.user, now=at)
    db.session.commit()
    assert service.can_read_bids(committee, member.user)
    outsider = next(u for u in pool if u.id not in {m.user_id for m in committee.members})
    assert not service.can_read_bids(committee, outsider)
    assert not service.can_view_committee(committee, outsider)
    assert not service.can_view_committee(committee, suppliers[0])
    assert service.can_view_committee(committee, officers[1]) and not service.can_read_bids(committee, officers[1])


def test_a_replaced_members_scores_do_not_count(opened, officers, pool):
    tender, bids, at = opened
    committee = _form(tender, officers[0], at)
    chair = _seat_everyone(committee, at)
    _pass_all(committee, chair, at)
    assert service.close_qualification(committee, actor=chair, now=at) == "closed"
    db.session.commit()
    criteria = tender.criteria
    outlier = committee.members[4]

    def score(member, points):
        sheet = ScoreSheet(committee_id=committee.id, member_id=member.id, submitted_at=at)
        sheet.scores = [Score(bid_id=bid.id, criterion_id=c.id, points=Decimal(points(c))) for bid in bids
                        for c in criteria]
        db.session.add(sheet)
        db.session.commit()

    for member in committee.members[:4]:
        score(member, lambda c: c.weight)
    score(outlier, lambda c: 0)
    before = results.results(committee)
    assert before.ranked and {row.quality for row in before.rows} == {Decimal(72)}
    new = service.replace_member(outlier, reason="评审中发现与投标人存在利害关系", actor=officers[0], now=at)
    service.declare(new, conflict=False, note="", actor=new.user, now=at)
    db.session.commit()
    assert not results.results(committee).ranked  # the new member has not scored yet
    score(new, lambda c: c.weight)
    after = results.results(committee)
    assert after.ranked and {row.quality for row in after.rows} == {Decimal(90)}


# --- Qualification and compliance review (87-44, 74-37) --------------------------------------------------------


def test_checks_need_the_chair_every_requirement_and_reasons(opened, officers, pool):
    tender, bids, at = opened
    committee = _form(tender, officers[0], at)
    chair = _seat_everyone(committee, at)
    other = next(m.user for m in committee.sitting if m.user_id != chair.id)
    first, second = tender.requirements
    every = {first.id: (True, ""), second.id: (True, "")}
    _refused(lambda: service.record_checks(committee, bids[0], every, actor=other, now=at), error=NotAllowed)
    _refused(lambda: service.record_checks(committee, bids[0], {first.id: (True, "")}, actor=chair, now=at),
             "every requirement")
    _refused(lambda: service.record_checks(committee, bids[0], {first.id: (True, ""), second.id: (False, " ")},
                                           actor=chair, now=at), "reason")
    service.record_checks(committee, bids[0], {first.id: (True, ""), second.id: (False, "无财务制度")},
                          actor=chair, now=at)
    db.session.commit()
    _refused(lambda: service.close_qualification(committee, actor=chair, now=at), "missing")
    service.record_checks(committee, bids[0], every, actor=chair, now=at)  # the committee changes its mind
    db.session.commit()
    checks = db.session.scalars(sa.select(QualificationCheck).where(QualificationCheck.bid_id == bids[0].id)).all()
    assert len(checks) == 2 and all(c.passed for c in checks)
    entries = db.session.scalars(sa.select(AuditEntry).where(AuditEntry.action == "qualification.recorded")
                                 .order_by(AuditEntry.seq)).all()
    assert "无财务制度" in entries[-1].old_values and "无财务制度" not in entries[-1].new_values
    _pass_all(committee, chair, at)
    assert service.close_qualification(committee, actor=chair, now=at) == "closed"
    db.session.commit()
    _refused(lambda: service.record_checks(committee, bids[0], every, actor=chair, now=at), "closed")
    _refused(lambda: service.close_qualification(committee, actor=chair, now=at), "closed")


def test_review_waits_for_every_declaration(opened, officers, pool):
    tender, bids, at = opened
    committee = _form(tender, officers[0], at)
    chair = _seat_everyone(committee, at)
    _pass_all(committee, chair, at)
    service.replace_member(committee.members[1], reason="无法出席评审", actor=officers[0], now=at)
    db.session.commit()
    _refused(lambda: service.close_qualification(committee, actor=chair, now=at), "declare")


def test_fewer_than_three_qualified_fail_the_tender(opened, officers, pool, suppliers):
    tender, bids, at = opened
    committee = _form(tender, officers[0], at)
    chair = _seat_everyone(committee, at)
    _pass_all(committee, chair, at, failing=[bids[1]])
    assert service.close_qualification(committee, actor=chair, now=at) == "failed"
    db.session.commit()
    assert tender.status == TenderStatus.FAILED and "87-44" in tender.failure_reason
    notice = db.session.scalar(sa.select(Notice).where(Notice.tender_id == tender.id,
                                                       Notice.kind == NoticeKind.FAILURE))
    assert notice is not None and "87-44" in notice.body
    told = db.session.scalars(sa.select(Notification.user_id).where(Notification.subject.contains(tender.reference),
                                                                    Notification.link == f"/tenders/{tender.id}"))
    assert {s.id for s in suppliers[:3]} <= set(told)


def test_negotiation_with_fewer_than_three_qualified_ends(city_bureau, officers, suppliers, pool, now):
    tender, bids, opened_at = make_opened_tender(city_bureau, officers, suppliers[:3], PRICES, now=now,
                                                 method=Method.NEGOTIATION)
    at = opened_at + timedelta(hours=1)
    committee = _form(tender, officers[0], at, size=3)
    chair = _seat_everyone(committee, at)
    _pass_all(committee, chair, at, failing=[bids[0]])
    assert service.close_qualification(committee, actor=chair, now=at) == "failed"
    assert tender.status == TenderStatus.FAILED and "74-37" in tender.failure_reason


def test_single_source_has_no_qualification_review(city_bureau, create_org, officers, pool, now):
    tender = make_single_source(city_bureau, create_org(), now=now)
    committee = _form(tender, officers[0], now, size=3)
    chair = _seat_everyone(committee, now)
    _refused(lambda: service.close_qualification(committee, actor=chair, now=now), "single-source")


# --- Abnormally low prices (87-60) --------------------------------------------------------------------------------


def _review(city_bureau, officers, suppliers, prices, now):
    tender, bids, opened_at = make_opened_tender(city_bureau, officers, suppliers[:len(prices)], prices, now=now)
    at = opened_at + timedelta(hours=1)
    committee = _form(tender, officers[0], at)
    chair = _seat_everyone(committee, at)
    _pass_all(committee, chair, at)
    outcome = service.close_qualification(committee, actor=chair, now=at)
    db.session.commit()
    return tender, bids, committee, chair, at, outcome


def _inquiries(committee):
    return db.session.scalars(sa.select(LowPriceInquiry).where(LowPriceInquiry.committee_id == committee.id)).all()


def test_twenty_percent_below_the_mean_of_the_others_must_be_justified(city_bureau, officers, suppliers, pool,
                                                                        now):
    prices = ("400000.00", "400000.00", "400000.00", "320000.00")  # exactly 20% below: 以上 includes it
    tender, bids, committee, _chair, _at, outcome = _review(city_bureau, officers, suppliers, prices, now)
    [inquiry] = _inquiries(committee)
    assert outcome == "closed" and inquiry.bid_id == bids[3].id
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == suppliers[3].id,
                                                           Notification.link.contains("low-price")))
    assert note.link == f"/tenders/{tender.id}/evaluation/low-price/{inquiry.id}"
    assert results.results(committee).problems[0].code == "justification_pending"


def test_one_fen_less_than_twenty_percent_below_needs_no_justification(city_bureau, officers, suppliers, pool,
                                                                      now):
    prices = ("400000.00", "400000.00", "400000.00", "320000.01")
    *_rest, committee, _chair, _at, outcome = _review(city_bureau, officers, suppliers, prices, now)
    assert outcome == "closed" and _inquiries(committee) == []


def test_the_threshold_is_a_setting(app, city_bureau, officers, suppliers, pool, now, monkeypatch):
    monkeypatch.setitem(app.config, "ABNORMALLY_LOW_THRESHOLD", Decimal("0.10"))
    prices = ("400000.00", "400000.00", "400000.00", "359000.00")  # 10.25% below the others
    *_rest, committee, _chair, _at, _outcome = _review(city_bureau, officers, suppliers, prices, now)
    assert len(_inquiries(committee)) == 1


def test_justification_and_decision(city_bureau, officers, suppliers, pool, now):
    prices = ("400000.00", "400000.00", "400000.00", "300000.00")
    tender, bids, committee, chair, at, _outcome = _review(city_bureau, officers, suppliers, prices, now)
    [inquiry] = _inquiries(committee)
    text = "我机构使用志愿者队伍与自有场地，人力成本较低，报价已包含全部服务成本。"
    _refused(lambda: service.decide_low_price(inquiry, accepted=True, note="", actor=chair, now=at),
             "not given its written justification")
    _refused(lambda: service.justify_low_price(inquiry, text, actor=suppliers[0], now=at), error=NotAllowed)
    _refused(lambda: service.justify_low_price(inquiry, "成本低", actor=suppliers[3], now=at), "at least 20")
    service.justify_low_price(inquiry, text, actor=suppliers[3], now=at)
    db.session.commit()
    assert db.session.scalar(sa.select(Notification).where(Notification.user_id == chair.id,
                                                           Notification.link.contains("low-price")))
    member = next(m.user for m in committee.sitting if m.user_id != chair.id)
    _refused(lambda: service.decide_low_price(inquiry, accepted=False, note="理由不充分", actor=member, now=at),
             error=NotAllowed)
    _refused(lambda: service.decide_low_price(inquiry, accepted=False, note="", actor=chair, now=at), "reason")
    assert service.decide_low_price(inquiry, accepted=False, note="无法说明人力成本构成", actor=chair, now=at) \
        == "rejected"
    db.session.commit()
    assert bids[3].id not in {b.id for b in results.qualified_bids(committee)}
    assert tender.status == TenderStatus.EVALUATING
    _refused(lambda: service.justify_low_price(inquiry, text, actor=suppliers[3], now=at), "already decided")
    _refused(lambda: service.decide_low_price(inquiry, accepted=True, note="", actor=chair, now=at),
             "already decided")


def test_rejection_leaving_two_qualified_fails_the_tender(city_bureau, officers, suppliers, pool, now):
    prices = ("400000.00", "400000.00", "300000.00")
    tender, bids, committee, chair, at, _outcome = _review(city_bureau, officers, suppliers, prices, now)
    [inquiry] = _inquiries(committee)
    service.justify_low_price(inquiry, "我机构使用志愿者队伍与自有场地，人力成本较低。", actor=suppliers[2], now=at)
    assert service.decide_low_price(inquiry, accepted=False, note="无法说明成本构成", actor=chair, now=at) == "failed"
    assert tender.status == TenderStatus.FAILED and "87-44" in tender.failure_reason


def test_accepted_justification_lets_the_bid_be_scored(city_bureau, officers, suppliers, pool, now):
    prices = ("400000.00", "400000.00", "300000.00")
    _tender, bids, committee, chair, at, _outcome = _review(city_bureau, officers, suppliers, prices, now)
    [inquiry] = _inquiries(committee)
    service.justify_low_price(inquiry, "我机构使用志愿者队伍与自有场地，人力成本较低。", actor=suppliers[2], now=at)
    assert service.decide_low_price(inquiry, accepted=True, note="", actor=chair, now=at) == "accepted"
    db.session.commit()
    assert len(results.qualified_bids(committee)) == 3
    assert results.results(committee).problems[0].code == "scoring_incomplete"
    assert db.session.scalar(sa.select(sa.func.count(CommitteeMember.id))) == 5


# --- Review fixes: the time for a justification, a replacement after closing, negotiation quotes -----------------


def test_a_justification_is_due_after_the_set_hours_then_the_chair_may_reject_without_it(
        app, city_bureau, officers, suppliers, pool, now, monkeypatch):
    monkeypatch.setitem(app.config, "LOW_PRICE_JUSTIFICATION_HOURS", 2)
    prices = ("400000.00", "400000.00", "400000.00", "300000.00")
    tender, bids, committee, chair, at, _outcome = _review(city_bureau, officers, suppliers, prices, now)
    [inquiry] = _inquiries(committee)
    assert inquiry.due_at == at + timedelta(hours=2)
    due_text = service.beijing_text(inquiry.due_at)
    note = db.session.scalar(sa.select(Notification).where(Notification.user_id == suppliers[3].id,
                                                           Notification.link.contains("low-price")))
    assert due_text in note.body  # the supplier is told by when
    assert "justification_due_at" in db.session.scalar(sa.select(AuditEntry.new_values).where(
        AuditEntry.action == "qualification.closed"))
    # Before the due time the chair waits for the justification.
    _refused(lambda: service.decide_low_price(inquiry, accepted=False, note="未提交说明", actor=chair,
                                              now=at + timedelta(hours=1, minutes=59)), due_text)
    late = at + timedelta(hours=2)
    text = "我机构使用志愿者队伍与自有场地，人力成本较低，报价已包含全部服务成本。"
    _refused(lambda: service.justify_low_price(inquiry, text, actor=suppliers[3], now=late), "ended at", Conflict)
    # After it, with nothing given, the price cannot be accepted; it can be found unjustified (87-60).
    _refused(lambda: service.decide_low_price(inquiry, accepted=True, note="", actor=chair, now=late),
             "No justification was given in time")
    assert service.decide_low_price(inquiry, accepted=False, note="未在规定时间内提交书面说明", actor=chair,
                                    now=late) == "rejected"
    db.session.commit()
    assert inquiry.accepted is False and inquiry.justified_at is None
    assert bids[3].id not in {b.id for b in results.qualified_bids(committee)}
    assert results.results(committee).problems[0].code == "scoring_incomplete"  # the scoring can go on
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "low_price.decided"))
    assert '"justified":false' in entry.new_values


def test_a_justification_given_in_time_is_decided_as_before(city_bureau, officers, suppliers, pool, now):
    prices = ("400000.00", "400000.00", "400000.00", "300000.00")
    _tender, _bids, committee, chair, at, _outcome = _review(city_bureau, officers, suppliers, prices, now)
    [inquiry] = _inquiries(committee)
    assert inquiry.due_at == at + timedelta(hours=rules.LOW_PRICE_JUSTIFICATION_HOURS)  # the default: 24 hours
    service.justify_low_price(inquiry, "我机构使用志愿者队伍与自有场地，人力成本较低。", actor=suppliers[3],
                              now=inquiry.due_at - timedelta(seconds=1))
    assert service.decide_low_price(inquiry, accepted=True, note="", actor=chair,
                                    now=inquiry.due_at + timedelta(hours=5)) == "accepted"


def test_the_chair_is_told_of_the_appointment_and_members_when_scoring_can_start(opened, officers, pool):
    tender, _bids, at = opened
    committee = _form(tender, officers[0], at)
    chair = _seat_everyone(committee, at)
    [told] = db.session.scalars(sa.select(Notification).where(Notification.user_id == chair.id,
                                                              Notification.link == f"/tenders/{tender.id}/evaluation"))
    assert tender.reference in told.subject
    _pass_all(committee, chair, at)
    assert service.close_qualification(committee, actor=chair, now=at) == "closed"
    db.session.commit()
    for member in committee.sitting:
        links = db.session.scalars(sa.select(Notification.link).where(Notification.user_id == member.user_id)).all()
        assert f"/tenders/{tender.id}/evaluation/sheet" in links


def _score_everyone(committee, at, seats=None):
    tender = committee.tender
    for seat in seats or committee.sitting:
        points = {(bid.id, c.id): Decimal(c.weight - 5) for bid in results.qualified_bids(committee)
                  for c in tender.criteria}
        submit_scores(committee, seat, points, at)


def test_replacing_a_member_after_the_scoring_closed_reopens_it_for_the_new_member(opened, officers, pool):
    tender, _bids, at = opened
    committee = _form(tender, officers[0], at)
    chair = _seat_everyone(committee, at)
    _pass_all(committee, chair, at)
    service.close_qualification(committee, actor=chair, now=at)
    db.session.commit()
    _score_everyone(committee, at)
    assert scoring.close_scoring(committee, actor=chair, now=at) == "closed"
    for seat, dissent in zip(committee.sitting[:2], ("", "保留意见"), strict=True):
        scoring.confirm_report(committee, seat, actor=seat.user, now=at, dissent=dissent)
    db.session.commit()
    leaving = committee.sitting[2]
    new = service.replace_member(leaving, reason="评审期间因病无法继续履职", actor=officers[0], now=at)
    db.session.commit()
    # The replaced member's opinions are void (87-49): the scoring reopens and every confirmation is cleared.
    assert committee.scoring_closed_at is None
    assert all(m.report_confirmed_at is None and m.report_dissent == "" for m in committee.members)
    entry = db.session.scalar(sa.select(AuditEntry).where(AuditEntry.action == "committee.scoring_reopened"))
    assert entry is not None and str(committee.sitting[0].id) in entry.old_values
    assert leaving.id not in {m.id for m in committee.sitting}
    member = committee.sitting[0]
    _refused(lambda: scoring.confirm_report(committee, member, actor=member.user, now=at), "not been closed",
             Conflict)
    service.declare(new, conflict=False, note="", actor=new.user, now=at)
    db.session.commit()
    _refused(lambda: scoring.close_scoring(committee, actor=chair, now=at), new.user.name, Conflict)
    _score_everyone(committee, at, seats=[new])  # the new member scores
    assert scoring.close_scoring(committee, actor=chair, now=at) == "closed"
    document = None
    for seat in committee.sitting:
        document = scoring.confirm_report(committee, seat, actor=seat.user, now=at) or document
    db.session.commit()
    assert document is not None and committee.report_completed_at == at
    assert leaving.id not in results.submitted_sheets(committee)[results.qualified_bids(committee)[0].id]
    assert new.id in results.submitted_sheets(committee)[results.qualified_bids(committee)[0].id]


def _negotiation(city_bureau, officers, suppliers, now):
    """A negotiation of 4 suppliers whose group of 3 is seated; returns (tender, bids, committee, chair, at)."""
    tender, bids, opened_at = make_opened_tender(city_bureau, officers, suppliers, PRICES + ("430000.00",),
                                                 now=now, method=Method.NEGOTIATION)
    at = opened_at + timedelta(hours=1)
    committee = _form(tender, officers[0], at, size=3)
    chair = _seat_everyone(committee, at)
    return tender, bids, committee, chair, at


def test_a_supplier_failed_at_qualification_gives_no_final_quote(city_bureau, officers, suppliers, pool, now):
    tender, bids, committee, chair, at = _negotiation(city_bureau, officers, suppliers, now)
    _pass_all(committee, chair, at, failing=[bids[3]])
    assert service.close_qualification(committee, actor=chair, now=at) == "closed"  # 3 qualified
    round_ = tender_services.issue_negotiation_round(tender, "服务频次调整为每周两次",
                                                     final_quote_deadline=at + timedelta(days=1),
                                                     actor=officers[0], now=at)
    db.session.commit()
    assert isinstance(bidding.final_quote_refusal(tender, suppliers[3].organisation, at), bidding.NotEligible)
    assert bidding.final_quote_refusal(tender, suppliers[0].organisation, at) is None
    _refused(lambda: bidding.submit_final_quote(tender, Decimal("390000.00"), actor=suppliers[3], now=at),
             "qualification", NotAllowed)
    for user, price in zip(suppliers[:2], ("395000.00", "398000.00"), strict=True):  # a qualified one does not quote
        bidding.submit_final_quote(tender, Decimal(price), actor=user, now=at)
    db.session.commit()
    assert bidding.open_final_quotes(tender, actor=officers[0], confirmer=officers[1],
                                     now=round_.final_quote_deadline) == "failed"
    assert tender.status == TenderStatus.FAILED and award.active_award(tender) is None


def test_a_negotiation_with_fewer_than_three_qualified_final_quotes_fails_at_closing(city_bureau, officers, suppliers,
                                                                                   pool, now):
    tender, bids, committee, chair, at = _negotiation(city_bureau, officers, suppliers, now)
    # Final quotes asked for before the review closed: the supplier that then fails has quoted too.
    round_ = tender_services.issue_negotiation_round(tender, "服务频次调整为每周两次",
                                                     final_quote_deadline=at + timedelta(days=1),
                                                     actor=officers[0], now=at)
    db.session.commit()
    for user, price in zip((suppliers[3], suppliers[0], suppliers[1]), ("380000.00", "395000.00", "398000.00"),
                           strict=True):
        bidding.submit_final_quote(tender, Decimal(price), actor=user, now=at)
    _pass_all(committee, chair, at, failing=[bids[3]])
    assert service.close_qualification(committee, actor=chair, now=at) == "closed"
    db.session.commit()
    opened_at = round_.final_quote_deadline
    assert bidding.open_final_quotes(tender, actor=officers[0], confirmer=officers[1], now=opened_at) == "opened"
    db.session.commit()
    outcome = results.results(committee)
    assert [p.code for p in outcome.problems] == ["too_few_final_quotes"] and not outcome.ranked
    assert [row.supplier_id for row in outcome.rows] == [suppliers[0].organisation_id, suppliers[1].organisation_id]
    assert scoring.scoring_progress(committee, chair)["can_close"]
    assert scoring.close_scoring(committee, actor=chair, now=opened_at) == "failed"
    db.session.commit()
    assert tender.status == TenderStatus.FAILED and "74-37" in tender.failure_reason
    assert committee.scoring_closed_at is None and award.active_award(tender) is None
    assert db.session.scalar(sa.select(Notice).where(Notice.tender_id == tender.id,
                                                     Notice.kind == NoticeKind.FAILURE)) is not None
    _refused(lambda: award.confirm_award(tender, actor=officers[0], now=opened_at))
