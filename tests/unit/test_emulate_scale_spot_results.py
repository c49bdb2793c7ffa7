"""What the `scale` and `spot` scenarios report: their figures, and the targets they missed, one sentence each."""

from __future__ import annotations

from components.drills.emulate.timeline import Timeline, Traffic, app_to_load
from serve_apps import emulate_scale, emulate_spot, emulated_region
from serve_apps.emulate_scale import ScaleResult, scalable_apps
from serve_apps.emulate_spot import SpotResult
from serve_apps.cloud import CloudRegion
from serve_apps.targets import render_cloud
from stacks.loader import load_environment


def _timeline(steps: tuple[str, ...], seconds: list[float]) -> Timeline:
    timeline = Timeline(steps, started=0.0)
    for step, at in zip(steps, seconds):
        timeline.mark(step, at)
    return timeline


def test_scale_and_spot_run_after_boot():
    assert emulated_region.AFTER_BOOT["scale"] is emulate_scale.run
    assert emulated_region.AFTER_BOOT["spot"] is emulate_spot.run
    assert emulated_region.check_scenario("scale,spot") == ("scale", "spot")


def test_a_scale_that_reached_every_step_in_order_misses_nothing():
    result = ScaleResult("sentiment", 5, _timeline(emulate_scale.STEPS, [31.0, 38.2, 38.9, 95.4, 110.0]),
                         replicas=(1, 2), desired=(1, 2), instance_id="i-0abc")
    assert result.missed() == []
    assert result.to_json()["seconds"]["replicas RUNNING"] == 110.0
    assert ("sentiment target replicas", "1 → 2") in result.rows()


def test_a_scale_that_stopped_short_names_each_step_not_reached():
    result = ScaleResult("sentiment", 5, _timeline(emulate_scale.STEPS, [31.0]))
    assert result.missed() == [
        "'worker group's desired capacity rises' not reached within 360 s of the load's start",
        "'instance in moto' not reached within 360 s of the load's start",
        "'its node's Ray ALIVE on the head' not reached within 360 s of the load's start",
        "'replicas RUNNING' not reached within 360 s of the load's start",
    ]


def test_replicas_placed_before_the_new_node_joined_did_not_need_it():
    result = ScaleResult("sentiment", 5, _timeline(emulate_scale.STEPS, [31.0, 38.0, 39.0, 95.0, 40.0]))
    assert result.missed() == ["'replicas RUNNING' came before 'its node's Ray ALIVE on the head', which causes it: "
                               "the new replicas did not need the new node"]


def _spot(traffic: Traffic, seconds: list[float]) -> SpotResult:
    return SpotResult("i-0abc", "10.30.1.5", 3, '{"action": "terminate", "time": "2026-11-30T17:02:00Z"}',
                      _timeline(emulate_spot.STEPS, seconds), traffic, terminated_because="drained")


def test_a_spot_interruption_with_no_failed_request_misses_nothing():
    traffic = Traffic()
    for _ in range(40):
        traffic.record(True, "")
    result = _spot(traffic, [2.1, 75.0, 75.5, 75.6, 160.2, 161.0])
    assert result.missed() == []
    assert result.to_json()["requestsFailed"] == 0 and result.to_json()["requestsSent"] == 40


def test_failed_requests_during_a_spot_interruption_miss_the_target_of_zero():
    traffic = Traffic()
    traffic.record(True, "")
    traffic.record(False, "digits: request failed: timed out")
    result = _spot(traffic, [2.1, 75.0, 75.5, 75.6, 160.2, 161.0])
    assert result.missed() == ["1 of 2 requests failed (target 0); first: digits: request failed: timed out"]


def test_a_spot_interruption_names_the_steps_it_did_not_see():
    result = _spot(Traffic(), [2.1, 75.0, 75.5])
    assert result.missed() == [
        "'replacement instance in moto' not reached within 420 s of the notice",
        "'replacement's Ray ALIVE on the head' not reached within 420 s of the notice",
        "'every replica RUNNING' not reached within 420 s of the notice",
    ]


def test_dev_loads_sentiment_the_application_with_the_lowest_target():
    cfg = load_environment("dev")
    config = render_cloud(cfg, CloudRegion("us-west-2", "http://10.30.0.4:8265", "", "artifacts")).config
    apps = scalable_apps(cfg, config)
    assert {a.name for a in apps} == {"sentiment", "digits"}
    assert app_to_load(apps).name == "sentiment"


def test_an_instance_terminated_at_the_notices_time_went_with_its_replicas():
    result = SpotResult("i-0abc", "10.30.1.5", 2, "{}", _timeline(emulate_spot.STEPS, [3.9]), Traffic(),
                        terminated_because="notice time")
    result.timeline.mark(emulate_spot.STEPS[2], 120.8)
    assert result.missed()[0] == ("'replicas RUNNING off the node' not reached before the notice's time: the instance "
                                  "went with replicas on it")
