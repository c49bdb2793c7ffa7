"""Operating a cluster against moto: nodes found by their tags, Run Command per node, the log group read back."""

from __future__ import annotations

import time

import boto3
import pytest
from moto import mock_aws

from components.contract import CLUSTER_KEY, ENV_KEY, MARKET_KEY, NODE_TYPE_KEY
from components.errors import RayfleetError
from serve_apps.node_logs import LogQuery, follow_logs, read_logs
from serve_apps.remote import ClusterRef, cluster_nodes, run_command, select_nodes
from tests.fakes.ssm_agent import fake_ssm_agent

REGION = "us-west-2"
CLUSTER = "rayfleet-dev-us-west-2"
REF = ClusterRef("dev", REGION, CLUSTER, log_group_name=f"/rayfleet/{CLUSTER}")
AMI = "ami-12c6146b"  # one of moto's built-in images


@pytest.fixture
def aws(aws_credentials):
    with mock_aws():
        yield


def _launch(node_type: str, market: str, *, env: str = "dev", cluster: str = CLUSTER) -> str:
    tags = {ENV_KEY: env, CLUSTER_KEY: cluster, NODE_TYPE_KEY: node_type, MARKET_KEY: market}
    (instance,) = boto3.client("ec2", region_name=REGION).run_instances(
        ImageId=AMI, MinCount=1, MaxCount=1, InstanceType="m6i.large",
        TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
    )["Instances"]
    return instance["InstanceId"]


def test_nodes_are_the_clusters_running_instances_head_first(aws):
    worker = _launch("cpu", "spot")
    head = _launch("head", "on-demand")
    _launch("head", "on-demand", cluster="rayfleet-dev-us-east-1")  # another region's cluster
    _launch("head", "on-demand", env="staging", cluster="rayfleet-staging-us-west-2")
    gone = _launch("cpu", "on-demand")
    boto3.client("ec2", region_name=REGION).terminate_instances(InstanceIds=[gone])

    nodes = cluster_nodes(REF)
    assert [(n.instance_id, n.node_type, n.market) for n in nodes] == [(head, "head", "on-demand"), (worker, "cpu", "spot")]


def test_exec_waits_for_every_node_and_reports_each_output_and_exit_code(aws, monkeypatch):
    head, worker = _launch("head", "on-demand"), _launch("cpu", "spot")
    nodes = select_nodes(cluster_nodes(REF), "all")
    seen = []
    with fake_ssm_agent(monkeypatch, {head: (0, "ray 2.60.0\n", ""), worker: (127, "", "ray: not found\n")}) as agent:
        results = run_command(nodes, "ray --version", REGION, sleep=time.sleep,
                              on_progress=lambda statuses, elapsed: seen.append(dict(statuses)))
    assert [(r.node.instance_id, r.status, r.exit_code, r.stdout, r.stderr, r.ok) for r in results] == [
        (head, "Success", 0, "ray 2.60.0\n", "", True),
        (worker, "Failed", 127, "", "ray: not found\n", False),
    ]
    assert seen[0] == {head: "InProgress", worker: "InProgress"}  # it waited for the agent, not for moto
    assert agent.scripts == ['set -a; . /etc/rayfleet/ray.env; set +a\nexport PATH=/opt/rayfleet/venv/bin:"$PATH"\n'
                             'ray --version'] * 2


def test_exec_gives_up_at_its_timeout_with_the_last_status(aws, monkeypatch):
    head = _launch("head", "on-demand")
    clock = iter(range(0, 1000, 5))
    with fake_ssm_agent(monkeypatch, {}, delay_s=3600):
        (result,) = run_command(select_nodes(cluster_nodes(REF), "head"), "sleep 999", REGION, timeout_s=10,
                                sleep=lambda s: None, clock=lambda: next(clock))
    assert (result.node.instance_id, result.status, result.exit_code, result.ok) == (head, "InProgress", -1, False)


