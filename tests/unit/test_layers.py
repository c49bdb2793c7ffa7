"""The import contracts of pyproject.toml's [tool.importlinter] hold, and they would catch a breach."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.fakes.environments import ROOT

LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
PACKAGES = ("components", "stacks", "cost", "serve_apps", "rayfleet", "tests")


def _lint(cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(cwd / "pyproject.toml"), "--no-cache"],
        cwd=cwd, capture_output=True, text=True, timeout=120,
    )


def _copy_tree(tmp_path: Path) -> Path:
    """The project's Python packages, tests included, and pyproject.toml, without data or caches."""
    skip = shutil.ignore_patterns("__pycache__", "data", "fixtures", "snapshots", "*.yaml")
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=skip)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def test_every_import_contract_is_kept():
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 6 kept, 0 broken." in result.stdout


def _lint_with(tmp_path: Path, module: str, source: str) -> subprocess.CompletedProcess:
    """lint-imports on a copy of the project with one more module (`module` a path under the root)."""
    tree = _copy_tree(tmp_path)
    (tree / module).write_text(source)
    return _lint(tree)


def test_a_node_agent_importing_pulumi_breaks_the_contract(tmp_path):
    result = _lint_with(tmp_path, "components/node_agents/leak.py", "import pulumi\n")
    assert result.returncode == 1
    assert "components.node_agents.leak -> pulumi" in result.stdout


def test_a_component_importing_the_config_model_breaks_the_layers(tmp_path):
    result = _lint_with(tmp_path, "components/network/leak.py", "from stacks.config import EnvironmentConfig\n")
    assert result.returncode == 1
    assert "components.network.leak -> stacks.config" in result.stdout


@pytest.mark.parametrize(
    ("module", "source", "reported"),
    [
        ("tests/aws/test_leak.py", "from tests.unit.test_cidr_plan import *  # noqa: F403\n",
         "tests.aws.test_leak is not allowed to import tests.unit.test_cidr_plan"),
        ("tests/cli/test_leak.py", "from tests.conftest import plans  # noqa: F401\n",
         "tests.cli.test_leak is not allowed to import tests.conftest"),
        ("tests/fakes/leak.py", "from tests.unit.test_cidr_plan import *  # noqa: F403\n",
         "tests.fakes.leak -> tests.unit.test_cidr_plan"),
    ],
    ids=["test-imports-test", "test-imports-conftest", "fake-imports-test"],
)
def test_tests_sharing_code_outside_the_fakes_break_the_contract(tmp_path, module, source, reported):
    result = _lint_with(tmp_path, module, source)
    assert result.returncode == 1
    assert reported in result.stdout


def test_every_test_folder_is_under_the_tests_contract():
    """A new folder of tests joins the independence contract, or its modules could import each other unseen."""
    pyproject = (ROOT / "pyproject.toml").read_text()
    folders = sorted(p.parent.name for p in (ROOT / "tests").glob("*/__init__.py") if p.parent.name != "fakes")
    assert folders and [f for f in folders if f'"tests.{f}.*"' not in pyproject] == []
