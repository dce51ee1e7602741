"""The funding plan (资金安排, issue 8) through HTTP: the plans, a new plan, the plan page with every line's amount and
explanation and the totals, the side-by-side comparison, a line's correction, reward grants, the Excel export read
back with openpyxl, the PDFs, approval and publication to the notice board, no N+1 queries, and who may do each."""

from __future__ import annotations

import io
import subprocess
from datetime import UTC, datetime
from decimal import Decimal

import pytest
import time_machine
from openpyxl import load_workbook

from portal.assessment import funding
from portal.assessment.funding_export import HEADER_ROW, LINE_HEADERS
from portal.assessment.models import Commendation, FundingPlan, PlanStatus, SubjectKind
from portal.extensions import db
from tests.conftest import csrf_token
from tests.funding_builders import assessment, commendation_list, district, project
from tests.support.queries import queries_for
from tests.support.web import as_user, fetch, text

AT = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)  # Monday 30 November 2026, 10:00 Beijing

pytestmark = pytest.mark.usefixtures("english_messages")


@pytest.fixture(autouse=True)
def clock():
    with time_machine.travel(AT, tick=False) as traveller:
        yield traveller


@pytest.fixture
def people(create_user, create_org, city_bureau):
    zhongmu = district(create_org, city_bureau, "中牟县民政局")
    people = {"officer": create_user("officer", organisation_id=city_bureau.id),
              "colleague": create_user("officer", organisation_id=city_bureau.id),
              "district": create_user("officer", organisation_id=zhongmu.id),
              "admin": create_user("admin"), "supplier": create_user("supplier")}
    for user in people.values():
        user.locale = "en"
    db.session.commit()
    people["zhongmu"] = zhongmu
    return people


@pytest.fixture
def plan(people, city_bureau, create_org):
    """Pool 100,000 for two projects: 中牟 (优秀 in 2026, poor village) asks 80,000 at base 60, weight 60 x 1.45 = 87;
    the city's own asks 60,000 at base 60, weight 60. Round 1: 100,000 x 87 / 147 = 59,183.67 and 40,816.33, neither
    capped; the last yuan goes to the larger remainder (.67): 59,184 and 40,816. Without tilts: 50,000 each."""
    assessment(city_bureau, people["zhongmu"], 2026, "excellent")
    project(people["zhongmu"], "大孟村留守儿童关爱", budget=80_000, base_priority=60, poor_village=True)
    project(city_bureau, "市本级孤儿关爱", budget=60_000, base_priority=60)
    made = funding.create_plan(city_bureau, fiscal_year=2027, pool=100_000, actor=people["officer"], now=AT)
    funding.add_candidates(made, actor=people["officer"], now=AT)
    db.session.commit()
    return made


def url(plan, page: str = "") -> str:
    return f"/assessment/funding/{plan.id}" + (f"/{page}" if page else "")


def post(client, path, **data):
    return client.post(path, data={"csrf_token": csrf_token(client, "/")} | data)


def pdf_text(data: bytes, tmp_path) -> str:
    source = tmp_path / "plan.pdf"
    source.write_bytes(data)
    return subprocess.run(["pdftotext", "-layout", str(source), "-"], check=True, capture_output=True,
                          text=True).stdout


# --- The plans -------------------------------------------------------------------------------------------------------


def test_a_city_officer_creates_a_plan_from_the_index(client, people):
    as_user(client, people["officer"])
    page = text(client.get("/assessment/funding"))
    assert "New funding plan" in page and 'value="2027"' in page  # next year by default
    response = post(client, "/assessment/funding/new", fiscal_year="2027", pool="1,200,000", title="")
    plan = db.session.scalar(db.select(FundingPlan))
    assert response.status_code == 302 and response.location.endswith(url(plan))
    assert (plan.pool, plan.title) == (Decimal("1200000"), "2027年度社会工作服务项目资金安排")
    page = text(client.get("/assessment/funding"))
    assert "2027年度社会工作服务项目资金安排" in page and "1,200,000" in page


