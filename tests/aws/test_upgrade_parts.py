"""The upgrade's AWS and Serve parts on their own: the old slot's Serve drained with its token, workers that
do not leave stop the drain with one line."""

from __future__ import annotations

import boto3
import pytest
from moto import mock_aws

from components.errors import RayfleetError
from serve_apps.upgrade_serve import ClusterSlotServe
from stacks.outputs_model import RegionOutputs
from serve_apps.upgrade_aws import AwsFleet
from tests.fakes.dashboard import recording_dashboard

REGION = "us-west-2"
AMI = "ami-12c6146b"


def test_draining_a_slot_deletes_its_serve_applications_with_the_slots_token(aws_credentials):
    with mock_aws(), recording_dashboard("t0ken") as (url, calls):
        secret = boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name="rayfleet-dev-us-west-2-dashboard-token", SecretString="t0ken")["ARN"]
        ClusterSlotServe().drain(REGION, RegionOutputs(dashboard_url=url, dashboard_token_secret_arn=secret))
    assert calls == [("DELETE", "/api/serve/applications/", "Bearer t0ken")]


def test_workers_that_never_leave_stop_the_drain_with_the_fix(aws_credentials):
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        ec2.create_launch_template(LaunchTemplateName="workers", LaunchTemplateData={"ImageId": AMI, "InstanceType": "m6i.large"})
        autoscaling = boto3.client("autoscaling", region_name=REGION)
        autoscaling.create_auto_scaling_group(AutoScalingGroupName="rayfleet-dev-us-west-2-cpu-spot",
                                              LaunchTemplate={"LaunchTemplateName": "workers"}, MinSize=1, MaxSize=2,
                                              DesiredCapacity=1, AvailabilityZones=[f"{REGION}a"])
        now = [0.0]
        fleet = AwsFleet(drain_timeout_seconds=30, poll_seconds=10, sleep=lambda s: now.__setitem__(0, now[0] + s),
                         clock=lambda: now[0])
        # Termination waits on the drain hook in AWS; here the instance is kept as if the hook never completed.
        fleet._instances = lambda client, names: 1
        with pytest.raises(RayfleetError) as caught:
            fleet.drain_workers(REGION, ["rayfleet-dev-us-west-2-cpu-spot"])
        group = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"][0]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (0, 0, 0)
    assert str(caught.value) == (
        "workers still running in us-west-2 after 30 s of draining: 1 (rayfleet-dev-us-west-2-cpu-spot). "
        "Fix: look at their rayfleet-drain lifecycle actions (`aws autoscaling describe-scaling-activities`), "
        "then --resume"
    )


def test_draining_no_named_workers_is_an_error_not_every_group_of_the_region(aws_credentials):
    with mock_aws():
        ec2 = boto3.client("ec2", region_name=REGION)
        ec2.create_launch_template(LaunchTemplateName="other", LaunchTemplateData={"ImageId": AMI, "InstanceType": "m6i.large"})
        autoscaling = boto3.client("autoscaling", region_name=REGION)
        autoscaling.create_auto_scaling_group(AutoScalingGroupName="someone-elses", MinSize=1, MaxSize=2, DesiredCapacity=1,
                                              LaunchTemplate={"LaunchTemplateName": "other"}, AvailabilityZones=[f"{REGION}a"])
        now = [0.0]
        fleet = AwsFleet(drain_timeout_seconds=30, poll_seconds=10, sleep=lambda s: now.__setitem__(0, now[0] + s),
                         clock=lambda: now[0])
        for call in (lambda: fleet.worker_sizes(REGION, []), lambda: fleet.drain_workers(REGION, [])):
            with pytest.raises(RayfleetError) as caught:
                call()
            assert str(caught.value) == (
                "no worker ASGs of the old slot in us-west-2: the stack outputs name none "
                "(regions.us-west-2.workerAsgs), and without names Auto Scaling would answer for every group of the "
                "region. Fix: run `pulumi up` so the outputs list them, then --resume"
            )
        group = autoscaling.describe_auto_scaling_groups()["AutoScalingGroups"][0]
    assert (group["MinSize"], group["MaxSize"], group["DesiredCapacity"]) == (1, 2, 1)


def test_the_new_slots_serve_deploys_go_to_its_own_clusters_history(monkeypatch, tmp_path):
    from serve_apps import upgrade_serve
    from serve_apps.history import History
    from serve_apps.targets import Target
    from stacks.loader import parse_stack_config
    from tests.fakes.environments import stack_config

    monkeypatch.setenv("RAYFLEET_HOME", str(tmp_path))
    cfg = parse_stack_config("dev", stack_config("dev"), source="test")
    rendered = type("Rendered", (), {"config": {"applications": []}})()
    live_history = History.for_target("dev-us-west-2")  # what env_targets keys: the live slot's
    monkeypatch.setattr(upgrade_serve, "_targets", lambda *a, **k: [Target("dev/us-west-2", None, live_history, rendered)])
    used = []
    monkeypatch.setattr(upgrade_serve.deployer, "deploy", lambda *a, history, **k: used.append(history.folder))
    ClusterSlotServe().deploy(cfg, REGION, RegionOutputs(cluster_name="rayfleet-dev-us-west-2-green"))
    assert used == [tmp_path / "deployments" / "rayfleet-dev-us-west-2-green"]
