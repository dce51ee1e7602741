"""Users, organisations (bureaus and NGOs), expert profiles and login attempts."""

from __future__ import annotations

import secrets
from datetime import date, datetime
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from flask_login import UserMixin
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.db import TimestampMixin, UTCDateTime, one_of
from portal.extensions import db
from portal.files import StoredFile
from portal.permissions import Role


class OrgKind(StrEnum):
    BUREAU = "bureau"
    SUPPLIER = "supplier"


class BureauLevel(StrEnum):
    CITY = "city"
    DISTRICT = "district"


class OrgStatus(StrEnum):
    ACTIVE = "active"
    PENDING = "pending"  # self-registered NGO waiting for an administrator
    INACTIVE = "inactive"


class Rating(StrEnum):
    """社会组织评估等级."""

    NONE = "none"
    A3 = "3A"
    A4 = "4A"
    A5 = "5A"


class AffiliationKind(StrEnum):
    """Ties that make an expert recuse (实施条例 art. 9)."""

    EMPLOYEE = "employee"
    DIRECTOR = "director"
    SUPERVISOR = "supervisor"
    CONTROLLER = "controller"
    RELATIVE = "relative"


ORG_KIND_LABELS = {OrgKind.BUREAU: _l("Civil-affairs bureau"), OrgKind.SUPPLIER: _l("Social-work organisation")}
LEVEL_LABELS = {BureauLevel.CITY: _l("City bureau"), BureauLevel.DISTRICT: _l("District/county bureau")}
STATUS_LABELS = {OrgStatus.ACTIVE: _l("Active"), OrgStatus.PENDING: _l("Awaiting approval"),
                 OrgStatus.INACTIVE: _l("Inactive")}
RATING_LABELS = {Rating.NONE: _l("Not rated"), Rating.A3: "3A", Rating.A4: "4A", Rating.A5: "5A"}
ROLE_LABELS = {Role.OFFICER: _l("Bureau officer"), Role.SUPPLIER: _l("Social-work organisation"),
               Role.EVALUATOR: _l("Expert / assessor"), Role.ADMIN: _l("Administrator")}
AFFILIATION_LABELS = {
    AffiliationKind.EMPLOYEE: _l("Employee"),
    AffiliationKind.DIRECTOR: _l("Director"),
    AffiliationKind.SUPERVISOR: _l("Supervisor"),
    AffiliationKind.CONTROLLER: _l("Controlling person"),
    AffiliationKind.RELATIVE: _l("Close relative of the legal representative"),
}
SPECIALTY_LABELS = {
    "social_assistance": _l("Social assistance (社会救助)"),
    "poverty_relief": _l("Poverty relief (脱贫攻坚)"),
    "elderly_care": _l("Care for elderly people in difficulty (困难老年人关爱)"),
    "left_behind_children": _l("Left-behind children (留守儿童关爱)"),
    "children_in_difficulty": _l("Orphans and children in difficulty (孤儿和困境儿童)"),
    "social_work": _l("Social-work practice (社会工作)"),
    "evaluation": _l("Performance evaluation (绩效评估)"),
    "finance": _l("Finance and audit (财务)"),
    "law": _l("Law (法律)"),
}



