"""A version that starts healthy and fails every request: what the upgrade drill ships to see a rollback.

    {"name": "digits", "import_path": "serve_apps.broken:app", "args": {"deployment": "Digits"}}

It takes the ingress deployment's name of the application it stands in for, so
that it replaces that version's replicas as a new version of the same
application would.
"""

from __future__ import annotations

from ray import serve
from starlette.requests import Request


class BrokenVersion(RuntimeError):
    """Raised by every request: the defect the canary must catch."""


@serve.deployment(ray_actor_options={"num_cpus": 0})
class Broken:
    async def __call__(self, request: Request):
        raise BrokenVersion("this version fails every request")


def app(args: dict) -> serve.Application:
    return Broken.options(name=args.get("deployment", "Broken")).bind()
