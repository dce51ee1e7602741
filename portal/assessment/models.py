"""The yearly assessment (年度考核) of district/county bureaus and NGOs, commendations (表彰) with their public
comment period (公示), and the funding plan (资金安排) that tilts next year's money toward poor villages, remote areas
and outstanding performers, with reward grants (奖补) for the commended.

Figures are computed from the records every time until they are confirmed or approved; then they are frozen on the
rows (and in the PDFs) so that later changes to the records never rewrite a confirmed assessment or an approved plan.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organisation, oversees_bureau
from portal.contracts.models import Contract
from portal.db import Money, TimestampMixin, UTCDateTime, one_of
from portal.extensions import db
from portal.notices import Notice
from portal.pdf import GeneratedDocument
from portal.projects.models import ServiceProject

SCORE = sa.Numeric(5, 2)


def is_city_officer(user) -> bool:
    """An officer of a city bureau: who runs the yearly assessment, commendations and the funding plan."""
    from portal.permissions import Role

    if not getattr(user, "is_authenticated", False) or user.role != Role.OFFICER:
        return False
    organisation = user.organisation
    return organisation is not None and organisation.is_city_bureau


def _city_officer(user, bureau: Organisation) -> bool:
    """Officers of the city bureau itself manage the yearly assessment, commendations and the funding plan."""
    return is_city_officer(user) and user.organisation_id == bureau.id


class SubjectKind(StrEnum):
    BUREAU = "bureau"  # a district/county civil-affairs bureau
    NGO = "ngo"  # a social-work organisation
    PROJECT = "project"  # a service project (commendations only)


SUBJECT_LABELS = {
    SubjectKind.BUREAU: _l("District/county bureau"),
    SubjectKind.NGO: _l("Social-work organisation"),
    SubjectKind.PROJECT: _l("Service project"),
}


class AssessmentStatus(StrEnum):
    DRAFT = "draft"  # computed figures refresh; the officer enters points and weights
    CONFIRMED = "confirmed"  # confirmed by the city officer: figures frozen


ASSESSMENT_STATUS_LABELS = {AssessmentStatus.DRAFT: _l("Draft"), AssessmentStatus.CONFIRMED: _l("Confirmed")}


class Assessment(TimestampMixin, db.Model):
    """The yearly assessment of one district/county bureau or one NGO, run by the city bureau."""

    __tablename__ = "assessments"
    __table_args__ = (
        one_of("kind", (SubjectKind.BUREAU, SubjectKind.NGO)),
        one_of("status", AssessmentStatus),
        sa.UniqueConstraint("year", "organisation_id"),
        sa.CheckConstraint("status != 'confirmed' OR (score IS NOT NULL AND grade IS NOT NULL)",
                           name="confirmed_scored"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(nullable=False, index=True)
    city_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False)  # who assesses
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=AssessmentStatus.DRAFT)
    score: Mapped[Decimal | None] = mapped_column(SCORE)
    grade: Mapped[str | None] = mapped_column(sa.String(20))
    note: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    city: Mapped[Organisation] = relationship(foreign_keys=[city_id])
    organisation: Mapped[Organisation] = relationship(foreign_keys=[organisation_id])
    indicators: Mapped[list[AssessmentIndicator]] = relationship(
        back_populates="assessment", cascade="all, delete-orphan", order_by="AssessmentIndicator.position")

    def can_view(self, user) -> bool:
        """The city bureau's officers and admin; a district's officers and an NGO's users see their own once
        confirmed."""
        if oversees_bureau(user, self.city):
            return True
        return (self.status == AssessmentStatus.CONFIRMED and getattr(user, "is_authenticated", False)
                and user.organisation_id == self.organisation_id)

    def can_manage(self, user) -> bool:
        return _city_officer(user, self.city)


class AssessmentIndicator(db.Model):
    """One indicator: computed from the records (its figure, its points and the records it came from) or entered
    by the city officer; each with a weight (the weights of an assessment add up to 100)."""

    __tablename__ = "assessment_indicators"
    __table_args__ = (sa.CheckConstraint("weight >= 0", name="weight_not_negative"),
                      sa.CheckConstraint("points IS NULL OR (points >= 0 AND points <= 100)", name="points_range"))

    id: Mapped[int] = mapped_column(primary_key=True)
    assessment_id: Mapped[int] = mapped_column(sa.ForeignKey("assessments.id", ondelete="CASCADE"),
                                               nullable=False, index=True)
    position: Mapped[int] = mapped_column(nullable=False)
    code: Mapped[str] = mapped_column(sa.String(40), nullable=False)  # a computed indicator's code, or "entered"
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    computed: Mapped[bool] = mapped_column(nullable=False, default=False)
    weight: Mapped[Decimal] = mapped_column(sa.Numeric(5, 2), nullable=False)
    figure: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")  # e.g. "42.50%", "3 份合同"
    points: Mapped[Decimal | None] = mapped_column(SCORE)  # out of 100
    basis: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")  # how the points follow the figure
    sources: Mapped[str] = mapped_column(sa.Text, nullable=False, default="[]")  # JSON [[label, path], ...]
    note: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")

    assessment: Mapped[Assessment] = relationship(back_populates="indicators")


class ListStatus(StrEnum):
    DRAFT = "draft"  # candidates proposed by rule; the officer chooses
    PUBLICISED = "publicised"  # 公示: 5 working days of public comment
    CONFIRMED = "confirmed"  # confirmed and published, certificates issued


LIST_STATUS_LABELS = {
    ListStatus.DRAFT: _l("Draft"),
    ListStatus.PUBLICISED: _l("Open for public comment (公示)"),
    ListStatus.CONFIRMED: _l("Confirmed and published"),
}


class Level(StrEnum):
    FIRST = "first"
    SECOND = "second"
    THIRD = "third"


LEVEL_LABELS = {Level.FIRST: _l("First class (一等)"), Level.SECOND: _l("Second class (二等)"),
                Level.THIRD: _l("Third class (三等)")}
LEVEL_NAMES_CN = {Level.FIRST: "一等", Level.SECOND: "二等", Level.THIRD: "三等"}  # the documents' words


class CommendationList(TimestampMixin, db.Model):
    """A year's commendation list (表彰名单) of the city bureau."""

    __tablename__ = "commendation_lists"
    __table_args__ = (one_of("status", ListStatus), sa.UniqueConstraint("year", "bureau_id"))

    id: Mapped[int] = mapped_column(primary_key=True)
    year: Mapped[int] = mapped_column(nullable=False)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=ListStatus.DRAFT, index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    publicised_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    publicity_ends_on: Mapped[date | None] = mapped_column(sa.Date)  # the 5th working day after publication
    publicity_notice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notices.id"))
    confirmed_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    confirmed_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    notice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notices.id"))

    bureau: Mapped[Organisation] = relationship()
    publicity_notice: Mapped[Notice | None] = relationship(foreign_keys=[publicity_notice_id])
    notice: Mapped[Notice | None] = relationship(foreign_keys=[notice_id])
    commendations: Mapped[list[Commendation]] = relationship(
        back_populates="commendation_list", cascade="all, delete-orphan", order_by="Commendation.id")
    comments: Mapped[list[PublicComment]] = relationship(
        back_populates="commendation_list", cascade="all, delete-orphan", order_by="PublicComment.id")

    def can_view(self, user) -> bool:
        return oversees_bureau(user, self.bureau)

    def can_manage(self, user) -> bool:
        return _city_officer(user, self.bureau)


