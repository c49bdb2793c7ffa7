"""The upgrade drill: ship new versions of a running application under steady load, and count what users saw.

    report = run_upgrade_drill(running_state(), load_environment("dev"), UpgradeOptions(app="digits"), print)
    [(v.variant, v.sent, v.failed) for v in report.variants]

On the cluster of `rayfleet local up`, with a paced load on loopback (one POST
of the application's smoke request every 1/`rate` s, bounded in count and
time), after `steady_s` of load to measure the steady p99:

- `good`: the same application with one new environment variable (a new code
  version, so new replicas, the same behaviour) through the canary: every
  step's requests, failures and p99 against the steady p99 (targets: 0 failed,
  at most 2x);
- `bad`: a version that fails every request (serve_apps/broken.py) through
  the canary: rolled back on its own; requests sent, failed (bound: the canary
  share x the watch window x the rate) and the seconds to rollback;
- `in-place`: the plain `serve deploy` of a new version (Serve's rolling
  update), for comparison: p50/p99 in the 30 s after the PUT.

The latencies are the client's (what a user sees), not Serve's.
"""

from __future__ import annotations

import asyncio
import copy
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from components.errors import RayfleetError
from serve_apps.canary import Canary, local_metrics, region_health_env, running_entry, with_apps
from serve_apps.canary_plan import CanaryPolicy
from serve_apps.deployer import deploy
from serve_apps.history import History
from serve_apps.local import LocalState
from stacks.config import EnvironmentConfig

VARIANTS = ("good", "bad", "in-place")
#: What marks a new version of the same code: a runtime-env variable (Serve's code version covers the runtime env).
VERSION_VARIABLE = "RAYFLEET_DRILL_VERSION"
IN_PLACE_WINDOW_S = 30.0
STEADY_SKIP_S = 3.0
#: The canary's events that begin a phase, and the phase's name in the report.
PHASES = (("starting the new version beside", "new version starts"), ("routing ", "router replaces ingress"),
          ("setting the new version's share", "share changes"), ("rolling back:", "share to 0"),
          ("promoted:", "new version replaces router"), ("rolled back:", "current version replaces router"),
          ("removing ", "copies removed"), ("deploying the new version in place", "rolling update"))


@dataclass(frozen=True)
class UpgradeOptions:
    app: str = "digits"
    rate: float = 30.0
    steady_s: float = 10.0
    watch_s: float = 20.0
    steps: tuple[int, ...] = (10, 50, 100)
    variants: tuple[str, ...] = ("good", "bad")
    max_requests: int = 50_000
    max_seconds: float = 900.0


@dataclass(frozen=True)
class Window:
    """The client's view of a stretch of the drill."""

    label: str
    sent: int
    failed: int
    p50_ms: float | None
    p99_ms: float | None

    def to_json(self) -> dict[str, Any]:
        return {"label": self.label, "sent": self.sent, "failed": self.failed, "p50Ms": _round(self.p50_ms),
                "p99Ms": _round(self.p99_ms)}


@dataclass
class VariantResult:
    variant: str
    outcome: str
    sent: int
    failed: int
    windows: list[Window] = field(default_factory=list)
    seconds_to_rollback: float | None = None
    #: Failures allowed (bad: the canary share x the watch window x the rate); None where the target is 0.
    failure_bound: float | None = None
    ok: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"variant": self.variant, "outcome": self.outcome, "sent": self.sent, "failed": self.failed,
                "secondsToRollback": _round(self.seconds_to_rollback), "failureBound": _round(self.failure_bound),
                "ok": self.ok, "windows": [w.to_json() for w in self.windows]}


@dataclass
class UpgradeReport:
    app: str
    rate: float
    steady: Window
    variants: list[VariantResult]

    def to_json(self) -> dict[str, Any]:
        return {"application": self.app, "ratePerSecond": self.rate, "steady": self.steady.to_json(),
                "variants": [v.to_json() for v in self.variants]}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


