"""The canary's pure decisions: the steps it accepts, and promote / roll back / wait from both versions' numbers."""

from __future__ import annotations

import pytest

from serve_apps.canary_plan import CanaryInputError, CanaryPolicy, judge, next_baseline, parse_steps
from serve_apps.traffic import Latency

POLICY = CanaryPolicy((10, 50, 100), watch_s=30)
STEADY = Latency(requests=900, errors=0, p50_ms=12.0, p99_ms=24.0)


def test_default_steps_are_the_share_then_everything():
    assert CanaryPolicy.from_options(10).steps == (10, 100)
    assert CanaryPolicy.from_options(100).steps == (100,)


def test_steps_are_parsed_in_order():
    assert CanaryPolicy.from_options(10, "10,50,100", 30).steps == (10, 50, 100)


@pytest.mark.parametrize("percent", [0, -5, 101])
def test_a_share_outside_1_to_100_is_refused(percent):
    with pytest.raises(CanaryInputError) as err:
        CanaryPolicy.from_options(percent)
    assert str(err.value) == (f"--canary {percent}: the new version's share of traffic must be a percent from 1 to 100. "
                              "Fix: pass e.g. --canary 10")


def test_steps_that_do_not_increase_are_refused():
    with pytest.raises(CanaryInputError) as err:
        parse_steps("10,50,50,100")
    assert str(err.value) == "--steps 10,50,50,100: steps must increase. Fix: pass e.g. --steps 10,50,100"


def test_steps_that_do_not_end_at_100_are_refused():
    with pytest.raises(CanaryInputError) as err:
        parse_steps("10,50")
    assert str(err.value) == ("--steps 10,50: the last step must be 100 (the new version takes all traffic before it "
                              "replaces the current one). Fix: pass --steps 10,50,100")


def test_steps_that_are_not_numbers_are_refused():
    with pytest.raises(CanaryInputError, match=r"^--steps 10,half,100: steps are whole percents"):
        parse_steps("10,half,100")


def test_steps_must_start_at_the_canary_share():
    with pytest.raises(CanaryInputError) as err:
        CanaryPolicy.from_options(20, "10,50,100")
    assert str(err.value) == "--steps 10,50,100: the first step must be the --canary share (20). Fix: pass --steps 20,50,100"


def test_a_watch_shorter_than_ray_metrics_interval_is_refused():
    with pytest.raises(CanaryInputError, match=r"^--watch 5: each step must be watched for at least 10 s"):
        CanaryPolicy.from_options(10, watch_s=5)


def test_a_version_that_fails_every_request_is_rolled_back_before_the_window_ends():
    verdict = judge(STEADY, Latency(requests=6, errors=6, p50_ms=None, p99_ms=None), POLICY, final=False)
    assert verdict.action == "rollback"
    assert verdict.reason.startswith("errors 100.0% vs 0.0% over 6 requests")


def test_a_few_errors_wait_for_more_evidence_before_the_window_ends():
    assert judge(STEADY, Latency(requests=40, errors=2, p50_ms=12.0, p99_ms=20.0), POLICY, final=False).action == "wait"


def test_errors_above_the_current_rate_roll_back_at_the_end_of_the_window():
    verdict = judge(STEADY, Latency(requests=40, errors=2, p50_ms=12.0, p99_ms=20.0), POLICY, final=True)
    assert verdict.action == "rollback"


def test_errors_at_the_current_versions_rate_are_promoted():
    stable = Latency(requests=1000, errors=50, p50_ms=12.0, p99_ms=24.0)
    canary = Latency(requests=100, errors=5, p50_ms=12.0, p99_ms=24.0)
    assert judge(stable, canary, POLICY, final=True).action == "promote"


def test_a_p99_over_twice_the_current_one_is_rolled_back():
    verdict = judge(STEADY, Latency(requests=100, errors=0, p50_ms=30.0, p99_ms=80.0), POLICY, final=False)
    assert verdict.action == "rollback"
    assert verdict.reason == "errors 0.0% vs 0.0%; p99 80 ms vs 24 ms (limit 48 ms: 2x the current, at least +10 ms)"


def test_a_p99_within_one_histogram_bucket_is_not_judged_slower():
    fast = Latency(requests=900, errors=0, p50_ms=3.0, p99_ms=4.0)
    assert judge(fast, Latency(requests=100, errors=0, p50_ms=4.0, p99_ms=12.0), POLICY, final=True).action == "promote"


def test_a_good_canary_waits_for_the_whole_window():
    good = Latency(requests=100, errors=0, p50_ms=12.0, p99_ms=25.0)
    assert judge(STEADY, good, POLICY, final=False).action == "wait"
    verdict = judge(STEADY, good, POLICY, final=True)
    assert (verdict.action, verdict.reason) == ("promote", "errors 0.0% vs 0.0%; p99 25 ms vs 24 ms over 100 requests")


def test_too_little_traffic_extends_the_window_and_is_then_rolled_back_never_promoted():
    few = Latency(requests=3, errors=0, p50_ms=10.0, p99_ms=11.0)
    verdict = judge(STEADY, few, POLICY, final=True, can_extend=True)
    assert (verdict.action, verdict.reason) == ("wait", "only 3 requests reached the new version (fewer than 20): "
                                                        "watching longer; errors 0.0% vs 0.0%")
    verdict = judge(STEADY, few, POLICY, final=True, can_extend=False)
    assert (verdict.action, verdict.reason) == ("rollback", "only 3 requests reached the new version (fewer than 20) "
                                                            "in 3 windows: too little traffic to judge, so it is not "
                                                            "promoted; errors 0.0% vs 0.0%")


def test_errors_among_too_few_requests_are_rolled_back_at_the_end_of_the_window():
    verdict = judge(STEADY, Latency(requests=3, errors=3, p50_ms=None, p99_ms=None), POLICY, final=True, can_extend=True)
    assert (verdict.action, verdict.reason) == ("rollback", "errors 100.0% vs 0.0% over 3 requests")


def test_the_last_busy_window_of_the_current_version_stays_the_baseline_at_100_percent():
    idle = Latency(requests=0, errors=0, p50_ms=None, p99_ms=None)
    assert next_baseline(STEADY, idle, POLICY) is STEADY
    busy = Latency(requests=500, errors=0, p50_ms=10.0, p99_ms=20.0)
    assert next_baseline(STEADY, busy, POLICY) is busy


def test_a_p99_over_fewer_than_100_requests_is_not_judged():
    # Over 41 requests the p99 is the slowest one, and a new replica's first requests are its slowest.
    verdict = judge(Latency(900, 0, 10.0, 39.0), Latency(requests=41, errors=0, p50_ms=15.0, p99_ms=87.0), POLICY, final=True)
    assert (verdict.action, verdict.reason) == ("promote", "errors 0.0% vs 0.0%; p99 87 ms vs 39 ms over 41 requests")
