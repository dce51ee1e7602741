"""Excel exports of the registers (采购项目, 开标报价, 合同, 付款, 绩效评估, 资金安排) for the officers who see them.

Each register is a plain table with Chinese headers; every text cell that a spreadsheet would take for a formula is
kept plain text (``funding_export._plain_text``). Who sees which rows: an officer its own bureau's records, the city
bureau's officers their districts' too, an administrator all (``contracts.services._bureau_ids``). Bids appear only
once their tender is opened (the opened price; never the sealed data). Funding plans: approved and published plans
for the lines of the officer's districts, drafts only for the bureau that drafts the plan (the city).
Each register loads its rows with a fixed number of statements, however many rows there are.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from openpyxl import Workbook
from sqlalchemy.orm import selectinload

from portal.assessment.funding_export import MONEY_FORMAT, _header, _plain_text, _widths
from portal.assessment.models import FundingLine, FundingPlan, PlanStatus
from portal.contracts.models import Contract, ContractStatus, Gate, Installment
from portal.contracts.services import _bureau_ids, _visible
from portal.errors import NotAllowed
from portal.evaluation.scoring import METHOD_CN
from portal.extensions import db
from portal.permissions import Role
from portal.projects.models import ServiceProject
from portal.reviews.models import Review, ReviewStatus
from portal.reviews.rules import GRADE_NAMES, ReviewKind
from portal.tenders.models import Bid, BidKind, BidStatus, Tender, TenderStatus
from portal.tenders.rules import BEIJING, local_date

TENDER_STATUS_CN = {TenderStatus.DRAFT: "草稿", TenderStatus.PUBLISHED: "已发布",
                    TenderStatus.NEGOTIATING: "谈判中", TenderStatus.OPENED: "已开标",
                    TenderStatus.EVALUATING: "评审中", TenderStatus.AWARDED: "已定标",
                    TenderStatus.CONCLUDED: "已结束", TenderStatus.FAILED: "废标/终止",
                    TenderStatus.CANCELLED: "已取消"}
BID_STATUS_CN = {BidStatus.SUBMITTED: "有效", BidStatus.REPLACED: "已被替换", BidStatus.WITHDRAWN: "已撤回",
                 BidStatus.EXCLUDED: "已退出谈判"}
BID_KIND_CN = {BidKind.BID: "投标/首次响应", BidKind.FINAL_QUOTE: "最后报价"}
CONTRACT_STATUS_CN = {ContractStatus.DRAFT: "草稿（待签订）", ContractStatus.SIGNED: "已签订（履行中）",
                      ContractStatus.TERMINATED: "已解除", ContractStatus.COMPLETED: "已验收完成",
                      ContractStatus.WITHDRAWN: "已撤回（草稿）"}
GATE_CN = {Gate.SIGNING: "合同签订后", Gate.REVIEW: "绩效评估合格后", Gate.ACCEPTANCE: "终期验收后"}
REVIEW_KIND_CN = {ReviewKind.NEEDS: "需求评估", ReviewKind.SUPERVISION: "督导评估", ReviewKind.MIDTERM: "中期评估",
                  ReviewKind.YEARLY: "年度评估", ReviewKind.FINAL: "末期效果评估", ReviewKind.RE_REVIEW: "整改复评",
                  ReviewKind.EXTRA: "专项评估"}
REVIEW_STATUS_CN = {ReviewStatus.PLANNED: "已计划", ReviewStatus.STARTED: "评估中", ReviewStatus.GRADED: "已评定",
                    ReviewStatus.CANCELLED: "已取消"}
PLAN_STATUS_CN = {PlanStatus.DRAFT: "草稿（未审定）", PlanStatus.APPROVED: "已审定",
                  PlanStatus.PUBLISHED: "已审定并公布"}


@dataclass(frozen=True)
class Sheet:
    """A register's table: its sheet title, headers, column widths, money columns (1-based) and rows."""

    title: str
    headers: tuple[str, ...]
    widths: tuple[int, ...]
    money: frozenset[int]
    rows: list[tuple]


def _bj(instant: datetime | None) -> str:
    return instant.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M") if instant else ""


def _day(instant: datetime | None):
    return local_date(instant) if instant else None


def _amount(value: Decimal | None):
    return float(value) if value is not None else None


def _label(names: dict, value: str | None) -> str:
    return names.get(value, value or "")


def ensure_exporter(user) -> None:
    if not (getattr(user, "is_authenticated", False) and user.role in (Role.OFFICER, Role.ADMIN)):
        raise NotAllowed(_l("Only officers and administrators export registers."))


