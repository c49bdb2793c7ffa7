"""The spot watcher against a fake IMDS on loopback: notices, rebalance, quiet, IMDS errors, lifecycle."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import boto3
import pytest
from botocore.stub import Stubber

from components.contract import DRAIN_HOOK
from components.drills.fake_imds import FakeImds
from components.node_agents.spot_watcher import (
    ASG_TERMINATION,
    REBALANCE,
    SPOT_INTERRUPTION,
    SpotWatcher,
    WatcherConfig,
)
from tests.fakes.environments import ROOT

INSTANCE, IP, ASG = "i-0123456789abcdef0", "10.10.1.7", "rayfleet-test-us-east-1-cpu-spot"


class Drains:
    """Records drain requests; answers as the GCS would."""

    def __init__(self, accept: bool = True):
        self.calls: list[tuple] = []
        self.accept = accept

    def __call__(self, notice, instance_id, private_ip):
        self.calls.append((notice, instance_id, private_ip))
        return self.accept, "node draining" if self.accept else "rejected"


@pytest.fixture
def imds():
    with FakeImds() as fake:
        fake.set("instance-id", INSTANCE)
        fake.set("local-ipv4", IP)
        yield fake


def autoscaling_client():
    return boto3.session.Session(aws_access_key_id="t", aws_secret_access_key="t").client("autoscaling", region_name="us-east-1")


def watcher(imds, drains, *, autoscaling=None, lifecycle=True, **config) -> SpotWatcher:
    cfg = WatcherConfig(region="us-east-1", imds_url=imds.url, lifecycle_hook=DRAIN_HOOK if lifecycle else None, **config)
    return SpotWatcher(cfg, drainer=drains, autoscaling=autoscaling)


def test_a_spot_notice_drains_the_node_once_with_the_notices_deadline(imds):
    drains = Drains()
    w = watcher(imds, drains, lifecycle=False)
    assert w.poll_once() is None
    imds.spot_notice(deadline_seconds=120)
    notice = w.poll_once()
    assert notice.kind == SPOT_INTERRUPTION
    assert 115 <= notice.deadline_seconds <= 120
    w.poll_once()
    assert len(drains.calls) == 1
    assert drains.calls[0][1:] == (INSTANCE, IP)


def test_a_rebalance_recommendation_drains_with_the_configured_window(imds):
    drains = Drains()
    w = watcher(imds, drains, lifecycle=False, drain_seconds=90)
    imds.rebalance_recommendation()
    notice = w.poll_once()
    assert (notice.kind, notice.deadline_seconds) == (REBALANCE, 90)
    assert len(drains.calls) == 1


def test_no_notice_means_no_drain_and_every_read_carries_a_token(imds):
    drains = Drains()
    w = watcher(imds, drains, lifecycle=False)
    for _ in range(3):
        assert w.poll_once() is None
    assert drains.calls == []
    assert imds.requests.count(("PUT", "/latest/api/token")) == 1
    assert ("GET", "/latest/meta-data/spot/instance-action") in imds.requests


@pytest.mark.parametrize("failure", ["down", "500", "garbage"])
def test_imds_errors_are_survived_and_the_next_notice_still_drains(imds, failure):
    drains = Drains()
    w = watcher(imds, drains, lifecycle=False)
    if failure == "down":
        imds.down()
    elif failure == "500":
        imds.fail("spot/instance-action", 500)
    else:
        imds.set("spot/instance-action", "not json")
    assert w.poll_once() is None
    assert drains.calls == []
    imds.down(False)
    imds.failures.clear()
    imds.spot_notice(deadline_seconds=60)
    assert w.poll_once().kind == SPOT_INTERRUPTION
    assert len(drains.calls) == 1


def test_an_expired_token_is_renewed(imds):
    w = watcher(imds, Drains(), lifecycle=False)
    w.poll_once()
    imds.revoke_tokens()
    imds.spot_notice()
    assert w.poll_once().kind == SPOT_INTERRUPTION
    assert imds.requests.count(("PUT", "/latest/api/token")) == 2


def test_a_rejected_drain_is_retried_on_the_next_poll(imds):
    drains = Drains(accept=False)
    w = watcher(imds, drains, lifecycle=False)
    imds.spot_notice()
    w.poll_once()
    drains.accept = True
    w.poll_once()
    w.poll_once()
    assert len(drains.calls) == 2
    assert w.drained is not None


def _lifecycle_params(operation: str, **extra) -> dict:
    return {"LifecycleHookName": DRAIN_HOOK, "AutoScalingGroupName": ASG, "InstanceId": INSTANCE, **extra}


def _asg_instance(state: str) -> dict:
    return {
        "AutoScalingInstances": [
            {
                "InstanceId": INSTANCE,
                "AutoScalingGroupName": ASG,
                "AvailabilityZone": "us-east-1a",
                "LifecycleState": state,
                "HealthStatus": "HEALTHY",
                "ProtectedFromScaleIn": False,
            }
        ]
    }


def test_an_asg_termination_drains_heartbeats_and_completes_the_lifecycle_action(imds):
    drains = Drains()
    client = autoscaling_client()
    w = watcher(imds, drains, autoscaling=client, drain_seconds=0.3, heartbeat_seconds=0.1)
    with Stubber(client) as stub:
        imds.set("autoscaling/target-lifecycle-state", "InService")
        assert w.poll_once() is None
        imds.asg_terminating()
        stub.add_response("describe_auto_scaling_instances", _asg_instance("Terminating:Wait"), {"InstanceIds": [INSTANCE]})
        for _ in range(2):
            stub.add_response("record_lifecycle_action_heartbeat", {}, _lifecycle_params("heartbeat"))
        stub.add_response("complete_lifecycle_action", {}, _lifecycle_params("complete", LifecycleActionResult="CONTINUE"))
        notice = w.poll_once()
        stub.assert_no_pending_responses()
    assert notice.kind == ASG_TERMINATION and notice.lifecycle
    assert len(drains.calls) == 1
    assert w.lifecycle_completed


def test_without_the_imds_lifecycle_path_the_asg_is_asked(imds):
    drains = Drains()
    client = autoscaling_client()
    w = watcher(imds, drains, autoscaling=client, drain_seconds=0.0)
    with Stubber(client) as stub:
        stub.add_response("describe_auto_scaling_instances", _asg_instance("InService"), {"InstanceIds": [INSTANCE]})
        assert w.poll_once() is None
        w.config.asg_poll_seconds = 0
        stub.add_response("describe_auto_scaling_instances", _asg_instance("Terminating:Wait"), {"InstanceIds": [INSTANCE]})
        stub.add_response("complete_lifecycle_action", {}, _lifecycle_params("complete", LifecycleActionResult="CONTINUE"))
        assert w.poll_once().kind == ASG_TERMINATION
        stub.assert_no_pending_responses()
    assert len(drains.calls) == 1


def test_sigterm_stops_the_watcher_cleanly(imds):
    proc = subprocess.Popen(
        [sys.executable, "-m", "components.node_agents.spot_watcher", "--region", "us-east-1", "--imds-url", imds.url, "--no-lifecycle", "--poll-seconds", "0.2"],
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 20
    while ("GET", "/latest/meta-data/spot/instance-action") not in imds.requests and time.monotonic() < deadline:
        time.sleep(0.1)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert "signal SIGTERM: stopping" in err
    assert err.rstrip().endswith("stopped")
