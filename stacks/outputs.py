"""A deployed environment's stack outputs, read into the one model, and the dashboard token they point at.

    outputs = read_stack_outputs("prod")          # `pulumi stack output --json --stack prod`
    outputs = read_stack_outputs("prod", Path("outputs.json"))
    region = stack_region(outputs, "prod", "us-east-1", needs=("dashboard_url", "dashboard_token_secret_arn"))
    token = dashboard_token(region.dashboard_token_secret_arn, "us-east-1")

The one reader of stack outputs: the deployer, the failover drill and cost
allocation all find their clusters through it, with the same checks and the
same errors (what is missing, in which stack, and the fix).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from components.errors import RayfleetError, show_value
from stacks.outputs_model import RegionOutputs, StackOutputs


class OutputsUnavailable(RayfleetError):
    """The outputs could not be fetched at all: no such file, no Pulumi CLI, or Pulumi refused."""


def read_stack_outputs(env: str, outputs_file: Path | None = None, *, cwd: Path | None = None) -> StackOutputs:
    """The stack's outputs: from `outputs_file`, else `pulumi stack output --json --stack ENV`.

    `outputs_file` may hold `pulumi stack output --json` or `rayfleet plan --json` (its `outputs` key).
    """
    if outputs_file is not None:
        try:
            data = json.loads(Path(outputs_file).read_text())
        except FileNotFoundError:
            raise OutputsUnavailable(f"{outputs_file}: no such file. Fix: check the path given to --outputs") from None
        except json.JSONDecodeError as err:
            raise RayfleetError(
                f"{outputs_file}: is not JSON ({err.msg}, line {err.lineno}). "
                f"Fix: write it with 'pulumi stack output --json --stack {env} > {outputs_file}'"
            ) from None
        return parse_stack_outputs(data, env, str(outputs_file))
    text = _pulumi_stack_output(env, cwd)
    try:
        data = json.loads(text)
    except json.JSONDecodeError as err:
        raise RayfleetError(
            f"'pulumi stack output --json --stack {env}' printed no JSON ({err.msg}, line {err.lineno}). "
            "Fix: run it yourself to see why, or pass --outputs FILE"
        ) from None
    return parse_stack_outputs(data, env, f"'pulumi stack output --json --stack {env}'")


def parse_stack_outputs(data: Any, env: str, source: str) -> StackOutputs:
    """`pulumi stack output --json` (or `rayfleet plan --json`, whose `outputs` it takes) as StackOutputs.

    Only keys of the wrong type fail here; a key a reader needs is checked by that reader (`stack_region`).
    """
    if isinstance(data, dict) and "outputs" in data and "resources" in data:
        data = data["outputs"]
    if not isinstance(data, dict):
        raise RayfleetError(
            f"{source}: holds {type(data).__name__}, not the stack outputs of '{env}'. "
            f"Fix: pass what 'pulumi stack output --json --stack {env}' prints"
        )
    try:
        return StackOutputs.model_validate(data)
    except ValidationError as err:
        problem = err.errors()[0]
        where = "".join(f"[{part}]" if isinstance(part, int) else f".{part}" for part in problem["loc"]).lstrip(".")
        raise RayfleetError(
            f"{source}: the stack outputs of '{env}' have {where} = {show_value(problem['input'])}: {problem['msg']}. "
            f"Fix: update the stack with this rayfleet ('pulumi up --stack {env}'), or pass --outputs FILE "
            f"written by 'pulumi stack output --json --stack {env}'"
        ) from None


def stack_region(outputs: StackOutputs, env: str, region: str, *, needs: Sequence[str] = ()) -> RegionOutputs:
    """`region`'s outputs, holding the fields `needs` (attribute names); else an error naming what is missing."""
    if region not in outputs.regions:
        known = ", ".join(sorted(outputs.regions)) or "none"
        raise RayfleetError(
            f"stack '{env}' has no outputs for region {region} (regions in the outputs: {known}). "
            f"Fix: run 'pulumi up --stack {env}', or pick a region it has"
        )
    found = outputs.regions[region]
    missing = found.missing(*needs)
    if missing:
        raise RayfleetError(
            f"stack '{env}' outputs regions.{region} lack {', '.join(missing)}. "
            f"Fix: update the stack ('pulumi up --stack {env}') with a rayfleet that exports them"
        )
    return found


def _pulumi_stack_output(env: str, cwd: Path | None) -> str:
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise OutputsUnavailable(
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
        raise OutputsUnavailable(
            f"'pulumi stack output --json --stack {env}' failed: {detail[-1] if detail else f'exit {proc.returncode}'}. "
            f"Fix: run it yourself to see why (is the stack '{env}' deployed and selected?), or pass --outputs FILE"
        )
    return proc.stdout


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
