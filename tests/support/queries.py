"""Counting the SQL statements a request runs, to prove a page has no N+1 queries."""

from __future__ import annotations

import sqlalchemy as sa

from portal.extensions import db


def queries_for(client, url: str) -> int:
    """GET ``url`` (which must answer 200) and return how many statements reached the database."""
    statements = []

    def count(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    sa.event.listen(db.engine, "before_cursor_execute", count)
    try:
        response = client.get(url)
        assert response.status_code == 200, url
        response.close()
    finally:
        sa.event.remove(db.engine, "before_cursor_execute", count)
    return len(statements)