def test_a_new_plan_is_refused_with_its_reasons(client, people, plan):
    as_user(client, people["officer"])
    response = post(client, "/assessment/funding/new", fiscal_year="2027", pool="500000")
    assert response.status_code == 422 and "already has a funding plan for 2027" in text(response)
    response = post(client, "/assessment/funding/new", fiscal_year="2028", pool="500000.50")
    assert response.status_code == 422 and "whole number of yuan" in text(response)
    response = post(client, "/assessment/funding/new", fiscal_year="", pool="")
    assert response.status_code == 400 and "This field is required." in text(response)
    response = client.post("/assessment/funding/new", data={"fiscal_year": "2028", "pool": "5"})  # no CSRF token
    assert response.status_code == 400
    assert db.session.scalar(db.select(db.func.count(FundingPlan.id))) == 1


def test_district_officers_suppliers_and_the_public_cannot_reach_the_plans(client, people, plan):
    as_user(client, people["district"])
    page = text(client.get("/assessment/funding"))
    assert "New funding plan" not in page and "once published they are on the notice board" in page
    assert "2027年度社会工作服务项目资金安排" not in page
    for path in (url(plan), url(plan, "compare"), url(plan, "plan.xlsx"), url(plan, "plan.pdf")):
        assert fetch(client, path).status_code == 403, path
    assert post(client, "/assessment/funding/new", fiscal_year="2028", pool="5").status_code == 403
    assert post(client, url(plan, "approve")).status_code == 403
    line = funding.plan_lines(plan)[0]
    assert client.get(f"/assessment/funding/lines/{line.id}").status_code == 403
    as_user(client, people["supplier"])
    assert client.get("/assessment/funding").status_code == 403 and client.get(url(plan)).status_code == 403
    as_user(client, None)
    response = client.get(url(plan))
    assert response.status_code == 302 and "/login" in response.location


def test_admin_reads_a_plan_but_does_not_change_it(client, people, plan):
    as_user(client, people["admin"])
    page = text(client.get(url(plan)))
    assert "大孟村留守儿童关爱" in page and "Approve the funding plan" not in page and "Correct this line" not in page
    assert fetch(client, url(plan, "plan.xlsx")).status_code == 200
    assert post(client, url(plan, "approve")).status_code == 403
    assert plan.status == PlanStatus.DRAFT


# --- The plan page ---------------------------------------------------------------------------------------------------


def test_the_plan_page_shows_every_amount_with_its_explanation_and_totals(client, people, plan):
    as_user(client, people["officer"])
    page = text(client.get(url(plan)))
    for words in ("大孟村留守儿童关爱", "中牟县民政局", "贫困村+30%", "区县上年度考核优秀+15%", "59,184", "40,816",
                  "+9,184", "-9,184", "80,000", "60,000", "100,000",
                  "权重 = 60 × (1 + 45%) = 87。第1轮：资金池100,000元由2个项目按权重分配，权重合计147",
                  "按比例应得 100,000 × 87 ÷ 147 ≈ 59,183.67元", "分配方法", "倾斜设置：贫困村+30%"):
        assert words in page, words
    totals = page[page.index('id="total-poor-village"'):]
    assert "59,184" in totals[:400] and "50,000" in totals[:400]
    assert "Draft: the amounts are computed afresh" in page
    assert "Add the fiscal year&#39;s projects as candidates" in page or "Add the fiscal year's projects" in page


def test_the_comparison_puts_both_shares_side_by_side(client, people, plan):
    as_user(client, people["officer"])
    page = text(client.get(url(plan, "compare")))
    assert "Tilted and untilted, side by side" in page
    assert "对照方案不计倾斜，权重 = 基础优先级 = 60。" in page
    assert "按比例应得 100,000 × 60 ÷ 120 = 50,000元" in page
    poor = page[page.index('id="compare-poor-village"'):][:600]
    assert "50,000" in poor and "59,184" in poor and "+9,184" in poor


