"""AsgNodeProvider against moto: discovery, scaling, consistency, head safety, limits, errors, fallback."""

from __future__ import annotations

import time

import boto3
import pytest
from botocore.stub import Stubber
from ray.autoscaler.batching_node_provider import ScaleRequest
from ray.autoscaler.tags import (
    NODE_KIND_HEAD,
    NODE_KIND_WORKER,
    STATUS_UP_TO_DATE,
    STATUS_UPDATE_FAILED,
    TAG_RAY_NODE_KIND,
    TAG_RAY_NODE_STATUS,
    TAG_RAY_USER_NODE_TYPE,
)

from components.contract import HEAD_NODE_TYPE, Market
from components.node_agents.node_provider import AsgNodeProvider
from components.ray_cluster.autoscaler_config import NODE_PROVIDER_CLASS
from tests.fakes.asg_cluster import CLUSTER, REGION, GroupSpec, SpotCapacityLimit, build_cluster, desired, in_service


class Clock:
    def __init__(self, now: float = 1_000_000.0):
        self.now = now

    def __call__(self) -> float:
        return self.now


def all_private_ips(session) -> set[str]:
    ec2 = session.client("ec2", region_name=REGION)
    return {
        i["PrivateIpAddress"]
        for r in ec2.describe_instances()["Reservations"]
        for i in r["Instances"]
        if i["State"]["Name"] == "running"
    }


def make_provider(session, *, membership=None, clock=None, **config) -> AsgNodeProvider:
    provider_config = {
        "type": "external",
        "module": NODE_PROVIDER_CLASS,
        "region": REGION,
        "cluster_name": CLUSTER,
        "disable_node_updaters": True,
        "disable_launch_config_check": True,
        "foreground_node_launch": True,
        "fallback_after_seconds": {"cpu": 180},
        **config,
    }
    return AsgNodeProvider(
        provider_config,
        CLUSTER,
        session=session,
        membership=membership or (lambda: all_private_ips(session)),
        clock=clock or Clock(),
        sleep=lambda s: None,
    )


def scale(provider: AsgNodeProvider, node_type: str, count: int) -> None:
    """One autoscaler update that launches `count` nodes of a type, as StandardAutoscaler drives it."""
    provider.non_terminated_nodes({})
    provider.create_node({}, {TAG_RAY_USER_NODE_TYPE: node_type}, count)
    provider.post_process()


def workers(provider: AsgNodeProvider, node_type: str = "cpu") -> list[str]:
    return provider.non_terminated_nodes({TAG_RAY_NODE_KIND: NODE_KIND_WORKER, TAG_RAY_USER_NODE_TYPE: node_type})


def test_discovers_only_its_own_clusters_asgs_by_tags(session):
    names = build_cluster(session)
    build_cluster(session, "rayfleet-other-us-east-1", {"cpu": GroupSpec(min_size=2)})
    provider = make_provider(session)
    nodes = provider.non_terminated_nodes({})
    assert len(nodes) == 1
    (head,) = nodes
    assert provider.node_tags(head) == {
        TAG_RAY_NODE_KIND: NODE_KIND_HEAD,
        TAG_RAY_NODE_STATUS: STATUS_UP_TO_DATE,
        TAG_RAY_USER_NODE_TYPE: HEAD_NODE_TYPE,
    }
    assert head in in_service(session, names[HEAD_NODE_TYPE][Market.ON_DEMAND])
    assert provider.internal_ip(head).startswith("10.")


def test_scale_up_sets_the_spot_asgs_desired_capacity(session):
    names = build_cluster(session)
    provider = make_provider(session)
    scale(provider, "cpu", 3)
    assert desired(session, names["cpu"][Market.SPOT]) == 3
    assert desired(session, names["cpu"][Market.ON_DEMAND]) == 0
    assert sorted(workers(provider)) == in_service(session, names["cpu"][Market.SPOT])
    assert {provider.node_tags(n)[TAG_RAY_NODE_STATUS] for n in workers(provider)} == {STATUS_UP_TO_DATE}


