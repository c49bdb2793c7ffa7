"""The per-region artifact bucket: private, versioned, encrypted, TLS-only, holding the node-agent package."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from components.artifacts.plan import NODE_AGENT_FILES, NODE_AGENT_KEY
from stacks.loader import load_environment
from tests.conftest import ENVIRONMENTS, ROOT

REGIONS = [(env, r) for env in ENVIRONMENTS for r in load_environment(env).region_names]


def _one(plan, type_token, region):
    (resource,) = plan.of_type(type_token, region)
    return resource


@pytest.mark.parametrize("env, region", REGIONS)
def test_bucket_blocks_public_access_and_is_versioned_and_encrypted(plans, env, region):
    plan = plans(env)
    bucket = _one(plan, "aws:s3/bucket:Bucket", region)
    assert bucket.inputs["bucketPrefix"] == f"rayfleet-{env}-{region}-"[:37]
    block = _one(plan, "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock", region).inputs
    assert block["bucket"] == bucket.id
    assert all(block[k] is True for k in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"))
    versioning = _one(plan, "aws:s3/bucketVersioning:BucketVersioning", region).inputs
    assert versioning["versioningConfiguration"]["status"] == "Enabled"
    encryption = _one(plan, "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration", region)
    assert encryption.inputs["rules"][0]["applyServerSideEncryptionByDefault"]["sseAlgorithm"] == "AES256"
    ownership = _one(plan, "aws:s3/bucketOwnershipControls:BucketOwnershipControls", region)
    assert ownership.inputs["rule"]["objectOwnership"] == "BucketOwnerEnforced"


@pytest.mark.parametrize("env, region", REGIONS)
def test_bucket_refuses_requests_without_tls(plans, env, region):
    plan = plans(env)
    policy = json.loads(_one(plan, "aws:s3/bucketPolicy:BucketPolicy", region).inputs["policy"])
    (statement,) = policy["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}


@pytest.mark.parametrize("env, region", REGIONS)
def test_node_agent_package_is_uploaded_where_the_user_data_fetches_it(plans, env, region):
    plan = plans(env)
    package = _one(plan, "aws:s3/bucketObjectv2:BucketObjectv2", region)
    assert package.inputs["key"] == NODE_AGENT_KEY
    assert package.inputs["bucket"] == _one(plan, "aws:s3/bucket:Bucket", region).id
    assert package.inputs["bucket"] == plan.outputs["regions"][region]["artifactBucket"]


def test_node_agent_package_holds_exactly_the_modules_nodes_import():
    assert NODE_AGENT_FILES == (
        "components/__init__.py",
        "components/tags.py",
        "components/ray_cluster/__init__.py",
        "components/ray_cluster/node_provider.py",
        "components/ray_cluster/spot_watcher.py",
    )


def test_node_agent_packages_import_without_pulumi():
    # Nodes have ray and boto3 only: the packages the agents live in must import with pulumi absent.
    code = (
        "import sys\n"
        "sys.modules['pulumi'] = None\n"
        "sys.modules['pulumi_aws'] = None\n"
        "import components, components.tags, components.ray_cluster\n"
        "print(components.tags.CLUSTER_KEY)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "rayfleet:cluster\n"
