"""What the failover drill acts on: the IDs in the stack's `failover` output, read from Pulumi or a file.

    target = target_from_outputs(read_outputs("prod"), env="prod")
    target.primary.health_check_id, [o.region for o in target.others]

Standard library only (plus the error root).
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from stacks.errors import RayfleetError


class DrillError(RayfleetError):
    """The drill cannot start, or could not put the health check back."""


@dataclass(frozen=True)
class RegionTarget:
    region: str
    #: PRIMARY / SECONDARY (active-passive) or the region (active-active).
    role: str
    health_check_id: str
    load_balancer_dns_name: str


@dataclass(frozen=True)
class DrillTarget:
    """What the drill acts on, read from the stack's `failover` output."""

    env: str
    mode: str
    domain: str
    hosted_zone_id: str
    primary: RegionTarget
    others: list[RegionTarget]


# --- reading the stack's outputs ----------------------------------------------


def read_outputs(env: str, outputs_file: Path | None = None, *, cwd: Path | None = None) -> dict[str, Any]:
    """The stack's outputs: from `outputs_file`, else `pulumi stack output --json --stack ENV`.

    `outputs_file` may hold `pulumi stack output --json` or `rayfleet plan --json` (its `outputs` key).
    """
    if outputs_file is not None:
        try:
            data = json.loads(Path(outputs_file).read_text())
        except FileNotFoundError:
            raise DrillError(f"{outputs_file}: no such file. Fix: check the path given to --outputs") from None
        except json.JSONDecodeError as err:
            raise DrillError(
                f"{outputs_file}: is not JSON ({err.msg}, line {err.lineno}). "
                f"Fix: write it with 'pulumi stack output --json --stack {env} > {outputs_file}'"
            ) from None
        if isinstance(data, dict) and "outputs" in data and "resources" in data:
            data = data["outputs"]
        return data
    pulumi = shutil.which("pulumi")
    if pulumi is None:
        raise DrillError(
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
        raise DrillError(
            f"'pulumi stack output --json --stack {env}' failed: {detail[-1] if detail else f'exit {proc.returncode}'}. "
            f"Fix: run it yourself to see why (is the stack '{env}' deployed and selected?), or pass --outputs FILE"
        )
    return json.loads(proc.stdout)


def target_from_outputs(outputs: dict[str, Any], env: str) -> DrillTarget:
    failover = outputs.get("failover")
    if not isinstance(failover, dict):
        raise DrillError(
            f"the stack outputs of '{env}' have no 'failover' entry: the stack was deployed before failover was "
            f"configured, or by an older rayfleet. Fix: run 'pulumi up --stack {env}', then drill again"
        )
    try:
        records = [
            RegionTarget(r["region"], r["role"], r["healthCheckId"], r["loadBalancerDnsName"])
            for r in failover["records"]
        ]
        target = DrillTarget(
            env=env,
            mode=failover["mode"],
            domain=failover["domain"],
            hosted_zone_id=failover["hostedZoneId"],
            primary=records[0],
            others=records[1:],
        )
    except (KeyError, IndexError, TypeError) as err:
        raise DrillError(
            f"the failover output of '{env}' lacks {err}: it was written by an older rayfleet. "
            f"Fix: run 'pulumi up --stack {env}' with this rayfleet, then drill again"
        ) from None
    if not target.others:
        raise DrillError(f"the failover output of '{env}' has one region only. Fix: add a second region")
    return target
