"""What the public sees: the notice board (and, later, open data and dashboards)."""


def init_app(app):
    from portal.public import views

    app.register_blueprint(views.bp)
