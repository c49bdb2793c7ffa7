"""Fixtures shared by every test folder: the session's offline plans, its local Ray cluster, and the fakes' fixtures."""

from __future__ import annotations

import pytest

# Modules of tests/fakes that define fixtures; plain helpers there are imported where used.
pytest_plugins = [
    "tests.fakes.aws_env",
    "tests.fakes.route53_stack",
    "tests.fakes.asg_cluster",
    "tests.fakes.session_cluster",
]


@pytest.fixture(scope="session")
def plans():
    """The offline plan of every shipped environment, run once per test session."""
    from stacks.plan import run_plan

    cache: dict = {}

    def get(env: str):
        if env not in cache:
            cache[env] = run_plan(env)
        return cache[env]

    return get
