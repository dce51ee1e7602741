"""Evaluation records: the committee and its members, qualification checks, low-price inquiries, score sheets
and their lawful changes, re-checks, tie decisions, awards and pass-overs, challenges (质疑) and complaints (投诉).

A tender has at most one committee (评标委员会, or the negotiation group 谈判小组 / 单一来源 negotiators). A
re-evaluation after an upheld challenge reuses it and counts up ``Committee.round``. Numbers that decide
something (scores, totals, rank) are never stored twice: results are computed from the sheets every time
(``portal.evaluation.results``) and frozen only in the confirmed report PDF.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organisation, User
from portal.db import Money, TimestampMixin, UTCDateTime, one_of
from portal.evaluation.rules import ChangeReason
from portal.extensions import db
from portal.files import StoredFile
from portal.notices import Notice
from portal.pdf import GeneratedDocument
from portal.tenders.models import Bid, Tender, TenderCriterion, TenderRequirement

SCORE_NUMERIC = sa.Numeric(6, 2)  # a member's points for one criterion: 0 to 100, at most 2 places


class MemberKind(StrEnum):
    EXPERT = "expert"  # 评审专家, drawn at random from the pool
    REPRESENTATIVE = "representative"  # 采购人代表: an officer of the bureau; never the chair (87-45)


class MemberStatus(StrEnum):
    DRAWN = "drawn"  # awaiting the declaration of no conflict; sees no bid
    ACTIVE = "active"  # declared no conflict
    REPLACED = "replaced"  # declared a conflict or was replaced; opinions void (87-49)


MEMBER_STATUS_LABELS = {
    MemberStatus.DRAWN: _l("Awaiting declaration"),
    MemberStatus.ACTIVE: _l("Declared no conflict"),
    MemberStatus.REPLACED: _l("Replaced on the committee"),
}

CHANGE_REASON_LABELS = {
    ChangeReason.ADDITION_ERROR: _l("Addition error (分值汇总计算错误)"),
    ChangeReason.OUT_OF_RANGE: _l("A score outside its range (分项评分超出评分标准规定的评分范围)"),
    ChangeReason.OBJECTIVE_INCONSISTENT: _l("Objective item scored inconsistently (客观评审因素评分不一致)"),
    ChangeReason.ABNORMAL_SCORE: _l("Score found abnormally high or low by the committee (评分畸高、畸低)"),
}


class Committee(TimestampMixin, db.Model):
    """The committee of one tender: its draw (pool, seed, result) and the milestones of its work."""

    __tablename__ = "evaluation_committees"

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), nullable=False, unique=True)
    size: Mapped[int] = mapped_column(nullable=False)
    specialty: Mapped[str] = mapped_column(sa.String(40), nullable=False, default="")
    seed: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    pool: Mapped[str] = mapped_column(sa.Text, nullable=False)  # JSON: eligible expert user ids, sorted
    excluded: Mapped[str] = mapped_column(sa.Text, nullable=False, default="[]")  # JSON: conflicted ids, sorted
    chair_id: Mapped[int | None] = mapped_column(sa.ForeignKey("committee_members.id", use_alter=True,
                                                               name="fk_committee_chair"))
    formed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    formed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    qualification_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    scoring_closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # totalled by the chair
    report_completed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # every member confirmed
    report_document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("generated_documents.id"))
    round: Mapped[int] = mapped_column(nullable=False, default=1)  # counts up with each re-evaluation

    tender: Mapped[Tender] = relationship()
    members: Mapped[list[CommitteeMember]] = relationship(
        back_populates="committee", foreign_keys="CommitteeMember.committee_id", order_by="CommitteeMember.position")
    chair: Mapped[CommitteeMember | None] = relationship(foreign_keys=[chair_id], post_update=True)
    report_document: Mapped[GeneratedDocument | None] = relationship()

    @property
    def pool_ids(self) -> list[int]:
        return json.loads(self.pool)

    @property
    def excluded_ids(self) -> list[int]:
        return json.loads(self.excluded)

    @property
    def sitting(self) -> list[CommitteeMember]:
        """The members whose opinions count: not replaced."""
        return [m for m in self.members if m.status != MemberStatus.REPLACED]

    def member_for(self, user) -> CommitteeMember | None:
        """The user's seat on this committee, if they hold one that is not replaced."""
        if not getattr(user, "is_authenticated", False):
            return None
        return next((m for m in self.sitting if m.user_id == user.id), None)


