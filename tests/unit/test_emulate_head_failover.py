"""The head-failover figures: requests counted from the kill to the recovery, and each target it missed, named."""

from __future__ import annotations

import threading
from types import SimpleNamespace

from components.drills.emulate.head_failover import HeadFailoverFigures, Tally
from serve_apps import emulate_head_failover
from serve_apps.local import SmokeResult


def test_only_requests_sent_while_the_head_was_gone_count():
    tally = Tally()
    for at, ok in [(1.0, True), (2.0, False), (10.0, True), (11.0, False), (30.0, False)]:
        tally.add(at, ok, "" if ok else f"digits: request failed at {at}")
    figures = HeadFailoverFigures(worker_proxy="10.40.0.5:8000")
    figures.count(tally, 10.0, 20.0)
    assert (figures.requests_sent, figures.requests_failed) == (2, 1)
    assert figures.failures == ["1.0 s: digits: request failed at 11.0"]
    assert tally.answered() == 2


def test_a_recovery_with_no_failed_request_misses_nothing():
    figures = HeadFailoverFigures(worker_proxy="10.40.0.5:8000", node_stopped_s=1.0, replacement_launched_s=2.0,
                                  head_alive_s=60.0, worker_kept=True, apps_running_s=75.0, requests_sent=400,
                                  answered_before=20, timeout_s=240)
    assert figures.missed() == []
    assert figures.rows()[-1] == ("requests failed meanwhile (to 10.40.0.5:8000)", "0 of 400")


def test_failed_requests_and_a_lost_state_are_reported():
    figures = HeadFailoverFigures(worker_proxy="10.40.0.5:8000", head_alive_s=60.0, worker_kept=False,
                                  apps_running_s=75.0, requests_sent=100, requests_failed=20, answered_before=5,
                                  failures=["3.2 s: digits: request failed: timed out"], timeout_s=240)
    assert figures.missed() == [
        "the new head's GCS does not list the running worker under its node ID: state was not restored from Redis",
        "20 of 100 requests failed while the head was gone (target 0); the first: 3.2 s: digits: request failed: "
        "timed out"]


def test_a_head_that_never_came_back_is_named_first():
    figures = HeadFailoverFigures(worker_proxy="10.40.0.5:8000", answered_before=0, timeout_s=240)
    assert figures.missed() == [
        "no request to the worker's proxy 10.40.0.5:8000 was answered before the head was killed",
        "no new head was ALIVE within 240 s of the old one's termination"]


def test_a_request_is_tallied_when_it_was_sent_not_when_it_timed_out(monkeypatch):
    """Sent 1 s after the kill, failed at its 30 s timeout, after the applications ran again at 20 s: it counts."""
    clock = [101.0]
    stop = threading.Event()

    def timed_out(base_url, config, smoke):
        clock[0] += 30.0
        stop.set()
        return [SmokeResult(config["applications"][0]["name"], f"{base_url}/digits", False,
                            "request failed: timed out")]

    monkeypatch.setattr(emulate_head_failover, "time", SimpleNamespace(monotonic=lambda: clock[0]))
    monkeypatch.setattr(emulate_head_failover, "smoke_test", timed_out)
    region = SimpleNamespace(
        cfg=SimpleNamespace(serve=SimpleNamespace(applications=[SimpleNamespace(name="digits", smoke_request="x")])),
        config={"applications": [{"name": "digits", "route_prefix": "/digits"}]})
    tally = Tally()
    emulate_head_failover._load(region, "http://10.40.0.5:8000", tally, stop)
    figures = HeadFailoverFigures(worker_proxy="10.40.0.5:8000")
    figures.count(tally, 100.0, 120.0)
    assert (figures.requests_sent, figures.requests_failed) == (1, 1)
    assert figures.failures == ["1.0 s: digits: request failed: timed out"]
