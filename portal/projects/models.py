"""Service projects: a bureau's need, its service area and the facts that tilt funding later."""

from __future__ import annotations

from decimal import Decimal
from enum import StrEnum

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import Mapped, mapped_column, relationship

from portal.accounts.models import Organisation, User, manages_bureau, oversees_bureau
from portal.db import Money, TimestampMixin, one_of
from portal.extensions import db
from portal.files import StoredFile


class Plan(StrEnum):
    """The six plans of the founding policy (民政部 社会工作专业人才服务 脱贫攻坚 方案)."""

    SOCIAL_ASSISTANCE = "social_assistance"
    TALENT_POOR_AREAS = "talent_poor_areas"
    CHARITY_POVERTY = "charity_poverty"
    ELDERLY = "elderly"
    LEFT_BEHIND_CHILDREN = "left_behind_children"
    ORPHANS = "orphans"


PLAN_LABELS = {
    Plan.SOCIAL_ASSISTANCE: _l("Social work in social assistance (社会工作介入社会救助)"),
    Plan.TALENT_POOR_AREAS: _l("Professionals serving poor areas (专业人才服务贫困地区)"),
    Plan.CHARITY_POVERTY: _l("Charitable social work against poverty (慈善社会工作脱贫)"),
    Plan.ELDERLY: _l("Care for elderly people in difficulty (困难老年人关爱保护)"),
    Plan.LEFT_BEHIND_CHILDREN: _l("Care for left-behind children (留守儿童关爱保护)"),
    Plan.ORPHANS: _l("Care for orphans and children in difficulty (孤儿和困境儿童关爱保护)"),
}


class ProjectStatus(StrEnum):
    DRAFT = "draft"
    READY = "ready"  # needs survey done: can be tendered
    ARCHIVED = "archived"


PROJECT_STATUS_LABELS = {
    ProjectStatus.DRAFT: _l("Draft"),
    ProjectStatus.READY: _l("Ready for procurement"),
    ProjectStatus.ARCHIVED: _l("Archived"),
}



class ServiceProject(TimestampMixin, db.Model):
    __tablename__ = "service_projects"
    __table_args__ = (
        one_of("plan", Plan),
        one_of("status", ProjectStatus),
        sa.CheckConstraint("budget > 0", name="budget_positive"),
        sa.CheckConstraint("duration_months BETWEEN 1 AND 36", name="duration"),
        sa.CheckConstraint("poor_households >= 0", name="poor_households"),
        sa.CheckConstraint("base_priority BETWEEN 0 AND 100", name="base_priority"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    bureau_id: Mapped[int] = mapped_column(sa.ForeignKey("organisations.id"), nullable=False, index=True)
    title: Mapped[str] = mapped_column(sa.String(200), nullable=False)
    plan: Mapped[str] = mapped_column(sa.String(40), nullable=False, index=True)
    status: Mapped[str] = mapped_column(sa.String(20), nullable=False, default=ProjectStatus.DRAFT, index=True)
    fiscal_year: Mapped[int] = mapped_column(nullable=False, index=True)
    target_groups: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    description: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    district: Mapped[str] = mapped_column(sa.String(100), nullable=False, default="")
    township: Mapped[str] = mapped_column(sa.String(100), nullable=False, default="")
    villages: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")
    poor_village: Mapped[bool] = mapped_column(nullable=False, default=False)  # 贫困村
    poor_households: Mapped[int] = mapped_column(nullable=False, default=0)
    remote_area: Mapped[bool] = mapped_column(nullable=False, default=False)  # 边远/欠发达地区
    budget: Mapped[Decimal] = mapped_column(Money, nullable=False)
    duration_months: Mapped[int] = mapped_column(nullable=False, default=12)
    base_priority: Mapped[int] = mapped_column(nullable=False, default=50)  # from the needs assessment, 0-100
    needs_survey: Mapped[str] = mapped_column(sa.Text, nullable=False, default="")  # 需求调查 summary
    needs_survey_file_id: Mapped[int | None] = mapped_column(sa.ForeignKey("stored_files.id"))
    created_by_id: Mapped[int | None] = mapped_column(sa.ForeignKey("users.id", ondelete="SET NULL"))

    bureau: Mapped[Organisation] = relationship()
    needs_survey_file: Mapped[StoredFile | None] = relationship()
    created_by: Mapped[User | None] = relationship()

    def can_view(self, user) -> bool:
        """Officers of the bureau or of the city bureau above it; administrators."""
        return oversees_bureau(user, self.bureau)

    def can_manage(self, user) -> bool:
        """Only officers of the project's own bureau change it."""
        return manages_bureau(user, self.bureau_id)
