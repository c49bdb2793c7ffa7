"""Pure decisions of the serving path: listeners, drain timing, record routing, replication rules."""

from __future__ import annotations

import pytest

from components.artifact_replication.permissions import replication_policy
from components.artifact_replication.plan import replication_rules
from components.global_failover.plan import records
from components.serve_ingress.plan import (
    ALB_IDLE_TIMEOUT_SECONDS,
    SERVE_KEEP_ALIVE_SECONDS,
    SERVE_PROXY_MIN_DRAIN_SECONDS,
    attachment_key,
    deregistration_delay_seconds,
    listeners,
    public_ports,
)


@pytest.mark.parametrize("tls", ["issued", "configured"])
def test_certificate_gives_https_and_a_redirect_from_http(tls):
    assert [(l.port, l.protocol, l.action) for l in listeners(tls)] == [
        (443, "HTTPS", "forward"),
        (80, "HTTP", "redirect"),
    ]
    assert public_ports(tls) == [80, 443]


def test_no_certificate_serves_http_only():
    assert [(l.port, l.protocol, l.action) for l in listeners("none")] == [(80, "HTTP", "forward")]
    assert public_ports("none") == [80]


def test_deregistration_outlasts_proxy_drain_plus_detection():
    assert deregistration_delay_seconds() == 60
    assert deregistration_delay_seconds() > SERVE_PROXY_MIN_DRAIN_SECONDS


def test_serve_proxy_drain_matches_the_installed_ray():
    from ray.serve._private.constants import PROXY_MIN_DRAINING_PERIOD_S

    assert PROXY_MIN_DRAINING_PERIOD_S == SERVE_PROXY_MIN_DRAIN_SECONDS


def test_load_balancer_closes_idle_connections_before_serve_does():
    from ray.serve._private.constants import DEFAULT_UVICORN_KEEP_ALIVE_TIMEOUT_S

    assert DEFAULT_UVICORN_KEEP_ALIVE_TIMEOUT_S == SERVE_KEEP_ALIVE_SECONDS
    assert ALB_IDLE_TIMEOUT_SECONDS < SERVE_KEEP_ALIVE_SECONDS


def test_attachment_keys_are_name_safe():
    assert attachment_key("cpu/onDemand") == "cpu-ondemand"
    assert attachment_key("head") == "head"


def test_active_active_has_one_latency_record_per_region():
    planned = records("active-active", ["us-east-1", "us-west-2", "eu-west-1"])
    assert [(r.region, r.policy, r.role) for r in planned] == [
        ("us-east-1", "latency", "us-east-1"),
        ("us-west-2", "latency", "us-west-2"),
        ("eu-west-1", "latency", "eu-west-1"),
    ]
    assert len({r.set_identifier for r in planned}) == 3


def test_failover_needs_two_regions():
    with pytest.raises(ValueError, match="at least two regions"):
        records("active-active", ["us-east-1"])


def test_replication_rules_have_distinct_priorities():
    rules = replication_rules(["us-west-2", "eu-west-1"])
    assert [(r.id, r.priority, r.destination_region) for r in rules] == [
        ("to-us-west-2", 1, "us-west-2"),
        ("to-eu-west-1", 2, "eu-west-1"),
    ]


def test_replication_policy_writes_to_every_destination_and_nothing_else():
    policy = replication_policy("arn:aws:s3:::src", ["arn:aws:s3:::a", "arn:aws:s3:::b"])
    resources = [resource for statement in policy["Statement"] for resource in statement["Resource"]]
    assert resources == ["arn:aws:s3:::src", "arn:aws:s3:::src/*", "arn:aws:s3:::a/*", "arn:aws:s3:::b/*"]
    with pytest.raises(ValueError):
        replication_policy("arn:aws:s3:::src", [])