def test_the_pool_and_title_are_changed_on_the_plan_page(client, people, plan):
    as_user(client, people["officer"])
    response = post(client, url(plan, "edit"), pool="147000", title="2027年度资金安排")
    assert response.status_code == 302
    db.session.refresh(plan)
    assert (plan.pool, plan.title) == (Decimal("147000"), "2027年度资金安排")
    page = text(client.get(url(plan)))
    assert "87,000" in page and "60,000" in page  # 147,000 x 87 / 147 = 87,000 reaches the 80,000 asked: capped
    response = post(client, url(plan, "edit"), pool="0", title="")
    assert response.status_code == 422 and "greater than 0" in text(response)


# --- Lines and rewards ----------------------------------------------------------------------------------------------


def test_a_line_is_corrected_and_the_plan_recomputed(client, people, plan):
    line = funding.plan_lines(plan)[0]
    as_user(client, people["officer"])
    page = text(client.get(f"/assessment/funding/lines/{line.id}"))
    assert "Project budget: 80,000 yuan" in page and "Excellent (优秀)" in page and "59,184" in page
    response = post(client, f"/assessment/funding/lines/{line.id}", requested="70000", base_priority="60",
                    poor_households="250", poor_village="y")
    assert response.status_code == 302 and response.location.endswith(f"#line-{line.id}")
    db.session.refresh(line)
    assert (line.requested, line.poor_households) == (Decimal("70000"), 250)
    page = text(client.get(url(plan)))
    assert "Corrected from the project&#39;s record: 申请金额、贫困户数" in page or \
        "Corrected from the project's record: 申请金额、贫困户数" in page
    response = post(client, f"/assessment/funding/lines/{line.id}", requested="90000", base_priority="60",
                    poor_households="0")
    assert response.status_code == 422 and "to the project&#39;s budget, 80,000" in text(response)
    response = post(client, f"/assessment/funding/lines/{line.id}", requested="90000", base_priority="160",
                    poor_households="0")
    assert response.status_code == 400


def test_a_line_is_taken_out(client, people, plan):
    line = funding.plan_lines(plan)[1]
    as_user(client, people["officer"])
    assert post(client, f"/assessment/funding/lines/{line.id}/remove").status_code == 302
    assert len(funding.plan_lines(plan)) == 1
    assert post(client, url(plan, "candidates")).status_code == 302
    assert len(funding.plan_lines(plan)) == 2


def test_reward_grants_are_added_and_taken_out(client, people, plan, city_bureau, create_org):
    as_user(client, people["officer"])
    page = text(client.get(url(plan)))
    assert "There is no confirmed commendation list of 2026 yet." in page
    ngo = create_org(name="阳光社工服务中心")
    commendation_list(city_bureau, 2026, [(ngo, "second", SubjectKind.NGO)])
    assert post(client, url(plan, "rewards")).status_code == 302
    page = text(client.get(url(plan)))
    assert "阳光社工服务中心" in page and "30,000" in page and "130,000" in page  # 100,000 + 30,000
    grant = funding.plan_rewards(plan)[0]
    assert post(client, f"/assessment/funding/rewards/{grant.id}/remove").status_code == 302
    assert "阳光社工服务中心" not in text(client.get(url(plan)))


# --- Exports ---------------------------------------------------------------------------------------------------------


