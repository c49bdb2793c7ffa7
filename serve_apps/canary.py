"""Canary deploys: a new version of a running application beside the current one, promoted step by step or rolled back.

    report = run_canary(dashboard, rendered.config, "digits", CanaryPolicy.from_options(10, "10,50,100", 30),
                        history=history, metrics=local_metrics(state), on_event=print)
    report.outcome                       # 'promoted' or 'rolled back'

The same REST deployer as `serve deploy` (PUTs to the dashboard), in phases:

1. beside: the current version is copied as `_<app>-stable` and the new one
   runs as `_<app>-canary`, neither on a route (the application keeps serving);
2. routed: the application's ingress deployment becomes the canary router
   (serve_apps/canary_router.py), by a rolling update under the same name:
   it forwards each request to one of the two by weight, at first all of
   them to the current version;
3. each step sets the new version's share (`user_config`: no restart), waits
   `watch_s` reading what the router counted of each version (the client's
   view: raised, dead replica, or status >= 500 is an error; read from Ray's
   metrics as `status --local` does) and asks serve_apps/canary_plan.py's `judge`;
4. promoted: the application becomes the new version (a rolling update from
   the router, which keeps forwarding until it is replaced), then the two
   copies go; rolled back: the share goes to 0 at once, then the application
   becomes the current version again the same way.

Every PUT waits until every application is healthy. The history records the
new config as `running` when promoted, `failed` when rolled back (so that
`serve rollback` skips it).
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from components.contract import METRICS_EXPORT_PORT, REGION_HEALTH_APP
from components.errors import RayfleetError
from serve_apps.canary_plan import (
    CURRENT, ERROR, NEW, OUTCOME_TAG, ROUTER_LATENCY_METRIC, ROUTER_REQUESTS_METRIC, ROUTER_SHARE_METRIC, VERSION_TAG,
    CanaryPolicy, Stretch, Verdict, judge, next_baseline, stretches,
)
from serve_apps.dashboard import Dashboard
from serve_apps.deployer import DEFAULT_TIMEOUT_S, removed_apps, wait_until_healthy
from serve_apps.history import History
from serve_apps.prometheus import Sample
from serve_apps.render import MAX_SURGE_PERCENT, validate_serve_config
from serve_apps.traffic import Counters, Latency, ingress_deployments

ROUTER_IMPORT_PATH = "serve_apps.canary_router:app"
#: How often a step re-reads the metrics; Ray reports them every 10 s, so faster would add nothing.
POLL_S = 2.0

Metrics = Callable[[], list[Sample]]


def stable_name(app: str) -> str:
    return f"_{app}-stable"


def canary_name(app: str) -> str:
    return f"_{app}-canary"


@dataclass(frozen=True)
class StepReport:
    percent: int
    seconds: float
    stable: Latency
    canary: Latency
    verdict: Verdict
    #: The step cut into stretches of at least `p99_min_requests` of the new version's (how the p99 was judged).
    parts: tuple[Stretch, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {"percent": self.percent, "seconds": round(self.seconds, 1), "current": self.stable.to_json(),
                "new": self.canary.to_json(), "decision": self.verdict.action, "reason": self.verdict.reason,
                "stretches": [{"current": p.stable.to_json(), "new": p.canary.to_json()} for p in self.parts]}


@dataclass
class CanaryReport:
    app: str
    outcome: str = "rolled back"
    steps: list[StepReport] = field(default_factory=list)
    seconds: float = 0.0
    #: From the first step's start to the new version's share set to 0 (None when promoted).
    seconds_to_rollback: float | None = None
    record: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {"application": self.app, "outcome": self.outcome, "seconds": round(self.seconds, 1),
                "secondsToRollback": None if self.seconds_to_rollback is None else round(self.seconds_to_rollback, 1),
                "record": self.record, "steps": [s.to_json() for s in self.steps]}


# --- the configs of each phase (pure) ---------------------------------------------------------------


def running_entry(details: dict[str, Any], app: str) -> tuple[dict[str, Any], str]:
    """The running application's own config entry and its ingress deployment; one clear error when it is not running."""
    found = (details.get("applications") or {}).get(app)
    running = sorted(name for name in (details.get("applications") or {}) if not name.startswith("_"))
    if found is None or found.get("status") != "RUNNING" or not found.get("deployed_app_config"):
        state = "not deployed" if found is None else f"{found.get('status')}"
        raise RayfleetError(
            f"--canary: application '{app}' is {state} on this cluster (running: {', '.join(running) or 'none'}); "
            "a canary needs the current version RUNNING. Fix: deploy it first with 'rayfleet serve deploy' "
            "(without --canary), or name a running application with --app"
        )
    ingress = ingress_deployments(details).get(app)
    if ingress is None:
        raise RayfleetError(f"--canary: cannot tell which deployment of '{app}' is its ingress. "
                            "Fix: deploy the new version without --canary")
    entry = {k: v for k, v in found["deployed_app_config"].items() if v is not None}
    refuse_unforwardable(app, found, entry)
    return entry, ingress


