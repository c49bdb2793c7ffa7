"""The steps of a blue/green upgrade, the state that records them, and the stack config each step writes.

    >>> [s.name for s in STEPS]
    ['bring-up', 'deploy-serve', 'shift-10', 'shift-50', 'shift-100', 'drain', 'retire']
    >>> with_weight({}, {"rayVersion": "2.60.1"}, 0)["rayfleet:upgrade"]
    {'cluster': {'rayVersion': '2.60.1'}, 'weight': 0}

An upgrade brings the new slot up beside the live one at weight 0, deploys the
Serve config to it, moves traffic in steps (each gated by the new slot's healthy
targets and its own serving alarms), drains the old slot (Serve first, then
its workers through the rayfleet-drain hook) and retires it: the new slot
becomes `rayfleet:slot` and its cluster `rayfleet:cluster`. Each step's
configuration is the stack config (`rayfleet:` keys as in the stack file), so
`pulumi up` alone could apply it, and the state file says which steps are done.

Where traffic goes when a step fails (`safe_weight`): before the old slot is
drained, all of it returns to the old slot, which served it before and still
runs; from the drain on, it stays on the new slot, which passed every gate.

Pure: no pulumi, boto3 or ray.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict

from components.errors import RayfleetError
from stacks.config import EnvironmentConfig, Slot, SlotCluster
from stacks.slots import new_slot_config, other_slot

#: Percent of traffic on the new slot after each traffic step.
TRAFFIC_STEPS = (10, 50, 100)
UPGRADE_KEY = "rayfleet:upgrade"
SLOT_KEY = "rayfleet:slot"
CLUSTER_KEY = "rayfleet:cluster"


class UpgradeError(RayfleetError):
    """An upgrade cannot start, resume or roll back as asked."""


@dataclass(frozen=True)
class Step:
    name: str
    #: `bring-up`, `deploy-serve`, `shift`, `drain` or `retire`.
    kind: str
    #: The new slot's percent of traffic once the step is done.
    weight: int


STEPS: tuple[Step, ...] = (
    Step("bring-up", "bring-up", 0),
    Step("deploy-serve", "deploy-serve", 0),
    *(Step(f"shift-{w}", "shift", w) for w in TRAFFIC_STEPS),
    Step("drain", "drain", 100),
    Step("retire", "retire", 100),
)
STEP_NAMES = tuple(s.name for s in STEPS)


def step(name: str) -> Step:
    return STEPS[STEP_NAMES.index(name)]


class AsgSize(BaseModel):
    """One Auto Scaling group's sizes, as the drain found them: what a rollback gives back."""

    model_config = ConfigDict(extra="forbid")

    min: int
    max: int
    desired: int


class UpgradeState(BaseModel):
    """What an upgrade has done so far: written after every step, read by --resume and --rollback."""

    model_config = ConfigDict(extra="forbid")

    env: str
    from_slot: Slot
    to_slot: Slot
    from_version: str
    to_version: str
    #: `rayfleet:upgrade.cluster` as the stack file holds it.
    change: dict[str, Any]
    #: The stack config of the live slot as the upgrade began (`rayfleet:` keys as in the stack file).
    live: dict[str, Any]
    done: list[str] = []
    #: The new slot's percent of traffic in the last config `pulumi up` applied.
    weight: int = 0
    #: The old slot's worker ASGs' sizes before the drain emptied them, by region and ASG name.
    old_worker_sizes: dict[str, dict[str, AsgSize]] = {}
    failed: str | None = None
    error: str | None = None
    status: Literal["running", "failed", "finished", "rolled-back"] = "running"

    @property
    def next_step(self) -> Step | None:
        remaining = [s for s in STEPS if s.name not in self.done]
        return remaining[0] if remaining else None

    @property
    def drained(self) -> bool:
        """Whether the old slot may have stopped serving: the drain step began."""
        return "drain" in self.done or self.failed in ("drain", "retire")


def safe_weight(failed: Step) -> int:
    """The new slot's weight after `failed` failed (see the module docstring)."""
    return 100 if STEP_NAMES.index(failed.name) >= STEP_NAMES.index("drain") else 0


# --- the stack config each step writes ------------------------------------------------------


def change_of(cfg: EnvironmentConfig, running_version: str | None) -> dict[str, Any]:
    """What the upgrade changes, as `rayfleet:upgrade.cluster`: the file's own, or its new rayVersion.

    A stack file whose `rayfleet:cluster.rayVersion` differs from the one the stack runs asks for
    that version through an upgrade; `rayfleet:upgrade.cluster` states any change itself.
    """
    if cfg.upgrade is not None:
        return cfg.upgrade.cluster.model_dump(by_alias=True, exclude_unset=True, mode="json")
    if running_version is not None and running_version != cfg.cluster.ray_version:
        return {"rayVersion": cfg.cluster.ray_version}
    raise UpgradeError(
        f"nothing to upgrade in {cfg.env}: its clusters run Ray {running_version or cfg.cluster.ray_version}, as "
        f"rayfleet:cluster.rayVersion says. Fix: change rayfleet:cluster.rayVersion (or set "
        f"rayfleet:upgrade.cluster for an instance architecture) and run `rayfleet upgrade --env {cfg.env}` again"
    )


