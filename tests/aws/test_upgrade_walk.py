"""`rayfleet upgrade` walks its steps against moto (target health, alarms, worker ASGs) and a fake stack runner.

At every step a failure must leave the listener's weights on a slot that serves: the
old slot before it is drained (it served all along), the new one from the drain on (it
passed every gate). A failed upgrade resumes at the step that failed, and a rollback
returns all traffic to the old slot and removes the new one.
"""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from components.alarms.plan import alarm_name
from stacks.node_groups import cluster_nodes
from serve_apps.upgrade import StateStore, Upgrade
from serve_apps.upgrade_aws import AwsFleet
from stacks.upgrade_plan import STEP_NAMES, UpgradeError
from tests.fakes.environments import stack_config
from tests.fakes.upgrade import ScaleInFleet, UpgradeWorld

REGION = "us-west-2"
#: An image moto knows in every region.
AMI = "ami-12c6146b"
ALARM = alarm_name("dev", REGION, "5xx-ratio")
GREEN_5XX = alarm_name("dev", REGION, "green-5xx-ratio")


def _instances(ec2, count: int) -> list[str]:
    reservation = ec2.run_instances(ImageId=AMI, MinCount=count, MaxCount=count, InstanceType="m6i.xlarge")
    return [i["InstanceId"] for i in reservation["Instances"]]


def _target_group(elbv2, vpc: str, name: str, instances: list[str]) -> str:
    arn = elbv2.create_target_group(Name=name, Protocol="HTTP", Port=8000, VpcId=vpc)["TargetGroups"][0]["TargetGroupArn"]
    if instances:
        elbv2.register_targets(TargetGroupArn=arn, Targets=[{"Id": i, "Port": 8000} for i in instances])
    return arn


def _worker_asgs(cfg, target_group: str) -> None:
    """The old slot's worker ASGs, one instance each, as Auto Scaling holds them, their instances the targets
    of the old slot's target group: drained, it has none."""
    autoscaling = boto3.client("autoscaling", region_name=REGION)
    ec2 = boto3.client("ec2", region_name=REGION)
    ec2.create_launch_template(LaunchTemplateName="workers", LaunchTemplateData={"ImageId": AMI, "InstanceType": "m6i.xlarge"})
    for group in cluster_nodes(cfg, REGION).workers:
        for asg in group.asgs:
            autoscaling.create_auto_scaling_group(
                AutoScalingGroupName=asg.name, LaunchTemplate={"LaunchTemplateName": "workers"},
                MinSize=1, MaxSize=4, DesiredCapacity=1, AvailabilityZones=[f"{REGION}a"],
                TargetGroupARNs=[target_group],
            )


@pytest.fixture
def world(aws_credentials, tmp_path):
    """dev running Ray 2.60.0 on blue, its stack file asking for 2.60.1; both slots' targets healthy in moto."""
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        elbv2 = boto3.client("elbv2", region_name=REGION)
        vpc = ec2.describe_vpcs()["Vpcs"][0]["VpcId"]
        groups = {"blue": _target_group(elbv2, vpc, "rf-dev-blue", []),
                  "green": _target_group(elbv2, vpc, "rf-dev-green", _instances(ec2, 2))}
        cloudwatch = boto3.client("cloudwatch", region_name=REGION)
        for name in (ALARM, GREEN_5XX):
            cloudwatch.put_metric_alarm(
                AlarmName=name, Namespace="AWS/ApplicationELB", MetricName="HTTPCode_Target_5XX_Count",
                Statistic="Sum", Period=60, EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold",
            )
            cloudwatch.set_alarm_state(AlarmName=name, StateValue="OK", StateReason="no 5xx")
        world = UpgradeWorld(stack_config=stack_config("dev"), target_groups=groups)
        _worker_asgs(world.cfg, groups["blue"])
        world.store = StateStore(tmp_path / "upgrades" / "dev.json")
        yield world


def _upgrade(world: UpgradeWorld) -> Upgrade:
    return Upgrade(runner=world.runner, serve=world.serve, fleet=ScaleInFleet(sleep=lambda s: None, poll_seconds=0),
                   store=world.store, report=world.report, settle_seconds=0, open_wait_seconds=0, sleep=lambda s: None)


