"""The drill's report, rendered as a terminal shows it."""

from __future__ import annotations

import io

from rich.console import Console

from components.drills.failover import DrillResult, HealthObservation, Poll
from rayfleet.views.failover_drill import drill_result_view


def _render(renderable) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


def _polls(count: int) -> list[Poll]:
    return [Poll(i * 5.0, HealthObservation(0, 15), ["52.0.0.1"], "us-east-1") for i in range(count)]


def test_report_shows_the_seconds_to_failover_and_the_restore():
    result = DrillResult("prod", "api.example.com", "us-east-1", "us-west-2", 65.2, 35.0, 300, True, _polls(14))
    assert _render(drill_result_view(result)) == (
        "✓ api.example.com moved from us-east-1 to us-west-2 in 65.2 s\n"
        "  health checkers reported us-east-1 down after 35.0 s\n"
        "  14 polls\n"
        "  health check restored (no longer inverted)\n"
    )


def test_report_of_a_timeout_says_route53_never_moved():
    result = DrillResult("prod", "api.example.com", "us-east-1", None, None, None, 60, True, _polls(13))
    assert _render(drill_result_view(result)) == (
        "✗ Route 53 still answered us-east-1 for api.example.com after 60 s\n"
        "  health checkers never reported us-east-1 down while polling\n"
        "  13 polls\n"
        "  health check restored (no longer inverted)\n"
    )
