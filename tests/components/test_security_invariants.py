"""Security and tagging invariants over everything every environment creates, proven on the captured plan."""

from __future__ import annotations

import importlib
import inspect
import ipaddress
import json
from functools import lru_cache

import pytest

from components.contract import CLUSTER_KEY, COMPONENT_KEY, ENV_KEY, HEAD_NODE_TYPE, NODE_TYPE_KEY
from stacks.loader import load_environment
from tests.fakes.environments import ENVIRONMENTS

WORLD = {"0.0.0.0/0", "::/0"}
RULE_TYPES = (
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule",
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule",
)
POLICY_TYPES = ("aws:iam/rolePolicy:RolePolicy", "aws:iam/policy:Policy")


def _rules(plan):
    """Every security-group rule: standalone rule resources and rules inline in security groups."""
    for rule in (r for t in RULE_TYPES for r in plan.of_type(t)):
        yield rule.name, rule.inputs
    for group in plan.of_type("aws:ec2/securityGroup:SecurityGroup"):
        for direction in ("ingress", "egress"):
            for inline in group.inputs.get(direction) or []:
                for cidr in inline.get("cidrBlocks", []) + inline.get("ipv6CidrBlocks", []):
                    yield group.name, {
                        "ipProtocol": inline["protocol"],
                        "fromPort": inline["fromPort"],
                        "toPort": inline["toPort"],
                        "cidrIpv4": cidr,
                    }


def _covers(inputs, port: int) -> bool:
    if str(inputs.get("ipProtocol")) in ("-1", "all"):
        return True
    return inputs.get("fromPort", 0) <= port <= inputs.get("toPort", 65535)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_security_group_opens_ssh(plans, env):
    for name, inputs in _rules(plans(env)):
        referenced = inputs.get("referencedSecurityGroupId")
        # Traffic among the cluster's own nodes is all-protocol by design; nothing else may reach 22.
        if referenced and str(inputs.get("ipProtocol")) == "-1":
            continue
        assert not _covers(inputs, 22), name


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_http_and_https_are_open_to_the_world(plans, env):
    opened = 0
    for name, inputs in _rules(plans(env)):
        cidr = inputs.get("cidrIpv4") or inputs.get("cidrIpv6")
        if cidr in WORLD:
            opened += 1
            assert str(inputs["ipProtocol"]) == "tcp", name
            assert inputs["fromPort"] == inputs["toPort"] and inputs["fromPort"] in (80, 443), name
    assert opened > 0  # the nodes' outbound HTTPS is such a rule: the check did look


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_dashboard_is_reachable_only_from_operator_cidrs(plans, env):
    cfg = load_environment(env)
    plan = plans(env)
    for region in cfg.region_names:
        rules = [
            r.inputs
            for r in plan.of_type(RULE_TYPES[0], region)
            if _covers(r.inputs, 8265) and "cidrIpv4" in r.inputs
        ]
        assert sorted(r["cidrIpv4"] for r in rules) == sorted(str(c) for c in cfg.cluster.operator_cidrs)
        assert all(not ipaddress.ip_network(r["cidrIpv4"]).is_global for r in rules)


def test_dashboard_is_closed_by_default(plans):
    assert load_environment("dev").cluster.operator_cidrs == []
    plan = plans("dev")
    nodes = plan.outputs["regions"]["us-west-2"]["nodeSecurityGroupId"]
    on_nodes = [r for r in plan.of_type(RULE_TYPES[0]) if r.inputs["securityGroupId"] == nodes]
    assert on_nodes and not [r for r in on_nodes if "cidrIpv4" in r.inputs]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_iam_statement_grants_a_wildcard_action_on_every_resource(plans, env):
    plan = plans(env)
    statements = [
        s for p in (r for t in POLICY_TYPES for r in plan.of_type(t)) for s in json.loads(p.inputs["policy"])["Statement"]
    ]
    assert statements
    for statement in statements:
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        if statement["Effect"] == "Allow" and "*" in resources:
            assert not [a for a in actions if "*" in a], statement


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_no_aws_managed_policy_is_attached(plans, env):
    """Managed policies grant more than the code calls (AmazonSSMManagedInstanceCore: ssm:GetParameter on *)."""
    plan = plans(env)
    assert plan.of_type("aws:iam/role:Role")
    assert not plan.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert not plan.of_type("aws:iam/policyAttachment:PolicyAttachment")
    for role in plan.of_type("aws:iam/role:Role"):
        assert not role.inputs.get("managedPolicyArns"), role.name


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_redis_admits_only_the_head_security_group(plans, env):
    """Only the head talks to the GCS store; workers run user code and never reach Redis."""
    plan = plans(env)
    cfg = load_environment(env)
    checked = 0
    for region in cfg.region_names:
        stores = plan.of_type("aws:elasticache/replicationGroup:ReplicationGroup", region)
        groups = {g.name: g for g in plan.of_type("aws:ec2/securityGroup:SecurityGroup", region)}
        if not cfg.cluster.head_fault_tolerance:
            assert not stores
            continue
        (store,) = stores
        (redis_id,) = store.inputs["securityGroupIds"]
        (head,) = [g for name, g in groups.items() if name.endswith("-head")]
        into_redis = [r.inputs for r in plan.of_type(RULE_TYPES[0], region) if r.inputs["securityGroupId"] == redis_id]
        assert [(r["referencedSecurityGroupId"], r["fromPort"], r["toPort"]) for r in into_redis] == [
            (head.id, 6379, 6379)
        ]
        assert not [r for r in into_redis if "cidrIpv4" in r]
        to_redis = [r.inputs for r in plan.of_type(RULE_TYPES[1], region) if r.inputs.get("referencedSecurityGroupId") == redis_id]
        assert [r["securityGroupId"] for r in to_redis] == [head.id]
        templates = plan.of_type("aws:ec2/launchTemplate:LaunchTemplate", region)
        for template in templates:
            carries_head = head.id in template.inputs["vpcSecurityGroupIds"]
            assert carries_head == (template.inputs["tagSpecifications"][0]["tags"][NODE_TYPE_KEY] == HEAD_NODE_TYPE)
        checked += 1
    assert checked or not cfg.cluster.head_fault_tolerance


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_launch_template_requires_imdsv2_and_encrypts_every_volume(plans, env):
    templates = plans(env).of_type("aws:ec2/launchTemplate:LaunchTemplate")
    cfg = load_environment(env)
    assert len(templates) == len(cfg.regions) * (1 + len(cfg.cluster.worker_groups))
    for template in templates:
        metadata = template.inputs["metadataOptions"]
        assert metadata["httpTokens"] == "required" and metadata["httpEndpoint"] == "enabled"
        assert metadata["httpPutResponseHopLimit"] == 1
        mappings = template.inputs["blockDeviceMappings"]
        assert mappings
        for mapping in mappings:
            assert mapping["ebs"]["encrypted"] == "true", template.name


