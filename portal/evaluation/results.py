"""The evaluation's results computed from its records: who is in, each bid's scores, and the ranking.

Nothing here writes. Scores and ranks are never stored: every page, the report and the award compute them
from the submitted sheets, the qualification checks, the low-price decisions and the recorded tie breaks,
through the exact arithmetic of ``portal.evaluation.rules``.

Which bids take part, by method:
- open and invited tenders (综合评分法): every opened live bid that passed every requirement and whose
  abnormally low price, if any, was justified; ranked by total, then price, then tie break (87-57);
- competitive negotiation: the final quotes of the suppliers whose first response passed every
  requirement, at least 3 of them (74-37); ranked by price, then tie break (74-35);
- single source: the one supplier at the agreed price.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal

import sqlalchemy as sa

from portal.evaluation import rules
from portal.evaluation.models import (
    Committee,
    LowPriceInquiry,
    MemberStatus,
    QualificationCheck,
    Score,
    ScoreSheet,
    TieBreak,
)
from portal.extensions import db
from portal.tenders.models import Bid, BidKind, BidStatus, EvaluationMethod, Method, Tender
from portal.tenders.rules import MIN_NEGOTIATION_SUPPLIERS, Problem


def opened_bids(tender: Tender) -> list[Bid]:
    """The live bids (first responses) that were opened, in order of receipt."""
    return list(db.session.scalars(
        sa.select(Bid).where(Bid.tender_id == tender.id, Bid.kind == BidKind.BID, Bid.status == BidStatus.SUBMITTED,
                             Bid.opened_price.is_not(None)).order_by(Bid.received_at, Bid.id)))


def failed_requirements(committee: Committee) -> dict[int, list[QualificationCheck]]:
    """The failed checks of each bid that failed at least one requirement, by bid id."""
    failed: dict[int, list[QualificationCheck]] = defaultdict(list)
    for check in db.session.scalars(sa.select(QualificationCheck).where(
            QualificationCheck.committee_id == committee.id, QualificationCheck.passed.is_(False))
            .order_by(QualificationCheck.id)):
        failed[check.bid_id].append(check)
    return dict(failed)


def rejected_low_prices(committee: Committee) -> set[int]:
    return set(db.session.scalars(sa.select(LowPriceInquiry.bid_id).where(
        LowPriceInquiry.committee_id == committee.id, LowPriceInquiry.accepted.is_(False))))


def pending_low_prices(committee: Committee) -> set[int]:
    """Bids asked to justify a low price whose justification is not yet accepted or rejected."""
    return set(db.session.scalars(sa.select(LowPriceInquiry.bid_id).where(
        LowPriceInquiry.committee_id == committee.id, LowPriceInquiry.accepted.is_(None))))


def qualified_bids(committee: Committee) -> list[Bid]:
    """The opened bids that passed every requirement and were not ruled out for an unjustified low price."""
    out = set(failed_requirements(committee)) | rejected_low_prices(committee)
    return [bid for bid in opened_bids(committee.tender) if bid.id not in out]


def final_quotes_by_supplier(tender: Tender) -> dict[int, Bid]:
    quotes = db.session.scalars(sa.select(Bid).where(
        Bid.tender_id == tender.id, Bid.kind == BidKind.FINAL_QUOTE, Bid.status == BidStatus.SUBMITTED,
        Bid.opened_price.is_not(None)))
    return {quote.supplier_id: quote for quote in quotes}


def submitted_sheets(committee: Committee) -> dict[int, dict[int, dict[int, Decimal]]]:
    """Points by bid, then sitting member, then criterion, from the submitted sheets only."""
    rows = db.session.execute(
        sa.select(Score.bid_id, ScoreSheet.member_id, Score.criterion_id, Score.points)
        .join(ScoreSheet, Score.sheet_id == ScoreSheet.id)
        .where(ScoreSheet.committee_id == committee.id, ScoreSheet.submitted_at.is_not(None)))
    sitting = {m.id for m in committee.members if m.status == MemberStatus.ACTIVE}
    sheets: dict[int, dict[int, dict[int, Decimal]]] = defaultdict(lambda: defaultdict(dict))
    for bid_id, member_id, criterion_id, points in rows:
        if member_id in sitting:
            sheets[bid_id][member_id][criterion_id] = points
    return {bid: dict(members) for bid, members in sheets.items()}


@dataclass(frozen=True)
class TieDecision:
    """One recorded decision between tied bids: the rows one ``scoring.decide_tie`` wrote together."""

    round: int
    rows: tuple[TieBreak, ...]

    @property
    def positions(self) -> dict[int, int]:
        return {row.bid_id: row.position for row in self.rows}


def tie_decisions(committee: Committee) -> list[TieDecision]:
    """Every tie decision of the committee in every round, the newest first.

    A decision's rows share their round, time, officer, seed and note and were written in order of position
    from 1, so a new decision starts wherever one of these changes or the position starts again at 1.
    """
    rows = db.session.scalars(sa.select(TieBreak).where(TieBreak.committee_id == committee.id)
                              .order_by(TieBreak.round, TieBreak.id))
    decisions: list[list[TieBreak]] = []
    for row in rows:
        last = decisions[-1][-1] if decisions else None
        same = last is not None and row.position != 1 and (
            (last.round, last.decided_at, last.decided_by_id, last.seed, last.note)
            == (row.round, row.decided_at, row.decided_by_id, row.seed, row.note))
        if same:
            decisions[-1].append(row)
        else:
            decisions.append([row])
    return [TieDecision(group[0].round, tuple(group)) for group in reversed(decisions)]


def _decided_ties(committee: Committee, groups: list[list[int]]) -> list[TieDecision]:
    """For each group of bids tied now, the newest decision between exactly these bids, in any round.

    A re-evaluation (a new round) thus keeps a tie already decided, by lot or by the documents, as long as the
    same bids still tie: a new round cannot draw the lot again. A tie between other bids needs a new decision.
    """
    if not groups:
        return []
    decisions = tie_decisions(committee)
    applied = []
    for group in groups:
        decision = next((d for d in decisions if set(d.positions) == set(group)), None)
        if decision is not None:
            applied.append(decision)
    return applied


def tie_breaks(committee: Committee, groups: list[list[int]]) -> tuple[dict[int, int], list[TieDecision]]:
    """The tie-break positions by bid id for the groups of bids tied now, and the decisions they come from."""
    applied = _decided_ties(committee, groups)
    return {bid_id: position for d in applied for bid_id, position in d.positions.items()}, applied


@dataclass(frozen=True)
class ResultRow:
    """One candidate's result. ``bid_id`` is its first response (None for a single source)."""

    supplier_id: int
    supplier_name: str
    bid_id: int | None
    price: Decimal
    quality: Decimal | None = None
    price_score: Decimal | None = None
    total: Decimal | None = None
    criterion_means: dict[int, Decimal] = field(default_factory=dict)
    rank: int | None = None


