"""Deploy a rendered Serve config to a cluster through its dashboard, wait for it, roll it back.

    dashboard = Dashboard("http://127.0.0.1:8265", token)
    result = deploy(dashboard, config, history=History.for_target("local"),
                    confirm_removal=lambda names: False, on_progress=print)
    rollback(dashboard, History.for_target("local"), confirm_removal=..., on_progress=...)

Serve's PUT is declarative: applications missing from the new config are
deleted. `deploy` therefore asks `confirm_removal(names)` first and stops if
it says no. It validates the config against Ray's schema before sending, then
polls until every application is RUNNING with every deployment HEALTHY at its
target replica count, fails fast on DEPLOY_FAILED, and records the outcome in
the target's history (a timeout or failure is recorded as `failed`, so a later
rollback skips it).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from serve_apps.dashboard import Dashboard
from serve_apps.history import History, Record
from serve_apps.render import validate_serve_config
from serve_apps.status import AppState, parse_status
from components.errors import RayfleetError

DEFAULT_TIMEOUT_S = 300.0
#: The status must hold this many polls in a row: right after a PUT the dashboard may still show the old apps.
STABLE_POLLS = 2


class DeployError(RayfleetError):
    """A deployment that failed, timed out or was refused; carries the last status seen."""

    def __init__(self, message: str, apps: list[AppState] | None = None):
        super().__init__(message)
        self.apps = apps or []


@dataclass
class DeployResult:
    apps: list[AppState]
    removed: list[str]
    record: Record
    seconds: float


def removed_apps(current: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """Names of the applications running now that `config` does not list (a PUT would delete them)."""
    keep = {app["name"] for app in config.get("applications", [])}
    return sorted(set((current.get("applications") or {})) - keep)


def deploy(
    dashboard: Dashboard,
    config: dict[str, Any],
    *,
    history: History,
    confirm_removal: Callable[[list[str]], bool],
    on_progress: Callable[[list[AppState], float], None] = lambda apps, elapsed: None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_s: float = 1.0,
    note: str = "",
) -> DeployResult:
    validate_serve_config(config)
    started = time.monotonic()
    removing = removed_apps(dashboard.get_applications(), config)
    if removing and not confirm_removal(removing):
        raise DeployError(
            f"not deployed: the new config would remove {', '.join(removing)} from {dashboard.address}, "
            "and removal was not confirmed. Fix: add them to rayfleet:serve.applications, or rerun with --yes"
        )
    dashboard.put_applications(config)
    names = [app["name"] for app in config["applications"]]
    try:
        apps = wait_until_healthy(dashboard, names, timeout_s=timeout_s, poll_s=poll_s, on_progress=on_progress)
    except DeployError:
        history.record(config, "failed", dashboard.address, note)
        raise
    record = history.record(config, "running", dashboard.address, note)
    return DeployResult(apps, removing, record, time.monotonic() - started)


def wait_until_healthy(
    dashboard: Dashboard,
    names: list[str],
    *,
    timeout_s: float,
    poll_s: float = 1.0,
    on_progress: Callable[[list[AppState], float], None] = lambda apps, elapsed: None,
) -> list[AppState]:
    """Poll until every named app is healthy (and no other app remains); DeployError on failure or timeout."""
    started = time.monotonic()
    stable = 0
    while True:
        apps = parse_status(dashboard.get_applications())
        elapsed = time.monotonic() - started
        on_progress(apps, elapsed)
        by_name = {a.name: a for a in apps}
        failed = [a for a in apps if a.name in names and a.failed]
        if failed:
            detail = "; ".join(f"{a.name} is {a.status}: {_last_line(a.message) or 'no message'}" for a in failed)
            raise DeployError(
                f"deployment to {dashboard.address} failed: {detail}. "
                "Fix: correct the application (see 'rayfleet serve status' and the replica logs), "
                "then deploy again or 'rayfleet serve rollback'",
                apps,
            )
        ready = all(n in by_name and by_name[n].healthy for n in names) and set(by_name) <= set(names)
        stable = stable + 1 if ready else 0
        if stable >= STABLE_POLLS or (ready and not names):
            return apps
        if elapsed >= timeout_s:
            waiting = [_waiting_on(n, by_name.get(n)) for n in names if not (n in by_name and by_name[n].healthy)]
            raise DeployError(
                f"timed out after {timeout_s:g} s waiting for {dashboard.address}: "
                + ("; ".join(waiting) or "apps not yet removed: " + ", ".join(sorted(set(by_name) - set(names))))
                + ". Fix: check 'rayfleet serve status' and whether the cluster has room for the replicas, "
                "or wait longer with --timeout",
                apps,
            )
        time.sleep(poll_s)


def _waiting_on(name: str, app: AppState | None) -> str:
    if app is None:
        return f"{name} has not appeared"
    replicas = ", ".join(f"{d.name} {d.running}/{d.target} replicas {d.status}" for d in app.deployments)
    return f"{name} is {app.status}" + (f" ({replicas})" if replicas else "")


def _last_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "")[:300]


def rollback(
    dashboard: Dashboard,
    history: History,
    *,
    confirm_removal: Callable[[list[str]], bool],
    on_progress: Callable[[list[AppState], float], None] = lambda apps, elapsed: None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    poll_s: float = 1.0,
) -> tuple[Record, DeployResult]:
    """Deploy again the last good config before the latest one; RayfleetError when there is none."""
    target = history.rollback_target()
    if target is None:
        count = len(history.records())
        raise RayfleetError(
            f"nothing to roll back to in {history.folder}: {count} deployment(s) recorded, none good before the "
            "latest. Fix: deploy a known-good config with 'rayfleet serve deploy'"
        )
    result = deploy(
        dashboard,
        target.config,
        history=history,
        confirm_removal=confirm_removal,
        on_progress=on_progress,
        timeout_s=timeout_s,
        poll_s=poll_s,
        note=f"rollback to #{target.seq}",
    )
    return target, result
