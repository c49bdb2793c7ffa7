"""What the dashboard says about Serve, as typed values: per app its route, status and replicas.

    apps = parse_status(dashboard.get_applications())
    [(a.name, a.status, a.healthy) for a in apps]      # [('digits', 'RUNNING', True), ...]

Pure: turns the JSON of `GET /api/serve/applications/` into dataclasses the
deployer waits on and the CLI renders.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

#: Replica states Serve routes requests to: a replica on a draining node (PENDING_MIGRATION) keeps serving until its
#: replacement runs or the node's deadline nears (ray/serve/_private/deployment_state.py, get_running_replica_infos).
RUNNING_STATES = ("RUNNING", "PENDING_MIGRATION")
#: Deployment statuses of a deployment that runs as configured, or is only changing its replica count.
_SCALED = ("HEALTHY", "UPSCALING", "DOWNSCALING")


@dataclass(frozen=True)
class DeploymentState:
    name: str
    status: str
    running: int
    target: int
    message: str = ""
    #: The autoscaling floor; None for a fixed replica count.
    min_replicas: int | None = None

    @property
    def healthy(self) -> bool:
        return self.status == "HEALTHY" and self.running >= self.target

    @property
    def can_serve(self) -> bool:
        """A request sent now gets an answer: a replica runs, or none needs to (scaled to zero, or waking up).

        An autoscaling floor of 0 makes an empty deployment a cold start, not an outage, unless Serve
        itself says it is broken (UNHEALTHY, DEPLOY_FAILED) or still being deployed (UPDATING).
        """
        return self.running > 0 or (self.min_replicas == 0 and self.status in _SCALED)


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
    def can_serve(self) -> bool:
        """Every deployment can serve (the ingress calls the others); an app with none yet cannot."""
        return bool(self.deployments) and all(d.can_serve for d in self.deployments)

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
                running=sum(1 for r in dep.get("replicas") or () if r.get("state") in RUNNING_STATES),
                target=int(dep.get("target_num_replicas") or 0),
                message=str(dep.get("message") or ""),
                min_replicas=_min_replicas(dep),
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


def _min_replicas(deployment: dict[str, Any]) -> int | None:
    config = deployment.get("deployment_config") or {}
    autoscaling = config.get("autoscaling_config") or {}
    floor = autoscaling.get("min_replicas")
    return None if floor is None else int(floor)


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
