"""Inputs of the CostAllocation component."""

from __future__ import annotations

from decimal import Decimal

from pydantic import BaseModel, ConfigDict, Field

from components.tags import TagContext


class CostAllocationArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    env: str
    #: The environment's own cost tags' keys, activated besides rayfleet's keys.
    cost_tag_keys: list[str] = []
    #: The monthly budget in USD; no budget when None (the default).
    monthly_budget_usd: Decimal | None = Field(default=None, gt=0)
    #: Who the budget's alerts go to (default: nobody, the budget still records spend).
    alert_emails: list[str] = []
    #: Create the CostAllocationTag activations (default false; see CostConfig.activate_tags).
    activate_tags: bool = False
    tags: TagContext