@dataclass(frozen=True)
class Results:
    """The candidates in rank order (unranked, in bid order, while ``problems`` says why not)."""

    rows: list[ResultRow]
    problems: list[Problem]
    ties: list[TieDecision] = field(default_factory=list)  # the tie decisions the ranking applies

    @property
    def ranked(self) -> bool:
        return not self.problems and all(row.rank is not None for row in self.rows)

    def for_supplier(self, supplier_id: int) -> ResultRow | None:
        return next((row for row in self.rows if row.supplier_id == supplier_id), None)


def _rank_rows(rows: list[ResultRow], ranking: list) -> list[ResultRow]:
    position = {bid_id: index for index, bid_id in enumerate(ranking, start=1)}
    ranked = [ResultRow(**{**row.__dict__, "rank": position[row.bid_id]}) for row in rows]
    return sorted(ranked, key=lambda row: row.rank)


def _comprehensive(committee: Committee, bids: list[Bid]) -> Results:
    tender = committee.tender
    sheets = submitted_sheets(committee)
    criteria = {c.id for c in tender.criteria}
    problems = []
    if any(member.status == MemberStatus.DRAWN for member in committee.members):
        problems.append(Problem("declarations_pending"))
    complete = bids and all(
        bid.id in sheets and sheets[bid.id] and all(set(sheet) == criteria for sheet in sheets[bid.id].values())
        and set(sheets[bid.id]) == {m.id for m in committee.members if m.status == MemberStatus.ACTIVE}
        for bid in bids)
    if not complete:
        problems.append(Problem("scoring_incomplete"))
        rows = [ResultRow(b.supplier_id, b.supplier.name, b.id, b.opened_price) for b in bids]
        return Results(rows, problems)
    scored = rules.score_bids({b.id: sheets[b.id] for b in bids}, {b.id: b.opened_price for b in bids},
                              tender.price_weight)
    rows = [ResultRow(b.supplier_id, b.supplier.name, b.id, b.opened_price, scored[b.id].quality,
                      scored[b.id].price_score, scored[b.id].total, scored[b.id].criterion_means) for b in bids]
    tied = [p.params["ids"] for p in rules.tie_problems(
        [rules.Candidate(row.bid_id, row.total, row.price) for row in rows])]
    breaks, applied = tie_breaks(committee, tied)
    candidates = [rules.Candidate(row.bid_id, row.total, row.price, breaks.get(row.bid_id)) for row in rows]
    tie = rules.tie_problems(candidates)
    if tie or problems:
        return Results(rows, problems + tie, applied)
    return Results(_rank_rows(rows, rules.rank(candidates)), [], applied)