class Organisation(TimestampMixin, db.Model):
    __tablename__ = "organisations"
    __table_args__ = (
        one_of("kind", OrgKind),
        one_of("status", OrgStatus),
        one_of("rating", Rating),
        sa.CheckConstraint(
            "(kind = 'bureau' AND level IN ('city', 'district')) OR (kind = 'supplier' AND level IS NULL)",
            name="level_matches_kind",
        ),
        sa.CheckConstraint(
            "assistant_social_workers >= 0 AND social_workers >= 0 AND senior_social_workers >= 0",
            name="worker_counts",
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False, index=True)
    level: Mapped[str | None] = mapped_column(sa.String(20))
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=OrgStatus.ACTIVE, index=True)
    name: Mapped[str] = mapped_column(sa.String(200), nullable=False, unique=True)
    parent_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    credit_code: Mapped[str | None] = mapped_column(sa.String(18), unique=True)
    registration_authority: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    registration_date: Mapped[date | None] = mapped_column(sa.Date)
    rating: Mapped[str] = mapped_column(sa.String(8), nullable=False, default=Rating.NONE)
    assistant_social_workers: Mapped[int] = mapped_column(nullable=False, default=0)
    social_workers: Mapped[int] = mapped_column(nullable=False, default=0)
    senior_social_workers: Mapped[int] = mapped_column(nullable=False, default=0)
    service_areas: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    address: Mapped[str] = mapped_column(sa.String(300), nullable=False, default="")
    contact_name: Mapped[str] = mapped_column(sa.String(100), nullable=False, default="")
    contact_phone: Mapped[str] = mapped_column(sa.String(40), nullable=False, default="")
    contact_email: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    debarred_until: Mapped[date | None] = mapped_column(sa.Date)
    debarment_reason: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")

    parent: Mapped[Organisation | None] = relationship(remote_side=[id], back_populates="children")
    children: Mapped[list[Organisation]] = relationship(back_populates="parent", order_by="Organisation.id")
    users: Mapped[list[User]] = relationship(back_populates="organisation")
    documents: Mapped[list[OrganisationDocument]] = relationship(
        back_populates="organisation", cascade="all, delete-orphan", order_by="OrganisationDocument.id"
    )

    @property
    def is_bureau(self) -> bool:
        return self.kind == OrgKind.BUREAU

    @property
    def is_city_bureau(self) -> bool:
        return self.kind == OrgKind.BUREAU and self.level == BureauLevel.CITY

    def is_debarred(self, on: date) -> bool:
        """Whether the organisation is barred from government procurement on that day."""
        return self.debarred_until is not None and on <= self.debarred_until

    def oversees(self, other: Organisation | None) -> bool:
        """A bureau oversees itself and, if it is the city bureau, every bureau under it."""
        if other is None or not self.is_bureau:
            return False
        if other.id == self.id:
            return True
        return self.is_city_bureau and other.parent_id == self.id


class User(UserMixin, TimestampMixin, db.Model):
    __tablename__ = "users"
    __table_args__ = (
        one_of("role", Role),
        sa.CheckConstraint(
            "role NOT IN ('officer', 'supplier') OR organisation_id IS NOT NULL", name="org_required"
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), nullable=False, unique=True)
    password_hash: Mapped[str] = mapped_column(sa.String(255), nullable=False)
    role: Mapped[str] = mapped_column(sa.String(20), nullable=False, index=True)
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    display_name: Mapped[str] = mapped_column(sa.String(100), nullable=False, default="")
    email: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    phone: Mapped[str] = mapped_column(sa.String(40), nullable=False, default="")
    locale: Mapped[str] = mapped_column(sa.String(8), nullable=False, default="zh")
    active: Mapped[bool] = mapped_column(nullable=False, default=True)
    approved: Mapped[bool] = mapped_column(nullable=False, default=True)
    session_token: Mapped[str] = mapped_column(sa.String(32), nullable=False, default=lambda: secrets.token_hex(16))
    last_login_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    organisation: Mapped[Organisation | None] = relationship(back_populates="users")
    expert_profile: Mapped[ExpertProfile | None] = relationship(back_populates="user", uselist=False)

    def get_id(self) -> str:
        # The token changes at logout, password change and deactivation, ending old sessions.
        return f"{self.id}:{self.session_token}"

    @property
    def is_active(self) -> bool:
        return self.active and self.approved

    @property
    def name(self) -> str:
        return self.display_name or self.username

    def has_role(self, role: Role) -> bool:
        return self.role == role

    def rotate_session(self) -> None:
        self.session_token = secrets.token_hex(16)