def test_a_running_node_is_pending_until_its_raylet_joins(session):
    build_cluster(session)
    joined: set[str] = set()
    provider = make_provider(session, membership=lambda: set(joined))
    scale(provider, "cpu", 2)
    first, second = workers(provider)
    assert provider.node_tags(first)[TAG_RAY_NODE_STATUS] == "waiting for Ray to join"
    joined.add(provider.internal_ip(first))
    provider.non_terminated_nodes({})
    assert provider.node_tags(first)[TAG_RAY_NODE_STATUS] == STATUS_UP_TO_DATE
    assert provider.node_tags(second)[TAG_RAY_NODE_STATUS] == "waiting for Ray to join"


def test_a_node_whose_raylet_left_is_failed(session):
    build_cluster(session)
    joined = {"all": True}
    provider = make_provider(session, membership=lambda: all_private_ips(session) if joined["all"] else set())
    scale(provider, "cpu", 1)
    (node,) = workers(provider)
    joined["all"] = False
    provider.non_terminated_nodes({})
    assert provider.node_tags(node)[TAG_RAY_NODE_STATUS] == STATUS_UPDATE_FAILED


def test_a_node_that_never_joins_fails_after_the_join_timeout(session):
    build_cluster(session)
    clock = Clock(now=time.time())
    provider = make_provider(session, membership=lambda: set(), clock=clock, join_timeout_seconds=600)
    scale(provider, "cpu", 1)
    (node,) = workers(provider)
    # From now, not from before the launch: on a busy machine the launch itself may take seconds.
    clock.now = time.time() + 601
    provider.non_terminated_nodes({})
    assert provider.node_tags(node)[TAG_RAY_NODE_STATUS] == STATUS_UPDATE_FAILED


def test_scale_down_terminates_exactly_the_requested_node_and_decrements(session):
    names = build_cluster(session)
    provider = make_provider(session)
    scale(provider, "cpu", 3)
    victim = sorted(workers(provider))[1]
    provider.non_terminated_nodes({})
    provider.terminate_node(victim)
    provider.post_process()
    assert victim not in workers(provider)
    assert desired(session, names["cpu"][Market.SPOT]) == 2
    assert victim not in in_service(session, names["cpu"][Market.SPOT])
    assert len(in_service(session, names["cpu"][Market.SPOT])) == 2


def test_a_deleted_node_vanishes_at_once_even_when_termination_is_throttled(session):
    names = build_cluster(session)
    provider = make_provider(session)
    scale(provider, "cpu", 2)
    victim = workers(provider)[0]
    throttled = {"on": True}

    def throttle(params, **_):
        if throttled["on"]:
            from botocore.awsrequest import AWSResponse

            return AWSResponse("https://as/", 400, {}, None), {
                "Error": {"Code": "Throttling", "Message": "Rate exceeded"},
                "ResponseMetadata": {"HTTPStatusCode": 400},
            }
        return None

    provider.asg.meta.events.register("before-call.autoscaling.TerminateInstanceInAutoScalingGroup", throttle)
    provider.non_terminated_nodes({})
    provider.terminate_node(victim)
    provider.post_process()  # every attempt throttled: recorded, not raised
    assert victim in in_service(session, names["cpu"][Market.SPOT])
    assert victim not in workers(provider)
    assert provider.errors["cpu"].startswith("Throttling")
    throttled["on"] = False
    provider.post_process()  # the next update retries it
    assert victim not in in_service(session, names["cpu"][Market.SPOT])
    assert victim not in workers(provider)


def test_the_head_is_never_terminated_or_resized(session):
    names = build_cluster(session)
    provider = make_provider(session)
    (head,) = provider.non_terminated_nodes({TAG_RAY_NODE_KIND: NODE_KIND_HEAD})
    provider.submit_scale_request(ScaleRequest(desired_num_workers={HEAD_NODE_TYPE: 0, "cpu": 0}, workers_to_delete={head}))
    provider.post_process()
    assert head in provider.non_terminated_nodes({})
    assert in_service(session, names[HEAD_NODE_TYPE][Market.ON_DEMAND]) == [head]
    assert desired(session, names[HEAD_NODE_TYPE][Market.ON_DEMAND]) == 1