def _lowest_price(committee: Committee, bids: list[Bid]) -> Results:
    quotes = final_quotes_by_supplier(committee.tender)
    rows = [ResultRow(b.supplier_id, b.supplier.name, b.id, quotes[b.supplier_id].opened_price)
            for b in bids if b.supplier_id in quotes]
    if not quotes:
        return Results(rows, [Problem("final_quotes_pending")])
    if len(rows) < MIN_NEGOTIATION_SUPPLIERS:  # a quote of a supplier out after the review does not count
        return Results(rows, [Problem("too_few_final_quotes", "74-37",
                                      {"count": len(rows), "min": MIN_NEGOTIATION_SUPPLIERS})])
    tied = [p.params["ids"] for p in rules.price_tie_problems([rules.Quote(row.bid_id, row.price) for row in rows])]
    breaks, applied = tie_breaks(committee, tied)
    offers = [rules.Quote(row.bid_id, row.price, breaks.get(row.bid_id)) for row in rows]
    tie = rules.price_tie_problems(offers)
    if tie:
        return Results(rows, tie, applied)
    return Results(_rank_rows(rows, rules.rank_by_price(offers)), [], applied)


def results(committee: Committee) -> Results:
    """The committee's current results: the candidates, their scores and, once decidable, their rank."""
    tender = committee.tender
    if tender.method == Method.SINGLE_SOURCE:
        supplier = tender.single_source_supplier
        if tender.agreed_price is None:
            return Results([], [Problem("agreement_pending")])
        return Results([ResultRow(supplier.id, supplier.name, None, tender.agreed_price, rank=1)], [])
    if committee.qualification_closed_at is None:
        return Results([], [Problem("qualification_open")])
    bids = qualified_bids(committee)
    pending = pending_low_prices(committee)
    if pending:
        return Results([], [Problem("justification_pending", "87-60")])
    if tender.evaluation_method == EvaluationMethod.COMPREHENSIVE:
        return _comprehensive(committee, bids)
    return _lowest_price(committee, bids)


def committee_for(tender: Tender) -> Committee | None:
    return db.session.scalar(sa.select(Committee).where(Committee.tender_id == tender.id))
