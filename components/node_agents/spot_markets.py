"""The spot markets of AsgNodeProvider's worker groups: judging spot, moving shortfalls, moving back.

`AsgNodeProvider` (node_provider.py) reads the cluster and writes desired capacities; this mixin
holds its spot decisions between those: after each read it judges each group's spot ASG
(`spot_fallback.assess_spot`), and at the end of each autoscaler update it moves a short spot
ASG's shortfall to the on-demand twin (`spot_fallback.fallback_moves`) and, once spot launches
again, moves the twin's workers back (`spot_consolidation.plan_consolidation`). It makes no AWS
call of its own: what it decides goes through the provider's `_set_desired` and termination path,
and whether a group's demand has fallen back (spot impaired, or the twin still holding the workers
a shortage moved there) through its `_publish_fallback`.

    >>> DEFAULT_CONSOLIDATE_NODES_PER_MINUTE
    3
"""

from __future__ import annotations

import logging
from typing import Any

from ray.autoscaler.tags import STATUS_UP_TO_DATE

from components.node_agents import spot_consolidation, spot_fallback

log = logging.getLogger("components.node_agents.node_provider")

DEFAULT_FALLBACK_AFTER_SECONDS = 180
DEFAULT_CONSOLIDATE_NODES_PER_MINUTE = 3


class SpotMarkets:
    """AsgNodeProvider's spot decisions (see the module docstring); mixed into the provider."""

    def _assess_spot_markets(self) -> None:
        now = self.clock()
        for node_type, group in self._groups().items():
            self._requested.setdefault(node_type, group.requested)
            if group.spot is None:
                continue
            memory = self._spot.get(node_type, spot_fallback.SpotMemory())
            failure = error = None
            if group.spot.shortfall and not spot_fallback.spot_impaired(memory, now):
                failure, error = self._launch_failures(group.spot.asg_name, memory.short_since or now)
            updated = spot_fallback.assess_spot(
                memory,
                group.spot,
                failure,
                now=now,
                grace_seconds=self.fallback_after.get(node_type, DEFAULT_FALLBACK_AFTER_SECONDS),
                retry_after_seconds=self.retry_spot_after,
                launch_error=error,
            )
            if spot_fallback.spot_impaired(updated, now) and not spot_fallback.spot_impaired(memory, now):
                log.warning("%s: spot impaired (%s); shortfall moves to on-demand", node_type, updated.reason)
            if updated.launch_error and updated.launch_error != memory.launch_error:
                log.error("%s: spot launches fail for a reason other than capacity, nothing moves: %s",
                          node_type, updated.launch_error)
            self._spot[node_type] = updated
            self._publish_fallback(
                node_type, spot_fallback.spot_impaired(updated, now) or self._twin_holds_moved(node_type, group)
            )

    def _twin_holds_moved(self, node_type: str, group: spot_fallback.GroupMarkets) -> bool:
        """Whether the on-demand twin holds more workers than it would with spot healthy (its minimum, and
        what spot cannot hold past its max): those the shortage moved there, which consolidation moves back.

        Spot is retried long before they are back, and a retry that fails again impairs it anew: the
        fallback lasts until the twin is back to its share, not merely while spot is judged impaired.
        """
        spot, od = group.spot, group.on_demand
        if spot is None or od is None:
            return False
        requested = self._requested.get(node_type, group.requested) + self._waiting(node_type)
        return od.desired > max(od.min_size, requested - spot.max_size)

    def status(self) -> dict[str, dict[str, Any]]:
        """Per worker group: requested count, what runs in each market, and why spot is avoided or
        failing. Logged at each change; `rayfleet` reads it for the cluster's status."""
        out: dict[str, dict[str, Any]] = {}
        for node_type, group in sorted(self._groups().items()):
            memory = self._spot.get(node_type, spot_fallback.SpotMemory())
            out[node_type] = {
                "requested": self._requested.get(node_type, group.requested),
                "spot": group.spot.live if group.spot else 0,
                "on_demand": group.on_demand.live if group.on_demand else 0,
                "spot_impaired": self.spot_impaired(node_type),
                "reason": memory.reason if self.spot_impaired(node_type) else "",
                "launch_error": memory.launch_error,
                # Priced by the CLI from the catalog: node agents carry no prices.
                "moved_to_spot": self._moved_to_spot.get(node_type, 0),
            }
        return out

    def spot_impaired(self, node_type: str) -> bool:
        return spot_fallback.spot_impaired(self._spot.get(node_type, spot_fallback.SpotMemory()), self.clock())

    def _move_shortfalls(self) -> None:
        """Fallback happens without Ray asking: a spot ASG short past its grace period moves now."""
        for node_type, group in self._groups().items():
            requested = self._requested.get(node_type, group.requested) + self._waiting(node_type)
            moves = spot_fallback.fallback_moves(group, requested, spot_impaired=self.spot_impaired(node_type))
            if moves:
                log.info("%s: moving spot shortfall to on-demand: %s", node_type, moves)
                self._set_desired(node_type, moves)

    def _consolidate(self) -> None:
        """Moves workers from the on-demand twin back to spot: launch spot first, drain after it joined."""
        now = self.clock()
        for node_type, group in sorted(self._groups().items()):
            if group.spot is None or group.on_demand is None:
                continue
            drained = self._drained_at.setdefault(node_type, [])
            drained[:] = [t for t in drained if now - t < 60]
            rate = self.consolidate_rate.get(node_type, DEFAULT_CONSOLIDATE_NODES_PER_MINUTE)
            plan = spot_consolidation.plan_consolidation(
                self._requested.get(node_type, group.requested),
                group.spot,
                spot_joined=len(self._joined(group.spot.asg_name)),
                on_demand=self._joined(group.on_demand.asg_name),
                budget=spot_consolidation.budget_left(rate, drained, now),
                spot_healthy=not self.spot_impaired(node_type) and group.spot.shortfall == 0,
            )
            if plan.spot_desired is not None:
                launched = plan.spot_desired - group.spot.desired
                log.info("%s: spot launches again; %d spot workers to replace on-demand ones", node_type, launched)
                self._set_desired(node_type, {group.spot.asg_name: plan.spot_desired})
                if self._asgs[group.spot.asg_name].desired == plan.spot_desired:
                    self._replacing[node_type] = self._replacing.get(node_type, 0) + launched
            for iid in plan.drain:
                log.info("%s: draining on-demand %s through the drain hook: spot covers it", node_type, iid)
                self._deleted.add(iid)
                self._unterminated.add(iid)
                drained.append(now)
                self._replacing[node_type] = max(0, self._replacing.get(node_type, 0) - 1)
                self._moved_to_spot[node_type] = self._moved_to_spot.get(node_type, 0) + 1

    def _joined(self, asg_name: str) -> list[str]:
        """The ASG's workers whose raylet has joined, in the ASG's order, less those being deleted."""
        return [
            i["InstanceId"]
            for i in self._asgs[asg_name].instances
            if i["InstanceId"] not in self._deleted
            and getattr(self.node_data_dict.get(i["InstanceId"]), "status", None) == STATUS_UP_TO_DATE
        ]
