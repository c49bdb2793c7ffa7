"""What a scenario of `rayfleet emulate` runs on: a booted emulated region, and what it must return.

    def run_scale(region: BootedRegion) -> ScenarioResult:
        asg = region.client("autoscaling")                  # boto3, to the emulated region's moto server
        region.on_step("raising Serve's demand...")
        ...                                                 # figures, measured against region.runner's nodes

A scenario after `boot` starts once the boot scenario's figures are in (head up, applications
RUNNING, requests answered) and runs inside the same region: its nodes, namespaces, resolver and
moto server are stopped when the command ends, whatever the scenario did. A scenario reports
what it measured (`to_json`, `rows` for the terminal) and the targets it missed (`missed`, one
sentence each): the command prints them and exits 1 when any was missed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from components.drills.emulate.boot import BootFigures


class ScenarioResult(Protocol):
    #: The scenario's name, as `--scenario` spells it.
    name: str

    def to_json(self) -> dict[str, Any]: ...
    def rows(self) -> list[tuple[str, str]]: ...
    def missed(self) -> list[str]: ...


@dataclass
class BootedRegion:
    """The environment's primary region, booted: every node answering, the Serve config RUNNING on its head."""

    cfg: Any                       # stacks.config.StackConfig of the environment
    plan: Any                      # stacks.plan.Plan: the program's output under mocks
    server: Any                    # components.drills.emulate.moto_server.MotoServer
    plane: Any                     # components.drills.emulate.control_plane.ControlPlane
    net: Any                       # components.drills.emulate.network.RegionNetwork
    runner: Any                    # components.drills.emulate.nodes.NodeRunner: the nodes, polled from moto
    dashboard: Any                 # serve_apps.dashboard.Dashboard of the head (its token)
    config: dict[str, Any]         # the Serve config deployed to the head
    base_url: str                  # the head's Serve proxy, http://ADDRESS:PORT
    figures: BootFigures
    run_dir: Path
    on_step: Callable[[str], None]

    @property
    def region(self) -> str:
        return self.plane.region

    def client(self, service: str):
        """A boto3 client of `service` in this region, talking to the emulated region's moto server."""
        import boto3

        return boto3.client(service, **self.server.client_args(self.region))


#: A scenario run after `boot`, on the booted region.
AfterBoot = Callable[[BootedRegion], ScenarioResult]
