"""`rayfleet status --env prod` against a moto_server holding prod's ASGs, instances, target group, alarms and
drift metric, with a dashboard double answering recorded Ray answers in one region and nothing in the other.
"""

from __future__ import annotations

import json
import sys
import urllib.request
from decimal import Decimal
from pathlib import Path

import boto3
import pytest

from components.alarms.plan import alarm_name
from components.contract import APPLICATION_LABEL, CLUSTER_DIMENSION, DRIFT_METRIC, metrics_namespace
from cost.prices import PriceCatalog
from stacks.loader import load_environment
from tests.fakes.asg_cluster import build_planned_cluster
from tests.fakes.cli import run_cli
from tests.fakes.dashboard import fake_dashboard
from tests.fakes.ports import free_port

EAST, WEST = "us-east-1", "us-west-2"
TOKEN = "t0ken-of-prod"
#: moto launches the fixture's launch template type, whatever the overrides say.
LAUNCHED = "m6i.large"
RECORDED = Path(__file__).resolve().parents[1] / "unit" / "fixtures" / "ray_two_nodes.json"


def _secret(region: str) -> str:
    client = boto3.client("secretsmanager", region_name=region)
    return client.create_secret(Name=f"rayfleet-prod-{region}-dashboard-token", SecretString=TOKEN)["ARN"]


def _target_group(region: str, instance_ids: list[str]) -> str:
    vpc = boto3.client("ec2", region_name=region).describe_vpcs()["Vpcs"][0]["VpcId"]
    elbv2 = boto3.client("elbv2", region_name=region)
    arn = elbv2.create_target_group(Name="rf-prod-use1-serve", Protocol="HTTP", Port=8000, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
    elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": i, "Port": 8000} for i in instance_ids])
    return arn


def _alarm(region: str, name: str, state: str, reason: str) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=region)
    cloudwatch.put_metric_alarm(AlarmName=name, Namespace="AWS/ApplicationELB", MetricName="HTTPCode_ELB_5XX_Count",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=reason)


@pytest.fixture
def prod(aws_env, tmp_path):
    """prod in moto: us-east-1 with 3 spot and 1 on-demand workers, a target group, alarms and digits' drift;
    us-west-2 as planned (head + 2 spot workers), its dashboard down and no targetGroupArn in its outputs."""
    # The moto_server lives for the module: each test starts from an empty account.
    urllib.request.urlopen(urllib.request.Request(aws_env["AWS_ENDPOINT_URL"] + "/moto-api/reset", method="POST")).read()
    cfg = load_environment("prod")
    session = boto3.session.Session()
    names = {region: build_planned_cluster(session, cfg, region) for region in (EAST, WEST)}
    autoscaling = boto3.client("autoscaling", region_name=EAST)
    autoscaling.set_desired_capacity(AutoScalingGroupName="rayfleet-prod-us-east-1-cpu-spot", DesiredCapacity=3)
    autoscaling.set_desired_capacity(AutoScalingGroupName="rayfleet-prod-us-east-1-cpu-on-demand", DesiredCapacity=1)
    workers = [i["InstanceId"] for g in autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"]
               if not g["AutoScalingGroupName"].endswith("-head") for i in g["Instances"]]
    _alarm(EAST, alarm_name("prod", EAST, "5xx-ratio"), "ALARM", "5xx ratio 7 % > 5 %")
    _alarm(EAST, alarm_name("prod", EAST, "p99-latency"), "OK", "p99 0.4 s <= 2 s")
    # Route 53's health-check alarms of every region live in us-east-1, where Route 53 publishes its metrics.
    _alarm(EAST, alarm_name("prod", EAST, "health-check"), "OK", "us-east-1 healthy")
    _alarm(EAST, alarm_name("prod", WEST, "health-check"), "ALARM", "us-west-2 failing its health check")
    _alarm(EAST, alarm_name("staging", EAST, "5xx-ratio"), "ALARM", "another environment's")
    _alarm(EAST, alarm_name("prod-eu", EAST, "5xx-ratio"), "ALARM", "another environment's, its name starting prod-")
    # As the node agent ships it, [Cluster, application]; the datum with `application` alone is another metric.
    digits = {"Name": APPLICATION_LABEL, "Value": "digits"}
    boto3.client("cloudwatch", region_name=EAST).put_metric_data(Namespace=metrics_namespace("prod"), MetricData=[
        {"MetricName": DRIFT_METRIC, "Dimensions": [{"Name": CLUSTER_DIMENSION, "Value": cfg.cluster_id(EAST)}, digits], "Value": 0.31},
        {"MetricName": DRIFT_METRIC, "Dimensions": [digits], "Value": 0.93},
    ])
    recorded = json.loads(RECORDED.read_text())
    with fake_dashboard(recorded["serve"], recorded["nodes"], TOKEN) as dashboard:
        down = f"http://127.0.0.1:{free_port()}"
        outputs = {"env": "prod", "regions": {
            EAST: {"cluster": "rayfleet-prod-us-east-1", "dashboardUrl": dashboard, "dashboardTokenSecretArn": _secret(EAST),
                   "targetGroupArn": _target_group(EAST, workers)},
            WEST: {"cluster": "rayfleet-prod-us-west-2", "dashboardUrl": down, "dashboardTokenSecretArn": _secret(WEST)},
        }}
        path = tmp_path / "outputs.json"
        path.write_text(json.dumps(outputs))
        env = {**aws_env, "RAYFLEET_PRICE_CACHE": str(tmp_path / "no-price-cache"), "RAYFLEET_HOME": str(tmp_path / "home")}
        yield env, path, down, names


