"""The alarms' pure decisions: thresholds from config, the targets apps need, the dashboard's layout."""

from __future__ import annotations

import pytest

from components.alarms.dashboard import GRID_WIDTH, dashboard_body
from components.alarms.plan import (
    ReplicaDemand,
    Thresholds,
    cluster_alarms,
    health_check_alarm,
    ingress_alarms,
    targets_needed,
)
from components.serve_ingress.plan import ALB_IDLE_TIMEOUT_SECONDS
from components.tags import TagContext
from stacks.config import ALB_IDLE_TIMEOUT_SECONDS as CONFIG_IDLE_TIMEOUT_SECONDS
from stacks.config import AlarmsConfig
from stacks.cluster_args import alerts_args, min_healthy_targets
from stacks.loader import load_file
from tests.fakes.environments import ROOT, STACKS, stack_config, write_stack

THRESHOLDS = Thresholds(error_rate_percent=5, latency_p99_seconds=2, evaluation_minutes=5)


def test_alarm_defaults_are_5_percent_errors_2_seconds_p99_over_5_minutes(tmp_path):
    config = stack_config("dev")
    config.pop("rayfleet:observability", None)
    alarms = load_file(write_stack(tmp_path, config)).observability.alarms
    assert (alarms.error_rate_percent, alarms.latency_p99_seconds, alarms.evaluation_minutes) == (5, 2, 5)
    assert alarms.min_healthy_targets is None


def test_the_configs_idle_timeout_is_the_load_balancers():
    # stacks/config.py may not import the ingress component (it imports pulumi): the two must agree.
    assert CONFIG_IDLE_TIMEOUT_SECONDS == ALB_IDLE_TIMEOUT_SECONDS


def test_configured_thresholds_reach_the_alarms(tmp_path):
    config = stack_config("prod")
    config["rayfleet:observability"] = {
        "alarms": {"errorRatePercent": 1.5, "latencyP99Seconds": 0.5, "evaluationMinutes": 3, "minHealthyTargets": 4}
    }
    cfg = load_file(write_stack(tmp_path, config))
    args = alerts_args(cfg, "us-east-1", cfg_tags(cfg), None)
    assert args.thresholds == Thresholds(error_rate_percent=1.5, latency_p99_seconds=0.5, evaluation_minutes=3)
    assert min_healthy_targets(cfg) == 4
    alarms = {a.what: a for a in ingress_alarms("prod", "us-east-1", "app/a/1", "targetgroup/t/2", 4, args.thresholds)}
    assert (alarms["5xx-ratio"].threshold, alarms["p99-latency"].threshold, alarms["healthy-targets"].threshold) == (
        1.5, 0.5, 4,
    )
    assert {(a.evaluation_periods, a.datapoints_to_alarm) for a in alarms.values()} == {(3, 3)}


def cfg_tags(cfg) -> TagContext:
    return TagContext(env=cfg.env, cluster=cfg.cluster_id("us-east-1"))


@pytest.mark.parametrize(
    ("demands", "nodes", "needed"),
    [
        ([ReplicaDemand(2, 1), ReplicaDemand(2, 1)], [(8, 0)], 1),
        ([ReplicaDemand(20, 1)], [(8, 0)], 3),
        ([ReplicaDemand(3, 1, gpus=1)], [(8, 0), (4, 1)], 3),
        ([ReplicaDemand(5, 0.5)], [(4, 0), (2, 0)], 1),
        ([ReplicaDemand(0, 4), ReplicaDemand(0, 1)], [(8, 0)], 0),
    ],
)
def test_targets_needed_is_the_fewest_largest_workers_holding_every_minimum_replica(demands, nodes, needed):
    assert targets_needed(demands, nodes) == needed


def test_shipped_environments_need_one_healthy_target_for_their_minimum_replicas():
    # prod: sentiment 2 x 1 CPU and digits 2 x 1 CPU fit one 8-vCPU worker; dev: 1 + 1 on a 4-vCPU one.
    for env in ("dev", "staging", "prod"):
        assert min_healthy_targets(load_file(STACKS / f"Pulumi.{env}.yaml")) == 1


def test_more_minimum_replicas_than_one_worker_holds_raise_the_floor(tmp_path):
    config = stack_config("prod")
    config["rayfleet:serve"]["applications"][0]["autoscaling"].update(minReplicas=20, maxReplicas=20)
    # 20 + 2 one-CPU replicas over 8-vCPU workers (m6i/m6a/m5.2xlarge).
    assert min_healthy_targets(load_file(write_stack(tmp_path, config))) == 3


def test_apps_that_all_scale_to_zero_get_no_healthy_targets_alarm(tmp_path):
    config = stack_config("dev")
    for app in config["rayfleet:serve"]["applications"]:
        app["autoscaling"]["minReplicas"] = 0
    cfg = load_file(write_stack(tmp_path, config))
    assert min_healthy_targets(cfg) == 0
    whats = [a.what for a in ingress_alarms("dev", "us-west-2", "app/a/1", "targetgroup/t/2", 0, THRESHOLDS)]
    assert whats == ["5xx-ratio", "p99-latency"]


