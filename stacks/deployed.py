"""What a stack's previous update left running, and the changes that cannot roll onto it.

    check_rollable(cfg, StackOutputs.model_validate(previous))   # at the start of `pulumi up`
    RayVersionChangeError: rayfleet:cluster.rayVersion changes from 2.60.0 to 2.60.1 on a stack whose clusters ...

Most changes roll: a new launch template version, refreshed ASG by ASG. A Ray
version does not: Ray refuses a node whose Ray version differs from the one
its cluster's GCS was started with (`ray._private.utils.check_version_info`
compares the version strings exactly, patch included), so during a rollout
workers of the old version could not join a new head, nor new workers an old
one. Such a change goes blue/green: `rayfleet upgrade` brings the new Ray up
as a second cluster slot (`rayfleet:upgrade`), moves traffic to it and
retires the old slot. A plain `pulumi up` that would change the Ray version
of a running slot is refused before it registers anything, pointing there.

Pure: no pulumi, boto3 or ray.
"""

from __future__ import annotations

from components.errors import RayfleetError
from stacks.config import EnvironmentConfig
from stacks.outputs_model import StackOutputs
from stacks.slots import slot_configs


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
    """The Ray version the stack's live slot runs, from its previous update's outputs.

    None when the stack has no cluster yet (a new stack: its outputs are empty),
    or when a rayfleet that did not export `rayVersion` deployed it.
    """
    if not any(region.cluster_name for region in previous.regions.values()):
        return None
    return previous.ray_version


def running_slots(previous: StackOutputs) -> dict[str, str]:
    """The Ray version each running cluster slot runs: the live one and, mid-upgrade, the new one."""
    live = running_ray_version(previous)
    if live is None:
        return {}
    running = {previous.live_slot: live}
    if previous.upgrade is not None and previous.upgrade.slot and previous.upgrade.ray_version:
        running[previous.upgrade.slot] = previous.upgrade.ray_version
    return running


def check_rollable(cfg: EnvironmentConfig, previous: StackOutputs) -> None:
    """Raise RayVersionChangeError if `cfg` changes the Ray version a running cluster slot runs."""
    running = running_slots(previous)
    if not running:
        return
    if cfg.slot not in running:
        raise RayVersionChangeError(
            f"rayfleet:slot is {cfg.slot}, but the stack's clusters run in slot {previous.live_slot}: the change "
            f"would replace the running clusters with new ones, with no traffic moved between them. "
            f"Fix: set rayfleet:slot back to {previous.live_slot}; `rayfleet upgrade --env {cfg.env}` moves clusters "
            f"between slots"
        )
    for slot_cfg in slot_configs(cfg):
        was, wanted = running.get(slot_cfg.slot), slot_cfg.cluster.ray_version
        if was is None or was == wanted:
            continue
        live = slot_cfg.slot == cfg.slot
        key = "rayfleet:cluster.rayVersion" if live else "rayfleet:upgrade.cluster.rayVersion"
        fix = (
            f"run `rayfleet upgrade --env {cfg.env}` instead of `pulumi up`: it brings {wanted} up as a second "
            f"cluster slot beside this one, moves traffic to it and retires the old one"
            if live
            else f"set {key} back to {was}, or roll the upgrade back (`rayfleet upgrade --env {cfg.env} --rollback`) "
            f"and start a new one for {wanted}"
        )
        raise RayVersionChangeError(
            f"{key} changes from {was} to {wanted} on a stack whose {slot_cfg.slot} clusters already run {was}: "
            f"Ray cannot mix versions in one cluster, so the change cannot roll onto running nodes. Fix: {fix}"
        )
