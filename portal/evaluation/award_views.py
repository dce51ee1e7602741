"""Evaluation views: award (see views.py)."""

from portal.evaluation.views import bp  # noqa: F401
