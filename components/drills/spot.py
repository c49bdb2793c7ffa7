"""The spot drill: a real multi-node Ray cluster on this machine loses a worker, with and without the watcher.

    report = run_spot_drill(DrillOptions(deadline_seconds=20))
    [(r.variant, r.served, r.failed) for r in report.results]   # e.g. [('watcher', 2210, 0), ('abrupt', 2184, 31)]

Each variant starts a `ray.cluster_utils.Cluster` (a head and two workers, each worker holding one
`drill_slot`), deploys a Serve app with one replica pinned to each worker, and drives bounded
concurrent HTTP load at the head's Serve proxy. Then worker A is lost:

- `watcher`: a spot notice appears in a fake IMDS on loopback; worker A's spot watcher (the real
  agent, `python -m components.node_agents.spot_watcher`) drains A through the GCS with the notice's
  deadline; when the deadline passes the drill kills A, as AWS would;
- `abrupt`: A is killed at the moment of the notice, with no warning.

In both, replacement capacity (a third worker, as the ASG would launch) joins at the notice. The
report counts requests served and failed, and the seconds from the notice until the replacement
replica answers. Everything binds 127.0.0.1; Ray's files go to a private temp dir, and only the
drill's own cluster is shut down.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Callable

from components.drills.fake_imds import FakeImds
from components.errors import RayfleetError

if TYPE_CHECKING:
    from ray._private.node import Node

APP_NAME, ROUTE = "spot-drill", "/drill"
SLOT = "drill_slot"
VARIANTS = ("watcher", "abrupt")
LOOPBACK = {"node_ip_address": "127.0.0.1"}


@dataclass(frozen=True)
class DrillOptions:
    gcs_port: int = 6390
    dashboard_port: int = 8270
    serve_port: int = 8010
    #: Seconds between the spot notice and the node's death (AWS gives 120).
    deadline_seconds: float = 30.0
    #: Seconds of load before the notice, and after the node is gone.
    warmup_seconds: float = 3.0
    after_seconds: float = 5.0
    concurrency: int = 4
    #: Seconds each request works in its replica (a model's inference time).
    work_seconds: float = 0.05
    max_requests: int = 50_000
    request_timeout: float = 10.0
    variants: tuple[str, ...] = VARIANTS


class PortInUseError(RayfleetError):
    """A port the drill cluster needs is taken on 127.0.0.1."""


def check_ports(options: DrillOptions) -> None:
    """Fail before starting anything if a port is taken (another local Ray cluster, say)."""
    for flag, port in (("--gcs-port", options.gcs_port), ("--dashboard-port", options.dashboard_port), ("--serve-port", options.serve_port)):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            # Like Ray's servers, ignore TIME_WAIT leftovers of a cluster that just stopped.
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                raise PortInUseError(
                    f"port {port} ({flag}) is in use on 127.0.0.1. Fix: stop what listens there or pass {flag} PORT"
                ) from None


@dataclass
class VariantResult:
    variant: str
    served: int
    failed: int
    #: Seconds from the notice until the replacement replica served a request (None: never, in time).
    replacement_seconds: float | None
    #: Seconds from the notice until the node died.
    node_lost_after_seconds: float
    drained: bool
    p99_ms: float = 0.0
    max_ms: float = 0.0
    errors: list[str] = field(default_factory=list)


@dataclass
class DrillReport:
    options: DrillOptions
    results: list[VariantResult]

    def to_json(self) -> dict:
        return {"options": asdict(self.options), "results": [asdict(r) for r in self.results]}


class Load:
    """Bounded concurrent HTTP load: `concurrency` threads, at most `max_requests` requests in all."""

    def __init__(self, url: str, concurrency: int, max_requests: int, timeout: float):
        self.url, self.timeout, self.budget = url, timeout, max_requests
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.records: list[tuple[float, bool, str]] = []
        self.latencies: list[float] = []
        self.threads = [threading.Thread(target=self._client, daemon=True) for _ in range(concurrency)]

    def _client(self) -> None:
        while not self.stop.is_set():
            with self.lock:
                if self.budget <= 0:
                    return
                self.budget -= 1
            sent = time.monotonic()
            try:
                with urllib.request.urlopen(self.url, timeout=self.timeout) as response:
                    ok, detail = True, response.read().decode().strip()
            except (urllib.error.URLError, OSError, TimeoutError) as err:
                ok, detail = False, f"{type(err).__name__}: {err}"
            done = time.monotonic()
            with self.lock:
                self.records.append((done, ok, detail))
                self.latencies.append(done - sent)

    def start(self) -> "Load":
        for thread in self.threads:
            thread.start()
        return self

    def finish(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(self.timeout + 5)

    def first_success_from(self, node_id: str, since: float) -> float | None:
        with self.lock:
            return next((t for t, ok, node in self.records if ok and node == node_id and t >= since), None)

    def latency_ms(self, quantile: float) -> float:
        with self.lock:
            ordered = sorted(self.latencies)
        return round(1000 * ordered[min(len(ordered) - 1, int(quantile * len(ordered)))], 1) if ordered else 0.0

    def nodes_seen(self) -> set[str]:
        with self.lock:
            return {node for _, ok, node in self.records if ok}


def _deployment(work_seconds: float):
    from ray import serve

    @serve.deployment(num_replicas=2, ray_actor_options={"num_cpus": 0, "resources": {SLOT: 1}})
    class NodeEcho:
        """Answers with the id of the node its replica runs on, after `work_seconds` of work."""

        def __init__(self, work: float):
            self.work = work

        def __call__(self, request) -> str:
            import ray

            time.sleep(self.work)
            return ray.get_runtime_context().get_node_id()

    return NodeEcho.bind(work_seconds)


def _wait(condition: Callable[[], bool], timeout: float, what: str) -> None:
    end = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > end:
            raise TimeoutError(f"spot drill: timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(0.2)


def _start_watcher(imds_url: str, gcs_address: str, node_id: str, log_path: str) -> subprocess.Popen:
    command = [
        sys.executable, "-m", "components.node_agents.spot_watcher",
        "--region", "local", "--imds-url", imds_url, "--gcs-address", gcs_address,
        "--node-id", node_id, "--no-lifecycle", "--poll-seconds", "0.5",
    ]  # fmt: skip
    log = open(log_path, "w")  # noqa: SIM115 - closed with the process below
    return subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=os.environ.copy())


def run_variant(options: DrillOptions, variant: str, progress: Callable[[str], None]) -> VariantResult:
    """One variant on a fresh cluster; the cluster and every process the variant started end with it."""
    run = _VariantRun(options, variant, progress)
    try:
        return run.run()
    finally:
        run.stop()


class _VariantRun:
    """One variant's cluster, load and (for `watcher`) fake IMDS and spot watcher, in the order they happen."""

    def __init__(self, options: DrillOptions, variant: str, progress: Callable[[str], None]):
        from ray.cluster_utils import Cluster

        self.options, self.variant, self.progress = options, variant, progress
        self.watched = variant == "watcher"
        self.cluster = Cluster(
            initialize_head=True,
            head_node_args={
                "gcs_server_port": options.gcs_port,
                "dashboard_port": options.dashboard_port,
                "num_cpus": 2,
                **LOOPBACK,
            },
        )
        self.imds: FakeImds | None = None
        self.watcher: subprocess.Popen | None = None
        self.watcher_log = ""

    def run(self) -> VariantResult:
        load, worker_a = self._serve_on_two_workers()
        if self.watched:
            self._start_watcher(worker_a.node_id)
        time.sleep(self.options.warmup_seconds)
        notice, lost, spare = self._lose(worker_a)
        self.progress(f"{self.variant}: worker A gone after {lost:.1f}s; load continues")
        _wait(lambda: load.first_success_from(spare.node_id, notice) is not None, 60, "the replacement replica")
        time.sleep(self.options.after_seconds)
        load.finish()
        return self._result(load, spare.node_id, notice, lost)

    def _add_worker(self) -> Node:
        return self.cluster.add_node(num_cpus=1, resources={SLOT: 1}, **LOOPBACK)

    def _serve_on_two_workers(self) -> tuple[Load, Node]:
        """Workers A and B, a replica on each, and load running until both have answered."""
        import ray
        from ray import serve

        options = self.options
        self.progress(f"{self.variant}: starting a head and two workers")
        worker_a, worker_b = self._add_worker(), self._add_worker()
        self.cluster.wait_for_nodes()
        ray.init(address=self.cluster.address, logging_level="ERROR", log_to_driver=False)
        serve.start(proxy_location="HeadOnly", http_options={"host": "127.0.0.1", "port": options.serve_port})
        self.progress(f"{self.variant}: deploying a replica on each worker")
        serve.run(_deployment(options.work_seconds), name=APP_NAME, route_prefix=ROUTE)
        url = f"http://127.0.0.1:{options.serve_port}{ROUTE}"
        load = Load(url, options.concurrency, options.max_requests, options.request_timeout).start()
        both = {worker_a.node_id, worker_b.node_id}
        _wait(lambda: both <= load.nodes_seen(), 60, "replicas on both workers")
        return load, worker_a

    def _start_watcher(self, node_id: str) -> None:
        self.imds = FakeImds().start()
        self.watcher_log = os.path.join(os.environ.get("RAY_TMPDIR", tempfile.gettempdir()), "spot-watcher.log")
        self.watcher = _start_watcher(self.imds.url, self.cluster.address, node_id, self.watcher_log)

    def _lose(self, worker_a: Node) -> tuple[float, float, Node]:
        """Worker A goes, after the notice's deadline or at once, and a replacement joins at the notice.

        Returns when the notice came (monotonic), how long A lasted after it, and the replacement
        (the instance the ASG would launch).
        """
        self.progress(f"{self.variant}: {'spot notice' if self.watched else 'abrupt loss'} for worker A under load")
        notice = time.monotonic()
        if self.watched:
            self.imds.spot_notice(deadline_seconds=self.options.deadline_seconds)
            spare = self._add_worker()
            time.sleep(max(0.0, notice + self.options.deadline_seconds - time.monotonic()))
            self.cluster.remove_node(worker_a, allow_graceful=False)
            lost = time.monotonic() - notice
        else:
            self.cluster.remove_node(worker_a, allow_graceful=False)
            lost = time.monotonic() - notice
            spare = self._add_worker()
        return notice, lost, spare

    def _result(self, load: Load, spare_node_id: str, notice: float, lost: float) -> VariantResult:
        replaced = load.first_success_from(spare_node_id, notice)
        failures = [detail for _, ok, detail in load.records if not ok]
        return VariantResult(
            variant=self.variant,
            served=len(load.records) - len(failures),
            failed=len(failures),
            replacement_seconds=None if replaced is None else round(replaced - notice, 2),
            node_lost_after_seconds=round(lost, 2),
            drained=self._watcher_drained(),
            p99_ms=load.latency_ms(0.99),
            max_ms=load.latency_ms(1.0),
            errors=sorted(set(failures))[:3],
        )

    def _watcher_drained(self) -> bool:
        """Whether the spot watcher saw its drain accepted (stopping it first, so its log is complete)."""
        if self.watcher is None:
            return False
        self.watcher.terminate()
        self.watcher.wait(10)
        with open(self.watcher_log) as f:
            return "drain accepted" in f.read()

    def stop(self) -> None:
        import ray
        from ray import serve

        if self.watcher is not None and self.watcher.poll() is None:
            self.watcher.kill()
        if self.imds is not None:
            self.imds.stop()
        try:
            serve.shutdown()
        except Exception:  # noqa: BLE001 - the cluster goes away next anyway
            pass
        ray.shutdown()
        self.cluster.shutdown()


