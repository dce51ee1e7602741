"""Tenders, their criteria and requirements, invitations and draws, questions and
clarifications, single-source objections, negotiation rounds, and sealed bids."""

from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organisation, manages_bureau, oversees_bureau
from portal.db import Money, TimestampMixin, UTCDateTime, one_of, utcnow
from portal.extensions import db
from portal.files import StoredFile
from portal.permissions import Role
from portal.projects.models import ServiceProject


class Method(StrEnum):
    OPEN = "open"  # 公开招标
    INVITED = "invited"  # 邀请招标
    NEGOTIATION = "negotiation"  # 竞争性谈判
    SINGLE_SOURCE = "single_source"  # 单一来源


METHOD_LABELS = {
    Method.OPEN: _l("Open tender (公开招标)"),
    Method.INVITED: _l("Invited tender (邀请招标)"),
    Method.NEGOTIATION: _l("Competitive negotiation (竞争性谈判)"),
    Method.SINGLE_SOURCE: _l("Single source (单一来源)"),
}


class TenderStatus(StrEnum):
    """Stored states; the phase shown to users also depends on the clock (see rules.phase)."""

    DRAFT = "draft"
    PUBLISHED = "published"  # notice out; bidding, or the single-source 公示
    NEGOTIATING = "negotiating"  # negotiation rounds (竞争性谈判) or single-source price talks
    OPENED = "opened"
    EVALUATING = "evaluating"
    AWARDED = "awarded"
    CONCLUDED = "concluded"
    FAILED = "failed"  # 废标 / 终止
    CANCELLED = "cancelled"


STATUS_LABELS = {
    TenderStatus.DRAFT: _l("Draft"),
    TenderStatus.PUBLISHED: _l("Published"),
    TenderStatus.NEGOTIATING: _l("Negotiating"),
    TenderStatus.OPENED: _l("Opened"),
    TenderStatus.EVALUATING: _l("Evaluating"),
    TenderStatus.AWARDED: _l("Awarded"),
    TenderStatus.CONCLUDED: _l("Concluded"),
    TenderStatus.FAILED: _l("Failed (废标/终止)"),
    TenderStatus.CANCELLED: _l("Cancelled"),
}


class EvaluationMethod(StrEnum):
    COMPREHENSIVE = "comprehensive"  # 综合评分法
    LOWEST_PRICE = "lowest_price"  # 最低评标价法 / lowest compliant final quote


EVALUATION_METHOD_LABELS = {
    EvaluationMethod.COMPREHENSIVE: _l("Comprehensive scoring (综合评分法)"),
    EvaluationMethod.LOWEST_PRICE: _l("Lowest price (最低价)"),
}


class MethodGround(StrEnum):
    """Lawful grounds for a method other than open tender (L29-L31, R26-R27, 74-27)."""

    FEW_SUPPLIERS = "few_suppliers"  # 邀请招标: few suppliers can do it
    COST_DISPROPORTIONATE = "cost_disproportionate"  # 邀请招标: tendering costs too much
    TENDER_FAILED = "tender_failed"  # 谈判: the tender failed
    CANNOT_SPECIFY = "cannot_specify"  # 谈判: requirement cannot be specified
    URGENT = "urgent"  # 谈判: urgency not caused by the purchaser
    PRICE_UNKNOWN = "price_unknown"  # 谈判: service time or quantity unknown
    ONLY_SUPPLIER = "only_supplier"  # 单一来源: only one supplier
    EMERGENCY = "emergency"  # 单一来源: unforeseeable emergency
    ADD_ON = "add_on"  # 单一来源: add-on purchase, at most 10%


