"""Evaluation: the committee, recusal, expert draws, scoring, ranking, the award and challenges (issue 5)."""


def init_app(app):
    # The models are registered before the views; the view modules add their routes to views.bp.
    from portal.evaluation import award_views, committee_views, models, scoring_views, views  # noqa: F401

    app.register_blueprint(views.bp)
