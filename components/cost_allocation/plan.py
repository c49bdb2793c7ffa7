"""Pure cost-allocation decisions: which tag keys to activate, the budget's name, filter and alerts.

    >>> activated_tag_keys(["team"])
    ['rayfleet:env', 'rayfleet:cluster', 'rayfleet:component', 'team']
    >>> budget_tag_filter("prod")
    'user:rayfleet:env$prod'

The Budgets API filters on a cost-allocation tag as `user:<key>$<value>`; the
tag must be active for Cost Explorer (and so the budget) to see it, which is
why the same component activates it.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

from components.contract import COST_ALLOCATION_KEYS, ENV_KEY


@dataclass(frozen=True)
class Notification:
    #: Percent of the budget's limit.
    threshold: int
    #: `ACTUAL` (spent so far) or `FORECASTED` (AWS's end-of-month forecast).
    kind: str


#: 80 % and 100 % of the limit actually spent, and a forecast above it.
NOTIFICATIONS = (Notification(80, "ACTUAL"), Notification(100, "ACTUAL"), Notification(100, "FORECASTED"))


def activated_tag_keys(cost_tag_keys: list[str]) -> list[str]:
    """rayfleet's keys first, then the environment's own cost tags, each once."""
    keys = list(COST_ALLOCATION_KEYS)
    keys += [k for k in sorted(cost_tag_keys) if k not in keys]
    return keys


def budget_name(env: str) -> str:
    """The environment's budget; `rayfleet cost report` reads it back by this name."""
    return f"rayfleet-{env}-monthly"


def budget_tag_filter(env: str) -> str:
    return f"user:{ENV_KEY}${env}"


def budget_limit(amount: Decimal) -> str:
    """The Budgets API's limit amount: a decimal string with two places."""
    return str(amount.quantize(Decimal("0.01")))