def _in_bureaus(column, user):
    """A condition: ``column`` (a bureau id) is one of the bureaus ``user`` oversees (every bureau for admin)."""
    ids = _bureau_ids(user)
    return sa.true() if ids is None else column.in_(ids)


# --- The registers -------------------------------------------------------------------------------------------------


def tenders_sheet(user) -> Sheet:
    query = (sa.select(Tender).where(_in_bureaus(Tender.bureau_id, user)).options(selectinload(Tender.bureau))
             .order_by(Tender.id))
    rows = [(t.reference, t.title, t.bureau.name, _label(METHOD_CN, t.method), _label(TENDER_STATUS_CN, t.status),
             _amount(t.budget), _day(t.published_at), _bj(t.bid_deadline))
            for t in db.session.scalars(query)]
    return Sheet("采购项目", ("项目编号", "项目名称", "采购单位", "采购方式", "状态", "预算金额（元）", "发布日期",
                          "投标截止时间"), (22, 36, 20, 14, 12, 16, 12, 18), frozenset({6}), rows)


def bids_sheet(user) -> Sheet:
    """Bids of opened tenders only, with the price read at the opening (never the sealed data)."""
    query = (sa.select(Bid).join(Bid.tender)
             .where(Tender.opened_at.is_not(None), _in_bureaus(Tender.bureau_id, user))
             .options(selectinload(Bid.tender).selectinload(Tender.bureau), selectinload(Bid.supplier))
             .order_by(Tender.id, Bid.id))
    rows = []
    for b in db.session.scalars(query):
        opened = b.tender.opened_at is not None  # the query's condition, checked again before any price is written
        rows.append((b.tender.reference, b.tender.title, b.tender.bureau.name, b.supplier.name,
                     b.supplier.credit_code or "", _label(BID_KIND_CN, b.kind), _label(BID_STATUS_CN, b.status),
                     _amount(b.opened_price) if opened else None, _bj(b.received_at)))
    return Sheet("开标报价", ("项目编号", "项目名称", "采购单位", "供应商", "统一社会信用代码", "报价类型", "状态",
                          "开标报价（元）", "递交时间"), (22, 36, 20, 30, 22, 14, 12, 16, 18), frozenset({8}), rows)


def contracts_sheet(user) -> Sheet:
    query = (_visible(sa.select(Contract), user)
             .options(selectinload(Contract.bureau), selectinload(Contract.supplier)).order_by(Contract.id))
    rows = [(c.reference, c.title, c.bureau.name, c.supplier.name, _amount(c.amount), c.start_date, c.end_date,
             _label(CONTRACT_STATUS_CN, c.status), _day(c.signed_at), _day(c.filed_at), c.filing_reference)
            for c in db.session.scalars(query)]
    return Sheet("合同", ("合同编号", "合同名称", "采购人（甲方）", "供应商（乙方）", "合同金额（元）", "服务开始日期",
                        "服务结束日期", "状态", "签订日期", "备案日期", "备案编号"),
                 (22, 36, 20, 30, 16, 14, 14, 16, 12, 12, 20), frozenset({5}), rows)


def payments_sheet(user) -> Sheet:
    """The installments of contracts signed (in force or ended); a draft's schedule is not a payment yet."""
    query = (_visible(sa.select(Installment).join(Installment.contract), user)
             .where(Contract.status.in_([ContractStatus.SIGNED, ContractStatus.TERMINATED, ContractStatus.COMPLETED]))
             .options(selectinload(Installment.contract).selectinload(Contract.supplier),
                      selectinload(Installment.contract).selectinload(Contract.bureau))
             .order_by(Contract.id, Installment.position))
    rows = [(i.contract.reference, i.contract.title, i.contract.bureau.name, i.contract.supplier.name, i.position,
             float(i.percent), _label(GATE_CN, i.gate) + (f"（{i.gate_label}）" if i.gate_label else ""),
             _amount(i.amount), _day(i.gate_met_at), i.paid_on, _amount(i.paid_amount), i.voucher)
            for i in db.session.scalars(query)]
    return Sheet("付款", ("合同编号", "合同名称", "采购人", "供应商", "期次", "比例（%）", "支付条件",
                        "应付金额（元）", "条件满足日期", "支付日期", "实付金额（元）", "支付凭证号"),
                 (22, 36, 20, 30, 6, 10, 26, 16, 14, 12, 16, 20), frozenset({8, 11}), rows)


