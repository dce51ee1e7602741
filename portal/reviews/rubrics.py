"""Rubrics (评估指标体系): templates of first- and second-level indicators, and each review's own copy, which the
officer adjusts until the review starts and never after.

Services take the actor and the clock, check who may act, flush and audit; the caller commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal, InvalidOperation

import sqlalchemy as sa
from flask_babel import lazy_gettext as _l
from sqlalchemy.orm import selectinload

from portal import audit
from portal.errors import Conflict, DomainError, NotAllowed
from portal.extensions import db
from portal.reviews import rules
from portal.reviews.common import lock_review, require_manager
from portal.reviews.models import Review, ReviewIndicator, ReviewStatus, RubricTemplate, TemplateIndicator

NAME_MAX = 200  # RubricTemplate.name, TemplateIndicator.name
GUIDANCE_MAX = 2000
MAX_INDICATORS = 60  # a rubric larger than this is a mistake, not a rubric

PROBLEM_MESSAGES = {
    "rubric_empty": _l("A rubric needs at least one first-level indicator."),
    "indicator_unnamed": _l("Every indicator needs a name."),
    "indicator_not_positive": _l("Indicator “%(name)s”: the weight and the maximum score must be above zero."),
    "indicator_orphan": _l("Indicator “%(name)s” belongs to a first-level indicator that does not exist."),
    "rubric_weights_total": _l("The first-level weights add up to %(total)s; they must add up to 100."),
    "rubric_children_total": _l("The second-level weights under “%(name)s” add up to %(total)s; they must add up "
                                "to its weight %(weight)s."),
}


@dataclass(frozen=True)
class RubricRow:
    """One indicator as entered in a rubric form: ``level`` 1 or 2; a level 2 row belongs to the level 1 row above
    it."""

    level: int
    name: str
    weight: Decimal
    max_score: Decimal
    guidance: str = ""


def raise_problems(problems: list[rules.Problem]) -> None:
    """Turn rubric rule problems into one error with translated messages, each said once (the rules are house
    rules of issue 7, so no article is named)."""
    if not problems:
        return
    lines: list[str] = []
    for problem in problems:
        message = PROBLEM_MESSAGES[problem.code]
        text = str(message) % problem.params if problem.params else str(message)
        if text not in lines:
            lines.append(text)
    raise DomainError(" ".join(lines))


# --- Reading -------------------------------------------------------------------------------------------------------


def rubric_rows(indicators: Sequence) -> list[tuple[object, list]]:
    """The indicators (of a review or a template, in position order) as (first level, its second levels)."""
    children: dict[int, list] = {}
    for indicator in indicators:
        if indicator.parent_id is not None:
            children.setdefault(indicator.parent_id, []).append(indicator)
    return [(i, children.get(i.id, [])) for i in indicators if i.parent_id is None]


def to_rule_indicators(review_indicators: Sequence) -> list[rules.Indicator]:
    """The rule view of a review's (or a template's) indicators: key = indicator id, parent = parent_id."""
    return [rules.Indicator(key=i.id, parent=i.parent_id, name=i.name, weight=Decimal(i.weight),
                            max_score=Decimal(i.max_score)) for i in review_indicators]


def rows_of(indicators: Sequence) -> list[RubricRow]:
    """The rows of existing indicators (first levels each followed by their second levels), e.g. to fill a form."""
    rows: list[RubricRow] = []
    for parent, children in rubric_rows(indicators):
        rows.append(RubricRow(1, parent.name, Decimal(parent.weight), Decimal(parent.max_score), parent.guidance))
        rows += [RubricRow(2, c.name, Decimal(c.weight), Decimal(c.max_score), c.guidance) for c in children]
    return rows


def points_text(value) -> str:
    """A weight or a number of points without trailing zeros: 8, 7.5, 2.25."""
    if value is None:
        return "—"
    return f"{Decimal(value):.2f}".rstrip("0").rstrip(".")


def leaf_count(indicators: Sequence) -> int:
    """How many indicators are scored."""
    return len(rules.leaves(to_rule_indicators(indicators)))


# --- Checking rows -------------------------------------------------------------------------------------------------


def _number(value, name: str) -> Decimal:
    try:
        number = value if isinstance(value, Decimal) else Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise DomainError(_l("Indicator “%(name)s”: the weight and the maximum score must be numbers."),
                          name=name) from None
    if not number.is_finite() or abs(number) >= 10000 or number != number.quantize(rules.CENT):
        raise DomainError(_l("Indicator “%(name)s”: the weight and the maximum score take at most two decimal "
                             "places."), name=name)
    return number


def clean_rows(rows: Sequence) -> list[RubricRow]:
    """Normalise the rows (RubricRow or mappings), refuse a second level with no first level above it, then check
    the whole rubric with ``rules.rubric_problems``."""
    cleaned: list[RubricRow] = []
    for row in rows:
        get = row.get if isinstance(row, dict) else lambda key, r=row: getattr(r, key)
        name = " ".join(str(get("name") or "").split())
        level = int(get("level") or 1)
        if level not in (1, 2):
            raise DomainError(_l("An indicator is first-level or second-level."))
        if len(name) > NAME_MAX:
            raise DomainError(_l("An indicator's name takes at most %(max)s characters."), max=NAME_MAX)
        guidance = str(get("guidance") or "").strip()
        if len(guidance) > GUIDANCE_MAX:
            raise DomainError(_l("An indicator's guidance takes at most %(max)s characters."), max=GUIDANCE_MAX)
        cleaned.append(RubricRow(level, name, _number(get("weight"), name), _number(get("max_score"), name),
                                 guidance))
    if len(cleaned) > MAX_INDICATORS:
        raise DomainError(_l("A rubric takes at most %(max)s indicators."), max=MAX_INDICATORS)
    if cleaned and cleaned[0].level == 2:
        raise DomainError(_l("A second-level indicator must follow the first-level indicator it belongs to."))
    raise_problems(rules.rubric_problems(_rule_view(cleaned)))
    return cleaned


def _rule_view(rows: Sequence[RubricRow]) -> list[rules.Indicator]:
    view, parent = [], None
    for index, row in enumerate(rows):
        if row.level == 1:
            parent = index
        view.append(rules.Indicator(key=index, parent=None if row.level == 1 else parent, name=row.name,
                                    weight=row.weight, max_score=row.max_score))
    return view


def insert_indicators(rows: Sequence[RubricRow], owner_ids: Sequence[int], model, owner_field: str) -> None:
    """Insert checked ``rows`` as the indicators (``model``: ReviewIndicator or TemplateIndicator) of every owner id
    in two flushes: the first levels, then the second levels pointing at them."""
    parents: dict[tuple[int, int], object] = {}
    for owner in owner_ids:
        for position, row in enumerate(rows, 1):
            if row.level == 1:
                parents[owner, position] = model(**{owner_field: owner}, position=position, name=row.name,
                                                 guidance=row.guidance, weight=row.weight, max_score=row.max_score)
    db.session.add_all(parents.values())
    db.session.flush()
    children = []
    for owner in owner_ids:
        parent = None
        for position, row in enumerate(rows, 1):
            if row.level == 1:
                parent = parents[owner, position]
            else:
                children.append(model(**{owner_field: owner}, parent_id=parent.id, position=position, name=row.name,
                                      guidance=row.guidance, weight=row.weight, max_score=row.max_score))
    db.session.add_all(children)
    db.session.flush()


def _replace_review_indicators(review: Review, rows: Sequence[RubricRow]) -> None:
    db.session.execute(sa.delete(ReviewIndicator).where(ReviewIndicator.review_id == review.id,
                                                        ReviewIndicator.parent_id.is_not(None)))
    db.session.execute(sa.delete(ReviewIndicator).where(ReviewIndicator.review_id == review.id))
    insert_indicators(rows, [review.id], ReviewIndicator, "review_id")
    db.session.expire(review, ["indicators"])


def _replace_template_indicators(template: RubricTemplate, rows: Sequence[RubricRow]) -> None:
    db.session.execute(sa.delete(TemplateIndicator).where(TemplateIndicator.template_id == template.id,
                                                          TemplateIndicator.parent_id.is_not(None)))
    db.session.execute(sa.delete(TemplateIndicator).where(TemplateIndicator.template_id == template.id))
    insert_indicators(rows, [template.id], TemplateIndicator, "template_id")
    db.session.expire(template, ["indicators"])


def _summary(rows: Sequence[RubricRow]) -> list[list]:
    """A compact form of a rubric for the audit log."""
    return [[r.level, r.name, r.weight, r.max_score] for r in rows]


# --- A review's rubric ---------------------------------------------------------------------------------------------


def _require_planned(review: Review) -> None:
    if review.status != ReviewStatus.PLANNED:
        raise Conflict(_l("A rubric cannot change once a review has started."))


def install_rubric(review: Review, template: RubricTemplate) -> None:
    """Replace the review's indicators by a copy of the template's (internal: callers check who may act)."""
    rows = rows_of(template.indicators)
    review.template_id = template.id
    _replace_review_indicators(review, rows)


def copy_rubric(review: Review, template: RubricTemplate, *, actor, now: datetime) -> Review:
    """Replace a planned review's rubric by a copy of ``template`` (the default or one of the bureau's own)."""
    require_manager(review, actor)
    review = lock_review(review)
    _require_planned(review)
    if not (template.is_default or template.bureau_id == review.contract.bureau_id):
        raise NotAllowed(_l("Only the default rubric or one of your bureau's templates can be copied."))
    if not template.indicators:
        raise DomainError(_l("This template has no indicators yet."))
    old = _summary(rows_of(review.indicators))
    install_rubric(review, template)
    audit.record("review.rubric_copied", review, actor=actor, now=now, old={"rubric": old},
                 new={"template_id": template.id, "template": template.name,
                      "rubric": _summary(rows_of(review.indicators))})
    return review


def update_rubric(review: Review, rows: Sequence, *, actor, now: datetime) -> Review:
    """Replace a planned review's indicators by ``rows`` (RubricRow or mappings with level, name, guidance, weight,
    max_score), checked with ``rules.rubric_problems``. Refused once the review has started."""
    require_manager(review, actor)
    review = lock_review(review)
    _require_planned(review)
    cleaned = clean_rows(rows)
    old = _summary(rows_of(review.indicators))
    _replace_review_indicators(review, cleaned)
    audit.record("review.rubric_updated", review, actor=actor, now=now, old={"rubric": old},
                 new={"rubric": _summary(cleaned)})
    return review


# --- Templates -----------------------------------------------------------------------------------------------------


def templates_for(user) -> list[RubricTemplate]:
    """The default rubric and the templates of the user's bureau (an officer), by name."""
    query = sa.select(RubricTemplate).where(RubricTemplate.bureau_id.is_(None))
    if getattr(user, "organisation_id", None) is not None:
        query = sa.select(RubricTemplate).where(sa.or_(RubricTemplate.bureau_id.is_(None),
                                                       RubricTemplate.bureau_id == user.organisation_id))
    return list(db.session.scalars(query.options(selectinload(RubricTemplate.indicators))
                                   .order_by(RubricTemplate.bureau_id.is_not(None), RubricTemplate.name,
                                             RubricTemplate.id)))