def test_desired_capacity_stays_within_each_asgs_min_and_max(session):
    names = build_cluster(session, groups={"cpu": GroupSpec(min_size=1, max_size=4)})
    provider = make_provider(session)
    provider.non_terminated_nodes({})
    provider.submit_scale_request(ScaleRequest(desired_num_workers={"cpu": 20}))
    assert desired(session, names["cpu"][Market.SPOT]) == 4
    assert desired(session, names["cpu"][Market.ON_DEMAND]) == 4  # spot's overflow, up to the twin's max
    provider.non_terminated_nodes({})
    provider.submit_scale_request(ScaleRequest(desired_num_workers={"cpu": 0}))
    assert desired(session, names["cpu"][Market.SPOT]) == 1
    assert desired(session, names["cpu"][Market.ON_DEMAND]) == 0


def test_an_unchanged_request_sends_no_write(session):
    build_cluster(session)
    provider = make_provider(session)
    scale(provider, "cpu", 2)
    calls: list[str] = []
    provider.asg.meta.events.register("before-call.autoscaling.*", lambda model, **_: calls.append(model.name))
    provider.non_terminated_nodes({})
    provider.submit_scale_request(ScaleRequest(desired_num_workers={"cpu": 2}))
    provider.submit_scale_request(ScaleRequest(desired_num_workers={"cpu": 2}))
    assert calls == ["DescribeAutoScalingGroups"]


def test_discovery_reads_every_page(session):
    groups = {f"g{i:02d}": GroupSpec() for i in range(30)}  # 61 ASGs: two pages of 50
    build_cluster(session, groups=groups)
    provider = make_provider(session)
    pages: list[str] = []
    provider.asg.meta.events.register("before-call.autoscaling.DescribeAutoScalingGroups", lambda **_: pages.append("asg"))
    provider.ec2.meta.events.register("before-call.ec2.DescribeInstances", lambda **_: pages.append("ec2"))
    provider.non_terminated_nodes({})
    assert pages.count("asg") == 2
    provider.submit_scale_request(ScaleRequest(desired_num_workers={"g29": 3}))
    provider.page_size = 1
    pages.clear()
    nodes = provider.non_terminated_nodes({})
    assert len(nodes) == 4  # the head and g29's three
    assert pages.count("ec2") == 2  # two launches (reservations), one per page


def test_throttled_writes_are_retried_with_backoff(session):
    names = build_cluster(session)
    provider = make_provider(session)
    sleeps: list[float] = []
    provider.sleep = sleeps.append
    provider.non_terminated_nodes({})
    with Stubber(provider.asg) as stub:
        for _ in range(2):
            stub.add_client_error("set_desired_capacity", "Throttling", "Rate exceeded", 400)
        stub.add_response(
            "set_desired_capacity",
            {},
            {"AutoScalingGroupName": names["cpu"][Market.SPOT], "DesiredCapacity": 2, "HonorCooldown": False},
        )
        provider.submit_scale_request(ScaleRequest(desired_num_workers={"cpu": 2}))
        stub.assert_no_pending_responses()
    assert len(sleeps) == 2
    assert "cpu" not in provider.errors


def test_aws_errors_are_logged_and_shown_in_pending_nodes_not_raised(session):
    build_cluster(session)
    provider = make_provider(session, membership=lambda: set())
    scale(provider, "cpu", 1)
    provider.non_terminated_nodes({})
    with Stubber(provider.asg) as stub:
        stub.add_client_error("set_desired_capacity", "AccessDenied", "not authorized", 403)
        provider.submit_scale_request(ScaleRequest(desired_num_workers={"cpu": 3}))
    assert provider.errors["cpu"] == "AccessDenied: An error occurred (AccessDenied) when calling the SetDesiredCapacity operation: not authorized"
    provider.non_terminated_nodes({})
    (node,) = workers(provider)
    assert provider.node_tags(node)[TAG_RAY_NODE_STATUS] == f"waiting for Ray to join; last AWS error: {provider.errors['cpu']}"


def test_a_failed_read_keeps_the_last_nodes_and_backs_off(session):
    build_cluster(session)
    provider = make_provider(session)
    scale(provider, "cpu", 1)
    before = sorted(provider.non_terminated_nodes({}))
    assert provider.safe_to_scale()
    with Stubber(provider.asg) as stub:
        stub.add_client_error("describe_auto_scaling_groups", "InternalFailure", "boom", 500)
        assert sorted(provider.non_terminated_nodes({})) == before
        assert not provider.safe_to_scale()
    provider.non_terminated_nodes({})
    assert provider.safe_to_scale()


