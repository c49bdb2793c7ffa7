"""`rayfleet emulate` exits 1 and prints a `missed:` line for each target a scenario missed."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from components.drills.emulate.boot import BootFigures
from components.drills.emulate.control_plane import ControlPlane
from components.drills.emulate.head_failover import HeadFailoverFigures
from rayfleet.app import app
from serve_apps import emulated_region


@pytest.fixture
def missed_report(monkeypatch):
    """The library's emulation replaced by one whose head-failover saw two requests fail."""
    figures = HeadFailoverFigures(worker_proxy="10.40.0.5:8000", node_stopped_s=0.4, replacement_launched_s=0.5,
                                  head_alive_s=61.0, worker_kept=True, apps_running_s=74.0, requests_sent=300,
                                  requests_failed=2, answered_before=20, timeout_s=240,
                                  failures=["3.2 s: sentiment: request failed: timed out"])
    report = emulated_region.EmulationReport("failover", "head-failover", ControlPlane("us-east-1", "http://127.0.0.1:1"),
                                             {"total": 300.0}, moto_stopped=True, boot=BootFigures(),
                                             scenarios=[figures], run_dir=None)
    monkeypatch.setattr(emulated_region, "emulate", lambda *_args, **_kwargs: report)
    return report


MISSED = ("missed: head-failover: 2 of 300 requests failed while the head was gone (target 0); the first: 3.2 s: "
          "sentiment: request failed: timed out")


@pytest.mark.parametrize("json_flag", [[], ["--json"]])
def test_a_missed_target_exits_1_and_is_named_on_stderr(missed_report, json_flag):
    run = CliRunner().invoke(app, ["emulate", "--file", "tests/fakes/stacks/Pulumi.failover.yaml", "--scenario",
                                   "head-failover", *json_flag], env={"COLUMNS": "300", "NO_COLOR": "1"})
    assert run.exit_code == 1, run.output
    assert MISSED in run.stderr.splitlines()
    if json_flag:
        assert json.loads(run.stdout)["missed"] == [MISSED.removeprefix("missed: ")]