class PacedLoad:
    """POST `body` to `url` every 1/`rate` s from a thread of its own, whatever the answers take (open loop).

    aiohttp on one event loop, as the ingress benchmark's driver: on a 2-core machine the client shares the cores.
    Stops after `max_requests` or `max_seconds`, whichever first.
    """

    def __init__(self, url: str, body: bytes, rate: float, max_requests: int, max_seconds: float):
        self.url, self.body, self.rate = url, body, rate
        self.max_requests, self.max_seconds = max_requests, max_seconds
        #: (monotonic start, seconds, answered 200) per request.
        self.results: list[tuple[float, float, bool]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def start(self) -> PacedLoad:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=60)

    async def _run(self) -> None:
        import aiohttp

        timeout = aiohttp.ClientTimeout(total=30)
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=256), timeout=timeout) as session:
            began, tasks = time.monotonic(), []
            for sent in range(self.max_requests):
                due = began + sent / self.rate
                if self._stop.is_set() or due - began > self.max_seconds:
                    break
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                tasks.append(asyncio.create_task(self._one(session)))
            await asyncio.gather(*tasks)

    async def _one(self, session) -> None:
        import aiohttp

        started = time.monotonic()
        try:
            async with session.post(self.url, data=self.body, headers={"Content-Type": "application/json"}) as answer:
                await answer.read()
                ok = answer.status == 200
        except (aiohttp.ClientError, asyncio.TimeoutError):
            ok = False
        self.results.append((started, time.monotonic() - started, ok))

    def window(self, label: str, start: float, end: float) -> Window:
        picked = [(seconds, ok) for began, seconds, ok in list(self.results) if start <= began < end]
        good = sorted(seconds * 1000 for seconds, ok in picked if ok)
        return Window(label, len(picked), sum(1 for _, ok in picked if not ok), _quantile(good, 0.5), _quantile(good, 0.99))


def _quantile(ordered: list[float], q: float) -> float | None:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else None


def new_version(entry: dict[str, Any], version: str) -> dict[str, Any]:
    """`entry` with a new code version and the same behaviour: one more runtime-env variable."""
    out = copy.deepcopy(entry)
    env = out.setdefault("runtime_env", {})
    env["env_vars"] = {**env.get("env_vars", {}), VERSION_VARIABLE: version}
    return out


def broken_version(entry: dict[str, Any], ingress: str, runtime_env: dict[str, Any] | None) -> dict[str, Any]:
    """A version of `entry` at the same route whose ingress (same name) fails every request."""
    out = {"name": entry["name"], "route_prefix": entry.get("route_prefix"), "import_path": "serve_apps.broken:app",
           "args": {"deployment": ingress}, "deployments": [{"name": ingress, "num_replicas": 1}]}
    if runtime_env:
        out["runtime_env"] = runtime_env
    return out


@dataclass
class _Run:
    """One variant as it happened: its marks (time, event), start and end, and what the deployer said."""

    variant: str
    start: float
    end: float = 0.0
    marks: list[tuple[float, str]] = field(default_factory=list)
    outcome: str = ""
    seconds_to_rollback: float | None = None