def _spend(region: str, on_demand: int, spot: int) -> Decimal:
    prices = PriceCatalog.load(Path("/nonexistent"))
    return prices.on_demand(LAUNCHED, region) * on_demand + prices.spot(LAUNCHED, region) * spot


@pytest.mark.slow  # rayfleet in a subprocess against a moto_server
def test_status_env_json_shows_each_regions_asgs_ray_targets_alarms_spend_and_drift(prod):
    env, outputs, down, _ = prod
    run = run_cli("status", "--env", "prod", "--outputs", str(outputs), "--json", env=env)
    assert (run.code, run.err) == (0, ""), run.err
    east, west = json.loads(run.out)["regions"]

    assert [(a["name"], a["nodeType"], a["market"], a["desired"], a["running"]) for a in east["asgs"]] == [
        ("rayfleet-prod-us-east-1-head", "head", "on-demand", 1, 1),
        ("rayfleet-prod-us-east-1-cpu-on-demand", "cpu", "on-demand", 1, 1),
        ("rayfleet-prod-us-east-1-cpu-spot", "cpu", "spot", 3, 3),
        ("rayfleet-prod-us-east-1-gpu-on-demand", "gpu", "on-demand", 0, 0),
        ("rayfleet-prod-us-east-1-gpu-spot", "gpu", "spot", 0, 0),
    ]
    assert east["rayNodes"] == 2
    assert [(a["name"], a["status"]) for a in east["applications"]] == [("alpha", "RUNNING"), ("beta", "RUNNING"), ("gamma", "RUNNING")]
    assert east["targets"] == {"healthy": 4, "registered": 4}
    assert east["alarms"] == [
        {"name": "rayfleet-prod-us-east-1-5xx-ratio", "state": "ALARM", "reason": "5xx ratio 7 % > 5 %"},
        {"name": "rayfleet-prod-us-east-1-health-check", "state": "OK", "reason": "us-east-1 healthy"},
        {"name": "rayfleet-prod-us-east-1-p99-latency", "state": "OK", "reason": "p99 0.4 s <= 2 s"},
    ]
    assert Decimal(east["spendPerHour"]) == _spend(EAST, on_demand=2, spot=3)
    assert east["drift"] == {"sentiment": None, "digits": 0.31}
    assert east["problems"] == {}

    assert [(a["market"], a["desired"], a["running"]) for a in west["asgs"] if a["running"]] == [("on-demand", 1, 1), ("spot", 2, 2)]
    assert Decimal(west["spendPerHour"]) == _spend(WEST, on_demand=1, spot=2)
    assert (west["rayNodes"], west["applications"], west["targets"]) == (None, None, None)
    assert west["alarms"] == [
        {"name": "rayfleet-prod-us-west-2-health-check", "state": "ALARM", "reason": "us-west-2 failing its health check"},
    ]
    assert west["problems"]["ray"].startswith(f"cannot reach the Ray dashboard at {down} (GET /api/serve/applications/: ")
    assert west["problems"]["targets"] == "the stack outputs lack targetGroupArn (stack deployed by an older rayfleet)"


