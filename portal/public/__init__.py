"""What the public sees: the notice board with its Atom feed and the audit anchors, OCDS open data and the summary
of published figures; and the officers' Excel exports of the registers and dashboard of figures."""


def init_app(app):
    # The view modules add their routes to views.bp; ocds_views also brings the `flask ocds` commands.
    from portal.public import dashboard_views, export_views, ocds_views, views  # noqa: F401

    app.register_blueprint(views.bp)
    app.cli.add_command(ocds_views.ocds_cli)
