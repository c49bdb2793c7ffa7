"""The one tag builder: every tag set rayfleet puts on AWS resources comes from here.

    >>> ctx = TagContext(env="prod", cluster="rayfleet-prod-us-east-1", cost_tags={"team": "ml"})
    >>> build_tags(ctx, "network", name="rayfleet-prod-us-east-1-vpc")["rayfleet:component"]
    'network'

Instances launched by an Auto Scaling Group do not receive provider default
tags, so ASGs get `asg_tags(...)` (propagated at launch) and launch templates
get the same set in their tag specifications.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict

from components.contract import (  # noqa: F401 - the tag keys, re-exported beside their builder
    CLUSTER_KEY,
    COMPONENT_KEY,
    COST_ALLOCATION_KEYS,
    ENV_KEY,
    MARKET_KEY,
    NODE_TYPE_KEY,
)


class TagContext(BaseModel):
    """What every tag set of one environment in one region shares."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    env: str
    cluster: str
    cost_tags: dict[str, str] = {}


def build_tags(
    ctx: TagContext, component: str, *, name: str | None = None, extra: dict[str, str] | None = None
) -> dict[str, str]:
    """The tags of one resource: the environment's cost tags, rayfleet's keys, `Name`, then `extra`."""
    tags = dict(ctx.cost_tags)
    tags.update({ENV_KEY: ctx.env, CLUSTER_KEY: ctx.cluster, COMPONENT_KEY: component})
    if name:
        tags["Name"] = name
    if extra:
        tags.update(extra)
    return tags


def asg_tags(tags: dict[str, str]) -> list[dict[str, object]]:
    """The same tags in an Auto Scaling Group's form, propagated to the instances it launches."""
    return [{"key": key, "value": value, "propagate_at_launch": True} for key, value in sorted(tags.items())]
