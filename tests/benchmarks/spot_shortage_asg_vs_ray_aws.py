"""A spot shortage under Ray's own autoscaler loop: rayfleet's AsgNodeProvider against Ray's AWSNodeProvider.

    .venv/bin/python tests/benchmarks/spot_shortage_asg_vs_ray_aws.py --workers 20 --updates 36

Both sides run Ray's v1 `StandardAutoscaler.update` on in-process moto, one update per 5 s of
simulated time (Ray's `AUTOSCALER_UPDATE_INTERVAL_S`), with waiting tasks for `--workers` workers
of 2 CPUs and busy workers. Spot has no capacity at all for the whole run:

- rayfleet: one worker group (`minWorkers` 2) as the Ray cluster component builds it, a spot ASG
  and its on-demand twin; the spot pool holds nothing (`tests.fakes.asg_cluster.SpotCapacityLimit`,
  which reports the failed launch in the ASG's activities as AWS does), so the cluster starts short.
- Ray: two node types, `cpu_spot` (`InstanceMarketOptions: spot`) and `cpu_on_demand`
  (`min_workers` 2), same resources; every spot `RunInstances` fails with
  InsufficientInstanceCapacity, as EC2 answers it.

Reported: workers each side runs after each simulated interval, when it first reached the demand,
and the AWS API calls of the whole run (the benchmark reads the autoscaler's own node list, never
the provider, so every call is the autoscaler's).
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import copy
import io
import json
import logging
import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

REGION = "us-east-1"
AMI = "ami-12c6146b"  # one of moto's built-in images
UPDATE_SECONDS = 5
WORKER = {"CPU": 2}


class Clock:
    def __init__(self):
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def _count(counter: collections.Counter):
    def hook(model, **_):
        counter[f"{model.service_model.service_name}:{model.name}"] += 1

    return hook


def _run(autoscaler, load, workers_of, ips_of, demand: int, updates: int, clock: Clock) -> list[int]:
    """`updates` autoscaler updates with busy workers and tasks waiting for the missing ones."""
    seen = []
    for _ in range(updates):
        clock.now += UPDATE_SECONDS
        workers = workers_of()
        waiting = [dict(WORKER)] * max(0, demand - len(workers))
        for node_id, ip in ips_of():
            load.update(ip, node_id.encode(), dict(WORKER), {"CPU": 0.0}, 0, waiting_bundles=waiting)
        autoscaler.update()
        seen.append(len(workers_of()))
    return seen


def rayfleet_side(demand: int, updates: int, counter: collections.Counter) -> list[int]:
    import boto3
    from ray.autoscaler._private.autoscaler import StandardAutoscaler
    from ray.autoscaler._private.load_metrics import LoadMetrics
    from ray.autoscaler._private.providers import _clear_provider_cache

    import components.node_agents.node_provider as node_provider
    from components.contract import Market
    from components.node_groups import ClusterNodes, NodeGroup, SpotPolicy, head_group
    from components.ray_cluster.autoscaler_config import Scaling, autoscaler_config
    from tests.fakes.asg_cluster import SpotCapacityLimit, create_asgs

    cluster = "rayfleet-bench-us-east-1"
    cpu = NodeGroup("cpu", cluster, ("m6i.large",), 2, demand, 2, 100, SpotPolicy())
    model = ClusterNodes(cluster, head_group(cluster, "m6i.large", 100), (cpu,))
    names = create_asgs(boto3.session.Session(region_name=REGION), model, REGION)
    config = autoscaler_config(model, REGION, Scaling())
    config["available_node_types"]["cpu"]["resources"] = dict(WORKER)
    joined: set[str] = set()
    node_provider.GcsMembership.__call__ = lambda self: set(joined)
    _clear_provider_cache()
    load, clock = LoadMetrics(), Clock()
    autoscaler = StandardAutoscaler(lambda: copy.deepcopy(config), load, _NoGcs(), update_interval_s=0)
    provider = autoscaler.provider
    provider.clock = clock
    provider.asg.meta.events.register("before-call.*.*", _count(counter))
    provider.ec2.meta.events.register("before-call.*.*", _count(counter))
    SpotCapacityLimit(provider.asg, names["cpu"][Market.SPOT], 0)

    def workers():
        nodes = getattr(autoscaler, "non_terminated_nodes", None)  # set by the first update
        return list(nodes.worker_ids) if nodes else []

    def ips():
        pairs = [(n, provider.internal_ip(n)) for n in workers()]
        joined.update(ip for _, ip in pairs if ip)
        return [(n, ip) for n, ip in pairs if ip]

    return _run(autoscaler, load, workers, ips, demand, updates, clock)


def ray_aws_side(demand: int, updates: int, counter: collections.Counter) -> list[int]:
    import boto3
    from botocore.awsrequest import AWSResponse
    from ray.autoscaler._private.autoscaler import StandardAutoscaler
    from ray.autoscaler._private.load_metrics import LoadMetrics
    from ray.autoscaler._private.providers import _clear_provider_cache
    from ray.autoscaler.tags import NODE_KIND_HEAD, STATUS_UP_TO_DATE, TAG_RAY_LAUNCH_CONFIG
    from ray.autoscaler.tags import TAG_RAY_NODE_KIND, TAG_RAY_NODE_NAME, TAG_RAY_NODE_STATUS, TAG_RAY_USER_NODE_TYPE

    from components.ray_cluster.autoscaler_config import UNUSED_LAUNCHER_FIELDS

    boto3.setup_default_session(region_name=REGION)
    session = boto3.DEFAULT_SESSION

    def no_spot(model, params, **_):
        if model.name == "RunInstances" and params.get("body", {}).get("InstanceMarketOptions.MarketType") == "spot":
            return AWSResponse("https://ec2.local/", 500, {}, None), {
                "Error": {"Code": "InsufficientInstanceCapacity", "Message": "There is no Spot capacity available that matches your request."},
                "ResponseMetadata": {"HTTPStatusCode": 500},
            }
        return None

    session.events.register("before-call.ec2.RunInstances", no_spot)
    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.0.0/20", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    node = {"ImageId": AMI, "InstanceType": "m6i.large", "SubnetIds": [subnet]}
    session.events.register("before-call.*.*", _count(counter))  # the network is set-up, not scaling
    cluster = "ray-aws-bench"
    config = {
        "cluster_name": cluster,
        "max_workers": 2 * demand,
        "upscaling_speed": 1.0,
        "idle_timeout_minutes": 5,
        "provider": {"type": "aws", "region": REGION, "cache_stopped_nodes": False, "use_internal_ips": True,
                     "disable_node_updaters": True, "disable_launch_config_check": True},
        "auth": {"ssh_user": "ubuntu"},
        "head_node_type": "head",
        "available_node_types": {
            "head": {"resources": {"CPU": 0}, "node_config": node, "min_workers": 0, "max_workers": 0},
            "cpu_spot": {"resources": dict(WORKER), "node_config": {**node, "InstanceMarketOptions": {"MarketType": "spot"}},
                         "min_workers": 0, "max_workers": demand},
            "cpu_on_demand": {"resources": dict(WORKER), "node_config": node, "min_workers": 2, "max_workers": demand},
        },
        **UNUSED_LAUNCHER_FIELDS,
    }
    _clear_provider_cache()
    load, clock = LoadMetrics(), Clock()
    autoscaler = StandardAutoscaler(lambda: copy.deepcopy(config), load, _NoGcs(), update_interval_s=0)
    provider = autoscaler.provider
    provider.create_node(node, {TAG_RAY_NODE_KIND: NODE_KIND_HEAD, TAG_RAY_USER_NODE_TYPE: "head",
                                TAG_RAY_NODE_NAME: "head", TAG_RAY_NODE_STATUS: STATUS_UP_TO_DATE,
                                TAG_RAY_LAUNCH_CONFIG: "bench"}, 1)

    def workers():
        nodes = getattr(autoscaler, "non_terminated_nodes", None)  # set by the first update
        return list(nodes.worker_ids) if nodes else []

    def ips():
        return [(n, provider.internal_ip(n)) for n in workers()]

    return _run(autoscaler, load, workers, ips, demand, updates, clock)


class _NoGcs:
    def drain_nodes(self, node_ids, timeout=None):
        return list(node_ids)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=20)
    parser.add_argument("--updates", type=int, default=36)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    from moto import mock_aws

    logging.disable(logging.CRITICAL)  # both autoscalers log every update
    os.environ.update({"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION})
    os.environ.pop("AWS_ENDPOINT_URL", None)
    results = {}
    for name, side in (("rayfleet AsgNodeProvider", rayfleet_side), ("ray AWSNodeProvider", ray_aws_side)):
        counter: collections.Counter = collections.Counter()
        # Ray's provider prints each failed launch: keep the table readable.
        with mock_aws(), contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(io.StringIO()):
            seen = side(args.workers, args.updates, counter)
        reached = next((i + 1 for i, n in enumerate(seen) if n >= args.workers), None)
        results[name] = {
            "workers": seen,
            "reached_seconds": reached * UPDATE_SECONDS if reached else None,
            "api_calls": sum(counter.values()),
            "by_operation": dict(sorted(counter.items())),
        }
    if args.json:
        print(json.dumps({"demand": args.workers, "update_seconds": UPDATE_SECONDS, "results": results}, indent=2))
        return 0
    marks = [m for m in (1, 2, 4, 6, 12, args.updates) if m <= args.updates]
    print(f"spot has no capacity; tasks waiting for {args.workers} workers; one update every {UPDATE_SECONDS} s (simulated)")
    header = "".join(f"{f'{m * UPDATE_SECONDS} s':>8}" for m in marks)
    print(f"{'workers Ray sees at':<28}{header}{'reached':>10}{'API calls':>11}")
    for name, r in results.items():
        cells = "".join(f"{r['workers'][m - 1]:>8}" for m in marks)
        reached = f"{r['reached_seconds']} s" if r["reached_seconds"] else "never"
        print(f"{name:<28}{cells}{reached:>10}{r['api_calls']:>11}")
    for name, r in results.items():
        print(f"  {name}: " + ", ".join(f"{op.split(':')[1]} {n}" for op, n in r["by_operation"].items()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
