"""Emulated nodes: an instance moto launches runs its user data in namespaces of its own, and stops when terminated."""

from __future__ import annotations

import base64
import time

import boto3
import pytest

from components.contract import NODE_TYPE_KEY
from components.drills.emulate.control_plane import ControlPlane
from components.drills.emulate.moto_server import moto_server
from components.drills.emulate.network import namespace_pids, region_network
from components.drills.emulate.nodes import node_runner
from tests.fakes.emulated_nodes import left_behind, needs_root, run_links

# A moto_server process and a node in network and mount namespaces.
pytestmark = [pytest.mark.slow, needs_root]

REGION = "us-west-2"
USER_DATA = """#!/bin/bash
set -euo pipefail
echo "rayfleet boot step: ask IMDS" >> /var/log/rayfleet-boot.log
token=$(curl -sf -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' http://169.254.169.254/latest/api/token)
curl -sf -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/local-ipv4 > /var/log/imds-ip
hostname -I > /var/log/own-ip
touch /tmp/written-in-the-nodes-tmp /etc/written-in-the-nodes-etc
exec sleep 600
"""


def _wait(condition, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while not (found := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.2)
    return found


def test_a_launched_instance_runs_as_a_node_and_terminating_it_stops_the_node(tmp_path):
    with moto_server() as server:
        args = server.client_args(REGION)
        ec2, autoscaling = boto3.client("ec2", **args), boto3.client("autoscaling", **args)
        vpc = ec2.create_vpc(CidrBlock="10.77.0.0/16")["Vpc"]["VpcId"]
        subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.77.16.0/20", AvailabilityZone="us-west-2a")["Subnet"]["SubnetId"]
        template = ec2.create_launch_template(LaunchTemplateName="node", LaunchTemplateData={
            "ImageId": "ami-12345678", "InstanceType": "m6i.large",
            "UserData": base64.b64encode(USER_DATA.encode()).decode()})["LaunchTemplate"]["LaunchTemplateId"]
        autoscaling.create_auto_scaling_group(AutoScalingGroupName="rayfleet-test-us-west-2-cpu", MinSize=0, MaxSize=1,
                                              DesiredCapacity=1, VPCZoneIdentifier=subnet,
                                              LaunchTemplate={"LaunchTemplateId": template, "Version": "1"},
                                              # the runner runs the groups the node provider would find: by this tag
                                              Tags=[{"Key": NODE_TYPE_KEY, "Value": "cpu", "PropagateAtLaunch": True,
                                                     "ResourceId": "rayfleet-test-us-west-2-cpu",
                                                     "ResourceType": "auto-scaling-group"}])
        with region_network("10.77.0.0/16") as net, \
                node_runner(server, ControlPlane(REGION, server.endpoint), net, tmp_path, server.endpoint) as runner:
            node = _wait(lambda: next(iter(runner.nodes.values()), None), 30, "no node started")
            logs = node.directory / "layers" / "var.up" / "log"
            _wait(lambda: (logs / "own-ip").exists(), 60, f"the user data did not run: {node.log_text()}")
            assert (logs / "imds-ip").read_text() == node.address          # IMDS local-ipv4: the instance's IP
            assert (logs / "own-ip").read_text().split() == [node.address]  # ... which is the node's own address
            assert node.steps() == ["ask IMDS"]
            assert (node.directory / "tmp" / "written-in-the-nodes-tmp").exists()
            assert (node.directory / "layers" / "etc.up" / "written-in-the-nodes-etc").exists()
            assert namespace_pids(node.namespace)

            autoscaling.terminate_instance_in_auto_scaling_group(InstanceId=node.instance_id,
                                                                 ShouldDecrementDesiredCapacity=True)
            _wait(lambda: node.instance_id in runner.stopped, 30, "terminating the instance did not stop its node")
            assert namespace_pids(node.namespace) == []
            assert node.process.poll() is not None
        assert run_links(net.run) == {"namespaces": [], "links": []}
    assert left_behind(tmp_path) == {"processes": [], "mounts": []}
