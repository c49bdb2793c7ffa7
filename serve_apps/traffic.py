"""Each Serve application's traffic, from the replicas' own metrics: requests, errors, requests/s, p50/p99.

    before = scrape(targets)                      # samples of every node's metrics endpoint
    ...                                           # traffic flows
    after = scrape(targets)
    traffic = app_traffic(apps, ingress, after, before, window_s=10.0)
    traffic[0].requests_per_second, traffic[0].since_start.p99_ms

The counts are the replica-side Serve metrics, which exist whichever ingress
fronts the replicas (Serve's Python proxy or HAProxy with direct ingress), as
Ray 2.60 defines them in `ray/serve/_private/replica.py`:

    serve_deployment_request_counter        counter, tags route (+ deployment, replica, application):
                                            requests that succeeded (`record_request_metrics`)
    serve_deployment_error_counter          counter, tags route, exception_type: requests that raised
    serve_deployment_processing_latency_ms  histogram, ms, buckets REQUEST_LATENCY_BUCKETS_MS: both

A request that raised is counted by the error counter only, so the requests
an application answered are the two counters together.

Ray's Prometheus export prefixes them with `ray_` and gives counters `_total`.
An application's traffic is its ingress deployment's (the one its route reaches;
the others are called by it, and counting them too would count a request twice).
Ray's processes report their metrics every `metrics_report_interval_ms` (10 s
by default), so a rate needs a window of at least that: shorter windows read
as 0 or as a burst.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from serve_apps.prometheus import Sample, histogram_quantile
from serve_apps.status import AppState

REQUESTS_METRIC = "ray_serve_deployment_request_counter_total"
ERRORS_METRIC = "ray_serve_deployment_error_counter_total"
LATENCY_BUCKETS_METRIC = "ray_serve_deployment_processing_latency_ms_bucket"
#: The window a rate needs: Ray's default `metrics_report_interval_ms`, in seconds.
REPORT_INTERVAL_S = 10.0


@dataclass(frozen=True)
class Counters:
    """An application's ingress counters at one scrape, summed over its replicas (cumulative)."""

    succeeded: float = 0.0
    errors: float = 0.0
    #: (bucket upper bound in ms, cumulative count), the +Inf bucket last.
    latency_buckets: tuple[tuple[float, float], ...] = ()

    @property
    def requests(self) -> float:
        return self.succeeded + self.errors

    def since(self, earlier: Counters) -> Counters:
        """What was counted after `earlier`; a counter that went down (a replica restarted) counts from zero."""
        if self.succeeded < earlier.succeeded or self.errors < earlier.errors:
            return self
        before = dict(earlier.latency_buckets)
        return Counters(
            self.succeeded - earlier.succeeded,
            self.errors - earlier.errors,
            tuple((le, count - before.get(le, 0.0)) for le, count in self.latency_buckets),
        )


@dataclass(frozen=True)
class Latency:
    """What a set of requests looked like: how many, how many raised, and their p50/p99 (None without requests)."""

    requests: int
    errors: int
    p50_ms: float | None
    p99_ms: float | None

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    @classmethod
    def of(cls, counters: Counters) -> Latency:
        return cls(
            round(counters.requests), round(counters.errors),
            histogram_quantile(0.5, counters.latency_buckets), histogram_quantile(0.99, counters.latency_buckets),
        )

    def to_json(self) -> dict[str, Any]:
        return {"requests": self.requests, "errors": self.errors, "errorRate": self.error_rate,
                "p50Ms": self.p50_ms, "p99Ms": self.p99_ms}


@dataclass(frozen=True)
class AppTraffic:
    """One application: Serve's view of it (status, replicas) and what its ingress replicas counted."""

    app: AppState
    ingress: str | None
    #: Everything counted since the ingress replicas started.
    since_start: Latency
    #: What was counted during the window; None when there was no window (one scrape).
    window: Latency | None
    window_s: float | None

    @property
    def requests_per_second(self) -> float | None:
        if self.window is None or not self.window_s:
            return None
        return self.window.requests / self.window_s

    def to_json(self) -> dict[str, Any]:
        running = sum(d.running for d in self.app.deployments)
        target = sum(d.target for d in self.app.deployments)
        return {
            "name": self.app.name, "status": self.app.status, "ingressDeployment": self.ingress,
            "replicas": {"running": running, "target": target},
            "requestsPerSecond": self.requests_per_second, "windowSeconds": self.window_s,
            "sinceStart": self.since_start.to_json(),
            "window": self.window.to_json() if self.window is not None else None,
        }


def ingress_deployments(details: dict[str, Any]) -> dict[str, str | None]:
    """Application -> its ingress deployment, from `GET /api/serve/applications/` (Serve's deployment topology;
    an application of one deployment is its own ingress)."""
    found: dict[str, str | None] = {}
    for name, app in (details.get("applications") or {}).items():
        topology = app.get("deployment_topology") or {}
        deployments = list(app.get("deployments") or {})
        found[name] = topology.get("ingress_deployment") or (deployments[0] if len(deployments) == 1 else None)
    return found


def ingress_counters(samples: Iterable[Sample], app: str, deployment: str | None) -> Counters:
    """The counters of `app`'s `deployment`, summed over its replicas and routes."""
    succeeded = errors = 0.0
    buckets: dict[float, float] = {}
    for sample in samples:
        labels = sample.labels
        if labels.get("application") != app or labels.get("deployment") != deployment:
            continue
        if sample.name == REQUESTS_METRIC:
            succeeded += sample.value
        elif sample.name == ERRORS_METRIC:
            errors += sample.value
        elif sample.name == LATENCY_BUCKETS_METRIC and "le" in labels:
            le = float(labels["le"])
            buckets[le] = buckets.get(le, 0.0) + sample.value
    return Counters(succeeded, errors, tuple(sorted(buckets.items())))


def app_traffic(
    apps: list[AppState],
    ingress: dict[str, str | None],
    now: list[Sample],
    earlier: list[Sample] | None = None,
    window_s: float | None = None,
) -> list[AppTraffic]:
    """Per application, its counts since start (from `now`) and during the window (`now` minus `earlier`)."""
    result = []
    for app in apps:
        deployment = ingress.get(app.name)
        current = ingress_counters(now, app.name, deployment)
        window = None
        if earlier is not None:
            window = Latency.of(current.since(ingress_counters(earlier, app.name, deployment)))
        result.append(AppTraffic(app, deployment, Latency.of(current), window, window_s if earlier is not None else None))
    return result