def oversees_bureau(user, bureau: Organisation) -> bool:
    """Administrators, and officers of the bureau or of the city bureau above it, see a bureau's records."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.role == Role.ADMIN:
        return True
    return user.role == Role.OFFICER and user.organisation is not None and user.organisation.oversees(bureau)


def manages_bureau(user, bureau_id: int) -> bool:
    """Only officers of the bureau itself change its records."""
    return getattr(user, "is_authenticated", False) and user.role == Role.OFFICER and user.organisation_id == bureau_id


class ExpertProfile(TimestampMixin, db.Model):
    __tablename__ = "expert_profiles"

    user_id: Mapped[int] = mapped_column(sa.ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    title: Mapped[str] = mapped_column(sa.String(100), nullable=False, default="")
    employer: Mapped[str] = mapped_column(sa.String(200), nullable=False, default="")
    specialties: Mapped[str] = mapped_column(sa.String(400), nullable=False, default="")
    in_pool: Mapped[bool] = mapped_column(nullable=False, default=True)

    user: Mapped[User] = relationship(back_populates="expert_profile")
    affiliations: Mapped[list[ExpertAffiliation]] = relationship(
        back_populates="expert", cascade="all, delete-orphan", order_by="ExpertAffiliation.start_date"
    )

    @property
    def specialty_list(self) -> list[str]:
        return [s for s in self.specialties.split(",") if s]


class ExpertAffiliation(db.Model):
    """A past or present tie of an expert to an organisation, used for conflict-of-interest checks."""

    __tablename__ = "expert_affiliations"
    __table_args__ = (
        one_of("kind", AffiliationKind),
        sa.CheckConstraint("end_date IS NULL OR end_date >= start_date", name="dates"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    expert_id: Mapped[int] = mapped_column(sa.ForeignKey("expert_profiles.user_id", ondelete="CASCADE"), index=True)
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisations.id"), index=True)
    organisation_name: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    start_date: Mapped[date] = mapped_column(sa.Date, nullable=False)
    end_date: Mapped[date | None] = mapped_column(sa.Date)

    expert: Mapped[ExpertProfile] = relationship(back_populates="affiliations")
    organisation: Mapped[Organisation | None] = relationship()


class DocumentKind(StrEnum):
    REGISTRATION = "registration"  # 登记证书
    RATING = "rating"  # 评估等级证书
    CHARTER = "charter"  # 章程
    FINANCIAL = "financial"  # 财务报告
    OTHER = "other"


DOCUMENT_KIND_LABELS = {
    DocumentKind.REGISTRATION: _l("Registration certificate (登记证书)"),
    DocumentKind.RATING: _l("Rating certificate (评估等级证书)"),
    DocumentKind.CHARTER: _l("Charter (章程)"),
    DocumentKind.FINANCIAL: _l("Financial report"),
    DocumentKind.OTHER: _l("Other credential"),
}


class OrganisationDocument(db.Model):
    """A credential an organisation keeps on file (certificates, charter, financial reports)."""

    __tablename__ = "organisation_documents"
    __table_args__ = (one_of("kind", DocumentKind),)

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(sa.String(20), nullable=False)
    file_id: Mapped[int] = mapped_column(sa.ForeignKey("stored_files.id"), nullable=False)
    uploaded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    organisation: Mapped[Organisation] = relationship(back_populates="documents")
    file: Mapped[StoredFile] = relationship()

    def can_download(self, user) -> bool:
        """Members of the organisation, bureau officers and administrators may read credentials."""
        if not getattr(user, "is_authenticated", False):
            return False
        return user.role in (Role.OFFICER, Role.ADMIN) or user.organisation_id == self.organisation_id

    def can_delete(self, user) -> bool:
        return getattr(user, "is_authenticated", False) and (
            user.role == Role.ADMIN or (user.role == Role.SUPPLIER and user.organisation_id == self.organisation_id)
        )


class LoginAttempt(db.Model):
    __tablename__ = "login_attempts"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    ip: Mapped[str] = mapped_column(sa.String(64), nullable=False, index=True)
    at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False, index=True)
    success: Mapped[bool] = mapped_column(nullable=False)
