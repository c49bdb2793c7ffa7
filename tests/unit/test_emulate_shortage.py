"""The emulated spot shortage answers as EC2 Auto Scaling does, in its Query API's XML, and our fallback reads it."""

from __future__ import annotations

import http.client
import threading
from datetime import datetime, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlencode, urlsplit

import botocore.session
import pytest
from botocore.parsers import QueryParser

from components.drills.emulate.aws_routing import aws_router, intercepting
from components.drills.emulate.shortage import (
    SPOT_CAPACITY_FAILURE, ShortageFigures, SpotShortage, activities_answer, query, raised_demand, with_desired)
from components.errors import RayfleetError
from components.node_agents import spot_fallback

NOW = datetime(2026, 11, 30, 17, 30, 5, 250000, tzinfo=timezone.utc)
SPOT, TWIN = "rayfleet-dev-us-west-2-cpu-spot", "rayfleet-dev-us-west-2-cpu-on-demand"
NS = "http://autoscaling.amazonaws.com/doc/2011-01-01/"


def parsed(operation: str, body: bytes) -> dict:
    """`body` as boto3 reads an answer to `operation` (botocore's Query protocol parser and its service model)."""
    model = botocore.session.get_session().get_service_model("autoscaling").operation_model(operation)
    return QueryParser().parse({"body": body, "headers": {}, "status_code": 200}, model.output_shape)


def groups_answer(*groups: tuple[str, int, list[str]]) -> bytes:
    """A DescribeAutoScalingGroups answer as moto words it: nested members (instances) before DesiredCapacity."""
    members = "".join(
        f"<member><AutoScalingGroupName>{name}</AutoScalingGroupName><MinSize>0</MinSize><MaxSize>4</MaxSize>"
        "<Instances>" + "".join(f"<member><InstanceId>{i}</InstanceId><LifecycleState>InService</LifecycleState>"
                                f"</member>" for i in instances) + "</Instances>"
        f"<DesiredCapacity>{desired}</DesiredCapacity></member>" for name, desired, instances in groups)
    return (f'<DescribeAutoScalingGroupsResponse xmlns="{NS}"><DescribeAutoScalingGroupsResult><AutoScalingGroups>'
            f"{members}</AutoScalingGroups></DescribeAutoScalingGroupsResult></DescribeAutoScalingGroupsResponse>"
            ).encode()


class FakeMoto:
    """What moto answers the shortage's forwarded calls: the spot group's instances; records what it was sent."""

    def __init__(self, launched: int) -> None:
        self.launched = launched
        self.sent: list[dict[str, str]] = []

    def __call__(self, body: bytes) -> tuple[int, bytes]:
        self.sent.append(query(body))
        if query(body)["Action"] == "DescribeAutoScalingGroups":
            return 200, groups_answer((SPOT, self.launched, [f"i-{n}" for n in range(self.launched)]),
                                      (TWIN, 0, []))
        return 200, b"<SetDesiredCapacityResponse/>"


def ask(action: str, **params: str) -> bytes:
    return urlencode({"Action": action, "Version": "2011-01-01", **params}).encode()


def test_the_failed_spot_launch_reads_as_a_capacity_failure_to_the_fallback():
    shortage = SpotShortage(SPOT)
    shortage.set_desired(2, launched=1, now=NOW)
    activities = parsed("DescribeScalingActivities", activities_answer(shortage.activities))["Activities"]
    assert activities[0]["StatusCode"] == "Failed"
    assert activities[0]["StatusMessage"] == SPOT_CAPACITY_FAILURE
    assert activities[0]["StartTime"] == NOW.replace(microsecond=250000)
    assert activities[0]["Cause"].endswith("increasing the capacity from 1 to 2.")
    assert spot_fallback.capacity_failure(activities, since=NOW) == SPOT_CAPACITY_FAILURE
    assert spot_fallback.launch_failure(activities, since=NOW) is None


