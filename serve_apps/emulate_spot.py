"""`rayfleet emulate --scenario spot`: a spot interruption notice on one worker, and the region riding it out.

    result = run(region)                  # region: the booted region (serve_apps.emulated_scenario)
    result.traffic.failed                 # 0: no request failed while the node drained, went and was replaced

What happens, as on EC2: the notice appears in the worker's IMDS at `spot/instance-action`
(EC2's own document, `{"action": "terminate", "time": ...}`, two minutes ahead); the spot
watcher on that node (components/node_agents/spot_watcher.py, started by its user data) reads
it and drains the node's Ray with the notice's deadline, so Serve starts the node's replicas
elsewhere (the head's autoscaler launches a worker through our provider if none has room)
before it stops them there; EC2 terminates the instance at the notice's time; the Auto Scaling
group launches a replacement, which boots, joins the head, and the region is whole again.

moto has no spot interruptions: the scenario writes the notice into the node's IMDS and
terminates the instance in moto itself, as EC2 would: at the notice's time, or once the drain
is done (the node holds no replica and every application runs its replicas elsewhere), since
nothing on the node is left to lose. moto's group then replaces the instance (its EC2
TerminateInstances tells Auto Scaling, which launches the shortfall in the same call). A load
of every application's smoke request runs from the notice to the end: the figure is how many
failed (target 0).
"""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass, field
from typing import Any

from components.contract import HEAD_NODE_TYPE, MARKET_KEY, Market
from components.drills.emulate.timeline import SPOT_ACTION_PATH, Timeline, Traffic, busiest_node, notice_time, spot_notice
from components.errors import RayfleetError
from serve_apps.emulate_load import Snapshot, bounded_load, first_look, observe, smoke_requests
from serve_apps.emulated_scenario import BootedRegion

NAME = "spot"
STEPS = ("spot watcher's drain accepted", "replicas RUNNING off the node", "instance terminated",
         "replacement instance in moto", "replacement's Ray ALIVE on the head", "every replica RUNNING")
#: Seconds from the notice the scenario waits for the region to be whole again (the notice gives 120 of them; about
#: 3 minutes on an idle machine, more under load).
TIMEOUT_S = 420.0
#: The load during the interruption: clients, each sending every application's smoke request in turn, then pausing
#: (a steady trickle finds any failure; a flood would starve the nodes booting of the machine's CPUs).
CLIENTS = 2
PAUSE_S = 0.2
MAX_REQUESTS = 20_000
POLL_S = 1.0
#: The spot watcher's unit and the line it logs when Ray accepted the drain.
WATCHER_UNIT = "rayfleet-spot-watcher"
DRAIN_ACCEPTED = "drain accepted"


@dataclass
class SpotResult:
    instance_id: str
    address: str
    replicas_on_node: int
    notice: str
    timeline: Timeline
    traffic: Traffic = field(default_factory=Traffic)
    #: Why the instance was terminated when it was: "drained" or "notice time".
    terminated_because: str = ""
    replacement_id: str | None = None
    #: The interrupted instance's Auto Scaling group: its replacement comes from there.
    group: str = ""
    #: Each application's deployments as last seen (status, running/target): why the last step waits, if it does.
    apps: dict[str, str] = field(default_factory=dict)
    timeout_s: float = TIMEOUT_S
    name: str = NAME

    def to_json(self) -> dict[str, Any]:
        return {"instanceId": self.instance_id, "address": self.address, "replicasOnNode": self.replicas_on_node,
                "notice": self.notice, "seconds": self.timeline.to_json(), "terminatedBecause": self.terminated_because,
                "replacementId": self.replacement_id, "apps": self.apps, **self.traffic.to_json(),
                "missed": self.missed()}

    def rows(self) -> list[tuple[str, str]]:
        return [("node interrupted", f"{self.instance_id} ({self.address}), {self.replicas_on_node} replica(s)")] + [
            (f"s to {step}", value) for step, value in self.timeline.rows()] + [
            ("terminated", self.terminated_because or "no"),
            ("requests sent / failed", f"{self.traffic.sent} / {self.traffic.failed}"),
        ]

    def missed(self) -> list[str]:
        missed = [f"'{step}' not reached within {self.timeout_s:.0f} s of the notice"
                  if step != STEPS[1] or self.terminated_because != "notice time" else
                  f"'{step}' not reached before the notice's time: the instance went with replicas on it"
                  for step in self.timeline.missing()]
        if self.traffic.failed:
            missed.append(f"{self.traffic.failed} of {self.traffic.sent} requests failed (target 0); first: "
                          + "; ".join(self.traffic.failures))
        return missed