class Commendation(db.Model):
    """One entry of a list: an NGO, a project or a bureau, its level, the rule that proposed it and its
    certificate."""

    __tablename__ = "commendations"
    __table_args__ = (
        one_of("subject", SubjectKind),
        one_of("level", Level),
        sa.CheckConstraint("(subject = 'project') = (project_id IS NOT NULL)", name="project_subject"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(sa.ForeignKey("commendation_lists.id", ondelete="CASCADE"),
                                         nullable=False, index=True)
    subject: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    project_id: Mapped[int | None] = mapped_column(sa.ForeignKey("service_projects.id"))
    contract_id: Mapped[int | None] = mapped_column(sa.ForeignKey("contracts.id"))
    level: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=Level.SECOND)
    rule: Mapped[str] = mapped_column(sa.String(40), nullable=False, default="")  # the rule that proposed it
    reason: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")  # 事迹 in one paragraph
    certificate_id: Mapped[int | None] = mapped_column(sa.ForeignKey("generated_documents.id"))

    commendation_list: Mapped[CommendationList] = relationship(back_populates="commendations")
    organisation: Mapped[Organisation] = relationship()
    project: Mapped[ServiceProject | None] = relationship()
    contract: Mapped[Contract | None] = relationship()
    certificate: Mapped[GeneratedDocument | None] = relationship()


class PublicComment(db.Model):
    """A comment from the public during the 公示, answered by the officer before the list is confirmed."""

    __tablename__ = "commendation_comments"

    id: Mapped[int] = mapped_column(primary_key=True)
    list_id: Mapped[int] = mapped_column(sa.ForeignKey("commendation_lists.id", ondelete="CASCADE"),
                                         nullable=False, index=True)
    name: Mapped[str] = mapped_column(sa.String(100), nullable=False)
    contact: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    text: Mapped[str] = mapped_column(sa.Text, nullable=False)
    ip: Mapped[str] = mapped_column(sa.String(45), nullable=False, default="", server_default="")  # throttling
    submitted_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    response: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    responded_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    responded_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))

    commendation_list: Mapped[CommendationList] = relationship(back_populates="comments")


