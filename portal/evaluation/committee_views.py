"""Evaluation views: committee (see views.py)."""

from portal.evaluation.views import bp  # noqa: F401
