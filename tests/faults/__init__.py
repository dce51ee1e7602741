"""Concurrency and fault suites: the portal under gunicorn on PostgreSQL, its workers killed, its scheduler stopped."""
