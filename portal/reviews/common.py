"""What the review services share: who to tell, the lock every writer takes, the permission check, links.

Services also run in jobs, without a request, so links are plain paths rather than ``url_for``.
"""

from __future__ import annotations

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l

from portal.accounts.models import User
from portal.accounts.services import active_users
from portal.contracts.models import Contract
from portal.contracts.services import lock_contract
from portal.errors import NotAllowed
from portal.extensions import db
from portal.permissions import Role
from portal.reviews.models import Review, Reviewer


def officers(contract: Contract) -> list[User]:
    """The active officers of the contracting bureau."""
    return [u for u in active_users([contract.bureau_id]) if u.role == Role.OFFICER]


def ngo_users(contract: Contract) -> list[User]:
    """The NGO's active users."""
    return [u for u in active_users([contract.supplier_id]) if u.role == Role.SUPPLIER]


def require_manager(subject, actor) -> None:
    """Only an officer of the contracting bureau (``subject.can_manage``: a contract or a review) may go on."""
    if not subject.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the contracting bureau can do this."))


def lock_review(review: Review) -> Review:
    """Lock the contract row, then the review row (FOR UPDATE on PostgreSQL), and reload the review with its
    reviewers, so writers of one contract's reviews serialise and see each other's changes."""
    lock_contract(review.contract)
    review = db.session.execute(sa.select(Review).where(Review.id == review.id).with_for_update()
                                .execution_options(populate_existing=True)).scalar_one()
    db.session.scalars(sa.select(Reviewer).where(Reviewer.review_id == review.id)
                       .execution_options(populate_existing=True)).all()
    return review


def review_link(review: Review, page: str = "") -> str:
    """The review's page (or one of its pages, e.g. "sheet"), for notifications."""
    return f"/reviews/{review.id}" + (f"/{page}" if page else "")