def test_a_short_spot_group_launches_nothing_but_keeps_the_desired_count_asked():
    moto, shortage = FakeMoto(launched=1), SpotShortage(SPOT)
    status, _ = shortage.exchange(ask("SetDesiredCapacity", AutoScalingGroupName=SPOT, DesiredCapacity="2",
                                      HonorCooldown="false"), moto, now=lambda: NOW)
    assert status == 200
    assert moto.sent[-1] == {"Action": "SetDesiredCapacity", "Version": "2011-01-01", "AutoScalingGroupName": SPOT,
                             "DesiredCapacity": "1", "HonorCooldown": "false"}
    _, answer = shortage.exchange(ask("DescribeAutoScalingGroups"), moto)
    groups = {g["AutoScalingGroupName"]: g for g in parsed("DescribeAutoScalingGroups", answer)["AutoScalingGroups"]}
    assert (groups[SPOT]["DesiredCapacity"], len(groups[SPOT]["Instances"])) == (2, 1)
    assert groups[TWIN]["DesiredCapacity"] == 0
    assert shortage.asked == [2] and len(shortage.activities) == 1


def test_lowering_a_short_group_to_what_it_runs_records_no_failed_launch():
    moto, shortage = FakeMoto(launched=1), SpotShortage(SPOT)
    shortage.exchange(ask("SetDesiredCapacity", AutoScalingGroupName=SPOT, DesiredCapacity="2"), moto, now=lambda: NOW)
    shortage.exchange(ask("SetDesiredCapacity", AutoScalingGroupName=SPOT, DesiredCapacity="1"), moto, now=lambda: NOW)
    assert (shortage.unlaunched, len(shortage.activities)) == (0, 1)
    assert with_desired(groups_answer((SPOT, 1, ["i-0"])), SPOT, shortage.desired_shown) == groups_answer((SPOT, 1, ["i-0"]))


def test_other_groups_calls_reach_moto_as_sent():
    moto, shortage = FakeMoto(launched=0), SpotShortage(SPOT)
    assert shortage.exchange(ask("SetDesiredCapacity", AutoScalingGroupName=TWIN, DesiredCapacity="1"), moto) is None
    assert shortage.exchange(ask("DescribeScalingActivities", AutoScalingGroupName=TWIN), moto) is None
    assert shortage.exchange(b"Action=DescribeInstances&Version=2016-11-15", moto) is None
    assert moto.sent == []


def test_the_router_answers_through_an_exchange_only_while_it_is_installed():
    class Upstream(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers["Content-Length"]))
            self.send_response(200)
            self.send_header("Content-Length", "4")
            self.end_headers()
            self.wfile.write(b"moto")

        def log_message(self, *args) -> None:
            pass

    upstream = ThreadingHTTPServer(("127.0.0.1", 0), Upstream)
    threading.Thread(target=upstream.serve_forever, daemon=True).start()

    def post(endpoint: str) -> bytes:
        target = urlsplit(endpoint)
        connection = http.client.HTTPConnection(target.hostname, target.port, timeout=10)
        connection.request("POST", "/", body=b"Action=Mine")
        return connection.getresponse().read()

    try:
        with aws_router(("127.0.0.1", 0), f"http://127.0.0.1:{upstream.server_address[1]}", []) as endpoint:
            mine = lambda body, forward: (200, b"mine+" + forward(body)[1]) if body == b"Action=Mine" else None  # noqa: E731
            with intercepting(endpoint, mine):
                assert post(endpoint) == b"mine+moto"
            assert post(endpoint) == b"moto"
    finally:
        upstream.shutdown()
        upstream.server_close()


def config_of(*deployments: dict) -> dict:
    return {"applications": [{"name": "digits", "deployments": list(deployments)}]}