def test_spot_group_falls_back_to_on_demand_on_a_capacity_failure(session):
    names = build_cluster(session)
    spot, od = names["cpu"][Market.SPOT], names["cpu"][Market.ON_DEMAND]
    SpotCapacityLimit(session, spot, capacity=2)
    provider = make_provider(session)
    scale(provider, "cpu", 5)
    assert desired(session, spot) == 5  # what we asked; moto holds only 2
    provider.non_terminated_nodes({})  # sees the shortfall and the failed activity
    assert provider.spot_impaired("cpu")
    provider.post_process()
    assert desired(session, spot) == 2
    assert desired(session, od) == 3
    nodes = workers(provider)
    assert len(nodes) == 5
    # Spot nodes first, on-demand last: Ray trims from the end and keeps the first for min_workers.
    assert sorted(nodes[-3:]) == in_service(session, od)


def test_spot_shortfall_moves_after_the_grace_period_without_a_reported_failure(session):
    names = build_cluster(session)
    spot, od = names["cpu"][Market.SPOT], names["cpu"][Market.ON_DEMAND]
    SpotCapacityLimit(session, spot, capacity=1, report_failures=False)
    clock = Clock()
    provider = make_provider(session, clock=clock)
    scale(provider, "cpu", 3)
    provider.non_terminated_nodes({})
    provider.post_process()
    assert (desired(session, spot), desired(session, od)) == (3, 0)  # still within grace
    clock.now += 179
    provider.non_terminated_nodes({})
    provider.post_process()
    assert (desired(session, spot), desired(session, od)) == (3, 0)
    clock.now += 1
    provider.non_terminated_nodes({})
    provider.post_process()
    assert (desired(session, spot), desired(session, od)) == (1, 2)


def _fallen_back(session):
    """3 cpu workers asked of a spot pool that holds 1: the other 2 moved to the twin. Spot is retried after 600 s."""
    names = build_cluster(session)
    spot, od = names["cpu"][Market.SPOT], names["cpu"][Market.ON_DEMAND]
    limit = SpotCapacityLimit(session, spot, capacity=1)
    clock = Clock()
    provider = make_provider(session, clock=clock, retry_spot_after_seconds=600)
    scale(provider, "cpu", 3)
    provider.non_terminated_nodes({})
    provider.post_process()
    assert (desired(session, spot), desired(session, od)) == (1, 2)
    return spot, od, limit, clock, provider


def test_new_demand_returns_to_spot_when_capacity_comes_back(session):
    spot, od, limit, clock, provider = _fallen_back(session)
    scale(provider, "cpu", 1)  # still impaired: new demand goes on-demand
    assert (desired(session, spot), desired(session, od)) == (1, 3)
    limit.restore(10)
    clock.now += 601
    scale(provider, "cpu", 2)
    assert (desired(session, spot), desired(session, od)) == (3, 3)
    assert len(in_service(session, spot)) == 3


def test_on_demand_goes_first_when_demand_falls(session):
    names = build_cluster(session)
    spot, od = names["cpu"][Market.SPOT], names["cpu"][Market.ON_DEMAND]
    SpotCapacityLimit(session, spot, capacity=2)
    provider = make_provider(session)
    scale(provider, "cpu", 4)
    provider.non_terminated_nodes({})
    provider.post_process()
    assert (desired(session, spot), desired(session, od)) == (2, 2)
    provider.non_terminated_nodes({})
    provider.submit_scale_request(ScaleRequest(desired_num_workers={"cpu": 3}))
    assert (desired(session, spot), desired(session, od)) == (2, 1)


@pytest.mark.parametrize("flag", ["disable_node_updaters", "disable_launch_config_check", "foreground_node_launch"])
def test_the_three_batching_flags_are_required(session, flag):
    with pytest.raises(AssertionError, match=flag):
        make_provider(session, **{flag: False})


def test_works_against_a_moto_server_on_loopback(aws_env):
    session = boto3.session.Session(region_name=REGION)
    names = build_cluster(session)
    provider = make_provider(session)
    scale(provider, "cpu", 2)
    assert desired(session, names["cpu"][Market.SPOT]) == 2
    victim = workers(provider)[0]
    provider.non_terminated_nodes({})
    provider.terminate_node(victim)
    provider.post_process()
    assert workers(provider) == in_service(session, names["cpu"][Market.SPOT])
    assert len(workers(provider)) == 1

