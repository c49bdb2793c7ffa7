"""What a stack's previous update left running, and the changes that cannot roll onto it.

    check_rollable(cfg, StackOutputs.model_validate(previous))   # at the start of `pulumi up`
    RayVersionChangeError: rayfleet:cluster.rayVersion changes from 2.60.0 to 2.60.1 on a stack whose clusters ...

Most changes roll: a new launch template version, refreshed ASG by ASG. A Ray
version does not: Ray refuses a node whose Ray version differs from the one
its cluster's GCS was started with (`ray._private.utils.check_version_info`
compares the version strings exactly, patch included), so during a rollout
workers of the old version could not join a new head, nor new workers an old
one. The program therefore refuses such a change before it registers anything,
rather than leave a half-replaced cluster; the way to a new Ray is a second
stack beside this one.

Pure: no pulumi, boto3 or ray.
"""

from __future__ import annotations

from components.errors import RayfleetError
from stacks.config import EnvironmentConfig
from stacks.outputs_model import StackOutputs


class RayVersionChangeError(RayfleetError):
    """The config's Ray version differs from the one the stack's clusters already run."""


def own_stack_names(organization: str | None, project: str, stack: str) -> list[str]:
    """The names to read this stack's outputs by, most precise first.

    `org/project/stack` finds it in any organization of Pulumi Cloud and in a
    project-scoped DIY backend; a DIY backend in the legacy layout (made by a
    Pulumi CLI before 3.61 and never upgraded) takes only the bare stack name.
    """
    return [f"{organization}/{project}/{stack}", stack] if organization else [stack]


def running_ray_version(previous: StackOutputs) -> str | None:
    """The Ray version the stack's clusters run, from its previous update's outputs.

    None when the stack has no cluster yet (a new stack: its outputs are empty),
    or when a rayfleet that did not export `rayVersion` deployed it.
    """
    if not any(region.cluster_name for region in previous.regions.values()):
        return None
    return previous.ray_version


def check_rollable(cfg: EnvironmentConfig, previous: StackOutputs) -> None:
    """Raise RayVersionChangeError if `cfg` changes the Ray version its stack's clusters run."""
    running, wanted = running_ray_version(previous), cfg.cluster.ray_version
    if running is None or running == wanted:
        return
    raise RayVersionChangeError(
        f"rayfleet:cluster.rayVersion changes from {running} to {wanted} on a stack whose clusters already run {running}: "
        f"Ray cannot mix versions in one cluster, so the change cannot roll onto running nodes. "
        f"Fix: set rayfleet:cluster.rayVersion back to {running} for this stack; to move to {wanted}, deploy it as a "
        f"new stack beside this one, move traffic there, then destroy this one"
    )
