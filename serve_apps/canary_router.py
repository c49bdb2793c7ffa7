"""The canary router: an application's ingress while its new version runs beside the current one.

    {"name": "digits", "route_prefix": "/digits", "import_path": "serve_apps.canary_router:app",
     "args": {"stable": "_digits-stable", "canary": "_digits-canary", "deployment": "Digits"},
     "deployments": [{"name": "Digits", "user_config": {"percent": 10}}]}

Ray 2.60's Serve has no weighted routing between applications or versions: a
route belongs to one application (`route_prefix` is unique), its requests go
to that application's ingress deployment, and Serve's request router picks a
replica of one deployment (power of two choices), never by weight. So
rayfleet puts this deployment at the route: it takes the HTTP request, reads
its body, and forwards a copy to the current or the new version's ingress
through their DeploymentHandles, the new one with probability `percent`/100.
The share changes through `user_config` (Serve calls `reconfigure` on the
running replicas: no restart). It carries the ingress deployment's name, so
that Serve swaps it for the application's own ingress by a rolling update,
which loses no request, in both directions.

The copy is a starlette `Request` holding the scope's plain fields and the
body already read: it pickles with starlette alone, so any ingress that takes a
`Request` (`async def __call__(self, request)`) reads it as it would from
Serve's proxy, and its answer (a Response, or what it returns) comes back as
the router's answer. Streaming answers and FastAPI (`@serve.ingress`) ingresses,
which take ASGI messages rather than a request, are not forwarded.
"""

from __future__ import annotations

import random
from typing import Any

from ray import serve
from starlette.requests import Request

#: The scope fields a forwarded request keeps: plain data only (the rest holds servers and sockets).
_SCOPE_KEYS = ("type", "asgi", "http_version", "method", "scheme", "path", "raw_path", "root_path",
               "query_string", "headers", "client", "server")


def forwarded(request: Request, body: bytes) -> Request:
    """A copy of `request` that pickles: its plain scope, and its body already read (starlette's cache)."""
    scope = {key: request.scope[key] for key in _SCOPE_KEYS if key in request.scope}
    scope["headers"] = [(bytes(k), bytes(v)) for k, v in scope.get("headers", [])]
    copy = Request(scope)
    copy._body = body  # starlette's Request.body() and .json() answer from this, receiving nothing
    return copy


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256)
class CanaryRouter:
    def __init__(self, stable: str, canary: str):
        self._stable = serve.get_app_handle(stable)
        self._canary = serve.get_app_handle(canary)
        self._percent = 0.0

    def reconfigure(self, config: dict[str, Any]) -> None:
        self._percent = float(config.get("percent", 0))

    async def __call__(self, request: Request):
        body = await request.body()
        handle = self._canary if random.random() * 100 < self._percent else self._stable
        return await handle.remote(forwarded(request, body))


def app(args: dict) -> serve.Application:
    """`stable` and `canary`: the applications to forward to; `deployment`: the name to serve under."""
    return CanaryRouter.options(name=args["deployment"]).bind(args["stable"], args["canary"])
