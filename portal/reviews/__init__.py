"""Performance reviews of service agreements: the plan made at signing, rubrics, evidence, scoring and grades,
what a grade does (payment gates, rectification, a contract year's continuation), appeals and each NGO's record
(issue 7)."""


def init_app(app):
    from portal.reviews.rules import GradeBands

    # The grade bands are a setting (PORTAL_REVIEW_GRADE_BANDS); a bad value stops the start, not a grading.
    bands = app.config.get("REVIEW_GRADE_BANDS", "90,80,60")
    app.config["REVIEW_GRADE_BANDS"] = bands if isinstance(bands, GradeBands) else GradeBands.parse(bands)

    # The models are registered before the views; the view modules add their routes to views.bp.
    from portal.reviews import evidence_views, models, plan_views, scoring_views, views  # noqa: F401

    app.register_blueprint(views.bp)

    # A contract signed by both parties gets its review plan in the signing transaction.
    from portal.contracts.signals import contract_ended, contract_signed
    from portal.reviews.planning import on_contract_ended, on_contract_signed

    contract_signed.connect(on_contract_signed)
    # A contract that ends (terminated or completed) has its open reviews cancelled and rectifications closed.
    contract_ended.connect(on_contract_ended)
