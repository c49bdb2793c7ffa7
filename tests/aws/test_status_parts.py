"""The parts of `rayfleet status --env`, in-process: which ASGs are the environment's, what counts as a healthy
target, and how the spend rate prices each market."""

from __future__ import annotations

from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber

from components.contract import Market
from serve_apps.environment_status import AsgState, RegionStatus, _read_targets, read_asgs, spend_per_hour
from stacks.loader import load_environment
from tests.fakes.asg_cluster import build_planned_cluster

ARN = "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/rf-prod-use1-serve/0123456789abcdef"


def test_only_the_environments_asgs_are_shown(aws):
    session = boto3.session.Session(region_name="us-east-1")
    build_planned_cluster(session, load_environment("prod"), "us-east-1")
    build_planned_cluster(session, load_environment("staging"), "us-east-1")
    asgs = read_asgs(session.client("autoscaling"), "prod", "us-east-1")
    assert {a.cluster for a in asgs} == {"rayfleet-prod-us-east-1"}
    assert asgs[0].node_type == "head" and {a.market for a in asgs} == {Market.SPOT, Market.ON_DEMAND}


def test_only_targets_in_state_healthy_count_as_healthy():
    # ELB's target states: initial, healthy, unhealthy, unhealthy.draining, unused, draining, unavailable.
    elbv2 = boto3.client("elbv2", region_name="us-east-1", aws_access_key_id="x", aws_secret_access_key="x")
    states = ["healthy", "initial", "unhealthy", "draining", "healthy", "unhealthy.draining"]
    with Stubber(elbv2) as stub:
        stub.add_response("describe_target_health", {"TargetHealthDescriptions": [
            {"Target": {"Id": f"i-{n:017x}", "Port": 8000}, "TargetHealth": {"State": state}} for n, state in enumerate(states)
        ]}, {"TargetGroupArn": ARN})
        status = RegionStatus("us-east-1", [])
        _read_targets(status, elbv2, ARN)
    assert status.targets == (2, 6)


def test_spend_prices_spot_instances_at_the_spot_price_and_on_demand_at_on_demand():
    prices = {("m6i.2xlarge", Market.ON_DEMAND): Decimal("0.384"), ("m6i.2xlarge", Market.SPOT): Decimal("0.1344"),
              ("m6i.xlarge", Market.ON_DEMAND): Decimal("0.192")}
    asgs = [
        AsgState("c-head", "c", "head", Market.ON_DEMAND, 1, {"m6i.xlarge": 1}),
        AsgState("c-cpu-spot", "c", "cpu", Market.SPOT, 3, {"m6i.2xlarge": 2}),  # one still launching
        AsgState("c-cpu-on-demand", "c", "cpu", Market.ON_DEMAND, 1, {"m6i.2xlarge": 1}),
    ]
    assert spend_per_hour(asgs, "us-east-1", lambda kind, region, market: prices[kind, market]) == Decimal("0.8448")


@pytest.mark.parametrize("market", list(Market))
def test_an_asg_with_no_running_instance_costs_nothing(market):
    asg = AsgState("c-gpu", "c", "gpu", market, 2, {})
    assert spend_per_hour([asg], "us-east-1", lambda *args: pytest.fail("nothing to price")) == Decimal(0)


def test_status_declares_exactly_the_aws_calls_it_makes():
    import inspect
    from pathlib import Path

    from serve_apps import environment_status
    from stacks.outputs import dashboard_token
    from tests.fakes.aws_call_scan import calls_in

    source = Path(environment_status.__file__).read_text() + inspect.getsource(dashboard_token)
    assert calls_in(source, {"autoscaling", "elbv2", "cloudwatch", "secretsmanager"}) == set(environment_status.PERMISSIONS)


