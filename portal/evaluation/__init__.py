"""Evaluation: the committee, recusal, expert draws, scoring, ranking, the award and challenges (issue 5)."""


def init_app(app):
    # The models are registered before the views; the view modules add their routes to views.bp.
    from portal.evaluation import award_views, committee_views, models, scoring_views, views  # noqa: F401

    app.register_blueprint(views.bp)

    from portal.evaluation.committee import final_quote_refusal
    from portal.tenders.bidding import register_final_quote_check

    register_final_quote_check(final_quote_refusal)  # tenders never imports evaluation (see FINAL_QUOTE_CHECKS)
