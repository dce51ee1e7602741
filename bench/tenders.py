"""The rows of one bench tender and everything that hangs from it, by its number ``n`` (deterministic).

Ten bids per tender. By ``n % 10``: 0-4 awarded (five-expert committee with every score sheet, award, result
notice, a signed contract with its installments and contract notice, a graded and a planned review), 5-6 open
for bids (sealed bids, deadline ahead), 7 opened, 8 failed (废标), 9 under evaluation (two of five sheets in).
Prices and scores make the first bid the lowest-priced and best-scored, so the award follows the ranking."""

from __future__ import annotations

import hashlib
import random
from collections import defaultdict
from datetime import date, datetime, timedelta
from decimal import Decimal

from bench.world import World
from portal.projects.models import Plan

BIDS = 10
CRITERIA = (("service_plan", "服务方案", 30), ("team", "项目团队与专业能力", 20),
            ("management", "项目管理与质量保障", 20))
WEIGHTS = tuple(weight for _kind, _name, weight in CRITERIA)
PRICE_WEIGHT = 30
REQUIREMENTS = ("具有独立承担民事责任的能力", "具有社会工作专业人员（持证）不少于3名")
SERVICES = ("困难老年人关爱", "留守儿童关爱", "社区社会救助", "困境儿童保护", "社区矫正社会工作", "残疾人康复社会工作")
TOWNS = ("城关镇", "东风街道", "南湖乡", "北山镇", "西河街道", "青石镇", "白云乡", "长乐街道")
PLANS = tuple(Plan)
COMMITTEE = 5
STATUS_BY_DIGIT = ("awarded",) * 5 + ("published", "published", "opened", "failed", "evaluating")


class Ids:
    """Explicit primary keys, taken in order from each table's next free id."""

    def __init__(self, start: dict[str, int]):
        self.next = dict(start)

    def take(self, table: str) -> int:
        value = self.next[table]
        self.next[table] = value + 1
        return value


def sha(*parts) -> str:
    return hashlib.sha256("|".join(map(str, parts)).encode()).hexdigest()