@lru_cache(maxsize=None)
def _takes_tags(type_token: str) -> bool:
    """Whether the pulumi_aws class behind a type token accepts a `tags` argument."""
    if not type_token.startswith("aws:"):
        return False
    _, module, class_name = type_token.split(":")
    package = module.split("/")[0]
    resource_module = importlib.import_module("pulumi_aws" if package == "index" else f"pulumi_aws.{package}")
    return "tags" in inspect.signature(getattr(resource_module, class_name)._internal_init).parameters


def _tag_map(tags) -> dict[str, str]:
    if isinstance(tags, list):  # Auto Scaling Groups: [{key, value, propagateAtLaunch}]
        assert all(t["propagateAtLaunch"] is True for t in tags)
        return {t["key"]: t["value"] for t in tags}
    return tags


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_taggable_resource_carries_rayfleet_and_cost_tags(plans, env):
    cfg = load_environment(env)
    walked = 0
    for resource in plans(env).resources:
        if not _takes_tags(resource.type):
            continue
        walked += 1
        assert "tags" in resource.inputs, f"{resource.name} ({resource.type}) has no tags"
        tags = _tag_map(resource.inputs["tags"])
        assert tags[ENV_KEY] == env, resource.name
        # Account-wide resources (region `global`) belong to one region's cluster, e.g. its health check.
        clusters = (
            [cfg.cluster_id(r) for r in cfg.region_names]
            if resource.region == "global"
            else [cfg.cluster_id(resource.region)]
        )
        assert tags[CLUSTER_KEY] in clusters, resource.name
        assert tags[COMPONENT_KEY] == resource.component, resource.name
        assert {k: tags.get(k) for k in cfg.cost.tags} == cfg.cost.tags, resource.name
    assert walked >= 25  # dev, the smallest environment, has 31 taggable resources


def test_tag_walk_recognises_taggable_and_untaggable_types():
    assert _takes_tags("aws:autoscaling/group:Group")
    assert _takes_tags("aws:ec2/launchTemplate:LaunchTemplate")
    assert not _takes_tags("aws:iam/rolePolicy:RolePolicy")
    assert not _takes_tags("aws:s3/bucketVersioning:BucketVersioning")
    assert not _takes_tags("pulumi:providers:aws")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_launch_templates_tag_instances_and_volumes(plans, env):
    cfg = load_environment(env)
    for template in plans(env).of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        for spec in template.inputs["tagSpecifications"]:
            tags = spec["tags"]
            assert tags[CLUSTER_KEY] == cfg.cluster_id(template.region)
            assert tags[NODE_TYPE_KEY] in {HEAD_NODE_TYPE} | {g.name for g in cfg.cluster.worker_groups}
            assert {k: tags.get(k) for k in cfg.cost.tags} == cfg.cost.tags


def _overlaps(inputs, first: int, last: int) -> bool:
    if str(inputs.get("ipProtocol")) in ("-1", "all"):
        return True
    return inputs.get("fromPort", 0) <= last and first <= inputs.get("toPort", 65535)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_serve_ingress_ports_are_reachable_from_the_clusters_own_nodes_only(plans, env):
    """HAProxy on any node forwards to ingress replicas on every node (the direct-ingress ranges), and its
    stats and Prometheus listeners bind every interface: only the cluster's own node group may reach them."""
    from components.serve_runtime import (
        DIRECT_INGRESS_GRPC_PORTS, DIRECT_INGRESS_HTTP_PORTS, HAPROXY_METRICS_PORT, HAPROXY_STATS_PORT,
    )

    ranges = [(r.first, r.last) for r in (DIRECT_INGRESS_HTTP_PORTS, DIRECT_INGRESS_GRPC_PORTS)]
    ranges += [(HAPROXY_STATS_PORT, HAPROXY_STATS_PORT), (HAPROXY_METRICS_PORT, HAPROXY_METRICS_PORT)]
    plan = plans(env)
    for region in load_environment(env).region_names:
        reaching = [r for r in plan.of_type(RULE_TYPES[0], region) if any(_overlaps(r.inputs, *span) for span in ranges)]
        assert reaching, f"{region}: no rule lets the cluster's nodes reach one another's ingress ports"
        for rule in reaching:
            # Self-referencing: the node group admits the node group, and nobody else.
            assert rule.inputs.get("referencedSecurityGroupId") == rule.inputs["securityGroupId"], rule.name
            assert "cidrIpv4" not in rule.inputs and "cidrIpv6" not in rule.inputs, rule.name
