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

It counts what the client sees of each version (canary_plan's ROUTER_* metrics,
tagged `version`): a request whose forwarding raised (the version's replica
died: RayActorError) or whose answer has a status of 500 or more is an error,
and its latency is the forwarding's. Serve's own replica counters miss both: a
`Response(status_code=500)` returned is a success to them, and a dead replica
counts nothing. A multiplexed model id (Serve's `serve_multiplexed_model_id`
header) is passed on to the version's handle.

What the hop costs is Serve's own work mostly (the router replica's HTTP
request, the handle call, the version replica's request); what is ours is kept
small, each cut measured with py-spy on the router's replica at 30 req/s:
the model id is read from the scope's raw headers (starlette's `headers`
builds a Headers object per request), the copy crosses with `pickle` rather
than cloudpickle (it holds starlette classes and plain data only), the request
counter is added up in memory and passed to Ray once a second (Ray exports
every 10 s, so the judge sees the same counts; the histogram still takes
every request, as the p99 needs them), and the router writes no access log
(the version's replica logs the same request). Both handles are initialised in
the constructor, so that the first request of the new version does not wait
for its handle to learn of the replicas.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter as Tally
from typing import Any

from ray import serve
from ray.serve.metrics import Counter, Gauge, Histogram
from starlette.requests import Request

from serve_apps.canary_plan import (
    CURRENT, ERROR, NEW, OK, OUTCOME_TAG, ROUTER_LATENCY_METRIC, ROUTER_REQUESTS_METRIC, ROUTER_SHARE_METRIC, VERSION_TAG,
)

#: The scope fields a forwarded request keeps: plain data only (the rest holds servers and sockets).
_SCOPE_KEYS = ("type", "asgi", "http_version", "method", "scheme", "path", "raw_path", "root_path",
               "query_string", "headers", "client", "server")
#: Serve's default request latency buckets (ms), so that both versions' p99 read as Serve's own would.
LATENCY_BUCKETS_MS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 60000, 120000, 300000, 600000]
#: The header Serve's proxy reads a multiplexed model id from.
MULTIPLEXED_HEADER = "serve_multiplexed_model_id"
_MULTIPLEXED_KEY = MULTIPLEXED_HEADER.encode("latin-1")
#: How often the request counts go to Ray: well inside its 10 s report interval, so no report misses them.
COUNTS_FLUSH_S = 1.0
#: How the copy of the request crosses to the version's replica (Serve's handle option; its default is cloudpickle).
#: Serve applies it on its gRPC path only, which the HAProxy ingress turns on (RAY_SERVE_THROUGHPUT_OPTIMIZED).
REQUEST_SERIALIZATION = "pickle"
#: The router's own log: no access log (the version's replica writes one for the same request), warnings and up.
ROUTER_LOGGING = {"enable_access_log": False, "log_level": "WARNING", "encoding": "JSON"}


def outcome(answer: Any) -> str:
    """ERROR for an answer whose HTTP status is 500 or more (a Response the version returned), else OK."""
    status = getattr(answer, "status_code", None)
    return ERROR if isinstance(status, int) and status >= 500 else OK


def model_id(scope: dict[str, Any]) -> str | None:
    """The multiplexed model id the request's headers name, read from the raw ASGI headers (names are lower case)."""
    for key, value in scope.get("headers", ()):
        if key == _MULTIPLEXED_KEY:
            return bytes(value).decode("latin-1") or None
    return None


def with_model_id(handle, request: Request):
    """`handle`, passing on the request's multiplexed model id when it names one."""
    named = model_id(request.scope)
    return handle.options(multiplexed_model_id=named) if named else handle


def forwarded(request: Request, body: bytes) -> Request:
    """A copy of `request` that pickles: its plain scope, and its body already read (starlette's cache)."""
    scope = {key: request.scope[key] for key in _SCOPE_KEYS if key in request.scope}
    scope["headers"] = [(bytes(k), bytes(v)) for k, v in scope.get("headers", [])]
    copy = Request(scope)
    copy._body = body  # starlette's Request.body() and .json() answer from this, receiving nothing
    return copy


class BatchedCounts:
    """Request counts added up in memory and passed to a Ray counter at most every `every_s` seconds.

    A Ray counter's `inc` costs a tag merge and a record per call; summed, it is one call per
    tag set per flush. Ray exports every 10 s, so a flush each second changes no reported count
    by more than one second's requests, and `flush` at any moment passes on what is pending.
    """

    def __init__(self, counter, every_s: float = COUNTS_FLUSH_S, clock=time.monotonic):
        self._counter, self._every_s, self._clock = counter, every_s, clock
        self._pending: Tally[tuple[str, str]] = Tally()
        self._flushed_at = clock()

    def add(self, version: str, result: str) -> None:
        self._pending[(version, result)] += 1
        if self._clock() - self._flushed_at >= self._every_s:
            self.flush()

    def flush(self) -> None:
        pending, self._pending = self._pending, Tally()
        self._flushed_at = self._clock()
        for (version, result), count in pending.items():
            self._counter.inc(count, tags={VERSION_TAG: version, OUTCOME_TAG: result})

    async def keep_flushing(self) -> None:
        """Flush every `every_s` seconds, so that the last requests before a quiet spell are counted too."""
        while True:
            await asyncio.sleep(self._every_s)
            if self._pending:
                self.flush()


@serve.deployment(ray_actor_options={"num_cpus": 0}, max_ongoing_requests=256, logging_config=ROUTER_LOGGING)
class CanaryRouter:
    def __init__(self, stable: str, canary: str):
        # `.options` initialises each handle now (Serve starts its replica list here, not at the first request).
        self._stable = serve.get_app_handle(stable).options(request_serialization=REQUEST_SERIALIZATION)
        self._canary = serve.get_app_handle(canary).options(request_serialization=REQUEST_SERIALIZATION)
        self._percent = 0.0
        self._requests = BatchedCounts(Counter(ROUTER_REQUESTS_METRIC, "Requests the canary router forwarded, by "
                                               "version and outcome", tag_keys=(VERSION_TAG, OUTCOME_TAG)))
        self._latency = Histogram(ROUTER_LATENCY_METRIC, "Forwarded requests' latency (ms), by version",
                                  boundaries=LATENCY_BUCKETS_MS, tag_keys=(VERSION_TAG,))
        self._version_tags = {version: {VERSION_TAG: version} for version in (CURRENT, NEW)}
        self._share = Gauge(ROUTER_SHARE_METRIC, "The new version's share of traffic (percent)")
        # The constructor runs on the replica's event loop (Serve awaits it there), so the flusher can start now.
        self._flusher = asyncio.get_running_loop().create_task(self._requests.keep_flushing())

    def reconfigure(self, config: dict[str, Any]) -> None:
        self._percent = float(config.get("percent", 0))
        self._share.set(self._percent)

    async def __call__(self, request: Request):
        body = await request.body()
        version = NEW if random.random() * 100 < self._percent else CURRENT
        handle = with_model_id(self._canary if version == NEW else self._stable, request)
        started, result = time.perf_counter(), ERROR
        try:
            answer = await handle.remote(forwarded(request, body))
            result = outcome(answer)
            return answer
        finally:
            self._latency.observe((time.perf_counter() - started) * 1000, tags=self._version_tags[version])
            self._requests.add(version, result)


def app(args: dict) -> serve.Application:
    """`stable` and `canary`: the applications to forward to; `deployment`: the name to serve under."""
    return CanaryRouter.options(name=args["deployment"]).bind(args["stable"], args["canary"])
