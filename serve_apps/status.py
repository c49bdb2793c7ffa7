"""What the dashboard says about Serve, as typed values: per app its route, status and replicas.

    apps = parse_status(dashboard.get_applications())
    [(a.name, a.status, a.healthy) for a in apps]      # [('digits', 'RUNNING', True), ...]

Pure: turns the JSON of `GET /api/serve/applications/` into dataclasses the
deployer waits on and the CLI renders.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class DeploymentState:
    name: str
    status: str
    running: int
    target: int
    message: str = ""

    @property
    def healthy(self) -> bool:
        return self.status == "HEALTHY" and self.running >= self.target


@dataclass(frozen=True)
class AppState:
    name: str
    route_prefix: str | None
    status: str
    message: str
    deployments: tuple[DeploymentState, ...]

    @property
    def healthy(self) -> bool:
        return self.status == "RUNNING" and all(d.healthy for d in self.deployments)

    @property
    def failed(self) -> bool:
        return self.status in ("DEPLOY_FAILED", "UNHEALTHY")


def parse_status(details: dict[str, Any]) -> list[AppState]:
    apps = []
    for name, app in sorted((details.get("applications") or {}).items()):
        deployments = tuple(
            DeploymentState(
                name=dname,
                status=str(dep.get("status", "UNKNOWN")),
                running=sum(1 for r in dep.get("replicas") or () if r.get("state") == "RUNNING"),
                target=int(dep.get("target_num_replicas") or 0),
                message=str(dep.get("message") or ""),
            )
            for dname, dep in sorted((app.get("deployments") or {}).items())
        )
        apps.append(
            AppState(
                name=name,
                route_prefix=app.get("route_prefix"),
                status=str(app.get("status", "UNKNOWN")),
                message=str(app.get("message") or ""),
                deployments=deployments,
            )
        )
    return apps


def status_json(apps: list[AppState]) -> list[dict[str, Any]]:
    return [
        {
            "name": a.name,
            "routePrefix": a.route_prefix,
            "status": a.status,
            "healthy": a.healthy,
            "message": a.message,
            "deployments": [{**asdict(d), "healthy": d.healthy} for d in a.deployments],
        }
        for a in apps
    ]
