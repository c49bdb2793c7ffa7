"""The failover drill against a moto_server on loopback.

moto keeps health checks and records (the drill's update and record calls go
to it for real) but always reports checks healthy and has no TestDNSAnswer; a
simulated Route 53, reading the inversion from moto, answers what Route 53
would: the primary until its inverted check has failed long enough, then the secondary.
"""

from __future__ import annotations

import copy
import os
import signal

import boto3
import pytest
from botocore.stub import Stubber

from components.drills import failover as drill
from components.drills.failover import HealthObservation
from components.drills.failover_targets import DrillError, RegionTarget
from stacks.drill_target import drill_target
from stacks.outputs import parse_stack_outputs
from tests.fakes.route53_stack import PRIMARY, SECONDARY


class SimulatedRoute53:
    """Answers like Route 53 would, from moto's state: the primary fails `fail_after_polls` polls after inversion."""

    def __init__(self, client, fail_after_polls: int = 3, interrupt_on_poll: int | None = None, signal_on_poll=None):
        self.client = client
        self.fail_after_polls = fail_after_polls
        self.interrupt_on_poll = interrupt_on_poll
        self.signal_on_poll = signal_on_poll
        self.inverted_polls = 0
        self.polls = 0
        self.seen_inverted = []

    def _inverted(self, health_check_id: str) -> bool:
        return self.client.get_health_check(HealthCheckId=health_check_id)["HealthCheck"]["HealthCheckConfig"][
            "Inverted"
        ]

    def health(self, health_check_id: str) -> HealthObservation:
        self.polls += 1
        if self.interrupt_on_poll == self.polls:
            raise KeyboardInterrupt
        if self.signal_on_poll == self.polls:
            os.kill(os.getpid(), signal.SIGTERM)
        inverted = self._inverted(health_check_id)
        self.seen_inverted.append(inverted)
        self.inverted_polls += inverted
        down = inverted and self.inverted_polls >= self.fail_after_polls
        return HealthObservation(failing=15 if down else 0, total=15)

    def dns_answer(self, hosted_zone_id: str, domain: str) -> list[str]:
        sets = self.client.list_resource_record_sets(HostedZoneId=hosted_zone_id)["ResourceRecordSets"]
        by_role = {r["Failover"]: r for r in sets if r.get("Failover")}
        primary = by_role["PRIMARY"]
        healthy = not (self._inverted(primary["HealthCheckId"]) and self.inverted_polls >= self.fail_after_polls)
        return [(primary if healthy else by_role["SECONDARY"])["AliasTarget"]["DNSName"]]


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def _no_dns(_name: str) -> set[str]:
    return set()


def _inverted(client, outputs) -> bool:
    check_id = outputs["failover"]["records"][0]["healthCheckId"]
    return client.get_health_check(HealthCheckId=check_id)["HealthCheck"]["HealthCheckConfig"]["Inverted"]


def _target(outputs: dict):
    """The drill's target from outputs as `pulumi stack output --json` prints them."""
    return drill_target(parse_stack_outputs(outputs, "prod", "outputs.json"), "prod")


def _run(client, outputs, probe, *, timeout=120.0, poll=10.0):
    clock = FakeClock()
    target = _target(outputs)
    return drill.run_failover_drill(
        target, client, probe=probe, resolve=_no_dns, timeout=timeout, poll=poll, clock=clock, sleep=clock.sleep
    )


def test_drill_inverts_the_primary_times_the_move_and_restores(deployed):
    client, outputs = deployed
    probe = SimulatedRoute53(client, fail_after_polls=4)
    result = _run(client, outputs, probe)
    assert probe.seen_inverted == [True] * 4  # the drill inverted the check in Route 53 before polling
    assert (result.failover_region, result.failover_seconds, result.unhealthy_seconds) == (SECONDARY, 30.0, 30.0)
    assert [p.answer_region for p in result.polls] == [PRIMARY, PRIMARY, PRIMARY, SECONDARY]
    assert result.restored and not _inverted(client, outputs)


def test_drill_times_out_reports_it_and_restores(deployed):
    client, outputs = deployed
    result = _run(client, outputs, SimulatedRoute53(client, fail_after_polls=10_000), timeout=35, poll=10)
    assert result.timed_out and result.failover_region is None
    assert [p.seconds for p in result.polls] == [0.0, 10.0, 20.0, 30.0]
    assert result.restored and not _inverted(client, outputs)


def test_ctrl_c_during_the_drill_restores_the_health_check(deployed):
    client, outputs = deployed
    probe = SimulatedRoute53(client, fail_after_polls=10, interrupt_on_poll=2)
    with pytest.raises(KeyboardInterrupt):
        _run(client, outputs, probe)
    assert probe.seen_inverted == [True]
    assert not _inverted(client, outputs)


