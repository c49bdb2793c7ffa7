"""The local cluster's applications and their traffic: Serve's REST API plus every node's metrics endpoint.

    watch = LocalTraffic(read_state(), window_s=10)
    watch.read()                     # first scrape: counts since the replicas started, no rate yet
    time.sleep(10)
    status = watch.read()            # rates over the last 10 s
    [(t.app.name, t.requests_per_second, t.since_start.p99_ms) for t in status.apps]

The metrics endpoints are the ones Ray lists for Prometheus in the session
directory (`<temp dir>/session_latest/prom_metrics_service_discovery.json`,
written by the dashboard: every node's metrics export port, and the
dashboard's own), so no port is guessed. They answer without the dashboard's
token. A node whose endpoint does not answer is named in `unreachable`, and its
replicas' counts are missing rather than the whole view.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.errors import RayfleetError
from serve_apps.local import LocalState, head_alive, read_state
from serve_apps.prometheus import Sample, parse_prometheus
from serve_apps.status import parse_status
from serve_apps.traffic import AppTraffic, app_traffic, ingress_deployments

#: ray._private.ray_constants.PROMETHEUS_SERVICE_DISCOVERY_FILE, in the session directory (Ray 2.60).
DISCOVERY_FILE = "prom_metrics_service_discovery.json"


@dataclass
class LocalStatus:
    dashboard_url: str
    metrics_targets: list[str]
    apps: list[AppTraffic]
    #: Metrics endpoints that did not answer: "host:port: reason".
    unreachable: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {"dashboard": self.dashboard_url, "metricsTargets": self.metrics_targets,
                "unreachable": self.unreachable, "applications": [a.to_json() for a in self.apps]}


def running_state() -> LocalState:
    """The state of the running `rayfleet local up` cluster; an error with the fix when there is none."""
    state = read_state()
    if state is None or not head_alive(state):
        raise RayfleetError("no local cluster is running (nothing to show). Fix: start one with 'rayfleet local up'")
    return state


def metrics_targets(temp_dir: str) -> list[str]:
    """`host:port` of every metrics endpoint Ray lists for Prometheus in the cluster's session directory."""
    path = Path(temp_dir) / "session_latest" / DISCOVERY_FILE
    try:
        groups = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise RayfleetError(
            f"cannot read Ray's list of metrics endpoints {path} ({err}). "
            "Fix: wait a few seconds after 'rayfleet local up' (the dashboard writes it), then retry"
        ) from None
    return sorted({target for group in groups for target in group.get("targets", [])})


def scrape(targets: list[str], timeout_s: float = 5.0) -> tuple[list[Sample], list[str]]:
    """Every sample of every target's `/metrics`; and the targets that did not answer, with why."""
    samples: list[Sample] = []
    unreachable = []
    for target in targets:
        try:
            with urllib.request.urlopen(f"http://{target}/metrics", timeout=timeout_s) as answer:
                samples += parse_prometheus(answer.read().decode(errors="replace"))
        except (urllib.error.URLError, OSError) as err:
            unreachable.append(f"{target}: {getattr(err, 'reason', err)}")
    return samples, unreachable


class LocalTraffic:
    """Successive reads of the local cluster; each rate covers the last `window_s` seconds of reads."""

    def __init__(self, state: LocalState, window_s: float, clock: Callable[[], float] = time.monotonic):
        self.state, self.window_s, self.clock = state, window_s, clock
        self.history: deque[tuple[float, list[Sample]]] = deque()

    def read(self) -> LocalStatus:
        details = self.state.dashboard().get_applications()
        targets = metrics_targets(self.state.temp_dir)
        samples, unreachable = scrape(targets)
        now = self.clock()
        earlier = self._base(now)
        self.history.append((now, samples))
        window = (samples, earlier[1], now - earlier[0]) if earlier else (samples, None, None)
        apps = app_traffic(parse_status(details), ingress_deployments(details), window[0], window[1], window[2])
        return LocalStatus(self.state.dashboard_url, targets, apps, unreachable)

    def _base(self, now: float) -> tuple[float, list[Sample]] | None:
        """The newest earlier read at least `window_s` old (older ones are dropped), else the oldest one."""
        while len(self.history) > 1 and now - self.history[1][0] >= self.window_s:
            self.history.popleft()
        return self.history[0] if self.history else None