def run(region: BootedRegion) -> SpotResult:
    """Notice one worker of its interruption, then follow the drain, the termination and the replacement."""
    autoscaling = region.client("autoscaling")
    before = first_look(region, autoscaling)
    node = _node_to_interrupt(region, before, autoscaling)
    at = notice_time(dt.datetime.now(dt.timezone.utc))
    notice = spot_notice(at)
    region.on_step(f"spot: interruption notice to {node.instance_id} ({node.address}, "
                   f"{before.replicas_by_address.get(node.address, 0)} replica(s)): {notice}")
    with bounded_load(region.base_url, region.config, smoke_requests(region.cfg), clients=CLIENTS,
                      max_requests=MAX_REQUESTS, max_s=TIMEOUT_S, pause_s=PAUSE_S) as load:
        node.set_metadata(SPOT_ACTION_PATH, notice)
        terminate_by = time.monotonic() + (at - dt.datetime.now(dt.timezone.utc)).total_seconds()
        result = SpotResult(node.instance_id, node.address, before.replicas_by_address.get(node.address, 0), notice,
                            Timeline(STEPS, time.monotonic()), group=node.group)
        instances_at_end: set[str] = set()
        apps = {a.name for a in before.apps}
        while result.timeline.missing() and time.monotonic() - result.timeline.started < TIMEOUT_S:
            region.runner.check()
            seen, now = observe(region, autoscaling), time.monotonic()
            result.apps = {a.name: ", ".join(f"{d.name} {d.status} {d.running}/{d.target}" for d in a.deployments)
                           for a in seen.apps} or result.apps
            if _watcher_drained(node):
                result.timeline.mark(STEPS[0], now)
            if not result.terminated_because and seen.serve_answered and \
                    not seen.replicas_by_address.get(node.address) and seen.all_running(apps):
                result.timeline.mark(STEPS[1], now)  # only while the node lives: once it is gone, it holds nothing
            if not result.terminated_because and (result.timeline.reached(STEPS[1]) or now >= terminate_by):
                instances_at_end = seen.worker_instances()
                _terminate(region, node.instance_id)
                result.terminated_because = "drained" if result.timeline.reached(STEPS[1]) else "notice time"
                result.timeline.mark(STEPS[2], time.monotonic())
            elif result.terminated_because:
                _after_termination(region, result, seen, instances_at_end, apps, now)
            region.on_step(f"spot: {now - result.timeline.started:.0f} s: {len(result.timeline.seconds)}/"
                           f"{len(STEPS)} steps; {load.sent()} requests sent, {load.traffic.failed} failed")
            time.sleep(POLL_S)
    result.traffic = load.traffic
    return result


def _after_termination(region: BootedRegion, result: SpotResult, seen: Snapshot, instances_at_end: set[str],
                       apps: set[str], now: float) -> None:
    """The group's replacement: launched in moto, its Ray joined, then every replica running. Only the interrupted
    instance's group counts: another group's new instance (the autoscaler's, for the replicas that moved) is not it."""
    new = sorted(set(seen.instances.get(result.group, ())) - instances_at_end)
    if new:
        result.replacement_id = result.replacement_id or new[0]
        result.timeline.mark(STEPS[3], now)
    address = next((n.address for n in region.runner.running() if n.instance_id == result.replacement_id), None)
    if address and address in seen.alive:
        result.timeline.mark(STEPS[4], now)
    if result.timeline.reached(STEPS[4]) and seen.all_running(apps):
        result.timeline.mark(STEPS[5], now)


def _node_to_interrupt(region: BootedRegion, seen: Snapshot, autoscaling):
    """The spot worker holding the most replicas (the oldest of equals)."""
    spot_groups = _spot_groups(autoscaling)
    workers = sorted((n for n in region.runner.running() if n.node_type != HEAD_NODE_TYPE and n.group in spot_groups),
                     key=lambda n: n.started)
    if not workers:
        raise RayfleetError("spot: the region runs no spot worker to interrupt. Fix: emulate an environment with a "
                            "spot worker group whose workers run replicas (dev's), or run `scale` first")
    chosen = busiest_node(seen.replicas_by_address, [n.address for n in workers])
    if chosen is None:
        held = ", ".join(n.address for n in workers)
        raise RayfleetError(f"spot: no spot worker holds a Serve replica (none on {held}): "
                            "interrupting one would test no drain. Fix: emulate an environment with a "
                            "spot worker group whose workers run replicas (dev's), or run `scale` first")
    return next(n for n in workers if n.address == chosen)


def _spot_groups(autoscaling) -> set[str]:
    return {g["AutoScalingGroupName"] for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate()
            for g in page["AutoScalingGroups"]
            if {t["Key"]: t["Value"] for t in g.get("Tags", [])}.get(MARKET_KEY) == Market.SPOT.value}


def _watcher_drained(node) -> bool:
    log = node.unit_log(WATCHER_UNIT)
    return log.exists() and DRAIN_ACCEPTED in log.read_text(errors="replace")


def _terminate(region: BootedRegion, instance_id: str) -> None:
    """EC2 terminating the interrupted instance (moto's group replaces it in the same call)."""
    region.client("ec2").terminate_instances(InstanceIds=[instance_id])
