"""A model of one tender's whole life, for hypothesis to drive: random actions by random actors on a moving clock.

The machine works on the service layer, as the views do: each action loads its objects, checks what the view's
``ensure(...)`` checks (``view_gate``), calls one service with an explicit ``now`` and commits; a refusal (a
``DomainError``: ``NotAllowed``, ``Conflict`` and their kinds) is rolled back and recorded. Actors are the right
officer, a colleague of the same bureau (the second officer of the opening), an officer of another bureau, NGOs
invited or not, and experts on or off the committee. The clock only moves forward: by minutes, hours and days,
and to the bid deadline or the end of the challenge period give or take a minute; start days lie before public
holidays (Dragon Boat, Mid-Autumn and National Day 2026), so the periods cross them.

An example starts at a random stage of the lifecycle, reached through the same actions done right (a draft, a
tender taking bids, a closed one, an evaluation under way, an award), so that 25 steps reach every phase. After
every step the invariants hold: the tender's status history in the audit log follows the allowed transitions
with none skipped, no bid was received at or after the deadline, no opening by one officer alone, no award
without a finished evaluation and at most one in force, one contract per award, submitted scores unchanged, the
opened prices the prices submitted, the money of award, contract, installments and budget lines consistent, and
the audit chain verifies.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal

import sqlalchemy as sa
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from portal import audit
from portal.accounts.models import OrgKind, User
from portal.calendar import WorkingCalendar
from portal.contracts import services as contracts
from portal.contracts.models import Contract
from portal.errors import DomainError, NotAllowed
from portal.evaluation import award as awards
from portal.evaluation import committee as committees
from portal.evaluation import results, scoring
from portal.evaluation.models import (
    Award,
    AwardStatus,
    Challenge,
    ChallengeStatus,
    Committee,
    CommitteeMember,
    MemberStatus,
    Remedy,
    Score,
    ScoreSheet,
)
from portal.extensions import db
from portal.tenders import bidding
from portal.tenders import rules as tender_rules
from portal.tenders import services as tenders
from portal.tenders.models import Bid, BidKind, Method, PoolSource, Tender, TenderStatus
from tests.evaluation_factories import CRITERIA, make_pool
from tests.tender_factories import make_project, submission

CALENDAR = WorkingCalendar()
# Start days (Beijing, 10:00): the bid period of at least 20 days crosses a public holiday each time.
START_DAYS = (date(2026, 6, 8), date(2026, 9, 14), date(2026, 9, 21))
# Later stages more often: they have more to explore.
STAGES = ("draft", "bidding", "closed", "closed", "evaluating", "evaluating", "awarded", "awarded", "awarded")
REQUIREMENTS = ("具有独立承担民事责任的能力", "参加政府采购活动前三年内无重大违法记录")
BUDGET = Decimal("500000.00")
# Close enough that no price is abnormally low (20% under the others' mean); the last is above the budget.
PRICES = ("400000.00", "412500.50", "395000.00", "430000.00", "499999.99", "500000.01")
NGO_COUNT = 6
EXPERT_COUNT = 7  # a committee of 5 and two to replace a member who declares a conflict
COMMITTEE_SIZE = 5
GROUNDS = "评标委员会对我方服务方案的评分明显偏低，与评分标准不符，请求复核。"
OFFICERS = ("officer", "colleague", "outsider")  # the bureau's two officers, an officer of another bureau
NGOS = tuple(f"ngo{i}" for i in range(NGO_COUNT))
EXPERTS = tuple(f"expert{i}" for i in range(EXPERT_COUNT))
CLOCK_STEPS = (timedelta(minutes=1), timedelta(minutes=7), timedelta(hours=1), timedelta(hours=5),
               timedelta(days=1), timedelta(days=3))
MILESTONE_OFFSETS = (timedelta(minutes=-1), timedelta(0), timedelta(minutes=1), timedelta(hours=2))


def view_gate(condition: bool) -> None:
    """What the view's ``ensure(...)`` refuses, refused here as the service layer's own refusal."""
    if not condition:
        raise NotAllowed("refused by the view's permission check")


def status_changes(tender_id: int) -> list[tuple[str, str]]:
    """The tender's (old, new) status pairs from the audit log, in order."""
    entries = db.session.scalars(sa.select(audit.AuditEntry).where(
        audit.AuditEntry.subject_type == "Tender", audit.AuditEntry.subject_id == str(tender_id))
        .order_by(audit.AuditEntry.seq))
    changes = []
    for entry in entries:
        old = json.loads(entry.old_values) if entry.old_values else {}
        new = json.loads(entry.new_values) if entry.new_values else {}
        if "status" in new:
            changes.append((old.get("status"), new["status"]))
    return changes


