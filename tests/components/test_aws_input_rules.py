"""AWS's input rules that Pulumi's mocks accept silently, checked on every planned resource of every environment.

A mock answers any description, name or tag set; AWS answers InvalidParameterValue
at `pulumi up`. The rules live in one table, `RULES`: resource type → field →
the rules that field obeys, each rule citing the AWS (or provider) text it comes
from. A new resource type is one row.

    violations(resource)  # ['prod aws:ec2/securityGroup:SecurityGroup cluster-...-nodes: description = ...']

A field path reads `ingress[].description` (every entry of a list) and
`tagSpecifications[].tags` (a tag map inside each entry).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from stacks.plan import PlannedResource
from tests.fakes.environments import ENVIRONMENTS

EC2_SG_DOC = (
    "EC2 API CreateSecurityGroup GroupDescription / IpRange, UserIdGroupPair Description: "
    "a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*, up to 255 characters"
)
ELB_NAME_DOC = "ELBv2 CreateLoadBalancer / CreateTargetGroup Name: at most 32 characters"
ELB_PREFIX_DOC = "pulumi_aws lb.LoadBalancer / lb.TargetGroup name_prefix: cannot be longer than 6 characters"
IAM_NAME_DOC = "IAM CreateRole RoleName: 1-64 characters"
IAM_PREFIX_DOC = "terraform-provider-aws iam/role.go: roleNamePrefixMaxLen = 64 - UniqueIDSuffixLength (26) = 38"
S3_NAME_DOC = "S3 general purpose bucket naming rules: 3-63 characters, lowercase letters, digits, dots and hyphens"
S3_PREFIX_DOC = "pulumi_aws s3.Bucket bucket_prefix: lowercase, at most 37 characters"
ELASTICACHE_ID_DOC = (
    "ElastiCache CreateReplicationGroup ReplicationGroupId: 1-40 alphanumeric characters or hyphens, "
    "first a letter, no trailing or doubled hyphen; stored lowercase"
)
TAG_DOC = "AWS tagging restrictions: at most 50 user tags per resource, key 128 and value 256 characters"

#: Pulumi names a resource without an explicit name `<logical name>-<7 hex digits>`, and refuses
#: (at preview) a name that would exceed the provider's maximum.
AUTONAME_SUFFIX = "-" + "0" * 7


@dataclass(frozen=True)
class Rule:
    text: str
    source: str
    holds: Callable[[Any], bool]


def at_most(limit: int, source: str) -> Rule:
    return Rule(f"at most {limit} characters", source, lambda v: len(v) <= limit)


SG_DESCRIPTION = (
    Rule(
        "only a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*",
        EC2_SG_DOC,
        lambda v: re.fullmatch(r"[a-zA-Z0-9. _\-:/()#,@\[\]+=&;{}!$*]*", v) is not None,
    ),
    at_most(255, EC2_SG_DOC),
)
def lowercase(source: str) -> Rule:
    return Rule("lowercase", source, lambda v: v == v.lower())


ELASTICACHE_ID = (
    at_most(40, ELASTICACHE_ID_DOC),
    lowercase(ELASTICACHE_ID_DOC),
    Rule(
        "only letters, digits and hyphens",
        ELASTICACHE_ID_DOC,
        lambda v: re.fullmatch(r"[A-Za-z0-9-]+", v) is not None,
    ),
    Rule("starts with a letter", ELASTICACHE_ID_DOC, lambda v: v[:1].isalpha()),
    Rule("no '--'", ELASTICACHE_ID_DOC, lambda v: "--" not in v),
    Rule("does not end with '-'", ELASTICACHE_ID_DOC, lambda v: not v.endswith("-")),
)
TAG_SET = (
    Rule("at most 50 tags", TAG_DOC, lambda tags: len([k for k in tags if not k.lower().startswith("aws:")]) <= 50),
    Rule("every key at most 128 characters", TAG_DOC, lambda tags: all(len(k) <= 128 for k in tags)),
    Rule("every value at most 256 characters", TAG_DOC, lambda tags: all(len(str(v)) <= 256 for v in tags.values())),
)


@dataclass(frozen=True)
class Row:
    """The rules of one resource type: by field path, and the name field Pulumi fills when none is given."""

    fields: dict[str, tuple[Rule, ...]]
    #: (name field, its prefix field): when both are absent, Pulumi's auto-name must obey the name's rules.
    autonamed: tuple[str, str] | None = None


SG_RULE_ROW = Row({"description": SG_DESCRIPTION})
ELB_ROW = Row(
    {"name": (at_most(32, ELB_NAME_DOC),), "namePrefix": (at_most(6, ELB_PREFIX_DOC),)}, ("name", "namePrefix")
)
S3_ROW = Row(
    {
        "bucket": (at_most(63, S3_NAME_DOC), lowercase(S3_NAME_DOC)),
        "bucketPrefix": (at_most(37, S3_PREFIX_DOC), lowercase(S3_PREFIX_DOC)),
    },
    ("bucket", "bucketPrefix"),
)

RULES: dict[str, Row] = {
    "aws:ec2/securityGroup:SecurityGroup": Row(
        {"description": SG_DESCRIPTION, "ingress[].description": SG_DESCRIPTION, "egress[].description": SG_DESCRIPTION}
    ),
    "aws:ec2/securityGroupRule:SecurityGroupRule": SG_RULE_ROW,
    "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule": SG_RULE_ROW,
    "aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule": SG_RULE_ROW,
    "aws:lb/loadBalancer:LoadBalancer": ELB_ROW,
    "aws:lb/targetGroup:TargetGroup": ELB_ROW,
    "aws:iam/role:Role": Row(
        {"name": (at_most(64, IAM_NAME_DOC),), "namePrefix": (at_most(38, IAM_PREFIX_DOC),)}, ("name", "namePrefix")
    ),
    "aws:s3/bucket:Bucket": S3_ROW,
    "aws:s3/bucketV2:BucketV2": S3_ROW,
    "aws:elasticache/replicationGroup:ReplicationGroup": Row(
        {"replicationGroupId": ELASTICACHE_ID}, ("replicationGroupId", "replicationGroupId")
    ),
}
#: Every resource's tag sets, whatever its type: maps, the ASG's list of {key, value}, launch-template specs.
TAG_FIELDS = ("tags", "tagsAll", "tagSpecifications[].tags")


def _values(value: Any, path: list[str], label: str) -> Iterator[tuple[str, Any]]:
    """(field label, value) for every value at `path`, one per entry where the path crosses a list (`x[]`)."""
    if not path:
        if value is not None:
            yield label, value
        return
    head, rest = path[0], path[1:]
    if not isinstance(value, dict) or head.removesuffix("[]") not in value:
        return
    key = head.removesuffix("[]")
    child = value[key]
    where = f"{label}.{key}" if label else key
    if head.endswith("[]"):
        for index, entry in enumerate(child or []):
            yield from _values(entry, rest, f"{where}[{index}]")
    else:
        yield from _values(child, rest, where)


def _tag_map(tags: Any) -> dict[str, Any]:
    """An ASG's `tags` is a list of {key, value, propagateAtLaunch}; every other tag set is a map."""
    if isinstance(tags, list):
        return {t["key"]: t.get("value", "") for t in tags}
    return dict(tags)


