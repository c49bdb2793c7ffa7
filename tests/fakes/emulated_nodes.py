"""What an emulated region's run left on this machine: its namespaces and links, and processes or mounts of its nodes.

    assert run_links("1a2b") == {"namespaces": [], "links": []}     # the run's ID is in its names (rfb1a2b, rfn1a2b-1)
    assert left_behind(tmp_path) == {"processes": [], "mounts": []}  # RAYFLEET_HOME of the run
"""

from __future__ import annotations

import os
import signal
import subprocess

import psutil
import pytest

#: The boot scenario makes network and mount namespaces: root only.
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="the boot scenario creates network and mount namespaces, "
                                                          "which only root may (run the suite as root)")

#: Seconds a run gets to clean up after SIGINT before a test kills it (a kill would leave its namespaces).
CLEAN_UP_S = 120


def run_links(run: str) -> dict[str, list[str]]:
    """The network namespaces, bridge and veths of the run `run` that still exist."""
    netns = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    links = subprocess.run(["ip", "-o", "link"], capture_output=True, text=True).stdout
    return {"namespaces": [line for line in netns.splitlines() if f"rfn{run}-" in line],
            "links": [line for line in links.splitlines() if f"rfb{run}" in line or f"rfv{run}" in line]}


def left_behind(home) -> dict[str, list[str]]:
    """Processes and mounts of the runs under RAYFLEET_HOME `home`: a node's processes see its overlays and
    binds, whose sources are in its directory under `home`, in their mount table."""
    processes = []
    for process in psutil.process_iter(["pid", "cmdline"]):
        try:
            with open(f"/proc/{process.info['pid']}/mountinfo") as mounts:
                if str(home) in mounts.read():
                    processes.append(f"{process.info['pid']}: {' '.join(process.info['cmdline'] or [])[:120]}")
        except OSError:
            continue  # gone meanwhile
    with open("/proc/self/mountinfo") as own:
        mounts = [line for line in own if str(home) in line]
    return {"processes": processes, "mounts": mounts}


def stop_run(proc: subprocess.Popen) -> None:
    """Stop a `rayfleet emulate` subprocess still running as Ctrl-C does, so that it deletes what it made;
    SIGKILL only when it has not finished CLEAN_UP_S later."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGINT)
    try:
        proc.wait(timeout=CLEAN_UP_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def run_emulate(args: list[str], env: dict[str, str], cwd, timeout: float) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of `rayfleet emulate ARGS`; on `timeout` it is interrupted (stop_run), then
    the timeout raised."""
    import sys

    proc = subprocess.Popen([sys.executable, "-m", "rayfleet", "emulate", *args], cwd=cwd, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    finally:
        stop_run(proc)
    return proc.returncode, out, err
