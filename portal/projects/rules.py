"""Pure rules for service projects: what a valid need looks like and when it can be tendered.

No Flask and no session: functions take plain values and return problem codes. A code is
``"<field>.<kind>"`` so a form can put the message next to the field it is about.
"""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal

from portal.projects.models import Plan, ProjectStatus

# Money is Numeric(14, 2): at most 12 digits of yuan and 2 of fen (分).
BUDGET_PLACES = 2
BUDGET_MIN_EXCLUSIVE = Decimal(0)
BUDGET_MAX_EXCLUSIVE = Decimal(10) ** 12

# 政府购买服务管理办法 (财政部令102号) art. 24 (RULES-CN rule 38): a contract runs at most 12 months, or up to
# 36 when the budget is secured and the service is fixed, continuous and stably priced. A project may
# plan up to 36 months; the grounds for more than 12 are checked on the contract.
DURATION_MIN_MONTHS = 1
DURATION_MAX_MONTHS = 36
DURATION_WITHOUT_GROUNDS_MONTHS = 12

FISCAL_YEAR_MIN = 2000
FISCAL_YEAR_MAX = 2100
PRIORITY_MIN = 0
PRIORITY_MAX = 100
POOR_HOUSEHOLDS_MAX = 10_000_000

TITLE_MAX_LENGTH = 200
PLACE_MAX_LENGTH = 100  # district, township
TEXT_MAX_LENGTH = 20_000  # target groups, description, villages, needs survey

PLANS = frozenset(Plan)
TEXT_FIELDS = ("target_groups", "description", "villages", "needs_survey")
PLACE_FIELDS = ("district", "township")


def budget_problem(budget) -> str | None:
    """None for a budget in yuan that is > 0, below 10^12 and has at most 2 decimals; else a short reason."""
    if budget is None:
        return "required"
    if isinstance(budget, float) or not isinstance(budget, Decimal | int) or isinstance(budget, bool):
        return "type"  # money is never float
    budget = Decimal(budget)
    if not budget.is_finite():
        return "type"
    if not BUDGET_MIN_EXCLUSIVE < budget < BUDGET_MAX_EXCLUSIVE:
        return "range"
    if budget != budget.quantize(Decimal(1).scaleb(-BUDGET_PLACES)):
        return "decimals"
    return None


def _whole_number(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _between(value, low: int, high: int) -> bool:
    return _whole_number(value) and low <= value <= high


def project_problems(values: Mapping, *, status: str = ProjectStatus.DRAFT) -> list[str]:
    """Every reason the values of a service project are not acceptable (empty when they are).

    ``status`` is the project's current state: a project already ready for procurement may not lose
    its needs survey summary (see ``readiness_problems``).
    """
    problems = []
    title = values.get("title") or ""
    if not title.strip():
        problems.append("title.required")
    elif len(title) > TITLE_MAX_LENGTH:
        problems.append("title.length")
    if values.get("plan") not in PLANS:
        problems.append("plan.choice")
    if not _between(values.get("fiscal_year"), FISCAL_YEAR_MIN, FISCAL_YEAR_MAX):
        problems.append("fiscal_year.range")
    if not _between(values.get("duration_months"), DURATION_MIN_MONTHS, DURATION_MAX_MONTHS):
        problems.append("duration_months.range")
    if reason := budget_problem(values.get("budget")):
        problems.append(f"budget.{reason}")
    if not _between(values.get("poor_households", 0), 0, POOR_HOUSEHOLDS_MAX):
        problems.append("poor_households.range")
    if not _between(values.get("base_priority"), PRIORITY_MIN, PRIORITY_MAX):
        problems.append("base_priority.range")
    for name in PLACE_FIELDS:
        if len(values.get(name) or "") > PLACE_MAX_LENGTH:
            problems.append(f"{name}.length")
    for name in TEXT_FIELDS:
        if len(values.get(name) or "") > TEXT_MAX_LENGTH:
            problems.append(f"{name}.length")
    if status == ProjectStatus.READY and not (values.get("needs_survey") or "").strip():
        problems.append("needs_survey.required")
    return problems


def field_of(code: str) -> str:
    """The field a problem code is about."""
    return code.split(".", 1)[0]


def is_editable(status: str) -> bool:
    """An archived project is kept as it was; every other one can still be changed."""
    return status != ProjectStatus.ARCHIVED


def readiness_problems(status: str, needs_survey: str) -> list[str]:
    """Why a project cannot become ready for procurement (empty when it can).

    政府采购需求管理办法 (财库〔2021〕22号) art. 11 (RULES-CN 需求-11): a public service is bought only
    after a needs survey (需求调查); its written summary is what makes a project ready. An attached
    survey report is encouraged but not required.
    """
    if status == ProjectStatus.ARCHIVED:
        return ["status.archived"]
    if status == ProjectStatus.READY:
        return ["status.ready"]
    if not (needs_survey or "").strip():
        return ["needs_survey.required"]
    return []


def needs_grounds(duration_months: int) -> bool:
    """Whether a service period is longer than a contract may run without grounds (rule 38)."""
    return duration_months > DURATION_WITHOUT_GROUNDS_MONTHS