def _checked_fields(resource: PlannedResource) -> Iterator[tuple[str, Any, tuple[Rule, ...]]]:
    row = RULES.get(resource.type)
    if row is not None:
        for path, rules in row.fields.items():
            for label, value in _values(resource.inputs, path.split("."), ""):
                yield label, value, rules
        name, prefix = row.autonamed or (None, None)
        if name and name not in resource.inputs and prefix not in resource.inputs:
            yield f"{name} (Pulumi's auto-name)", resource.name + AUTONAME_SUFFIX, row.fields[name]
    for path in TAG_FIELDS:
        for label, tags in _values(resource.inputs, path.split("."), ""):
            yield label, _tag_map(tags), TAG_SET


def violations(resource: PlannedResource, env: str = "test") -> list[str]:
    """One line per broken rule: the resource, the field, its value, the rule and where AWS states it."""
    return [
        f"{env} {resource.type} {resource.name}: {label} = {value!r} breaks '{rule.text}' ({rule.source})"
        for label, value, rules in _checked_fields(resource)
        for rule in rules
        if not rule.holds(value)
    ]


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_planned_resource_obeys_aws_input_rules(plans, env):
    broken = [line for resource in plans(env).resources for line in violations(resource, env)]
    assert not broken, "\n".join(broken)


def test_the_walk_reaches_descriptions_names_and_tag_sets(plans):
    # The walk proves nothing if the fields it reads are not where the program puts them.
    checked = {label.split("[")[0] for r in plans("prod").resources for label, _, _ in _checked_fields(r)}
    assert {
        "description",
        "name (Pulumi's auto-name)",
        "namePrefix",
        "bucketPrefix",
        "replicationGroupId",
        "tags",
        "tagSpecifications",
    } <= checked


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_security_group_type_the_program_creates_has_a_row(plans, env):
    # A new kind of rule resource with no row would carry its description past the check unseen.
    types = {r.type for r in plans(env).resources if "securityGroup" in r.type}
    assert types <= set(RULES)


def _crafted(type_token: str, inputs: dict[str, Any], name: str = "crafted") -> PlannedResource:
    return PlannedResource(type_token, name, f"urn:{name}", f"id-{name}", "us-east-1", "test", "test", inputs, None)


SG = "aws:ec2/securityGroup:SecurityGroup"
INGRESS = "aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule"
TAGS_50 = {f"k{i}": "v" for i in range(50)}