def _calls(provider) -> list[str]:
    calls: list[str] = []
    provider.asg.meta.events.register("before-call.autoscaling.*", lambda model, **_: calls.append(model.name))
    return calls


def test_deleting_every_node_of_an_asg_takes_one_call(session):
    names = build_cluster(session)
    provider = make_provider(session)
    scale(provider, "cpu", 3)
    victims = workers(provider)
    calls = _calls(provider)
    provider.non_terminated_nodes({})
    provider.terminate_nodes(victims)
    provider.post_process()
    assert calls == ["DescribeAutoScalingGroups", "SetDesiredCapacity"]
    assert desired(session, names["cpu"][Market.SPOT]) == 0
    assert in_service(session, names["cpu"][Market.SPOT]) == []
    assert workers(provider) == []


def test_with_a_launch_in_flight_each_deleted_node_is_terminated_by_id(session):
    names = build_cluster(session)
    spot = names["cpu"][Market.SPOT]
    SpotCapacityLimit(session, spot, capacity=2, report_failures=False)
    provider = make_provider(session)
    scale(provider, "cpu", 3)  # two run, one launch still wanted
    victims = workers(provider)
    calls = _calls(provider)
    provider.non_terminated_nodes({})
    provider.terminate_nodes(victims)
    provider.post_process()
    assert calls.count("TerminateInstanceInAutoScalingGroup") == 2
    assert not set(victims) & set(in_service(session, spot))


@pytest.mark.parametrize(
    "message",
    [
        "Could not launch Spot Instances. InsufficientInstanceCapacity - There is no Spot capacity available "
        "that matches your request. Launching EC2 instance failed.",
        "Could not launch Spot Instances. SpotMaxPriceTooLow - Your Spot request price of 0.05 is lower than the "
        "minimum required Spot request fulfillment price of 0.0735. Launching EC2 instance failed.",
        "Could not launch Spot Instances. MaxSpotInstanceCountExceeded - Max spot instance count exceeded. "
        "Launching EC2 instance failed.",
    ],
)
def test_each_spot_capacity_failure_moves_the_shortfall_in_one_update(session, message):
    names = build_cluster(session)
    spot, od = names["cpu"][Market.SPOT], names["cpu"][Market.ON_DEMAND]
    SpotCapacityLimit(session, spot, capacity=1, message=message)
    provider = make_provider(session)
    scale(provider, "cpu", 4)
    provider.non_terminated_nodes({})
    provider.post_process()
    assert (desired(session, spot), desired(session, od)) == (1, 3)
    assert provider.status()["cpu"]["reason"] == f"spot capacity failure: {message}"


def test_an_unrelated_launch_failure_moves_nothing_and_shows_in_the_status(session, caplog):
    names = build_cluster(session)
    spot, od = names["cpu"][Market.SPOT], names["cpu"][Market.ON_DEMAND]
    message = "The specified launch template, with template ID lt-0abc, does not exist. Launching EC2 instance failed."
    SpotCapacityLimit(session, spot, capacity=1, message=message)
    clock = Clock()
    provider = make_provider(session, clock=clock)
    scale(provider, "cpu", 3)
    for _ in range(3):  # past the 180 s grace period: the twin would fail the same way
        clock.now += 100
        provider.non_terminated_nodes({})
        provider.post_process()
    assert (desired(session, spot), desired(session, od)) == (3, 0)
    assert provider.status()["cpu"] == {
        "requested": 3, "spot": 1, "on_demand": 0, "spot_impaired": False, "reason": "", "launch_error": message,
        "moved_to_spot": 0,
    }
    assert caplog.messages.count(
        f"cpu: spot launches fail for a reason other than capacity, nothing moves: {message}"
    ) == 1


def _fallback_datapoints(session) -> dict:
    """Every SPOT_FALLBACK_METRIC datapoint of the fixture's cpu group, aggregated: how many, how many 1s."""
    from datetime import datetime, timedelta, timezone

    from components.contract import CLUSTER_DIMENSION, NODE_GROUP_DIMENSION, SPOT_FALLBACK_METRIC, metrics_namespace

    now = datetime.now(timezone.utc)
    stats = session.client("cloudwatch", region_name=REGION).get_metric_statistics(
        Namespace=metrics_namespace("test"),
        MetricName=SPOT_FALLBACK_METRIC,
        Dimensions=[{"Name": CLUSTER_DIMENSION, "Value": CLUSTER}, {"Name": NODE_GROUP_DIMENSION, "Value": "cpu"}],
        StartTime=now - timedelta(hours=1),
        EndTime=now + timedelta(hours=1),
        Period=7200,
        Statistics=["SampleCount", "Sum"],
    )["Datapoints"]
    return {"published": sum(p["SampleCount"] for p in stats), "active": sum(p["Sum"] for p in stats)}


