"""Roles, role gates, ensure(), and the route-by-role matrix.

Access is decided in three places only: the role gate on each view (``role_required``),
``can_*`` methods on models for object rules, and one ``ensure()`` per view. The matrix
below is the written specification of who may reach each endpoint; a test walks every
rule in ``app.url_map`` against it, and an endpoint missing from it is refused outright.
"""

from __future__ import annotations

from enum import StrEnum
from functools import wraps

from flask import abort, current_app, request
from flask_login import current_user


class Role(StrEnum):
    OFFICER = "officer"
    SUPPLIER = "supplier"
    EVALUATOR = "evaluator"
    ADMIN = "admin"


PUBLIC = "public"  # anyone, signed in or not
SIGNED_IN = "signed_in"  # any active account

OFFICER, SUPPLIER, EVALUATOR, ADMIN = (frozenset({r}) for r in Role)

ROUTE_MATRIX: dict[str, str | frozenset[Role]] = {
    "static": PUBLIC,
    "main.index": PUBLIC,
    "main.healthz": PUBLIC,
    "main.set_language": PUBLIC,
    "main.dashboard": SIGNED_IN,
    "accounts.login": PUBLIC,
    "accounts.register": PUBLIC,
    "accounts.logout": SIGNED_IN,
    "accounts.change_password": SIGNED_IN,
    "accounts.my_organisation": SUPPLIER,
    "accounts.upload_document": SUPPLIER,
    "accounts.download_document": SIGNED_IN,  # object rule: OrganisationDocument.can_download
    "accounts.delete_document": SIGNED_IN,  # object rule: OrganisationDocument.can_delete
    "accounts.admin_users": ADMIN,
    "accounts.admin_user_new": ADMIN,
    "accounts.admin_user_edit": ADMIN,
    "accounts.admin_user_deactivate": ADMIN,
    "accounts.admin_user_activate": ADMIN,
    "accounts.admin_user_approve": ADMIN,
    "accounts.admin_organisations": ADMIN,
    "accounts.admin_organisation_new": ADMIN,
    "accounts.admin_organisation_edit": ADMIN,
    "accounts.admin_expert": ADMIN,
    "accounts.admin_expert_affiliation_delete": ADMIN,
    "accounts.admin_calendar": ADMIN,
    "accounts.admin_calendar_year": ADMIN,
    "accounts.admin_audit": ADMIN,
    "notify.inbox": SIGNED_IN,
    "notify.read": SIGNED_IN,  # object rule: Notification.can_read
    "notify.read_all": SIGNED_IN,
    # --- projects ---
    "projects.list_projects": OFFICER | ADMIN,
    "projects.new_project": OFFICER,
    "projects.project_detail": OFFICER | ADMIN,  # object rule: ServiceProject.can_view
    "projects.edit_project": OFFICER,  # object rule: ServiceProject.can_manage
    "projects.upload_survey": OFFICER,  # object rule: ServiceProject.can_manage
    "projects.download_survey": OFFICER | ADMIN,  # object rule: ServiceProject.can_view
    "projects.mark_ready": OFFICER,  # object rule: ServiceProject.can_manage
    "projects.archive_project": OFFICER,  # object rule: ServiceProject.can_manage
    # --- tenders ---
    "tenders.bid": SUPPLIER,
    "tenders.bid_submit": SUPPLIER,
    "tenders.bid_withdraw": SUPPLIER,
    "tenders.bid_receipt": SUPPLIER,  # object rule: Bid.is_own
    "tenders.bid_file": OFFICER | ADMIN | SUPPLIER,  # object rule: Bid.can_read_files (after opening only)
    "tenders.bids": OFFICER | ADMIN,  # object rule: Tender.can_oversee
    "tenders.opening": OFFICER | ADMIN | SUPPLIER,  # object rule: Tender.can_view_opening
    "tenders.opening_pdf": OFFICER | ADMIN | SUPPLIER,  # object rule: Tender.can_view_opening
    "tenders.opening_start": OFFICER,  # object rule: Tender.can_manage
    "tenders.opening_confirm": OFFICER,  # object rule: Tender.can_manage (and a different officer)
    "tenders.index": OFFICER | ADMIN,
    "tenders.new_tender": OFFICER,  # object rule: ServiceProject.can_manage
    "tenders.edit": OFFICER,  # object rule: Tender.can_manage (as for every officer action below)
    "tenders.detail": PUBLIC,  # object rule: Tender.can_view (drafts only for the bureau)
    "tenders.publish": OFFICER,
    "tenders.draw": OFFICER,
    "tenders.invite": OFFICER,
    "tenders.ask": SUPPLIER,
    "tenders.clarify": OFFICER,
    "tenders.timetable": OFFICER,
    "tenders.object_to": PUBLIC,  # anyone may object to a single-source notice while it runs
    "tenders.answer_objection": OFFICER,
    "tenders.approve": OFFICER,
    "tenders.agreement": OFFICER,
    "tenders.negotiation_round": OFFICER,
    "tenders.cancel": OFFICER,
    "tenders.retender": OFFICER,
    "tenders.final_quote": SUPPLIER,  # service rule: only suppliers still in the negotiation
    "tenders.open_final_quotes": OFFICER,
    # --- evaluation ---
    # evaluation: committee (committee_views.py)
    "evaluation.overview": OFFICER | ADMIN | EVALUATOR,  # object rule: committee.can_view_committee (overseers,
    # sitting members; before a committee, Tender.can_oversee); an undeclared member sees the bidders' names only
    "evaluation.form_committee": OFFICER,  # object rule: Tender.can_manage
    "evaluation.set_chair": OFFICER,  # object rule: Tender.can_manage
    "evaluation.replace_member": OFFICER,  # object rule: Tender.can_manage
    "evaluation.declare": EVALUATOR | OFFICER,  # object rule: Committee.member_for (the member's own seat)
    "evaluation.qualification": OFFICER | ADMIN | EVALUATOR,  # object rule: Tender.can_oversee or
    # committee.can_read_bids (declared members); recording: committee.is_chair
    "evaluation.close_qualification": EVALUATOR,  # object rule: committee.is_chair
    "evaluation.low_price": SUPPLIER | OFFICER | ADMIN | EVALUATOR,  # object rule: Bid.is_own (writes),
    # Tender.can_oversee or committee.can_read_bids (reads)
    "evaluation.decide_low_price": EVALUATOR,  # object rule: committee.is_chair
    "evaluation.bid_file": EVALUATOR | OFFICER,  # object rule: committee.can_read_bids (declared members only)
    # evaluation: scoring (scoring_views.py)
    "evaluation.sheet": EVALUATOR | OFFICER,  # object rule: Committee.member_for, ACTIVE (the member's own sheet)
    "evaluation.member_sheet": EVALUATOR | OFFICER | ADMIN,  # object rule: scoring.can_see_sheet (own; others
    # once one's own is submitted; overseers once the scoring is closed)
    "evaluation.sheets": EVALUATOR | OFFICER | ADMIN,  # object rule: sitting member or Tender.can_oversee; the list
    # holds only what scoring.can_see_sheet allows
    "evaluation.deviations": EVALUATOR | OFFICER,  # object rule: scoring.can_see_deviations (the chair, own sheet in)
    "evaluation.request_recheck": EVALUATOR | OFFICER,  # object rule: scoring.can_see_deviations
    "evaluation.resolve_recheck": EVALUATOR | OFFICER,  # object rule: the member asked (Recheck.member)
    "evaluation.change_score": EVALUATOR | OFFICER,  # object rule: the score's own member (lawful reasons only)
    "evaluation.tie": OFFICER,  # object rule: Tender.can_manage
    "evaluation.close_scoring": EVALUATOR,  # object rule: committee.is_chair
    "evaluation.report": EVALUATOR | OFFICER | ADMIN,  # object rule: scoring.can_read_report (members, overseers)
    "evaluation.confirm_report": EVALUATOR | OFFICER,  # object rule: Committee.member_for, ACTIVE; own password
    "evaluation.report_pdf": EVALUATOR | OFFICER | ADMIN,  # object rule: scoring.can_read_report
    # evaluation: award (award_views.py)
    "evaluation.award": OFFICER | ADMIN,  # object rule: Tender.can_oversee
    "evaluation.confirm_award": OFFICER,  # object rule: Tender.can_manage
    "evaluation.pass_over": OFFICER,  # object rule: Tender.can_manage
    "evaluation.award_letter": OFFICER | ADMIN | SUPPLIER,  # object rule: award.can_read_letter (winner, overseers)
    "evaluation.my_result": SUPPLIER,  # object rule: award.is_bidder (its own result only)
    "evaluation.file_challenge": SUPPLIER,  # object rule: award.is_bidder
    "evaluation.challenges": OFFICER | ADMIN,  # object rule: Tender.can_oversee
    "evaluation.challenge": OFFICER | ADMIN | SUPPLIER,  # object rule: award.can_view_challenge (challenger, overseers)
    "evaluation.answer_challenge": OFFICER,  # object rule: Tender.can_manage
    "evaluation.mark_not_affecting": OFFICER,  # object rule: Tender.can_manage
    "evaluation.challenge_evidence": OFFICER | ADMIN | SUPPLIER,  # object rule: award.can_view_challenge
    "evaluation.record_complaint": OFFICER,  # object rule: Tender.can_manage
    "evaluation.complaint_outcome": OFFICER,  # object rule: Tender.can_manage
    # --- contracts ---
    # contracts: draft (draft_views.py)
    "contracts.index": OFFICER | ADMIN | SUPPLIER,  # object rule: services.contracts_for (own bureau/city, own NGO)
    "contracts.new": OFFICER,  # object rule: Tender.can_manage of the award's tender
    "contracts.detail": OFFICER | ADMIN | SUPPLIER,  # object rule: Contract.can_view (parties, city bureau, admin)
    "contracts.edit": OFFICER,  # object rule: Contract.can_manage (draft, before the first signature)
    "contracts.sign": OFFICER | SUPPLIER,  # object rule: Contract.can_manage or Contract.is_supplier; own password
    "contracts.withdraw": OFFICER,  # object rule: Contract.can_manage (a draft, before the second signature)
    "contracts.publish_notice": OFFICER,  # object rule: Contract.can_manage
    "contracts.record_filing": OFFICER,  # object rule: Contract.can_manage
    "contracts.pdf": OFFICER | ADMIN | SUPPLIER,  # object rule: Contract.can_view
    # contracts: payments (payment_views.py)
    "contracts.record_payment": OFFICER,  # object rule: Contract.can_manage of the installment's contract
    "contracts.record_acceptance": OFFICER,  # object rule: Contract.can_manage
    "contracts.amend": OFFICER,  # object rule: Contract.can_manage (a signed contract)
    "contracts.amendment": OFFICER | ADMIN | SUPPLIER,  # object rule: Contract.can_view of the amendment's contract
    "contracts.amendment_pdf": OFFICER | ADMIN | SUPPLIER,  # object rule: Contract.can_view of the amendment's contract
    "contracts.confirm_amendment": SUPPLIER,  # object rule: Contract.is_supplier of the amendment's contract, own pwd
    "contracts.withdraw_amendment": OFFICER,  # object rule: Contract.can_manage of the amendment's contract (pending)
    # contracts: delivery (delivery_views.py)
    "contracts.submit_report": SUPPLIER,  # object rule: Contract.is_supplier (the contracted NGO's own users)
    "contracts.report": OFFICER | ADMIN | SUPPLIER,  # object rule: Contract.can_view (parties, overseers)
    "contracts.report_file": OFFICER | ADMIN | SUPPLIER,  # object rule: Contract.can_view (parties, overseers)
    "contracts.terminate": OFFICER,  # object rule: Contract.can_manage
    "contracts.complete": OFFICER,  # object rule: Contract.can_manage
    # --- reviews ---
    # reviews: planning
    "reviews.contract_reviews": OFFICER | ADMIN | SUPPLIER,  # object rule: Contract.can_view (parties, overseers)
    "reviews.add_review": OFFICER,  # object rule: Contract.can_manage (a signed contract)
    "reviews.review_detail": OFFICER | ADMIN | SUPPLIER | EVALUATOR,  # object rule: Review.can_view (+ its reviewers)
    "reviews.edit_review": OFFICER,  # object rule: Review.can_manage (planned only)
    "reviews.cancel_review": OFFICER,  # object rule: Review.can_manage (no sheet submitted)
    "reviews.start_review": OFFICER,  # object rule: Review.can_manage
    "reviews.edit_rubric": OFFICER,  # object rule: Review.can_manage (planned only: frozen once started)
    "reviews.copy_rubric": OFFICER,  # object rule: Review.can_manage (planned only)
    "reviews.templates": OFFICER,  # the default rubric and the officer's own bureau's templates
    "reviews.new_template": OFFICER,  # object rule: manages_bureau of the officer's own bureau
    "reviews.edit_template": OFFICER,  # object rule: rubrics.can_view_template to read, RubricTemplate.can_manage
    "reviews.delete_template": OFFICER,  # object rule: RubricTemplate.can_manage (and not used by any review)
    # reviews: scoring
    "reviews.assign_reviewer": OFFICER,  # object rule: Review.can_manage (planned or under review)
    "reviews.remove_reviewer": OFFICER,  # object rule: Review.can_manage (before the reviewer submitted)
    "reviews.my_reviews": EVALUATOR | OFFICER,  # the signed-in user's own Reviewer rows
    "reviews.declare": EVALUATOR | OFFICER,  # object rule: the user's own Reviewer row of the review
    "reviews.sheet": EVALUATOR | OFFICER,  # object rule: Review.reviewer_for (the reviewer's own sheet)
    "reviews.sheets": OFFICER | ADMIN | SUPPLIER | EVALUATOR,  # object rule: Review.can_view; the page holds only
    # what scoring.can_see_sheet allows (own; others once one's own is submitted; the parties once graded)
    "reviews.finalise": OFFICER,  # object rule: Review.can_manage
    "reviews.report_pdf": OFFICER | ADMIN | SUPPLIER | EVALUATOR,  # object rule: grading.can_read_report (parties,
    # overseers, the review's declared reviewers; once graded)
    "reviews.proposal": OFFICER,  # object rule: Review.can_manage (a termination proposed)
    # reviews: evidence
    "reviews.upload_evidence": SUPPLIER,  # object rule: Review.is_supplier (planned or under review)
    "reviews.remove_evidence": SUPPLIER,  # object rule: Review.is_supplier (before the review starts)
    "reviews.evidence_file": OFFICER | ADMIN | SUPPLIER | EVALUATOR,  # object rule: evidence.can_read_evidence
    # (parties, overseers, the review's declared reviewers; personal data of service users)
    "reviews.self_assessment": SUPPLIER,  # object rule: Review.is_supplier
    "reviews.add_survey": SUPPLIER | OFFICER,  # object rule: Review.is_supplier or Review.can_manage
    "reviews.remove_survey": SUPPLIER | OFFICER,  # object rule: Review.is_supplier or Review.can_manage
    # (evidence.can_remove_survey)
    "reviews.appeal": SUPPLIER,  # object rule: Review.is_supplier (graded, within 5 working days)
    "reviews.answer_appeal": OFFICER,  # object rule: Review.can_manage
    "reviews.rectification": OFFICER | ADMIN | SUPPLIER,  # object rule: Contract.can_view (parties, overseers)
    "reviews.submit_plan": SUPPLIER,  # object rule: Contract.is_supplier
    "reviews.accept_plan": OFFICER,  # object rule: Contract.can_manage
    "reviews.return_plan": OFFICER,  # object rule: Contract.can_manage
    "reviews.rectification_file": OFFICER | ADMIN | SUPPLIER,  # object rule: Contract.can_view
    "reviews.organisation_record": OFFICER | ADMIN | SUPPLIER,  # object rule: record.can_read_record (any
    # bureau's officers, admin, the NGO's own users)
    "reviews.records": OFFICER | ADMIN,  # every NGO with its graded reviews and mean score
    "reviews.my_record": SUPPLIER,  # the signed-in NGO's own record
    # --- assessment ---
    # assessment: yearly
    "assessment.yearly_index": OFFICER | ADMIN | SUPPLIER,  # city officers: their city's; admin: all; others:
    # their own organisation's confirmed assessment (yearly.assessments_for)
    "assessment.yearly_create": OFFICER,  # object rule: yearly.can_run (an officer of a city bureau)
    "assessment.yearly_detail": OFFICER | ADMIN | SUPPLIER,  # object rule: Assessment.can_view (the city's officers,
    # admin; the district's officers and the NGO's users once confirmed)
    "assessment.yearly_edit": OFFICER,  # object rule: Assessment.can_manage (draft only)
    "assessment.yearly_refresh": OFFICER,  # object rule: Assessment.can_manage
    "assessment.yearly_confirm": OFFICER,  # object rule: Assessment.can_manage
    # assessment: commendations
    "assessment.commendation_index": OFFICER | ADMIN,  # the lists of the officer's own bureau (admin: all)
    "assessment.new_commendation_list": OFFICER,  # object rule: the officer's bureau is the city bureau
    "assessment.commendation_detail": OFFICER | ADMIN,  # object rule: CommendationList.can_view
    "assessment.add_commendation": OFFICER,  # object rule: CommendationList.can_manage (draft only)
    "assessment.remove_commendation": OFFICER,  # object rule: CommendationList.can_manage of the entry's list
    "assessment.withdraw_commendation": OFFICER,  # object rule: CommendationList.can_manage (during the 公示)
    "assessment.publicise_commendations": OFFICER,  # object rule: CommendationList.can_manage
    "assessment.answer_commendation_comment": OFFICER,  # object rule: CommendationList.can_manage of its list
    "assessment.confirm_commendations": OFFICER,  # object rule: CommendationList.can_manage
    "assessment.public_commendation_lists": PUBLIC,  # publicised and confirmed lists only
    "assessment.public_commendations": PUBLIC,  # a publicised or confirmed list (a draft is 404)
    "assessment.comment_on_commendations": PUBLIC,  # anyone, during the 公示 only (service rule)
    "assessment.certificate": PUBLIC,  # a certificate of a confirmed list (404 before)
    # assessment: funding
    "assessment.funding_index": OFFICER | ADMIN,  # the plans of the officer's city bureau (admin: all; a district
    # officer sees none: published plans are on the notice board)
    "assessment.funding_new": OFFICER,  # object rule: the officer's bureau is a city bureau (FundingPlan.can_manage)
    "assessment.funding_plan": OFFICER | ADMIN,  # object rule: FundingPlan.can_view (the city's officers, admin)
    "assessment.funding_edit": OFFICER,  # object rule: FundingPlan.can_manage (draft only)
    "assessment.funding_candidates": OFFICER,  # object rule: FundingPlan.can_manage (draft only)
    "assessment.funding_rewards": OFFICER,  # object rule: FundingPlan.can_manage (draft only)
    "assessment.funding_reward_remove": OFFICER,  # object rule: FundingPlan.can_manage of the grant's plan
    "assessment.funding_line": OFFICER,  # object rule: FundingPlan.can_manage of the line's plan (draft only)
    "assessment.funding_line_remove": OFFICER,  # object rule: FundingPlan.can_manage of the line's plan
    "assessment.funding_compare": OFFICER | ADMIN,  # object rule: FundingPlan.can_view
    "assessment.funding_xlsx": OFFICER | ADMIN,  # object rule: FundingPlan.can_view
    "assessment.funding_pdf": OFFICER | ADMIN,  # object rule: FundingPlan.can_view
    "assessment.funding_approve": OFFICER,  # object rule: FundingPlan.can_manage
    "assessment.funding_publish": OFFICER,  # object rule: FundingPlan.can_manage (approved only)
    # --- public ---
    "public.notices": PUBLIC,
    "public.notice": PUBLIC,
    "public.notice_pdf": PUBLIC,
    # public: board
    "public.notices_feed": PUBLIC,  # Atom feed of the newest notices (published notices only)
    "public.audit_anchors": PUBLIC,  # the daily published audit-chain heads (no audit entry content)
    # public: ocds
    "public.ocds_releases": PUBLIC,  # published processes only; no sealed data before opening
    "public.ocds_process": PUBLIC,  # a published process (a draft or unknown ocid is 404)
    # public: exports
    "public.exports": OFFICER | ADMIN,  # the registers' list
    "public.export_tenders": OFFICER | ADMIN,  # object rule: rows of the bureaus it oversees (_bureau_ids)
    "public.export_bids": OFFICER | ADMIN,  # object rule: overseen bureaus' bids of opened tenders only
    "public.export_contracts": OFFICER | ADMIN,  # object rule: contracts.services._visible
    "public.export_payments": OFFICER | ADMIN,  # object rule: installments of contracts.services._visible
    "public.export_reviews": OFFICER | ADMIN,  # object rule: reviews of contracts.services._visible
    "public.export_funding": OFFICER | ADMIN,  # object rule: approved plans' overseen lines; own plans
    # public: dashboards
    "public.dashboard_figures": OFFICER | ADMIN,  # object rule: figures of the bureaus it oversees (_bureau_ids)
    "public.statistics": PUBLIC,  # published data only: noticed contracts, tenders with a result notice
}


