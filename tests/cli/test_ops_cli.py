"""`rayfleet ssh|exec|dashboard|logs` as a user types them, against a moto_server holding a deployed cluster."""

from __future__ import annotations

import json
import time

import boto3
import pytest

from components.contract import CLUSTER_KEY, ENV_KEY, MARKET_KEY, NODE_TYPE_KEY
from tests.fakes.cli import run_cli
from tests.fakes.ssm_agent import fake_ssm_agent

REGION = "us-west-2"  # dev's only, so primary, region
CLUSTER = "rayfleet-dev-us-west-2"
GROUP = f"/rayfleet/{CLUSTER}"
SECRET = "arn:aws:secretsmanager:us-west-2:123456789012:secret:rayfleet-dev-token-AbCdEf"


@pytest.fixture
def outputs(tmp_path):
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps({"env": "dev", "primaryRegion": REGION, "regions": {REGION: {
        "cluster": CLUSTER, "logGroupName": GROUP, "dashboardTokenSecretArn": SECRET}}}))
    return str(path)


@pytest.fixture
def nodes(aws_env):
    """A head and a spot worker of dev's cluster, running in the moto_server, and no other instance.

    moto keeps its state per process, not per server: instances an earlier test module left in the
    same pytest process would otherwise be found by their tags too.
    """
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{aws_env['AWS_ENDPOINT_URL']}/moto-api/reset", method="POST"))
    ec2 = boto3.client("ec2", region_name=REGION)
    ids = []
    for node_type, market in (("head", "on-demand"), ("cpu", "spot")):
        tags = {ENV_KEY: "dev", CLUSTER_KEY: CLUSTER, NODE_TYPE_KEY: node_type, MARKET_KEY: market}
        (instance,) = ec2.run_instances(
            ImageId="ami-12c6146b", MinCount=1, MaxCount=1, InstanceType="m6i.large",
            TagSpecifications=[{"ResourceType": "instance", "Tags": [{"Key": k, "Value": v} for k, v in tags.items()]}],
        )["Instances"]
        ids.append(instance["InstanceId"])
    yield ids
    ec2.terminate_instances(InstanceIds=ids)


def test_ssh_starts_a_session_on_the_primary_regions_head(nodes, outputs, aws_env):
    head, _ = nodes
    run = run_cli("ssh", "--env", "dev", "--outputs", outputs, "--print-command", env=aws_env)
    assert (run.code, run.out) == (0, f"aws ssm start-session --target {head} --region {REGION}\n")
    assert run.err == f"session on {head} (head) of {CLUSTER}\n"


def test_ssh_to_a_worker_with_a_command(nodes, outputs, aws_env):
    _, worker = nodes
    run = run_cli("ssh", "--env", "dev", "--outputs", outputs, "--node", worker, "--command", "htop", "--print-command",
                  env=aws_env)
    assert run.out == (f"aws ssm start-session --target {worker} --region {REGION} --document-name "
                       "AWS-StartInteractiveCommand --parameters '{\"command\":[\"htop\"]}'\n")


def test_ssh_without_the_plugin_says_how_to_install_it(nodes, outputs, aws_env, tmp_path):
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "aws").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "aws").chmod(0o755)
    run = run_cli("ssh", "--env", "dev", "--outputs", outputs, env={**aws_env, "PATH": str(bin_dir)})
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        "error: AWS's session-manager-plugin is not on PATH: 'aws ssm start-session' needs it for interactive "
        "sessions. Fix: install it (https://docs.aws.amazon.com/systems-manager/latest/userguide/"
        "session-manager-working-with-install-plugin.html), e.g. on Ubuntu: curl -fsSLo /tmp/smp.deb "
        "https://s3.amazonaws.com/session-manager-downloads/plugin/latest/ubuntu_64bit/session-manager-plugin.deb "
        "&& sudo dpkg -i /tmp/smp.deb\n"
    )


def test_ssh_refuses_every_node_at_once(outputs):
    run = run_cli("ssh", "--env", "dev", "--outputs", outputs, "--node", "all")
    assert (run.code, run.err) == (1, "error: --node all: a session is on one node. Fix: pass --node head or an "
                                      "instance id ('rayfleet exec --node all -- CMD' runs a command on every node)\n")


def test_dashboard_forwards_the_heads_port_and_says_where_the_token_is(nodes, outputs, aws_env):
    head, _ = nodes
    run = run_cli("dashboard", "--env", "dev", "--outputs", outputs, "--local-port", "18265", "--print-command",
                  env=aws_env)
    assert run.code == 0, run.err
    assert run.out == (f"aws ssm start-session --target {head} --region {REGION} --document-name "
                       "AWS-StartPortForwardingSession --parameters "
                       "'{\"portNumber\":[\"8265\"],\"localPortNumber\":[\"18265\"]}'\n")
    assert run.err.splitlines() == [
        f"Ray dashboard of dev/{REGION}: http://127.0.0.1:18265  (forwarded from the head {head}; Ctrl-C ends it)",
        f"its token: aws secretsmanager get-secret-value --secret-id {SECRET} --region {REGION} "
        "--query SecretString --output text",
    ]


