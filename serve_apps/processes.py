"""Find and stop exactly the processes of one local Ray session, never another cluster's.

    stop_session(pgid=12345, marker="/tmp/rayfleet-6379")   # -> [] when nothing is left

`ray stop` kills every Ray process on the machine by name, which would take
down other clusters running here. `rayfleet local up` starts `ray start` in a
new process group (so its GCS, raylet, dashboard and monitors share that group)
with its own `--temp-dir` (which every one of them names on its command line);
workers and actors are children of that raylet but set their own groups. The
session is therefore: the group's members, processes naming the temp dir, and
all their descendants.
"""

from __future__ import annotations

import os
import re
import signal

import psutil


def session_processes(pgid: int | None, marker: str) -> list[psutil.Process]:
    """Every live process of the session: group members, processes naming `marker`, and their descendants."""
    # The temp dir as a whole path component: /tmp/rf0-6379.ray must not match /tmp/rf0-6379.ray-other.
    names = re.compile(re.escape(marker.rstrip("/")) + r"(/|$|\s)")
    roots: dict[int, psutil.Process] = {}
    for proc in psutil.process_iter(["pid", "cmdline"]):
        try:
            in_group = pgid is not None and os.getpgid(proc.pid) == pgid
            names_marker = any(names.search(part) for part in (proc.info["cmdline"] or ()))
        except (ProcessLookupError, psutil.Error):
            continue
        if (in_group or names_marker) and proc.pid != os.getpid():
            roots[proc.pid] = proc
    found = dict(roots)
    for proc in roots.values():
        try:
            for child in proc.children(recursive=True):
                found.setdefault(child.pid, child)
        except psutil.Error:
            continue
    return [p for p in found.values() if _alive(p)]


def _alive(proc: psutil.Process) -> bool:
    try:
        return proc.is_running() and proc.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def stop_session(pgid: int | None, marker: str, grace_s: float = 5.0, rounds: int = 3) -> list[int]:
    """SIGTERM the session, SIGKILL what is left after `grace_s`; return the pids still alive (none, normally).

    A session may start a process while it is being stopped (a raylet starting a worker, a dying
    process's handler): one that was not there at the first look is stopped by the next round.
    """
    for _ in range(rounds):
        procs = session_processes(pgid, marker)
        if not procs:
            return []
        for proc in procs:
            _signal(proc, signal.SIGTERM)
        _, alive = psutil.wait_procs(procs, timeout=grace_s)
        for proc in alive:
            _signal(proc, signal.SIGKILL)
        psutil.wait_procs(alive, timeout=5)
    return [p.pid for p in session_processes(pgid, marker)]


def _signal(proc: psutil.Process, sig: int) -> None:
    try:
        proc.send_signal(sig)
    except psutil.Error:
        pass
