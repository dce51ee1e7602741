"""Records of a year for the yearly assessment tests, built straight through the models.

A district bureau under the city bureau; signed contracts (tests/contract_builders.signed_contract) of a bureau with
an NGO, at a given Beijing instant, for a poor village or not; graded reviews, rectifications, contract notices,
challenges upheld and terminations on them. Everything is committed; nothing is notified or audited.

    district = make_district(create_org, city_bureau)
    built = contract(district, create_user, signed="2026-03-02", poor_village=True, supplier=ngo)
    graded(built, "86.50", on="2026-06-01")
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

from portal.accounts.models import OrgKind
from portal.contracts.models import ContractStatus
from portal.evaluation.models import Challenge, ChallengeStatus
from portal.extensions import db
from portal.notices import Notice, NoticeKind
from portal.reviews.models import Rectification, RectificationStatus, ReviewStatus
from portal.reviews.rules import grade_for
from portal.tenders.rules import local_date
from tests.contract_builders import signed_contract
from tests.review_builders import planned_review
from tests.support.web import bj


def make_district(create_org, city, name: str | None = None, **values):
    """A district/county bureau under ``city``."""
    return create_org(OrgKind.BUREAU, level="district", parent_id=city.id, **({"name": name} if name else {}),
                      **values)


def contract(bureau, create_user, *, signed: str, at: str = "10:00", poor_village: bool = False,
             supplier=None, amount: str = "180000.00"):
    """A contract of ``bureau`` signed on the Beijing day ``signed`` at ``at``, its project a poor village or not,
    with ``supplier`` (an NGO Organisation) or a new NGO. Returns tests/contract_builders.Built."""
    signed_at = bj(signed, at)
    built = signed_contract(bureau, create_user, now=signed_at - timedelta(hours=1), signed_at=signed_at,
                            amount=Decimal(amount))
    built.tender.project.poor_village = poor_village
    if supplier is not None:
        built.award.supplier_id = built.contract.supplier_id = supplier.id
    db.session.commit()
    return built


def graded(built, score: str, *, on: str, at: str = "10:00", title: str | None = None):
    """A review of the contract graded with ``score`` at the Beijing day ``on``."""
    review = planned_review(built.contract.bureau, None, now=bj(on, at), on=built, title=title).review
    officer_id = built.officers[0].id
    with db.session.no_autoflush:
        review.status, review.score, review.grade = ReviewStatus.GRADED, Decimal(score), grade_for(Decimal(score))
        review.graded_at, review.graded_by_id = bj(on, at), officer_id
    db.session.commit()
    return review


def rectification(built, review, *, on: str):
    """A rectification of the contract opened on the Beijing day ``on`` after ``review`` failed."""
    row = Rectification(review_id=review.id, contract_id=built.contract.id, status=RectificationStatus.AWAITING_PLAN,
                        plan_due_on=local_date(bj(on)) + timedelta(days=14), created_at=bj(on), updated_at=bj(on))
    db.session.add(row)
    db.session.commit()
    return row


def contract_notice(built, *, on: str):
    """The contract notice (合同公告) published on the Beijing day ``on``."""
    c = built.contract
    notice = Notice(kind=NoticeKind.CONTRACT, bureau_id=c.bureau_id, tender_id=c.tender_id,
                    title=f"{c.title}（合同公告）", body="合同已签订。", published_at=bj(on), created_at=bj(on))
    db.session.add(notice)
    db.session.flush()
    c.notice_id = notice.id
    db.session.commit()
    return notice


def challenge(built, *, answered: str, status: str = ChallengeStatus.UPHELD):
    """A challenge (质疑) of the award behind the contract, answered on the Beijing day ``answered``."""
    answered_at = bj(answered)
    row = Challenge(tender_id=built.tender.id, award_id=built.award.id, supplier_id=built.contract.supplier_id,
                    filed_by_id=built.supplier.id, grounds="评审程序违法。", filed_at=answered_at - timedelta(days=3),
                    received_on=local_date(answered_at) - timedelta(days=3), answer_due=local_date(answered_at),
                    status=status, answer="经复核，质疑成立。", answered_at=answered_at,
                    answered_by_id=built.officers[0].id)
    db.session.add(row)
    db.session.commit()
    return row


def terminate(built, *, on: str):
    built.contract.status = ContractStatus.TERMINATED
    built.contract.ended_at = bj(on)
    built.contract.termination_grounds = "连续两次评估不合格，依约解除合同。"
    db.session.commit()
    return built.contract
