"""Where an environment's clusters are: stack outputs, the dashboard token secret, the artifact bucket.

    outputs = read_stack_outputs("prod")                 # stacks.outputs
    region = region_outputs(outputs, "prod", "us-east-1")
    token = dashboard_token(region.token_secret_arn, "us-east-1")
    working_dir = upload_artifacts(region, models_dir())  # s3://<bucket>/serve/code-<hash>.zip

The deployer needs three outputs of a region (stacks.outputs_model.RegionOutputs):
`dashboardUrl`, `dashboardTokenSecretArn` and `artifactBucket`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from components.errors import RayfleetError
from serve_apps.catalog import DIGITS_ARTIFACT
from serve_apps.package import code_package
from stacks.outputs import stack_region
from stacks.outputs_model import StackOutputs

#: IAM actions the deployer needs in the cloud, next to the code that calls them.
PERMISSIONS = ("secretsmanager:GetSecretValue", "s3:HeadObject", "s3:PutObject")
MODELS_PREFIX = "models"


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


def upload_artifacts(target: CloudRegion, models: Path) -> str:
    """Upload the code package and the model artifacts (when absent); return the code zip's s3 URI."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    s3 = boto3.client("s3", region_name=target.region)
    data, key = code_package()
    files = [(key, data)]
    model = models / DIGITS_ARTIFACT
    files.append((f"{MODELS_PREFIX}/{DIGITS_ARTIFACT}", model.read_bytes()))
    for object_key, body in files:
        try:
            try:
                s3.head_object(Bucket=target.artifact_bucket, Key=object_key)
                if object_key == key:
                    continue  # named by its hash: present means identical
            except ClientError as err:
                if err.response.get("Error", {}).get("Code") not in ("404", "NoSuchKey", "NotFound"):
                    raise
            s3.put_object(Bucket=target.artifact_bucket, Key=object_key, Body=body)
        except (BotoCoreError, ClientError) as err:
            raise RayfleetError(f"cannot upload s3://{target.artifact_bucket}/{object_key} ({err}). "
                                "Fix: use AWS credentials allowed s3:PutObject on the artifact bucket") from None
    return f"s3://{target.artifact_bucket}/{key}"
