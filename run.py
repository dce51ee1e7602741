"""Development entry point: build the embedded database if needed, seed demo data, serve."""

from __future__ import annotations

import os

from flask_migrate import upgrade

from portal import create_app
from portal.db import transaction
from portal.seed import seed


def main() -> None:
    app = create_app()
    with app.app_context():
        upgrade()
        from portal.accounts.models import User
        from portal.extensions import db

        if db.session.query(User.id).first() is None:
            with transaction():
                count = seed()
            print(f"Seeded {count} demo records. Demo accounts use the password Demo@2026.")  # noqa: T201
    app.run(host=os.environ.get("HOST", "127.0.0.1"), port=int(os.environ.get("PORT", "5000")), debug=False)


if __name__ == "__main__":
    main()