def _clean_name(name: str) -> str:
    name = " ".join((name or "").split())
    if not name:
        raise DomainError(_l("Give the template a name."))
    if len(name) > NAME_MAX:
        raise DomainError(_l("A template's name takes at most %(max)s characters."), max=NAME_MAX)
    return name


def _require_template_manager(template: RubricTemplate, actor) -> None:
    if template.is_default:
        raise NotAllowed(_l("The portal's default rubric cannot be changed: copy it into a template of your "
                            "bureau."))
    if not template.can_manage(actor):
        raise NotAllowed(_l("Only an officer of the bureau that owns this template can do this."))


def create_template(bureau, *, name: str, copy_from: RubricTemplate | None = None, actor,
                    now: datetime) -> RubricTemplate:
    """A new template of ``bureau`` (the actor's own), copying ``copy_from``'s indicators when given (the default
    rubric or another template of the bureau)."""
    from portal.accounts.models import manages_bureau

    if bureau is None or not manages_bureau(actor, bureau.id):
        raise NotAllowed(_l("Only an officer of the bureau can add its rubric templates."))
    name = _clean_name(name)
    if copy_from is not None and not (copy_from.is_default or copy_from.bureau_id == bureau.id):
        raise NotAllowed(_l("Only the default rubric or one of your bureau's templates can be copied."))
    template = RubricTemplate(name=name, bureau_id=bureau.id, created_by_id=actor.id,
                              description=copy_from.description if copy_from is not None else "")
    db.session.add(template)
    db.session.flush()
    if copy_from is not None:
        _replace_template_indicators(template, rows_of(copy_from.indicators))
    audit.record("review.template_created", template, actor=actor, now=now, new={
        "name": name, "bureau_id": bureau.id, "copied_from": copy_from.id if copy_from is not None else None})
    return template


