"""The funding plan's documents: plain rows for the PDF, the 资金安排 notice and the Excel export (Chinese headers,
whole yuan as numbers so that a finance officer can add them up again).

Built from ``funding.compute``; no database access of their own beyond the objects the result carries.
"""

from __future__ import annotations

import io

from openpyxl import Workbook
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter

from portal.assessment.funding import PlanResult, number, percent, yuan
from portal.assessment.models import LEVEL_NAMES_CN, Level, PlanStatus
from portal.tenders.rules import local_date

# The Excel export: a title, the pool, a blank row, then the table from this row.
HEADER_ROW = 4
LINE_HEADERS = ("序号", "项目名称", "区县", "申请金额（元）", "基础优先级", "倾斜因素", "倾斜合计", "权重",
                "安排金额（元）", "不倾斜时金额（元）", "差额（元）", "贫困村", "边远/欠发达地区", "说明")
REWARD_HEADERS = ("序号", "受表彰机构", "表彰等次", "奖补金额（元）")
SUMMARY_HEADERS = ("项目", "倾斜后（元）", "不倾斜（元）")
MONEY_FORMAT = "#,##0"
# A cell text starting with one of these is what a spreadsheet takes for a formula (a project titled
# "=HYPERLINK(...)"): such texts are written as plain text, never as formulas.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")

# --- Plain rows ----------------------------------------------------------------------------------------------------


def plan_rows(result: PlanResult) -> list[dict]:
    """The plan's table as plain rows (the PDF, the notice, the Excel export)."""
    return [{"number": index, "title": r.line.project.title, "district": r.line.project.bureau.name,
             "requested": int(r.line.requested), "base_priority": r.line.base_priority,
             "tilts": "、".join(r.tilt_labels) or "无", "tilt_total": percent(r.tilt_total) if r.tilt_labels else "0%",
             "weight": number(r.weight), "amount": r.amount, "untilted_amount": r.untilted_amount,
             "difference": r.difference, "explanation": r.explanation, "poor_village": r.line.poor_village,
             "remote_area": r.line.remote_area}
            for index, r in enumerate(result.lines, start=1)]


def reward_rows(result: PlanResult) -> list[dict]:
    """The reward grants as plain rows."""
    return [{"number": index, "organisation": g.commendation.organisation.name,
             "level": LEVEL_NAMES_CN[Level(g.commendation.level)], "amount": int(g.amount)}
            for index, g in enumerate(result.rewards, start=1)]


def summary_rows(result: PlanResult) -> list[tuple[str, int, int | None]]:
    """(label, with tilts, without tilts) — the totals in the documents' words."""
    t = result.totals
    return [("资金池（元）", result.pool, result.pool), ("申请金额合计（元）", t.requested, t.requested),
            ("安排金额合计（元）", t.allocated, t.untilted),
            ("资金池未分配余额（元）", t.unallocated, result.pool - t.untilted),
            ("其中：贫困村项目（元）", t.poor_village, t.poor_village_untilted),
            ("其中：边远/欠发达地区项目（元）", t.remote_area, t.remote_area_untilted),
            ("奖补资金合计（元）", t.rewards, None), ("资金安排总额（项目 + 奖补，元）", t.overall, None)]


def pdf_context(result: PlanResult, *, approver=None) -> dict:
    """The plain data of the plan's PDF (in Chinese); a draft's PDF says so on its first line."""
    plan = result.plan
    approved = plan.approved_at is not None
    return {"issuer": plan.bureau.name, "title": plan.title, "fiscal_year": plan.fiscal_year,
            "draft": plan.status == PlanStatus.DRAFT, "approved_on": local_date(plan.approved_at) if approved else None,
            "approved_by": getattr(approver, "name", "") if approved else "",
            "pool": result.pool, "method": result.method, "settings": result.settings_text,
            "rows": plan_rows(result), "rewards": reward_rows(result),
            "summary": [list(row) for row in summary_rows(result)],
            "totals": {"requested": result.totals.requested, "allocated": result.totals.allocated,
                       "untilted": result.totals.untilted, "rewards": result.totals.rewards,
                       "difference": result.totals.allocated - result.totals.untilted}}


