"""Performance reviews (绩效评估) of service agreements: rubric templates, each review's own rubric, evidence and
satisfaction surveys, reviewers and their sheets, rectifications (整改) and appeals.

A review copies its rubric from a template when it is planned and can be adjusted until it starts, never after.
Scores are never stored twice: a reviewer's total and the review score are computed from the sheets
(``portal.reviews.rules``); the graded score and grade are kept on the review, frozen in its report PDF.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organisation, User, manages_bureau
from portal.contracts.models import Contract
from portal.db import TimestampMixin, UTCDateTime, one_of
from portal.extensions import db
from portal.files import StoredFile
from portal.pdf import GeneratedDocument
from portal.reviews.rules import Grade, ReviewKind

WEIGHT = sa.Numeric(5, 2)  # an indicator's weight: the first levels add up to 100
POINTS = sa.Numeric(6, 2)  # an indicator's maximum or a reviewer's points, two places

GRADE_LABELS = {
    Grade.EXCELLENT: _l("Excellent (优秀)"),
    Grade.GOOD: _l("Good (良好)"),
    Grade.PASS: _l("Pass (合格)"),
    Grade.FAIL: _l("Fail (不合格)"),
}

REVIEW_KIND_LABELS = {
    ReviewKind.NEEDS: _l("Needs assessment (需求评估)"),
    ReviewKind.SUPERVISION: _l("Supervision review (督导评估)"),
    ReviewKind.MIDTERM: _l("Mid-term review (中期评估)"),
    ReviewKind.YEARLY: _l("Yearly review (年度评估)"),
    ReviewKind.FINAL: _l("Final effectiveness review (末期效果评估)"),
    ReviewKind.RE_REVIEW: _l("Re-review after rectification (整改复评)"),
    ReviewKind.EXTRA: _l("Additional review (专项评估)"),
}


class ReviewStatus(StrEnum):
    PLANNED = "planned"  # rubric, reviewers and dates can change; the NGO can already add evidence
    STARTED = "started"  # rubric frozen; reviewers declare and score
    GRADED = "graded"  # score and grade final (until an upheld appeal reopens the scoring)
    CANCELLED = "cancelled"  # dropped from the plan by the officer, with a reason


REVIEW_STATUS_LABELS = {
    ReviewStatus.PLANNED: _l("Planned"),
    ReviewStatus.STARTED: _l("Under review"),
    ReviewStatus.GRADED: _l("Graded"),
    ReviewStatus.CANCELLED: _l("Cancelled"),
}


def require_contract_in_force(contract: Contract) -> None:
    """Writers of a contract's reviews (evidence, surveys, reviewers, sheets, starting, grading, adding) act only
    while the contract is signed and in force: an ended contract's reviews are cancelled (``contract_ended``)."""
    from portal.contracts.models import ContractStatus
    from portal.errors import DomainError

    if contract.status != ContractStatus.SIGNED:
        raise DomainError(_l("The contract is not in force (signed and not ended): its reviews can no longer "
                             "change."))


class RubricTemplate(TimestampMixin, db.Model):
    """A reusable rubric. The portal's default (no bureau) is read-only; a bureau's officers copy and adjust it."""

    __tablename__ = "rubric_templates"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    bureau_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    bureau: Mapped[Organisation | None] = relationship()
    indicators: Mapped[list[TemplateIndicator]] = relationship(
        back_populates="template", cascade="all, delete-orphan", order_by="TemplateIndicator.position")

    @property
    def is_default(self) -> bool:
        return self.bureau_id is None

    def can_manage(self, user) -> bool:
        return self.bureau_id is not None and manages_bureau(user, self.bureau_id)


