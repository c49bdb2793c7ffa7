"""`rayfleet cost report` against a real moto_server on loopback, with Cost Explorer results injected."""

from __future__ import annotations

import json
import os
import urllib.request
from datetime import date, timedelta
from decimal import Decimal as D

import pytest

from components.drills.emulate.moto_server import moto_server as moto_process
from tests.fakes.cli import run_cli

GROUPS = {"cluster": ["41.20", "39.85"], "network": ["3.24", "3.24"], "": ["0.07", "0.11"]}


@pytest.fixture(scope="module")
def moto_server():
    """A moto_server process on a free loopback port, stopped after the module (the emulator's own)."""
    with moto_process() as server:
        yield server.endpoint


def _post(url: str, body: dict) -> None:
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request, timeout=5).read()


def _results(days: int) -> dict:
    end = date.today()
    periods = []
    for index in range(2):
        day = end - timedelta(days=days - index)
        periods.append(
            {
                "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                "Total": {},
                "Groups": [
                    {"Keys": [f"rayfleet:component${name}"],
                     "Metrics": {"UnblendedCost": {"Amount": amounts[index], "Unit": "USD"}}}
                    for name, amounts in GROUPS.items()
                ],
                "Estimated": False,
            }
        )
    return {"results": [{"ResultsByTime": periods}]}


@pytest.fixture
def aws_env(moto_server, tmp_path):
    return {
        "AWS_ENDPOINT_URL": moto_server,
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_DEFAULT_REGION": "us-east-1",
        "RAYFLEET_PRICE_CACHE": str(tmp_path / "prices"),
    }


def _create_budget(env_vars: dict, name: str, limit: str) -> None:
    import boto3

    saved = {k: os.environ.get(k) for k in env_vars}
    os.environ.update(env_vars)
    try:
        boto3.client("budgets", region_name="us-east-1").create_budget(
            AccountId="123456789012",
            Budget={"BudgetName": name, "BudgetLimit": {"Amount": limit, "Unit": "USD"},
                    "TimeUnit": "MONTHLY", "BudgetType": "COST"},
        )
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


@pytest.mark.slow  # a moto_server process, and `rayfleet` in a subprocess against it
def test_report_json_totals_exactly_what_cost_explorer_returned(moto_server, aws_env):
    _post(moto_server + "/moto-api/static/ce/cost-and-usage-results", _results(3))
    _create_budget(aws_env, "rayfleet-prod-monthly", "8000.0")
    run = run_cli("cost", "report", "--env", "prod", "--days", "3", "--json", env=aws_env)
    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert list(data) == ["env", "currency", "period", "total", "byGroup", "daily", "forecast", "budget"]
    injected = sum(D(a) for amounts in GROUPS.values() for a in amounts)
    assert D(data["total"]) == injected == D("87.71")
    assert data["byGroup"] == {"cluster": "81.05", "network": "6.48", "(untagged)": "0.18"}
    assert [d["total"] for d in data["daily"]] == ["44.51", "43.20"]
    assert data["period"] == {"start": (date.today() - timedelta(days=3)).isoformat(), "end": date.today().isoformat()}
    assert data["forecast"] is None  # moto has no get_cost_forecast: the report goes on without it
    assert data["budget"]["name"] == "rayfleet-prod-monthly"
    assert D(data["budget"]["limit"]) == D(8000)


@pytest.mark.slow  # a moto_server process, and `rayfleet` in a subprocess against it
def test_report_view_says_the_forecast_is_missing_and_compares_with_the_estimate(moto_server, aws_env):
    _post(moto_server + "/moto-api/static/ce/cost-and-usage-results", _results(5))
    run = run_cli("cost", "report", "--env", "dev", "--days", "5", env=aws_env)
    assert run.code == 0, run.err
    assert run.out.splitlines()[0].startswith("dev: $87.71 from ")
    assert "forecast unavailable: HTTP 500" in run.out  # moto lacks get_cost_forecast
    # dev's budget was never created on this server
    assert "budget rayfleet-dev-monthly unavailable: NotFoundException: Unable to get budget: " in run.out
    assert "estimate vs actual: $" in run.out
    assert "█" * 40 in run.out  # the biggest day fills the bar


def test_report_without_credentials_explains_the_fix(tmp_path):
    env = {"AWS_ENDPOINT_URL": "http://127.0.0.1:9", "AWS_ACCESS_KEY_ID": "x", "AWS_SECRET_ACCESS_KEY": "x",
           "AWS_MAX_ATTEMPTS": "1", "AWS_DEFAULT_REGION": "us-east-1"}
    run = run_cli("cost", "report", "--env", "dev", "--json", env=env)
    assert run.code == 1
    assert run.err.startswith("error: Cost Explorer refused the query for dev: ")
    assert run.err.rstrip().endswith(
        "Fix: check AWS credentials and that they allow ce:GetCostAndUsage (Cost Explorer must be enabled for the account)"
    )


@pytest.mark.slow  # a moto_server process, and `rayfleet` in a subprocess against it
def test_catalog_refresh_against_an_endpoint_without_pricing_fails_with_the_fix(moto_server, aws_env):
    env = {**aws_env, "AWS_MAX_ATTEMPTS": "1"}
    run = run_cli("cost", "catalog", "refresh", "--regions", "us-east-1", "--types", "m6i.xlarge", env=env)
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        "error: could not refresh prices for us-east-1: HTTP 500. Fix: check AWS credentials and that they allow "
        "pricing:GetProducts, ec2:DescribeSpotPriceHistory\n"  # moto has no Pricing API
    )