def test_the_excel_export_has_chinese_headers_rows_and_totals_that_add_up(client, people, plan, city_bureau,
                                                                          create_org):
    commendation_list(city_bureau, 2026, [(create_org(name="阳光社工服务中心"), "first", SubjectKind.NGO)])
    funding.add_rewards(plan, actor=people["officer"], now=AT)
    db.session.commit()
    as_user(client, people["officer"])
    response = fetch(client, url(plan, "plan.xlsx"))
    assert response.status_code == 200
    assert response.mimetype == "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    assert "attachment" in response.headers["Content-Disposition"]
    book = load_workbook(io.BytesIO(response.get_data()))
    assert book.sheetnames == ["资金安排", "奖补资金", "汇总对照", "说明"]
    sheet = book["资金安排"]
    assert sheet.cell(row=2, column=2).value == 100_000
    headers = [c.value for c in sheet[HEADER_ROW]]
    assert tuple(headers) == LINE_HEADERS
    for name in ("项目名称", "区县", "申请金额（元）", "基础优先级", "倾斜因素", "权重", "安排金额（元）",
                 "不倾斜时金额（元）", "说明"):
        assert name in headers
    column = {name: index for index, name in enumerate(headers)}
    rows = [[c.value for c in row] for row in sheet.iter_rows(min_row=HEADER_ROW + 1)]
    lines, total = rows[:-1], rows[-1]
    assert [(r[column["项目名称"]], r[column["区县"]], r[column["安排金额（元）"]], r[column["不倾斜时金额（元）"]])
            for r in lines] == [("大孟村留守儿童关爱", "中牟县民政局", 59_184, 50_000),
                                ("市本级孤儿关爱", "郑州市民政局", 40_816, 50_000)]
    assert lines[0][column["倾斜因素"]] == "贫困村+30%、区县上年度考核优秀+15%"
    assert lines[0][column["权重"]] == 87 and lines[0][column["基础优先级"]] == 60
    assert lines[0][column["说明"]].startswith("基础优先级60（来自需求评估）。")
    assert total[0] == "合计"
    for name in ("申请金额（元）", "安排金额（元）", "不倾斜时金额（元）", "差额（元）"):
        assert total[column[name]] == sum(r[column[name]] for r in lines), name
    assert total[column["安排金额（元）"]] == 100_000
    rewards = [[c.value for c in row] for row in book["奖补资金"].iter_rows(min_row=2)]
    assert rewards == [[1, "阳光社工服务中心", "一等", 50_000], ["合计", None, None, 50_000]]
    summary = {row[0].value: (row[1].value, row[2].value) for row in book["汇总对照"].iter_rows(min_row=2)}
    assert summary["其中：贫困村项目（元）"] == (59_184, 50_000)
    assert summary["资金安排总额（项目 + 奖补，元）"] == (150_000, None)


def test_a_draft_pdf_says_it_is_a_draft_and_the_approved_one_is_the_issued_copy(client, people, plan, tmp_path):
    as_user(client, people["officer"])
    response = fetch(client, url(plan, "plan.pdf"))
    assert response.status_code == 200 and response.mimetype == "application/pdf"
    draft = pdf_text(response.get_data(), tmp_path)
    assert "草稿" in draft and "59,184" in draft and "大孟村留守儿童关爱" in draft
    assert post(client, url(plan, "approve")).status_code == 302
    response = fetch(client, url(plan, "plan.pdf"))
    issued = pdf_text(response.get_data(), tmp_path)
    assert "草稿" not in issued and "59,184" in issued and "ZJAP-2026-00001" in issued


# --- Approval and publication ------------------------------------------------------------------------------------


def test_approve_then_publish_to_the_notice_board(client, people, plan):
    as_user(client, people["officer"])
    response = post(client, url(plan, "approve"))
    assert response.status_code == 302
    db.session.refresh(plan)
    assert plan.status == PlanStatus.APPROVED
    page = text(client.get(url(plan)))
    assert "Publish the funding plan" in page and "Correct this line" not in page
    line = funding.plan_lines(plan)[0]
    response = client.get(f"/assessment/funding/lines/{line.id}")
    assert response.status_code == 302  # frozen: back to the plan with a warning
    response = post(client, f"/assessment/funding/lines/{line.id}", requested="1", base_priority="1",
                    poor_households="0")
    db.session.refresh(line)
    assert response.status_code == 302 and line.requested == Decimal("80000")
    assert post(client, url(plan, "approve")).status_code == 302  # refused (already approved): flashed, no change
    assert post(client, url(plan, "publish")).status_code == 302
    db.session.refresh(plan)
    assert plan.status == PlanStatus.PUBLISHED
    as_user(client, None)
    notice = text(client.get(f"/notices/{plan.notice_id}"))
    assert "2027年度社会工作服务项目资金安排公告" in notice and "安排59,184元（不倾斜时50,000元）" in notice
    assert fetch(client, f"/notices/{plan.notice_id}.pdf").status_code == 200
    as_user(client, people["district"])
    inbox = text(client.get("/inbox"))
    assert "Funding published for your projects" in inbox


