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


_MULTIPLEXED_METHOD = '''
    @serve.multiplexed(max_num_models_per_replica=2)
    async def model(self, model_id: str):
        return model_id
'''

_MULTIPLEXED_CALL = '''
    async def __call__(self, request) -> dict:
        return {"model": await self.model(serve.get_multiplexed_model_id())}
'''


def write_multiplexed_app(folder: Path, *, inherited: bool = False) -> dict:
    """`tenants.py` in `folder`: a deployment that uses @serve.multiplexed (which HAProxy does not route by),
    declared on the class itself or, `inherited`, on a deployment it subclasses. Returns its stack entry."""
    folder.mkdir(parents=True, exist_ok=True)
    if inherited:
        classes = (f"@serve.deployment\nclass Base:{_MULTIPLEXED_METHOD}\n\n"
                   f"@serve.deployment\nclass PerTenant(Base.func_or_class):{_MULTIPLEXED_CALL}")
    else:
        classes = f"@serve.deployment\nclass PerTenant:{_MULTIPLEXED_METHOD}{_MULTIPLEXED_CALL}"
    (folder / "tenants.py").write_text(f"from ray import serve\n\n\n{classes}\n\napp = PerTenant.bind()\n")
    return {"name": "tenants", "importPath": "tenants:app", "routePrefix": "/tenants", "source": str(folder)}
