"""What an environment cost: Cost Explorer by its tags, the month's forecast, and its budget's status.

    report = cost_report("prod", days=14, group_by="rayfleet:component", budget="rayfleet-prod-monthly")
    report.total            # Decimal: unblended USD over the period

Cost Explorer only sees tags that are activated for cost allocation (the
CostAllocation component does that); untagged spend shows as `(untagged)`.
Clients come from boto3's usual chain, so `AWS_ENDPOINT_URL` pointing at a
`moto_server` works. A forecast Cost Explorer cannot give (too little history,
or an endpoint that lacks it) leaves `forecast` None with a note, and the
report goes on.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal
from typing import Any

from components.contract import CLUSTER_KEY, COMPONENT_KEY, ENV_KEY
from cost.aws_errors import explain
from cost.decimals import decimal_text
from components.errors import RayfleetError

#: Cost Explorer and Budgets answer in us-east-1.
BILLING_REGION = "us-east-1"
METRIC = "UnblendedCost"
UNTAGGED = "(untagged)"


class ActualsError(RayfleetError):
    """Cost Explorer refused the query."""


@dataclass(frozen=True)
class DailyCost:
    day: str
    total: Decimal
    by_group: dict[str, Decimal]

    def to_json(self) -> dict[str, Any]:
        return {"date": self.day, "total": decimal_text(self.total),
                "byGroup": {k: decimal_text(v) for k, v in self.by_group.items()}}


@dataclass(frozen=True)
class Forecast:
    start: str
    end: str
    total: Decimal

    def to_json(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "total": decimal_text(self.total)}


@dataclass(frozen=True)
class BudgetStatus:
    name: str
    limit: Decimal
    actual: Decimal
    forecast: Decimal | None

    @property
    def used_percent(self) -> Decimal:
        return self.actual / self.limit * 100 if self.limit else Decimal(0)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "limit": decimal_text(self.limit),
            "actual": decimal_text(self.actual),
            "forecast": decimal_text(self.forecast) if self.forecast is not None else None,
            "usedPercent": decimal_text(self.used_percent.quantize(Decimal("0.1"))),
        }


@dataclass
class CostReport:
    env: str
    group_by: str
    start: str
    end: str
    daily: list[DailyCost]
    forecast: Forecast | None = None
    budget: BudgetStatus | None = None
    #: The estimate's expected monthly cost, to compare with the actual rate.
    estimate_monthly: Decimal | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def total(self) -> Decimal:
        return sum((d.total for d in self.daily), Decimal(0))

    @property
    def by_group(self) -> dict[str, Decimal]:
        groups: dict[str, Decimal] = {}
        for day in self.daily:
            for key, amount in day.by_group.items():
                groups[key] = groups.get(key, Decimal(0)) + amount
        return dict(sorted(groups.items(), key=lambda kv: (-kv[1], kv[0])))

    @property
    def days(self) -> int:
        return (date.fromisoformat(self.end) - date.fromisoformat(self.start)).days

    @property
    def monthly_rate(self) -> Decimal:
        """The period's spend as a 730-hour month, to set against the estimate."""
        return self.total / self.days * Decimal(730) / 24 if self.days else Decimal(0)

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "currency": "USD",
            "period": {"start": self.start, "end": self.end},
            "total": decimal_text(self.total),
            "byGroup": {k: decimal_text(v) for k, v in self.by_group.items()},
            "daily": [d.to_json() for d in self.daily],
            "forecast": self.forecast.to_json() if self.forecast else None,
            "budget": self.budget.to_json() if self.budget else None,
        }


def env_filter(env: str) -> dict[str, Any]:
    return {"Tags": {"Key": ENV_KEY, "Values": [env], "MatchOptions": ["EQUALS"]}}


def group_name(key: str) -> str:
    """'rayfleet:component$network' -> 'network'; 'rayfleet:component$' -> '(untagged)'."""
    value = key.split("$", 1)[1] if "$" in key else key
    return value or UNTAGGED