@contextlib.contextmanager
def local_ray_env():
    """Environment for Ray clusters started by this process: loopback only, files in a private dir."""
    overrides = {
        # A short path (Ray's unix sockets live under it), private so that other Ray clusters on this
        # machine keep their address file.
        "RAY_TMPDIR": tempfile.mkdtemp(prefix="rfd-", dir="/tmp"),
        # Loopback only: without this Ray turns 127.0.0.1 into the host's external address.
        "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0",
    }
    previous = {key: os.environ.get(key) for key in overrides}
    os.environ.update(overrides)
    # Ray reads the loopback switch when first imported; if it already is, flip its constant too.
    constants = sys.modules.get("ray._private.ray_constants")
    was_cluster = getattr(constants, "ENABLE_RAY_CLUSTER", None)
    if constants is not None:
        constants.ENABLE_RAY_CLUSTER = False
    try:
        yield overrides["RAY_TMPDIR"]
    finally:
        if constants is not None:
            constants.ENABLE_RAY_CLUSTER = was_cluster
        for key, value in previous.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(overrides["RAY_TMPDIR"], ignore_errors=True)


def run_spot_drill(options: DrillOptions, progress: Callable[[str], None] = lambda _: None) -> DrillReport:
    """Run each variant on its own fresh cluster, in `local_ray_env()`."""
    check_ports(options)
    with local_ray_env():
        return DrillReport(options, [run_variant(options, variant, progress) for variant in options.variants])