def test_exec_prints_every_nodes_output_and_fails_when_one_node_failed(nodes, outputs, aws_env, monkeypatch):
    head, worker = nodes
    with fake_ssm_agent(monkeypatch, {head: (0, "head ok\n", ""), worker: (2, "", "no such file\n")}):
        run = run_cli("exec", "--env", "dev", "--outputs", outputs, "--node", "all", "--", "cat", "/tmp/x", env=aws_env)
    assert run.code == 1
    assert run.out == (f"── {head} (head): Success, exit 0\nhead ok\n"
                       f"── {worker} (cpu, spot): Failed, exit 2\nno such file\n")
    assert run.err.splitlines()[-1] == f"error: the command failed on 1 of 2 node(s): {worker}"


def test_exec_json_reports_each_node(nodes, outputs, aws_env, monkeypatch):
    head, _ = nodes
    with fake_ssm_agent(monkeypatch, {head: (0, "2.60.0\n", "")}):
        run = run_cli("exec", "--env", "dev", "--outputs", outputs, "--json", "--", "ray", "--version", env=aws_env)
    assert run.code == 0, run.err
    assert json.loads(run.out) == [{"instanceId": head, "nodeType": "head", "market": "on-demand", "status": "Success",
                                    "exitCode": 0, "stdout": "2.60.0\n", "stderr": ""}]


def test_logs_of_one_application(aws_env, outputs):
    logs = boto3.client("logs", region_name=REGION)
    logs.create_log_group(logGroupName=GROUP)
    ms = int(time.time() * 1000)
    for stream, message in (("i-0aaa/serve/replica_digits_Digits_x1.log", "predict 200"),
                            ("i-0aaa/serve/replica_sentiment_Sentiment_y2.log", "score 200")):
        logs.create_log_stream(logGroupName=GROUP, logStreamName=stream)
        logs.put_log_events(logGroupName=GROUP, logStreamName=stream, logEvents=[{"timestamp": ms - 1000, "message": message}])
    try:
        run = run_cli("logs", "--env", "dev", "--outputs", outputs, "--app", "digits", "--since", "5m", "--json", env=aws_env)
    finally:
        logs.delete_log_group(logGroupName=GROUP)
    assert run.code == 0, run.err
    (line,) = [json.loads(text) for text in run.out.splitlines()]  # JSON Lines: one object per log line
    assert {key: line[key] for key in ("instanceId", "file", "message")} == {
        "instanceId": "i-0aaa", "file": "serve/replica_digits_Digits_x1.log", "message": "predict 200"}


def test_logs_reject_an_application_the_environment_lacks(outputs):
    run = run_cli("logs", "--env", "dev", "--outputs", outputs, "--app", "digitz")
    assert (run.code, run.err) == (1, "error: --app digitz is not an application of environment 'dev' "
                                      "(applications: sentiment, digits). Fix: pick one of those\n")


def test_a_stack_without_the_log_group_output_says_to_update_it(tmp_path):
    old = tmp_path / "old.json"
    old.write_text(json.dumps({"regions": {REGION: {"cluster": CLUSTER}}}))
    run = run_cli("logs", "--env", "dev", "--outputs", str(old))
    assert (run.code, run.err) == (1, f"error: stack 'dev' outputs regions.{REGION} lack logGroupName. Fix: update the "
                                      "stack ('pulumi up --stack dev') with a rayfleet that exports them\n")


def test_a_region_outside_the_environment_is_refused(outputs):
    run = run_cli("exec", "--env", "dev", "--outputs", outputs, "--region", "eu-west-1", "--", "true")
    assert (run.code, run.err) == (1, "error: --region eu-west-1 is not a region of environment 'dev' "
                                      "(regions: us-west-2). Fix: pick one of those\n")


def test_help_lists_the_operations_commands_together_in_their_own_panel():
    run = run_cli("--help", env={"COLUMNS": "120"})
    panel = run.out.split("Operate a deployed cluster (Session Manager, no SSH)", 1)[1].split("╰", 1)[0]
    listed = [line.split()[1] for line in panel.splitlines() if line.startswith("│ ") and line[2] != " "]
    assert listed == ["ssh", "exec", "dashboard", "logs", "job"]


def test_job_submit_refuses_an_address_together_with_an_environment():
    run = run_cli("job", "submit", "--address", "http://127.0.0.1:8265", "--env", "dev", "--", "python", "run.py")
    assert (run.code, run.err) == (1, "error: --address http://127.0.0.1:8265 and --env dev both say which cluster "
                                      "runs the job: give one. Fix: drop --env/--file to use that dashboard, or drop "
                                      "--address to forward the environment's head\n")
