"""`rayfleet emulate --scenario head-failover`: the head dies, its group replaces it, Serve keeps answering.

    figures = run(region)         # region: the booted region (serve_apps.emulated_scenario.BootedRegion)
    figures.head_alive_s, figures.requests_failed   # 71.3, 0

Needs head fault tolerance (GCS state in Redis: the emulated ElastiCache the boot started). A
bounded load loop sends each application's smoke request to a worker's Serve proxy, on the
region's bridge, the whole time. The head's instance is terminated in EC2 (moto), which stops its
node at once (every process killed: an abrupt death); its group launches a replacement (moto at
once, AWS once its health check finds the instance gone: a known gap). That node runs the head's
user data as written: it reads the AUTH token, starts Ray against the same Redis and publishes
its address; the raylets reconnect by the head's name.
"""

from __future__ import annotations

import threading
import time

from components.contract import HEAD_NODE_TYPE, SERVE_PORT
from components.drills.emulate.head_failover import HeadFailoverFigures, Tally
from components.errors import RayfleetError
from components.ray_cluster.plan import DASHBOARD_PORT
from serve_apps.dashboard import Dashboard
from serve_apps.emulate_load import smoke_requests
from serve_apps.emulated_scenario import BootedRegion
from serve_apps.local import smoke_test

#: Seconds from the termination to the applications RUNNING on the new head, and to the old node stopping.
FAILOVER_TIMEOUT_S = 240.0
NODE_STOP_TIMEOUT_S = 30.0
#: Seconds the load loop runs before the kill (the worker's proxy answering) and after the recovery.
SETTLE_S = 5.0


def run(region: BootedRegion) -> HeadFailoverFigures:
    heads = region.runner.nodes_of(HEAD_NODE_TYPE)
    workers = [n for n in region.runner.running() if n.node_type != HEAD_NODE_TYPE]
    if not heads or not workers:
        raise RayfleetError("head-failover needs a running head and a worker. Fix: emulate an environment whose "
                            "workers start with the cluster (minWorkers >= 1)")
    old, worker = heads[0], workers[0]
    figures = HeadFailoverFigures(old_head=old.instance_id, worker_proxy=f"{worker.address}:{SERVE_PORT}",
                                  timeout_s=FAILOVER_TIMEOUT_S)
    worker_id = _node_id(region.dashboard, worker.address)
    tally, stop = Tally(), threading.Event()
    loop = threading.Thread(target=_load, args=(region, f"http://{figures.worker_proxy}", tally, stop), daemon=True)
    loop.start()
    try:
        time.sleep(SETTLE_S)
        figures.answered_before = tally.answered()
        region.on_step(f"head-failover: terminating the head {old.instance_id} under load on {figures.worker_proxy}...")
        started = time.monotonic()
        _fail_over(region, old, figures, started)
        # The window closes when the applications run again (or the wait gave up): a request sent before then
        # counts, even when it fails 30 s later.
        end = started + figures.apps_running_s if figures.apps_running_s is not None else time.monotonic()
        if figures.head_alive_s is not None and worker_id is not None:
            figures.worker_kept = _node_id(_dashboard_of(region, figures)[0], worker.address) == worker_id
        time.sleep(SETTLE_S)
    finally:
        stop.set()
        loop.join(timeout=60)  # every request sent in the window has ended: the smoke test's timeout is 30 s
    figures.count(tally, started, end)
    return figures


def _fail_over(region: BootedRegion, old, figures: HeadFailoverFigures, started: float) -> None:
    region.client("ec2").terminate_instances(InstanceIds=[old.instance_id])
    try:
        figures.node_stopped_s = region.runner.wait_for(lambda r: old.instance_id not in r.nodes, NODE_STOP_TIMEOUT_S,
                                                        "the head's node stopping")
        region.runner.wait_for(lambda r: any(n.instance_id != old.instance_id for n in r.nodes_of(HEAD_NODE_TYPE)),
                               FAILOVER_TIMEOUT_S, "the replacement head")
        figures.replacement_launched_s = time.monotonic() - started
        figures.new_head = region.runner.nodes_of(HEAD_NODE_TYPE)[0].instance_id
        region.on_step(f"head-failover: {figures.new_head} replaces the head; waiting for its GCS and Serve...")
        _wait_recovered(region, figures, started)
    except TimeoutError as err:
        figures.error = f"head-failover stopped waiting for {err}"


def _wait_recovered(region: BootedRegion, figures: HeadFailoverFigures, started: float) -> None:
    names = [app["name"] for app in region.config["applications"]]
    dashboard, address = _dashboard_of(region, figures)
    while time.monotonic() - started < FAILOVER_TIMEOUT_S:
        if figures.head_alive_s is None and _node_id(dashboard, address):
            figures.head_alive_s = time.monotonic() - started
        if figures.head_alive_s is not None:
            try:
                apps = dashboard.get_applications().get("applications", {})
            except RayfleetError:
                apps = {}
            states = {name: apps.get(name, {}).get("status") for name in names}
            region.on_step(f"head-failover: {time.monotonic() - started:.0f} s: {states}")
            if set(states.values()) == {"RUNNING"}:
                figures.apps_running_s = time.monotonic() - started
                return
        time.sleep(1.0)


def _dashboard_of(region: BootedRegion, figures: HeadFailoverFigures) -> tuple[Dashboard, str]:
    """The new head's dashboard (the token stays in its secret: the new head reads it), and the head's address."""
    head = next(n for n in region.runner.nodes_of(HEAD_NODE_TYPE) if n.instance_id == figures.new_head)
    return Dashboard(f"http://{head.address}:{DASHBOARD_PORT}", region.dashboard.token, timeout_s=5), head.address


def _node_id(dashboard: Dashboard, address: str) -> str | None:
    """The Ray node ID the GCS behind `dashboard` lists ALIVE at `address`, None when none (or no answer)."""
    try:
        nodes = dashboard.get_nodes()
    except RayfleetError:
        return None
    return next((n.get("node_id") for n in nodes if n.get("node_ip") == address and n.get("state") == "ALIVE"), None)


def _load(region: BootedRegion, base_url: str, tally: Tally, stop: threading.Event) -> None:
    """Each application's smoke request (those that have one) to `base_url`, one after another, until `stop`; each
    tallied at the moment it was sent."""
    smoke = smoke_requests(region.cfg)
    apps = [a for a in region.config["applications"] if smoke.get(a["name"])]
    while not stop.is_set():
        for app in apps:
            sent = time.monotonic()
            for result in smoke_test(base_url, {"applications": [app]}, smoke):
                tally.add(sent, result.ok, f"{result.app}: {result.detail}")
        stop.wait(0.1)