def test_a_drift_score_published_the_same_second_as_the_read_counts_and_a_missing_one_is_none(aws):
    import datetime as dt

    from components.contract import APPLICATION_LABEL, CLUSTER_DIMENSION, DRIFT_METRIC, metrics_namespace
    from serve_apps.environment_status import read_drift

    cfg = load_environment("prod")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    # The agent ships the gauge with [Cluster, application], and CloudWatch matches a query's dimension set exactly:
    # a datum with `application` alone is another metric, which neither the alarm nor status reads.
    shipped = [{"Name": CLUSTER_DIMENSION, "Value": cfg.cluster_id("us-east-1")}, {"Name": APPLICATION_LABEL, "Value": "digits"}]
    cloudwatch.put_metric_data(Namespace=metrics_namespace("prod"), MetricData=[
        {"MetricName": DRIFT_METRIC, "Dimensions": shipped, "Value": 0.42, "Timestamp": now},
        {"MetricName": DRIFT_METRIC, "Dimensions": shipped[1:], "Value": 0.97, "Timestamp": now},
    ])
    assert read_drift(cloudwatch, cfg, "us-east-1", now=now) == {"sentiment": None, "digits": 0.42}


def test_a_drift_score_of_another_regions_cluster_is_not_this_regions(aws):
    import datetime as dt

    from components.contract import APPLICATION_LABEL, CLUSTER_DIMENSION, DRIFT_METRIC, metrics_namespace
    from serve_apps.environment_status import read_drift

    cfg = load_environment("prod")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    cloudwatch.put_metric_data(Namespace=metrics_namespace("prod"), MetricData=[{
        "MetricName": DRIFT_METRIC, "Value": 0.5, "Timestamp": now,
        "Dimensions": [{"Name": CLUSTER_DIMENSION, "Value": cfg.cluster_id("us-west-2")}, {"Name": APPLICATION_LABEL, "Value": "digits"}],
    }])
    assert read_drift(cloudwatch, cfg, "us-east-1", now=now) == {"sentiment": None, "digits": None}


def _put_alarm(region: str, name: str, state: str) -> None:
    cloudwatch = boto3.client("cloudwatch", region_name=region)
    cloudwatch.put_metric_alarm(AlarmName=name, Namespace="AWS/ApplicationELB", MetricName="HTTPCode_ELB_5XX_Count",
                                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=name, StateValue=state, StateReason=f"{name} is {state}")


def _alarms_fixture() -> None:
    """prod's alarms of both regions, us-west-2's Route 53 health-check alarm in us-east-1 where Route 53 publishes,
    and alarms of staging and of an environment whose name starts `prod-` in the same regions."""
    from components.alarms.plan import alarm_name

    for region in ("us-east-1", "us-west-2"):
        _put_alarm(region, alarm_name("prod", region, "5xx-ratio"), "ALARM")
        _put_alarm(region, alarm_name("prod", region, "p99-latency"), "OK")
        _put_alarm(region, alarm_name("staging", region, "5xx-ratio"), "ALARM")
        _put_alarm(region, alarm_name("prod-eu", region, "5xx-ratio"), "ALARM")
        _put_alarm("us-east-1", alarm_name("prod", region, "health-check"), "OK")
    _put_alarm("us-east-1", alarm_name("prod-eu", "eu-west-1", "health-check"), "ALARM")


def test_a_regions_alarms_include_its_route53_health_check_alarm_that_lives_in_us_east_1(aws):
    from components.alarms.plan import alarm_name
    from serve_apps.environment_status import boto_client, read_alarms

    _alarms_fixture()
    alarms = read_alarms(boto_client, "prod", "us-west-2")
    assert [(a.name, a.state) for a in alarms] == [
        (alarm_name("prod", "us-west-2", "5xx-ratio"), "ALARM"),
        (alarm_name("prod", "us-west-2", "health-check"), "OK"),
        (alarm_name("prod", "us-west-2", "p99-latency"), "OK"),
    ]


def test_us_east_1_lists_its_own_alarms_once_and_no_other_regions_or_environments(aws):
    from components.alarms.plan import alarm_name
    from serve_apps.environment_status import boto_client, read_alarms

    _alarms_fixture()
    alarms = read_alarms(boto_client, "prod", "us-east-1")
    assert [a.name for a in alarms] == [
        alarm_name("prod", "us-east-1", "5xx-ratio"),
        alarm_name("prod", "us-east-1", "health-check"),
        alarm_name("prod", "us-east-1", "p99-latency"),
    ]
