"""A user's own Serve application, written outside the project: its own package, two modules, one
deployment, no rayfleet imports; and a stack file that names it.

    source = write_own_app(tmp_path / "outside")     # <source>/fraud/{__init__,rules,app}.py
    path = write_own_app_stack(tmp_path, source)      # Pulumi.own.yaml: dev, with only this application
"""

from __future__ import annotations

from pathlib import Path

from tests.fakes.environments import stack_config, write_stack

OWN_APP_IMPORT_PATH = "fraud.app:build"
OWN_APP_DEPLOYMENT = "FraudScorer"

_RULES = '''"""Scoring rules, a module of its own so the app spans two modules."""


def score(amount: float, threshold: float) -> dict:
    return {"fraud": amount > threshold, "amount": amount}
'''

_APP = '''"""POST {"amount": N} -> {"fraud": bool, "amount": N}."""

from ray import serve
from starlette.requests import Request

from fraud.rules import score


@serve.deployment
class FraudScorer:
    def __init__(self, threshold: float):
        self.threshold = threshold

    async def __call__(self, request: Request) -> dict:
        body = await request.json()
        return score(float(body["amount"]), self.threshold)


def build(args: dict) -> serve.Application:
    return FraudScorer.bind(float(args.get("threshold", 1000)))
'''


def write_own_app(folder: Path) -> Path:
    package = folder / "fraud"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "rules.py").write_text(_RULES)
    (package / "app.py").write_text(_APP)
    return folder


def own_app_entry(source: Path) -> dict:
    """The stack file's `rayfleet:serve.applications` entry of the app."""
    return {
        "name": "fraud",
        "importPath": OWN_APP_IMPORT_PATH,
        "routePrefix": "/fraud",
        "source": str(source),
        "args": {"threshold": 500},
        "autoscaling": {"minReplicas": 1, "maxReplicas": 1},
        "resources": {"cpus": 0.5},
        "smokeRequest": {"body": {"amount": 900}, "expect": {"fraud": True}},
    }


def write_own_app_stack(tmp_path: Path, source: Path, **changes) -> Path:
    """dev's stack file with the own app as its only application; `changes` update the entry."""
    config = stack_config("dev")
    config["rayfleet:serve"]["applications"] = [{**own_app_entry(source), **changes}]
    return write_stack(tmp_path, config, env="own")