class CommitteeMember(db.Model):
    __tablename__ = "committee_members"
    __table_args__ = (
        one_of("kind", MemberKind),
        one_of("status", MemberStatus),
        sa.UniqueConstraint("committee_id", "user_id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluation_committees.id"), nullable=False, index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=MemberStatus.DRAWN)
    position: Mapped[int] = mapped_column(nullable=False)  # seat order: draw order, replacements after
    draw_seed: Mapped[str] = mapped_column(sa.String(80), nullable=False, default="")  # "" for a representative
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    conflict_note: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    replaced_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replaced_reason: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    replacement_of_id: Mapped[int | None] = mapped_column(sa.ForeignKey("committee_members.id"))
    report_confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    # A member who disagrees with the report signs it with their dissent and its reasons (87-62).
    report_dissent: Mapped[str] = mapped_column(sa.Text, nullable=False, default="", server_default="")

    committee: Mapped[Committee] = relationship(back_populates="members", foreign_keys=[committee_id])
    user: Mapped[User] = relationship()

    @property
    def is_active(self) -> bool:
        return self.status == MemberStatus.ACTIVE


class QualificationCheck(db.Model):
    """One bid against one qualification or compliance requirement: pass or fail, with the reason."""

    __tablename__ = "qualification_checks"
    __table_args__ = (sa.UniqueConstraint("committee_id", "bid_id", "requirement_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluation_committees.id"), nullable=False, index=True)
    bid_id: Mapped[int] = mapped_column(sa.ForeignKey("bids.id"), nullable=False, index=True)
    requirement_id: Mapped[int] = mapped_column(sa.ForeignKey("tender_requirements.id"), nullable=False)
    passed: Mapped[bool] = mapped_column(nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    bid: Mapped[Bid] = relationship()
    requirement: Mapped[TenderRequirement] = relationship()


class LowPriceInquiry(db.Model):
    """A bid priced abnormally low: its supplier's written justification and the committee's decision (87-60)."""

    __tablename__ = "low_price_inquiries"
    __table_args__ = (sa.UniqueConstraint("committee_id", "bid_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluation_committees.id"), nullable=False, index=True)
    bid_id: Mapped[int] = mapped_column(sa.ForeignKey("bids.id"), nullable=False, index=True)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    # The end of the time given for the written justification (LOW_PRICE_JUSTIFICATION_HOURS after the request);
    # None for inquiries made before the portal set one.
    due_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    justification: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    justified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    justified_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    accepted: Mapped[bool | None] = mapped_column()
    decision_note: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    bid: Mapped[Bid] = relationship()


class ScoreSheet(db.Model):
    """One member's scores for every qualified bid; nobody else's are visible to them until it is submitted."""

    __tablename__ = "score_sheets"
    __table_args__ = (sa.UniqueConstraint("committee_id", "member_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluation_committees.id"), nullable=False, index=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("committee_members.id"), nullable=False)
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    member: Mapped[CommitteeMember] = relationship()
    scores: Mapped[list[Score]] = relationship(back_populates="sheet", cascade="all, delete-orphan",
                                               order_by="Score.id")


class Score(db.Model):
    __tablename__ = "scores"
    __table_args__ = (
        sa.UniqueConstraint("sheet_id", "bid_id", "criterion_id"),
        sa.CheckConstraint("points >= 0", name="points_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    sheet_id: Mapped[int] = mapped_column(sa.ForeignKey("score_sheets.id", ondelete="CASCADE"), nullable=False,
                                          index=True)
    bid_id: Mapped[int] = mapped_column(sa.ForeignKey("bids.id"), nullable=False, index=True)
    criterion_id: Mapped[int] = mapped_column(sa.ForeignKey("tender_criteria.id"), nullable=False)
    points: Mapped[Decimal] = mapped_column(SCORE_NUMERIC, nullable=False)
    comment: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")

    sheet: Mapped[ScoreSheet] = relationship(back_populates="scores")
    criterion: Mapped[TenderCriterion] = relationship()
    changes: Mapped[list[ScoreChange]] = relationship(back_populates="score", order_by="ScoreChange.id")


class ScoreChange(db.Model):
    """A submitted score changed for one of the lawful reasons of 87-64; never deleted."""

    __tablename__ = "score_changes"
    __table_args__ = (one_of("reason", ChangeReason),)

    id: Mapped[int] = mapped_column(primary_key=True)
    score_id: Mapped[int] = mapped_column(sa.ForeignKey("scores.id"), nullable=False, index=True)
    old_points: Mapped[Decimal] = mapped_column(SCORE_NUMERIC, nullable=False)
    new_points: Mapped[Decimal] = mapped_column(SCORE_NUMERIC, nullable=False)
    reason: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    note: Mapped[str] = mapped_column(sa.Text, nullable=False)
    changed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    changed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    score: Mapped[Score] = relationship(back_populates="changes")


class Recheck(db.Model):
    """The chair asks a member to re-check one score (a deviation from the median); the member keeps or changes it."""

    __tablename__ = "score_rechecks"

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluation_committees.id"), nullable=False, index=True)
    member_id: Mapped[int] = mapped_column(sa.ForeignKey("committee_members.id"), nullable=False, index=True)
    bid_id: Mapped[int] = mapped_column(sa.ForeignKey("bids.id"), nullable=False)
    criterion_id: Mapped[int] = mapped_column(sa.ForeignKey("tender_criteria.id"), nullable=False)
    note: Mapped[str] = mapped_column(sa.Text, nullable=False)
    requested_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    requested_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolution: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="")  # "kept" or "changed"

    member: Mapped[CommitteeMember] = relationship()
    bid: Mapped[Bid] = relationship()
    criterion: Mapped[TenderCriterion] = relationship()


class TieBreak(db.Model):
    """The recorded order of bids that tie on total and price (87-68): by the documents' method, else by lot."""

    __tablename__ = "tie_breaks"
    __table_args__ = (sa.UniqueConstraint("committee_id", "round", "bid_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    committee_id: Mapped[int] = mapped_column(sa.ForeignKey("evaluation_committees.id"), nullable=False, index=True)
    round: Mapped[int] = mapped_column(nullable=False, default=1)
    bid_id: Mapped[int] = mapped_column(sa.ForeignKey("bids.id"), nullable=False)
    position: Mapped[int] = mapped_column(nullable=False)  # 1 ranks first within its tied group
    seed: Mapped[str] = mapped_column(sa.String(64), nullable=False, default="")  # drawn by lot; "" if decided
    note: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    decided_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class AwardStatus(StrEnum):
    ACTIVE = "active"
    ANNULLED = "annulled"  # the winner declined or was disqualified, or a challenge was upheld


class Award(db.Model):
    """The chosen supplier (中标/成交供应商), its result notice and award letter, and the challenge window."""

    __tablename__ = "awards"
    __table_args__ = (
        one_of("status", AwardStatus),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.Index("uq_awards_active", "tender_id", unique=True,
                 sqlite_where=sa.text("status = 'active'"), postgresql_where=sa.text("status = 'active'")),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), nullable=False, index=True)
    supplier_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    bid_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bids.id"))  # None for a single source
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=AwardStatus.ACTIVE, index=True)
    deemed: Mapped[bool] = mapped_column(nullable=False, default=False)  # 视同确定 after 5 WD (87-68)
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    notice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notices.id"))
    notice_ends_on: Mapped[date | None] = mapped_column(sa.Date)
    challenge_last_day: Mapped[date | None] = mapped_column(sa.Date, index=True)
    letter_document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("generated_documents.id"))
    annulled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    annulled_reason: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")

    tender: Mapped[Tender] = relationship()
    supplier: Mapped[Organisation] = relationship()
    bid: Mapped[Bid | None] = relationship()
    notice: Mapped[Notice | None] = relationship()
    letter_document: Mapped[GeneratedDocument | None] = relationship()


