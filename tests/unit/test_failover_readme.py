"""The README's outage timeline is the one the health-check settings and the TTL give."""

from __future__ import annotations

from components.global_failover.plan import (
    HEALTH_CHECK_FAILURE_THRESHOLD,
    HEALTH_CHECK_INTERVAL_SECONDS,
    outage_timeline,
)
from components.serve_ingress.plan import deregistration_delay_seconds
from stacks.config import FailoverConfig
from tests.fakes.environments import ROOT

README = (ROOT / "README.md").read_text()


def test_readme_outage_timeline_matches_the_defaults():
    ttl = FailoverConfig.model_fields["ttl_seconds"].default
    timeline = outage_timeline(ttl)
    interval, threshold = HEALTH_CHECK_INTERVAL_SECONDS, HEALTH_CHECK_FAILURE_THRESHOLD
    assert f"| 0–{timeline.detection_seconds} s |" in README
    assert f"({interval} s × {threshold} = {timeline.detection_seconds} s)" in README
    assert f"| {timeline.detection_seconds}–{timeline.route53_switch_seconds} s |" in README
    assert f"| {timeline.route53_switch_seconds} s | Route 53 answers" in README
    assert f"| up to {timeline.worst_case_seconds} s |" in README
    assert f"errors for about {timeline.route53_switch_seconds} s and at worst for {timeline.worst_case_seconds} s" in README
    assert f"the {ttl} s TTL" in README


def test_readme_deregistration_delay_is_the_planned_one():
    assert f"for {deregistration_delay_seconds()} s, the deregistration delay" in README
