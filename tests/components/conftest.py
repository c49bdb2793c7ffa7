"""Fixtures of the component tests."""

from __future__ import annotations

import pytest

from tests.components.serving import serving_plan


@pytest.fixture(scope="session")
def serving_plans():
    """The offline plan of every shipped environment with its serving path, run once per session."""
    cache: dict = {}

    def get(env: str):
        if env not in cache:
            cache[env] = serving_plan(env)
        return cache[env]

    return get
