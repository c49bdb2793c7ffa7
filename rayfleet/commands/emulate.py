"""`rayfleet emulate`: run an environment's primary region on this machine, with moto as its control plane.

    rayfleet emulate --env dev --scenario control-plane
    rayfleet emulate --file my-stack.yaml --scenario control-plane --json
    rayfleet emulate --env dev --scenario boot          # the nodes too: seconds to head up, apps RUNNING
    rayfleet emulate --env dev --scenario scale,spot    # scenarios after boot share one boot, in this order
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path

import typer
from rich.status import Status
from rich.text import Text

from rayfleet.commands.common import EnvOption, FileOption, JsonOption, stack_file
from rayfleet.output import console, err_console, print_json
from serve_apps.emulated_region import SCENARIOS, check_scenario

#: What a terminal closing (SIGHUP) or `kill`, systemd and CI runners (SIGTERM) send: each stops the run as Ctrl-C does.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def interrupted_by(signals: tuple[signal.Signals, ...]) -> Iterator[None]:
    """While the block runs, each of `signals` raises KeyboardInterrupt(signum), so that the same clean-up
    (every `with` the run is in, unwound) stops every node, namespace and the moto server."""
    def interrupt(signum: int, _frame) -> None:
        raise KeyboardInterrupt(signum)

    previous = {s: signal.signal(s, interrupt) for s in signals}
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)


def emulate(
    env: str = EnvOption,
    file: Path = FileOption,
    scenario: str = typer.Option(
        ..., "--scenario", show_default=False,
        help=f"What to run: {', '.join(SCENARIOS)}. Scenarios after boot may be listed with commas (one boot).",
    ),
    as_json: bool = JsonOption,
) -> None:
    """Create the primary region's control plane (launch templates, groups, bucket, secrets, zone) in moto;
    with `boot`, run its instances as nodes on this machine and deploy the Serve config to them; the
    other scenarios run on the booted region. Exits 1 when a scenario misses a target (printed).

    The resources come from the offline plan (`rayfleet plan`); the moto server listens on
    127.0.0.1. The moto server, every node, its namespaces and the bridge are stopped when the
    command ends, fails or is interrupted. `boot` needs root (network and mount namespaces).
    """
    from serve_apps.emulated_region import emulate as run

    path = stack_file(env, file)
    check_scenario(scenario)
    with Status("starting...", console=err_console) as status, interrupted_by(STOP_SIGNALS):
        try:
            report = run(path, scenario, on_step=status.update,
                         on_created=lambda c: status.update(f"created {c.type.split(':')[-1]} {c.name}"))
        except KeyboardInterrupt as interrupt:
            status.stop()
            err_console.print(Text("interrupted; ", style="warn") + Text("every node and the moto server are stopped"))
            raise typer.Exit(128 + (interrupt.args[0] if interrupt.args else signal.SIGINT)) from None
    if as_json:
        print_json(report.to_json())
    else:
        from rayfleet.views.emulate import emulation_view

        console.print(emulation_view(report))
    for sentence in report.missed():
        err_console.print(Text("missed: ", style="error") + Text(sentence))
    if report.missed():
        raise typer.Exit(1)
