"""Serve status renderers, rendered at a fixed width."""

from __future__ import annotations

import io

from rich.console import Console

from rayfleet.views.serve import progress_line, status_table
from serve_apps.status import AppState, DeploymentState


def render(renderable) -> str:
    console = Console(file=io.StringIO(), width=100, color_system=None)
    console.print(renderable)
    return console.file.getvalue()


APPS = [
    AppState("digits", "/digits", "RUNNING", "", (DeploymentState("Digits", "HEALTHY", 2, 2),)),
    AppState("sentiment", "/sentiment", "DEPLOY_FAILED", "Traceback...\nValueError: bad args",
             (DeploymentState("Sentiment", "DEPLOY_FAILED", 0, 1),)),
]


def test_status_table_shows_route_status_and_replicas_per_deployment():
    text = render(status_table(APPS, title="local"))
    lines = [line.rstrip() for line in text.splitlines()]
    assert lines[0] == "local"
    assert lines[1:] == [
        "app       ┃ route      ┃ status               ┃ deployment ┃ replicas ┃ deployment status",
        "━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━━━━━╇━━━━━━━━━━━━╇━━━━━━━━━━╇━━━━━━━━━━━━━━━━━━",
        "digits    │ /digits    │ RUNNING              │ Digits     │ 2/2      │ HEALTHY",
        "sentiment │ /sentiment │ DEPLOY_FAILED        │ Sentiment  │ 0/1      │ DEPLOY_FAILED",
        "          │            │ ValueError: bad args │            │          │",
    ]


def test_empty_cluster_says_so():
    assert "(no applications)" in render(status_table([]))


def test_progress_line_counts_replicas():
    assert render(progress_line(APPS, 12.4)).strip() == "12s  digits RUNNING 2/2 · sentiment DEPLOY_FAILED 0/1"
    assert render(progress_line([], 0)).strip() == "0s  waiting for the controller"