class PlanStatus(StrEnum):
    DRAFT = "draft"  # lines and amounts computed afresh on every view
    APPROVED = "approved"  # amounts and explanations frozen
    PUBLISHED = "published"  # 资金安排 notice published


PLAN_STATUS_LABELS = {PlanStatus.DRAFT: _l("Draft"), PlanStatus.APPROVED: _l("Approved"),
                      PlanStatus.PUBLISHED: _l("Published")}


class FundingPlan(TimestampMixin, db.Model):
    """The city bureau's funding plan of a fiscal year: a pool shared among candidate projects by tilted weight, and
    a separate line of reward grants (奖补) for the commended."""

    __tablename__ = "funding_plans"
    __table_args__ = (
        one_of("status", PlanStatus),
        sa.UniqueConstraint("fiscal_year", "bureau_id"),
        sa.CheckConstraint("pool >= 0", name="pool_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    fiscal_year: Mapped[int] = mapped_column(nullable=False)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    pool: Mapped[Decimal] = mapped_column(Money, nullable=False)  # whole yuan
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=PlanStatus.DRAFT, index=True)
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    approved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    approved_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id"))
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    notice_id: Mapped[int | None] = mapped_column(sa.ForeignKey("notices.id"))
    document_id: Mapped[int | None] = mapped_column(sa.ForeignKey("generated_documents.id"))  # the approved PDF
    # The tilt settings in words as they were at approval (the notice, the exports and the PDF show these).
    frozen_settings: Mapped[str] = mapped_column(sa.Text, nullable=False, default="", server_default="")

    bureau: Mapped[Organisation] = relationship()
    notice: Mapped[Notice | None] = relationship()
    lines: Mapped[list[FundingLine]] = relationship(back_populates="plan", cascade="all, delete-orphan",
                                                    order_by="FundingLine.id")
    rewards: Mapped[list[RewardGrant]] = relationship(back_populates="plan", cascade="all, delete-orphan",
                                                      order_by="RewardGrant.id")

    def can_view(self, user) -> bool:
        return oversees_bureau(user, self.bureau)

    def can_manage(self, user) -> bool:
        return _city_officer(user, self.bureau)


class FundingLine(db.Model):
    """A candidate project of the plan: what it asks for and the facts its tilts come from (copied from the project
    and the district's assessment, editable while the plan is a draft); amount and explanation frozen at approval."""

    __tablename__ = "funding_lines"
    __table_args__ = (
        sa.UniqueConstraint("plan_id", "project_id"),
        sa.CheckConstraint("requested >= 0", name="requested_not_negative"),
        sa.CheckConstraint("base_priority >= 0 AND base_priority <= 100", name="priority_range"),
        sa.CheckConstraint("poor_households >= 0", name="households_not_negative"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("funding_plans.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    project_id: Mapped[int] = mapped_column(sa.ForeignKey("service_projects.id"), nullable=False)
    requested: Mapped[Decimal] = mapped_column(Money, nullable=False)  # whole yuan
    base_priority: Mapped[int] = mapped_column(nullable=False)  # 0-100, from the needs assessment
    poor_village: Mapped[bool] = mapped_column(nullable=False, default=False)
    remote_area: Mapped[bool] = mapped_column(nullable=False, default=False)
    poor_households: Mapped[int] = mapped_column(nullable=False, default=0)
    district_grade: Mapped[str | None] = mapped_column(sa.String(20))  # the district's confirmed assessment
    amount: Mapped[Decimal | None] = mapped_column(Money)  # frozen at approval
    untilted_amount: Mapped[Decimal | None] = mapped_column(Money)  # the same pool without tilts, frozen
    explanation: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")  # frozen at approval
    # JSON frozen at approval: {"tilts": [[label, share], ...], "tilt_total": "0.3", "weight": "104"}
    frozen_tilts: Mapped[str] = mapped_column(sa.Text, nullable=False, default="", server_default="")

    plan: Mapped[FundingPlan] = relationship(back_populates="lines")
    project: Mapped[ServiceProject] = relationship()


class RewardGrant(db.Model):
    """A reward grant (奖补) to a commended NGO, a fixed amount per commendation level, from its own line."""

    __tablename__ = "funding_rewards"
    __table_args__ = (sa.UniqueConstraint("plan_id", "commendation_id"),
                      sa.CheckConstraint("amount >= 0", name="amount_not_negative"))

    id: Mapped[int] = mapped_column(primary_key=True)
    plan_id: Mapped[int] = mapped_column(sa.ForeignKey("funding_plans.id", ondelete="CASCADE"), nullable=False,
                                         index=True)
    commendation_id: Mapped[int] = mapped_column(sa.ForeignKey("commendations.id"), nullable=False)
    amount: Mapped[Decimal] = mapped_column(Money, nullable=False)

    plan: Mapped[FundingPlan] = relationship(back_populates="rewards")
    commendation: Mapped[Commendation] = relationship()