def role_required(*roles: Role):
    """Let only signed-in users with one of ``roles`` reach the view."""
    allowed = frozenset(roles)

    def decorator(view):
        @wraps(view)
        def wrapped(*args, **kwargs):
            if not current_user.is_authenticated:
                return current_app.login_manager.unauthorized()
            if current_user.role not in allowed:
                abort(403)
            return view(*args, **kwargs)

        wrapped.required_roles = allowed
        return wrapped

    return decorator


def ensure(condition: bool) -> None:
    """Refuse the request with 403 unless ``condition`` holds (one call per view)."""
    if not condition:
        abort(403)


def is_allowed(endpoint: str, user) -> bool:
    """What the matrix says about ``user`` (None for anonymous) reaching ``endpoint``."""
    rule = ROUTE_MATRIX.get(endpoint)
    if rule is None:
        return False
    if rule == PUBLIC:
        return True
    if user is None:
        return False
    if rule == SIGNED_IN:
        return True
    return user.role in rule


def init_app(app) -> None:
    @app.before_request
    def refuse_unlisted_endpoints():
        # Fail closed: a route nobody wrote into the matrix is not reachable.
        if request.endpoint is not None and request.endpoint not in ROUTE_MATRIX:
            app.logger.error("endpoint %s is missing from ROUTE_MATRIX", request.endpoint)
            abort(403)

    @app.errorhandler(403)
    def forbidden(exc):
        from portal import audit
        from portal.errors import render_error
        from portal.extensions import db

        db.session.rollback()
        actor = current_user if current_user.is_authenticated else None
        audit.record("access.refused", ("route", request.endpoint or request.path), actor=actor,
                     new={"method": request.method, "path": request.path})
        db.session.commit()
        message = exc.description if getattr(exc, "portal_message", False) else None
        return render_error(403, message)
