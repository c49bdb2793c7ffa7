"""`local up` stops the head it started whenever a later step fails, and says which step in one line.

The steps themselves (Ray, Serve) are replaced here; tests/serve/test_local_up_failure.py runs
the real thing with a broken import path.
"""

from __future__ import annotations

import dataclasses

import pytest

from components.contract import REGION_HEALTH_APP, REGION_HEALTH_ROUTE
from components.errors import RayfleetError
from serve_apps import local

STATE = local.LocalState(6421, 8291, 8021, "/tmp/rf0-6421.ray", 4242, "/tmp/token")


@pytest.fixture
def stopped(monkeypatch, tmp_path):
    """A fresh RAYFLEET_HOME, a head that 'starts', and a `down` that records being called."""
    calls = []
    monkeypatch.setenv("RAYFLEET_HOME", str(tmp_path))
    monkeypatch.setattr(local, "start_head", lambda *args: STATE)

    def down(on_step=lambda message: None, keep_logs=False):
        calls.append(keep_logs)
        return local.DownResult(True, 21, STATE.temp_dir)

    monkeypatch.setattr(local, "down", down)
    return calls


def _fail_at(step_name: str, error: BaseException):
    def deploy_and_check(cfg, state, started, machine, confirm, on_step, on_progress, timeout_s, note, step):
        step.now = step_name
        raise error

    return deploy_and_check


@pytest.mark.parametrize("error", [RayfleetError("the controller said no.\nFix: look"), KeyboardInterrupt()])
def test_a_failed_step_after_the_head_started_stops_it_and_says_which_step(monkeypatch, stopped, error):
    monkeypatch.setattr(local, "_deploy_and_check", _fail_at("deploying the applications", error))
    with pytest.raises(RayfleetError) as caught:
        local.up("dev")
    reason = "the controller said no. Fix: look" if isinstance(error, RayfleetError) else "KeyboardInterrupt"
    assert str(caught.value) == (
        "local up failed while deploying the applications "
        f"(stopped the 21 processes it started; Ray's logs stay in /tmp/rf0-6421.ray): {reason}"
    )
    assert stopped == [True]


def test_a_failed_smoke_check_stops_the_head_it_started(monkeypatch, stopped):
    def deployed(cfg, state, started, machine, confirm, on_step, on_progress, timeout_s, note, step):
        smoke = [local.SmokeResult("digits", "http://127.0.0.1:8021/digits", False, "digit = 3, expected 0")]
        return local.UpResult(state, started, [], None, None, smoke)

    monkeypatch.setattr(local, "_deploy_and_check", deployed)
    with pytest.raises(RayfleetError) as caught:
        local.up("dev")
    assert str(caught.value) == (
        "local up failed while smoke-testing the routes (stopped the 21 processes it started; Ray's logs stay in "
        "/tmp/rf0-6421.ray): digits at http://127.0.0.1:8021/digits: digit = 3, expected 0"
    )
    assert stopped == [True]


def test_a_head_that_was_already_running_is_left_running(monkeypatch, stopped):
    monkeypatch.setattr(local, "read_state", lambda: STATE)
    monkeypatch.setattr(local, "head_alive", lambda state: True)
    monkeypatch.setattr(local, "_deploy_and_check", _fail_at("rendering the Serve config", RayfleetError("bad")))
    with pytest.raises(RayfleetError) as caught:
        local.up("dev", gcs_port=6421, dashboard_port=8291, serve_port=8021)
    assert str(caught.value) == "local up failed while rendering the Serve config: bad"
    assert stopped == []


def test_the_region_health_route_is_checked_with_a_get_and_said_so():
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    seen = []

    class Health(BaseHTTPRequestHandler):
        def do_GET(self):  # noqa: N802 - the handler's method name
            seen.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b'{"healthy":true,"unable":[]}')

        def log_message(self, *args):  # keep the test's output clean
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        state = dataclasses.replace(STATE, serve_port=server.server_address[1])
        config = {"applications": [{"name": REGION_HEALTH_APP, "route_prefix": REGION_HEALTH_ROUTE}]}
        (result,) = local.smoke_test(state.serve_url, config, {})
    finally:
        server.shutdown()
    assert seen == [REGION_HEALTH_ROUTE]
    assert (result.method, result.ok, result.detail) == ("GET", True, "HTTP 200")
