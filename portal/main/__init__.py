"""Landing page, dashboards, language switch and health check."""


def init_app(app):
    from portal.main import views

    app.register_blueprint(views.bp)