# --- The notice ----------------------------------------------------------------------------------------------------


def notice_body(result: PlanResult) -> str:
    """The 资金安排 notice's text: the pool, each project's amount with its tilts, the totals, the reward grants and
    the method (one paragraph per line)."""
    plan, totals = result.plan, result.totals
    lines = [f"经审定，{plan.bureau.name}{plan.fiscal_year}年度社会工作服务项目资金安排如下："
             f"资金池{yuan(result.pool)}元，{len(result.lines)}个项目申请{yuan(totals.requested)}元，"
             f"安排{yuan(totals.allocated)}元。"]
    for row in plan_rows(result):
        lines.append(f"{row['number']}. {row['title']}（{row['district']}）：申请{yuan(row['requested'])}元，"
                     f"基础优先级{row['base_priority']}，倾斜因素{row['tilts']}，权重{row['weight']}，"
                     f"安排{yuan(row['amount'])}元（不倾斜时{yuan(row['untilted_amount'])}元）。")
    lines.append(f"其中贫困村项目安排{yuan(totals.poor_village)}元（不倾斜时{yuan(totals.poor_village_untilted)}元），"
                 f"边远/欠发达地区项目安排{yuan(totals.remote_area)}元（不倾斜时{yuan(totals.remote_area_untilted)}元）。")
    if result.rewards:
        grants = "；".join(f"{r['organisation']}（{r['level']}）{yuan(r['amount'])}元" for r in reward_rows(result))
        lines.append(f"奖补资金（单列）：{grants}；合计{yuan(totals.rewards)}元。")
        lines.append(f"资金安排总额{yuan(totals.overall)}元（项目{yuan(totals.allocated)}元 + 奖补"
                     f"{yuan(totals.rewards)}元）。")
    lines.append(result.method)
    lines.append(result.settings_text)
    lines.append("表彰、考核结果和资金倾斜只用于资金安排，不作为政府采购评审加分条件。")
    return "\n".join(lines)


def notice_table(result: PlanResult) -> dict:
    """The notice PDF's table: label -> cells (``publish_notice`` extra rows)."""
    table = {"序号 项目名称": ["区县", "申请金额（元）", "倾斜因素", "安排金额（元）", "不倾斜时金额（元）"]}
    for row in plan_rows(result):
        table[f"{row['number']}. {row['title']}"] = [row["district"], yuan(row["requested"]), row["tilts"],
                                                    yuan(row["amount"]), yuan(row["untilted_amount"])]
    table["合计"] = ["", yuan(result.totals.requested), "", yuan(result.totals.allocated),
                   yuan(result.totals.untilted)]
    return table


# --- Excel ---------------------------------------------------------------------------------------------------------


def _header(sheet, row: int, headers) -> None:
    for column, title in enumerate(headers, start=1):
        cell = sheet.cell(row=row, column=column, value=title)
        cell.font = Font(bold=True)
        cell.alignment = Alignment(horizontal="center", vertical="center", wrap_text=True)


def _money(cell) -> None:
    cell.number_format = MONEY_FORMAT


def _widths(sheet, widths) -> None:
    for column, width in enumerate(widths, start=1):
        sheet.column_dimensions[get_column_letter(column)].width = width


def _plain_text(book: Workbook) -> None:
    """Every text cell of the workbook stays text: no formula injection from titles, names or explanations."""
    for sheet in book.worksheets:
        for row in sheet.iter_rows():
            for cell in row:
                if isinstance(cell.value, str) and cell.value.startswith(FORMULA_STARTS):
                    cell.data_type = "s"  # openpyxl took a leading "=" for a formula
                    cell.quotePrefix = True  # and the spreadsheet keeps it text when the cell is edited


