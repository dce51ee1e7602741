"""Fixtures of the security suites: one populated world with every principal.

``security_world`` is the route-matrix world (a real object of every kind a route takes, all of bureau A and NGO X)
extended by tests/security/world.py with an officer of another bureau, a colleague at bureau A, a second bidder and
an expert on nothing. It is function-scoped like the fixtures it stands on (the database is emptied after each
test), so each suite builds it once per test and loops inside.
"""

from __future__ import annotations

import pytest

from tests.security.world import SecurityWorld, extend_world
from tests.views.test_route_matrix import world  # noqa: F401 - the route-matrix world, extended below


@pytest.fixture
def security_world(world, create_user, create_org, now) -> SecurityWorld:  # noqa: F811
    return extend_world(world, create_user, create_org, now=now)