def test_spot_fallback_metric_is_published_on_each_change_and_not_on_every_update(session):
    names = build_cluster(session)
    limit = SpotCapacityLimit(session, names["cpu"][Market.SPOT], capacity=1)
    clock = Clock()
    provider = make_provider(session, clock=clock, retry_spot_after_seconds=600)

    provider.non_terminated_nodes({})
    assert _fallback_datapoints(session) == {"published": 1, "active": 0}  # its state when first judged
    scale(provider, "cpu", 3)
    provider.non_terminated_nodes({})  # the capacity failure: demand moves to the on-demand twin
    assert provider.spot_impaired("cpu")
    assert _fallback_datapoints(session) == {"published": 2, "active": 1}
    for _ in range(3):  # updates while it stays on the twin publish nothing
        clock.now += 60
        provider.non_terminated_nodes({})
        provider.post_process()
    assert _fallback_datapoints(session) == {"published": 2, "active": 1}

    limit.restore(10)
    clock.now += 601  # spot is tried again: new demand returns to it
    scale(provider, "cpu", 4)
    provider.non_terminated_nodes({})
    assert not provider.spot_impaired("cpu")
    # The twin still holds the two workers the shortage moved there, at on-demand prices.
    assert _fallback_datapoints(session) == {"published": 2, "active": 1}
    _until_the_twin_is_back(session, provider, clock, names["cpu"][Market.ON_DEMAND])
    assert _fallback_datapoints(session) == {"published": 3, "active": 1}


def _until_the_twin_is_back(session, provider, clock, od: str) -> None:
    """Updates 10 s apart until consolidation has moved the twin `od`'s workers back to spot."""
    for _ in range(60):
        clock.now += 10
        provider.non_terminated_nodes({})
        provider.post_process()
        if not in_service(session, od):
            provider.non_terminated_nodes({})  # the next read sees the twin empty
            return
    pytest.fail(f"the twin still holds {in_service(session, od)} after 10 minutes")


def test_a_failed_spot_retry_keeps_the_fallback_metric_at_1_until_the_twin_is_back(session):
    spot, od, limit, clock, provider = _fallen_back(session)
    assert _fallback_datapoints(session) == {"published": 2, "active": 1}

    clock.now += 601  # spot is retried and still fails: the twin holds the moved workers all along
    provider.non_terminated_nodes({})
    assert not provider.spot_impaired("cpu")
    scale(provider, "cpu", 1)  # a fourth worker: spot is asked for it and fails again
    provider.non_terminated_nodes({})
    assert provider.spot_impaired("cpu")
    provider.post_process()
    assert (desired(session, spot), desired(session, od)) == (1, 3)
    assert _fallback_datapoints(session) == {"published": 2, "active": 1}

    limit.restore(10)
    clock.now += 601
    provider.non_terminated_nodes({})
    provider.post_process()
    assert _fallback_datapoints(session) == {"published": 2, "active": 1}  # spot launches; the twin still holds 3
    _until_the_twin_is_back(session, provider, clock, od)
    assert (desired(session, spot), desired(session, od)) == (4, 0)
    assert provider.status()["cpu"]["moved_to_spot"] == 3
    assert _fallback_datapoints(session) == {"published": 3, "active": 1}


def test_a_failed_fallback_metric_put_is_retried_at_the_next_update(session):
    build_cluster(session)
    provider = make_provider(session)
    with Stubber(provider.cloudwatch) as stub:
        stub.add_client_error("put_metric_data", "InternalFailure", http_status_code=500)
        provider.non_terminated_nodes({})
        stub.assert_no_pending_responses()
    assert _fallback_datapoints(session) == {"published": 0, "active": 0}
    provider.non_terminated_nodes({})
    assert _fallback_datapoints(session) == {"published": 1, "active": 0}
