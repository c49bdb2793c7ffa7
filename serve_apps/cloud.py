"""Where an environment's clusters are: stack outputs, the dashboard token secret, the artifact bucket.

    outputs = read_stack_outputs("prod")                 # stacks.outputs
    region = region_outputs(outputs, "prod", "us-east-1")
    token = dashboard_token(region.token_secret_arn, "us-east-1")
    working_dir = upload_artifacts(region, models_dir())  # s3://<bucket>/serve/code-<hash>.zip

Stack output keys (set by the Pulumi program): `regions.<region>.dashboardUrl`,
`regions.<region>.dashboardTokenSecretArn`, `regions.<region>.artifactBucket`.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from serve_apps.catalog import DIGITS_ARTIFACT
from serve_apps.package import code_package
from components.errors import RayfleetError

#: IAM actions the deployer needs in the cloud, next to the code that calls them.
PERMISSIONS = ("secretsmanager:GetSecretValue", "s3:HeadObject", "s3:PutObject")
MODELS_PREFIX = "models"


@dataclass(frozen=True)
class RegionOutputs:
    region: str
    dashboard_url: str
    token_secret_arn: str
    artifact_bucket: str

    @property
    def models_base(self) -> str:
        return f"s3://{self.artifact_bucket}/{MODELS_PREFIX}"


def region_outputs(outputs: dict[str, Any], env: str, region: str) -> RegionOutputs:
    regions = outputs.get("regions") or {}
    if region not in regions:
        known = ", ".join(sorted(regions)) or "none"
        raise RayfleetError(f"stack '{env}' has no outputs for region {region} (regions in the outputs: {known}). "
                            f"Fix: run 'pulumi up --stack {env}', or pick a region it has")
    values = regions[region]
    missing = [k for k in ("dashboardUrl", "dashboardTokenSecretArn", "artifactBucket") if not values.get(k)]
    if missing:
        raise RayfleetError(f"stack '{env}' outputs regions.{region} lack {', '.join(missing)}. "
                            f"Fix: update the stack ('pulumi up --stack {env}') with a rayfleet that exports them")
    return RegionOutputs(region, values["dashboardUrl"], values["dashboardTokenSecretArn"], values["artifactBucket"])


def upload_artifacts(target: RegionOutputs, models: Path) -> str:
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
