"""Service agreements (政府购买服务合同) of one to three years: the contract drafted from an award, its yearly
budget lines, the payment schedule gated by signing, reviews and acceptance, amendments, service reports.

A contract is drafted from an active award, signed by both parties with their own accounts, frozen as a PDF
with its SHA-256, published (合同公告) and filed with the finance bureau (备案). Later features open its
gates: a performance review that reaches 合格 calls ``contracts.payments.open_review_gate``, and a contract
year's review calls ``contracts.delivery.record_year_review``; contracts never import reviews.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organisation, manages_bureau, oversees_bureau
from portal.db import Money, TimestampMixin, UTCDateTime, one_of
from portal.extensions import db
from portal.files import StoredFile
from portal.notices import Notice
from portal.pdf import GeneratedDocument
from portal.permissions import Role
from portal.tenders.models import Tender

PERCENT = sa.Numeric(5, 2)  # a share of the contract amount, 0.01 to 100.00


class ContractStatus(StrEnum):
    DRAFT = "draft"  # drafted from the award, terms still editable
    SIGNED = "signed"  # both parties signed: in force
    TERMINATED = "terminated"  # ended early, with grounds
    COMPLETED = "completed"  # ended after final acceptance (验收)
    WITHDRAWN = "withdrawn"  # a draft withdrawn before both signed (its award annulled, or abandoned)


CONTRACT_STATUS_LABELS = {
    ContractStatus.DRAFT: _l("Draft"),
    ContractStatus.SIGNED: _l("Signed (in force)"),
    ContractStatus.TERMINATED: _l("Terminated"),
    ContractStatus.COMPLETED: _l("Completed"),
    ContractStatus.WITHDRAWN: _l("Withdrawn (draft)"),
}


class ReportInterval(StrEnum):
    MONTHLY = "monthly"
    QUARTERLY = "quarterly"


REPORT_INTERVAL_LABELS = {
    ReportInterval.MONTHLY: _l("Monthly"),
    ReportInterval.QUARTERLY: _l("Quarterly"),
}


class Contract(TimestampMixin, db.Model):
    __tablename__ = "contracts"
    __table_args__ = (
        one_of("status", ContractStatus),
        one_of("report_interval", ReportInterval),
        sa.CheckConstraint("amount > 0", name="amount_positive"),
        sa.CheckConstraint("end_date >= start_date", name="dates"),
        sa.CheckConstraint("performance_bond IS NULL OR performance_bond >= 0", name="bond_not_negative"),
        sa.CheckConstraint("status IN ('draft', 'withdrawn') OR signed_at IS NOT NULL", name="signed_has_time"),
        sa.Index("ix_contracts_status_drafted", "status", "drafted_at", "id"),  # the dashboards' newest of a kind
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(sa.String(40), nullable=False, unique=True)  # HT2026-001-0001
    tender_id: Mapped[int] = mapped_column(sa.ForeignKey("tenders.id"), nullable=False, index=True)
    award_id: Mapped[int] = mapped_column(sa.ForeignKey("awards.id"), nullable=False, unique=True)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    supplier_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=ContractStatus.DRAFT, index=True)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    service_content: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    targets: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")  # service targets (服务目标与指标)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)  # the awarded price
    start_date: Mapped[date] = mapped_column(sa.Date, nullable=False)
    end_date: Mapped[date] = mapped_column(sa.Date, nullable=False, index=True)
    # Grounds for a term over 12 months (102-24, RULES-CN I.38): both must hold, with a note.
    budget_secured: Mapped[bool] = mapped_column(nullable=False, default=False)
    service_stable: Mapped[bool] = mapped_column(nullable=False, default=False)  # fixed, continuous, stable price
    long_term_note: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    report_interval: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=ReportInterval.QUARTERLY)
    performance_bond: Mapped[Decimal | None] = mapped_column(Money)  # 履约保证金: at most 10% (R48)
    breach_terms: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    award_letter_on: Mapped[date] = mapped_column(sa.Date, nullable=False)  # the 30-day clock starts here (L46)
    drafted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    drafted_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    # Signing: each party with its own account; the PDF is issued once both have signed.
    officer_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    officer_signed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    supplier_signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    supplier_signed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    signed_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)  # dashboards filter by year
    document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("generated_documents.id"))
    # After signing: the contract notice (R50) and the filing with the finance bureau (L47).
    notice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notices.id"))
    filed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    filing_reference: Mapped[str] = mapped_column(sa.String(120), nullable=False, default="")
    # The end: final acceptance (验收, R45), termination with grounds, or a draft's withdrawal (ended_at and the
    # reason in termination_grounds).
    accepted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    acceptance_record: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    termination_grounds: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    reminded: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")  # reminder keys already sent

    tender: Mapped[Tender] = relationship()
    bureau: Mapped[Organisation] = relationship(foreign_keys=[bureau_id])
    supplier: Mapped[Organisation] = relationship(foreign_keys=[supplier_id])
    document: Mapped[GeneratedDocument | None] = relationship()
    notice: Mapped[Notice | None] = relationship()
    budget_lines: Mapped[list[BudgetLine]] = relationship(
        back_populates="contract", cascade="all, delete-orphan", order_by="BudgetLine.fiscal_year")
    installments: Mapped[list[Installment]] = relationship(
        back_populates="contract", cascade="all, delete-orphan", order_by="Installment.position")
    amendments: Mapped[list[Amendment]] = relationship(back_populates="contract", order_by="Amendment.number")
    reports: Mapped[list[ServiceReport]] = relationship(back_populates="contract",
                                                        order_by="ServiceReport.period_start")

    def can_view(self, user) -> bool:
        """Its private pages: the two parties, and the overseeing bureaus (the city bureau) and admin."""
        if oversees_bureau(user, self.bureau):
            return True
        return (getattr(user, "is_authenticated", False) and user.role == Role.SUPPLIER
                and user.organisation_id == self.supplier_id)

    def can_manage(self, user) -> bool:
        """The officers of the contracting bureau act for the purchaser."""
        return manages_bureau(user, self.bureau_id)

    def is_supplier(self, user) -> bool:
        return (getattr(user, "is_authenticated", False) and user.role == Role.SUPPLIER
                and user.organisation_id == self.supplier_id)


class BudgetLine(db.Model):
    """The part of a multi-year contract's amount budgeted in one fiscal year."""

    __tablename__ = "contract_budget_lines"
    __table_args__ = (sa.UniqueConstraint("contract_id", "fiscal_year"),
                      sa.CheckConstraint("amount > 0", name="amount_positive"))

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("contracts.id", ondelete="CASCADE"), nullable=False)
    fiscal_year: Mapped[int] = mapped_column(nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)

    contract: Mapped[Contract] = relationship(back_populates="budget_lines")