GROUND_LABELS = {
    MethodGround.FEW_SUPPLIERS: _l("Only a few suppliers can provide the service (L29)"),
    MethodGround.COST_DISPROPORTIONATE: _l("An open tender would cost too much relative to the project (L29)"),
    MethodGround.TENDER_FAILED: _l("The tender failed: no or too few qualified bids (L30)"),
    MethodGround.CANNOT_SPECIFY: _l("The requirement cannot be specified in detail (L30)"),
    MethodGround.URGENT: _l("Urgency not caused by the purchaser (L30)"),
    MethodGround.PRICE_UNKNOWN: _l("The price cannot be calculated in advance (L30)"),
    MethodGround.ONLY_SUPPLIER: _l("Only one supplier can provide the service (L31)"),
    MethodGround.EMERGENCY: _l("An unforeseeable emergency (L31)"),
    MethodGround.ADD_ON: _l("An add-on purchase of at most a tenth of the original contract (L31)"),
}



class Tender(TimestampMixin, db.Model):
    __tablename__ = "tenders"
    __table_args__ = (
        one_of("method", Method),
        one_of("status", TenderStatus),
        one_of("evaluation_method", EvaluationMethod),
        sa.CheckConstraint("budget > 0", name="budget_positive"),
        sa.CheckConstraint("ceiling_price IS NULL OR (ceiling_price > 0 AND ceiling_price <= budget)",
                           name="ceiling_within_budget"),
        sa.CheckConstraint("price_weight BETWEEN 0 AND 100", name="price_weight"),
        sa.CheckConstraint("status != 'draft' OR published_at IS NULL", name="draft_unpublished"),
        sa.CheckConstraint("status = 'draft' OR status = 'cancelled' OR published_at IS NOT NULL",
                           name="published_has_time"),
        sa.CheckConstraint("opening_confirmed_by_id IS NULL OR opening_confirmed_by_id != opening_started_by_id",
                           name="two_officers_open"),
        # The public order of processes (OCDS pages, the dashboards' year filter).
        sa.Index("ix_tenders_published_order", "published_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("service_projects.id"), nullable=False, index=True)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    reference: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    method: Mapped[str] = mapped_column(sa.String(20), nullable=False, index=True)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=TenderStatus.DRAFT, index=True)
    budget: Mapped[Decimal] = mapped_column(Money, nullable=False)
    ceiling_price: Mapped[Decimal | None] = mapped_column(Money)  # 最高限价; a floor is never allowed
    service_content: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    evaluation_method: Mapped[str] = mapped_column(sa.String(20), nullable=False,
                                                   default=EvaluationMethod.COMPREHENSIVE)
    price_weight: Mapped[int] = mapped_column(nullable=False, default=10)
    complex: Mapped[bool] = mapped_column(nullable=False, default=False)  # complex or high social impact
    # Method justification and approvals
    method_ground: Mapped[str | None] = mapped_column(sa.String(40))
    justification: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    approval_document: Mapped[str] = mapped_column(sa.String(120), nullable=False, default="")
    approval_date: Mapped[date | None] = mapped_column(sa.Date)
    approval_body: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    single_source_supplier_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"))
    # Timetable: dates are Beijing calendar days; the deadline is an instant (UTC)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notice_until: Mapped[date | None] = mapped_column(sa.Date)
    documents_from: Mapped[date | None] = mapped_column(sa.Date)
    documents_until: Mapped[date | None] = mapped_column(sa.Date)
    bid_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    # Opening by two different officers of the bureau
    opening_started_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    opening_started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opening_confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    opened_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    opening_record_id: Mapped[int | None] = mapped_column(sa.ForeignKey("generated_documents.id"))
    # Single source: approval after the 公示, then the negotiated price
    agreed_price: Mapped[Decimal | None] = mapped_column(Money)
    negotiation_record: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    # Ends
    failed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failure_reason: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    previous_tender_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tenders.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    project: Mapped[ServiceProject] = relationship()
    bureau: Mapped[Organisation] = relationship(foreign_keys=[bureau_id])
    single_source_supplier: Mapped[Organisation | None] = relationship(foreign_keys=[single_source_supplier_id])
    criteria: Mapped[list[TenderCriterion]] = relationship(
        back_populates="tender", cascade="all, delete-orphan", order_by="TenderCriterion.position")
    requirements: Mapped[list[TenderRequirement]] = relationship(
        back_populates="tender", cascade="all, delete-orphan", order_by="TenderRequirement.position")
    invitations: Mapped[list[TenderInvitation]] = relationship(back_populates="tender", cascade="all, delete-orphan")
    bids: Mapped[list[Bid]] = relationship(back_populates="tender")
    previous_tender: Mapped[Tender | None] = relationship(remote_side=[id])

    @property
    def sealing_scope(self) -> str:
        return f"tender:{self.id}"

    @property
    def is_opened(self) -> bool:
        return self.opened_at is not None

    @property
    def price_cap(self) -> Decimal:
        """The highest acceptable price: the ceiling if set, else the budget."""
        return self.ceiling_price if self.ceiling_price is not None else self.budget

    def is_invited(self, organisation_id: int) -> bool:
        return any(inv.supplier_id == organisation_id for inv in self.invitations)

    def can_view(self, user) -> bool:
        """Published tenders are public; drafts only for the bureau's officers (and the city bureau)."""
        if self.published_at is not None:
            return True
        return self.can_oversee(user)

    def can_oversee(self, user) -> bool:
        return oversees_bureau(user, self.bureau)

    def can_manage(self, user) -> bool:
        """Officers of the tender's own bureau run it."""
        return manages_bureau(user, self.bureau_id)

    def can_view_opening(self, user) -> bool:
        """The opening record: the bureau's officers (and the city bureau's) and admin; suppliers that bid."""
        if self.can_oversee(user):
            return True
        if not (getattr(user, "is_authenticated", False) and user.role == Role.SUPPLIER):
            return False
        return any(bid.supplier_id == user.organisation_id for bid in self.bids)


class FactorType(StrEnum):
    """Catalogue of scoring factors. The last four are unlawful and always refused (RULES-CN B); the criteria form
    never offers them."""

    SERVICE_PLAN = "service_plan"  # 服务方案
    TEAM = "team"  # 项目团队与专业能力 (the staff proposed for this service)
    EXPERIENCE = "experience"  # 同类项目经验 (not tied to a region or industry)
    MANAGEMENT = "management"  # 项目管理与质量保障
    RESOURCES = "resources"  # 资源链接与社区基础
    OTHER = "other"  # free text, checked for banned terms
    REGIONAL_AWARD = "regional_award"  # banned: awards/performance in a region or industry as points
    SIZE = "size"  # banned: registered capital, revenue, staff numbers, years in business
    QUALIFICATION = "qualification"  # banned: a qualification condition reused as a scoring factor
    COMMENDATION = "commendation"  # banned: commendations, assessment or review grades, funding tilts (issue 8)


FACTOR_LABELS = {
    FactorType.SERVICE_PLAN: _l("Service plan"),
    FactorType.TEAM: _l("Project team and professional competence"),
    FactorType.EXPERIENCE: _l("Experience of similar projects"),
    FactorType.MANAGEMENT: _l("Project management and quality assurance"),
    FactorType.RESOURCES: _l("Community resources and links"),
    FactorType.OTHER: _l("Other (described)"),
    FactorType.REGIONAL_AWARD: _l("Awards or performance in a given region or industry"),
    FactorType.SIZE: _l("Size of the organisation (capital, revenue, staff, years)"),
    FactorType.QUALIFICATION: _l("A qualification condition"),
    FactorType.COMMENDATION: _l("Commendations, yearly assessment or review grades, or funding tilts"),
}


class TenderCriterion(db.Model):
    """A non-price scoring factor with its weight (points out of 100)."""

    __tablename__ = "tender_criteria"
    __table_args__ = (
        one_of("factor_type", FactorType),
        sa.CheckConstraint("weight > 0 AND weight <= 100", name="weight"),
        sa.UniqueConstraint("tender_id", "position"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(nullable=False)
    factor_type: Mapped[str] = mapped_column(sa.String(30), nullable=False)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    weight: Mapped[int] = mapped_column(nullable=False)

    tender: Mapped[Tender] = relationship(back_populates="criteria")


class TenderRequirement(db.Model):
    """A qualification requirement (资格条件): each bid passes or fails each one."""

    __tablename__ = "tender_requirements"
    __table_args__ = (sa.UniqueConstraint("tender_id", "position"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id", ondelete="CASCADE"), nullable=False)
    position: Mapped[int] = mapped_column(nullable=False)
    text: Mapped[str] = mapped_column(sa.Text, nullable=False)

    tender: Mapped[Tender] = relationship(back_populates="requirements")


class InvitationSource(StrEnum):
    DRAW = "draw"  # drawn at random (邀请招标)
    RECOMMENDED = "recommended"  # written recommendation
    DIRECT = "direct"  # negotiation / single source: named by the purchaser


class TenderInvitation(db.Model):
    __tablename__ = "tender_invitations"
    __table_args__ = (sa.UniqueConstraint("tender_id", "supplier_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id", ondelete="CASCADE"), nullable=False, index=True)
    supplier_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    source: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")  # why recommended (published)
    invited_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    tender: Mapped[Tender] = relationship(back_populates="invitations")
    supplier: Mapped[Organisation] = relationship()


class PoolSource(StrEnum):
    PREQUALIFICATION = "prequalification"  # 资格预审公告
    DATABASE = "database"  # the supplier database
    RECOMMENDATION = "recommendation"  # written recommendation


class SupplierDraw(db.Model):
    """A witnessed random draw of suppliers to invite (邀请招标, 87-14): reproducible from its seed."""

    __tablename__ = "supplier_draws"
    __table_args__ = (sa.CheckConstraint("witness1_id != witness2_id", name="two_witnesses"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id", ondelete="CASCADE"), nullable=False, index=True)
    pool_source: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    pool: Mapped[str] = mapped_column(sa.Text, nullable=False)  # JSON list of organisation ids, sorted
    count: Mapped[int] = mapped_column(nullable=False)
    seed: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    result: Mapped[str] = mapped_column(sa.Text, nullable=False)  # JSON list of drawn ids, in draw order
    witness1_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    witness2_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    drawn_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    @property
    def pool_ids(self) -> list[int]:
        return json.loads(self.pool)

    @property
    def result_ids(self) -> list[int]:
        return json.loads(self.result)


class Question(db.Model):
    """A supplier's clarification question; the asker is never shown to other suppliers."""

    __tablename__ = "tender_questions"

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id", ondelete="CASCADE"), nullable=False, index=True)
    supplier_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    asked_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    text: Mapped[str] = mapped_column(sa.Text, nullable=False)
    asked_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    clarification_id: Mapped[int | None] = mapped_column(sa.ForeignKey("tender_clarifications.id"))

    clarification: Mapped[Clarification | None] = relationship(back_populates="questions")
    supplier: Mapped[Organisation] = relationship()


class Clarification(db.Model):
    """A published clarification or change (澄清/修改) with its effect on the deadline."""

    __tablename__ = "tender_clarifications"
    __table_args__ = (sa.UniqueConstraint("tender_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id", ondelete="CASCADE"), nullable=False, index=True)
    number: Mapped[int] = mapped_column(nullable=False)
    text: Mapped[str] = mapped_column(sa.Text, nullable=False)
    affects_bids: Mapped[bool] = mapped_column(nullable=False, default=True)
    published_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    deadline_before: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    deadline_after: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    published_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)

    questions: Mapped[list[Question]] = relationship(back_populates="clarification")


class Objection(db.Model):
    """An objection to a single-source notice (单一来源公示异议), to be answered before approval."""

    __tablename__ = "tender_objections"

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id", ondelete="CASCADE"), nullable=False, index=True)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    contact: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    text: Mapped[str] = mapped_column(sa.Text, nullable=False)
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    response: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))


class NegotiationRound(db.Model):
    """A round of competitive negotiation; its changes go to every remaining supplier in writing."""

    __tablename__ = "negotiation_rounds"
    __table_args__ = (sa.UniqueConstraint("tender_id", "number"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id", ondelete="CASCADE"), nullable=False, index=True)
    number: Mapped[int] = mapped_column(nullable=False)
    changes: Mapped[str] = mapped_column(sa.Text, nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    final_quote_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime)
    issued_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)


class BidStatus(StrEnum):
    SUBMITTED = "submitted"  # the live bid
    REPLACED = "replaced"
    WITHDRAWN = "withdrawn"
    EXCLUDED = "excluded"  # left the negotiation


class BidKind(StrEnum):
    BID = "bid"  # a bid, or a negotiation's first response
    FINAL_QUOTE = "final_quote"  # 最后报价 in competitive negotiation


class Bid(db.Model):
    """A sealed bid: price and files encrypted with the tender's key until the opening."""

    __tablename__ = "bids"
    __table_args__ = (
        one_of("status", BidStatus),
        one_of("kind", BidKind),
        # One live bid per supplier per tender (and per kind).
        sa.Index("uq_bids_live", "tender_id", "supplier_id", "kind", unique=True,
                 sqlite_where=sa.text("status = 'submitted'"), postgresql_where=sa.text("status = 'submitted'")),
        sa.CheckConstraint("opened_price IS NULL OR opened_price > 0", name="opened_price_positive"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), nullable=False, index=True)
    supplier_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    submitted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=BidKind.BID)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=BidStatus.SUBMITTED, index=True)
    sealed_price: Mapped[bytes] = mapped_column(sa.LargeBinary, nullable=False)
    price_sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)
    receipt_sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)  # over price and file hashes
    received_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    withdrawn_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    replaced_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("bids.id"))
    opened_price: Mapped[Decimal | None] = mapped_column(Money)  # filled at the opening, never before
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, default=utcnow)

    tender: Mapped[Tender] = relationship(back_populates="bids")
    supplier: Mapped[Organisation] = relationship()
    files: Mapped[list[BidFile]] = relationship(back_populates="bid", cascade="all, delete-orphan",
                                                order_by="BidFile.id")

    def is_own(self, user) -> bool:
        return (getattr(user, "is_authenticated", False) and user.role == Role.SUPPLIER
                and user.organisation_id == self.supplier_id)

    def can_view(self, user) -> bool:
        """Its own supplier always; the bureau's officers and admin only once the tender is opened."""
        if self.is_own(user):
            return True
        return self.tender.is_opened and self.tender.can_oversee(user)

    def can_read_files(self, user) -> bool:
        """The decrypted files: only of a bid that was opened, for its own supplier and the overseers."""
        return self.opened_price is not None and self.tender.is_opened and self.can_view(user)


