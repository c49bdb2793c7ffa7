"""Two `local up` at once: the second waits for the first (saying so) and reuses its head, never stops it.

Ray and Serve are replaced; the lock (a real flock on `$RAYFLEET_HOME/local/lock`) is not.
"""

from __future__ import annotations

import os
import threading

from serve_apps import local

STATE = local.LocalState(6421, 8291, 8021, "/tmp/rf0-6421.ray", 4242, "/tmp/token")
PORTS = {"gcs_port": 6421, "dashboard_port": 8291, "serve_port": 8021}
WAITING = f"another 'rayfleet local up' or 'local down' is running (pid {os.getpid()}); waiting for it to finish"


def test_a_second_up_waits_for_the_first_and_reuses_its_head(monkeypatch, tmp_path):
    monkeypatch.setenv("RAYFLEET_HOME", str(tmp_path))
    first_is_starting, second_is_waiting = threading.Event(), threading.Event()
    alive, started, stopped = [], [], []

    def start_head(*args):
        local._write_state(STATE)  # as the real one does, before the head answers
        started.append(args)
        first_is_starting.set()
        second_is_waiting.wait(timeout=10)
        alive.append(True)
        return STATE

    def deployed(cfg, state, was_started, machine, confirm, on_step, on_progress, timeout_s, note, step):
        return local.UpResult(state, was_started, [], None, None, [])

    monkeypatch.setattr(local, "start_head", start_head)
    monkeypatch.setattr(local, "head_alive", lambda state: bool(alive))
    monkeypatch.setattr(local, "_deploy_and_check", deployed)
    monkeypatch.setattr(local, "_stopped_after", lambda step, err: err)

    def down(on_step=lambda message: None, keep_logs=False):
        stopped.append(local.read_state())
        local.state_file().unlink(missing_ok=True)
        return local.DownResult(True, 21, STATE.temp_dir)

    monkeypatch.setattr(local, "down", down)

    results, second_steps = {}, []

    def second_step(message):
        second_steps.append(message)
        if message == WAITING:
            second_is_waiting.set()

    first = threading.Thread(target=lambda: results.setdefault("first", local.up("dev", **PORTS)))
    second = threading.Thread(target=lambda: results.setdefault("second", local.up("dev", on_step=second_step, **PORTS)))
    first.start()
    assert first_is_starting.wait(timeout=30)
    second.start()
    first.join(timeout=60)
    second.join(timeout=60)

    assert second_steps[:2] == [WAITING, f"Ray head already running (dashboard {STATE.dashboard_url})"]
    assert (len(started), stopped) == (1, [])
    assert (results["first"].started, results["second"].started) == (True, False)
