"""Read what a Ray cluster runs, through its dashboard's REST API: Serve details, nodes, actors, request counts.

    snap = fetch_snapshot("http://127.0.0.1:8265", token="...")
    snap.serve["applications"]["sentiment"]["deployments"]

Only the standard library is used (no ray import): the CLI reads remote
clusters. Ray ≥ 2.59 dashboards want `Authorization: Bearer <token>`; the
token comes from `--token`, `$RAY_AUTH_TOKEN`, `$RAY_AUTH_TOKEN_PATH` or
`~/.ray/auth_token`, as Ray's own clients look for it. Request counts come
from each node's Prometheus endpoint (`ray_serve_num_http_requests_total`,
counted by the proxies since they started); when a node's metrics cannot be
read, counts are unknown rather than wrong.
"""

from __future__ import annotations

import json
import os
import re
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from components.errors import RayfleetError

LIMIT = 10000
_REQUESTS_RE = re.compile(r'^ray_serve_num_http_requests_total\{(?P<labels>[^}]*)\}\s+(?P<value>[0-9.eE+-]+)$')
_LABEL_RE = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


class DashboardError(RayfleetError):
    """The Ray dashboard could not be reached or refused a request."""


@dataclass
class Snapshot:
    """The raw answers of one cluster at one moment, as recorded in the test fixtures."""

    taken_at: float
    serve: dict[str, Any]
    nodes: list[dict[str, Any]]
    actors: list[dict[str, Any]]
    #: Serve application -> HTTP requests its proxies counted; None when unknown.
    requests: dict[str, int] | None

    def to_json(self) -> dict[str, Any]:
        return {"takenAt": self.taken_at, "serve": self.serve, "nodes": self.nodes, "actors": self.actors,
                "requests": self.requests}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Snapshot:
        return cls(raw["takenAt"], raw["serve"], raw["nodes"], raw["actors"], raw.get("requests"))


def auth_token(explicit: str | None = None) -> str | None:
    if explicit:
        return explicit
    if os.environ.get("RAY_AUTH_TOKEN"):
        return os.environ["RAY_AUTH_TOKEN"].strip()
    path = Path(os.environ.get("RAY_AUTH_TOKEN_PATH") or Path.home() / ".ray" / "auth_token")
    return path.read_text().strip() if path.is_file() else None


def _get(url: str, token: str | None, *, timeout: float = 10) -> bytes:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers), timeout=timeout) as answer:
            return answer.read()
    except urllib.error.HTTPError as err:
        if err.code in (401, 403):
            raise DashboardError(
                f"the Ray dashboard at {url} refused the request (HTTP {err.code}). Fix: pass its token with --token, "
                "or set RAY_AUTH_TOKEN (a local head keeps it in ~/.ray/auth_token)"
            ) from None
        raise DashboardError(f"the Ray dashboard at {url} answered HTTP {err.code}") from None
    except (urllib.error.URLError, OSError) as err:
        reason = getattr(err, "reason", err)
        raise DashboardError(
            f"cannot reach the Ray dashboard at {url}: {reason}. Fix: check the address (a local head's dashboard "
            "listens on http://127.0.0.1:8265 unless started with --dashboard-port)"
        ) from None


def _state(base: str, token: str | None, resource: str) -> list[dict[str, Any]]:
    raw = json.loads(_get(f"{base}/api/v0/{resource}?limit={LIMIT}&detail=1", token))
    return raw["data"]["result"]["result"]


def request_counts(metrics_text: str) -> dict[str, int]:
    """Serve application -> HTTP requests in one node's Prometheus text."""
    counts: dict[str, int] = {}
    for line in metrics_text.splitlines():
        match = _REQUESTS_RE.match(line.strip())
        if not match:
            continue
        labels = dict(_LABEL_RE.findall(match["labels"]))
        app = labels.get("application")
        if app:
            counts[app] = counts.get(app, 0) + int(float(match["value"]))
    return counts


def _requests(base: str, token: str | None) -> dict[str, int] | None:
    try:
        summary = json.loads(_get(f"{base}/nodes?view=summary", token))["data"]["summary"]
        total: dict[str, int] = {}
        for node in summary:
            raylet = node.get("raylet") or {}
            port = raylet.get("metricsExportPort")
            host = raylet.get("nodeManagerAddress") or node.get("ip")
            if raylet.get("state") != "ALIVE" or not port or not host:
                continue
            text = _get(f"http://{host}:{port}/metrics", None, timeout=5).decode()
            for app, n in request_counts(text).items():
                total[app] = total.get(app, 0) + n
        return total
    except (DashboardError, KeyError, ValueError):
        return None


def fetch_snapshot(address: str, token: str | None = None) -> Snapshot:
    base = address.rstrip("/")
    if not base.startswith(("http://", "https://")):
        base = "http://" + base
    serve = json.loads(_get(f"{base}/api/serve/applications/", token))
    nodes = _state(base, token, "nodes")
    actors = _state(base, token, "actors")
    return Snapshot(time.time(), serve, nodes, actors, _requests(base, token))