class PassOverReason(StrEnum):
    DECLINED = "declined"  # the candidate declined (放弃中标/成交)
    DISQUALIFIED = "disqualified"  # found ineligible after the evaluation


PASS_OVER_LABELS = {
    PassOverReason.DECLINED: _l("The candidate declined"),
    PassOverReason.DISQUALIFIED: _l("The candidate was disqualified"),
}


class PassOver(db.Model):
    """Why the award moves past a candidate to the next in rank (87-68, R49)."""

    __tablename__ = "award_pass_overs"
    __table_args__ = (one_of("reason", PassOverReason), sa.UniqueConstraint("tender_id", "supplier_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), nullable=False, index=True)
    supplier_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False)
    reason: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    note: Mapped[str] = mapped_column(sa.Text, nullable=False)
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    supplier: Mapped[Organisation] = relationship()


class ChallengeStatus(StrEnum):
    OPEN = "open"
    REJECTED = "rejected"  # 质疑不成立
    UPHELD = "upheld"  # 质疑成立


class Remedy(StrEnum):
    REEVALUATE = "reevaluate"  # the committee evaluates again (94-16)
    RETENDER = "retender"  # the procurement starts again (94-16)


CHALLENGE_STATUS_LABELS = {
    ChallengeStatus.OPEN: _l("Awaiting answer"),
    ChallengeStatus.REJECTED: _l("Not upheld (质疑不成立)"),
    ChallengeStatus.UPHELD: _l("Upheld (质疑成立)"),
}

REMEDY_LABELS = {
    Remedy.REEVALUATE: _l("Re-evaluation by the committee"),
    Remedy.RETENDER: _l("The procurement starts again"),
}


class Challenge(db.Model):
    """A bidder's 质疑 of the result, with grounds and evidence, answered within 7 WD (L52-L53, 94)."""

    __tablename__ = "challenges"
    __table_args__ = (
        one_of("status", ChallengeStatus),
        sa.CheckConstraint("remedy IS NULL OR status = 'upheld'", name="remedy_when_upheld"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), nullable=False, index=True)
    award_id: Mapped[int] = mapped_column(sa.ForeignKey("awards.id"), nullable=False, index=True)
    supplier_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    filed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    grounds: Mapped[str] = mapped_column(sa.Text, nullable=False)
    evidence_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    received_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    answer_due: Mapped[date] = mapped_column(sa.Date, nullable=False, index=True)
    could_change_result: Mapped[bool] = mapped_column(nullable=False, default=True)  # pauses signing (R54)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=ChallengeStatus.OPEN, index=True)
    remedy: Mapped[str | None] = mapped_column(sa.String(20))
    answer: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    reminded_on: Mapped[date | None] = mapped_column(sa.Date)  # the last day a reminder went out

    tender: Mapped[Tender] = relationship()
    award: Mapped[Award] = relationship()
    supplier: Mapped[Organisation] = relationship()
    evidence_file: Mapped[StoredFile | None] = relationship()


class Complaint(db.Model):
    """A 投诉 to the finance bureau, recorded by the purchaser with its date and outcome (L55-L56, 94)."""

    __tablename__ = "complaints"

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), nullable=False, index=True)
    challenge_id: Mapped[int | None] = mapped_column(sa.ForeignKey("challenges.id"))
    supplier_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False)
    filed_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    authority: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    summary: Mapped[str] = mapped_column(sa.Text, nullable=False)
    outcome: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    decided_on: Mapped[date | None] = mapped_column(sa.Date)
    recorded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    supplier: Mapped[Organisation] = relationship()
    challenge: Mapped[Challenge | None] = relationship()