def _file_asks_for(world: UpgradeWorld, version: str):
    config = world.config()
    config["rayfleet:cluster"]["rayVersion"] = version
    from stacks.loader import parse_stack_config

    return parse_stack_config("dev", config, source="the stack file")


def _serving_slots_are_healthy(world: UpgradeWorld) -> dict[str, int]:
    fleet = AwsFleet()
    weights = world.weights()
    for slot, weight in weights.items():
        if weight > 0:
            assert fleet.healthy_targets(REGION, world.target_groups[slot]) > 0, (slot, weights)
    return weights


def test_an_upgrade_walks_every_step_and_leaves_green_the_only_slot(world):
    state = _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    assert state.status == "finished" and state.done == list(STEP_NAMES)
    assert [w["rayfleet:upgrade"]["weight"] for w in world.applied if "rayfleet:upgrade" in w] == [0, 10, 50, 100]
    final = world.cfg
    assert (final.slot, final.cluster.ray_version, final.upgrade) == ("green", "2.60.1", None)
    assert world.deployed == [("green", "rayfleet-dev-us-west-2-green")]
    assert world.drained == ["rayfleet-dev-us-west-2"]
    asgs = boto3.client("autoscaling", region_name=REGION).describe_auto_scaling_groups()["AutoScalingGroups"]
    assert {(g["MinSize"], g["DesiredCapacity"], len(g["Instances"])) for g in asgs} == {(0, 0, 0)}


def test_the_drain_sets_the_workers_maximum_to_0_and_records_their_sizes(world):
    # Ray's autoscaler keeps min_workers through the node provider, which sets desired capacity up to MaxSize.
    state = _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    asgs = boto3.client("autoscaling", region_name=REGION).describe_auto_scaling_groups()["AutoScalingGroups"]
    assert {g["MaxSize"] for g in asgs} == {0}
    names = {g["AutoScalingGroupName"] for g in asgs}  # blue's worker ASGs, the only ones in moto
    assert {n: s.model_dump() for n, s in state.old_worker_sizes[REGION].items()} == {
        n: {"min": 1, "max": 4, "desired": 1} for n in names}
    assert world.store.load().old_worker_sizes == state.old_worker_sizes


# Each step, and how it fails there: a pulumi up that fails (at a traffic step, after the listener changed).
FAILURES = [("bring-up", False), ("deploy-serve", False), ("shift-10", True), ("shift-50", True),
            ("shift-100", True), ("drain", False), ("retire", False)]


@pytest.mark.parametrize(("step", "applied_first"), FAILURES, ids=[f[0] for f in FAILURES])
def test_a_failure_at_any_step_leaves_the_traffic_on_a_healthy_slot(world, step, applied_first):
    world.fail_at, world.applied_before_failing = step, applied_first
    with pytest.raises(UpgradeError) as caught:
        _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    weights = _serving_slots_are_healthy(world)
    serving = "green" if step in ("drain", "retire") else "blue"
    assert {slot for slot, weight in weights.items() if weight > 0} == {serving}
    assert str(caught.value).startswith(f"upgrade of dev failed at {step}: ")
    assert f"all traffic on {serving}. Fix: remove the cause, then `rayfleet upgrade --env dev --resume`" in str(caught.value)
    assert world.store.load().failed == step


def test_a_green_whose_target_group_5xx_alarm_fires_stops_the_shift_and_leaves_traffic_on_blue(world):
    upgrade = _upgrade(world)
    original = upgrade._gate

    def greens_5xx_fire_at_fifty(state, mid, outputs):
        if world.step == "shift-50" and world.weights()["green"] == 50:
            boto3.client("cloudwatch", region_name=REGION).set_alarm_state(
                AlarmName=GREEN_5XX, StateValue="ALARM", StateReason="green's targets answer 5xx")
        return original(state, mid, outputs)

    upgrade._gate = greens_5xx_fire_at_fifty
    with pytest.raises(UpgradeError) as caught:
        upgrade.start(_file_asks_for(world, "2.60.1"))
    assert world.weights() == {"blue": 100, "green": 0}
    assert (
        f"failed at shift-50: gate closed in {REGION}: green has 2 healthy targets (needs 1), alarms in ALARM: "
        f"{GREEN_5XX}; all traffic on blue" in str(caught.value)
    )


