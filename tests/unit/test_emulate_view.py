"""`rayfleet emulate`'s terminal view shows the boot figures when the scenario ran the nodes."""

from __future__ import annotations

from pathlib import Path

from rich.console import Console

from components.drills.emulate.boot import BootFigures, Request
from components.drills.emulate.control_plane import ControlPlane
from rayfleet.views.emulate import emulation_view
from serve_apps.emulated_region import EmulationReport


def _text(report: EmulationReport) -> str:
    console = Console(width=160, record=True, color_system=None)
    console.print(emulation_view(report))
    return console.export_text()


def test_the_boot_view_shows_head_up_workers_apps_and_requests():
    boot = BootFigures(head_up_s=37.9, workers_joined=1, workers_joined_s=131.3, apps_running_s=235.5,
                       apps={"sentiment": "RUNNING", "digits": "RUNNING"},
                       requests=[Request("sentiment", "http://10.30.0.4:8000/sentiment", True, "answered"),
                                 Request("digits", "http://10.30.0.4:8000/digits", False, "request failed")])
    report = EmulationReport("dev", "boot", ControlPlane("us-west-2", "http://127.0.0.1:5000"),
                             {"boot": 236.6, "total": 250.3}, moto_stopped=True, boot=boot,
                             run_dir=Path("/root/.rayfleet/emulate/dev-20261130T141431"))
    text = _text(report)
    assert "head up (its GCS lists it ALIVE)" in text and "37.9" in text
    assert "1 at 131.3" in text
    assert "sentiment, digits at 235.5" in text
    assert "1 of 2" in text
    assert "boot scenario (nodes running)" in text
    assert "/root/.rayfleet/emulate/dev-20261130T141431" in text


def test_the_control_plane_view_has_no_boot_table():
    report = EmulationReport("dev", "control-plane", ControlPlane("us-west-2", "http://127.0.0.1:5000"), {"total": 9.0})
    assert "head up" not in _text(report)


class _Scaled:
    name = "scale"

    def to_json(self):
        return {"newNodeJoinedSeconds": 61.0}

    def rows(self):
        return [("new node joined", "61.0")]

    def missed(self):
        return ["replicas placed after 200.0 s (target 180 s)"]


def test_a_scenario_after_boot_shows_its_figures_its_seconds_and_the_targets_it_missed():
    report = EmulationReport("dev", "scale", ControlPlane("us-west-2", "http://127.0.0.1:5000"),
                             {"boot": 236.6, "scale": 95.2, "total": 340.0}, moto_stopped=True, boot=BootFigures(),
                             scenarios=[_Scaled()])
    text = _text(report)
    assert "new node joined" in text and "61.0" in text
    assert "scale scenario" in text and "95.20" in text
    assert "replicas placed after 200.0 s (target 180 s)" in text
    assert report.to_json()["scenarios"] == {"scale": {"newNodeJoinedSeconds": 61.0}}
    assert report.missed() == ["scale: replicas placed after 200.0 s (target 180 s)"]