def test_approval_refused_shows_why(client, people, plan, city_bureau):
    funding.plan_lines(plan)[1].project.status = "archived"
    db.session.commit()
    as_user(client, people["officer"])
    page = text(client.get(url(plan)))
    assert "was archived since it was added: remove its line" in page
    assert "Approve the funding plan" not in page
    response = client.post(url(plan, "approve"), data={"csrf_token": csrf_token(client, "/")},
                           follow_redirects=True)
    assert "The plan cannot be approved yet" in text(response)
    assert plan.status == PlanStatus.DRAFT


def test_the_plan_page_runs_the_same_queries_however_many_lines(client, people, plan, city_bureau, create_org):
    listed = commendation_list(city_bureau, 2026, [(create_org(name="社工机构0"), "third", SubjectKind.NGO)])
    funding.add_rewards(plan, actor=people["officer"], now=AT)
    db.session.commit()
    as_user(client, people["officer"])
    few = {page: queries_for(client, url(plan, page)) for page in ("", "compare")}
    for n in range(5):
        project(people["zhongmu"], f"新增项目{n}", budget=30_000 + n, base_priority=40 + n, poor_households=150 * n)
    for n in range(1, 4):
        db.session.add(Commendation(list_id=listed.id, subject=SubjectKind.NGO, level="second",
                                    organisation_id=create_org(name=f"社工机构{n}").id))
    db.session.commit()
    funding.add_candidates(plan, actor=people["officer"], now=AT)
    funding.add_rewards(plan, actor=people["officer"], now=AT)
    db.session.commit()
    assert (len(funding.plan_lines(plan)), len(funding.plan_rewards(plan))) == (7, 4)
    assert {page: queries_for(client, url(plan, page)) for page in ("", "compare")} == few
    index = queries_for(client, "/assessment/funding")
    funding.create_plan(city_bureau, fiscal_year=2028, pool=1, actor=people["officer"], now=AT)
    db.session.commit()
    assert queries_for(client, "/assessment/funding") == index


def test_the_counts_of_what_was_added_are_said_in_the_plural_that_fits(client, people, plan, city_bureau,
                                                                      create_org):
    as_user(client, people["officer"])
    project(city_bureau, "新增项目", budget=10_000, base_priority=10)
    assert "1 project added; the district grades are up to date." in text(
        client.get(post(client, url(plan, "candidates")).location))
    assert "0 projects added; the district grades are up to date." in text(
        client.get(post(client, url(plan, "candidates")).location))
    commendation_list(city_bureau, 2026, [(create_org(name="阳光社工服务中心"), "second", SubjectKind.NGO),
                                          (create_org(name="同心社工事务所"), "third", SubjectKind.NGO)])
    assert "2 reward grants added from the commendation list." in text(
        client.get(post(client, url(plan, "rewards")).location))


def test_a_plan_action_with_a_bad_form_is_a_bad_request_after_the_permission_check(client, people, plan, app,
                                                                                     monkeypatch):
    line = funding.plan_lines(plan)[0]
    as_user(client, people["officer"])
    assert client.post(url(plan, "approve"), data={"csrf_token": "forged"}).status_code == 400  # the app's check
    # Behind the app-wide check, the view's own form check: a 400 with a word, never a 403.
    monkeypatch.setitem(app.config, "WTF_CSRF_CHECK_DEFAULT", False)
    for path in (url(plan, "candidates"), url(plan, "rewards"), url(plan, "approve"), url(plan, "publish"),
                 f"/assessment/funding/lines/{line.id}/remove"):
        response = client.post(path, data={"csrf_token": "forged"})
        assert response.status_code == 400, path
        assert "The form could not be sent (it may have expired)" in text(response)
    assert plan.status == PlanStatus.DRAFT and len(funding.plan_lines(plan)) == 2
    as_user(client, people["district"])  # no permission: refused before the form is read
    assert client.post(url(plan, "approve"), data={}).status_code == 403
