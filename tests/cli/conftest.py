"""The `cli` fixture: black-box runs of the `rayfleet` command (tests.fakes.cli.run_cli)."""

from __future__ import annotations

import pytest

from tests.fakes.cli import run_cli


@pytest.fixture
def cli():
    return run_cli
