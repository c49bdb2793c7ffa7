"""Fixtures shared by every test folder."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
STACKS = ROOT / "stacks"
ENVIRONMENTS = ("dev", "staging", "prod")


def stack_config(env: str) -> dict:
    """A fresh copy of an environment file's `config:` mapping, to mutate in tests."""
    return copy.deepcopy(yaml.safe_load((STACKS / f"Pulumi.{env}.yaml").read_text())["config"])


def write_stack(tmp_path: Path, config: dict, env: str = "test") -> Path:
    path = tmp_path / f"Pulumi.{env}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path


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
