"""Users, organisations, sign-in and the expert pool."""


def init_app(app):
    from portal.accounts import views
    from portal.accounts.auth import init_login

    app.register_blueprint(views.bp)
    init_login(app)
