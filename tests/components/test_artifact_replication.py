"""Artifact replication under mocks: primary bucket to every secondary, through a role scoped to those buckets."""

from __future__ import annotations

import json

import pytest

from components.artifact_replication.permissions import (
    DESTINATION_OBJECT_ACTIONS,
    SOURCE_BUCKET_ACTIONS,
    SOURCE_OBJECT_ACTIONS,
)
from components.artifacts.plan import MODELS_PREFIX, NODE_AGENT_PREFIX
from stacks.mocks import ACCOUNT_ID
from tests.fakes.serving import artifact_bucket

CONFIG = "aws:s3/bucketReplicationConfig:BucketReplicationConfig"
ROLE = "aws:iam/role:Role"
POLICY = "aws:iam/rolePolicy:RolePolicy"


def _replication(plan, type_token):
    found = [r for r in plan.of_type(type_token) if r.component == "replication"]
    assert len(found) == 1, [r.name for r in found]
    return found[0]


def test_prod_replicates_the_primary_bucket_into_the_secondary(plans):
    plan = plans("prod")
    config = _replication(plan, CONFIG)
    assert config.region == "us-east-1"
    source_id, _ = artifact_bucket(plan, "us-east-1")
    _, destination_arn = artifact_bucket(plan, "us-west-2")
    assert config.inputs["bucket"] == source_id
    (rule,) = config.inputs["rules"]
    assert rule["status"] == "Enabled"
    assert rule["destination"]["bucket"] == destination_arn
    assert rule["deleteMarkerReplication"] == {"status": "Enabled"}
    assert rule["filter"] == {"prefix": MODELS_PREFIX}
    assert config.inputs["role"].startswith("arn:aws:iam::123456789012:role/replication-us-east-1-role")


def test_replication_role_is_assumable_by_s3_only(plans):
    role = _replication(plans("prod"), ROLE)
    trust = json.loads(role.inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole"
    assert role.inputs["tags"]["rayfleet:component"] == "replication"


def test_replication_role_is_assumable_only_for_this_accounts_buckets(plans):
    trust = json.loads(_replication(plans("prod"), ROLE).inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Condition"] == {"StringEquals": {"aws:SourceAccount": ACCOUNT_ID}}


def test_replication_copies_only_the_models_not_agents_or_app_code(plans):
    """Each region uploads its own node agents and app code; a replica would overwrite them."""
    (rule,) = _replication(plans("prod"), CONFIG).inputs["rules"]
    prefix = rule["filter"]["prefix"]
    assert prefix == "models/"
    assert not NODE_AGENT_PREFIX.startswith(prefix)
    assert not "serve/code-abc.zip".startswith(prefix)
    # S3 rejects a V2 rule (one with a filter) that omits DeleteMarkerReplication.
    assert rule["deleteMarkerReplication"]["status"] in {"Enabled", "Disabled"}


def test_replication_role_reaches_exactly_the_two_buckets(plans):
    plan = plans("prod")
    policy = json.loads(_replication(plan, POLICY).inputs["policy"])
    _, source = artifact_bucket(plan, "us-east-1")
    _, destination = artifact_bucket(plan, "us-west-2")
    grants = {(tuple(s["Action"]), tuple(s["Resource"])) for s in policy["Statement"]}
    assert grants == {
        (tuple(SOURCE_BUCKET_ACTIONS), (source,)),
        (tuple(SOURCE_OBJECT_ACTIONS), (f"{source}/*",)),
        (tuple(DESTINATION_OBJECT_ACTIONS), (f"{destination}/*",)),
    }
    assert all(s["Effect"] == "Allow" and "*" not in s["Resource"] for s in policy["Statement"])


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_single_region_environment_replicates_nothing(plans, env):
    assert not [r for r in plans(env).resources if r.component == "replication"]


def test_both_sides_of_the_replication_are_versioned(plans):
    plan = plans("prod")
    versioned = {
        v.inputs["bucket"]
        for v in plan.of_type("aws:s3/bucketVersioning:BucketVersioning")
        if v.inputs["versioningConfiguration"]["status"] == "Enabled"
    }
    config = _replication(plan, CONFIG)
    source_id, _ = artifact_bucket(plan, "us-east-1")
    destination_id, destination_arn = artifact_bucket(plan, "us-west-2")
    assert config.inputs["rules"][0]["destination"]["bucket"] == destination_arn
    assert {source_id, destination_id} <= versioned