def live_config(config: dict[str, Any], running_version: str | None) -> dict[str, Any]:
    """The stack config with `rayfleet:cluster` as the live slot runs it (the file may name the new Ray)."""
    out = {k: v for k, v in config.items() if k != UPGRADE_KEY}
    if running_version is not None:
        out[CLUSTER_KEY] = {**config[CLUSTER_KEY], "rayVersion": running_version}
    return out


def with_weight(live: dict[str, Any], change: dict[str, Any], weight: int) -> dict[str, Any]:
    """The stack config mid-upgrade: the live slot, and the new one at `weight` percent."""
    return {**live, UPGRADE_KEY: {"cluster": change, "weight": weight}}


def retired(cfg: EnvironmentConfig, live: dict[str, Any]) -> dict[str, Any]:
    """The stack config once the old slot is gone: the new slot is the only one, and the live one."""
    new = new_slot_config(cfg)
    assert new is not None, "retired() needs a config mid-upgrade"
    out = {k: v for k, v in live.items() if k != UPGRADE_KEY}
    out[CLUSTER_KEY] = new.cluster.model_dump(by_alias=True, exclude_unset=True, mode="json")
    out[SLOT_KEY] = new.slot
    return out


def rolled_back(live: dict[str, Any]) -> dict[str, Any]:
    """The stack config with the new slot gone: as before the upgrade."""
    return {k: v for k, v in live.items() if k != UPGRADE_KEY}


def new_state(
    cfg: EnvironmentConfig, running_version: str | None, change: dict[str, Any], live: dict[str, Any]
) -> UpgradeState:
    """The state of an upgrade about to start from `cfg`'s live slot (stack config `live`) with `change`."""
    return UpgradeState(
        live=live,
        env=cfg.env,
        from_slot=cfg.slot,
        to_slot=other_slot(cfg.slot),
        from_version=running_version or cfg.cluster.ray_version,
        to_version=SlotCluster.model_validate(change).applied_to(cfg.cluster).ray_version,
        change=change,
    )


def describe(s: Step, state: UpgradeState) -> str:
    """One line saying what a step does, for the dry run and the progress."""
    new, old = state.to_slot, state.from_slot
    if s.kind == "bring-up":
        return (f"bring up {new} (Ray {state.to_version}) beside {old} (Ray {state.from_version}): "
                f"pulumi up with rayfleet:upgrade at weight 0")
    if s.kind == "deploy-serve":
        return f"deploy the Serve config to {new} and wait until every application is RUNNING"
    if s.kind == "shift":
        return (f"move {s.weight}% of traffic to {new}; gate: {new}'s healthy targets, "
                f"and no serving alarm of {new} in ALARM")
    if s.kind == "drain":
        return f"drain {old}: delete its Serve applications, then its workers leave through the rayfleet-drain hook"
    return f"retire {old}: {new} becomes the only slot (rayfleet:slot: {new}, Ray {state.to_version})"


# --- writing a config through `pulumi config set --path` --------------------------------------

_ABSENT = object()



def config_paths(before: dict[str, Any], after: dict[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """What turns `before` into `after`, as Pulumi config paths: (path -> leaf value to set, paths to remove).

    Removals come first, in order: a list that shrinks loses its last indices first (`config rm --path`
    on `l[1]` shifts `l[2]` down to `l[1]`), and a key or item that goes is removed whole, not leaf by leaf.

    >>> config_paths({"rayfleet:upgrade": {"weight": 10}}, {"rayfleet:upgrade": {"weight": 50}})
    ({'rayfleet:upgrade.weight': 50}, [])
    >>> config_paths({"rayfleet:x": {"l": [1, 2, 3]}}, {"rayfleet:x": {"l": [1]}})[1]
    ['rayfleet:x.l[2]', 'rayfleet:x.l[1]']
    """
    old, new = dict(_leaves(before)), dict(_leaves(after))
    sets = {path: value for path, value in new.items() if old.get(path, _ABSENT) != value}
    return sets, _removals(before, after, "")


def _removals(before: Any, after: Any, path: str) -> list[str]:
    """The paths of `before` that `after` no longer has, each removed whole, a list's from its end."""
    if isinstance(before, dict) and isinstance(after, dict):
        out: list[str] = []
        for key, item in before.items():
            at = f"{path}.{key}" if path else str(key)
            out += [at] if key not in after else _removals(item, after[key], at)
        return out
    if isinstance(before, list) and isinstance(after, list):
        kept = [p for i in range(min(len(before), len(after))) for p in _removals(before[i], after[i], f"{path}[{i}]")]
        return kept + [f"{path}[{i}]" for i in range(len(before) - 1, len(after) - 1, -1)]
    # A container that becomes a leaf, or a leaf that becomes one: the set writes the new value whole.
    return [path] if isinstance(before, (dict, list)) and before and not isinstance(after, type(before)) else []


def _leaves(value: Any, path: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict) and value:
        return [leaf for key, item in value.items() for leaf in _leaves(item, f"{path}.{key}" if path else str(key))]
    if isinstance(value, list) and value:
        return [leaf for index, item in enumerate(value) for leaf in _leaves(item, f"{path}[{index}]")]
    return [(path, value)]