def workbook_bytes(result: PlanResult) -> bytes:
    """The plan as an Excel workbook: 资金安排 (one row per project and a 合计 row), 奖补资金, 汇总对照 and 说明."""
    plan, totals = result.plan, result.totals
    book = Workbook()
    sheet = book.active
    sheet.title = "资金安排"
    status = {PlanStatus.DRAFT: "草稿（未审定）", PlanStatus.APPROVED: "已审定", PlanStatus.PUBLISHED: "已审定并公布"}
    heading = sheet.cell(row=1, column=1, value=f"{plan.title}（{status[PlanStatus(plan.status)]}）")
    heading.font = Font(bold=True, size=14)
    sheet.cell(row=2, column=1, value="资金池（元）")
    _money(sheet.cell(row=2, column=2, value=result.pool))
    sheet.cell(row=2, column=3, value=f"编制单位：{plan.bureau.name}")
    _header(sheet, HEADER_ROW, LINE_HEADERS)
    row = HEADER_ROW
    for row, line in enumerate(plan_rows(result), start=HEADER_ROW + 1):
        values = (line["number"], line["title"], line["district"], line["requested"], line["base_priority"],
                  line["tilts"], line["tilt_total"], result.lines[line["number"] - 1].weight, line["amount"],
                  line["untilted_amount"], line["difference"], "是" if line["poor_village"] else "否",
                  "是" if line["remote_area"] else "否", line["explanation"])
        for column, value in enumerate(values, start=1):
            cell = sheet.cell(row=row, column=column, value=value)
            if column in (4, 9, 10, 11):
                _money(cell)
        sheet.cell(row=row, column=14).alignment = Alignment(wrap_text=True, vertical="top")
    total_row = row + 1
    sheet.cell(row=total_row, column=1, value="合计").font = Font(bold=True)
    for column, value in ((4, totals.requested), (9, totals.allocated), (10, totals.untilted),
                          (11, totals.allocated - totals.untilted)):
        cell = sheet.cell(row=total_row, column=column, value=value)
        cell.font = Font(bold=True)
        _money(cell)
    sheet.freeze_panes = sheet.cell(row=HEADER_ROW + 1, column=3)
    _widths(sheet, (6, 34, 16, 14, 10, 40, 10, 10, 14, 16, 12, 8, 14, 100))

    rewards = book.create_sheet("奖补资金")
    _header(rewards, 1, REWARD_HEADERS)
    row = 1
    for row, grant in enumerate(reward_rows(result), start=2):
        for column, value in enumerate((grant["number"], grant["organisation"], grant["level"], grant["amount"]),
                                       start=1):
            rewards.cell(row=row, column=column, value=value)
        _money(rewards.cell(row=row, column=4))
    rewards.cell(row=row + 1, column=1, value="合计").font = Font(bold=True)
    _money(rewards.cell(row=row + 1, column=4, value=totals.rewards))
    _widths(rewards, (6, 40, 10, 16))

    summary = book.create_sheet("汇总对照")
    _header(summary, 1, SUMMARY_HEADERS)
    for row, (label, tilted, untilted) in enumerate(summary_rows(result), start=2):
        summary.cell(row=row, column=1, value=label)
        _money(summary.cell(row=row, column=2, value=tilted))
        if untilted is not None:
            _money(summary.cell(row=row, column=3, value=untilted))
    _widths(summary, (36, 16, 16))

    notes = book.create_sheet("说明")
    for row, text in enumerate((result.method, result.settings_text,
                                "表彰、考核结果和资金倾斜只用于资金安排，不作为政府采购评审加分条件。"), start=1):
        notes.cell(row=row, column=1, value=text).alignment = Alignment(wrap_text=True, vertical="top")
    _widths(notes, (120,))

    _plain_text(book)
    buffer = io.BytesIO()
    book.save(buffer)
    return buffer.getvalue()
