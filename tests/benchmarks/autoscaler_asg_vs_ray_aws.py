"""Scale one node type 0 -> N -> 0 through rayfleet's AsgNodeProvider and Ray's own AWSNodeProvider.

    .venv/bin/python tests/benchmarks/autoscaler_asg_vs_ray_aws.py --nodes 100

Both providers run against the same moto server on 127.0.0.1 and are driven the way Ray's v1
autoscaler drives a provider: one `non_terminated_nodes` read per update, launches in batches of
`AUTOSCALER_MAX_LAUNCH_BATCH` (5) through `create_node`, one `terminate_nodes` for the idle nodes,
`post_process` at the end of the update, then reads until the change is visible. Every AWS API
call is counted with a botocore `before-call` hook on the session both providers use; wall time
includes moto's own work, the same for both.
"""

from __future__ import annotations

import argparse
import collections
import contextlib
import io
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

REGION = "us-east-1"
AMI = "ami-12c6146b"  # one of moto's built-in images


class CallCounter:
    def __init__(self):
        self.calls: collections.Counter[str] = collections.Counter()

    def __call__(self, model, **_):
        self.calls[f"{model.service_model.service_name}:{model.name}"] += 1

    def take(self) -> dict[str, int]:
        out, self.calls = dict(self.calls), collections.Counter()
        return out


def _launch_max_count(params, **_):
    params["MinCount"] = params.get("MaxCount", params.get("MinCount", 1))


def drive(provider, node_config: dict, tags: dict, nodes: int, counter: CallCounter, batch: int) -> dict:
    """0 -> nodes -> 0 through the NodeProvider interface; API calls and seconds per phase."""
    from ray.autoscaler.tags import NODE_KIND_WORKER, TAG_RAY_NODE_KIND

    def workers() -> list[str]:
        return provider.non_terminated_nodes({TAG_RAY_NODE_KIND: NODE_KIND_WORKER})

    phases = {}
    for phase in ("up", "down"):
        counter.take()
        start = time.perf_counter()
        updates = 1
        current = workers()
        if phase == "up":
            for offset in range(0, nodes, batch):
                provider.create_node(node_config, tags, min(batch, nodes - offset))
        else:
            provider.terminate_nodes(current)
        provider.post_process()
        target = nodes if phase == "up" else 0
        while len(workers()) != target:
            updates += 1
            if updates > 50:
                raise RuntimeError(f"{type(provider).__name__}: {phase} stuck at {len(workers())} of {target}")
        calls = counter.take()
        phases[phase] = {
            "seconds": round(time.perf_counter() - start, 2),
            "api_calls": sum(calls.values()),
            "by_operation": dict(sorted(calls.items())),
            "updates": updates,
        }
    return phases


def rayfleet_side(session, nodes: int, counter: CallCounter, batch: int) -> dict:
    from components.node_agents.node_provider import AsgNodeProvider
    from components.node_groups import ClusterNodes, NodeGroup, SpotPolicy, head_group
    from components.ray_cluster.autoscaler_config import provider_section
    from ray.autoscaler.tags import NODE_KIND_WORKER, TAG_RAY_NODE_KIND, TAG_RAY_USER_NODE_TYPE
    from tests.fakes.asg_cluster import create_asgs

    # The head and one spot group scaling 0..nodes, with its on-demand twin: the ASGs the component builds.
    cluster = "rayfleet-bench-us-east-1"
    cpu = NodeGroup("cpu", cluster, ("m6i.large",), 0, nodes, 0, 100, SpotPolicy())
    model = ClusterNodes(cluster, head_group(cluster, "m6i.large", 100), (cpu,))
    create_asgs(session, model, REGION)
    provider = AsgNodeProvider(
        provider_section(model, REGION),  # the provider config the head's autoscaler passes
        cluster,
        session=session,
        membership=lambda: None,  # Ray membership is not an AWS call; leave it out of the count
    )
    tags = {TAG_RAY_NODE_KIND: NODE_KIND_WORKER, TAG_RAY_USER_NODE_TYPE: cpu.name}
    return drive(provider, {}, tags, nodes, counter, batch)


