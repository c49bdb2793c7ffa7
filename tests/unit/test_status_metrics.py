"""Prometheus text parsing, histogram quantiles, and each application's traffic from the replicas' counters."""

from __future__ import annotations

import math

import pytest

from serve_apps.prometheus import histogram_quantile, parse_prometheus
from serve_apps.status import parse_status
from serve_apps.traffic import Counters, app_traffic, ingress_counters, ingress_deployments
from tests.fakes.serve_metrics import PAGE, serve_details

INF = float("inf")


def test_prometheus_text_gives_each_samples_name_labels_and_value_and_skips_comments():
    samples = parse_prometheus(PAGE)
    assert len(samples) == 9
    first = samples[0]
    assert (first.name, first.value) == ("ray_serve_deployment_request_counter_total", 20.0)
    assert first.labels["application"] == "fraud" and first.labels["route"] == "/fraud" and first.labels["Version"] == "2.60.0"
    assert samples[6].labels["le"] == "+Inf"


@pytest.mark.parametrize(
    ("line", "name", "labels", "value"),
    [
        ("up 1", "up", {}, 1.0),
        ("up 1 1700000000000", "up", {}, 1.0),
        ('x{a="q\\"uote",b="back\\\\slash",c="new\\nline"} 2', "x", {"a": 'q"uote', "b": "back\\slash", "c": "new\nline"}, 2.0),
        ('x{a="brace}inside",} 3', "x", {"a": "brace}inside"}, 3.0),
        ('x{le="+Inf"} +Inf', "x", {"le": "+Inf"}, INF),
    ],
)
def test_prometheus_lines_follow_the_text_format(line, name, labels, value):
    (sample,) = parse_prometheus(line)
    assert (sample.name, sample.labels, sample.value) == (name, labels, value)


def test_prometheus_nan_values_and_lines_that_are_not_samples():
    samples = parse_prometheus('x NaN\n{a="b"} 1\nx{a=b} 1\nx{a="b" 1\nx notanumber\nx\n')
    assert [s.name for s in samples] == ["x"] and math.isnan(samples[0].value)


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        (0.5, [(10.0, 2.0), (100.0, 4.0), (INF, 4.0)], 10.0),
        (0.75, [(10.0, 2.0), (100.0, 4.0), (INF, 4.0)], 55.0),  # halfway through the second bucket
        (0.99, [(10.0, 1.0), (INF, 100.0)], 10.0),  # the +Inf bucket: the highest finite bound
        (0.5, [(10.0, 0.0), (INF, 0.0)], None),  # nothing counted
        (0.5, [], None),
        (0.5, [(INF, 3.0), (10.0, 3.0)], 5.0),  # order of the pairs does not matter
    ],
)
def test_histogram_quantile_interpolates_within_the_bucket_like_prometheus(q, buckets, expected):
    found = histogram_quantile(q, buckets)
    assert found is None if expected is None else found == pytest.approx(expected)


def test_an_apps_counters_are_its_ingress_deployments_summed_over_replicas():
    page = PAGE + PAGE.replace('replica="r1"', 'replica="r2"')
    counters = ingress_counters(parse_prometheus(page), "fraud", "FraudScorer")
    assert (counters.succeeded, counters.errors, counters.requests) == (40.0, 2.0, 42.0)
    assert counters.latency_buckets == ((1.0, 0.0), (5.0, 30.0), (10.0, 42.0), (INF, 42.0))
    assert ingress_counters(parse_prometheus(page), "fraud", "SomeoneElse") == Counters()


def test_a_request_that_raised_counts_as_a_request_and_an_error():
    # Ray 2.60 counts a raising request in the error counter only (replica.py, record_request_metrics).
    (fraud,) = app_traffic(parse_status(serve_details(("fraud", ["FraudScorer"], None))), {"fraud": "FraudScorer"}, parse_prometheus(PAGE))
    total = fraud.since_start
    assert (total.requests, total.errors, total.error_rate) == (21, 1, pytest.approx(1 / 21))
    assert total.p50_ms == pytest.approx(1.0 + 4.0 * 10.5 / 15.0)
    assert total.p99_ms == pytest.approx(5.0 + 5.0 * (0.99 * 21 - 15) / 6)
    assert (fraud.window, fraud.requests_per_second) == (None, None)


def test_the_window_counts_what_happened_between_two_scrapes_as_requests_per_second():
    before = parse_prometheus(PAGE)
    after = parse_prometheus(PAGE.replace("} 20.0", "} 70.0").replace('le="+Inf",replica="r1",route="/fraud"} 21.0',
                                                                     'le="+Inf",replica="r1",route="/fraud"} 71.0'))
    apps = parse_status(serve_details(("fraud", ["FraudScorer"], None)))
    (fraud,) = app_traffic(apps, {"fraud": "FraudScorer"}, after, before, window_s=10.0)
    assert (fraud.window.requests, fraud.window.errors, fraud.requests_per_second) == (50, 0, 5.0)
    assert fraud.window.p50_ms == 10.0  # all 50 in the +Inf bucket: its lower bound, as Prometheus says
    assert fraud.to_json()["window"]["requests"] == 50


def test_a_counter_that_went_down_means_a_restarted_replica_and_counts_from_zero():
    restarted = Counters(3.0, 0.0, ((INF, 3.0),))
    assert restarted.since(Counters(20.0, 1.0, ((INF, 21.0),))) == restarted


def test_the_ingress_deployment_comes_from_serves_topology_or_is_the_only_deployment():
    details = serve_details(("composed", ["Router", "Model"], "Router"), ("single", ["Only"], None), ("old", ["A", "B"], None))
    assert ingress_deployments(details) == {"composed": "Router", "single": "Only", "old": None}
