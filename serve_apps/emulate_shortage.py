"""`rayfleet emulate --scenario shortage`: the spot group cannot launch; the on-demand twin takes the shortfall.

    figures = run(region)                  # region: the booted region (serve_apps.emulated_scenario.BootedRegion)
    figures.fallback_s, figures.capacity_s # 9.8, 96.1: seconds from the raised demand

On the booted region, the spot group of the first worker group stops launching: its calls through
the nodes' AWS router are answered as AWS answers a group with no spot capacity
(components.drills.emulate.shortage: desired capacity kept, nothing launched, a failed scaling
activity per launch). Then demand rises as a user's config change raises it: the deployed Serve
config again, with one more replica of a deployment that needs a whole CPU, which no running
worker has. Ray's monitor on the head asks the node provider for a worker, the provider asks the
spot group, reads the failed activity, and moves the shortfall to the on-demand twin, whose
instance boots as a node and takes the replica. Nothing of the node provider or the user data
changes: the shortage is in the router alone. When the scenario ends, spot capacity returns (the
group's unlaunched desired count reaches moto).
"""

from __future__ import annotations

import time

from components.contract import MARKET_KEY, NODE_TYPE_KEY, Market
from components.drills.emulate.aws_routing import intercepting
from components.drills.emulate.boot import stalled
from components.drills.emulate.shortage import ShortageFigures, SpotShortage, raised_demand
from components.errors import RayfleetError
from serve_apps.dashboard import DashboardError
from serve_apps.deployer import DeployError, deploy
from serve_apps.emulated_scenario import BootedRegion
from serve_apps.history import History

#: Seconds the scenario waits from the raised demand to the replica RUNNING on the twin's new node.
SHORTAGE_TIMEOUT_S = 300.0


def run(region: BootedRegion) -> ShortageFigures:
    asg = region.client("autoscaling")
    spot, twin = _markets(asg)
    figures = ShortageFigures(spot_group=spot, twin_group=twin, timeout_s=SHORTAGE_TIMEOUT_S)
    shortage = SpotShortage(spot)
    config, figures.demand = raised_demand(region.config)
    before = _group(asg, twin)["DesiredCapacity"], _instances(asg, spot)
    alive_before = _alive_addresses(region)
    region.on_step(f"shortage: {spot} launches nothing; raising demand ({figures.demand})...")
    with intercepting(region.runner.aws_endpoint, shortage.exchange):
        started = time.monotonic()

        def progress(apps, _elapsed) -> None:
            now = time.monotonic() - started
            if figures.spot_asked_s is None and shortage.asked:
                figures.spot_asked_s = now
            figures.failed_launches = len(shortage.activities)
            figures.twin_desired = _group(asg, twin)["DesiredCapacity"]
            if figures.fallback_s is None and figures.twin_desired > before[0]:
                figures.fallback_s = now
            joined = [n for n in region.runner.running() if n.group == twin and n.address in _alive_addresses(region)
                      and n.address not in alive_before]
            if figures.capacity_s is None and joined:
                figures.capacity_s = now
            states = ", ".join(f"{a.name} {a.status}" for a in apps)
            region.on_step(f"shortage: {now:.0f} s: {figures.failed_launches} failed spot launch(es); {twin} desired "
                           f"{figures.twin_desired}; {states}")

        try:
            deploy(region.dashboard, config, history=History.for_target(f"emulate-{region.cfg.env}-{region.region}"),
                   confirm_removal=lambda _names: True, on_progress=progress, timeout_s=SHORTAGE_TIMEOUT_S)
            progress([], 0)
            figures.replicas_running_s = time.monotonic() - started
        except DashboardError as err:  # its own Fix speaks of a real cluster's address and operatorCidrs
            raise RayfleetError(f"shortage: the emulated head's dashboard stopped answering while the raised config "
                                f"deployed ({str(err).split(' Fix:')[0].rstrip('.')}). Fix: run the emulation again on a less "
                                f"loaded machine; the head's Ray logs are under {region.run_dir}") from None
        except DeployError as err:
            figures.error = f"{err} ({stalled(region.runner.running(), 'the raised replica RUNNING', SHORTAGE_TIMEOUT_S)})"
        figures.spot_launched = len(_instances(asg, spot) - before[1])
    unlaunched = shortage.lifted()
    if unlaunched:  # spot capacity returns: the group launches what it could not
        asg.set_desired_capacity(AutoScalingGroupName=spot, DesiredCapacity=_group(asg, spot)["DesiredCapacity"]
                                 + unlaunched, HonorCooldown=False)
    return figures


def _markets(asg) -> tuple[str, str]:
    """The spot group and its on-demand twin of the region's first worker group with both (by their tags)."""
    by_type: dict[str, dict[str, str]] = {}
    for page in asg.get_paginator("describe_auto_scaling_groups").paginate():
        for group in page["AutoScalingGroups"]:
            tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
            if NODE_TYPE_KEY in tags and MARKET_KEY in tags:
                by_type.setdefault(tags[NODE_TYPE_KEY], {})[tags[MARKET_KEY]] = group["AutoScalingGroupName"]
    for node_type in sorted(by_type):
        markets = by_type[node_type]
        if Market.SPOT in markets and Market.ON_DEMAND in markets:
            return markets[Market.SPOT], markets[Market.ON_DEMAND]
    raise RayfleetError("the emulated region has no worker group with a spot group and an on-demand twin, so no "
                        "spot shortage can fall back. Fix: emulate an environment whose worker group has "
                        "spot.enabled: true (dev's)")


def _group(asg, name: str) -> dict:
    return asg.describe_auto_scaling_groups(AutoScalingGroupNames=[name])["AutoScalingGroups"][0]


def _instances(asg, name: str) -> set[str]:
    return {i["InstanceId"] for i in _group(asg, name)["Instances"]}


def _alive_addresses(region: BootedRegion) -> set[str]:
    try:
        return {n.get("node_ip", "") for n in region.dashboard.get_nodes()
                if n.get("state") == "ALIVE"}
    except RayfleetError:
        return set()