def _put(group: str, stream: str, events: list[tuple[int, str]]) -> None:
    logs = boto3.client("logs", region_name=REGION)
    try:
        logs.create_log_stream(logGroupName=group, logStreamName=stream)
    except logs.exceptions.ResourceAlreadyExistsException:
        pass
    logs.put_log_events(logGroupName=group, logStreamName=stream,
                        logEvents=[{"timestamp": t, "message": m} for t, m in events])


@pytest.fixture
def log_group(aws):
    boto3.client("logs", region_name=REGION).create_log_group(logGroupName=REF.log_group_name)
    return REF.log_group_name


def test_logs_come_from_every_stream_oldest_first_within_since(log_group):
    now = time.time()
    ms = int(now * 1000)
    _put(log_group, "i-0aaa/ray/raylet.out", [(ms - 7_200_000, "too old"), (ms - 60_000, "raylet up")])
    _put(log_group, "i-0bbb/serve/replica_digits_Digits_x1.log", [(ms - 30_000, "predict 200")])
    lines = read_logs(LogQuery(log_group, REGION, 3600), now=lambda: now)
    assert [(line.instance_id, line.file, line.message) for line in lines] == [
        ("i-0aaa", "ray/raylet.out", "raylet up"),
        ("i-0bbb", "serve/replica_digits_Digits_x1.log", "predict 200"),
    ]


def test_logs_of_one_app_keep_its_replicas_and_its_json_records(log_group):
    now = time.time()
    ms = int(now * 1000)
    _put(log_group, "i-0aaa/serve/replica_digits_Digits_x1.log", [(ms - 3000, "predict 200")])
    _put(log_group, "i-0aaa/serve/replica_sentiment_Sentiment_y2.log", [(ms - 2000, "score 200")])
    _put(log_group, "i-0aaa/serve/requests.json", [(ms - 1000, '{"application": "digits", "message": "POST /digits 200"}'),
                                                   (ms - 500, '{"application": "sentiment", "message": "POST 200"}')])
    lines = read_logs(LogQuery(log_group, REGION, 60, "digits", ["digits", "sentiment"]), now=lambda: now)
    assert [line.message for line in lines] == ["predict 200", '{"application": "digits", "message": "POST /digits 200"}']


def _follow(group: str, now: float):
    """Batches of a follow of the last minute's lines, polling without a pause."""
    return follow_logs(LogQuery(group, REGION, 60), now=lambda: now, sleep=lambda s: None)


def test_following_prints_each_new_line_once(log_group):
    now = time.time()
    ms = int(now * 1000)
    _put(log_group, "i-0aaa/ray/raylet.out", [(ms - 2000, "first")])
    batches = _follow(log_group, now)
    assert [line.message for line in next(batches)] == ["first"]
    _put(log_group, "i-0aaa/ray/raylet.out", [(ms - 2000, "same millisecond"), (ms - 1000, "second")])
    assert [line.message for line in next(batches)] == ["same millisecond", "second"]
    assert next(batches) == []


def test_following_prints_a_line_that_reaches_cloudwatch_late_with_an_earlier_time(log_group):
    # Each node's agent sends its lines in batches (force_flush_interval): another node's line can
    # arrive after a newer one was printed.
    now = time.time()
    ms = int(now * 1000)
    _put(log_group, "i-0aaa/ray/raylet.out", [(ms - 1000, "raylet: newest")])
    batches = _follow(log_group, now)
    assert [line.message for line in next(batches)] == ["raylet: newest"]
    _put(log_group, "i-0bbb/serve/replica_digits_Digits_x1.log", [(ms - 20_000, "predict 200")])
    assert [(line.instance_id, line.message) for line in next(batches)] == [("i-0bbb", "predict 200")]
    assert next(batches) == []


def test_a_missing_log_group_says_to_update_the_stack(aws):
    with pytest.raises(RayfleetError) as err:
        read_logs(LogQuery("/rayfleet/nope", REGION, 60))
    assert str(err.value) == ("log group /rayfleet/nope does not exist. Fix: update the stack ('pulumi up') so the "
                              "cluster's log group is created")
