"""Alarms under mocks: per region a topic with the alert e-mails, each alarm on its metric, one dashboard."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatch

import pytest

from components.contract import (
    APPLICATION_LABEL,
    BOOT_FAILED_METRIC,
    CLUSTER_DIMENSION,
    DRIFT_METRIC,
    NODE_GROUP_DIMENSION,
    SPOT_FALLBACK_METRIC,
    metrics_namespace,
)
from stacks.cluster_args import min_healthy_targets
from stacks.loader import load_environment
from stacks.plan import run_plan
from tests.fakes.environments import ENVIRONMENTS, stack_config, write_stack

TOPIC = "aws:sns/topic:Topic"
SUBSCRIPTION = "aws:sns/topicSubscription:TopicSubscription"
TOPIC_POLICY = "aws:sns/topicPolicy:TopicPolicy"
ALARM = "aws:cloudwatch/metricAlarm:MetricAlarm"
DASHBOARD = "aws:cloudwatch/dashboard:Dashboard"
BUDGET = "aws:budgets/budget:Budget"
ALB = "aws:lb/loadBalancer:LoadBalancer"
TARGET_GROUP = "aws:lb/targetGroup:TargetGroup"


def _alarms(plan) -> dict[str, object]:
    return {a.inputs["name"]: a for a in plan.of_type(ALARM)}


def _arn_region(arn: str) -> str:
    return arn.split(":")[3]


def _topics(plan) -> dict[str, object]:
    return {t.region: t for t in plan.of_type(TOPIC)}


@pytest.fixture(scope="module")
def suffixes(plans):
    """Per (env, region): the ALB's and the Serve target group's arnSuffix as the mocks reported them."""
    from stacks.mocks import EXTRA_OUTPUTS

    out = {}
    for env in ENVIRONMENTS:
        plan = plans(env)
        for region in load_environment(env).region_names:
            found = {}
            for token in (ALB, TARGET_GROUP):
                (resource,) = [r for r in plan.of_type(token, region) if r.component == "ingress"]
                found[token] = EXTRA_OUTPUTS[token](None, region, resource.id, resource.id)["arnSuffix"]
            out[env, region] = found
    return out


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_region_has_an_alert_topic_with_one_email_subscription_per_alert_address(plans, env):
    cfg = load_environment(env)
    plan = plans(env)
    topics = _topics(plan)
    assert sorted(topics) == sorted(cfg.region_names)
    for region, topic in topics.items():
        assert topic.inputs["name"] == f"rayfleet-{env}-{region}-alerts"
        assert topic.inputs["tags"]["rayfleet:component"] == "alarms"
        arn = f"arn:aws:sns:{region}:123456789012:rayfleet-{env}-{region}-alerts"
        subscriptions = [s.inputs for s in plan.of_type(SUBSCRIPTION, region)]
        assert sorted((s["protocol"], s["endpoint"], s["topic"]) for s in subscriptions) == sorted(
            ("email", email, arn) for email in cfg.cost.alert_emails
        )


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_alarm_notifies_a_topic_of_its_own_region_on_alarm_and_on_recovery(plans, env):
    # CloudWatch alarm actions can only publish to an SNS topic in the alarm's region.
    alarms = plans(env).of_type(ALARM)
    assert alarms
    for alarm in alarms:
        actions = alarm.inputs["alarmActions"]
        assert actions == alarm.inputs["okActions"]
        assert [_arn_region(a) for a in actions] == [alarm.region]
        assert alarm.inputs["name"].startswith(f"rayfleet-{env}-")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_load_balancer_alarms_watch_each_regions_alb_and_serve_target_group(plans, suffixes, env):
    cfg = load_environment(env)
    alarms = _alarms(plans(env))
    for region in cfg.region_names:
        lb, tg = suffixes[env, region][ALB], suffixes[env, region][TARGET_GROUP]
        ratio = alarms[f"rayfleet-{env}-{region}-5xx-ratio"]
        assert ratio.region == region
        queries = {q["id"]: q for q in ratio.inputs["metricQueries"]}
        assert {
            q["metric"]["metricName"]: (q["metric"]["namespace"], q["metric"]["dimensions"], q["metric"]["stat"])
            for q in queries.values() if "metric" in q
        } == {
            name: ("AWS/ApplicationELB", {"LoadBalancer": lb}, "Sum")
            for name in ("HTTPCode_Target_5XX_Count", "HTTPCode_ELB_5XX_Count", "RequestCount")
        }
        (returned,) = [q for q in queries.values() if q.get("returnData")]
        # The load balancer's own 503s (no healthy target) are not in RequestCount: they join the denominator.
        assert "100 * (FILL(targets, 0) + FILL(elb, 0)) / (FILL(requests, 0) + FILL(elb, 0))" in returned["expression"]
        assert (ratio.inputs["comparisonOperator"], ratio.inputs["threshold"]) == ("GreaterThanThreshold", 5)

        latency = alarms[f"rayfleet-{env}-{region}-p99-latency"].inputs
        assert (latency["namespace"], latency["metricName"], latency["dimensions"]) == (
            "AWS/ApplicationELB", "TargetResponseTime", {"LoadBalancer": lb},
        )
        assert latency["extendedStatistic"] == "p99" and "statistic" not in latency
        assert latency["threshold"] == 2

        healthy = alarms[f"rayfleet-{env}-{region}-healthy-targets"].inputs
        assert (healthy["metricName"], healthy["statistic"], healthy["comparisonOperator"]) == (
            "HealthyHostCount", "Minimum", "LessThanThreshold",
        )
        assert healthy["dimensions"] == {"TargetGroup": tg, "LoadBalancer": lb}
        assert healthy["threshold"] == min_healthy_targets(cfg) >= 1


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_cluster_alarms_read_the_environments_namespace_per_group_and_application(plans, env):
    cfg = load_environment(env)
    alarms = _alarms(plans(env))
    namespace = metrics_namespace(env)
    for region in cfg.region_names:
        cluster = cfg.cluster_id(region)
        for group in cfg.cluster.worker_groups:
            spot = alarms[f"rayfleet-{env}-{region}-spot-fallback-{group.name}"]
            assert spot.region == region
            assert (spot.inputs["namespace"], spot.inputs["metricName"], spot.inputs["statistic"]) == (
                namespace, SPOT_FALLBACK_METRIC, "Maximum",
            )
            assert spot.inputs["dimensions"] == {CLUSTER_DIMENSION: cluster, NODE_GROUP_DIMENSION: group.name}
        boot = alarms[f"rayfleet-{env}-{region}-boot-failed"].inputs
        assert (boot["namespace"], boot["metricName"], boot["statistic"], boot["dimensions"]) == (
            namespace, BOOT_FAILED_METRIC, "Sum", {CLUSTER_DIMENSION: cluster},
        )
        for app in cfg.serve.applications:
            drift = alarms[f"rayfleet-{env}-{region}-drift-{app.name}"].inputs
            assert (drift["namespace"], drift["metricName"], drift["dimensions"]) == (
                namespace, DRIFT_METRIC, {CLUSTER_DIMENSION: cluster, APPLICATION_LABEL: app.name},
            )
            assert (drift["comparisonOperator"], drift["threshold"]) == ("GreaterThanThreshold", app.drift.threshold)


def test_a_groups_spot_fallback_alarm_keeps_its_state_between_the_providers_reports(plans):
    # The node provider publishes only on a change (1 on fallback, 0 on return): between reports there is
    # no data, and the alarm must neither clear (notBreaching) nor fire (breaching) on the gap.
    missing = {
        re.sub(r"^rayfleet-prod-[a-z]+-[a-z]+-\d-", "", name): a.inputs["treatMissingData"]
        for name, a in _alarms(plans("prod")).items()
    }
    assert missing == {
        "5xx-ratio": "notBreaching",
        "p99-latency": "notBreaching",
        "healthy-targets": "breaching",
        "health-check": "breaching",
        "spot-fallback-cpu": "ignore",
        "spot-fallback-gpu": "ignore",
        "boot-failed": "notBreaching",
        "drift-sentiment": "notBreaching",
        "drift-digits": "notBreaching",
    }


def test_route53_alarms_live_in_us_east_1_for_every_checked_region(plans):
    # Route 53 publishes health-check metrics to CloudWatch only in US East (N. Virginia).
    plan = plans("prod")
    alarms = _alarms(plan)
    for region in ("us-east-1", "us-west-2"):
        alarm = alarms[f"rayfleet-prod-{region}-health-check"]
        assert alarm.region == "us-east-1"
        inputs = alarm.inputs
        assert (inputs["namespace"], inputs["metricName"], inputs["statistic"]) == (
            "AWS/Route53", "HealthCheckStatus", "Minimum",
        )
        assert inputs["dimensions"] == {"HealthCheckId": plan.outputs["regions"][region]["healthCheckId"]}
        assert (inputs["comparisonOperator"], inputs["threshold"]) == ("LessThanThreshold", 1)
        assert inputs["alarmActions"] == ["arn:aws:sns:us-east-1:123456789012:rayfleet-prod-us-east-1-alerts"]


@pytest.mark.parametrize("env", ["dev", "staging"])
def test_environments_without_failover_have_no_health_check_alarm(plans, env):
    assert not [a for a in plans(env).of_type(ALARM) if a.inputs.get("namespace") == "AWS/Route53"]


def test_failover_between_regions_other_than_us_east_1_alarms_from_a_us_east_1_topic(tmp_path):
    config = stack_config("prod")
    config["aws:region"] = "us-west-2"
    config["rayfleet:regions"] = [
        {"name": "us-west-2", "cidr": "10.20.0.0/16"},
        {"name": "eu-west-1", "cidr": "10.30.0.0/16"},
    ]
    plan = run_plan(path=write_stack(tmp_path, config, env="prod"))
    route53 = [a for a in plan.of_type(ALARM) if a.inputs.get("namespace") == "AWS/Route53"]
    assert sorted(a.inputs["name"] for a in route53) == [
        "rayfleet-prod-eu-west-1-health-check", "rayfleet-prod-us-west-2-health-check",
    ]
    assert {a.region for a in route53} == {"us-east-1"}
    (provider,) = [p for p in plan.of_type("pulumi:providers:aws") if p.name == "aws-us-east-1"]
    assert provider.inputs["region"] == "us-east-1"
    (topic,) = plan.of_type(TOPIC, "us-east-1")
    assert {a.inputs["alarmActions"][0] for a in route53} == {
        "arn:aws:sns:us-east-1:123456789012:" + topic.inputs["name"]
    }
    assert [s.inputs["endpoint"] for s in plan.of_type(SUBSCRIPTION, "us-east-1")] == ["ml-platform@example.com"]
    # Nothing else of the environment moves to us-east-1.
    assert {r.type for r in plan.in_region("us-east-1")} == {
        "pulumi:providers:aws", TOPIC, TOPIC_POLICY, SUBSCRIPTION, ALARM,
    }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_the_budget_notifies_the_primary_regions_topic_which_lets_budgets_publish(plans, env):
    cfg = load_environment(env)
    plan = plans(env)
    primary = cfg.primary_region.name
    topic_arn = f"arn:aws:sns:{primary}:123456789012:rayfleet-{env}-{primary}-alerts"
    (budget,) = plan.of_type(BUDGET)
    assert {arn for n in budget.inputs["notifications"] for arn in n["subscriberSnsTopicArns"]} == {topic_arn}
    for policy in plan.of_type(TOPIC_POLICY):
        document = json.loads(policy.inputs["policy"])
        statements = {s["Principal"]["Service"]: s for s in document["Statement"]}
        budgets = statements.get("budgets.amazonaws.com")
        if policy.inputs["arn"] != topic_arn:
            assert budgets is None  # only the topic the budget notifies lets Budgets publish
            continue
        assert budgets["Action"] == "SNS:Publish" and budgets["Resource"] == topic_arn
        assert budgets["Condition"] == {
            "StringEquals": {"aws:SourceAccount": "123456789012"},
            "ArnLike": {"aws:SourceArn": "arn:aws:budgets::123456789012:*"},
        }


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_each_topic_policy_lets_exactly_its_regions_alarms_publish(plans, env):
    plan = plans(env)
    policies = {_arn_region(p.inputs["arn"]): json.loads(p.inputs["policy"]) for p in plan.of_type(TOPIC_POLICY)}
    for alarm in plan.of_type(ALARM):
        alarm_arn = f"arn:aws:cloudwatch:{alarm.region}:123456789012:alarm:{alarm.inputs['name']}"
        (statement,) = [
            s for s in policies[alarm.region]["Statement"] if s["Principal"]["Service"] == "cloudwatch.amazonaws.com"
        ]
        assert statement["Action"] == "SNS:Publish"
        sources = statement["Condition"]["ArnLike"]["aws:SourceArn"]  # a list: ArnLike matches any of them
        assert any(fnmatch(alarm_arn, source) for source in sources)
        other = "eu-north-1"
        assert not any(fnmatch(alarm_arn.replace(alarm.region, other), source) for source in sources)
        # Environment names may hold a dash: another environment's alarms never share the prefix.
        cousin = alarm_arn.replace(f":alarm:rayfleet-{env}-", f":alarm:rayfleet-{env}-eu-")
        assert not any(fnmatch(cousin, source) for source in sources)


def _dashboard_metrics(body: dict) -> set[tuple]:
    """(region, namespace, metric, sorted dimensions, stat) of every metric row of every graph."""
    seen = set()
    for widget in body["widgets"]:
        if widget["type"] != "metric":
            continue
        for row in widget["properties"]["metrics"]:
            *names, options = row
            if not names:
                continue  # an expression row
            namespace, metric, *dims = names
            dimensions = tuple(sorted(zip(dims[::2], dims[1::2])))
            seen.add((widget["properties"]["region"], namespace, metric, dimensions, options["stat"]))
    return seen


def _alarm_metrics(alarm) -> set[tuple]:
    inputs = alarm.inputs
    if "metricQueries" in inputs:
        return {
            (alarm.region, q["metric"]["namespace"], q["metric"]["metricName"],
             tuple(sorted(q["metric"]["dimensions"].items())), q["metric"]["stat"])
            for q in inputs["metricQueries"] if "metric" in q
        }
    stat = inputs.get("statistic") or inputs["extendedStatistic"]
    return {(alarm.region, inputs["namespace"], inputs["metricName"], tuple(sorted(inputs["dimensions"].items())), stat)}


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_one_dashboard_graphs_every_metric_an_alarm_reads_in_the_alarms_region(plans, env):
    plan = plans(env)
    (dashboard,) = plan.of_type(DASHBOARD)
    assert dashboard.inputs["dashboardName"] == f"rayfleet-{env}"
    body = json.loads(dashboard.inputs["dashboardBody"])
    graphed = _dashboard_metrics(body)
    for alarm in plan.of_type(ALARM):
        assert _alarm_metrics(alarm) <= graphed, alarm.inputs["name"]
    headers = [w["properties"]["markdown"] for w in body["widgets"] if w["type"] == "text"]
    assert headers == [f"## rayfleet {env}: {region}" for region in load_environment(env).region_names]


_TOPIC_NAME = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
_DASHBOARD_NAME = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_QUERY_ID = re.compile(r"^[a-z][A-Za-z0-9_]*$")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_alarm_topic_and_dashboard_inputs_keep_the_rules_aws_enforces(plans, env):
    plan = plans(env)
    for topic in plan.of_type(TOPIC):
        assert _TOPIC_NAME.match(topic.inputs["name"])
    for dashboard in plan.of_type(DASHBOARD):
        assert _DASHBOARD_NAME.match(dashboard.inputs["dashboardName"])
        widgets = json.loads(dashboard.inputs["dashboardBody"])["widgets"]
        assert len(widgets) <= 500 and all(w["x"] + w["width"] <= 24 for w in widgets)
    for alarm in plan.of_type(ALARM):
        inputs = alarm.inputs
        assert len(inputs["name"]) <= 255 and len(inputs["alarmDescription"]) <= 1024
        periods = [q["metric"]["period"] for q in inputs.get("metricQueries", []) if "metric" in q] or [inputs["period"]]
        for period in periods:
            # PutMetricAlarm: 10, 20, 30 or a multiple of 60 seconds; at most a day of evaluation.
            assert period in (10, 20, 30) or period % 60 == 0
            assert period * inputs["evaluationPeriods"] <= 86_400
        assert 1 <= inputs["datapointsToAlarm"] <= inputs["evaluationPeriods"]
        for query in inputs.get("metricQueries", []):
            assert _QUERY_ID.match(query["id"])
        assert sum(bool(q.get("returnData")) for q in inputs.get("metricQueries", [])) in (0, 1)
