"""`rayfleet drill spot` as a user runs it: a real local Ray cluster loses a worker, twice."""

from __future__ import annotations

import json

import pytest


def test_drill_spot_needs_local(cli):
    run = cli("drill", "spot")
    assert run.code == 1
    assert run.err.strip() == "error: drill spot runs only locally for now. Fix: pass --local"


def test_drill_spot_rejects_an_unknown_variant(cli):
    run = cli("drill", "spot", "--local", "--variant", "meteor")
    assert run.code == 1
    assert run.err.strip() == "error: unknown --variant meteor. Fix: use watcher and/or abrupt"


@pytest.mark.slow
def test_drill_spot_loses_no_request_with_the_watcher(cli):
    run = cli("drill", "spot", "--local", "--deadline", "8", "--warmup", "1", "--after", "2", "--json", timeout=170)
    assert run.code == 0, run.err[-2000:]
    report = json.loads(run.out)
    results = {r["variant"]: r for r in report["results"]}
    watcher, abrupt = results["watcher"], results["abrupt"]
    assert watcher["drained"] and not abrupt["drained"]
    assert watcher["failed"] == 0
    assert watcher["served"] > 0 and abrupt["served"] > 0
    # The watcher variant keeps worker A until the notice's deadline; abrupt loses it at once.
    assert watcher["node_lost_after_seconds"] >= 8
    assert abrupt["node_lost_after_seconds"] < 8
    # Both variants saw the replacement replica answer (a drained node hands over before it dies).
    assert watcher["replacement_seconds"] is not None and abrupt["replacement_seconds"] is not None
    assert watcher["replacement_seconds"] < watcher["node_lost_after_seconds"]


def test_drill_spot_names_a_port_in_use(cli):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        run = cli("drill", "spot", "--local", "--serve-port", str(port))
    assert run.code == 1
    assert run.err.strip().splitlines()[-1] == (
        f"error: port {port} (--serve-port) is in use on 127.0.0.1. Fix: stop what listens there or pass --serve-port PORT"
    )
