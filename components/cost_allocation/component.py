"""The CostAllocation component: activates the cost-allocation tags and creates the environment's budget.

    CostAllocation("cost-prod", CostAllocationArgs(env="prod", cost_tag_keys=["team"],
                   monthly_budget_usd=Decimal(8000), alert_emails=["ml@example.com"], tags=ctx),
                   opts=pulumi.ResourceOptions(provider=aws_global))

Both resources are account-wide: create the component once per environment,
with the account-wide provider (`aws-global`). Tag activation is account-wide
too, so only the one environment that owns it sets `activate_tags`, and a
destroy never deactivates a key (`retain_on_delete`).
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.cost_allocation.args import CostAllocationArgs
from components.cost_allocation.plan import (
    NOTIFICATIONS,
    activated_tag_keys,
    budget_limit,
    budget_name,
    budget_tag_filter,
)
from components.tags import build_tags

COMPONENT = "cost"


def _slug(key: str) -> str:
    return key.replace(":", "-").replace("/", "-").lower()


class CostAllocation(pulumi.ComponentResource):
    tag_keys: list[str]
    budget: aws.budgets.Budget | None

    def __init__(self, name: str, args: CostAllocationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rayfleet:cost:CostAllocation", name, None, opts)
        self.args = args
        self.tag_keys = activated_tag_keys(args.cost_tag_keys) if args.activate_tags else []
        self.allocation_tags = [
            aws.costexplorer.CostAllocationTag(
                f"{name}-tag-{_slug(key)}",
                tag_key=key,
                status="Active",
                # Deleting the resource sets the key Inactive for the whole account, and so
                # blinds every environment's budget: a destroy leaves the activation alone.
                opts=pulumi.ResourceOptions(parent=self, retain_on_delete=True),
            )
            for key in self.tag_keys
        ]
        self.budget = self._budget(name) if args.monthly_budget_usd is not None else None
        self.register_outputs(
            {"tagKeys": self.tag_keys, "budgetName": self.budget.name if self.budget else None}
        )

    def _budget(self, name: str) -> aws.budgets.Budget:
        """The monthly cost budget of the environment's tagged resources, with e-mail alerts if anyone is named."""
        args = self.args
        return aws.budgets.Budget(
            f"{name}-budget",
            name=budget_name(args.env),
            budget_type="COST",
            time_unit="MONTHLY",
            limit_amount=budget_limit(args.monthly_budget_usd),
            limit_unit="USD",
            cost_filters=[aws.budgets.BudgetCostFilterArgs(name="TagKeyValue", values=[budget_tag_filter(args.env)])],
            notifications=self._notifications(),
            tags=build_tags(args.tags, COMPONENT, name=budget_name(args.env)),
            # Where rayfleet activates the tags, the budget filters on them once they are active.
            opts=pulumi.ResourceOptions(parent=self, depends_on=self.allocation_tags),
        )

    def _notifications(self) -> list[aws.budgets.BudgetNotificationArgs]:
        # Through the alarms' topic when there is one: the same subscribers, and the budget's alerts
        # arrive where every other alert does. Budgets allows one topic and up to ten addresses.
        topic = self.args.alert_topic_arn
        if topic is None and not self.args.alert_emails:
            return []
        subscribers = (
            {"subscriber_sns_topic_arns": [topic]}
            if topic is not None
            else {"subscriber_email_addresses": list(self.args.alert_emails)}
        )
        return [
            aws.budgets.BudgetNotificationArgs(
                comparison_operator="GREATER_THAN",
                notification_type=n.kind,
                threshold=n.threshold,
                threshold_type="PERCENTAGE",
                **subscribers,
            )
            for n in NOTIFICATIONS
        ]
