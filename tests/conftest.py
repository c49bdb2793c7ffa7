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
    """The offline plan of every shipped environment, run once per test session.

    `plans.registrations(env)`: the resource registrations Pulumi sent during that run, for the
    options a plan does not keep (ignoreChanges, retainOnDelete, propertyDependencies).
    """
    from stacks import plan as plan_module

    cache: dict = {}
    registrations: dict = {}

    def get(env: str):
        if env not in cache:
            sent: list = []

            class Recording(plan_module._CapturingMonitor):
                def RegisterResource(self, request):  # noqa: N802 - the gRPC method name
                    sent.append(request)
                    return super().RegisterResource(request)

            with pytest.MonkeyPatch.context() as patch:
                patch.setattr(plan_module, "_CapturingMonitor", Recording)
                cache[env] = plan_module.run_plan(env)
            registrations[env] = sent
        return cache[env]

    def sent_for(env: str) -> list:
        get(env)
        return registrations[env]

    get.registrations = sent_for
    return get