class BidFileKind(StrEnum):
    TECHNICAL = "technical"  # 技术和服务方案
    QUALIFICATION = "qualification"  # 资格证明文件
    DECLARATION = "declaration"  # 声明函


class BidFile(db.Model):
    __tablename__ = "bid_files"

    id: Mapped[int] = mapped_column(primary_key=True)
    bid_id: Mapped[int] = mapped_column(sa.ForeignKey("bids.id", ondelete="CASCADE"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_files.id"), nullable=False)  # the ciphertext
    plain_sha256: Mapped[str] = mapped_column(sa.String(64), nullable=False)  # of what was sealed (receipt)
    plain_size: Mapped[int] = mapped_column(sa.BigInteger, nullable=False)

    bid: Mapped[Bid] = relationship(back_populates="files")
    file: Mapped[StoredFile] = relationship()


class BidDeclaration(db.Model):
    """Declarations a bidder makes with its bid (not sealed: no price, no proposal content)."""

    __tablename__ = "bid_declarations"
    __table_args__ = (sa.UniqueConstraint("bid_id", "code"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    bid_id: Mapped[int] = mapped_column(sa.ForeignKey("bids.id", ondelete="CASCADE"), nullable=False)
    code: Mapped[str] = mapped_column(sa.String(40), nullable=False)
    accepted: Mapped[bool] = mapped_column(nullable=False)
