"""`rayfleet drill failover` as a user runs it: the dry run's steps, refusals, and a run against moto_server."""

from __future__ import annotations

import json

import pytest


def _write_outputs(tmp_path, outputs) -> str:
    path = tmp_path / "outputs.json"
    path.write_text(json.dumps(outputs))
    return str(path)


def test_dry_run_prints_the_exact_steps_and_changes_nothing(cli, tmp_path, plan_outputs):
    path = _write_outputs(tmp_path, plan_outputs)
    failover = plan_outputs["failover"]
    primary, secondary = failover["records"]
    check, zone = primary["healthCheckId"], failover["hostedZoneId"]
    run = cli("drill", "failover", "--env", "prod", "--dry-run", "--outputs", path, "--timeout", "120", "--poll", "2")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0] == (
        f"failover drill for prod  (active-passive, api.example.com; dry run: nothing is changed; IDs from {path})"
    )
    assert lines[2] == (
        f"2. invert  route53 update-health-check --health-check-id {check} --inverted: "
        "Route 53 now counts us-east-1's load balancer as down"
    )
    assert lines[3] == (
        f"3. poll  every 2 s for at most 120 s: route53 get-health-check-status --health-check-id {check}, and "
        f"route53 test-dns-answer --hosted-zone-id {zone} --record-name api.example.com --record-type A, until the "
        f"answer is another region's load balancer: us-west-2 ({secondary['loadBalancerDnsName']})"
    )
    assert lines[4] == (
        f"4. restore  route53 update-health-check --health-check-id {check} --no-inverted; always, also after a "
        "timeout, an error, Ctrl-C or SIGTERM"
    )


def test_dry_run_json_lists_the_steps(cli, tmp_path, plan_outputs):
    run = cli("drill", "failover", "--env", "prod", "--dry-run", "--json", "--outputs", _write_outputs(tmp_path, plan_outputs))
    assert run.code == 0, run.err
    assert [s["title"] for s in json.loads(run.out)["steps"]] == ["check", "invert", "poll", "restore", "report"]


def test_dry_run_reads_a_plan_json_file_too(cli, tmp_path, plan_outputs):
    path = _write_outputs(tmp_path, {"env": "prod", "resources": [], "outputs": plan_outputs})
    run = cli("drill", "failover", "--env", "prod", "--dry-run", "--json", "--outputs", path)
    assert run.code == 0, run.err


def test_environment_without_failover_is_refused(cli):
    run = cli("drill", "failover", "--env", "dev", "--dry-run")
    assert run.code == 1
    assert run.err.strip() == (
        "error: environment 'dev' has no failover: DNS failover needs two or more regions and 'rayfleet:failover' "
        "in its stack file. Fix: drill an environment with failover"
    )


def test_missing_outputs_file_is_named(cli, tmp_path):
    missing = tmp_path / "nope.json"
    run = cli("drill", "failover", "--env", "prod", "--outputs", str(missing))
    assert run.code == 1
    assert run.err.strip() == f"error: {missing}: no such file. Fix: check the path given to --outputs"


def test_without_pulumi_a_real_drill_asks_for_outputs(cli, tmp_path):
    run = cli("drill", "failover", "--env", "prod", env={"PATH": str(tmp_path)})
    assert run.code == 1
    assert run.err.strip() == (
        "error: the Pulumi CLI is not on PATH, so the stack's outputs cannot be read. Fix: install Pulumi, or pass "
        "--outputs FILE written by 'pulumi stack output --json --stack prod'"
    )


def test_drill_against_moto_restores_the_check_when_route53_cannot_answer(cli, tmp_path, deployed, aws_env):
    client, outputs = deployed
    check = outputs["failover"]["records"][0]["healthCheckId"]
    run = cli("drill", "failover", "--env", "prod", "--outputs", _write_outputs(tmp_path, outputs), "--timeout", "5",
              "--poll", "0.5", env=aws_env)
    assert run.code == 1
    assert "error: polling Route 53 failed (ClientError: An error occurred (404) when calling the TestDNSAnswer" in run.err
    assert f"the drill stopped and restores health check {check}" in run.err
    config = client.get_health_check(HealthCheckId=check)["HealthCheck"]["HealthCheckConfig"]
    assert config["Inverted"] is False


def test_outputs_come_from_pulumi_stack_output_by_default(cli, tmp_path, plan_outputs):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(plan_outputs))
    calls = tmp_path / "calls.txt"
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(f'#!/bin/sh\necho "$@" >> {calls}\ncat {outputs}\n')
    fake.chmod(0o755)
    run = cli("drill", "failover", "--env", "prod", "--dry-run", env={"PATH": f"{fake.parent}:/usr/bin:/bin"})
    assert run.code == 0, run.err
    assert calls.read_text() == "stack output --json --stack prod\n"
    assert run.out.splitlines()[0].endswith("IDs from 'pulumi stack output --stack prod')")


def _fake_pulumi(tmp_path, script: str) -> dict:
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(f"#!/bin/sh\n{script}\n")
    fake.chmod(0o755)
    return {"PATH": f"{fake.parent}:/usr/bin:/bin"}


@pytest.mark.slow  # runs prod's offline plan
def test_dry_run_of_an_undeployed_stack_shows_the_plans_placeholders(cli, tmp_path):
    path = _fake_pulumi(tmp_path, "echo 'error: no stack named prod found' >&2; exit 255")
    run = cli("drill", "failover", "--env", "prod", "--dry-run", env=path)
    assert run.code == 0, run.err
    assert run.out.splitlines()[0].endswith("IDs from the offline plan (placeholders until 'pulumi up'))")


def test_dry_run_with_malformed_outputs_from_pulumi_is_an_error_not_the_plans_placeholders(cli, tmp_path):
    path = _fake_pulumi(tmp_path, """echo '{"failover": {"records": "none"}}'""")
    run = cli("drill", "failover", "--env", "prod", "--dry-run", env=path)
    assert run.code == 1
    assert run.err.strip() == (
        "error: 'pulumi stack output --json --stack prod': the stack outputs of 'prod' have failover.records = "
        "'none': Input should be a valid list. Fix: update the stack with this rayfleet ('pulumi up --stack prod'), "
        "or pass --outputs FILE written by 'pulumi stack output --json --stack prod'"
    )
