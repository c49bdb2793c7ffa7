"""`local down` stops exactly its own session's processes, and leaves another cluster's alone."""

from __future__ import annotations

import subprocess
import sys

from serve_apps.processes import session_processes, stop_session

SLEEPER = "import sys, time; time.sleep(60)"


def test_stop_session_kills_the_marked_tree_and_spares_lookalikes(tmp_path):
    ours = tmp_path / "rf0-7000.ray"
    theirs = tmp_path / "rf0-7000.ray-other"
    # A parent naming our temp dir with a child that does not: the child goes too.
    parent = subprocess.Popen(
        [sys.executable, "-c", f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {SLEEPER!r}]); time.sleep(60)",
         f"--temp-dir={ours}"]
    )
    other = subprocess.Popen([sys.executable, "-c", SLEEPER, f"--temp-dir={theirs}/x"])
    try:
        import time

        deadline = time.monotonic() + 10
        while len(session_processes(None, str(ours))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(session_processes(None, str(ours))) >= 2
        assert stop_session(None, str(ours), grace_s=5) == []
        assert parent.wait(timeout=5) is not None
        assert other.poll() is None
    finally:
        other.kill()
        parent.kill()


def test_local_up_refuses_a_port_another_process_holds(tmp_path, monkeypatch):
    import socket

    import pytest

    from serve_apps.local import start_head
    from components.errors import RayfleetError

    monkeypatch.setenv("RAYFLEET_HOME", str(tmp_path))
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        port = held.getsockname()[1]
        with pytest.raises(RayfleetError) as caught:
            start_head(gcs_port=port, dashboard_port=port + 1, serve_port=8000, num_cpus=1)
    assert str(caught.value) == (
        f"port {port} (Ray GCS) is already in use on this machine, by a process rayfleet did not start. "
        "Fix: stop that process, or pick another port with --ray-port"
    )


def test_a_process_the_session_starts_while_it_is_stopped_is_stopped_too(tmp_path):
    # As a raylet may start a worker while `local down` stops the session: this one starts a process naming
    # the temp dir when it gets SIGTERM, after the first look at the session. It is stopped, not reported.
    import time

    ours = tmp_path / "rf0-7001.ray"
    late = f'{sys.executable} -c "import time; time.sleep(60)" --temp-dir={ours}'
    parent = subprocess.Popen(
        ["bash", "-c", f"trap '{late} & exit 0' TERM; while :; do sleep 0.1; done", f"--temp-dir={ours}"],
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 10
        while not session_processes(None, str(ours)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert stop_session(None, str(ours), grace_s=2) == []
        assert session_processes(None, str(ours)) == []
    finally:
        for proc in session_processes(None, str(ours)):
            proc.kill()
        parent.kill()
