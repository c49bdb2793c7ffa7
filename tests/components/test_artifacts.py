"""The per-region artifact bucket: private, versioned, encrypted, TLS-only, holding the node-agent package."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import zipfile

import pulumi
import pytest

from components.artifacts.component import node_agent_zip, write_node_agent_zip
from components.artifacts.plan import node_agent_files, node_agent_key
from stacks.loader import load_environment
from tests.fakes.environments import ENVIRONMENTS, ROOT
from tests.fakes.node_boots import template_script

NODE_AGENT_FILES = node_agent_files(ROOT)
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
    assert package.inputs["bucket"] == _one(plan, "aws:s3/bucket:Bucket", region).id
    assert package.inputs["bucket"] == plan.outputs["regions"][region]["artifactBucket"]
    fetch = f'Key="{package.inputs["key"]}")'
    for template in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate", region):
        assert fetch in template_script(template)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_node_agent_key_is_named_by_the_package_content(plans, env):
    # New agent code is a new key, so new user data: the change rolls out to running nodes.
    for package in plans(env).of_type("aws:s3/bucketObjectv2:BucketObjectv2"):
        with open(package.inputs["source"].path, "rb") as handle:
            assert package.inputs["key"] == node_agent_key(handle.read())
    assert node_agent_key(b"one") != node_agent_key(b"two")
    assert node_agent_key(b"one").startswith("node-agent/rayfleet-node-agent-")


AGENTS = ("components/node_agents/node_provider.py", "components/node_agents/spot_watcher.py")


def _imported_files(relative: str) -> set[str]:
    """The repository modules (and their packages' __init__) one file imports, at any depth in the file."""
    found = set()
    for node in ast.walk(ast.parse((ROOT / relative).read_text())):
        names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
        if isinstance(node, ast.ImportFrom) and node.module:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        for name in names:
            parts = name.split(".")
            if parts[0] != "components":
                continue
            for depth in range(1, len(parts) + 1):
                base = "/".join(parts[:depth])
                for candidate in (f"{base}/__init__.py", f"{base}.py"):
                    if (ROOT / candidate).is_file():
                        found.add(candidate)
    return found


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_node_agent_package_is_a_zip_file_of_the_agent_modules(plans, env):
    # The provider takes an S3 object's `source` as a file asset only: an archive fails `pulumi up`.
    for package in plans(env).of_type("aws:s3/bucketObjectv2:BucketObjectv2"):
        source = package.inputs["source"]
        assert isinstance(source, pulumi.FileAsset), type(source)
        with zipfile.ZipFile(source.path) as archive:
            assert sorted(archive.namelist()) == sorted(NODE_AGENT_FILES)
            assert all(archive.read(path) == (ROOT / path).read_bytes() for path in NODE_AGENT_FILES)


def test_node_agent_package_bytes_and_path_change_only_with_its_sources(tmp_path):
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "m.py").write_text("X = 1\n")
    first = write_node_agent_zip(tmp_path, ("a/m.py",), tmp_path)
    assert write_node_agent_zip(tmp_path, ("a/m.py",), tmp_path) == first
    assert node_agent_zip(tmp_path, ("a/m.py",)) == first.read_bytes()
    (tmp_path / "a" / "m.py").write_text("X = 2\n")
    assert write_node_agent_zip(tmp_path, ("a/m.py",), tmp_path) != first


def test_node_agent_package_holds_the_whole_agent_package_and_every_module_it_imports():
    package = {p.relative_to(ROOT).as_posix() for p in (ROOT / "components" / "node_agents").rglob("*.py")}
    needed, todo = set(), sorted(package)
    while todo:
        path = todo.pop()
        if path not in needed:
            needed.add(path)
            todo.extend(_imported_files(path))
    assert package <= set(NODE_AGENT_FILES)
    assert set(NODE_AGENT_FILES) == needed


def test_a_new_agent_module_ships_without_being_listed(tmp_path):
    agents = tmp_path / "components" / "node_agents"
    agents.mkdir(parents=True)
    (tmp_path / "components" / "__init__.py").write_text("")
    (tmp_path / "components" / "contract.py").write_text("X = 1\n")
    (tmp_path / "components" / "tags.py").write_text("import pydantic\n")
    (agents / "__init__.py").write_text("")
    (agents / "new_agent.py").write_text("def f():\n    from components.contract import X\n    return X\n")
    assert node_agent_files(tmp_path) == (
        "components/__init__.py",
        "components/contract.py",
        "components/node_agents/__init__.py",
        "components/node_agents/new_agent.py",
    )


def test_node_agents_import_from_the_package_alone(tmp_path):
    # What a node has: the unpacked package on PYTHONPATH, ray and boto3, no pulumi, no repository.
    package = tmp_path / "agents.zip"
    with zipfile.ZipFile(package, "w") as archive:
        for path in NODE_AGENT_FILES:
            archive.write(ROOT / path, path)
    code = (
        "import sys\n"
        f"sys.path.insert(0, {str(package)!r})\n"
        "sys.modules['pulumi'] = None\n"
        "sys.modules['pulumi_aws'] = None\n"
        "sys.modules['pydantic'] = None\n"
        "import components.node_agents.node_provider as provider, components.node_agents.spot_watcher as watcher\n"
        f"print(provider.__file__.startswith({str(package)!r}), watcher.__file__.startswith({str(package)!r}))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "True True\n"


def test_node_agent_packages_import_without_pulumi():
    # Nodes have ray and boto3 only: the packages the agents live in must import with pulumi and pydantic absent.
    code = (
        "import sys\n"
        "sys.modules['pulumi'] = None\n"
        "sys.modules['pulumi_aws'] = None\n"
        "sys.modules['pydantic'] = None\n"
        "import components, components.contract, components.node_agents\n"
        "print(components.contract.CLUSTER_KEY)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout == "rayfleet:cluster\n"
