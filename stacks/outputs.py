"""A deployed environment's stack outputs, and the dashboard token they point at.

    outputs = read_stack_outputs("prod")          # `pulumi stack output --json --stack prod`
    outputs = read_stack_outputs("prod", Path("outputs.json"))
    token = dashboard_token(outputs["regions"]["us-east-1"]["dashboardTokenSecretArn"], "us-east-1")

The one reader of stack outputs: the deployer, the failover drill and cost
allocation all find their clusters through it.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

from components.errors import RayfleetError


def read_stack_outputs(env: str, outputs_file: Path | None = None, *, cwd: Path | None = None) -> dict[str, Any]:
    """The stack's outputs: from `outputs_file`, else `pulumi stack output --json --stack ENV`.

    `outputs_file` may hold `pulumi stack output --json` or `rayfleet plan --json` (its `outputs` key).
    """
    if outputs_file is not None:
        try:
            data = json.loads(Path(outputs_file).read_text())
        except FileNotFoundError:
            raise RayfleetError(f"{outputs_file}: no such file. Fix: check the path given to --outputs") from None
        except json.JSONDecodeError as err:
            raise RayfleetError(
                f"{outputs_file}: is not JSON ({err.msg}, line {err.lineno}). "
                f"Fix: write it with 'pulumi stack output --json --stack {env} > {outputs_file}'"
            ) from None
        if isinstance(data, dict) and "outputs" in data and "resources" in data:
            data = data["outputs"]
        return data
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise RayfleetError(
            "the Pulumi CLI is not on PATH, so the stack's outputs cannot be read. "
            f"Fix: install Pulumi, or pass --outputs FILE written by 'pulumi stack output --json --stack {env}'"
        )
    if cwd is None:
        from stacks.loader import stacks_dir

        cwd = stacks_dir().parent  # where Pulumi.yaml is
    proc = subprocess.run(
        [pulumi, "stack", "output", "--json", "--stack", env],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if proc.returncode != 0:
        detail = (proc.stderr or proc.stdout).strip().splitlines()
        raise RayfleetError(
            f"'pulumi stack output --json --stack {env}' failed: {detail[-1] if detail else f'exit {proc.returncode}'}. "
            f"Fix: run it yourself to see why (is the stack '{env}' deployed and selected?), or pass --outputs FILE"
        )
    return json.loads(proc.stdout)


def dashboard_token(secret_arn: str, region: str) -> str:
    """The cluster's Ray dashboard token, from its Secrets Manager secret (stack output `dashboardTokenSecretArn`)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        secret = boto3.client("secretsmanager", region_name=region).get_secret_value(SecretId=secret_arn)
    except (BotoCoreError, ClientError) as err:
        raise RayfleetError(f"cannot read the dashboard token secret {secret_arn} ({err}). "
                            "Fix: use AWS credentials allowed secretsmanager:GetSecretValue on it") from None
    token = (secret.get("SecretString") or "").strip()
    if not token:
        raise RayfleetError(
            f"the dashboard token secret {secret_arn} is empty: the head writes it when it first boots. "
            "Fix: wait until the head is up (pulumi up finished a few minutes ago?), then retry"
        )
    return token
