"""Reading the drill's target from stack outputs: what it needs, and what it says when that is missing."""

from __future__ import annotations

import pytest

from components.drills.failover_targets import DrillError
from components.errors import RayfleetError
from stacks.drill_target import drill_target
from stacks.outputs import read_stack_outputs
from stacks.outputs_model import StackOutputs

RECORDS = [
    {"region": "us-east-1", "role": "PRIMARY", "healthCheckId": "hc-1", "loadBalancerDnsName": "a.elb"},
    {"region": "us-west-2", "role": "SECONDARY", "healthCheckId": "hc-2", "loadBalancerDnsName": "b.elb"},
]
OUTPUTS = {
    "failover": {"mode": "active-passive", "domain": "api.example.com", "hostedZoneId": "Z1", "records": RECORDS}
}


def _target(outputs: dict):
    return drill_target(StackOutputs.model_validate(outputs), "prod")


def test_first_record_is_the_primary_and_the_rest_are_where_traffic_may_go():
    target = _target(OUTPUTS)
    assert (target.primary.region, target.primary.health_check_id) == ("us-east-1", "hc-1")
    assert [(o.region, o.load_balancer_dns_name) for o in target.others] == [("us-west-2", "b.elb")]


def test_outputs_without_failover_say_how_to_get_it():
    with pytest.raises(DrillError) as caught:
        _target({"regions": {}})
    assert str(caught.value) == (
        "the stack outputs of 'prod' have no 'failover' entry: the stack was deployed before failover was "
        "configured, or by an older rayfleet. Fix: run 'pulumi up --stack prod', then drill again"
    )


@pytest.mark.parametrize(
    ("failover", "lacking"),
    [
        ({**OUTPUTS["failover"], "records": [{k: v for k, v in RECORDS[0].items() if k != "healthCheckId"}]},
         "'healthCheckId'"),
        ({"mode": "active-passive", "domain": "api.example.com",
          "records": [{"region": "us-east-1", "role": "PRIMARY"}, {"region": "us-west-2", "role": "SECONDARY"}]},
         "'hostedZoneId', 'healthCheckId', 'loadBalancerDnsName'"),
    ],
)
def test_incomplete_failover_output_names_each_missing_key_once(failover, lacking):
    with pytest.raises(DrillError) as caught:
        _target({"failover": failover})
    assert str(caught.value) == (
        f"the failover output of 'prod' lacks {lacking}: it was written by an older rayfleet. "
        "Fix: run 'pulumi up --stack prod' with this rayfleet, then drill again"
    )


def test_failover_output_of_one_region_has_nowhere_to_move_traffic():
    with pytest.raises(DrillError) as caught:
        _target({"failover": {**OUTPUTS["failover"], "records": RECORDS[:1]}})
    assert str(caught.value) == "the failover output of 'prod' has one region only. Fix: add a second region"


def test_outputs_file_that_is_not_json_is_named(tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text("regions: {}\n")
    with pytest.raises(RayfleetError) as caught:
        read_stack_outputs("prod", path)
    assert str(caught.value) == (
        f"{path}: is not JSON (Expecting value, line 1). "
        f"Fix: write it with 'pulumi stack output --json --stack prod > {path}'"
    )