def parse_results(results: list[dict[str, Any]]) -> list[DailyCost]:
    daily = []
    for period in results:
        groups = {}
        for group in period.get("Groups", []):
            name = group_name(group["Keys"][0])
            groups[name] = groups.get(name, Decimal(0)) + Decimal(group["Metrics"][METRIC]["Amount"])
        if groups:
            total = sum(groups.values(), Decimal(0))
        else:
            total = Decimal(period.get("Total", {}).get(METRIC, {}).get("Amount", "0"))
        daily.append(DailyCost(period["TimePeriod"]["Start"], total, groups))
    return daily


def _month_end(day: date) -> date:
    return (day.replace(day=1) + timedelta(days=32)).replace(day=1)


def billing_client(service: str):
    """A boto3 client for the billing APIs (Cost Explorer, Budgets, STS), which answer in us-east-1."""
    import boto3

    return boto3.client(service, region_name=BILLING_REGION)


def _query(ce, request: dict[str, Any], what: str) -> list[dict[str, Any]]:
    """Every page of a get_cost_and_usage query."""
    from botocore.exceptions import BotoCoreError, ClientError

    results: list[dict[str, Any]] = []
    try:
        while True:
            page = ce.get_cost_and_usage(**request)
            results += page.get("ResultsByTime", [])
            if not page.get("NextPageToken"):
                return results
            request = {**request, "NextPageToken": page["NextPageToken"]}
    except (BotoCoreError, ClientError) as err:
        raise ActualsError(
            f"Cost Explorer refused the query for {what}: {explain(err)}. Fix: check AWS credentials and that they "
            "allow ce:GetCostAndUsage (Cost Explorer must be enabled for the account)"
        ) from None


def cluster_actual(cluster: str, start: date, end: date, client: Callable[[str], Any] | None = None) -> Decimal | None:
    """Unblended cost tagged `rayfleet:cluster=<cluster>` from `start` to `end` (exclusive); None when none."""
    client = client or billing_client
    request = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": [METRIC],
        "Filter": {"Tags": {"Key": CLUSTER_KEY, "Values": [cluster], "MatchOptions": ["EQUALS"]}},
    }
    days = parse_results(_query(client("ce"), request, cluster))
    return sum((d.total for d in days), Decimal(0)) if days else None


def cost_report(
    env: str,
    *,
    days: int = 14,
    group_by: str = COMPONENT_KEY,
    budget: str | None = None,
    today: date | None = None,
    client: Callable[[str], Any] | None = None,
) -> CostReport:
    """Query Cost Explorer (and Budgets, when `budget` names one) for the environment's last `days` days."""
    from botocore.exceptions import BotoCoreError, ClientError

    client = client or billing_client
    today = today or date.today()
    start, end = today - timedelta(days=days), today
    ce = client("ce")
    request: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": [METRIC],
        "Filter": env_filter(env),
        "GroupBy": [{"Type": "TAG", "Key": group_by}],
    }
    results = _query(ce, request, env)
    report = CostReport(env, group_by, start.isoformat(), end.isoformat(), parse_results(results))

    forecast_end = _month_end(today)
    try:
        answer = ce.get_cost_forecast(
            TimePeriod={"Start": today.isoformat(), "End": forecast_end.isoformat()},
            Metric="UNBLENDED_COST",
            Granularity="MONTHLY",
            Filter=env_filter(env),
        )
        report.forecast = Forecast(today.isoformat(), forecast_end.isoformat(), Decimal(answer["Total"]["Amount"]))
    except (BotoCoreError, ClientError, KeyError) as err:
        report.notes.append(f"forecast unavailable: {explain(err)}")

    if budget is None:
        report.notes.append("no budget: the environment sets no cost.monthlyBudgetUsd")
        return report
    try:
        account = client("sts").get_caller_identity()["Account"]
        found = client("budgets").describe_budget(AccountId=account, BudgetName=budget)["Budget"]
        spend = found.get("CalculatedSpend", {})
        forecast = spend.get("ForecastedSpend", {}).get("Amount")
        report.budget = BudgetStatus(
            name=budget,
            limit=Decimal(found["BudgetLimit"]["Amount"]),
            actual=Decimal(spend.get("ActualSpend", {}).get("Amount", "0")),
            forecast=Decimal(forecast) if forecast is not None else None,
        )
    except (BotoCoreError, ClientError, KeyError) as err:
        report.notes.append(f"budget {budget} unavailable: {explain(err)}")
    return report
