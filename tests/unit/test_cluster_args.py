"""The Ray cluster's typed args, built from the config: what the component reads instead of the config."""

from __future__ import annotations

import ipaddress
from types import SimpleNamespace

import pytest
from pydantic import ValidationError

from components.contract import HEAD_NODE_TYPE
from components.ray_cluster.args import GcsRedis, NodeImage
from components.ray_cluster.autoscaler_config import Scaling
from stacks.cluster_args import ray_cluster_args
from stacks.loader import load_environment, load_file
from stacks.program import region_tags
from tests.fakes.environments import stack_config, write_stack

UBUNTU = "/aws/service/canonical/ubuntu/server/24.04/stable/current/amd64/hvm/ebs-gp3/ami-id"
NETWORK = SimpleNamespace(vpc_id="vpc-1", private_subnet_ids=["subnet-1", "subnet-2"])
ARTIFACTS = SimpleNamespace(
    bucket_name="bucket", bucket_arn="arn:aws:s3:::bucket", node_agent_key="node-agent/a.zip", node_agent=None
)


def _args(cfg, region: str):
    return ray_cluster_args(cfg, region, region_tags(cfg, region), NETWORK, ARTIFACTS)


def test_prod_args_carry_its_cluster_settings():
    cfg = load_environment("prod")
    args = _args(cfg, "us-west-2")
    assert args.nodes.cluster_id == args.tags.cluster == "rayfleet-prod-us-west-2"
    assert [g.name for g in args.nodes.workers] == ["cpu", "gpu"]
    assert (args.ray_version, args.scaling) == ("2.60.0", Scaling(upscaling_speed=1.0, idle_timeout_minutes=5))
    assert args.gcs_redis == GcsRedis(node_type="cache.t4g.medium", replicas=1) and args.head_fault_tolerance
    assert args.operator_cidrs == [ipaddress.IPv4Network("10.100.0.0/16")]
    assert args.images == {name: NodeImage(ssm_parameter=UBUNTU) for name in (HEAD_NODE_TYPE, "cpu", "gpu")}


def test_without_head_fault_tolerance_there_is_no_gcs_redis():
    args = _args(load_environment("dev"), "us-west-2")
    assert args.gcs_redis is None and not args.head_fault_tolerance


def test_a_groups_own_image_wins_and_an_ami_wins_over_the_ssm_parameter(tmp_path):
    config = stack_config("dev")
    config["rayfleet:cluster"]["workerGroups"][0]["image"] = {"ami": "ami-0123456789abcdef0"}
    args = _args(load_file(write_stack(tmp_path, config)), "us-west-2")
    assert args.images == {HEAD_NODE_TYPE: NodeImage(ssm_parameter=UBUNTU), "cpu": NodeImage(ami="ami-0123456789abcdef0")}


def test_every_node_type_needs_an_image():
    args = _args(load_environment("dev"), "us-west-2")
    with pytest.raises(ValidationError, match=r"images \(head\) must name every node type \(head, cpu\)"):
        type(args)(**{**dict(args), "images": {HEAD_NODE_TYPE: NodeImage(ssm_parameter=UBUNTU)}})


def test_an_image_is_an_ami_or_an_ssm_parameter_not_both():
    with pytest.raises(ValidationError, match="exactly one"):
        NodeImage(ami="ami-0123456789abcdef0", ssm_parameter=UBUNTU)


def test_the_clusters_log_retention_comes_from_the_config_default_30_days(tmp_path):
    assert _args(load_environment("dev"), "us-west-2").log_retention_days == 30
    config = stack_config("dev")
    config["rayfleet:observability"] = {"logRetentionDays": 90}
    assert _args(load_file(write_stack(tmp_path, config)), "us-west-2").log_retention_days == 90
