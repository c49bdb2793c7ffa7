"""`rayfleet emulate --scenario scale`: Serve's load raises demand, and the region grows a node for it.

    result = run(region)                     # region: the booted region (serve_apps.emulated_scenario)
    result.timeline.to_json()                # {'Serve target replicas rise': 34.1, 'desired capacity rises': 41.0, ...}

The chain under test is the one a user's traffic drives on AWS: the load raises an
application's ongoing requests → Serve's autoscaler raises its target replicas → the new
replica asks Ray for a CPU no node has → the head's monitor (Ray's v1 autoscaler) asks our
node provider for a worker → the provider sets the worker group's desired capacity in moto → the
group launches an instance → the instance boots as a node and its Ray joins the head → the
replica is placed on it and runs. Each step is timed from the load's first request. Nothing is
stubbed in between: the load is the application's smoke request, sent by clients in a closed
loop to the head's Serve proxy on the region's bridge; the rest is Serve, Ray, our provider and
the booted node's user data.

The application loaded is the one that grows soonest (the lowest target of ongoing requests per
replica, timeline.app_to_load); its clients keep more requests in flight than its most
replicas hold at their target (timeline.load_concurrency) until Serve raises the target, then
trickle (TRICKLE_PAUSE_S) so that the node booting has the machine's CPUs. On dev, a worker's Ray has this
machine's 2 CPUs, which the first replica of each application fills, so a second replica of any
application needs a node of its own.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from components.drills.emulate.timeline import Scalable, Timeline, Traffic, app_to_load, load_concurrency
from components.errors import RayfleetError
from serve_apps.emulate_load import Snapshot, bounded_load, first_look, observe, smoke_requests
from serve_apps.emulated_scenario import BootedRegion

NAME = "scale"
STEPS = ("Serve target replicas rise", "worker group's desired capacity rises", "instance in moto",
         "its node's Ray ALIVE on the head", "replicas RUNNING")
#: Seconds the scenario waits for the whole chain (about 3 minutes on an idle machine, more under load); the load is
#: bounded by the same time and by MAX_REQUESTS.
TIMEOUT_S = 360.0
MAX_REQUESTS = 60_000
#: Seconds between a client's requests once Serve raised its target: a trickle keeps traffic on the application
#: while the new node boots, and leaves it the CPUs (Serve holds a raised target for its downscale_delay_s, 600 s).
TRICKLE_PAUSE_S = 1.0
POLL_S = 1.0


@dataclass
class ScaleResult:
    app: str
    clients: int
    timeline: Timeline
    traffic: Traffic = field(default_factory=Traffic)
    #: The loaded application's target replicas before the load, and the most seen under it.
    replicas: tuple[int, int] = (0, 0)
    #: The worker groups' desired capacity (summed) before the load, and the most seen under it.
    desired: tuple[int, int] = (0, 0)
    instance_id: str | None = None
    timeout_s: float = TIMEOUT_S
    name: str = NAME

    def to_json(self) -> dict[str, Any]:
        return {"app": self.app, "clients": self.clients, "seconds": self.timeline.to_json(),
                "targetReplicas": {"before": self.replicas[0], "after": self.replicas[1]},
                "desiredCapacity": {"before": self.desired[0], "after": self.desired[1]},
                "instanceId": self.instance_id, **self.traffic.to_json(), "missed": self.missed()}

    def rows(self) -> list[tuple[str, str]]:
        return [(f"s to {step}", value) for step, value in self.timeline.rows()] + [
            (f"{self.app} target replicas", f"{self.replicas[0]} → {self.replicas[1]}"),
            ("worker desired capacity", f"{self.desired[0]} → {self.desired[1]}"),
            ("requests sent / failed", f"{self.traffic.sent} / {self.traffic.failed}"),
        ]

    def missed(self) -> list[str]:
        missed = [f"'{step}' not reached within {self.timeout_s:.0f} s of the load's start"
                  for step in self.timeline.missing()]
        missed += [f"'{later}' came before '{earlier}', which causes it: the new replicas did not need the new node"
                   for earlier, later in self.timeline.out_of_order()]
        return missed


def scalable_apps(cfg, config: dict[str, Any]) -> list[Scalable]:
    """The deployed applications whose first deployment autoscales, as the deployed Serve config says."""
    smoke = smoke_requests(cfg)
    found = []
    for app in config["applications"]:
        scaling = next(iter(app.get("deployments") or ()), {}).get("autoscaling_config")
        if scaling:
            found.append(Scalable(app["name"], int(scaling.get("min_replicas", 1)), int(scaling["max_replicas"]),
                                  float(scaling.get("target_ongoing_requests", 2)), smoke.get(app["name"]) is not None))
    return found


def run(region: BootedRegion) -> ScaleResult:
    """Load one application until its new replicas run on a node the region launched for them."""
    chosen = app_to_load(scalable_apps(region.cfg, region.config))
    if chosen is None:
        raise RayfleetError("scale: no deployed application can grow (an autoscaling deployment with maxReplicas "
                            "above minReplicas and a smokeRequest). Fix: give one application autoscaling and a "
                            "smokeRequest in the stack file")
    clients = load_concurrency(chosen.target_ongoing_requests, chosen.max_replicas)
    one_app = {"applications": [a for a in region.config["applications"] if a["name"] == chosen.name]}
    autoscaling = region.client("autoscaling")
    before = first_look(region, autoscaling)
    replicas_before = _target(before, chosen.name)
    desired_before = sum(before.desired.values())
    region.on_step(f"scale: {clients} clients sending {chosen.name}'s smoke request to {region.base_url} "
                   f"(target replicas {replicas_before}, worker desired capacity {desired_before})...")
    with bounded_load(region.base_url, one_app, smoke_requests(region.cfg), clients=clients,
                      max_requests=MAX_REQUESTS, max_s=TIMEOUT_S) as load:
        result = ScaleResult(chosen.name, clients, Timeline(STEPS, load.started),
                             replicas=(replicas_before, replicas_before), desired=(desired_before, desired_before))
        while result.timeline.missing() and time.monotonic() - load.started < TIMEOUT_S:
            region.runner.check()
            _look(region, result, before, observe(region, autoscaling), time.monotonic())
            if result.timeline.reached(STEPS[0]):
                load.pause_s = TRICKLE_PAUSE_S
            time.sleep(POLL_S)
    result.traffic = load.traffic
    return result


def _look(region: BootedRegion, result: ScaleResult, before: Snapshot, now_seen: Snapshot, now: float) -> None:
    """Mark the steps this look shows, and say where the chain is."""
    steps, app = result.timeline, result.app
    target = _target(now_seen, app)
    result.replicas = (result.replicas[0], max(result.replicas[1], target))
    result.desired = (result.desired[0], max(result.desired[1], sum(now_seen.desired.values())))
    if target > result.replicas[0]:
        steps.mark(STEPS[0], now)
    if result.desired[1] > result.desired[0]:
        steps.mark(STEPS[1], now)
    new = sorted(now_seen.worker_instances() - before.worker_instances())
    if new:
        steps.mark(STEPS[2], now)
        result.instance_id = result.instance_id or new[0]
    addresses = {n.address for n in region.runner.running() if n.instance_id in new}
    if addresses & now_seen.alive:
        steps.mark(STEPS[3], now)
    on_new = {a for a, count in now_seen.replicas_by_address.items() if count}
    if target > result.replicas[0] and addresses & on_new and now_seen.all_running({app}):
        steps.mark(STEPS[4], now)
    region.on_step(f"scale: {now - steps.started:.0f} s: {app} target {target}, worker desired capacity "
                   f"{sum(now_seen.desired.values())}, new instance {result.instance_id or 'none yet'}; "
                   f"{len(steps.seconds)}/{len(STEPS)} steps")


def _target(snapshot: Snapshot, app: str) -> int:
    return sum(d.target for a in snapshot.apps if a.name == app for d in a.deployments)
