"""Pure decisions of moving workers back from the on-demand twin to spot once spot launches again.

A shortage leaves workers on the twin at on-demand prices. When spot runs what it is asked again,
each of them is *replaced*, never just removed:

1. spot's desired count is raised by a few (the group's `consolidate_nodes_per_minute`, counted
   over the last minute), and only while nothing launched for this is still joining;
2. once spot workers have joined Ray beyond the requested count, as many on-demand workers are
   terminated through the ASG's drain hook (the node's watcher drains Ray first, so no request is
   lost), never taking the joined workers below the requested count.

The same surplus rule removes on-demand workers left over when spot's own minimum launches after a
shortage, with no replacement needed. Workers on the twin because spot is at its max stay.

    >>> spot = AsgState("s", min_size=0, max_size=10, desired=2, live=2)
    >>> plan_consolidation(4, spot, spot_joined=2, on_demand=("i-1", "i-2"), budget=3, spot_healthy=True)
    Consolidation(spot_desired=4, drain=())
    >>> spot = AsgState("s", min_size=0, max_size=10, desired=4, live=4)
    >>> plan_consolidation(4, spot, spot_joined=4, on_demand=("i-1", "i-2"), budget=3, spot_healthy=True)
    Consolidation(spot_desired=None, drain=('i-2', 'i-1'))

No boto3, ray or pulumi here: the node provider feeds this what it read and acts on the result.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from components.node_agents.spot_fallback import AsgState


@dataclass(frozen=True)
class Consolidation:
    """This update's step: spot's new desired count (None: unchanged) and the on-demand workers to drain."""

    spot_desired: int | None
    drain: tuple[str, ...]


NOTHING = Consolidation(None, ())


def plan_consolidation(
    requested: int,
    spot: AsgState,
    *,
    spot_joined: int,
    on_demand: Sequence[str],
    budget: int,
    spot_healthy: bool,
) -> Consolidation:
    """One step of moving a group back to spot.

    `requested` is the group's requested worker count; `spot_joined` the spot workers whose raylet
    has joined; `on_demand` the twin's joined workers, oldest first; `budget` how many workers may
    still move this minute; `spot_healthy` that spot is not judged impaired and runs what it is asked.
    """
    if budget <= 0 or not on_demand:
        return NOTHING
    surplus = spot_joined + len(on_demand) - requested
    if surplus > 0:
        # The newest on-demand workers go first, as Ray trims them.
        return Consolidation(None, tuple(reversed(on_demand))[: min(surplus, budget)])
    booting = spot.live - spot_joined
    if not spot_healthy or booting > 0 or spot.shortfall > 0:
        return NOTHING
    more = min(budget, len(on_demand), spot.max_size - spot.desired)
    return Consolidation(spot.desired + more, ()) if more > 0 else NOTHING


def budget_left(rate_per_minute: int, drained_at: Sequence[float], now: float) -> int:
    """Workers that may still move in the minute before `now`: a worker has moved when its on-demand
    predecessor is drained, so only drains count, and launches wait for the budget too."""
    return max(0, rate_per_minute - sum(1 for t in drained_at if now - t < 60))