def test_sigterm_during_the_drill_restores_the_health_check_and_the_handler(deployed):
    client, outputs = deployed
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(drill.DrillInterrupted):
        _run(client, outputs, SimulatedRoute53(client, fail_after_polls=10, signal_on_poll=2))
    assert not _inverted(client, outputs)
    assert signal.getsignal(signal.SIGTERM) is before


def test_api_failure_while_polling_stops_the_drill_and_restores(deployed):
    client, outputs = deployed
    target = _target(outputs)
    # The real probe: moto answers GetHealthCheckStatus but has no TestDNSAnswer (404).
    with pytest.raises(DrillError) as caught:
        drill.run_failover_drill(target, client, resolve=_no_dns, timeout=5, poll=1)
    assert str(caught.value).startswith(
        "polling Route 53 failed (ClientError: An error occurred (404) when calling the TestDNSAnswer operation"
    )
    assert not _inverted(client, outputs)


def test_drill_refuses_to_start_on_an_inverted_check(deployed):
    client, outputs = deployed
    check_id = outputs["failover"]["records"][0]["healthCheckId"]
    client.update_health_check(HealthCheckId=check_id, Inverted=True)
    probe = SimulatedRoute53(client)
    with pytest.raises(DrillError) as caught:
        _run(client, outputs, probe)
    assert str(caught.value) == (
        f"health check {check_id} of us-east-1 is already inverted: another drill may be running, or one was cut "
        "off before it could restore it. Fix: wait for the other drill, or restore it with "
        f"'aws route53 update-health-check --health-check-id {check_id} --no-inverted'"
    )
    assert probe.polls == 0 and _inverted(client, outputs)  # someone else's inversion is left alone


def test_drill_refuses_records_that_do_not_use_the_primary_check(deployed):
    client, outputs = deployed
    stale = copy.deepcopy(outputs)
    stale["failover"]["records"][0]["healthCheckId"] = client.create_health_check(
        CallerReference=f"stale-{os.urandom(4).hex()}",
        HealthCheckConfig={"Type": "HTTPS", "FullyQualifiedDomainName": "old.example.com", "Port": 443},
    )["HealthCheck"]["Id"]
    with pytest.raises(DrillError, match=r"^no A record of api.example.com in hosted zone .* uses health check"):
        _run(client, stale, SimulatedRoute53(client))
    assert not _inverted(client, stale)


def test_route53_probe_counts_failing_checkers_and_reads_the_answer():
    client = boto3.client("route53", region_name=PRIMARY, aws_access_key_id="x", aws_secret_access_key="x")
    observations = [
        {"Region": "us-east-1", "IPAddress": "1.1.1.1", "StatusReport": {"Status": "Failure: HTTP Status Code 503."}},
        {"Region": "eu-west-1", "IPAddress": "2.2.2.2", "StatusReport": {"Status": "Success: HTTP Status Code 200."}},
        {"Region": "sa-east-1", "IPAddress": "3.3.3.3", "StatusReport": {"Status": "Failure: Connection timed out."}},
    ]
    with Stubber(client) as stub:
        stub.add_response("get_health_check_status", {"HealthCheckObservations": observations}, {"HealthCheckId": "hc"})
        stub.add_response(
            "test_dns_answer",
            {
                "Nameserver": "ns-1.awsdns-01.net",
                "RecordName": "api.example.com",
                "RecordType": "A",
                "RecordData": ["52.1.2.3", "52.1.2.4"],
                "ResponseCode": "NOERROR",
                "Protocol": "UDP",
            },
            {"HostedZoneId": "Z1", "RecordName": "api.example.com", "RecordType": "A"},
        )
        probe = drill.Route53Probe(client)
        health = probe.health("hc")
        assert (health.failing, health.total, health.healthy) == (2, 3, True)  # 1 of 3 healthy: above 18%
        assert probe.dns_answer("Z1", "api.example.com") == ["52.1.2.3", "52.1.2.4"]


def test_health_is_lost_below_eighteen_percent_of_checkers():
    assert HealthObservation(failing=13, total=15).healthy is False  # 2/15 = 13%
    assert HealthObservation(failing=12, total=15).healthy is True  # 3/15 = 20%


def test_alias_answer_is_matched_to_a_region_by_its_addresses():
    regions = [RegionTarget(PRIMARY, "PRIMARY", "a", "alb-1.elb"), RegionTarget(SECONDARY, "SECONDARY", "b", "alb-2.elb")]
    addresses = {"alb-1.elb": {"52.0.0.1"}, "alb-2.elb": {"34.0.0.7", "34.0.0.8"}}
    assert drill.answer_region(["34.0.0.8"], regions, addresses.get) == SECONDARY
    assert drill.answer_region(["ALB-1.elb."], regions, addresses.get) == PRIMARY
    assert drill.answer_region(["10.9.9.9"], regions, addresses.get) is None
    assert drill.answer_region([], regions, addresses.get) is None
