"""The cluster slots of an environment: the live one and, mid-upgrade, the new one beside it.

    >>> cfg.slot, cfg.upgrade.weight            # rayfleet:slot: blue, rayfleet:upgrade: {weight: 10, ...}
    ('blue', 10)
    >>> [c.cluster_id("us-west-2") for c in slot_configs(cfg)]
    ['rayfleet-dev-us-west-2', 'rayfleet-dev-us-west-2-green']
    >>> forward_weights(cfg)
    {'blue': 90, 'green': 10}

A change that cannot roll onto running nodes (a Ray version: Ray refuses a
node whose version differs from its GCS's; an instance architecture: the
image and the wheels differ) is applied as a second cluster, the new slot,
built from `rayfleet:upgrade`; each slot is an EnvironmentConfig of its own,
so the program builds it with the same functions as the live one. The load
balancer weighs the slots' target groups by `upgrade.weight`.

Pure: no pulumi, boto3 or ray.
"""

from __future__ import annotations

from stacks.config import SLOTS, EnvironmentConfig, Slot


def other_slot(slot: Slot) -> Slot:
    """The slot an upgrade from `slot` brings up."""
    return SLOTS[1] if slot == SLOTS[0] else SLOTS[0]


def new_slot_config(cfg: EnvironmentConfig) -> EnvironmentConfig | None:
    """The new slot's environment mid-upgrade (its cluster with the upgrade's changes); None otherwise."""
    if cfg.upgrade is None:
        return None
    return cfg.model_copy(
        update={"slot": other_slot(cfg.slot), "cluster": cfg.upgrade.cluster.applied_to(cfg.cluster), "upgrade": None}
    )


def slot_configs(cfg: EnvironmentConfig) -> list[EnvironmentConfig]:
    """The live slot's environment first, then the new slot's mid-upgrade."""
    new = new_slot_config(cfg)
    return [cfg] if new is None else [cfg, new]


def forward_weights(cfg: EnvironmentConfig) -> dict[Slot, int]:
    """Each slot's weight in the load balancer's forward action, in percent of the region's traffic.

    An ALB forward action takes target-group weights of 0-999 and splits traffic in their
    proportion; percents are weights that read as what they do.
    """
    if cfg.upgrade is None:
        return {cfg.slot: 100}
    return {cfg.slot: 100 - cfg.upgrade.weight, other_slot(cfg.slot): cfg.upgrade.weight}
