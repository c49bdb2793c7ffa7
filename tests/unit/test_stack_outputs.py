"""The stack-outputs model and its one reader: what each reader is told when outputs are missing or malformed."""

from __future__ import annotations

import json

import pytest

from components.contract import Market
from components.errors import RayfleetError
from cost.attribution import stack_dashboard
from serve_apps.cloud import region_outputs
from stacks.export import resolved
from stacks.outputs import OutputsUnavailable, parse_stack_outputs, read_stack_outputs, stack_region
from stacks.outputs_model import RegionOutputs, StackOutputs

REGION = {
    "dashboardUrl": "http://head.rayfleet-prod-us-east-1.rayfleet.internal:8265",
    "dashboardTokenSecretArn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:token-AbCdEf",
    "artifactBucket": "rayfleet-prod-us-east-1-0123",
}


def _write(tmp_path, data) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(data))
    return path


def test_missing_names_absent_and_empty_fields_by_their_output_keys():
    region = RegionOutputs.model_validate({"dashboardUrl": "", "primary": False, "workerAsgs": {}})
    assert region.missing("dashboard_url", "primary", "worker_asgs", "artifact_bucket") == [
        "dashboardUrl",
        "workerAsgs",
        "artifactBucket",
    ]


def test_asking_for_a_field_the_model_lacks_is_a_bug_not_a_missing_output():
    with pytest.raises(AttributeError, match="RegionOutputs has no field dashboard"):
        RegionOutputs().missing("dashboard")


def test_keys_this_rayfleet_does_not_know_are_ignored():
    outputs = StackOutputs.model_validate({"env": "prod", "regions": {"us-east-1": {**REGION, "newKey": 1}}, "x": 2})
    assert outputs.to_json() == {"env": "prod", "regions": {"us-east-1": REGION}}


def test_worker_asgs_keep_whatever_market_keys_the_program_wrote():
    asgs = {"cpu": {Market.SPOT.value: "c-cpu-spot", Market.ON_DEMAND.value: "c-cpu-on-demand"}}
    region = RegionOutputs.model_validate({"workerAsgs": asgs})
    assert region.worker_asgs == asgs
    assert region.to_json() == {"workerAsgs": asgs}


def test_plan_json_is_read_for_its_outputs(tmp_path):
    path = _write(tmp_path, {"env": "prod", "resources": [], "summary": {}, "outputs": {"regions": {"us-east-1": REGION}}})
    assert read_stack_outputs("prod", path).regions["us-east-1"].artifact_bucket == REGION["artifactBucket"]


def test_output_of_the_wrong_type_names_the_key_the_stack_and_the_fix(tmp_path):
    path = _write(tmp_path, {"regions": {"us-east-1": {**REGION, "privateSubnetIds": "subnet-1"}}})
    with pytest.raises(RayfleetError) as caught:
        read_stack_outputs("prod", path)
    assert str(caught.value) == (
        f"{path}: the stack outputs of 'prod' have regions.us-east-1.privateSubnetIds = 'subnet-1': "
        "Input should be a valid list. Fix: update the stack with this rayfleet ('pulumi up --stack prod'), "
        "or pass --outputs FILE written by 'pulumi stack output --json --stack prod'"
    )


def test_failover_record_of_the_wrong_type_names_its_index():
    with pytest.raises(RayfleetError) as caught:
        parse_stack_outputs({"failover": {"records": [{"region": "us-east-1"}, "us-west-2"]}}, "prod", "outputs.json")
    assert str(caught.value).startswith("outputs.json: the stack outputs of 'prod' have failover.records[1] = 'us-west-2': ")


def test_outputs_that_are_not_an_object_are_refused(tmp_path):
    with pytest.raises(RayfleetError) as caught:
        read_stack_outputs("prod", _write(tmp_path, ["us-east-1"]))
    assert str(caught.value) == (
        f"{tmp_path / 'outputs.json'}: holds list, not the stack outputs of 'prod'. "
        "Fix: pass what 'pulumi stack output --json --stack prod' prints"
    )


def test_missing_file_is_outputs_unavailable(tmp_path):
    with pytest.raises(OutputsUnavailable) as caught:
        read_stack_outputs("prod", tmp_path / "nope.json")
    assert str(caught.value) == f"{tmp_path / 'nope.json'}: no such file. Fix: check the path given to --outputs"


def test_pulumi_printing_no_json_is_named(tmp_path, monkeypatch):
    fake = tmp_path / "pulumi"
    fake.write_text("#!/bin/sh\necho 'warning: the stack is locked'\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(RayfleetError) as caught:
        read_stack_outputs("prod", cwd=tmp_path)
    assert not isinstance(caught.value, OutputsUnavailable)
    assert str(caught.value) == (
        "'pulumi stack output --json --stack prod' printed no JSON (Expecting value, line 1). "
        "Fix: run it yourself to see why, or pass --outputs FILE"
    )


def test_region_absent_from_the_outputs_is_named_with_the_regions_there():
    outputs = StackOutputs.model_validate({"regions": {"us-east-1": {}}})
    with pytest.raises(RayfleetError) as caught:
        stack_region(outputs, "dev", "us-west-2")
    assert str(caught.value) == (
        "stack 'dev' has no outputs for region us-west-2 (regions in the outputs: us-east-1). "
        "Fix: run 'pulumi up --stack dev', or pick a region it has"
    )


def test_deployer_names_every_output_it_lacks():
    outputs = StackOutputs.model_validate({"regions": {"us-east-1": {"dashboardUrl": REGION["dashboardUrl"]}}})
    with pytest.raises(RayfleetError) as caught:
        region_outputs(outputs, "prod", "us-east-1")
    assert str(caught.value) == (
        "stack 'prod' outputs regions.us-east-1 lack dashboardTokenSecretArn, artifactBucket. "
        "Fix: update the stack ('pulumi up --stack prod') with a rayfleet that exports them"
    )


def test_cost_allocation_reads_the_dashboard_with_the_deployers_checks(tmp_path):
    path = _write(tmp_path, {"regions": {"us-east-1": {"artifactBucket": REGION["artifactBucket"]}}})
    with pytest.raises(RayfleetError) as caught:
        stack_dashboard("prod", "us-east-1", path)
    assert str(caught.value) == (
        "stack 'prod' outputs regions.us-east-1 lack dashboardUrl. "
        "Fix: update the stack ('pulumi up --stack prod') with a rayfleet that exports them"
    )
    with pytest.raises(RayfleetError, match=r"^stack 'prod' has no outputs for region us-west-2 \(regions in the"):
        stack_dashboard("prod", "us-west-2", path)


def test_cost_allocation_without_a_token_secret_leaves_the_token_to_the_user(tmp_path):
    path = _write(tmp_path, {"regions": {"us-east-1": {"dashboardUrl": REGION["dashboardUrl"]}}})
    assert stack_dashboard("prod", "us-east-1", path) == (REGION["dashboardUrl"], None)


def test_program_writing_a_field_the_model_lacks_fails_at_once():
    with pytest.raises(TypeError, match=r"^RegionOutputs has no field vpcId$"):
        resolved(RegionOutputs, vpcId="vpc-1")
