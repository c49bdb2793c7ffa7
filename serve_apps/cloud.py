"""Where an environment's clusters are: stack outputs, the dashboard token secret, the artifact bucket.

    outputs = read_stack_outputs("prod")                 # stacks.outputs
    region = region_outputs(outputs, "prod", "us-east-1")
    token = dashboard_token(region.token_secret_arn, "us-east-1")
    working_dir, working_dirs = upload_artifacts(region, models_dir(), cfg.serve.applications)

The deployer needs three outputs of a region (stacks.outputs_model.RegionOutputs):
`dashboardUrl`, `dashboardTokenSecretArn` and `artifactBucket`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from components.errors import RayfleetError
from serve_apps.discovery import MODELS_PREFIX, model_files
from serve_apps.package import app_sources, code_package, source_package
from stacks.outputs import stack_region
from stacks.outputs_model import StackOutputs

#: IAM actions the deployer needs in the cloud, next to the code that calls them.
PERMISSIONS = ("secretsmanager:GetSecretValue", "s3:HeadObject", "s3:PutObject")


@dataclass(frozen=True)
class CloudRegion:
    """One region's cluster as the deployer reaches it: every field present."""

    region: str
    dashboard_url: str
    token_secret_arn: str
    artifact_bucket: str

    @property
    def models_base(self) -> str:
        return f"s3://{self.artifact_bucket}/{MODELS_PREFIX}"


def region_outputs(outputs: StackOutputs, env: str, region: str) -> CloudRegion:
    found = stack_region(outputs, env, region, needs=("dashboard_url", "dashboard_token_secret_arn", "artifact_bucket"))
    return CloudRegion(region, found.dashboard_url, found.dashboard_token_secret_arn, found.artifact_bucket)


def upload_artifacts(target: CloudRegion, models: Path, apps) -> tuple[str, dict[str, str]]:
    """Upload the code packages (the project's and each app's `source`) and the model files the apps'
    args name under `${models}`; return the project package's s3 URI and source -> package URI."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = boto3.client("s3", region_name=target.region)
    data, key = code_package()
    files = [(key, data, True)]
    working_dirs = {}
    for source in app_sources(apps):
        body, object_key = source_package(source)
        files.append((object_key, body, True))
        working_dirs[str(source)] = f"s3://{target.artifact_bucket}/{object_key}"
    for name in dict.fromkeys(n for app in apps for n in model_files(app.args)):
        files.append((f"{MODELS_PREFIX}/{name}", (models / name).read_bytes(), False))
    for object_key, body, by_hash in files:
        try:
            try:
                s3.head_object(Bucket=target.artifact_bucket, Key=object_key)
                if by_hash:
                    continue  # named by its hash: present means identical
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                    raise
            s3.put_object(Bucket=target.artifact_bucket, Key=object_key, Body=body)
        except (BotoCoreError, ClientError) as err:
            raise RayfleetError(f"cannot upload s3://{target.artifact_bucket}/{object_key} ({err}). "
                                "Fix: use AWS credentials allowed s3:PutObject on the artifact bucket") from None
    return f"s3://{target.artifact_bucket}/{key}", working_dirs
