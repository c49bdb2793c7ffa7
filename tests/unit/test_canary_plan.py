"""The canary's pure decisions: the steps it accepts, and promote / roll back / wait from both versions' numbers."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from serve_apps.canary_plan import CanaryInputError, CanaryPolicy, Stretch, judge, next_baseline, parse_steps, stretches
from serve_apps.traffic import Counters, Latency

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
    # Fewer than two stretches (see below) by the end of the window: the whole window is judged as one.
    verdict = judge(STEADY, Latency(requests=100, errors=0, p50_ms=30.0, p99_ms=80.0), POLICY, final=True)
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


# --- the p99 over stretches of a step ---------------------------------------------------------------------------

BUCKETS = (1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0, 200.0, 500.0, 1000.0, float("inf"))


def counters(requests: int, at_ms: float, slow: int = 0, slow_ms: float = 0.0) -> Counters:
    """`requests` answered in the bucket of `at_ms`, `slow` of them in the bucket of `slow_ms` (cumulative buckets)."""
    return Counters(requests, 0, tuple((le, (requests - slow) * (at_ms <= le) + slow * (slow_ms <= le)) for le in BUCKETS))


def test_a_step_is_cut_into_stretches_of_100_new_version_requests():
    reads = [(counters(450, 15), counters(50, 15)), (counters(900, 15), counters(120, 15)),
             (counters(1300, 15), counters(180, 15)), (counters(1700, 15), counters(230, 15))]
    parts = stretches(reads, POLICY)
    assert [(p.stable.requests, p.canary.requests) for p in parts] == [(900, 120), (800, 110)]


def test_a_p99_over_the_limit_in_two_stretches_in_a_row_is_rolled_back_before_the_window_ends():
    slow = [Stretch(STEADY, Latency(150, 0, 30.0, 80.0)), Stretch(STEADY, Latency(150, 0, 32.0, 90.0))]
    verdict = judge(STEADY, Latency(300, 0, 31.0, 85.0), POLICY, final=False, parts=slow)
    assert (verdict.action, verdict.reason) == (
        "rollback", "errors 0.0% vs 0.0%; p99 80 ms vs 24 ms; p99 90 ms vs 24 ms in two stretches in a row "
                    "(limit 48 ms: 2x the current, at least +10 ms, each over 100 requests or more)")


def test_one_stretch_of_noise_does_not_roll_a_good_version_back():
    noisy = [Stretch(STEADY, Latency(150, 0, 12.0, 25.0)), Stretch(STEADY, Latency(150, 0, 14.0, 90.0)),
             Stretch(STEADY, Latency(150, 0, 12.0, 26.0))]
    assert judge(STEADY, Latency(450, 0, 12.0, 60.0), POLICY, final=False, parts=noisy).action == "wait"
    assert judge(STEADY, Latency(450, 0, 12.0, 60.0), POLICY, final=True, parts=noisy).action == "promote"


def test_each_stretch_is_compared_with_the_current_version_in_the_same_stretch():
    # The machine slowed both versions alike: against the window's baseline they look slow, side by side they do not.
    busy = Latency(400, 0, 40.0, 95.0)
    parts = [Stretch(busy, Latency(150, 0, 41.0, 99.0)), Stretch(busy, Latency(150, 0, 42.0, 97.0))]
    assert judge(STEADY, Latency(300, 0, 41.0, 98.0), POLICY, final=True, parts=parts).action == "promote"


def recorded_steps(scale: float = 1.0) -> list[tuple[int, list[tuple[Counters, Counters]]]]:
    """The recorded run's steps (tests/unit/fixtures/canary_loaded_run.json); the new version's latencies moved
    `scale` times slower: each request to the bucket that holds `scale` x its bucket's midpoint."""
    doc = json.loads((Path(__file__).parent / "fixtures" / "canary_loaded_run.json").read_text())

    def read(side: dict, factor: float) -> Counters:
        cumulative = [(float(le), n) for le, n in side["buckets"]]
        per_bucket = [(le, n - (cumulative[i - 1][1] if i else 0.0)) for i, (le, n) in enumerate(cumulative)]
        moved = dict.fromkeys([le for le, _ in cumulative], 0.0)
        lows = [0.0] + [le for le, _ in cumulative[:-1]]
        for low, (le, n) in zip(lows, per_bucket):
            middle = (low + le) / 2 if le != float("inf") else low
            moved[next(b for b in moved if middle * factor <= b)] += n
        running, buckets = 0.0, []
        for le, n in moved.items():
            running += n
            buckets.append((le, running))
        return Counters(side["ok"], side["errors"], tuple(buckets))

    return [(step["percent"], [(read(r["current"], 1.0), read(r["new"], scale)) for r in step["reads"]])
            for step in doc["steps"]]


def run_recorded(scale: float) -> list[tuple[int, str]]:
    """The canary's decisions over the recorded steps, read by read, as `Canary._watch` makes them."""
    baseline, decisions = None, []
    for percent, reads in recorded_steps(scale):
        for seen in range(1, len(reads) + 1):
            stable, canary = (Latency.of(c) for c in reads[seen - 1])
            verdict = judge(next_baseline(baseline, stable, POLICY), canary, POLICY, final=seen == len(reads),
                            parts=stretches(reads[:seen], POLICY), previous=baseline)
            if verdict.action != "wait":
                break
        decisions.append((percent, verdict.action))
        if verdict.action == "rollback":
            return decisions
        baseline = next_baseline(baseline, stable, POLICY)
    return decisions


def test_a_good_version_on_a_loaded_machine_is_promoted_at_every_step():
    # Recorded: the current version's p99 swung from 197 to 459 ms within a minute; side by side the two matched.
    assert run_recorded(1.0) == [(10, "promote"), (50, "promote"), (100, "promote")]


def test_a_version_two_and_a_half_times_slower_is_still_rolled_back_on_the_same_noise():
    assert run_recorded(2.5) == [(10, "promote"), (50, "rollback")]


def test_a_whole_window_at_full_share_is_judged_against_the_earlier_steps_not_the_current_versions_first_seconds():
    # At 100 % the current version answers only the step's first seconds: 40 requests, p99 50 ms, from a
    # quieter moment than the rest of the window. The earlier steps measured it at 200 ms side by side.
    earlier = Latency(requests=600, errors=0, p50_ms=80.0, p99_ms=200.0)
    leftover = Latency(requests=40, errors=0, p50_ms=20.0, p99_ms=50.0)
    canary = Latency(requests=600, errors=0, p50_ms=70.0, p99_ms=150.0)
    verdict = judge(leftover, canary, POLICY, final=True, previous=earlier)
    assert verdict.action == "promote", verdict.reason
    slow = Latency(requests=600, errors=0, p50_ms=300.0, p99_ms=450.0)
    verdict = judge(leftover, slow, POLICY, final=True, previous=earlier)
    assert verdict.action == "rollback"
    assert "p99 450 ms vs 200 ms" in verdict.reason and "limit 400 ms" in verdict.reason
