"""Inputs of the CostAllocation component."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from components.tags import TagContext


class CostAllocationArgs(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", arbitrary_types_allowed=True)

    env: str
    #: The environment's own cost tags' keys, activated besides rayfleet's keys.
    cost_tag_keys: list[str] = []
    #: The monthly budget in USD; no budget when None (the default).
    monthly_budget_usd: Decimal | None = Field(default=None, gt=0)
    #: Who the budget's alerts go to (default: nobody, the budget still records spend).
    alert_emails: list[str] = []
    #: The SNS topic the budget's alerts go to instead, the one the alarms notify (its subscribers are
    #: `alert_emails`); None: straight to `alert_emails`.
    alert_topic_arn: Any = None
    #: Create the CostAllocationTag activations (default false; see CostConfig.activate_tags).
    activate_tags: bool = False
    tags: TagContext
