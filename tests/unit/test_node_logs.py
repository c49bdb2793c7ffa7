"""Reading node logs back: durations, streams named by instance and file, and which application a line is."""

from __future__ import annotations

import json

import pytest

from components.errors import RayfleetError
from components.ray_cluster.cloudwatch_agent import agent_config
from serve_apps.node_logs import LATE_WINDOW_MS, LogLine, parse_since, select_app
from tests.fakes.node_boots import CPU_WORKER, HEAD

APPS = ["digits", "digits_v2", "sentiment"]


@pytest.mark.parametrize("text, seconds", [("30s", 30), ("15m", 900), ("1h", 3600), ("7d", 604800)])
def test_since_takes_a_number_and_a_unit(text, seconds):
    assert parse_since(text) == seconds


@pytest.mark.parametrize("text", ["1", "h", "1.5h", "0m", "-1h", "1w", "1 hour"])
def test_since_rejects_what_is_not_a_duration(text):
    with pytest.raises(RayfleetError) as err:
        parse_since(text)
    assert str(err.value) == (f"--since {text!r} is not a duration: a positive whole number and a unit s, m, h or d. "
                              "Fix: write it like --since 15m or --since 1h")


def test_a_stream_names_its_instance_and_file():
    line = LogLine(0, "i-0abc123def4567890/ray/raylet.out", "started")
    assert (line.instance_id, line.file) == ("i-0abc123def4567890", "ray/raylet.out")


def test_a_stream_named_with_the_path_flattened_keeps_its_instance_and_application():
    # The CloudWatch agent with publish_multi_logs: the instance id, then the path with `/` as `_`.
    line = LogLine(0, "i-0abc123def4567890_tmp_ray_session_latest_logs_serve_replica_digits_v2_Digits_x1.log", "ok")
    assert line.instance_id == "i-0abc123def4567890"
    assert line.application(APPS) == "digits_v2"


def test_a_json_record_belongs_to_the_application_it_names():
    record = json.dumps({"levelname": "INFO", "application": "sentiment", "message": "POST /sentiment 200"})
    assert LogLine(0, "i-0abc/serve/proxy_10.0.0.1.log", record).application(APPS) == "sentiment"


def test_a_replica_file_belongs_to_its_application_and_not_to_a_shorter_name():
    # Serve names replica logs replica_<app>_<deployment>_<id>.log: `digits` must not claim `digits_v2`'s.
    assert LogLine(0, "i-0abc/serve/replica_digits_v2_Digits_x1y2.log", "ok").application(APPS) == "digits_v2"
    assert LogLine(0, "i-0abc/serve/replica_digits_Digits_a9b8.log", "ok").application(APPS) == "digits"


def test_lines_of_no_application_are_left_out_of_an_app_filter():
    lines = [
        LogLine(1, "i-0abc/serve/replica_digits_Digits_a9b8.log", "predict"),
        LogLine(2, "i-0abc/ray/gcs_server.out", "GCS up"),
        LogLine(3, "i-0abc/serve/replica_sentiment_Sentiment_c7.log", "score"),
    ]
    assert [line.timestamp_ms for line in select_app(lines, "digits", APPS)] == [1]
    assert select_app(lines, None, APPS) == lines


@pytest.mark.parametrize("boot", [HEAD, CPU_WORKER])
def test_following_looks_back_further_than_a_node_holds_its_lines(boot):
    # A node's agent sends its lines every force_flush_interval seconds; CloudWatch documents no bound on
    # ingestion after that, so keep a margin of 10 s or more.
    assert LATE_WINDOW_MS / 1000 >= agent_config(boot.shipping)["logs"]["force_flush_interval"] + 10