def reviews_sheet(user) -> Sheet:
    query = (_visible(sa.select(Review).join(Review.contract), user)
             .options(selectinload(Review.contract).selectinload(Contract.supplier),
                      selectinload(Review.contract).selectinload(Contract.bureau))
             .order_by(Contract.id, Review.due_on, Review.id))
    rows = [(r.contract.reference, r.contract.title, r.contract.bureau.name, r.contract.supplier.name, r.title,
             _label(REVIEW_KIND_CN, r.kind), r.due_on, _label(REVIEW_STATUS_CN, r.status),
             float(r.score) if r.score is not None else None, _label(GRADE_NAMES, r.grade))
            for r in db.session.scalars(query)]
    return Sheet("绩效评估", ("合同编号", "合同名称", "采购人", "供应商", "评估名称", "评估类型", "截止日期", "状态",
                          "得分", "等次"), (22, 36, 20, 30, 36, 16, 12, 10, 8, 8), frozenset(), rows)


def funding_sheet(user) -> Sheet:
    """The lines of the funding plans: approved and published plans' lines of the officer's districts, and every
    line of the plans its own bureau draws up (drafts included: the city bureau's)."""
    ids = _bureau_ids(user)
    query = sa.select(FundingLine).join(FundingLine.plan).join(FundingLine.project)
    if ids is not None:
        query = query.where(sa.or_(FundingPlan.bureau_id.in_(ids),
                                   sa.and_(FundingPlan.status != PlanStatus.DRAFT, ServiceProject.bureau_id.in_(ids))))
    query = query.options(selectinload(FundingLine.plan),
                          selectinload(FundingLine.project).selectinload(ServiceProject.bureau)
                          ).order_by(FundingPlan.fiscal_year, FundingPlan.id, FundingLine.id)
    rows = [(f.plan.title, f.plan.fiscal_year, _label(PLAN_STATUS_CN, f.plan.status), f.project.title,
             f.project.bureau.name, _amount(f.requested), f.base_priority, _amount(f.amount),
             _amount(f.untilted_amount), "是" if f.poor_village else "否", "是" if f.remote_area else "否")
            for f in db.session.scalars(query)]
    return Sheet("资金安排", ("资金安排", "年度", "状态", "项目名称", "区县", "申请金额（元）", "基础优先级",
                          "安排金额（元）", "不倾斜时金额（元）", "贫困村", "边远/欠发达地区"),
                 (34, 8, 14, 34, 16, 16, 10, 16, 18, 8, 14), frozenset({6, 8, 9}), rows)


@dataclass(frozen=True)
class Register:
    key: str
    label: object  # a lazy string
    file_name: str
    build: Callable[[object], Sheet]


REGISTERS = {r.key: r for r in (
    Register("tenders", _l("Tenders register (采购项目)"), "采购项目登记表", tenders_sheet),
    Register("bids", _l("Opened bids register (开标报价, opened tenders only)"), "开标报价登记表", bids_sheet),
    Register("contracts", _l("Contracts register (合同)"), "合同登记表", contracts_sheet),
    Register("payments", _l("Payments register (付款)"), "付款登记表", payments_sheet),
    Register("reviews", _l("Performance reviews register (绩效评估)"), "绩效评估登记表", reviews_sheet),
    Register("funding", _l("Funding plans register (资金安排)"), "资金安排登记表", funding_sheet),
)}


def workbook_bytes(sheet: Sheet) -> bytes:
    """One sheet: the headers in row 1, a row per record; money as numbers; formula-like texts kept as text."""
    book = Workbook()
    ws = book.active
    ws.title = sheet.title
    _header(ws, 1, sheet.headers)
    for row_number, row in enumerate(sheet.rows, start=2):
        for column, value in enumerate(row, start=1):
            cell = ws.cell(row=row_number, column=column, value=value)
            if column in sheet.money:
                cell.number_format = MONEY_FORMAT + ".00"
            elif hasattr(value, "isoformat"):
                cell.number_format = "yyyy-mm-dd"
    ws.freeze_panes = "A2"
    _widths(ws, sheet.widths)
    _plain_text(book)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()


def export(key: str, user, now: datetime) -> tuple[bytes, str]:
    """The register ``key`` as an Excel workbook for ``user``, and its file name (with the Beijing date)."""
    ensure_exporter(user)
    register = REGISTERS[key]
    return workbook_bytes(register.build(user)), f"{register.file_name}-{local_date(now).isoformat()}.xlsx"
