"""What the `scale` and `spot` scenarios measure and decide: step timelines, EC2's spot notice, the load's size."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from components.drills.emulate.timeline import (
    SPOT_NOTICE_S,
    Scalable,
    Timeline,
    Traffic,
    app_to_load,
    busiest_node,
    load_concurrency,
    notice_time,
    spot_notice,
)
from components.node_agents.spot_watcher import SPOT_INTERRUPTION, parse_instance_action

STEPS = ("target rises", "desired rises", "node joins")


def test_a_step_is_timed_from_the_cause_the_first_time_it_is_seen():
    steps = Timeline(STEPS, started=100.0)
    assert steps.mark("target rises", 131.25) is True
    assert steps.mark("target rises", 140.0) is False
    assert steps.to_json() == {"target rises": 31.25, "desired rises": None, "node joins": None}
    assert steps.missing() == ["desired rises", "node joins"]


def test_steps_not_reached_are_rendered_as_such_in_their_order():
    steps = Timeline(STEPS, started=0.0)
    steps.mark("node joins", 90.04)
    assert steps.rows() == [("target rises", "not reached"), ("desired rises", "not reached"), ("node joins", "90.0")]


def test_a_step_seen_before_its_cause_is_out_of_order():
    steps = Timeline(STEPS, started=0.0)
    steps.mark("target rises", 30.0)
    steps.mark("node joins", 20.0)
    assert steps.out_of_order() == [("target rises", "node joins")]


def test_steps_in_causal_order_are_in_order():
    steps = Timeline(STEPS, started=0.0)
    for offset, step in enumerate(STEPS):
        steps.mark(step, 10.0 + offset)
    assert steps.out_of_order() == [] and steps.missing() == []


def test_an_unknown_step_is_refused_naming_the_known_ones():
    with pytest.raises(ValueError, match="'drained' is not a step of this timeline \\(target rises, desired rises"):
        Timeline(STEPS, started=0.0).mark("drained", 1.0)


def test_the_spot_notice_is_ec2s_instance_action_document():
    at = dt.datetime(2026, 11, 30, 17, 2, 0, tzinfo=dt.timezone.utc)
    assert json.loads(spot_notice(at)) == {"action": "terminate", "time": "2026-11-30T17:02:00Z"}


def test_the_spot_notice_is_in_utc_whatever_the_clock_zone():
    at = dt.datetime(2026, 11, 30, 18, 2, 0, tzinfo=dt.timezone(dt.timedelta(hours=1)))
    assert json.loads(spot_notice(at))["time"] == "2026-11-30T17:02:00Z"


def test_the_spot_watcher_reads_the_notice_with_its_two_minute_deadline():
    now = dt.datetime(2026, 11, 30, 17, 0, 0, 250_000, tzinfo=dt.timezone.utc)
    notice = parse_instance_action(spot_notice(notice_time(now)), now)
    assert notice is not None and notice.kind == SPOT_INTERRUPTION
    assert SPOT_NOTICE_S <= notice.deadline_seconds < SPOT_NOTICE_S + 1


def test_the_notice_time_never_falls_before_two_minutes_from_now():
    now = dt.datetime(2026, 11, 30, 17, 0, 0, 1, tzinfo=dt.timezone.utc)
    assert notice_time(now) == dt.datetime(2026, 11, 30, 17, 2, 1, tzinfo=dt.timezone.utc)
    assert notice_time(now.replace(microsecond=0)) == dt.datetime(2026, 11, 30, 17, 2, 0, tzinfo=dt.timezone.utc)


def test_traffic_counts_every_request_and_keeps_the_first_failures():
    traffic = Traffic()
    for n in range(8):
        traffic.record(n % 2 == 0, f"failure {n}", "digits" if n < 4 else "sentiment")
    assert traffic.to_json() == {"requestsSent": 8, "requestsFailed": 4, "failedByApp": {"digits": 2, "sentiment": 2},
                                 "failures": ["failure 1", "failure 3", "failure 5", "failure 7"]}
    for n in range(3):
        traffic.record(False, f"late {n}")
    assert len(traffic.failures) == Traffic.KEEP and traffic.failed == 7


@pytest.mark.parametrize(("target", "most", "clients"), [(2, 2, 5), (4, 2, 9), (0.5, 3, 3)])
def test_the_load_keeps_more_requests_in_flight_than_the_most_replicas_hold(target, most, clients):
    assert load_concurrency(target, most) == clients
    # Serve asks for ceil(ongoing / target) replicas: the clients' requests ask for more than the most.
    assert clients / target > most


def test_the_app_loaded_is_the_one_that_grows_soonest():
    apps = [Scalable("digits", 1, 2, 4, True), Scalable("sentiment", 1, 2, 2, True),
            Scalable("fixed", 2, 2, 1, True), Scalable("silent", 1, 3, 1, False)]
    assert app_to_load(apps).name == "sentiment"


def test_no_app_is_loaded_when_none_can_grow():
    assert app_to_load([Scalable("fixed", 2, 2, 1, True)]) is None


def test_the_node_interrupted_holds_the_most_replicas_the_oldest_of_equals_and_at_least_one():
    assert busiest_node({"10.0.0.5": 1, "10.0.0.6": 3}, ["10.0.0.5", "10.0.0.6"]) == "10.0.0.6"
    assert busiest_node({"10.0.0.5": 2, "10.0.0.6": 2}, ["10.0.0.5", "10.0.0.6"]) == "10.0.0.5"
    assert busiest_node({}, ["10.0.0.7"]) is None
    assert busiest_node({"10.0.0.5": 0, "10.0.0.6": 1}, ["10.0.0.5", "10.0.0.6"]) == "10.0.0.6"
    assert busiest_node({"10.0.0.5": 2}, []) is None