def test_demand_rises_by_one_replica_of_a_whole_cpu():
    zero_cpu = {"name": "Health", "autoscaling_config": {"min_replicas": 1, "max_replicas": 2},
                "ray_actor_options": {"num_cpus": 0}}
    grows = {"name": "Digits", "autoscaling_config": {"min_replicas": 1, "max_replicas": 2, "initial_replicas": 1},
             "ray_actor_options": {"num_cpus": 1}}
    config = config_of(zero_cpu, grows)
    raised, what = raised_demand(config)
    assert what == "digits/Digits: min replicas 1 -> 2"
    assert raised["applications"][0]["deployments"][1]["autoscaling_config"] == {
        "min_replicas": 2, "max_replicas": 2, "initial_replicas": 2}
    assert config["applications"][0]["deployments"][1]["autoscaling_config"]["min_replicas"] == 1  # not changed


def test_a_config_with_no_deployment_to_grow_is_refused():
    at_max = {"name": "Digits", "autoscaling_config": {"min_replicas": 2, "max_replicas": 2},
              "ray_actor_options": {"num_cpus": 1}}
    with pytest.raises(RayfleetError) as raised:
        raised_demand(config_of(at_max))
    assert str(raised.value) == (
        "shortage: no deployment of the deployed Serve config can grow by a replica of a whole CPU (autoscaling "
        "min_replicas below max_replicas, ray_actor_options num_cpus >= 1), so no demand can be raised. Fix: give one "
        "application in the stack file an autoscaling deployment with maxReplicas above minReplicas whose replicas "
        "need a whole CPU (dev's sentiment)")


def test_the_figures_name_the_first_step_that_did_not_happen():
    figures = ShortageFigures(demand="digits/Digits: min replicas 1 -> 2", spot_group=SPOT, twin_group=TWIN,
                              spot_asked_s=4.0, failed_launches=2, timeout_s=300)
    assert figures.missed() == [f"the shortfall of {SPOT} did not move to {TWIN} within 300 s (2 failed launches "
                                "recorded)"]
    figures.fallback_s, figures.capacity_s, figures.replicas_running_s = 9.0, 90.0, 95.0
    assert figures.missed() == []
    figures.spot_launched = 1
    assert figures.missed() == ["1 spot instance(s) launched during the shortage"]


def test_a_dashboard_that_stops_answering_during_the_raised_deploy_is_one_error(monkeypatch):
    import contextlib
    from types import SimpleNamespace

    from serve_apps import emulate_shortage
    from serve_apps.dashboard import DashboardError

    def unreachable(*_args, **_kwargs):
        raise DashboardError("cannot reach the Ray dashboard at http://10.30.0.10:8265 (PUT /api/serve/applications/: "
                             "timed out). Fix: check the address and that the cluster is up (rayfleet local up, or "
                             "the stack's dashboardUrl), and that this machine may reach it (operatorCidrs)")

    monkeypatch.setattr(emulate_shortage, "_markets", lambda _asg: ("dev-cpu-spot", "dev-cpu"))
    monkeypatch.setattr(emulate_shortage, "_group", lambda _asg, _name: {"DesiredCapacity": 1, "Instances": []})
    monkeypatch.setattr(emulate_shortage, "_alive_addresses", lambda _region: set())
    monkeypatch.setattr(emulate_shortage, "intercepting", lambda *_a: contextlib.nullcontext())
    monkeypatch.setattr(emulate_shortage, "raised_demand", lambda config: (config, "sentiment: min replicas 1 -> 2"))
    monkeypatch.setattr(emulate_shortage, "deploy", unreachable)
    region = SimpleNamespace(client=lambda _s: None, config={"applications": []}, on_step=lambda _t: None,
                             runner=SimpleNamespace(aws_endpoint=None), dashboard=None, region="us-west-2",
                             cfg=SimpleNamespace(env="dev"), run_dir="/tmp/rayfleet/emulate/dev-1")
    with pytest.raises(RayfleetError) as raised:
        emulate_shortage.run(region)
    assert type(raised.value) is RayfleetError
    assert str(raised.value) == (
        "shortage: the emulated head's dashboard stopped answering while the raised config deployed (cannot reach "
        "the Ray dashboard at http://10.30.0.10:8265 (PUT /api/serve/applications/: timed out)). Fix: run the "
        "emulation again on a less loaded machine; the head's Ray logs are under /tmp/rayfleet/emulate/dev-1")