class TemplateIndicator(db.Model):
    __tablename__ = "rubric_template_indicators"
    __table_args__ = (sa.CheckConstraint("weight > 0", name="weight_positive"),
                      sa.CheckConstraint("max_score > 0", name="max_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    template_id: Mapped[int] = mapped_column(sa.ForeignKey("rubric_templates.id", ondelete="CASCADE"),
                                             nullable=False, index=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rubric_template_indicators.id",
                                                                ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(nullable=False)  # order within the whole rubric
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    guidance: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")  # what earns the points
    weight: Mapped[Decimal] = mapped_column(WEIGHT, nullable=False)
    max_score: Mapped[Decimal] = mapped_column(POINTS, nullable=False)

    template: Mapped[RubricTemplate] = relationship(back_populates="indicators")


class Review(TimestampMixin, db.Model):
    """One performance review of a contract: planned, started (rubric frozen), graded, or cancelled."""

    __tablename__ = "reviews"
    __table_args__ = (
        one_of("kind", ReviewKind),
        one_of("status", ReviewStatus),
        sa.CheckConstraint("grade IS NULL OR grade IN ('excellent', 'good', 'pass', 'fail')", name="grade_known"),
        sa.CheckConstraint("status != 'graded' OR (score IS NOT NULL AND grade IS NOT NULL)", name="graded_scored"),
        sa.CheckConstraint("period_end >= period_start", name="period"),
        sa.Index("ix_reviews_contract_due", "contract_id", "due_on"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("contracts.id"), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=ReviewStatus.PLANNED, index=True)
    due_on: Mapped[date] = mapped_column(sa.Date, nullable=False, index=True)
    period_start: Mapped[date] = mapped_column(sa.Date, nullable=False)  # the service period under review
    period_end: Mapped[date] = mapped_column(sa.Date, nullable=False)
    year_index: Mapped[int | None] = mapped_column()  # the contract year whose continuation it decides
    opens_payment: Mapped[bool] = mapped_column(nullable=False, default=False)  # at 合格 opens a review gate
    third_party: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")  # assessing organisation
    template_id: Mapped[int | None] = mapped_column(sa.ForeignKey("rubric_templates.id", ondelete="SET NULL"))
    round: Mapped[int] = mapped_column(nullable=False, default=1)  # counts up when an upheld appeal reopens it
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))  # None: the plan at signing
    # The NGO's self-assessment (自评), written before or during the review.
    self_assessment: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    self_assessed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    graded_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    graded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    score: Mapped[Decimal | None] = mapped_column(sa.Numeric(5, 2))  # the mean of the reviewers, out of 100
    grade: Mapped[str | None] = mapped_column(sa.String(20), index=True)
    document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("generated_documents.id"))  # the report PDF
    gate_installment_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contract_installments.id"))
    cancelled_reason: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    # Two failed reviews in a row propose termination to the officer, who decides (terminate or continue).
    termination_proposed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    proposal_decision: Mapped[str] = mapped_column(sa.String(20), nullable=False, default="")
    proposal_note: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    proposal_decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    proposal_decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    contract: Mapped[Contract] = relationship()
    template: Mapped[RubricTemplate | None] = relationship()
    document: Mapped[GeneratedDocument | None] = relationship()
    indicators: Mapped[list[ReviewIndicator]] = relationship(
        back_populates="review", cascade="all, delete-orphan", order_by="ReviewIndicator.position")
    reviewers: Mapped[list[Reviewer]] = relationship(back_populates="review", cascade="all, delete-orphan",
                                                     order_by="Reviewer.id")
    evidence: Mapped[list[Evidence]] = relationship(back_populates="review", order_by="Evidence.id")
    surveys: Mapped[list[SatisfactionSurvey]] = relationship(back_populates="review",
                                                             order_by="SatisfactionSurvey.surveyed_on")
    appeals: Mapped[list[Appeal]] = relationship(back_populates="review", order_by="Appeal.id")

    # Who may do what. Overseers of the bureau (the city bureau, admin) read; the NGO reads its own contract's
    # reviews; assigned reviewers read what they review; only the contracting bureau's officers manage.
    def can_view(self, user) -> bool:
        if self.contract.can_view(user):
            return True
        return self.reviewer_for(user) is not None

    def can_manage(self, user) -> bool:
        return self.contract.can_manage(user)

    def is_supplier(self, user) -> bool:
        return self.contract.is_supplier(user)

    def can_answer_appeal(self, user) -> bool:
        """An officer of the contracting bureau who is not, and never was, one of this review's reviewers (any
        Reviewer row, withdrawn or removed included): nobody answers an appeal against their own scoring."""
        if not self.can_manage(user):
            return False
        return not any(r.user_id == user.id for r in self.reviewers)

    def reviewer_for(self, user) -> Reviewer | None:
        if not getattr(user, "is_authenticated", False):
            return None
        return next((r for r in self.reviewers if r.user_id == user.id and r.status != ReviewerStatus.WITHDRAWN),
                    None)

    @property
    def is_editable(self) -> bool:
        """The rubric, dates and reviewers can change only while the review is planned."""
        return self.status == ReviewStatus.PLANNED