def refuse_unforwardable(app: str, found: dict[str, Any], entry: dict[str, Any]) -> None:
    """One clear error, before anything is deployed, for an application the canary router cannot stand in for."""
    problem = None
    if entry.get("import_path") == ROUTER_IMPORT_PATH:
        problem = (f"its ingress is already the canary router (an earlier canary was interrupted). Fix: put one version "
                   f"back with 'rayfleet serve rollback' (the last running config) or 'rayfleet serve deploy --yes' "
                   f"without --canary (the new one); either also removes {stable_name(app)} and {canary_name(app)}")
    elif not found.get("route_prefix"):
        problem = ("it has no route, so no traffic reaches it to move. Fix: deploy the new version without --canary "
                   "(its callers' handles reach it directly)")
    elif found.get("docs_path"):
        problem = (f"its ingress is a FastAPI app (docs at {found['docs_path']}), which takes ASGI messages, and the "
                   "router forwards a request. Fix: deploy the new version without --canary")
    elif len(found.get("deployments") or {}) > 1:
        problem = (f"it has {len(found['deployments'])} deployments ({', '.join(sorted(found['deployments']))}), and "
                   "Serve deletes all but the ingress in the same update that swaps the router in, while requests "
                   "still reach them. Fix: deploy the new version without --canary")
    if problem:
        raise RayfleetError(f"--canary cannot ship '{app}': {problem}")


def changed_application(details: dict[str, Any], config: dict[str, Any]) -> str:
    """The one application of `config` whose entry differs from what runs; an error naming them otherwise."""
    changed = differing(details, config)
    if len(changed) != 1:
        raise RayfleetError(
            f"--canary ships one application at a time; {len(changed)} differ from what runs "
            f"({', '.join(changed) or 'none'}). Fix: name one with --app NAME"
        )
    return changed[0]