def update_template(template: RubricTemplate, *, name: str, description: str, rows: Sequence, actor,
                    now: datetime) -> RubricTemplate:
    """Rename a bureau's template and replace its indicators (checked like a review's rubric). Reviews that copied
    it keep their own copy."""
    _require_template_manager(template, actor)
    name = _clean_name(name)
    description = (description or "").strip()
    if len(description) > GUIDANCE_MAX:
        raise DomainError(_l("A template's description takes at most %(max)s characters."), max=GUIDANCE_MAX)
    cleaned = clean_rows(rows)
    old = {"name": template.name, "description": template.description, "rubric": _summary(rows_of(
        template.indicators))}
    template.name, template.description = name, description
    _replace_template_indicators(template, cleaned)
    audit.record("review.template_updated", template, actor=actor, now=now, old=old,
                 new={"name": name, "description": description, "rubric": _summary(cleaned)})
    return template


def can_view_template(template: RubricTemplate, user) -> bool:
    """The default rubric is read by every officer; a bureau's template by its own officers."""
    from portal.permissions import Role

    if not getattr(user, "is_authenticated", False) or user.role != Role.OFFICER:
        return False
    return template.is_default or template.bureau_id == user.organisation_id


def templates_in_use(template_ids: Sequence[int]) -> dict[int, int]:
    """How many reviews copied their rubric from each template (one query)."""
    if not template_ids:
        return {}
    rows = db.session.execute(sa.select(Review.template_id, sa.func.count(Review.id))
                              .where(Review.template_id.in_(list(template_ids))).group_by(Review.template_id))
    return dict(rows.all())


def template_in_use(template: RubricTemplate) -> int:
    """How many reviews copied their rubric from this template."""
    return db.session.scalar(sa.select(sa.func.count(Review.id)).where(Review.template_id == template.id)) or 0


def delete_template(template: RubricTemplate, *, actor, now: datetime) -> None:
    """Delete a bureau's template that no review was planned with; a template in use is refused (the reviews keep
    their own copies, but the record of where they came from stays)."""
    _require_template_manager(template, actor)
    used = template_in_use(template)
    if used:
        raise Conflict(_l("This template was used by %(n)s review(s) and cannot be deleted; rename it or change "
                          "it instead."), n=used)
    audit.record("review.template_deleted", template, actor=actor, now=now,
                 old={"name": template.name, "rubric": _summary(rows_of(template.indicators))})
    _replace_template_indicators(template, [])  # children before parents, so no foreign key trips
    db.session.delete(template)
    db.session.flush()