class ReviewIndicator(db.Model):
    """An indicator of one review's own rubric, copied from a template; frozen once the review starts."""

    __tablename__ = "review_indicators"
    __table_args__ = (sa.CheckConstraint("weight > 0", name="weight_positive"),
                      sa.CheckConstraint("max_score > 0", name="max_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(sa.ForeignKey("reviews.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("review_indicators.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(nullable=False)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    guidance: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    weight: Mapped[Decimal] = mapped_column(WEIGHT, nullable=False)
    max_score: Mapped[Decimal] = mapped_column(POINTS, nullable=False)

    review: Mapped[Review] = relationship(back_populates="indicators")


class EvidenceKind(StrEnum):
    SELF_ASSESSMENT = "self_assessment"  # 自评报告
    ACTIVITY = "activity"  # 活动记录
    CASE = "case"  # 个案档案 (kept private: service users' personal data)
    PHOTO = "photo"  # 照片
    FINANCIAL = "financial"  # 财务报表
    OTHER = "other"


EVIDENCE_KIND_LABELS = {
    EvidenceKind.SELF_ASSESSMENT: _l("Self-assessment report (自评报告)"),
    EvidenceKind.ACTIVITY: _l("Activity records (活动记录)"),
    EvidenceKind.CASE: _l("Case files (个案档案)"),
    EvidenceKind.PHOTO: _l("Photos (照片)"),
    EvidenceKind.FINANCIAL: _l("Financial statements (财务报表)"),
    EvidenceKind.OTHER: _l("Other evidence"),
}


class Evidence(db.Model):
    """A file the NGO uploads for a review; visible to the parties, the overseers and the review's reviewers."""

    __tablename__ = "review_evidence"
    __table_args__ = (one_of("kind", EvidenceKind),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(sa.ForeignKey("reviews.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_files.id"), nullable=False)
    note: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    uploaded_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    review: Mapped[Review] = relationship(back_populates="evidence")
    file: Mapped[StoredFile] = relationship()


class SatisfactionSurvey(db.Model):
    """One service-user satisfaction survey (服务对象满意度调查): how many answered and how many were satisfied."""

    __tablename__ = "satisfaction_surveys"
    __table_args__ = (sa.CheckConstraint("respondents > 0", name="respondents_positive"),
                      sa.CheckConstraint("satisfied >= 0 AND satisfied <= respondents", name="satisfied_range"))

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(sa.ForeignKey("reviews.id"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    surveyed_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    method: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")  # 问卷、电话回访、入户访谈…
    respondents: Mapped[int] = mapped_column(nullable=False)
    satisfied: Mapped[int] = mapped_column(nullable=False)
    entered_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    entered_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    review: Mapped[Review] = relationship(back_populates="surveys")


class ReviewerKind(StrEnum):
    OFFICER = "officer"  # an officer of the contracting bureau (督导)
    EXPERT = "expert"  # an expert of the pool
    THIRD_PARTY = "third_party"  # a third-party assessor (第三方评估), for an assessing organisation


REVIEWER_KIND_LABELS = {
    ReviewerKind.OFFICER: _l("Bureau officer"),
    ReviewerKind.EXPERT: _l("Expert"),
    ReviewerKind.THIRD_PARTY: _l("Third-party assessor (第三方评估)"),
}


class ReviewerStatus(StrEnum):
    ASSIGNED = "assigned"  # must declare no conflict before seeing the evidence
    ACTIVE = "active"  # declared no conflict; scores
    WITHDRAWN = "withdrawn"  # declared a conflict or was removed; their sheet does not count


class Reviewer(db.Model):
    """A person who scores one review, with their sheet (``scores``); others' sheets stay hidden until theirs is
    submitted."""

    __tablename__ = "review_reviewers"
    __table_args__ = (one_of("kind", ReviewerKind), one_of("status", ReviewerStatus),
                      sa.UniqueConstraint("review_id", "user_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(sa.ForeignKey("reviews.id", ondelete="CASCADE"), nullable=False,
                                           index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    organisation_name: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")  # the assessor's
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=ReviewerStatus.ASSIGNED)
    assigned_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    assigned_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    declared_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    withdrawn_reason: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    review: Mapped[Review] = relationship(back_populates="reviewers")
    user: Mapped[User] = relationship(foreign_keys=[user_id])
    scores: Mapped[list[ReviewScore]] = relationship(back_populates="reviewer", cascade="all, delete-orphan",
                                                     order_by="ReviewScore.indicator_id")

    @property
    def counts(self) -> bool:
        """Whether this sheet counts in the review score."""
        return self.status == ReviewerStatus.ACTIVE and self.submitted_at is not None


class ReviewScore(db.Model):
    __tablename__ = "review_scores"
    __table_args__ = (sa.UniqueConstraint("reviewer_id", "indicator_id"),
                      sa.CheckConstraint("points >= 0", name="points_not_negative"))

    id: Mapped[int] = mapped_column(primary_key=True)
    reviewer_id: Mapped[int] = mapped_column(sa.ForeignKey("review_reviewers.id", ondelete="CASCADE"),
                                             nullable=False, index=True)
    indicator_id: Mapped[int] = mapped_column(sa.ForeignKey("review_indicators.id", ondelete="CASCADE"),
                                              nullable=False)
    points: Mapped[Decimal] = mapped_column(POINTS, nullable=False)
    comment: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")

    reviewer: Mapped[Reviewer] = relationship(back_populates="scores")
    indicator: Mapped[ReviewIndicator] = relationship()


class RectificationStatus(StrEnum):
    AWAITING_PLAN = "awaiting_plan"  # the NGO writes its plan (整改方案) by plan_due_on
    PLAN_SUBMITTED = "plan_submitted"  # the officer accepts it (a re-review is planned) or returns it
    IN_PROGRESS = "in_progress"  # plan accepted; the re-review is due on due_on
    CLOSED = "closed"  # the re-review was graded, or an upheld appeal lifted the failure, or the contract ended


RECTIFICATION_STATUS_LABELS = {
    RectificationStatus.AWAITING_PLAN: _l("Awaiting the rectification plan"),
    RectificationStatus.PLAN_SUBMITTED: _l("Plan submitted"),
    RectificationStatus.IN_PROGRESS: _l("Rectification under way"),
    RectificationStatus.CLOSED: _l("Closed"),
}


class Rectification(TimestampMixin, db.Model):
    """整改 after a review graded 不合格: the NGO's plan with a due date, then a re-review."""

    __tablename__ = "rectifications"
    __table_args__ = (one_of("status", RectificationStatus),)

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(sa.ForeignKey("reviews.id"), nullable=False, unique=True)  # the failure
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("contracts.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=RectificationStatus.AWAITING_PLAN,
                                        index=True)
    plan_due_on: Mapped[date] = mapped_column(sa.Date, nullable=False)
    plan: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    plan_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    due_on: Mapped[date | None] = mapped_column(sa.Date)  # the NGO's completion date
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    decided_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    decision_note: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    re_review_id: Mapped[int | None] = mapped_column(sa.ForeignKey("reviews.id"))
    closed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    closed_reason: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")

    review: Mapped[Review] = relationship(foreign_keys=[review_id])
    re_review: Mapped[Review | None] = relationship(foreign_keys=[re_review_id])
    contract: Mapped[Contract] = relationship()
    plan_file: Mapped[StoredFile | None] = relationship()


class AppealStatus(StrEnum):
    OPEN = "open"
    UPHELD = "upheld"  # the scoring is reopened; the re-graded result replaces the old one
    DISMISSED = "dismissed"  # the grade stands


APPEAL_STATUS_LABELS = {
    AppealStatus.OPEN: _l("Awaiting the answer"),
    AppealStatus.UPHELD: _l("Upheld: the review is re-scored"),
    AppealStatus.DISMISSED: _l("Dismissed: the grade stands"),
}


class Appeal(db.Model):
    """The NGO contests a graded review within 5 working days with reasons; the officer answers."""

    __tablename__ = "review_appeals"
    __table_args__ = (one_of("status", AppealStatus), sa.UniqueConstraint("review_id", "round"))

    id: Mapped[int] = mapped_column(primary_key=True)
    review_id: Mapped[int] = mapped_column(sa.ForeignKey("reviews.id"), nullable=False, index=True)
    round: Mapped[int] = mapped_column(nullable=False)  # the review's grading round contested (one appeal each)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=AppealStatus.OPEN)
    reasons: Mapped[str] = mapped_column(sa.Text, nullable=False)
    filed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    filed_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    score_before: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2), nullable=False)
    grade_before: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    answer: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    answered_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    answered_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    review: Mapped[Review] = relationship(back_populates="appeals")

