"""The README's outage timeline is the one the health-check settings and the TTL give."""

from __future__ import annotations

from components.contract import REGION_HEALTH_REFRESH_SECONDS
from components.global_failover.plan import (
    HEALTH_CHECK_FAILURE_THRESHOLD,
    HEALTH_CHECK_INTERVAL_SECONDS,
    SERVE_REPLICA_CHECK_SECONDS,
    app_outage_timeline,
    outage_timeline,
)
from components.serve_ingress.plan import deregistration_delay_seconds
from serve_apps.render import HEALTH_CHECK_PERIOD_S
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


def test_readme_application_outage_timeline_matches_the_defaults():
    ttl = FailoverConfig.model_fields["ttl_seconds"].default
    timeline = app_outage_timeline(ttl)
    text = " ".join(README.split())  # the paragraph's line breaks are the editor's
    assert f"next replica health check (every {SERVE_REPLICA_CHECK_SECONDS} s)" in text
    assert f"from a status at most {REGION_HEALTH_REFRESH_SECONDS} s old: {timeline.serve_detection_seconds} s" in text
    assert f"answers with the healthy region after {timeline.route53_switch_seconds} s" in text
    assert f"expire by {timeline.worst_case_seconds} s" in text


def test_serve_replica_check_of_the_timeline_is_the_rendered_one():
    assert HEALTH_CHECK_PERIOD_S == SERVE_REPLICA_CHECK_SECONDS


def test_readme_says_route53_checks_the_region_health_route():
    assert "`https://<region's load balancer>/-/region-health`" in README
