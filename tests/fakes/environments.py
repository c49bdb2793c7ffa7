"""The repository's shipped environments, as tests read and vary them.

    config = stack_config("prod")
    config["rayfleet:cluster"]["workerGroups"][0]["maxWorkers"] = 3
    path = write_stack(tmp_path, config)  # tmp_path/Pulumi.test.yaml
"""

from __future__ import annotations

import copy
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
STACKS = ROOT / "stacks"
ENVIRONMENTS = ("dev", "staging", "prod")


def stack_config(env: str) -> dict:
    """A fresh copy of an environment file's `config:` mapping, to mutate in tests."""
    return copy.deepcopy(yaml.safe_load((STACKS / f"Pulumi.{env}.yaml").read_text())["config"])


def write_stack(tmp_path: Path, config: dict, env: str = "test") -> Path:
    path = tmp_path / f"Pulumi.{env}.yaml"
    path.write_text(yaml.safe_dump({"config": config}, sort_keys=False))
    return path
