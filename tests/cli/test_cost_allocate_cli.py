"""`rayfleet cost allocate`: which cluster to read, and what the user is told when it cannot."""

from __future__ import annotations

import copy
import json
import os
import sys

import pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ((), "say which cluster: exactly one of --local, --address URL, or --env ENV --region REGION. "
             "Fix: for a local Ray, run 'rayfleet cost allocate --local'"),
        (("--local", "--address", "http://127.0.0.1:8265"),
         "say which cluster: exactly one of --local, --address URL, or --env ENV --region REGION. "
         "Fix: for a local Ray, run 'rayfleet cost allocate --local'"),
        (("--address", "http://127.0.0.1:8265"),
         "--address and --region need the environment to price the nodes. Fix: add --env ENV or --file PATH"),
        (("--local", "--window", "3x"), "--window '3x' is not a duration. Fix: write it like 24h, 90m or 7d"),
        (("--env", "prod", "--region", "eu-west-1"),
         "--region eu-west-1 is not a region of prod (us-east-1, us-west-2). Fix: use one of them"),
    ],
)
def test_allocate_rejects_unclear_targets(cli, args, message):
    run = cli("cost", "allocate", *args)
    assert (run.code, run.out) == (1, "")
    assert run.err == f"error: {message}\n"


def test_allocate_local_without_a_running_dashboard_says_where_it_looked(cli):
    run = cli("cost", "allocate", "--local", env={"RAY_DASHBOARD_ADDRESS": "http://127.0.0.1:9"})
    assert run.code == 1
    assert run.err == (
        "error: cannot reach the Ray dashboard at http://127.0.0.1:9/api/serve/applications/: [Errno 111] "
        "Connection refused. Fix: check the address (a local head's dashboard listens on http://127.0.0.1:8265 "
        "unless started with --dashboard-port)\n"
    )


def test_allocate_local_reads_the_dashboard_local_up_recorded(cli, tmp_path):
    # `local up` moves off 8265 when it is taken; --local must read the head it recorded, not guess 8265.
    from tests.fakes.ports import free_port

    port = free_port()
    (tmp_path / "local").mkdir()
    (tmp_path / "local" / "state.json").write_text(json.dumps({
        "gcs_port": 1, "dashboard_port": port, "serve_port": 2, "temp_dir": str(tmp_path), "pgid": 0,
        "token_path": str(tmp_path / "token"), "ingress": "haproxy"}))
    env = {key: value for key, value in os.environ.items() if key != "RAY_DASHBOARD_ADDRESS"}
    run = cli("cost", "allocate", "--local", env={**env, "RAYFLEET_HOME": str(tmp_path)})
    assert run.code == 1
    assert f"cannot reach the Ray dashboard at http://127.0.0.1:{port}/api/serve/applications/" in run.err


def test_allocate_by_env_and_region_without_pulumi_asks_for_outputs(cli):
    # PATH without a Pulumi CLI, whatever this machine has installed.
    run = cli("cost", "allocate", "--env", "prod", "--region", "us-east-1", env={"PATH": os.path.dirname(sys.executable)})
    assert run.code == 1
    assert run.err == (
        "error: the Pulumi CLI is not on PATH, so the stack's outputs cannot be read. Fix: install Pulumi, or pass "
        "--outputs FILE written by 'pulumi stack output --json --stack prod'\n"
    )


def test_allocate_reads_the_dashboard_from_an_outputs_file(cli, tmp_path, plans):
    path = tmp_path / "outputs.json"
    outputs = copy.deepcopy(plans("prod").outputs)  # the session-wide plan stays untouched
    outputs["regions"]["us-east-1"]["dashboardUrl"] = "http://127.0.0.1:9"  # nothing listens on the discard port
    outputs["regions"]["us-east-1"].pop("dashboardTokenSecretArn")
    path.write_text(json.dumps(outputs))
    run = cli("cost", "allocate", "--env", "prod", "--region", "us-east-1", "--outputs", str(path), "--token", "t")
    assert run.code == 1
    assert run.err.startswith("error: cannot reach the Ray dashboard at http://127.0.0.1:9")