"""`rayfleet plan`: the resource tree and its JSON."""

from __future__ import annotations

import json

import pytest

# Each test runs prod's full offline plan in a subprocess (seconds each).
pytestmark = pytest.mark.slow


def test_plan_prod_shows_both_regions_networks(cli):
    run = cli("plan", "--env", "prod")
    assert run.code == 0, run.err
    lines = run.out.splitlines()
    assert lines[0].startswith("prod: ")
    assert "resources in 2 regions and account-wide" in lines[0]
    for region in ("us-east-1", "us-west-2"):
        assert any(line.lstrip("├└─│ ").startswith(region) for line in lines)
        assert f"network (network-{region})" in run.out
    assert "ec2.Vpc ×1  vpc" in run.out
    assert "ec2.Subnet ×4  private-0, private-1, public-0, public-1" in run.out


def test_plan_json_prod_has_30_resources_across_2_regions(cli):
    run = cli("plan", "--env", "prod", "--json")
    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert data["env"] == "prod"
    assert len(data["resources"]) >= 30
    assert sorted({r["region"] for r in data["resources"]}) == ["global", "us-east-1", "us-west-2"]
    assert data["summary"]["total"] == len(data["resources"])


def test_plan_json_piped_into_a_closed_reader_is_quiet(tmp_path):
    import subprocess
    import sys

    proc = subprocess.run(
        f"{sys.executable} -m rayfleet plan --env prod --json | head -c 1",
        shell=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout == "{"
    assert proc.stderr == ""


def test_plan_prod_shows_ingress_failover_and_replication(cli):
    run = cli("plan", "--env", "prod")
    assert run.code == 0, run.err
    for region in ("us-east-1", "us-west-2"):
        assert f"ingress (ingress-{region})" in run.out
    assert run.out.count("lb.Listener ×2  http [HTTP:80 redirect], https [HTTPS:443 forward]") == 2
    assert run.out.count("lb.TargetGroup ×1  serve [HTTP:8000, checks /-/healthz]") == 2
    assert "global (account-wide)" in run.out
    assert (
        "route53.HealthCheck ×2  us-east-1-health [HTTPS /-/region-health every 10 s, fails after 3], "
        "us-west-2-health [HTTPS /-/region-health every 10 s, fails after 3]" in run.out
    )
    assert (
        "route53.Record ×2  us-east-1-record [PRIMARY, with health check], "
        "us-west-2-record [SECONDARY, with health check]" in run.out
    )
    assert "replication (replication-us-east-1)" in run.out
    assert "s3.BucketReplicationConfig ×1  config [to-us-west-2]" in run.out
