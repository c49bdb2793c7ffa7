"""What the scenarios after boot share: a bounded load on the head's Serve proxy, and a look at the region.

    with bounded_load(region.base_url, config, smoke, clients=5, max_requests=20_000, max_s=150) as load:
        snap = observe(region, autoscaling)     # worker groups' desired capacity, instances, ALIVE nodes, replicas
        load.pause_s = 1.0                      # a trickle from now on
        load.traffic.sent                       # requests sent so far
    # here every client has stopped

The load is the applications' own smoke requests (`rayfleet local up`'s smoke test), sent in a
closed loop by `clients` threads from this machine to the head's proxy on the region's bridge, as
a user's traffic reaches a region: through its Serve proxy. It stops at its count or its time,
whichever comes first, or when the block ends. On 2 cores the load competes with the nodes it
makes boot, so a scenario sets its pace (`pause_s`) to what the step at hand needs.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from components.contract import HEAD_NODE_TYPE, NODE_TYPE_KEY
from components.errors import RayfleetError
from components.drills.emulate.timeline import Traffic
from serve_apps.emulated_scenario import BootedRegion
from serve_apps.local import smoke_test
from serve_apps.status import AppState, parse_status


@dataclass
class Load:
    traffic: Traffic = field(default_factory=Traffic)
    #: The monotonic clock's reading at the first request.
    started: float = 0.0
    stop: threading.Event = field(default_factory=threading.Event)
    #: Seconds each client waits between rounds: 0 keeps the most requests in flight; more leaves the CPUs to the
    #: nodes (a scenario lowers the pace once the load did its part).
    pause_s: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, ok: bool, detail: str, app: str) -> None:
        with self._lock:
            self.traffic.record(ok, detail, app)

    def sent(self) -> int:
        with self._lock:
            return self.traffic.sent


@contextlib.contextmanager
def bounded_load(base_url: str, config: dict[str, Any], smoke: dict[str, Any], *, clients: int, max_requests: int,
                 max_s: float, pause_s: float = 0.0) -> Iterator[Load]:
    """`clients` threads, each sending the smoke requests of `config`'s applications in turn (`pause_s` between
    rounds) until `max_requests` are sent in all or `max_s` have passed; stopped, and waited for, when the block ends."""
    load = Load(started=time.monotonic(), pause_s=pause_s)
    deadline = load.started + max_s

    def client() -> None:
        while not load.stop.is_set() and time.monotonic() < deadline and load.sent() < max_requests:
            for result in smoke_test(base_url, config, smoke):
                if result.method:
                    load.record(result.ok, f"{result.app}: {result.detail}", result.app)
            if load.pause_s:
                load.stop.wait(load.pause_s)

    threads = [threading.Thread(target=client, name=f"load-{n}", daemon=True) for n in range(clients)]
    for thread in threads:
        thread.start()
    try:
        yield load
    finally:
        load.stop.set()
        for thread in threads:
            thread.join(timeout=60)  # a request in flight ends within the smoke test's own timeout


def smoke_requests(cfg) -> dict[str, Any]:
    """Each application's smoke request by name, as the boot scenario sends them."""
    return {app.name: app.smoke_request for app in cfg.serve.applications}


@dataclass(frozen=True)
class Snapshot:
    """The region as the scenario sees it at one moment: moto's worker groups, Ray's nodes, Serve's replicas."""

    #: Desired capacity and instances (not leaving) of every worker group, by group name.
    desired: dict[str, int]
    instances: dict[str, tuple[str, ...]]
    #: Addresses of the Ray nodes the head lists ALIVE.
    alive: frozenset[str]
    apps: tuple[AppState, ...]
    #: Replicas starting, running or migrating, by the address of the node that holds them.
    replicas_by_address: dict[str, int]
    #: Whether the head's dashboard answered this look (when it did not, `apps` and the replicas are empty).
    serve_answered: bool = True

    def worker_instances(self) -> set[str]:
        return {i for ids in self.instances.values() for i in ids}

    def all_running(self, apps: set[str]) -> bool:
        """Every deployment of the named applications runs its target count of replicas."""
        named = [a for a in self.apps if a.name in apps]
        return len(named) == len(apps) and all(a.healthy for a in named)


_LEAVING = ("Terminating", "Terminated", "Detaching", "Detached")
#: Replica states that hold a node: STOPPING too, since Serve stops a migrating replica gracefully (its
#: graceful_shutdown_timeout_s) and the node still serves it until it is gone.
_HOLDING = ("STARTING", "RUNNING", "PENDING_MIGRATION", "UPDATING", "RECOVERING", "STOPPING")
#: Seconds the first look waits for the head's Serve to answer: the figures before a scenario are measured from it.
FIRST_LOOK_TIMEOUT_S = 60.0


def observe(region: BootedRegion, autoscaling=None) -> Snapshot:
    """One look at the region: its worker groups in moto (through `autoscaling`, a client a scenario keeps for its
    looks), the head's node table and Serve's applications."""
    autoscaling = autoscaling or region.client("autoscaling")
    desired, instances = {}, {}
    for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate():
        for group in page["AutoScalingGroups"]:
            tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
            if tags.get(NODE_TYPE_KEY, HEAD_NODE_TYPE) == HEAD_NODE_TYPE:
                continue
            desired[group["AutoScalingGroupName"]] = group["DesiredCapacity"]
            instances[group["AutoScalingGroupName"]] = tuple(
                i["InstanceId"] for i in group["Instances"] if not i["LifecycleState"].startswith(_LEAVING))
    alive = frozenset(n.get("node_ip", "") for n in _nodes(region) if n.get("state") == "ALIVE")
    details = _applications(region)
    by_address: dict[str, int] = {}
    for app in ((details or {}).get("applications") or {}).values():
        for deployment in (app.get("deployments") or {}).values():
            for replica in deployment.get("replicas") or ():
                if replica.get("state") in _HOLDING and replica.get("node_ip"):
                    by_address[replica["node_ip"]] = by_address.get(replica["node_ip"], 0) + 1
    return Snapshot(desired, instances, alive, tuple(parse_status(details or {})), by_address,
                    serve_answered=details is not None)


def first_look(region: BootedRegion, autoscaling=None, timeout_s: float = FIRST_LOOK_TIMEOUT_S) -> Snapshot:
    """The look a scenario measures from, once Serve answered: an unanswered look reads as no application and no
    replica, which would make every later look a rise."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = observe(region, autoscaling)
        if seen.serve_answered:
            return seen
        if time.monotonic() >= deadline:
            raise RayfleetError(f"the head's dashboard ({region.dashboard.address}) did not list Serve's "
                                f"applications within {timeout_s:.0f} s, so the region could not be measured before "
                                "the scenario. Fix: run the emulation again on a less loaded machine; the head's Ray "
                                f"logs are under {region.run_dir}")
        time.sleep(1.0)


def _nodes(region: BootedRegion) -> list[dict[str, Any]]:
    try:
        return region.dashboard.get_nodes()
    except RayfleetError:
        return []  # the head busy on a loaded machine: the next look sees them


def _applications(region: BootedRegion) -> dict[str, Any] | None:
    try:
        return region.dashboard.get_applications()
    except RayfleetError:
        return None
