"""`status --local`'s reading of the local cluster: endpoints from the session directory, rates over the
window, an endpoint that does not answer named rather than fatal, and the table people read."""

from __future__ import annotations

import io
import json
from urllib.parse import urlparse

import pytest
from rich.console import Console

from components.errors import RayfleetError
from rayfleet.output import THEME
from rayfleet.views.status import local_table
from serve_apps.local import LocalState
from serve_apps.local_status import DISCOVERY_FILE, LocalTraffic, metrics_targets
from tests.fakes.dashboard import fake_dashboard, metrics_endpoint
from tests.fakes.ports import free_port
from tests.fakes.serve_metrics import PAGE, serve_details

TOKEN = "local-t0ken"
#: 50 more successful requests than PAGE, all slower than 10 ms.
LATER = PAGE.replace("} 20.0", "} 70.0").replace('le="+Inf",replica="r1",route="/fraud"} 21.0', 'le="+Inf",replica="r1",route="/fraud"} 71.0')


def render(renderable) -> str:
    console = Console(file=io.StringIO(), width=100, theme=THEME, color_system=None, highlight=False)
    console.print(renderable)
    return console.file.getvalue()


def _session(tmp_path, targets: list[str]) -> str:
    """A Ray temp dir whose session lists `targets` for Prometheus, as the dashboard writes it."""
    session = tmp_path / "ray" / "session_2026-11-30_10-00-00_000000_1"
    session.mkdir(parents=True)
    (tmp_path / "ray" / "session_latest").symlink_to(session)
    (session / DISCOVERY_FILE).write_text(json.dumps([{"labels": {"job": "ray"}, "targets": targets}]))
    return str(tmp_path / "ray")


@pytest.fixture
def cluster(tmp_path):
    """A LocalState whose dashboard answers `fraud` and whose one node's metrics go from PAGE to LATER."""
    token = tmp_path / "auth_token"
    token.write_text(TOKEN)
    details = serve_details(("fraud", ["FraudScorer"], "FraudScorer"))
    with fake_dashboard(details, [], TOKEN) as url, metrics_endpoint([PAGE, LATER]) as node:
        closed = f"127.0.0.1:{free_port()}"
        state = LocalState(6379, urlparse(url).port, 8000, _session(tmp_path, [node, closed]), 0, str(token))
        yield state, closed


def test_the_metrics_endpoints_are_the_ones_ray_lists_in_the_session_directory(tmp_path):
    assert metrics_targets(_session(tmp_path, ["127.0.0.1:9", "127.0.0.1:8", "127.0.0.1:9"])) == ["127.0.0.1:8", "127.0.0.1:9"]


def test_without_the_session_list_the_error_says_to_wait_for_the_dashboard(tmp_path):
    with pytest.raises(RayfleetError) as err:
        metrics_targets(str(tmp_path))
    assert str(err.value).startswith(f"cannot read Ray's list of metrics endpoints {tmp_path}/session_latest/{DISCOVERY_FILE} (")
    assert str(err.value).endswith("Fix: wait a few seconds after 'rayfleet local up' (the dashboard writes it), then retry")


def test_the_second_read_gives_the_rate_over_the_window_and_a_dead_endpoint_is_named(cluster):
    state, closed = cluster
    times = iter([100.0, 112.5])
    traffic = LocalTraffic(state, window_s=10.0, clock=lambda: next(times))
    first = traffic.read()
    (fraud,) = first.apps
    assert (fraud.since_start.requests, fraud.requests_per_second) == (21, None)
    assert [u.split(": ")[0] for u in first.unreachable] == [closed]
    (fraud,) = traffic.read().apps
    assert (fraud.since_start.requests, fraud.window.requests, fraud.window_s, fraud.requests_per_second) == (71, 50, 12.5, 4.0)


def test_the_rate_covers_the_newest_read_at_least_a_window_old():
    traffic = LocalTraffic(None, window_s=10.0)
    traffic.history.extend([(0.0, []), (5.0, []), (11.0, []), (18.0, [])])
    assert traffic._base(22.0)[0] == 11.0  # 22 - 11 >= 10; 22 - 18 is not a window yet
    assert [t for t, _ in traffic.history] == [11.0, 18.0]


def test_the_local_table_shows_replicas_rate_requests_errors_and_latency(cluster):
    state, closed = cluster
    times = iter([0.0, 10.0])
    traffic = LocalTraffic(state, window_s=10.0, clock=lambda: next(times))
    traffic.read()
    text = render(local_table(traffic.read()))
    lines = [line.rstrip() for line in text.splitlines()]
    assert lines[0] == f"local ({state.dashboard_url})"
    assert lines[3].split() == ["fraud", "│", "RUNNING", "│", "1/1", "│", "5.0", "│", "71", "│", "1", "(1.4%)", "│", "10.0", "│", "10.0"]  # 50 of 71 above 10 ms
    assert lines[4] == "req/s over the last 10 s; requests, errors and latency since the ingress replicas started"
    assert lines[5].startswith(f"metrics endpoint unreachable: {closed}: ")
