"""`rayfleet job submit` against a local Ray head (token auth on), directly and through a forwarded port.

The head is the session's shared cluster (tests/fakes/session_cluster.py): a job adds nothing that
stays on it, and it runs with the venv first on PATH, as the nodes do, so that a job's `python` has Ray.
"""

from __future__ import annotations

import json
import os

import boto3
import pytest

from components.contract import CLUSTER_KEY, ENV_KEY, MARKET_KEY, NODE_TYPE_KEY
from tests.fakes.cli import run_cli
from tests.fakes.fake_session_cli import calls, install_fake_session_cli

REGION = "us-west-2"
CLUSTER = "rayfleet-dev-us-west-2"


@pytest.fixture
def head(local_cluster):
    """The shared head's dashboard URL and token, and its dashboard port."""
    state = local_cluster["state"]
    return state.dashboard_url, state.token(), state.dashboard_port


@pytest.fixture
def pipeline(tmp_path):
    folder = tmp_path / "pipeline"
    folder.mkdir()
    # The task asks no CPU: the shared head's CPUs are all held by Serve replicas, and a job waits for them forever.
    (folder / "step.py").write_text(
        "import ray\nray.init()\nprint('rows:', ray.get(ray.remote(num_cpus=0)(lambda: 3).remote()))\n")
    (folder / "fail.py").write_text("import sys\nprint('bad input')\nsys.exit(3)\n")
    return folder


@pytest.mark.slow
def test_a_job_runs_to_success_with_its_working_dir_and_output(head, pipeline):
    url, token, _ = head
    run = run_cli("job", "submit", "--address", url, "--token", token, "--working-dir", str(pipeline),
                  "--", "python", "step.py", timeout=300)
    assert run.code == 0, run.out + run.err
    assert "rows: 3" in run.out
    assert run.err.splitlines()[-1].endswith("SUCCEEDED")


@pytest.mark.slow
def test_a_failing_job_exits_non_zero_and_says_how_it_ended(head, pipeline):
    url, token, _ = head
    run = run_cli("job", "submit", "--address", url, "--token", token, "--working-dir", str(pipeline),
                  "--", "python", "fail.py", timeout=300)
    assert run.code == 1
    assert "bad input" in run.out
    last = run.err.splitlines()[-1]
    assert last.startswith("error: job raysubmit_") and last.endswith(" ended FAILED")


@pytest.mark.slow
def test_a_wrong_token_is_one_clear_error(head, pipeline):
    url, _, _ = head
    run = run_cli("job", "submit", "--address", url, "--token", "wrong", "--", "python", "step.py", timeout=120)
    assert (run.code, run.err) == (1, f"error: the Ray dashboard at {url} rejected the token. Fix: pass the cluster's "
                                      "current token (--token-file/--token; in the cloud, the dashboardTokenSecretArn "
                                      "secret)\n")


@pytest.mark.slow
def test_in_the_cloud_the_job_goes_through_the_heads_forwarded_dashboard(head, pipeline, aws_env, tmp_path):
    _, token, dashboard_port = head
    tags = {ENV_KEY: "dev", CLUSTER_KEY: CLUSTER, NODE_TYPE_KEY: "head", MARKET_KEY: "on-demand"}
    (instance,) = boto3.client("ec2", region_name=REGION).run_instances(
        ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="m6i.large",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["Instances"]
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(Name="rf-dev-token", SecretString=token)["ARN"]
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"regions": {REGION: {"cluster": CLUSTER, "dashboardTokenSecretArn": arn}}}))
    bin_dir = install_fake_session_cli(tmp_path / "bin", remote_ports={8265: dashboard_port})

    run = run_cli("job", "submit", "--env", "dev", "--outputs", str(outputs), "--working-dir", str(pipeline),
                  "--", "python", "step.py", env={**aws_env, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}"},
                  timeout=300)
    assert run.code == 0, run.err
    assert "rows: 3" in run.out
    ((_, _, _, target, *rest),) = calls(bin_dir)
    assert target == instance["InstanceId"]
    assert json.loads(rest[rest.index("--parameters") + 1])["portNumber"] == ["8265"]
