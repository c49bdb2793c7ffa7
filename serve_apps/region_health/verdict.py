"""Can this region serve every configured application? Decided from Serve's own status.

    >>> verdict({"applications": {"shop": {"status": "RUNNING", "deployments": {"Shop": {
    ...     "status": "UNHEALTHY", "replicas": [], "target_num_replicas": 1}}}}}).unable
    ('shop: Shop has no running replica (UNHEALTHY)',)

Pure: reads the JSON of Serve's instance details (what `GET /api/serve/applications/`
and the controller return) through `serve_apps.status`, the same reading the deployer
and the CLI use. The region-health application itself is left out: it answers, so it runs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from components.contract import REGION_HEALTH_APP
from serve_apps.status import AppState, parse_status

#: An application Serve is removing is no longer configured.
_LEAVING = ("DELETING",)


@dataclass(frozen=True)
class Verdict:
    #: One line per application that cannot serve, saying why; empty when the region can serve them all.
    unable: tuple[str, ...]

    @property
    def healthy(self) -> bool:
        return not self.unable

    def body(self) -> dict[str, Any]:
        return {"healthy": self.healthy, "unable": list(self.unable)}


def verdict(details: dict[str, Any]) -> Verdict:
    apps = [a for a in parse_status(details) if a.name != REGION_HEALTH_APP and a.status not in _LEAVING]
    return Verdict(tuple(_why_not(app) for app in apps if not app.can_serve))


def _why_not(app: AppState) -> str:
    if not app.deployments:
        return f"{app.name}: no deployment yet ({app.status})"
    broken = [f"{d.name} has no running replica ({d.status})" for d in app.deployments if not d.can_serve]
    return f"{app.name}: " + "; ".join(broken)