class _Drill:
    def __init__(self, state: LocalState, cfg: EnvironmentConfig, options: UpgradeOptions, progress: Callable[[str], None]):
        self.state, self.options, self.progress = state, options, progress
        self.dashboard = state.dashboard()
        self.history = History.for_target(state.dashboard_url)
        self.entry, self.ingress = running_entry(self.dashboard.get_applications(), options.app)
        smoke = next((a.smoke_request for a in cfg.serve.applications if a.name == options.app), None)
        if smoke is None:
            raise RayfleetError(f"--app {options.app}: the environment gives it no smokeRequest, so the drill has no "
                                "request to send. Fix: add smokeRequest to it in the stack file, or drill another --app")
        self.body = json.dumps(smoke.body).encode()
        self.policy = CanaryPolicy(options.steps, options.watch_s)

    def current(self) -> dict[str, Any]:
        good = [r for r in self.history.records() if r.outcome == "running"]
        if not good:
            raise RayfleetError(f"no good deployment recorded for {self.state.dashboard_url}. "
                                "Fix: start the cluster with 'rayfleet local up'")
        return good[-1].config

    def run(self) -> UpgradeReport:
        url = f"http://127.0.0.1:{self.state.serve_port}{self.entry.get('route_prefix') or '/' + self.options.app}"
        load = PacedLoad(url, self.body, self.options.rate, self.options.max_requests, self.options.max_seconds)
        self.progress(f"steady load: {self.options.rate:g} requests/s to {url} for {self.options.steady_s:g} s")
        began = time.monotonic()
        load.start()
        runs = []
        try:
            time.sleep(self.options.steady_s)
            steady_end = time.monotonic()
            # The first requests open connections and wake the replicas: not the steady state.
            began += min(STEADY_SKIP_S, self.options.steady_s / 3)
            for variant in self.options.variants:
                runs.append(self._variant(variant))
            time.sleep(2)  # the last requests of the last variant land
        finally:
            load.stop()
        steady = load.window("steady", began, steady_end)
        return UpgradeReport(self.options.app, self.options.rate, steady, [self._result(r, load, steady) for r in runs])

    def _variant(self, variant: str) -> _Run:
        run = _Run(variant, time.monotonic())

        def on_event(message: str) -> None:
            run.marks.append((time.monotonic(), message))
            self.progress(f"{variant}: {message}")

        current = self.current()
        entry = next(a for a in current["applications"] if a["name"] == self.options.app)
        if variant == "in-place":
            on_event("deploying the new version in place (Serve's rolling update)")
            deploy(self.dashboard, with_apps(current, self.options.app, [new_version(entry, f"in-place-{time.time():.0f}")]),
                   history=self.history, confirm_removal=lambda names: False, note="upgrade drill: in place")
            on_event("every application RUNNING")
            run.outcome = "deployed"
        else:
            new = new_version(entry, f"good-{time.time():.0f}") if variant == "good" else \
                broken_version(entry, self.ingress, region_health_env(current))
            report = Canary(self.dashboard, with_apps(current, self.options.app, [new]), self.options.app, self.policy,
                            self.history, local_metrics(self.state), on_event=on_event, reserve=False).run()
            run.outcome, run.seconds_to_rollback = report.outcome, report.seconds_to_rollback
        run.end = time.monotonic()
        return run

    def _result(self, run: _Run, load: PacedLoad, steady: Window) -> VariantResult:
        whole = load.window(run.variant, run.start, run.end)
        result = VariantResult(run.variant, run.outcome, whole.sent, whole.failed, [whole],
                               seconds_to_rollback=run.seconds_to_rollback)
        if run.variant == "in-place":
            put = run.marks[0][0]
            result.windows.append(load.window(f"first {IN_PLACE_WINDOW_S:g} s", put, put + IN_PLACE_WINDOW_S))
            result.ok = whole.failed == 0
            return result
        result.windows += phase_windows(run.marks, run.end, load)
        if run.variant == "bad":
            result.failure_bound = self.options.steps[0] / 100 * self.options.watch_s * self.options.rate
            result.ok = run.outcome == "rolled back" and whole.failed <= result.failure_bound
        else:
            limit = 2 * (steady.p99_ms or 0)
            result.ok = run.outcome == "promoted" and whole.failed == 0 and \
                all(w.p99_ms is None or w.p99_ms <= limit for w in result.windows[1:] if w.label.startswith("step "))
        return result


def phase_windows(marks: list[tuple[float, str]], end: float, load: PacedLoad) -> list[Window]:
    """One window per phase of the run, each from its event to the next: the steps, and the changes between them."""
    windows = []
    for (at, message), until in zip(marks, [m[0] for m in marks[1:]] + [end]):
        label = phase_label(message)
        if label is not None:
            windows.append(load.window(label, at, until))
    return windows


def phase_label(message: str) -> str | None:
    """The phase a canary event begins ('step 10%' while a step is watched); None for a decision."""
    if "of traffic to the new version, watching" in message:
        return "step " + message.split(": ")[1].split(" ")[0]
    return next((label for prefix, label in PHASES if message.startswith(prefix)), None)


def run_upgrade_drill(
    state: LocalState, cfg: EnvironmentConfig, options: UpgradeOptions, progress: Callable[[str], None] = lambda m: None
) -> UpgradeReport:
    unknown = sorted(set(options.variants) - set(VARIANTS))
    if unknown:
        raise RayfleetError(f"unknown --variant {', '.join(unknown)}. Fix: use {', '.join(VARIANTS)}")
    return _Drill(state, cfg, options, progress).run()
