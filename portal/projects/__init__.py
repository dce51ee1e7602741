"""Service projects (服务项目): the needs a bureau wants to buy social-work services for."""


def init_app(app):
    from portal.projects import models, views  # noqa: F401 - models registered first

    app.register_blueprint(views.bp)
