"""The deployer's cloud path against moto: stack outputs -> token secret, uploads, rendered config."""

from __future__ import annotations

import io
import json
import zipfile

import boto3
import pytest
from moto import mock_aws

from serve_apps.targets import env_targets
from components.errors import RayfleetError
from stacks.loader import load_environment
from tests.fakes.working_dir import working_dir_files


@pytest.fixture
def aws(monkeypatch, tmp_path):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-west-2")
    monkeypatch.setenv("RAYFLEET_HOME", str(tmp_path / "home"))
    with mock_aws():
        yield


def _outputs(tmp_path, arn: str) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"regions": {"us-west-2": {
        "dashboardUrl": "http://10.30.0.10:8265", "dashboardTokenSecretArn": arn, "artifactBucket": "rf-dev-artifacts"}}}))
    return path


def test_env_target_reads_the_token_secret_and_uploads_code_and_model(aws, tmp_path):
    boto3.client("s3", region_name="us-west-2").create_bucket(
        Bucket="rf-dev-artifacts", CreateBucketConfiguration={"LocationConstraint": "us-west-2"}
    )
    arn = boto3.client("secretsmanager", region_name="us-west-2").create_secret(
        Name="rayfleet-dev-dashboard-token", SecretString="s3cret-token\n")["ARN"]
    (target,) = env_targets(load_environment("dev"), None, _outputs(tmp_path, arn))
    assert target.label == "dev/us-west-2"
    assert target.dashboard.token == "s3cret-token"
    assert target.dashboard.address == "http://10.30.0.10:8265"
    assert target.history.folder == tmp_path / "home" / "deployments" / "dev-us-west-2"
    config = target.rendered.config
    working_dir = config["applications"][0]["runtime_env"]["working_dir"]
    s3 = boto3.client("s3", region_name="us-west-2")
    code = s3.get_object(Bucket="rf-dev-artifacts", Key=working_dir.removeprefix("s3://rf-dev-artifacts/"))["Body"].read()
    assert "serve_apps/digits/app.py" in working_dir_files(code)
    model_uri = config["applications"][1]["args"]["modelUri"]
    assert model_uri == "s3://rf-dev-artifacts/models/digits-v1.json"

    from serve_apps.digits.model import load_model

    assert load_model(model_uri).version.startswith("v1+")  # what a replica does with it


def test_unreadable_token_secret_is_a_clear_error(aws, tmp_path):
    arn = "arn:aws:secretsmanager:us-west-2:123456789012:secret:missing-AbCdEf"
    with pytest.raises(RayfleetError) as caught:
        env_targets(load_environment("dev"), None, _outputs(tmp_path, arn))
    assert str(caught.value).startswith(f"cannot read the dashboard token secret {arn} (")
    assert str(caught.value).endswith("Fix: use AWS credentials allowed secretsmanager:GetSecretValue on it")


def test_token_secret_the_head_has_not_written_yet_says_to_wait(aws):
    from stacks.outputs import dashboard_token

    arn = boto3.client("secretsmanager", region_name="us-west-2").create_secret(Name="token", SecretString=" ")["ARN"]
    with pytest.raises(RayfleetError) as caught:
        dashboard_token(arn, "us-west-2")
    assert str(caught.value) == (
        f"the dashboard token secret {arn} is empty: the head writes it when it first boots. "
        "Fix: wait until the head is up (pulumi up finished a few minutes ago?), then retry"
    )