def test_a_group_without_spot_has_no_fallback_alarm(tmp_path):
    config = stack_config("prod")
    config["rayfleet:cluster"]["workerGroups"][1]["spot"]["enabled"] = False
    cfg = load_file(write_stack(tmp_path, config))
    assert alerts_args(cfg, "us-east-1", cfg_tags(cfg), None).cluster.spot_groups == ["cpu"]


def _overlap(a: dict, b: dict) -> bool:
    return not (
        a["x"] + a["width"] <= b["x"] or b["x"] + b["width"] <= a["x"]
        or a["y"] + a["height"] <= b["y"] or b["y"] + b["height"] <= a["y"]
    )


def test_dashboard_lays_out_each_regions_graphs_under_its_header_without_overlap():
    sections = {
        region: [
            *ingress_alarms("prod", region, "app/a/1", "targetgroup/t/2", 1, THRESHOLDS),
            *cluster_alarms("prod", region, f"rayfleet-prod-{region}", ["cpu", "gpu"], {"digits": 0.2}),
            health_check_alarm("prod", region, "hc", THRESHOLDS),
        ]
        for region in ("us-east-1", "us-west-2")
    }
    widgets = dashboard_body("prod", sections)["widgets"]
    assert all(0 <= w["x"] and w["x"] + w["width"] <= GRID_WIDTH for w in widgets)
    assert not [(a, b) for i, a in enumerate(widgets) for b in widgets[i + 1:] if _overlap(a, b)]
    headers = [w for w in widgets if w["type"] == "text"]
    assert [h["properties"]["markdown"] for h in headers] == ["## rayfleet prod: us-east-1", "## rayfleet prod: us-west-2"]
    west = [w for w in widgets if w["type"] == "metric" and w["y"] > headers[1]["y"]]
    assert len(west) == len(sections["us-west-2"])
    # Route 53's view of us-west-2 sits under us-west-2 but reads us-east-1, where its metric lives.
    (check,) = [w for w in west if w["properties"]["title"] == "health-check"]
    assert check["properties"]["region"] == "us-east-1"


def test_the_ratio_graph_shows_the_expression_and_hides_its_inputs():
    ratio = ingress_alarms("prod", "us-east-1", "app/a/1", "targetgroup/t/2", 1, THRESHOLDS)[0]
    (widget,) = dashboard_body("prod", {"us-east-1": [ratio]})["widgets"][1:]
    *inputs, expression = widget["properties"]["metrics"]
    assert [row[-1]["visible"] for row in inputs] == [False, False, False]
    assert expression == [{"expression": ratio.expression, "id": "e1", "label": "5xx-ratio"}]
    assert widget["properties"]["annotations"]["horizontal"] == [
        {"label": "rayfleet-prod-us-east-1-5xx-ratio", "value": 5}
    ]


def test_readme_tables_every_alarm_with_the_configs_defaults():
    readme = (ROOT / "README.md").read_text()
    table = readme[readme.index("| alarm (`<what>`)"):readme.index("Route 53 publishes health-check metrics")]
    alarms = [
        *ingress_alarms("prod", "us-east-1", "app/a/1", "targetgroup/t/2", 1, THRESHOLDS),
        *cluster_alarms("prod", "us-east-1", "c", ["cpu"], {"app": 0.2}),
        health_check_alarm("prod", "us-east-1", "hc", THRESHOLDS),
    ]
    whats = {a.what.replace("-cpu", "-<group>").replace("-app", "-<app>") for a in alarms}
    assert {w for w in whats if f"| `{w}` |" not in table} == set()
    defaults = AlarmsConfig()
    assert f"`errorRatePercent` ({defaults.error_rate_percent:g} %)" in table
    assert f"`latencyP99Seconds` ({defaults.latency_p99_seconds:g} s)" in table
    assert f"`evaluationMinutes` ({defaults.evaluation_minutes})" in table


def _ratio(expression: str, targets, elb, requests) -> float:
    """CloudWatch's metric math for one datapoint: FILL(x, 0) is x or 0, IF(c, a, b)."""
    import re

    values = {"targets": targets, "elb": elb, "requests": requests}
    python = re.sub(r"FILL\((\w+), 0\)", lambda m: f"({values[m.group(1)]} or 0)", expression)
    python = python.replace("IF(", "_if(")
    return eval(python, {"_if": lambda c, a, b: a if c else b})  # noqa: S307 - our own expression, test data


def test_an_outage_with_no_healthy_target_reads_as_all_errors_not_as_no_traffic():
    from components.alarms.plan import error_ratio_expression

    # No target could be chosen: the load balancer answered 503 itself, RequestCount has no datapoint.
    assert _ratio(error_ratio_expression(), None, 50, None) == 100
    assert _ratio(error_ratio_expression(), 3, 0, 100) == 3
    assert _ratio(error_ratio_expression(), 1, 0, 2) == 0  # under 10 requests a minute: no verdict
