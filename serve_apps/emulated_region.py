"""`rayfleet emulate`: an environment's primary region on this machine, from its offline plan.

    report = emulate(Path("stacks/Pulumi.dev.yaml"), "control-plane")
    report.plane.counts()["aws:autoscaling/group:Group"]     # 3
    report.to_json()["seconds"]                              # {'plan': 4.1, 'motoStart': 0.9, 'controlPlane': 1.7, ...}

The plan is the one `rayfleet plan` shows (stacks.plan.run_plan: the real program under
mocks), so the emulated region is created from the program's own output, not from a second
description of the cluster. The code packages are the ones the deployer uploads, at the keys
the rendered Serve config names (serve_apps.package). The moto server lives only while the
scenario runs: it is stopped on return, on failure and on Ctrl-C.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.drills.emulate.control_plane import ControlPlane, Created, create_control_plane
from components.drills.emulate.moto_server import moto_server
from components.drills.emulate.plane import KNOWN_GAPS
from components.errors import RayfleetError
from serve_apps.package import app_sources, code_package, source_package
from stacks.loader import load_file

#: The scenarios this rayfleet can run.
SCENARIOS = ("control-plane",)


@dataclass
class EmulationReport:
    env: str
    scenario: str
    plane: ControlPlane
    seconds: dict[str, float] = field(default_factory=dict)
    moto_stopped: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "scenario": self.scenario,
            "seconds": {k: round(v, 2) for k, v in self.seconds.items()},
            "motoStopped": self.moto_stopped,
            "controlPlane": self.plane.to_json(),
            "knownGaps": list(KNOWN_GAPS),
        }


def check_scenario(scenario: str) -> str:
    if scenario not in SCENARIOS:
        raise RayfleetError(f"--scenario {scenario!r} is not a scenario of this rayfleet (scenarios: "
                            f"{', '.join(SCENARIOS)}). Fix: pass --scenario {SCENARIOS[0]}")
    return scenario


def serve_packages(cfg) -> list[tuple[bytes, str]]:
    """The code packages the Serve config names: rayfleet's own, then each application's `source`."""
    return [code_package(), *(source_package(source) for source in app_sources(cfg.serve.applications))]


def emulate(
    stack_file: Path,
    scenario: str,
    *,
    on_step: Callable[[str], None] = lambda _text: None,
    on_created: Callable[[Created], None] = lambda _c: None,
) -> EmulationReport:
    """Run `scenario` on the primary region of the environment in `stack_file`; nothing is left running."""
    from stacks.plan import run_plan  # imports the program and pulumi_aws: only when a run starts

    check_scenario(scenario)
    cfg = load_file(stack_file)
    seconds: dict[str, float] = {}
    started = time.monotonic()
    on_step("running the Pulumi program under mocks...")
    plan = run_plan(path=stack_file)
    packages = serve_packages(cfg)
    seconds["plan"] = time.monotonic() - started
    on_step("starting the moto server...")
    mark = time.monotonic()
    with moto_server() as server:
        seconds["motoStart"] = time.monotonic() - mark
        on_step(f"creating {cfg.primary_region.name}'s control plane in moto ({server.endpoint})...")
        plane = create_control_plane(plan.resources, cfg.primary_region.name, server, packages=packages,
                                     on_created=on_created)
        seconds["controlPlane"] = plane.seconds
        on_step("stopping the moto server...")
        mark = time.monotonic()
    seconds["motoStop"] = time.monotonic() - mark
    seconds["total"] = time.monotonic() - started
    return EmulationReport(cfg.env, scenario, plane, seconds, moto_stopped=True)