def ray_aws_side(session, nodes: int, counter: CallCounter, batch: int) -> dict:
    from ray.autoscaler._private.aws.node_provider import AWSNodeProvider
    from ray.autoscaler.tags import (
        NODE_KIND_WORKER,
        STATUS_UNINITIALIZED,
        TAG_RAY_LAUNCH_CONFIG,
        TAG_RAY_NODE_KIND,
        TAG_RAY_NODE_NAME,
        TAG_RAY_NODE_STATUS,
        TAG_RAY_USER_NODE_TYPE,
    )

    ec2 = session.client("ec2")
    vpc = ec2.create_vpc(CidrBlock="10.50.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.50.0.0/20", AvailabilityZone=f"{REGION}a")["Subnet"]["SubnetId"]
    cluster = "ray-aws-bench"
    provider = AWSNodeProvider({"region": REGION, "cache_stopped_nodes": False, "use_internal_ips": True}, cluster)
    node_config = {"ImageId": AMI, "InstanceType": "m6i.large", "SubnetIds": [subnet]}
    tags = {
        TAG_RAY_NODE_KIND: NODE_KIND_WORKER,
        TAG_RAY_USER_NODE_TYPE: "cpu",
        TAG_RAY_NODE_NAME: f"ray-{cluster}-worker",
        TAG_RAY_NODE_STATUS: STATUS_UNINITIALIZED,
        TAG_RAY_LAUNCH_CONFIG: "bench",
    }
    return drive(provider, node_config, tags, nodes, counter, batch)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=100)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()

    import logging

    import boto3
    from moto.server import ThreadedMotoServer
    from ray.autoscaler._private.constants import AUTOSCALER_MAX_LAUNCH_BATCH

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's request log
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    os.environ.update(
        {"AWS_ENDPOINT_URL": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": REGION}
    )
    try:
        # Ray's provider builds its resources from boto3's default session: both sides share it.
        boto3.setup_default_session(region_name=REGION)
        session = boto3.DEFAULT_SESSION
        counter = CallCounter()
        session.events.register("before-call.*.*", counter)
        # AWS launches up to MaxCount when it has capacity; moto launches MinCount. Ray asks for
        # MinCount=1, MaxCount=batch: give it what AWS would, so Ray's side is not charged extra calls.
        session.events.register("before-parameter-build.ec2.RunInstances", _launch_max_count)
        # Ray's provider logs every launched instance to stdout; keep the table readable.
        with contextlib.redirect_stdout(io.StringIO()):
            results = {
                "rayfleet AsgNodeProvider": rayfleet_side(session, args.nodes, counter, AUTOSCALER_MAX_LAUNCH_BATCH),
                "ray AWSNodeProvider": ray_aws_side(session, args.nodes, counter, AUTOSCALER_MAX_LAUNCH_BATCH),
            }
    finally:
        server.stop()

    if args.json:
        print(json.dumps({"nodes": args.nodes, "results": results}, indent=2))
        return 0
    print(f"scale one node type 0 -> {args.nodes} -> 0 on moto_server ({host}:{port}), launch batch {AUTOSCALER_MAX_LAUNCH_BATCH}")
    print(f"{'provider':<28}{'up calls':>10}{'up s':>8}{'down calls':>12}{'down s':>8}{'total calls':>13}{'total s':>9}")
    for name, r in results.items():
        up, down = r["up"], r["down"]
        print(
            f"{name:<28}{up['api_calls']:>10}{up['seconds']:>8.2f}{down['api_calls']:>12}{down['seconds']:>8.2f}"
            f"{up['api_calls'] + down['api_calls']:>13}{up['seconds'] + down['seconds']:>9.2f}"
        )
    for name, r in results.items():
        for phase in ("up", "down"):
            ops = ", ".join(f"{op.split(':')[1]} {n}" for op, n in r[phase]["by_operation"].items())
            print(f"  {name} {phase}: {ops}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