BITES = [
    (INGRESS, {"description": "all traffic between the cluster's nodes"}, "description", "only a-zA-Z0-9"),
    (SG, {"description": "x" * 256}, "description", "at most 255 characters"),
    (SG, {"description": "ok", "ingress": [{"description": "ok"}, {"description": "héads"}]}, "ingress[1].description",
     "only a-zA-Z0-9"),
    (SG, {"description": "ok", "egress": [{"description": "it's"}]}, "egress[0].description", "only a-zA-Z0-9"),
    ("aws:ec2/securityGroupRule:SecurityGroupRule", {"description": "a\"b"}, "description", "only a-zA-Z0-9"),
    ("aws:vpc/securityGroupEgressRule:SecurityGroupEgressRule", {"description": "a'b"}, "description",
     "only a-zA-Z0-9"),
    ("aws:lb/loadBalancer:LoadBalancer", {"name": "x" * 33}, "name", "at most 32 characters"),
    ("aws:lb/targetGroup:TargetGroup", {"namePrefix": "rfserv-"}, "namePrefix", "at most 6 characters"),
    ("aws:iam/role:Role", {"name": "r" * 65}, "name", "at most 64 characters"),
    ("aws:iam/role:Role", {"namePrefix": "r" * 39}, "namePrefix", "at most 38 characters"),
    ("aws:s3/bucket:Bucket", {"bucket": "b" * 64}, "bucket", "at most 63 characters"),
    ("aws:s3/bucketV2:BucketV2", {"bucket": "Rayfleet"}, "bucket", "lowercase"),
    ("aws:s3/bucket:Bucket", {"bucketPrefix": "b" * 38}, "bucketPrefix", "at most 37 characters"),
    ("aws:s3/bucket:Bucket", {"bucketPrefix": "Rf-"}, "bucketPrefix", "lowercase"),
    ("aws:elasticache/replicationGroup:ReplicationGroup", {"replicationGroupId": "g" * 41}, "replicationGroupId",
     "at most 40 characters"),
    ("aws:elasticache/replicationGroup:ReplicationGroup", {"replicationGroupId": "Gcs"}, "replicationGroupId",
     "lowercase"),
    ("aws:elasticache/replicationGroup:ReplicationGroup", {"replicationGroupId": "1gcs"}, "replicationGroupId",
     "starts with a letter"),
    ("aws:elasticache/replicationGroup:ReplicationGroup", {"replicationGroupId": "a--b"}, "replicationGroupId",
     "no '--'"),
    ("aws:elasticache/replicationGroup:ReplicationGroup", {"replicationGroupId": "gcs_store"}, "replicationGroupId",
     "only letters, digits and hyphens"),
    ("aws:elasticache/replicationGroup:ReplicationGroup", {"replicationGroupId": "gcs-"}, "replicationGroupId",
     "does not end with '-'"),
    ("aws:ec2/vpc:Vpc", {"tags": TAGS_50 | {"one-more": "v"}}, "tags", "at most 50 tags"),
    ("aws:ec2/vpc:Vpc", {"tagsAll": {"k" * 129: "v"}}, "tagsAll", "every key at most 128 characters"),
    ("aws:autoscaling/group:Group", {"tags": [{"key": "k", "value": "v" * 257, "propagateAtLaunch": True}]}, "tags",
     "every value at most 256 characters"),
    ("aws:ec2/launchTemplate:LaunchTemplate", {"tagSpecifications": [{"resourceType": "instance", "tags": TAGS_50},
     {"resourceType": "volume", "tags": TAGS_50 | {"x": "y"}}]}, "tagSpecifications[1].tags", "at most 50 tags"),
]


@pytest.mark.parametrize("type_token, inputs, field, rule", BITES, ids=[f"{b[2]}-{b[3]}" for b in BITES])
def test_each_rule_rejects_a_crafted_resource_naming_the_field_value_and_rule(type_token, inputs, field, rule):
    (line,) = violations(_crafted(type_token, inputs))
    assert line.startswith(f"test {type_token} crafted: {field} = ")
    assert f"breaks '{rule}" in line


def test_the_violation_line_names_resource_field_value_rule_and_source():
    (line,) = violations(_crafted(INGRESS, {"description": "Redis from the cluster's Ray heads"}, "redis-in"), "prod")
    assert line == (
        "prod aws:vpc/securityGroupIngressRule:SecurityGroupIngressRule redis-in: description = "
        "\"Redis from the cluster's Ray heads\" breaks 'only a-zA-Z0-9. _-:/()#,@[]+=&;{}!$*' "
        f"({EC2_SG_DOC})"
    )


def test_a_resource_without_a_name_is_held_to_pulumis_auto_name():
    # `<logical name>-<7 hex>` must fit the name's own limit: 25 + 8 > 32 for a load balancer.
    (line,) = violations(_crafted("aws:lb/loadBalancer:LoadBalancer", {}, "ingress-ap-southeast-2-alb"))
    assert "name (Pulumi's auto-name) = 'ingress-ap-southeast-2-alb-0000000'" in line
    assert "breaks 'at most 32 characters'" in line


def test_rules_that_hold_report_nothing():
    fine = _crafted(SG, {"description": "all traffic between nodes of the cluster", "tags": TAGS_50})
    assert violations(fine) == []