def test_the_live_slots_own_alarms_do_not_gate_the_new_slot(world):
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    cloudwatch.set_alarm_state(AlarmName=ALARM, StateValue="ALARM", StateReason="blue's targets answer 5xx")
    drift = alarm_name("dev", REGION, "drift-digits")
    cloudwatch.put_metric_alarm(AlarmName=drift, Namespace="Rayfleet/dev", MetricName="Drift", Statistic="Maximum",
                                Period=300, EvaluationPeriods=1, Threshold=0.2, ComparisonOperator="GreaterThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=drift, StateValue="ALARM", StateReason="blue's inputs drifted")
    assert _upgrade(world).start(_file_asks_for(world, "2.60.1")).status == "finished"


def test_each_traffic_step_settles_at_least_the_alarms_evaluation_range(world):
    slept = []
    upgrade = _upgrade(world)
    upgrade.sleep = slept.append
    upgrade.start(_file_asks_for(world, "2.60.1"))
    assert slept == [world.cfg.observability.alarms.evaluation_minutes * 60] * 3


def test_green_without_healthy_targets_takes_no_traffic(world):
    elbv2 = boto3.client("elbv2", region_name=REGION)
    green = world.target_groups["green"]
    targets = elbv2.describe_target_health(TargetGroupArn=green)["TargetHealthDescriptions"]
    elbv2.deregister_targets(TargetGroupArn=green, Targets=[{"Id": t["Target"]["Id"]} for t in targets])
    with pytest.raises(UpgradeError) as caught:
        _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    assert "failed at shift-10: gate closed in us-west-2: green has 0 healthy targets (needs 1)" in str(caught.value)
    assert all("rayfleet:upgrade" not in c or c["rayfleet:upgrade"]["weight"] == 0 for c in world.applied)


def test_a_failure_that_also_stops_returning_traffic_says_traffic_may_be_split(world):
    world.fail_at, world.applied_before_failing, world.persistent = "shift-50", True, True
    with pytest.raises(UpgradeError) as caught:
        _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    assert str(caught.value) == (
        "upgrade of dev failed at shift-50: pulumi up failed during shift-50, after the listener changed; returning "
        "traffic failed too (pulumi up failed during shift-50, after the listener changed), so part of it may still "
        "go to green. Fix: `rayfleet upgrade --env dev --rollback` once `pulumi up` works"
    )


def test_resume_continues_at_the_step_that_failed(world):
    world.fail_at, world.applied_before_failing = "shift-50", True
    with pytest.raises(UpgradeError):
        _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    world.fail_at, world.lines = None, []
    state = _upgrade(world).resume("dev")
    steps_run = [line.split(":")[0] for line in world.lines if line.split(":")[0] in STEP_NAMES]
    # The failure returned all traffic to blue: the resume walks the traffic steps again from 10 %.
    assert world.lines[0] == "resuming at shift-10"
    assert steps_run == ["shift-10", "shift-50", "shift-100", "drain", "retire"]
    assert state.status == "finished" and world.cfg.slot == "green"


def test_a_resume_after_traffic_fell_back_never_jumps_past_a_traffic_step(world):
    world.fail_at, world.applied_before_failing = "shift-50", True
    with pytest.raises(UpgradeError):
        _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    assert world.store.load().done == ["bring-up", "deploy-serve"]
    world.fail_at, before = None, len(world.applied)
    _upgrade(world).resume("dev")
    weights = [c["rayfleet:upgrade"]["weight"] for c in world.applied[before:] if "rayfleet:upgrade" in c]
    assert weights == [10, 50, 100]


@pytest.mark.parametrize("step", ["shift-50", "drain", "retire"])
def test_rollback_returns_all_traffic_to_blue_and_removes_green(world, step):
    world.fail_at = step
    with pytest.raises(UpgradeError):
        _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    world.fail_at = None
    state = _upgrade(world).rollback("dev")
    assert state.status == "rolled-back"
    *_, back_to_blue, without_green = world.applied
    assert back_to_blue["rayfleet:upgrade"]["weight"] == 0
    final = world.cfg
    assert (final.slot, final.cluster.ray_version, final.upgrade) == ("blue", "2.60.0", None)
    # A drained blue serves again before any traffic returns to it.
    assert (("blue", "rayfleet-dev-us-west-2") in world.deployed) == (step != "shift-50")


def test_rollback_after_the_drain_restores_blues_workers_and_waits_for_its_targets(world):
    world.fail_at = "retire"
    with pytest.raises(UpgradeError):
        _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    fleet = AwsFleet()
    assert fleet.healthy_targets(REGION, world.target_groups["blue"]) == 0  # drained: no target left
    world.fail_at, world.lines = None, []
    upgrade = _upgrade(world)
    seen_before_weight_0 = []
    original_up = world.up

    def up(config):
        if config.get("rayfleet:upgrade", {}).get("weight") == 0:
            seen_before_weight_0.append(fleet.healthy_targets(REGION, world.target_groups["blue"]))
        return original_up(config)

    world.up = up
    upgrade.open_wait_seconds, upgrade.poll_seconds = 60, 30
    targets, polls = fleet.healthy_targets, []
    # The restored workers register a poll late, as they would while they boot.
    upgrade.fleet.healthy_targets = lambda region, arn: (polls.append(arn), 0 if len(polls) == 1 else targets(region, arn))[1]
    upgrade.rollback("dev")
    asgs = boto3.client("autoscaling", region_name=REGION).describe_auto_scaling_groups()["AutoScalingGroups"]
    assert {(g["MinSize"], g["MaxSize"], g["DesiredCapacity"], len(g["Instances"])) for g in asgs} == {(1, 4, 1, 1)}
    assert seen_before_weight_0 == [len(asgs)]
    assert any(line.startswith("  waiting (30 s) for the blue in us-west-2 has 0 healthy targets") for line in world.lines)


def test_an_upgrade_in_progress_must_be_resumed_or_rolled_back(world):
    world.fail_at = "shift-10"
    with pytest.raises(UpgradeError):
        _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    with pytest.raises(UpgradeError) as caught:
        _upgrade(world).start(world.cfg)  # the stack file as the upgrade left it
    assert str(caught.value) == (
        "an upgrade of dev to Ray 2.60.1 is in progress (failed at shift-10). "
        "Fix: `rayfleet upgrade --env dev --resume`, or `--rollback`"
    )


def test_a_finished_upgrade_cannot_be_rolled_back(world):
    _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    with pytest.raises(UpgradeError) as caught:
        _upgrade(world).rollback("dev")
    assert str(caught.value) == (
        "no upgrade of dev in progress to roll back (the last one finished). "
        "Fix: start one with `rayfleet upgrade --env dev`"
    )


def test_a_stack_file_at_the_running_version_has_nothing_to_upgrade(world):
    with pytest.raises(UpgradeError) as caught:
        _upgrade(world).start(_file_asks_for(world, "2.60.0"))
    assert str(caught.value) == (
        "nothing to upgrade in dev: its clusters run Ray 2.60.0, as rayfleet:cluster.rayVersion says. "
        "Fix: change rayfleet:cluster.rayVersion (or set rayfleet:upgrade.cluster for an instance architecture) "
        "and run `rayfleet upgrade --env dev` again"
    )


def test_rolling_back_before_any_traffic_moved_only_removes_green(world):
    world.fail_at = "deploy-serve"
    with pytest.raises(UpgradeError):
        _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    ups = len(world.applied)
    _upgrade(world).rollback("dev")
    assert len(world.applied) == ups + 1 and "rayfleet:upgrade" not in world.applied[-1]
    assert (world.cfg.slot, world.cfg.cluster.ray_version) == ("blue", "2.60.0")


def test_the_gate_before_moving_traffic_waits_for_greens_alarms_to_clear(world):
    cloudwatch = boto3.client("cloudwatch", region_name=REGION)
    green_alarm = alarm_name("dev", REGION, "green-healthy-targets")
    cloudwatch.put_metric_alarm(AlarmName=green_alarm, Namespace="AWS/ApplicationELB", MetricName="HealthyHostCount",
                                Statistic="Minimum", Period=60, EvaluationPeriods=5, Threshold=1,
                                ComparisonOperator="LessThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=green_alarm, StateValue="ALARM", StateReason="no data yet: breaching")
    now = [0.0]

    def minute_passes(seconds):
        now[0] += seconds
        if now[0] >= 60:
            cloudwatch.set_alarm_state(AlarmName=green_alarm, StateValue="OK", StateReason="targets healthy")

    upgrade = _upgrade(world)
    upgrade.open_wait_seconds, upgrade.poll_seconds, upgrade.sleep, upgrade.clock = 300, 30, minute_passes, lambda: now[0]
    state = upgrade.start(_file_asks_for(world, "2.60.1"))
    assert state.status == "finished"
    waits = [line for line in world.lines if line.startswith("  waiting")]
    assert waits == [f"  waiting (30 s) for the gate closed in {REGION}: green has 2 healthy targets (needs 1), "
                     f"alarms in ALARM: {green_alarm}"] * 2


def test_start_refuses_a_stack_mid_upgrade_without_local_state(world, tmp_path):
    world.fail_at, asks = "shift-10", _file_asks_for(world, "2.60.1")
    with pytest.raises(UpgradeError):
        _upgrade(world).start(asks)
    world.fail_at, applied = None, len(world.applied)
    world.store = StateStore(tmp_path / "elsewhere" / "dev.json")  # another machine: no state file
    with pytest.raises(UpgradeError) as caught:
        _upgrade(world).start(asks)
    assert str(caught.value) == (
        f"the stack dev is mid-upgrade (its outputs hold a new slot green, Ray 2.60.1, at weight 0%), but "
        f"{world.store.path} holds no upgrade in progress. Fix: copy the state file from the machine that started "
        f"the upgrade and run `rayfleet upgrade --env dev --resume`; or remove rayfleet:upgrade from the stack file "
        f"and run `pulumi up` to return all traffic to the live slot"
    )
    assert len(world.applied) == applied and not world.store.path.exists()


def test_an_interrupted_save_leaves_the_last_state_whole(world, monkeypatch):
    world.fail_at = "shift-10"
    with pytest.raises(UpgradeError):
        _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    before = world.store.load()
    real_write = type(world.store.path).write_text

    def write_half_then_die(path, text, *args, **kwargs):
        real_write(path, text[: len(text) // 2])
        raise KeyboardInterrupt

    monkeypatch.setattr(type(world.store.path), "write_text", write_half_then_die)
    changed = before.model_copy(update={"weight": 50})
    with pytest.raises(KeyboardInterrupt):
        world.store.save(changed)
    monkeypatch.undo()
    assert world.store.load() == before


def test_the_regions_route53_health_check_alarm_in_us_east_1_closes_the_gate(world):
    # Route 53 publishes health-check metrics only in us-east-1: the region's alarm lives there.
    cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
    check = alarm_name("dev", REGION, "health-check")
    cloudwatch.put_metric_alarm(AlarmName=check, Namespace="AWS/Route53", MetricName="HealthCheckStatus",
                                Statistic="Minimum", Period=60, EvaluationPeriods=1, Threshold=1,
                                ComparisonOperator="LessThanThreshold")
    cloudwatch.set_alarm_state(AlarmName=check, StateValue="ALARM", StateReason="the region does not answer")
    with pytest.raises(UpgradeError) as caught:
        _upgrade(world).start(_file_asks_for(world, "2.60.1"))
    assert f"failed at shift-10: gate closed in {REGION}: green has 2 healthy targets (needs 1), alarms in ALARM: {check}" in str(caught.value)
    assert world.weights() == {"blue": 100, "green": 0}


def test_ctrl_c_while_a_traffic_step_settles_returns_traffic_to_blue_then_stops(world):
    upgrade = _upgrade(world)

    def interrupted_at_fifty(seconds):
        if world.step == "shift-50":
            raise KeyboardInterrupt

    upgrade.sleep = interrupted_at_fifty
    with pytest.raises(KeyboardInterrupt):
        upgrade.start(_file_asks_for(world, "2.60.1"))
    assert world.weights() == {"blue": 100, "green": 0}
    state = world.store.load()
    assert (state.status, state.failed, state.error, state.weight) == ("failed", "shift-50", "interrupted", 0)
    assert world.lines[-1] == (
        "upgrade of dev failed at shift-50: interrupted; all traffic on blue. Fix: remove the cause, then "
        "`rayfleet upgrade --env dev --resume`, or `--rollback` to return to blue"
    )
