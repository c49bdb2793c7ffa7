"""IAM actions the CostAllocation component and `rayfleet cost report` need."""

#: `pulumi up` of the component.
DEPLOY_ACTIONS = (
    "ce:UpdateCostAllocationTagsStatus",
    "ce:ListCostAllocationTags",
    "budgets:ModifyBudget",
    "budgets:ViewBudget",
    "budgets:TagResource",
)

#: `rayfleet cost report` and the allocation's reconciliation.
REPORT_ACTIONS = (
    "ce:GetCostAndUsage",
    "ce:GetCostForecast",
    "budgets:ViewBudget",
    "sts:GetCallerIdentity",
)
