"""Tenders under the four methods, invitations, clarifications, sealed bids and opening."""


def init_app(app):
    from portal.tenders import models, views  # noqa: F401 - models registered first

    app.register_blueprint(views.bp)
