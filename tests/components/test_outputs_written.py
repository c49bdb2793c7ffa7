"""The program writes its stack outputs through the model that every reader parses them with."""

from __future__ import annotations

import pytest
from pydantic import BaseModel

from stacks.outputs_model import FailoverOutputs, FailoverRecord, RegionOutputs, StackOutputs
from tests.fakes.environments import ENVIRONMENTS


def _keys(model: type[BaseModel]) -> set[str]:
    return {field.alias or name for name, field in model.model_fields.items()}


def test_prod_exports_every_key_of_the_model(plans):
    outputs = plans("prod").outputs  # prod has every part: two regions, DNS failover
    # `slot` and `upgrade` are written only on a green stack and mid-upgrade (tests/components/test_blue_green_plan.py).
    assert set(outputs) == _keys(StackOutputs) - {"slot", "upgrade"}
    for region in outputs["regions"].values():
        assert set(region) == _keys(RegionOutputs)
    assert set(outputs["failover"]) == _keys(FailoverOutputs)
    for record in outputs["failover"]["records"]:
        assert set(record) == _keys(FailoverRecord)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_outputs_read_back_exactly_as_written(plans, env):
    outputs = plans(env).outputs
    assert StackOutputs.model_validate(outputs).to_json() == outputs


def test_without_failover_neither_the_failover_key_nor_health_checks_are_written(plans):
    outputs = StackOutputs.model_validate(plans("dev").outputs)
    assert outputs.failover is None
    assert outputs.regions["us-west-2"].missing("health_check_id") == ["healthCheckId"]
    assert outputs.regions["us-west-2"].missing(*(set(RegionOutputs.model_fields) - {"health_check_id"})) == []
