"""The CostAllocation component under mocks: activated tag keys, the budget, and tags on its resources."""

from __future__ import annotations

import importlib
import inspect

import pytest
from pulumi.runtime import mocks as pulumi_mocks

from components.cost_allocation.plan import activated_tag_keys
from components.tags import CLUSTER_KEY, COMPONENT_KEY, COST_ALLOCATION_KEYS, ENV_KEY
from stacks.loader import load_environment
from stacks.plan import run_plan
from tests.fakes.environments import ENVIRONMENTS, stack_config, write_stack

TAG = "aws:costexplorer/costAllocationTag:CostAllocationTag"
BUDGET = "aws:budgets/budget:Budget"


def _resource_class(type_token: str):
    """'aws:budgets/budget:Budget' -> pulumi_aws.budgets.Budget."""
    _, module, name = type_token.split(":")
    return getattr(importlib.import_module(f"pulumi_aws.{module.split('/')[0]}"), name)


def _taggable(type_token: str) -> bool:
    return "tags" in inspect.signature(_resource_class(type_token)._internal_init).parameters


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_only_the_owning_environment_activates_its_tag_keys_account_wide(plans, env):
    cfg = load_environment(env)
    tags = plans(env).of_type(TAG)
    expected = sorted([*COST_ALLOCATION_KEYS, *cfg.cost.tags]) if cfg.cost.activate_tags else []
    assert sorted(t.inputs["tagKey"] for t in tags) == expected
    assert {t.inputs["status"] for t in tags} <= {"Active"}
    assert {t.region for t in tags} <= {"global"}
    assert {t.component for t in tags} <= {"cost"}


def test_prod_owns_the_activation_and_dev_and_staging_leave_it_alone(plans):
    assert len(plans("prod").of_type(TAG)) == len(COST_ALLOCATION_KEYS) + 2
    assert plans("dev").of_type(TAG) == plans("staging").of_type(TAG) == []


@pytest.fixture
def retained(monkeypatch):
    """Resource name -> whether its registration asked the engine to keep it on delete."""
    seen: dict[str, bool] = {}
    register = pulumi_mocks.MockMonitor.RegisterResource

    def recording(self, request):
        seen[request.name] = request.retainOnDelete
        return register(self, request)

    monkeypatch.setattr(pulumi_mocks.MockMonitor, "RegisterResource", recording)
    return seen


def test_destroying_the_stack_leaves_the_tag_keys_active(tmp_path, retained):
    # Deleting a CostAllocationTag sets its key Inactive for the whole account, blinding every budget.
    plan = run_plan(path=write_stack(tmp_path, stack_config("prod"), env="prod"))
    names = [t.name for t in plan.of_type(TAG)]
    assert len(names) == len(COST_ALLOCATION_KEYS) + 2
    assert {name: retained[name] for name in names} == dict.fromkeys(names, True)
    (budget,) = plan.of_type(BUDGET)
    assert retained[budget.name] is False


def test_activated_keys_put_rayfleet_keys_first_without_repeats():
    assert activated_tag_keys(["team", "costCenter"]) == [ENV_KEY, CLUSTER_KEY, COMPONENT_KEY, "costCenter", "team"]


def test_prod_budget_filters_on_its_env_tag_and_alerts_at_80_and_100_percent(plans):
    budgets = plans("prod").of_type(BUDGET)
    assert len(budgets) == 1
    budget = budgets[0].inputs
    assert budgets[0].region == "global"
    assert budget["name"] == "rayfleet-prod-monthly"
    assert (budget["budgetType"], budget["timeUnit"], budget["limitAmount"], budget["limitUnit"]) == (
        "COST", "MONTHLY", "8000.00", "USD",
    )
    assert budget["costFilters"] == [{"name": "TagKeyValue", "values": ["user:rayfleet:env$prod"]}]
    alerts = sorted(
        (n["notificationType"], n["threshold"], n["comparisonOperator"], n["thresholdType"],
         tuple(n["subscriberSnsTopicArns"]), "subscriberEmailAddresses" in n)
        for n in budget["notifications"]
    )
    # The alerts reach the same addresses through the primary region's alarm topic, as every alarm does.
    topic = ("arn:aws:sns:us-east-1:123456789012:rayfleet-prod-us-east-1-alerts",)
    assert alerts == [
        ("ACTUAL", 80.0, "GREATER_THAN", "PERCENTAGE", topic, False),
        ("ACTUAL", 100.0, "GREATER_THAN", "PERCENTAGE", topic, False),
        ("FORECASTED", 100.0, "GREATER_THAN", "PERCENTAGE", topic, False),
    ]


def test_no_budget_without_a_monthly_budget(tmp_path):
    config = stack_config("dev")
    del config["rayfleet:cost"]["monthlyBudgetUsd"]
    config["rayfleet:cost"]["activateTags"] = True
    plan = run_plan(path=write_stack(tmp_path, config, env="nobudget"))
    assert plan.of_type(BUDGET) == []
    assert len(plan.of_type(TAG)) == len(COST_ALLOCATION_KEYS) + 2


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_taggable_cost_resource_carries_the_cost_tags(plans, env):
    cfg = load_environment(env)
    primary_cluster = cfg.cluster_id(cfg.primary_region.name)
    plan = plans(env)
    costed = [r for r in plan.resources if r.component == "cost"]
    assert costed
    taggable = [r for r in costed if _taggable(r.type)]
    assert [r.type for r in taggable] == ([BUDGET] if cfg.cost.monthly_budget_usd else [])
    for resource in taggable:
        tags = resource.inputs["tags"]
        assert tags[ENV_KEY] == env
        assert tags[CLUSTER_KEY] == primary_cluster
        assert tags[COMPONENT_KEY] == "cost"
        assert {k: tags[k] for k in cfg.cost.tags} == cfg.cost.tags


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_account_wide_provider_is_named_aws_global_in_the_primary_region(plans, env):
    cfg = load_environment(env)
    provider = plans(env).named("aws-global")
    assert provider.inputs["region"] == cfg.primary_region.name
    assert provider.region == "global"


def test_tag_activation_can_wait_while_the_budget_stays(tmp_path):
    # Cost Explorer refuses keys it has not yet seen in billing data: a new account's
    # first `pulumi up` turns activation off and keeps its budget.
    config = stack_config("prod")
    config["rayfleet:cost"]["activateTags"] = False
    plan = run_plan(path=write_stack(tmp_path, config, env="prod"))
    assert plan.of_type(TAG) == []
    (budget,) = plan.of_type(BUDGET)
    assert budget.inputs["limitAmount"] == "8000.00"