def differing(details: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The applications of `config` (rayfleet's own `_` ones aside) whose entry differs from what runs, or that do not run."""
    running = details.get("applications") or {}
    return [a["name"] for a in config["applications"] if not a["name"].startswith("_")
            and a != _comparable(running.get(a["name"], {}).get("deployed_app_config"), a)]


def _comparable(running: dict[str, Any] | None, entry: dict[str, Any]) -> dict[str, Any] | None:
    """The running config restricted to the keys the rendered entry sets (Serve adds its defaults)."""
    if running is None:
        return None
    return {k: running.get(k) for k in entry}


def hidden(entry: dict[str, Any], name: str, reserve: bool = True) -> dict[str, Any]:
    """`entry` as another application with no route: it serves only through the router's handles.

    Without `reserve` its replicas reserve no CPU or GPU: on a machine whose cores the current version's
    replicas already fill (the local cluster reserves all of them), the copies would otherwise wait forever.
    """
    out = copy.deepcopy(entry)
    out["name"] = name
    out["route_prefix"] = None
    if not reserve:
        for deployment in out.get("deployments", []):
            deployment.setdefault("ray_actor_options", {}).update(num_cpus=0, num_gpus=0)
    return out


def surging(entry: dict[str, Any], ingress: str) -> dict[str, Any]:
    """`entry` whose deployments replace replicas by starting the new ones first (Serve's `max_surge_percent`).

    Serve's default (0) stops a replica before its replacement starts: with one replica, the route has
    none until the new one is up, and requests wait for its start (seconds) instead of failing.
    """
    out = copy.deepcopy(entry)
    deployments = out.setdefault("deployments", [])
    if not any(d.get("name") == ingress for d in deployments):
        deployments.append({"name": ingress})
    for deployment in deployments:
        deployment["max_surge_percent"] = MAX_SURGE_PERCENT
    return out


def router_entry(old: dict[str, Any], ingress: str, percent: int, runtime_env: dict[str, Any] | None) -> dict[str, Any]:
    """The application at its route, served by the canary router under the ingress deployment's name, scaled as the
    ingress was (its autoscaling_config or num_replicas: the router takes all of the route's traffic)."""
    current = next((d for d in old.get("deployments", []) if d.get("name") == ingress), {})
    deployment = {"name": ingress, "user_config": {"percent": percent}, "max_surge_percent": MAX_SURGE_PERCENT}
    if current.get("autoscaling_config") is not None:
        deployment["autoscaling_config"] = copy.deepcopy(current["autoscaling_config"])
    else:
        replicas = current.get("num_replicas")
        deployment["num_replicas"] = replicas if isinstance(replicas, int) else 1
    entry = {"name": old["name"], "route_prefix": old.get("route_prefix", f"/{old['name']}"),
             "import_path": ROUTER_IMPORT_PATH,
             "args": {"stable": stable_name(old["name"]), "canary": canary_name(old["name"]), "deployment": ingress},
             "deployments": [deployment]}
    if runtime_env:
        entry["runtime_env"] = runtime_env
    return entry


def with_apps(config: dict[str, Any], app: str, entries: list[dict[str, Any]]) -> dict[str, Any]:
    """`config` with `app`'s entry replaced by `entries` (the other applications as they are)."""
    out = copy.deepcopy(config)
    out["applications"] = [a for a in config["applications"] if a["name"] != app] + copy.deepcopy(entries)
    return out


def region_health_env(config: dict[str, Any]) -> dict[str, Any] | None:
    """rayfleet's own code on this target: the runtime env of its region-health app (in every config it renders)."""
    return next((a.get("runtime_env") for a in config["applications"] if a["name"] == REGION_HEALTH_APP), None)


# --- metrics ------------------------------------------------------------------------------------------


def router_counters(samples: list[Sample], app: str, version: str) -> Counters:
    """What `app`'s canary router counted of one version (CURRENT or NEW), summed over its replicas."""
    ok = errors = 0.0
    buckets: dict[float, float] = {}
    for sample in samples:
        labels = sample.labels
        if labels.get("application") != app or labels.get(VERSION_TAG) != version:
            continue
        if sample.name == f"ray_{ROUTER_REQUESTS_METRIC}_total":
            if labels.get(OUTCOME_TAG) == ERROR:
                errors += sample.value
            else:
                ok += sample.value
        elif sample.name == f"ray_{ROUTER_LATENCY_METRIC}_bucket" and "le" in labels:
            le = float(labels["le"])
            buckets[le] = buckets.get(le, 0.0) + sample.value
    return Counters(ok, errors, tuple(sorted(buckets.items())))


def router_reports(samples: list[Sample], app: str) -> bool:
    """Whether any of `app`'s canary router's metrics are among `samples`. Its request counter, once a request
    came, stays; its share gauge, set when the share changes, ages out of Ray's export two report intervals later
    (Ray 2.60's OpenTelemetry recorder keeps a gauge value not set again for 2 x metrics_report_interval_ms)."""
    names = {f"ray_{ROUTER_SHARE_METRIC}", f"ray_{ROUTER_REQUESTS_METRIC}_total"}
    return any(s.name in names and s.labels.get("application") == app for s in samples)


def local_metrics(state) -> Metrics:
    """Every node's metrics of the `rayfleet local up` cluster, from Ray's Prometheus discovery file."""
    from serve_apps.local_status import metrics_targets, scrape

    return lambda: scrape(metrics_targets(state.temp_dir))[0]


def node_metrics(dashboard: Dashboard) -> Metrics:
    """Every alive node's metrics endpoint (METRICS_EXPORT_PORT): for a CLI that reaches the nodes' addresses."""
    from serve_apps.local_status import scrape

    def read() -> list[Sample]:
        nodes = [n for n in dashboard.get_nodes() if n.get("state") == "ALIVE" and n.get("node_ip")]
        samples, unreachable = scrape([f"{n['node_ip']}:{METRICS_EXPORT_PORT}" for n in nodes])
        if unreachable and not samples:
            raise RayfleetError(
                f"--canary cannot read Serve's metrics: {'; '.join(unreachable)}. Fix: run it where the nodes' "
                f"metrics port {METRICS_EXPORT_PORT} is reachable (inside the VPC), or deploy without --canary"
            )
        return samples

    return read


# --- the run --------------------------------------------------------------------------------------------


@dataclass
class Canary:
    dashboard: Dashboard
    config: dict[str, Any]
    app: str
    policy: CanaryPolicy
    history: History
    metrics: Metrics
    on_event: Callable[[str], None] = lambda message: None
    #: Whether the two copies reserve their CPUs and GPUs (False on the local cluster, whose cores are all reserved).
    reserve: bool = True
    timeout_s: float = DEFAULT_TIMEOUT_S
    poll_s: float = POLL_S
    #: Between reads of Serve's status while a PUT settles.
    settle_poll_s: float = 1.0
    clock: Callable[[], float] = time.monotonic
    sleep: Callable[[float], None] = time.sleep

    def run(self) -> CanaryReport:
        started = self.clock()
        validate_serve_config(self.config)
        details = self.dashboard.get_applications()
        self.old, self.ingress = running_entry(details, self.app)
        self.new = next((a for a in self.config["applications"] if a["name"] == self.app), None)
        self._refuse_before_deploying(details)
        report = CanaryReport(self.app)
        try:
            self._put("starting the new version beside the current one", [self.old, *self._copies()])
            # At 0 %: while Serve swaps the router in (tens of seconds), traffic no step judges must not reach the new version.
            self._put(f"routing {self.app}'s traffic through the canary router (all of it to the current version)",
                      self._routed(0))
            promoted = self._steps(report)
            # Inside the try: an interrupt or timeout while the router goes still puts a version back and is recorded.
            self._finish(report, self.new if promoted else self.old, "promoted" if promoted else "rolled back")
        except (RayfleetError, KeyboardInterrupt) as err:
            self._restore(err)
            self.history.record(self.config, "failed", self.dashboard.address, f"canary of {self.app} stopped: {_said(err)}")
            raise
        report.record = self.history.record(self.config, "running" if promoted else "failed", self.dashboard.address,
                                            f"canary of {self.app} {report.outcome}").seq
        report.seconds = self.clock() - started
        return report

    def _refuse_before_deploying(self, details: dict[str, Any]) -> None:
        """Every check that needs no PUT, so that a canary which cannot run or judge deploys nothing."""
        if self.new is None:
            raise RayfleetError(f"--app {self.app}: the config has no such application "
                                f"(it has {', '.join(a['name'] for a in self.config['applications'])}). Fix: name one of those")
        others = [name for name in differing(details, self.config) if name != self.app]
        if others:
            raise RayfleetError(
                f"--app {self.app}: the config also changes {', '.join(others)}, which every PUT of the canary would "
                f"deploy at once, judged by nothing. Fix: deploy those changes first (without --canary), or ship "
                f"them one at a time with --canary --app NAME from a config that changes only that one"
            )
        removing = [n for n in removed_apps(details, self.config) if n not in (stable_name(self.app), canary_name(self.app))]
        if removing:
            raise RayfleetError(f"--canary: the new config would also remove {', '.join(removing)}. "
                                "Fix: deploy that change without --canary first")
        if not self.metrics():  # read once before anything is deployed: a canary that cannot judge must not start
            raise RayfleetError(
                "--canary read no metrics from this cluster, so no step could be judged. Fix: check that Ray exports "
                f"metrics (each node's port {METRICS_EXPORT_PORT}, or 'rayfleet local up' for the local cluster), "
                "or deploy without --canary"
            )

    def _copies(self) -> list[dict[str, Any]]:
        return [hidden(self.old, stable_name(self.app), self.reserve), hidden(self.new, canary_name(self.app), self.reserve)]

    def _routed(self, percent: int) -> list[dict[str, Any]]:
        return [router_entry(self.old, self.ingress, percent, region_health_env(self.config)), *self._copies()]

    def _restore(self, err: BaseException) -> None:
        """After a failure: the current version back at its route, then the copies gone, in two PUTs (in one, Serve
        would delete the copies while the router, until replaced, still forwards to them). A failure of this too is
        reported beside the first one, which stays the error."""
        self.on_event(f"failed ({_said(err)}); putting the current version of {self.app} back")
        entry = surging(self.old, self.ingress)
        try:
            self.on_event(f"{self.app} serves its current version directly")
            self.dashboard.put_applications(with_apps(self.config, self.app, [entry, *self._copies()]))
            self._wait_running(self.app)
            self._put(f"removing {stable_name(self.app)} and {canary_name(self.app)}", [entry])
        except (RayfleetError, KeyboardInterrupt) as again:
            self.on_event(f"restoring failed too: {_said(again)}. Fix: 'rayfleet serve rollback'")
            return
        self.on_event(f"restored: {self.app} serves its current version; {stable_name(self.app)} and "
                      f"{canary_name(self.app)} are gone")

    def _wait_running(self, app: str) -> None:
        """Until `app` is RUNNING the current version's code (the copies beside it may never become healthy)."""
        deadline = self.clock() + self.timeout_s
        while True:
            found = (self.dashboard.get_applications().get("applications") or {}).get(app) or {}
            running = (found.get("deployed_app_config") or {}).get("import_path")
            if found.get("status") == "RUNNING" and running == self.old.get("import_path"):
                return
            if self.clock() >= deadline:
                raise RayfleetError(f"timed out after {self.timeout_s:g} s waiting for {app} to run its current "
                                    f"version (it is {found.get('status', 'gone')})")
            self.sleep(self.settle_poll_s)

    def _put(self, what: str, entries: list[dict[str, Any]]) -> None:
        self.on_event(what)
        config = with_apps(self.config, self.app, entries)
        self.dashboard.put_applications(config)
        wait_until_healthy(self.dashboard, [a["name"] for a in config["applications"]],
                           timeout_s=self.timeout_s, poll_s=self.settle_poll_s)

    def _steps(self, report: CanaryReport) -> bool:
        baseline: Latency | None = None
        first = self.clock()
        for index, percent in enumerate(self.policy.steps):
            # Counted from before the share changes: requests the new version answers while the change settles count.
            begin = self.metrics()
            self._put(f"setting the new version's share to {percent}%", self._routed(percent))
            step = self._watch(percent, baseline, index, begin)
            report.steps.append(step)
            self.on_event(f"step {index + 1}/{len(self.policy.steps)} ({percent}%): {step.verdict.action}: {step.verdict.reason}")
            if step.verdict.action == "rollback":
                self._put(f"rolling back: no traffic to the new version of {self.app}", self._routed(0))
                report.seconds_to_rollback = self.clock() - first
                return False
            baseline = next_baseline(baseline, step.stable, self.policy)
        return True

    def _watch(self, percent: int, baseline: Latency | None, index: int, begin: list[Sample]) -> StepReport:
        """Watch one step until its window ends or a failure is clear; the step's counts (since `begin`) and verdict."""
        self.on_event(f"step {index + 1}/{len(self.policy.steps)}: {percent}% of traffic to the new version, "
                      f"watching {self.policy.watch_s:g} s")
        start, extended, reads = self.clock(), False, []
        while True:
            self.sleep(self.poll_s)
            now, elapsed = self.metrics(), self.clock() - start
            reads.append(tuple(self._since(begin, now, version) for version in (CURRENT, NEW)))
            stable, canary = (Latency.of(counters) for counters in reads[-1])
            parts = tuple(stretches(reads, self.policy))
            final = elapsed >= self.policy.watch_s
            can_extend = elapsed < self.policy.watch_s * self.policy.max_windows
            if final and not router_reports(now, self.app):
                raise RayfleetError(
                    f"--canary: no metrics of {self.app}'s canary router after {elapsed:.0f} s (no request reached it, "
                    "or Ray does not export its metrics), so neither version can be judged. Fix: run the canary while "
                    f"{self.app} takes traffic, check that Ray exports metrics (metrics_export_port) and that the "
                    "router's replicas run ('rayfleet serve status'), or deploy without --canary"
                )
            verdict = judge(next_baseline(baseline, stable, self.policy), canary, self.policy, final=final,
                            can_extend=can_extend, parts=parts, previous=baseline)
            if verdict.action != "wait":
                return StepReport(percent, elapsed, stable, canary, verdict, parts)
            if final and not extended:
                extended = True
                self.on_event(f"step {index + 1}/{len(self.policy.steps)}: {verdict.reason} (up to "
                              f"{self.policy.watch_s * self.policy.max_windows:g} s in all)")

    def _since(self, begin: list[Sample], now: list[Sample], version: str) -> Counters:
        return router_counters(now, self.app, version).since(router_counters(begin, self.app, version))

    def _finish(self, report: CanaryReport, entry: dict[str, Any], outcome: str) -> None:
        report.outcome = outcome
        which = "new" if entry is self.new else "current"
        entry = surging(entry, self.ingress)
        self._put(f"{outcome}: {self.app} serves its {which} version directly", [entry, *self._copies()])
        self._put(f"removing {stable_name(self.app)} and {canary_name(self.app)}", [entry])


def _said(err: BaseException) -> str:
    """An error's message, or its kind when it has none (Ctrl-C's KeyboardInterrupt)."""
    return str(err) or type(err).__name__


def run_canary(dashboard: Dashboard, config: dict[str, Any], app: str, policy: CanaryPolicy, **kwargs) -> CanaryReport:
    return Canary(dashboard, config, app, policy, **kwargs).run()
