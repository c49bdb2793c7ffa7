"""The import layers of pyproject.toml's [tool.importlinter] hold, and they would catch a breach."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("components", "stacks", "cost", "serve_apps", "rayfleet")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )


def _copy_tree(tmp_path: Path) -> Path:
    """The project's Python packages and pyproject.toml, without tests, data or caches."""
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__", "data", "*.yaml"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_every_import_contract_is_kept():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout


def test_a_node_agent_importing_pulumi_breaks_the_contract(tmp_path):
    tree = _copy_tree(tmp_path)
    (tree / "components" / "node_agents" / "leak.py").write_text("import pulumi\n")
    result = _lint(tree)
    assert result.returncode == 1
    assert "components.node_agents.leak -> pulumi" in result.stdout


def test_a_component_importing_the_config_model_breaks_the_layers(tmp_path):
    tree = _copy_tree(tmp_path)
    (tree / "components" / "network" / "leak.py").write_text("from stacks.config import EnvironmentConfig\n")
    result = _lint(tree)
    assert result.returncode == 1
    assert "components.network.leak -> stacks.config" in result.stdout