@pytest.mark.slow  # rayfleet in a subprocess against a moto_server
def test_status_env_view_says_what_it_cannot_reach_in_that_cell(prod):
    env, outputs, down, _ = prod
    run = run_cli("status", "--env", "prod", "--outputs", str(outputs), env=env)
    assert (run.code, run.err) == (0, ""), run.err
    lines = [line.rstrip() for line in run.out.splitlines()]
    assert "prod/us-east-1" in lines and "prod/us-west-2" in lines
    assert "ray nodes    2 joined" in lines
    assert "ALB targets  4/4 healthy" in lines
    assert "alarms       1 ALARM · 2 OK  firing: rayfleet-prod-us-east-1-5xx-ratio" in lines
    assert "alarms       1 ALARM  firing: rayfleet-prod-us-west-2-health-check" in lines
    assert f"spend        ${_spend(EAST, 2, 3):.4f}/h" in lines
    assert any(line.startswith(f"ray nodes    unavailable: cannot reach the Ray dashboard at {down}") for line in lines)
    assert "ALB targets  unavailable: the stack outputs lack targetGroupArn (stack deployed by an older rayfleet)" in lines
    rows = [[cell.strip() for cell in line.split("│")] for line in lines if "│" in line]
    assert ["rayfleet-prod-us-east-1-cpu-spot", "cpu", "spot", "3", "3"] in rows
    assert [r for r in rows if r[0] in ("digits", "sentiment")] == [
        ["digits", "not deployed", "-", "0.310"],
        ["sentiment", "not deployed", "-", "n/a"],
        ["digits", "unknown (see ray nodes)", "-", "n/a"],
        ["sentiment", "unknown (see ray nodes)", "-", "n/a"],
    ]


@pytest.mark.slow  # rayfleet in a subprocess against a moto_server
def test_status_env_without_credentials_is_one_line_with_the_fix(prod, monkeypatch, tmp_path):
    env, outputs, _, _ = prod
    for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE"):
        monkeypatch.delenv(key, raising=False)
    env = {k: v for k, v in env.items() if not k.startswith("AWS_ACCESS") and not k.startswith("AWS_SECRET")}
    env.update({"AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "none"), "AWS_CONFIG_FILE": str(tmp_path / "none"),
                "AWS_EC2_METADATA_DISABLED": "true"})
    run = run_cli("status", "--env", "prod", "--outputs", str(outputs), env=env)
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        "error: no AWS credentials found, so environment 'prod' cannot be read in us-east-1. Fix: configure credentials "
        "(aws configure, AWS_PROFILE, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY)\n"
    )


@pytest.mark.slow  # rayfleet in a subprocess against a moto_server
def test_status_env_without_stack_outputs_is_one_line_with_the_fix(aws_env, tmp_path):
    run = run_cli("status", "--env", "prod", env={**aws_env, "PATH": str(Path(sys.executable).parent / "no-pulumi")})
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        "error: the Pulumi CLI is not on PATH, so the stack's outputs cannot be read. Fix: install Pulumi, or pass "
        "--outputs FILE written by 'pulumi stack output --json --stack prod'\n"
    )