@dataclass
class Cast:
    """The people of one example, by role name: user ids."""

    users: dict[str, int] = field(default_factory=dict)

    def user(self, name: str) -> User:
        return db.session.get(User, self.users[name])


class LifecycleModel(RuleBasedStateMachine):
    """One tender, from draft to signed contract, under random actions; see the module docstring."""

    create_user = None  # the conftest factories, set by ``bind``
    create_org = None
    tally: Counter = Counter()  # over the run: actions done ("sign"...) and refused ("sign refused")

    @classmethod
    def bind(cls, create_user, create_org) -> type[LifecycleModel]:
        """This machine with the test's user and organisation factories."""
        return type(cls.__name__, (cls,), {"create_user": staticmethod(create_user),
                                            "create_org": staticmethod(create_org), "tally": Counter()})

    def __init__(self):
        super().__init__()
        self.cast = Cast()
        self.tender_id: int | None = None
        self.now: datetime | None = None
        self.prices: dict[int, Decimal] = {}  # bid id -> the price submitted
        self.submitted: dict[int, dict[tuple[int, int], Decimal]] = {}  # sheet id -> its points when submitted
        self.refusals: Counter = Counter()
        self.done: Counter = Counter()

    # --- Setup --------------------------------------------------------------------------------------------------

    @initialize(method=st.sampled_from((Method.OPEN, Method.INVITED)), start=st.sampled_from(START_DAYS),
                stage=st.sampled_from(STAGES), bidders=st.sampled_from((4, 3, 2)))
    def setup(self, method, start, stage, bidders):
        self.now = tender_rules.beijing_instant(start, time(10, 0))
        bureau, other = self.create_org(OrgKind.BUREAU), self.create_org(OrgKind.BUREAU)
        for name, org in (("officer", bureau), ("colleague", bureau), ("outsider", other)):
            self.cast.users[name] = self.create_user("officer", organisation_id=org.id).id
        for name in NGOS:
            self.cast.users[name] = self.create_user("supplier").id
        for name, expert in zip(EXPERTS, make_pool(self.create_user, EXPERT_COUNT), strict=True):
            self.cast.users[name] = expert.id
        project = make_project(bureau, budget=BUDGET)
        values = {"title": "社区困难老年人关爱服务采购", "method": method, "budget": BUDGET, "ceiling_price": None,
                  "service_content": "为辖区困难老年人提供探访、照料与心理支持服务。", "price_weight": 10,
                  "complex": False, "method_ground": "few_suppliers" if method == Method.INVITED else None,
                  "justification": "", "approval_document": "", "approval_date": None, "approval_body": "",
                  "single_source_supplier_id": None}
        criteria = [tender_rules.CriterionSpec(kind, name, weight) for kind, name, weight in CRITERIA]
        officer = self.cast.user("officer")
        tender = tenders.create_tender(project, values, criteria, list(REQUIREMENTS), actor=officer, now=self.now)
        if method == Method.INVITED:
            tenders.draw_invitations(tender, pool_source=PoolSource.DATABASE, pool_ids=None, count=3,
                                     witnesses=(officer, self.cast.user("colleague")), actor=officer, now=self.now,
                                     seed="lifecycle-model")
        db.session.commit()
        self.tender_id = tender.id
        self.fast_forward(stage, bidders)
        self.done[f"start {method} {stage}"] += 1

    def fast_forward(self, stage: str, bidders: int) -> None:
        """Reach ``stage`` through the same actions, done by the right actors; ``bidders`` NGOs bid (at least 3
        past the opening: fewer fail it)."""
        if stage == "draft":
            return
        self.must(self.publish("officer"))
        if stage == "bidding":
            return
        bidders = bidders if stage == "closed" else max(bidders, 3)
        for name, price in zip(self.eligible_ngos()[:bidders], PRICES, strict=False):
            self.must(self.submit_bid(name, Decimal(price)))
        self.now = self.tender().bid_deadline + timedelta(minutes=1)
        if stage == "closed":
            return
        self.must(self.start_opening("officer"))
        self.must(self.confirm_opening("colleague"))
        self.must(self.form_committee("officer"))
        for member in self.committee().members:
            self.must(self.declare(member.id, self.name_of(member.user_id), conflict=False))
        self.must(self.set_chair("officer", self.committee().members[0].id))
        self.must(self.review_qualification(self.chair_name(), failing_bid=None))
        if stage == "evaluating":
            return
        criteria = self.tender().criteria
        for member in self.committee().sitting:
            points = {(bid.id, c.id): Decimal(c.weight - 3 * position) for position, bid in
                      enumerate(results.qualified_bids(self.committee())) for c in criteria}
            self.must(self.submit_scores(member.id, self.name_of(member.user_id), points))
        self.must(self.close_scoring(self.chair_name()))
        for member in self.committee().sitting:
            self.must(self.confirm_report(member.id, self.name_of(member.user_id)))
        self.must(self.award("officer"))

    def teardown(self):
        db.session.rollback()
        self.tally.update(self.done)
        self.tally.update(f"{action} refused" for action, _kind in self.refusals.elements())
        if self.tender_id is not None:
            self.tally[f"ends {self.status()}"] += 1
        from tests.conftest import _clear_tables  # the conftest's own cleanup: each example starts empty

        _clear_tables()

    # --- Reading ------------------------------------------------------------------------------------------------

    def tender(self) -> Tender:
        return db.session.get(Tender, self.tender_id)

    def committee(self) -> Committee | None:
        return results.committee_for(self.tender())

    def active_award(self) -> Award | None:
        return awards.active_award(self.tender())

    def name_of(self, user_id: int) -> str:
        return next(name for name, uid in self.cast.users.items() if uid == user_id)

    def chair_name(self) -> str:
        committee = self.committee()
        return self.name_of(committee.chair.user_id) if committee and committee.chair else "officer"

    def eligible_ngos(self) -> list[str]:
        tender = self.tender()
        return [n for n in NGOS if tenders.can_take_part(tender, self.cast.user(n).organisation)]

    def status(self) -> str:
        return self.tender().status

    def around_bidding(self) -> bool:
        """Published, bidding or at most a day past the deadline (where bidding actions are refused)."""
        tender = self.tender()
        return tender.status == TenderStatus.PUBLISHED and self.now < tender.bid_deadline + timedelta(days=1)

    def evaluating(self, condition) -> bool:
        """Under evaluation, with a committee for which ``condition(committee)`` holds."""
        committee = self.committee()
        return self.status() == TenderStatus.EVALUATING and committee is not None and bool(condition(committee))

    def phase(self) -> str:
        tender = self.tender()
        return tender_rules.phase(tender.status, tender.method, self.now, deadline=tender.bid_deadline,
                                  notice_until=tender.notice_until)

    # --- Doing: one service call each, as a view does it ----------------------------------------------------------

    def attempt(self, action: str, call) -> bool:
        """Run one action; commit it, or roll it back and record the refusal. Returns whether it was done."""
        before = self.status()
        try:
            call()
        except DomainError as exc:
            db.session.rollback()
            self.refusals[(action, type(exc).__name__)] += 1
            assert self.status() == before, f"a refused {action} changed the tender's status"
            return False
        db.session.commit()
        self.done[action] += 1
        return True

    @staticmethod
    def must(done: bool) -> None:
        assert done, "a step done by the right actor at the right time was refused"

    def publish(self, actor: str) -> bool:
        user, today = self.cast.user(actor), tender_rules.local_date(self.now)

        def call():
            tender = self.tender()
            view_gate(tender.can_manage(user))
            deadline_day = CALENDAR.roll_forward(tender_rules.earliest_deadline_day(tender.method, today, CALENDAR))
            tenders.publish_tender(tender, notice_until=CALENDAR.add_working_days(today, 5), documents_from=today,
                                   documents_until=CALENDAR.add_working_days(today, 5),
                                   bid_deadline=tender_rules.beijing_instant(deadline_day, time(9, 30)),
                                   calendar=CALENDAR, actor=user, now=self.now)

        return self.attempt("publish", call)

    def submit_bid(self, actor: str, price: Decimal) -> bool:
        user = self.cast.user(actor)
        expected = (self.phase() == "bidding" and tenders.can_take_part(self.tender(), user.organisation)
                    and price <= self.tender().price_cap)
        made = []
        done = self.attempt("submit_bid", lambda: made.append(
            bidding.submit_bid(self.tender(), submission(price), actor=user, now=self.now)))
        assert done == expected, f"bid by {actor} at {price}: done {done}, expected {expected}"
        if done:
            self.prices[made[0].id] = price
        return done

    def start_opening(self, actor: str) -> bool:
        return self.attempt("start_opening",
                            lambda: bidding.start_opening(self.tender(), actor=self.cast.user(actor), now=self.now))

    def confirm_opening(self, actor: str) -> bool:
        starter = self.tender().opening_started_by_id
        done = self.attempt("confirm_opening",
                            lambda: bidding.confirm_opening(self.tender(), actor=self.cast.user(actor), now=self.now))
        assert not (done and starter == self.cast.users[actor]), "the officer who started the opening confirmed it"
        return done

    def form_committee(self, actor: str) -> bool:
        return self.attempt("form_committee", lambda: committees.form_committee(
            self.tender(), size=COMMITTEE_SIZE, specialty="", representative_ids=[], actor=self.cast.user(actor),
            now=self.now, seed="lifecycle-model"))

    def declare(self, member_id: int, actor: str, *, conflict: bool) -> bool:
        return self.attempt("declare", lambda: committees.declare(
            db.session.get(CommitteeMember, member_id), conflict=conflict,
            note="曾在投标人处任职" if conflict else "", actor=self.cast.user(actor), now=self.now))

    def set_chair(self, actor: str, member_id: int) -> bool:
        return self.attempt("set_chair", lambda: committees.set_chair(
            self.committee(), db.session.get(CommitteeMember, member_id), actor=self.cast.user(actor),
            now=self.now))

    def review_qualification(self, actor: str, *, failing_bid: int | None) -> bool:
        """The chair records every requirement of every opened bid (one bid may fail one) and closes the review."""
        user = self.cast.user(actor)

        def call():
            committee, tender = self.committee(), self.tender()
            view_gate(committee is not None)
            first = tender.requirements[0].id
            for index, bid in enumerate(results.opened_bids(tender)):
                fails = index == failing_bid
                checks = {r.id: (not (fails and r.id == first), "未提供有效证明" if fails else "")
                          for r in tender.requirements}
                committees.record_checks(committee, bid, checks, actor=user, now=self.now)
            committees.close_qualification(committee, actor=user, now=self.now)

        return self.attempt("review_qualification", call)

    def submit_scores(self, member_id: int, actor: str, points: dict[tuple[int, int], Decimal]) -> bool:
        user, made = self.cast.user(actor), []

        def call():
            committee = self.committee()
            member = db.session.get(CommitteeMember, member_id)
            scoring.save_scores(committee, member, points, {}, actor=user, now=self.now)
            made.append(scoring.submit_sheet(committee, member, actor=user, now=self.now))

        done = self.attempt("submit_scores", call)
        if done:
            sheet = made[0]
            self.submitted[sheet.id] = {(s.bid_id, s.criterion_id): s.points for s in sheet.scores}
            assert self.submitted[sheet.id] == points, "the submitted sheet holds other points than were given"
        return done

    def close_scoring(self, actor: str) -> bool:
        return self.attempt("close_scoring",
                            lambda: scoring.close_scoring(self.committee(), actor=self.cast.user(actor), now=self.now))

    def confirm_report(self, member_id: int, actor: str) -> bool:
        return self.attempt("confirm_report", lambda: scoring.confirm_report(
            self.committee(), db.session.get(CommitteeMember, member_id), actor=self.cast.user(actor),
            now=self.now))

    def award(self, actor: str) -> bool:
        committee = self.committee()
        finished = committee is not None and committee.report_completed_at is not None
        done = self.attempt("award", lambda: awards.confirm_award(self.tender(), actor=self.cast.user(actor),
                                                                   now=self.now))
        assert finished or not done, "an award was made without a finished evaluation"
        return done

    # --- Rules: the clock ------------------------------------------------------------------------------------------

    @rule(step=st.sampled_from(CLOCK_STEPS))
    def tick(self, step):
        self.now += step

    @precondition(lambda self: self.status() == TenderStatus.PUBLISHED and bidding.live_bid_count(self.tender()))
    @rule(offset=st.sampled_from(MILESTONE_OFFSETS))
    def to_deadline(self, offset):
        """To the bid deadline, give or take (once some bid is in)."""
        self.now = max(self.now, self.tender().bid_deadline + offset)

    @precondition(lambda self: self.active_award() is not None and tender_rules.local_date(self.now)
                  <= self.active_award().challenge_last_day)
    @rule(offset=st.sampled_from(MILESTONE_OFFSETS))
    def to_challenge_end(self, offset):
        """To the first instant after the challenge period (midnight in Beijing), give or take."""
        last_day = self.active_award().challenge_last_day
        self.now = max(self.now, tender_rules.day_start(last_day + timedelta(days=1)) + offset)

    # --- Rules: tendering --------------------------------------------------------------------------------------------

    @precondition(lambda self: self.status() == TenderStatus.DRAFT)
    @rule(actor=st.sampled_from(OFFICERS))
    def publish_tender(self, actor):
        done = self.publish(actor)
        assert done == (actor != "outsider"), f"publishing by {actor}: done {done}"

    @precondition(lambda self: self.around_bidding())
    @rule(kind=st.sampled_from(("bid", "withdraw", "ask", "bid", "ask")), actor=st.sampled_from(NGOS),
          price=st.sampled_from(PRICES), clarify=st.booleans(), affects_bids=st.booleans(),
          officer=st.sampled_from(OFFICERS))
    def bidding_action(self, kind, actor, price, clarify, affects_bids, officer):
        """While bids are taken (or just after): an NGO bids (again: a replacement), withdraws, or asks a question
        that an officer may answer in a clarification."""
        if kind == "bid":
            self.submit_bid(actor, Decimal(price))
        elif kind == "withdraw":
            self.withdraw(actor)
        else:
            self.ask_and_answer(actor, clarify, affects_bids, officer)

    def ask_and_answer(self, actor, clarify, affects_bids, officer):
        """An NGO asks; an officer answers it in a clarification, which may move the deadline (R31, 87-27)."""
        user = self.cast.user(actor)
        asked = []

        self.attempt("ask_question", lambda: asked.append(
            tenders.ask_question(self.tender(), "服务对象的具体人数是多少？", asker=user, now=self.now)))
        if not clarify:
            return
        answerer = self.cast.user(officer)
        before = self.tender().bid_deadline

        def call():
            tender = self.tender()
            view_gate(tender.can_manage(answerer))
            expected = tenders.clarification_deadline(tender, now=self.now, affects_bids=affects_bids,
                                                      calendar=CALENDAR)
            tenders.publish_clarification(tender, "服务对象约200人，详见附件。", question_ids=[q.id for q in asked],
                                          affects_bids=affects_bids, expected_deadline=expected, calendar=CALENDAR,
                                          actor=answerer, now=self.now)

        if self.attempt("clarify", call):
            assert self.tender().bid_deadline >= before, "a clarification brought the deadline forward"

    def withdraw(self, actor):
        user = self.cast.user(actor)
        had = bidding.live_bid(self.tender(), user.organisation) is not None
        done = self.attempt("withdraw_bid", lambda: bidding.withdraw_bid(self.tender(), actor=user, now=self.now))
        assert done == (had and self.phase() == "bidding"), f"withdrawal by {actor}: done {done}"

    @precondition(lambda self: self.status() == TenderStatus.PUBLISHED and not self.tender().opening_started_by_id
                  and self.now >= self.tender().bid_deadline - timedelta(hours=1))
    @rule(actor=st.sampled_from(OFFICERS))
    def start(self, actor):
        self.start_opening(actor)

    @precondition(lambda self: self.status() == TenderStatus.PUBLISHED and self.tender().opening_started_by_id)
    @rule(actor=st.sampled_from(OFFICERS))
    def confirm(self, actor):
        self.confirm_opening(actor)

    @precondition(lambda self: self.status() == TenderStatus.DRAFT or self.phase() == "bidding")
    @rule(actor=st.sampled_from(OFFICERS))
    def cancel(self, actor):
        user = self.cast.user(actor)

        def call():
            tender = self.tender()
            view_gate(tender.can_manage(user))
            tenders.cancel_tender(tender, reason="采购需求发生重大变化", actor=user, now=self.now)

        self.attempt("cancel", call)

    # --- Rules: evaluation -----------------------------------------------------------------------------------------

    @precondition(lambda self: self.status() in (TenderStatus.OPENED, TenderStatus.EVALUATING)
                  and self.committee() is None)
    @rule(actor=st.sampled_from(OFFICERS))
    def form(self, actor):
        self.form_committee(actor)

    @precondition(lambda self: self.evaluating(lambda c: any(m.status == MemberStatus.DRAWN for m in c.members)))
    @rule(data=st.data(), conflict=st.sampled_from((False, False, False, True)), own=st.booleans())
    def declare_seat(self, data, conflict, own):
        """A drawn member declares (or another expert tries to, for them)."""
        drawn = [m for m in self.committee().members if m.status == MemberStatus.DRAWN]
        if not drawn:
            return
        member = data.draw(st.sampled_from(drawn))
        actor = self.name_of(member.user_id) if own else data.draw(st.sampled_from(EXPERTS + ("officer",)))
        done = self.declare(member.id, actor, conflict=conflict)
        assert not done or self.cast.users[actor] == member.user_id, "someone declared for another member"

    @precondition(lambda self: self.evaluating(lambda c: c.qualification_closed_at is None))
    @rule(data=st.data(), actor=st.sampled_from(OFFICERS))
    def chair(self, data, actor):
        members = self.committee().sitting
        self.set_chair(actor, data.draw(st.sampled_from(members)).id)

    @precondition(lambda self: self.evaluating(lambda c: c.qualification_closed_at is None))
    @rule(data=st.data(), as_chair=st.booleans())
    def qualification(self, data, as_chair):
        bids = results.opened_bids(self.tender())
        failing = data.draw(st.sampled_from([None, None, *range(len(bids))]))
        actor = self.chair_name() if as_chair else data.draw(st.sampled_from(EXPERTS))
        self.review_qualification(actor, failing_bid=failing)

    @precondition(lambda self: self.evaluating(lambda c: c.qualification_closed_at and not c.scoring_closed_at))
    @rule(data=st.data(), own=st.sampled_from((True, True, True, False)))
    def score(self, data, own):
        committee = self.committee()
        member = data.draw(st.sampled_from(committee.members))
        actor = self.name_of(member.user_id) if own else data.draw(st.sampled_from(EXPERTS + ("officer",)))
        bids = results.qualified_bids(committee) if committee.qualification_closed_at else []
        points = {(bid.id, c.id): Decimal(data.draw(st.integers(0, c.weight)))
                  for bid in bids for c in self.tender().criteria}
        self.submit_scores(member.id, actor, points)

    @precondition(lambda self: self.evaluating(lambda c: c.qualification_closed_at and not c.scoring_closed_at))
    @rule(as_chair=st.sampled_from((True, True, False)), actor=st.sampled_from(EXPERTS))
    def close(self, as_chair, actor):
        self.close_scoring(self.chair_name() if as_chair else actor)

    @precondition(lambda self: self.evaluating(lambda c: c.qualification_closed_at and not c.scoring_closed_at
                                                 and scoring.undecided_ties(c)))
    @rule(actor=st.sampled_from(OFFICERS))
    def tie(self, actor):
        self.attempt("decide_tie", lambda: scoring.decide_tie(self.committee(), order=None, note="",
                                                              actor=self.cast.user(actor), now=self.now))

    @precondition(lambda self: self.evaluating(lambda c: c.scoring_closed_at and not c.report_completed_at))
    @rule(data=st.data(), own=st.sampled_from((True, True, True, False)))
    def confirm_seat(self, data, own):
        member = data.draw(st.sampled_from(self.committee().members))
        actor = self.name_of(member.user_id) if own else data.draw(st.sampled_from(EXPERTS))
        self.confirm_report(member.id, actor)

    @precondition(lambda self: self.evaluating(lambda c: c.scoring_closed_at))
    @rule(actor=st.sampled_from(OFFICERS))
    def award_tender(self, actor):
        self.award(actor)

    # --- Rules: challenge and contract -----------------------------------------------------------------------------

    @precondition(lambda self: self.active_award() is not None and tender_rules.local_date(self.now)
                  <= self.active_award().challenge_last_day + timedelta(days=1))
    @rule(actor=st.sampled_from(NGOS))
    def challenge(self, actor):
        self.attempt("file_challenge", lambda: awards.file_challenge(
            self.tender(), grounds=GROUNDS, evidence=None, actor=self.cast.user(actor), now=self.now))

    @precondition(lambda self: db.session.scalar(sa.select(Challenge.id).where(
        Challenge.tender_id == self.tender_id, Challenge.status == ChallengeStatus.OPEN)) is not None)
    @rule(actor=st.sampled_from(OFFICERS), upheld=st.booleans(), remedy=st.sampled_from(tuple(Remedy)))
    def answer(self, actor, upheld, remedy):
        challenge = db.session.scalar(sa.select(Challenge).where(
            Challenge.tender_id == self.tender_id, Challenge.status == ChallengeStatus.OPEN))
        self.attempt("answer_challenge", lambda: awards.answer_challenge(
            challenge, upheld=upheld, remedy=remedy, answer="经复核，评分符合评分标准。", actor=self.cast.user(actor),
            now=self.now))

    @precondition(lambda self: self.active_award() is not None and contracts.contract_for_tender(self.tender()) is None
                  and tender_rules.local_date(self.now) >= self.active_award().challenge_last_day)
    @rule(actor=st.sampled_from(OFFICERS))
    def draft(self, actor):
        user = self.cast.user(actor)

        def call():
            award = self.active_award()
            values = contracts.draft_defaults(award, tender_rules.local_date(self.now))
            values["targets"] = "每月探访困难老年人不少于200人次。"
            lines = contracts.default_budget_lines(award.amount, values["start_date"], values["end_date"])
            contracts.draft_contract(award, values, list(contracts.DEFAULT_INSTALLMENTS), lines, actor=user,
                                     now=self.now)

        self.attempt("draft_contract", call)

    @precondition(lambda self: db.session.scalar(sa.select(Contract.id).where(
        Contract.tender_id == self.tender_id)) is not None)
    @rule(data=st.data())
    def sign(self, data):
        contract = contracts.contract_for_tender(self.tender())
        winner = next(n for n in NGOS if self.cast.user(n).organisation_id == contract.supplier_id)
        actor = data.draw(st.sampled_from(("officer", "colleague", "outsider", winner, winner)))
        self.attempt("sign", lambda: contracts.sign(contract, actor=self.cast.user(actor), now=self.now))

    # --- Invariants ------------------------------------------------------------------------------------------------

    @invariant()
    def no_state_skipped(self):
        changes = status_changes(self.tender_id)
        current = TenderStatus.DRAFT
        for old, new in changes:
            assert old == current, f"status history skips from {current} to {old}: {changes}"
            assert tender_rules.can_transition(old, new), f"{old} -> {new} is not an allowed transition"
            current = new
        assert current == self.status(), f"the audit log ends at {current}, the tender is {self.status()}"

    @invariant()
    def bids_in_time_and_opened_as_sealed(self):
        tender = self.tender()
        for bid in db.session.scalars(sa.select(Bid).where(Bid.tender_id == tender.id, Bid.kind == BidKind.BID)):
            assert bid.received_at < tender.bid_deadline, f"bid {bid.id} was received at or after the deadline"
            if bid.opened_price is not None:
                assert bid.opened_price == self.prices[bid.id], f"bid {bid.id} opened at another price"
                assert tender.opened_at is not None
        if tender.opening_confirmed_by_id is not None:
            assert tender.opening_confirmed_by_id != tender.opening_started_by_id
        if tender.opened_at is not None:
            assert tender.opening_confirmed_by_id is not None and tender.opened_at >= tender.bid_deadline

    @invariant()
    def one_award_after_a_finished_evaluation(self):
        all_awards = awards.awards(self.tender())
        active = [a for a in all_awards if a.status == AwardStatus.ACTIVE]
        assert len(active) <= 1, "more than one award in force"
        if active:
            committee = self.committee()
            assert committee.report_completed_at is not None, "an award in force without a finished evaluation"
            assert committee.report_completed_at <= active[0].decided_at
            assert self.status() in (TenderStatus.AWARDED, TenderStatus.CONCLUDED)
        for item in all_awards:
            assert item.bid_id is not None and item.amount == self.prices[item.bid_id], "award at another price"

    @invariant()
    def submitted_scores_unchanged(self):
        for sheet_id, points in self.submitted.items():
            sheet = db.session.get(ScoreSheet, sheet_id)
            assert sheet.submitted_at is not None
            now_points = {(s.bid_id, s.criterion_id): s.points
                          for s in db.session.scalars(sa.select(Score).where(Score.sheet_id == sheet_id))}
            assert now_points == points, f"submitted sheet {sheet_id} changed"

    @invariant()
    def contract_money_consistent(self):
        contracts_ = list(db.session.scalars(sa.select(Contract).where(Contract.tender_id == self.tender_id)))
        assert len({c.award_id for c in contracts_}) == len(contracts_), "two contracts from one award"
        for contract in contracts_:
            award = db.session.get(Award, contract.award_id)
            assert contract.amount == award.amount
            assert sum(i.amount for i in contract.installments) == contract.amount
            assert sum(line.amount for line in contract.budget_lines) == contract.amount
            if contract.signed_at is not None:
                assert contract.officer_signed_at and contract.supplier_signed_at
                assert self.status() == TenderStatus.CONCLUDED

    @invariant()
    def audit_chain_verifies(self):
        report = audit.verify_chain()
        assert report.ok, report.reason