def cents(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.01"))


class TenderRows:
    """Collects the rows of a chunk per table, in an order that satisfies every foreign key."""

    def __init__(self, world: World, ids: Ids, now: datetime):
        self.world, self.ids, self.now = world, ids, now
        self.rows: dict[str, list[dict]] = defaultdict(list)
        self.chairs: list[dict] = []  # committee id -> chair member id, set once both exist

    def add(self, table: str, **values) -> int:
        values.setdefault("id", self.ids.take(table))
        self.rows[table].append(values)
        return values["id"]

    def notice(self, kind: str, bureau_id: int, tender_id: int, title: str, body: str, at: datetime,
               runs_until: date | None = None) -> int:
        return self.add("notices", kind=kind, bureau_id=bureau_id, tender_id=tender_id, title=title, body=body,
                        published_at=at, runs_until=runs_until, document_id=None, created_at=at)


def tender(rows: TenderRows, n: int) -> None:
    """All rows of bench tender number ``n``."""
    rng = random.Random(n)
    world, now = rows.world, rows.now
    bureau_id, officer, officer2, bureau_name = world.bureaus[n % len(world.bureaus)]
    status = STATUS_BY_DIGIT[n % 10]
    service, town = SERVICES[n % len(SERVICES)], TOWNS[(n // 7) % len(TOWNS)]
    title = f"{bureau_name.removesuffix('民政局')}{town}{service}服务项目（第{n}号）"
    budget = Decimal(200_000 + (n % 40) * 25_000)
    published = now - timedelta(days=5 if status == "published" else 40 + n % 300, minutes=n % 997)
    deadline = published + timedelta(days=25)
    project_id = rows.add(
        "service_projects", bureau_id=bureau_id, title=title, plan=PLANS[n % len(PLANS)].value, status="ready",
        fiscal_year=published.year, target_groups=f"{town}{service}对象", description=f"{title}的服务需求。",
        district=bureau_name.removesuffix("民政局"), township=town, villages="", poor_village=n % 3 == 0,
        poor_households=n % 120, remote_area=n % 5 == 0, budget=budget, duration_months=12, base_priority=n % 100,
        needs_survey="已完成需求调查。", needs_survey_file_id=None, created_by_id=officer, created_at=published,
        updated_at=published)
    opened = status not in ("published",)
    tender_id = rows.add(
        "tenders", project_id=project_id, bureau_id=bureau_id, reference=f"BM-{n:07d}", title=title, method="open",
        status=status, budget=budget, ceiling_price=None, service_content=f"为{town}提供{service}专业社会工作服务。",
        evaluation_method="comprehensive", price_weight=PRICE_WEIGHT, complex=False, method_ground=None,
        justification="", approval_document="", approval_date=None, approval_body="",
        single_source_supplier_id=None, published_at=published, notice_until=(published + timedelta(days=8)).date(),
        documents_from=published.date(), documents_until=(published + timedelta(days=8)).date(),
        bid_deadline=deadline, opening_started_by_id=officer if opened else None,
        opening_started_at=deadline + timedelta(minutes=30) if opened else None,
        opening_confirmed_by_id=officer2 if opened else None,
        opened_at=deadline + timedelta(hours=1) if opened else None,
        failed_at=deadline + timedelta(days=3) if status == "failed" else None,
        failure_reason="合格投标人不足三家，依法废标。" if status == "failed" else "", created_by_id=officer,
        created_at=published - timedelta(days=2), updated_at=published)
    rows.notice("tender", bureau_id, tender_id, f"{title}公开招标公告",
                f"项目编号：BM-{n:07d}\n采购内容：{service}\n预算金额：{budget}元", published,
                (published + timedelta(days=8)).date())
    criteria = [rows.add("tender_criteria", tender_id=tender_id, position=i + 1, factor_type=kind, name=name,
                         description="", weight=weight) for i, (kind, name, weight) in enumerate(CRITERIA)]
    requirements = [rows.add("tender_requirements", tender_id=tender_id, position=i + 1, text=text)
                    for i, text in enumerate(REQUIREMENTS)]
    suppliers = rng.sample(world.ngos, BIDS)
    bids = [_bid(rows, tender_id, supplier, budget, j, deadline, opened) for j, supplier in enumerate(suppliers)]
    if status == "failed":
        rows.notice("failure", bureau_id, tender_id, f"{title}废标公告", f"项目编号：BM-{n:07d}\n合格投标人不足三家。",
                    deadline + timedelta(days=3))
    if status in ("awarded", "evaluating"):
        _committee(rows, rng, tender_id, bids, list(zip(criteria, WEIGHTS, strict=True)), requirements, officer,
                   deadline + timedelta(days=1), submitted=COMMITTEE if status == "awarded" else 2)
    if status == "awarded":
        _award(rows, n, tender_id, bureau_id, officer, suppliers[0], bids[0], title, deadline + timedelta(days=8))


def _bid(rows: TenderRows, tender_id: int, supplier, budget: Decimal, j: int, deadline: datetime,
         opened: bool, step: Decimal = Decimal("0.015")) -> tuple[int, Decimal]:
    """The ``j``-th bid: the higher ``j``, the higher the price (never abnormally low: within 20% of the mean)."""
    price = cents(budget * (Decimal("0.80") + step * j))
    received = deadline - timedelta(hours=2 + j)
    bid_id = rows.add("bids", tender_id=tender_id, supplier_id=supplier[0], submitted_by_id=supplier[1], kind="bid",
                      status="submitted", sealed_price=hashlib.sha256(f"{tender_id}:{j}".encode()).digest(),
                      price_sha256=sha("price", tender_id, j), receipt_sha256=sha("receipt", tender_id, j),
                      received_at=received, withdrawn_at=None, replaced_by_id=None,
                      opened_price=price if opened else None, created_at=received)
    return bid_id, price


def _committee(rows: TenderRows, rng: random.Random, tender_id: int, bids, criteria, requirements, officer: int,
               formed: datetime, *, submitted: int, size: int = COMMITTEE) -> int:
    """A committee of ``size`` experts, qualification passed, ``submitted`` sheets in; ``criteria`` as (id, weight)."""
    experts = sorted(rng.sample(rows.world.experts, min(len(rows.world.experts), size + 3)))
    members = experts[:size]
    closed = formed + timedelta(days=2) if submitted == size else None
    committee_id = rows.add(
        "evaluation_committees", tender_id=tender_id, size=size, specialty="", seed=sha("seed", tender_id)[:64],
        pool="[" + ",".join(map(str, experts)) + "]", excluded="[]", chair_id=None, formed_at=formed,
        formed_by_id=officer, qualification_closed_at=formed + timedelta(hours=3), scoring_closed_at=closed,
        report_completed_at=closed, report_document_id=None, round=1, created_at=formed, updated_at=formed)
    member_ids = [rows.add("committee_members", committee_id=committee_id, user_id=uid, kind="expert",
                           status="active", position=k + 1, draw_seed=sha("draw", tender_id, k)[:80],
                           declared_at=formed + timedelta(hours=1), conflict_note="", replaced_at=None,
                           replaced_reason="", replacement_of_id=None,
                           report_confirmed_at=closed, report_dissent="")
                  for k, uid in enumerate(members)]
    rows.chairs.append({"committee_id": committee_id, "chair_id": member_ids[0]})
    for bid_id, _price in bids:
        for requirement in requirements:
            rows.add("qualification_checks", committee_id=committee_id, bid_id=bid_id, requirement_id=requirement,
                     passed=True, reason="", recorded_by_id=members[0], recorded_at=formed + timedelta(hours=3))
    for k, member_id in enumerate(member_ids[:submitted]):
        sheet_id = rows.add("score_sheets", committee_id=committee_id, member_id=member_id,
                            submitted_at=formed + timedelta(days=1, hours=k))
        for j, (bid_id, _price) in enumerate(bids):
            for criterion_id, weight in criteria:
                points = Decimal(weight) * (1 - Decimal(j) / (2 * len(bids))) - Decimal(rng.randint(0, 3)) / 4
                points = max(Decimal(0), cents(points))
                rows.add("scores", sheet_id=sheet_id, bid_id=bid_id, criterion_id=criterion_id, points=points,
                         comment="")
    return committee_id


def _award(rows: TenderRows, n: int, tender_id: int, bureau_id: int, officer: int, supplier, bid, title: str,
           decided: datetime) -> None:
    bid_id, price = bid
    notice_id = rows.notice("result", bureau_id, tender_id, f"{title}中标结果公告",
                            f"项目编号：BM-{n:07d}\n中标供应商：{supplier[2]}\n中标金额：{price}元", decided,
                            (decided + timedelta(days=1)).date())
    award_id = rows.add("awards", tender_id=tender_id, supplier_id=supplier[0], bid_id=bid_id, amount=price,
                        status="active", deemed=False, decided_at=decided, decided_by_id=officer, notice_id=notice_id,
                        notice_ends_on=(decided + timedelta(days=1)).date(),
                        challenge_last_day=(decided + timedelta(days=10)).date(), letter_document_id=None,
                        annulled_at=None, annulled_reason="")
    signed = decided + timedelta(days=15)
    contract_notice = rows.notice("contract", bureau_id, tender_id, f"{title}合同公告",
                                  f"项目编号：BM-{n:07d}\n合同金额：{price}元", signed + timedelta(days=1))
    start = signed.date() + timedelta(days=1)
    contract_id = rows.add(
        "contracts", reference=f"HTBM-{n:07d}", tender_id=tender_id, award_id=award_id, bureau_id=bureau_id,
        supplier_id=supplier[0], status="signed", title=title, service_content="按采购文件提供专业社会工作服务。",
        targets="服务对象满意度不低于90%。", amount=price, start_date=start, end_date=start + timedelta(days=364),
        budget_secured=False, service_stable=False, long_term_note="", report_interval="quarterly",
        performance_bond=None, breach_terms="按合同约定承担违约责任。", award_letter_on=decided.date(),
        drafted_at=decided + timedelta(days=12), drafted_by_id=officer, officer_signed_at=signed,
        officer_signed_by_id=officer, supplier_signed_at=signed, supplier_signed_by_id=supplier[1], signed_at=signed,
        document_id=None, notice_id=contract_notice, filed_at=signed + timedelta(days=3),
        filing_reference=f"备案BM{n:07d}", accepted_at=None, acceptance_record="", ended_at=None,
        termination_grounds="", reminded="", created_at=decided + timedelta(days=12), updated_at=signed)
    _installments_and_reviews(rows, contract_id, price, start, signed, officer)


def _installments_and_reviews(rows: TenderRows, contract_id: int, price: Decimal, start: date, signed: datetime,
                              officer: int) -> None:
    first, second = cents(price * Decimal("0.3")), cents(price * Decimal("0.4"))
    shares = (("30.00", first, "signing", "签订合同"), ("40.00", second, "review", "需求评估"),
              ("30.00", price - first - second, "acceptance", "终期验收"))
    graded = datetime.combine(start + timedelta(days=30), datetime.min.time(), tzinfo=signed.tzinfo)
    graded = min(graded, rows.now - timedelta(hours=1))
    review_id = rows.ids.take("reviews")
    installment_ids = []
    for position, (percent, amount, gate, label) in enumerate(shares, start=1):
        met = signed if gate == "signing" else graded if gate == "review" else None
        paid = gate == "signing"
        installment_ids.append(rows.add(
            "contract_installments", contract_id=contract_id, position=position, percent=Decimal(percent),
            amount=amount, gate=gate, gate_label=label, gate_met_at=met,
            gate_source=f"review:{review_id}" if gate == "review" else "",
            paid_on=(signed + timedelta(days=5)).date() if paid else None, paid_amount=amount if paid else None,
            voucher=f"PZ{contract_id:08d}" if paid else "", paid_recorded_by_id=officer if paid else None,
            paid_recorded_at=signed + timedelta(days=5) if paid else None))
    end = start + timedelta(days=364)
    rows.add("reviews", id=review_id, contract_id=contract_id, kind="needs", title="需求评估", status="graded",
             due_on=start + timedelta(days=30), period_start=start, period_end=start + timedelta(days=29),
             year_index=None, opens_payment=True, third_party="", template_id=None, round=1, created_by_id=None,
             self_assessment="", self_assessed_at=None, started_at=graded - timedelta(days=3), started_by_id=officer,
             graded_at=graded, graded_by_id=officer, score=Decimal(78 + contract_id % 20), grade=_grade(contract_id),
             document_id=None, gate_installment_id=installment_ids[1], cancelled_reason="",
             termination_proposed_at=None, proposal_decision="", proposal_note="", proposal_decided_at=None,
             proposal_decided_by_id=None, created_at=signed, updated_at=graded)
    rows.add("reviews", contract_id=contract_id, kind="final", title="末期效果评估", status="planned",
             due_on=end - timedelta(days=31), period_start=start, period_end=end, year_index=None,
             opens_payment=False, third_party="", template_id=None, round=1, created_by_id=None, self_assessment="",
             self_assessed_at=None, started_at=None, started_by_id=None, graded_at=None, graded_by_id=None, score=None,
             grade=None, document_id=None, gate_installment_id=None, cancelled_reason="", termination_proposed_at=None,
             proposal_decision="", proposal_note="", proposal_decided_at=None, proposal_decided_by_id=None,
             created_at=signed, updated_at=signed)


def _grade(contract_id: int) -> str:
    score = 78 + contract_id % 20
    return "excellent" if score >= 90 else "good" if score >= 80 else "pass"


SHOWCASE = "BM-SHOWCASE"  # the reference of the evaluation-summary tender
SHOWCASE_BIDS, SHOWCASE_EXPERTS, SHOWCASE_CRITERIA = 100, 9, 20


def showcase(rows: TenderRows, bureau: tuple[int, int, int, str]) -> None:
    """One tender of the city bureau with 100 bids scored by 9 experts on 20 criteria, scoring closed."""
    rng = random.Random(SHOWCASE)
    bureau_id, officer, officer2, _name = bureau
    now = rows.now
    published, budget = now - timedelta(days=40), Decimal(3_000_000)
    deadline = published + timedelta(days=25)
    title = "全市困难群众社会工作综合服务项目（评审规模基准）"
    project_id = rows.add(
        "service_projects", bureau_id=bureau_id, title=title, plan="social_assistance", status="ready",
        fiscal_year=published.year, target_groups="全市困难群众", description=title, district="全市", township="",
        villages="", poor_village=False, poor_households=500, remote_area=False, budget=budget, duration_months=12,
        base_priority=80, needs_survey="已完成需求调查。", needs_survey_file_id=None, created_by_id=officer,
        created_at=published, updated_at=published)
    tender_id = rows.add(
        "tenders", project_id=project_id, bureau_id=bureau_id, reference=SHOWCASE, title=title, method="open",
        status="evaluating", budget=budget, ceiling_price=None, service_content=title,
        evaluation_method="comprehensive", price_weight=20, complex=False, method_ground=None, justification="",
        approval_document="", approval_date=None, approval_body="", single_source_supplier_id=None,
        published_at=published, notice_until=(published + timedelta(days=8)).date(), documents_from=published.date(),
        documents_until=(published + timedelta(days=8)).date(), bid_deadline=deadline, opening_started_by_id=officer,
        opening_started_at=deadline + timedelta(minutes=30), opening_confirmed_by_id=officer2,
        opened_at=deadline + timedelta(hours=1), failed_at=None, failure_reason="", created_by_id=officer,
        created_at=published, updated_at=published)
    rows.notice("tender", bureau_id, tender_id, f"{title}公开招标公告", f"项目编号：{SHOWCASE}", published)
    criteria = [(rows.add("tender_criteria", tender_id=tender_id, position=i + 1, factor_type="other",
                          name=f"评分因素{i + 1}", description="", weight=4), 4) for i in range(SHOWCASE_CRITERIA)]
    requirements = [rows.add("tender_requirements", tender_id=tender_id, position=i + 1, text=text)
                    for i, text in enumerate(REQUIREMENTS)]
    bids = [_bid(rows, tender_id, supplier, budget * Decimal("0.9"), j, deadline, True, Decimal("0.002"))
            for j, supplier in enumerate(rows.world.ngos[:SHOWCASE_BIDS])]
    _committee(rows, rng, tender_id, bids, criteria, requirements, officer, deadline + timedelta(days=1),
               submitted=SHOWCASE_EXPERTS, size=SHOWCASE_EXPERTS)
