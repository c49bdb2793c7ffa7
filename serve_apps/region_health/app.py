"""The region-health deployment: 200 while this region can serve every configured application, else 503.

    curl -s localhost:8000/-/region-health
    {"healthy": false, "unable": ["digits: Digits has no running replica (UNHEALTHY)"]}

The renderer adds it to every Serve config at `REGION_HEALTH_ROUTE`, and Route 53
checks that route through each region's load balancer. Serve's own `/-/healthz`
cannot say this: a proxy answers 200 there while routes exist, even when no
replica of any application runs. The verdict reads Serve's status from the
controller the way the dashboard does, at most once per `REGION_HEALTH_REFRESH_SECONDS`, so that
health checks from every Route 53 checker stay cheap for the controller.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

from ray import serve
from starlette.requests import Request
from starlette.responses import JSONResponse

from components.contract import REGION_HEALTH_REFRESH_SECONDS
from serve_apps.handling import JSON_LOGS, logger
from serve_apps.region_health.verdict import Verdict, verdict



async def serve_details() -> dict[str, Any]:
    """Serve's instance details from its controller, as the JSON `GET /api/serve/applications/` returns."""
    import ray
    from ray.serve._private.constants import SERVE_CONTROLLER_NAME, SERVE_NAMESPACE

    controller = ray.get_actor(SERVE_CONTROLLER_NAME, namespace=SERVE_NAMESPACE)
    details = await controller.get_serve_instance_details.remote()
    # Statuses are str enums here; the dashboard's JSON (what parse_status reads) has their values.
    return json.loads(json.dumps(details, default=str))


@serve.deployment(logging_config=JSON_LOGS)
class RegionHealth:
    def __init__(self) -> None:
        self._verdict: Verdict | None = None
        self._at = float("-inf")
        self._lock = asyncio.Lock()

    async def check(self) -> Verdict:
        async with self._lock:  # one controller call per refresh, however many checks arrive at once
            if time.monotonic() - self._at >= REGION_HEALTH_REFRESH_SECONDS:
                fresh = verdict(await serve_details())
                if self._verdict is None or fresh.unable != self._verdict.unable:
                    logger.info("region health", extra={"healthy": fresh.healthy, "unable": list(fresh.unable)})
                self._verdict, self._at = fresh, time.monotonic()
            assert self._verdict is not None
            return self._verdict

    async def __call__(self, request: Request) -> JSONResponse:
        answer = await self.check()
        return JSONResponse(answer.body(), status_code=200 if answer.healthy else 503)


app = RegionHealth.bind()