class Gate(StrEnum):
    SIGNING = "signing"  # payable once the contract is signed
    REVIEW = "review"  # payable once a performance review reaches 合格 or better (opened by the reviews feature)
    ACCEPTANCE = "acceptance"  # payable after the final acceptance (验收)


GATE_LABELS = {
    Gate.SIGNING: _l("On signing"),
    Gate.REVIEW: _l("After a performance review graded at least 合格"),
    Gate.ACCEPTANCE: _l("After final acceptance (验收)"),
}


class Installment(db.Model):
    """One payment: a share of the amount, payable once its gate is met, then paid with a voucher."""

    __tablename__ = "contract_installments"
    __table_args__ = (
        one_of("gate", Gate),
        sa.UniqueConstraint("contract_id", "position"),
        sa.CheckConstraint("percent > 0 AND percent <= 100", name="percent_range"),
        sa.CheckConstraint("paid_on IS NULL OR gate_met_at IS NOT NULL", name="paid_after_gate"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("contracts.id", ondelete="CASCADE"), nullable=False,
                                             index=True)
    position: Mapped[int] = mapped_column(nullable=False)
    percent: Mapped[Decimal] = mapped_column(PERCENT, nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)  # the share in yuan; the shares add up exactly
    gate: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    gate_label: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")  # e.g. 中期评估
    gate_met_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gate_source: Mapped[str] = mapped_column(sa.String(80), nullable=False, default="")  # e.g. "review:12"
    paid_on: Mapped[date | None] = mapped_column(sa.Date)
    paid_amount: Mapped[Decimal | None] = mapped_column(Money)
    voucher: Mapped[str] = mapped_column(sa.String(80), nullable=False, default="")
    paid_recorded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    paid_recorded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    contract: Mapped[Contract] = relationship(back_populates="installments")


class Amendment(db.Model):
    """A change to a signed contract: its reason, the terms before and after, an added amount, its own PDF.

    Proposed by the bureau's officer, it takes effect only once a user of the supplier confirms it with their
    password (both parties agree, 民法典 543): pending while ``confirmed_at`` is None."""

    __tablename__ = "contract_amendments"
    __table_args__ = (
        sa.UniqueConstraint("contract_id", "number"),
        sa.CheckConstraint("added_amount >= 0", name="added_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("contracts.id"), nullable=False, index=True)
    number: Mapped[int] = mapped_column(nullable=False)
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False)
    changes: Mapped[str] = mapped_column(sa.Text, nullable=False)  # JSON: {term: {"old": ..., "new": ...}}
    added_amount: Mapped[Decimal] = mapped_column(Money, nullable=False, default=Decimal("0"))
    new_end_date: Mapped[date | None] = mapped_column(sa.Date)
    document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("generated_documents.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_by_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id"), nullable=False)
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # the supplier agreed: applied from then
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    contract: Mapped[Contract] = relationship(back_populates="amendments")
    document: Mapped[GeneratedDocument | None] = relationship()


class ServiceReport(db.Model):
    """The NGO's periodic report of the service delivered, due after each period (monthly or quarterly)."""

    __tablename__ = "service_reports"
    __table_args__ = (sa.UniqueConstraint("contract_id", "period_start"),
                      sa.CheckConstraint("period_end >= period_start", name="period"))

    id: Mapped[int] = mapped_column(primary_key=True)
    contract_id: Mapped[int] = mapped_column(sa.ForeignKey("contracts.id"), nullable=False, index=True)
    period_start: Mapped[date] = mapped_column(sa.Date, nullable=False)
    period_end: Mapped[date] = mapped_column(sa.Date, nullable=False)
    due_on: Mapped[date] = mapped_column(sa.Date, nullable=False, index=True)
    summary: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    submitted_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    submitted_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    late: Mapped[bool] = mapped_column(nullable=False, default=False)  # submitted after its due day

    contract: Mapped[Contract] = relationship(back_populates="reports")
    file: Mapped[StoredFile | None] = relationship()
