"""Service agreements of one to three years: drafted from an award, signed, paid by gates, amended, reported on,
ended (issue 6)."""


def init_app(app):
    # The models are registered before the views; the view modules add their routes to views.bp.
    from portal.contracts import delivery_views, draft_views, models, payment_views, views  # noqa: F401

    app.register_blueprint(views.bp)
