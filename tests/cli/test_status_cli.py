"""`rayfleet status`'s arguments: what it refuses, and what it says when there is nothing to show."""

from __future__ import annotations

import pytest


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--local", "--env", "dev"),
         "--local shows the local cluster, not an environment: it takes no --env dev. "
         "Fix: drop --env dev, or drop --local to see the environment"),
        (("--local", "--region", "us-east-1", "--outputs", "o.json"),
         "--local shows the local cluster, not an environment: it takes no --region us-east-1, --outputs o.json. "
         "Fix: drop --region us-east-1, --outputs o.json, or drop --local to see the environment"),
        (("--local", "--watch", "--json"),
         "--watch refreshes a terminal view, --json prints one report: give one of them. "
         "Fix: drop --json to watch, or drop --watch for the JSON report"),
        (("--env", "dev", "--window", "10"),
         "--window 10 measures the local cluster's requests/s. Fix: give it with --local, or drop it"),
    ],
)
def test_status_refuses_arguments_that_do_not_go_together(cli, tmp_path, args, message):
    run = cli("status", *args, env={"RAYFLEET_HOME": str(tmp_path)})
    assert (run.code, run.out, run.err) == (1, "", f"error: {message}\n")


def test_status_local_without_a_local_cluster_says_how_to_start_one(cli, tmp_path):
    run = cli("status", "--local", "--json", env={"RAYFLEET_HOME": str(tmp_path)})
    assert (run.code, run.out) == (1, "")
    assert run.err == "error: no local cluster is running (nothing to show). Fix: start one with 'rayfleet local up'\n"


def test_status_for_a_region_the_environment_lacks_names_its_regions(cli):
    run = cli("status", "--env", "prod", "--region", "eu-west-1")
    assert (run.code, run.out) == (1, "")
    assert run.err == ("error: --region eu-west-1 is not a region of environment 'prod' (regions: us-east-1, us-west-2). "
                       "Fix: pick one of those\n")


def test_watch_refreshes_until_ctrl_c_and_then_stops_quietly(monkeypatch):
    from rich.text import Text

    from rayfleet.commands import status

    views = iter([Text("first"), Text("second")])
    reads, sleeps = [], []

    def read():
        reads.append(1)
        view = next(views, None)
        if view is None:
            raise KeyboardInterrupt
        return {}, view

    monkeypatch.setattr(status.time, "sleep", sleeps.append)
    status._watch(read, interval=3.0)
    assert (len(reads), sleeps) == (3, [3.0, 3.0])
