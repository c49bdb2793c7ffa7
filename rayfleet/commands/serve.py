"""`rayfleet serve deploy|status|rollback|build-models`: Serve applications on a cluster, through its dashboard."""

from __future__ import annotations

import sys
from pathlib import Path

import typer
from rich.live import Live
from rich.text import Text

from rayfleet.commands.common import EnvOption, FileOption, JsonOption
from rayfleet.output import console, err_console, print_json
from components.errors import RayfleetError

app = typer.Typer(help="Deploy Serve applications and watch them.", no_args_is_help=True)

RegionOption = typer.Option(None, "--region", "-r", help="One region of the environment (default: every region).")
AddressOption = typer.Option(None, "--address", help="Ray dashboard URL, e.g. http://127.0.0.1:8265 (instead of stack outputs).")
TokenOption = typer.Option(None, "--token", help="Dashboard token (default: the stack's token secret, or the local cluster's).")
TokenFileOption = typer.Option(None, "--token-file", help="File holding the dashboard token.", dir_okay=False)
OutputsOption = typer.Option(None, "--outputs", help="Stack outputs JSON file (default: 'pulumi stack output --json').", dir_okay=False)
YesOption = typer.Option(False, "--yes", "-y", help="Remove applications the new config lacks without asking.")
TimeoutOption = typer.Option(300.0, "--timeout", help="Seconds to wait for every application to be RUNNING.")
CanaryOption = typer.Option(
    None, "--canary", help="Ship a running application's new version as a canary: its share of traffic (percent) at the first step.",
    show_default=False,
)
StepsOption = typer.Option(None, "--steps", help="With --canary: the shares, in percent, e.g. 10,50,100 (default: PERCENT,100).", show_default=False)
WatchOption = typer.Option(None, "--watch", help="With --canary: seconds each step is watched before it is judged (default: 30).", show_default=False)
AppOption = typer.Option(None, "--app", help="With --canary: the application to ship (default: the one whose config changed).", show_default=False)


def confirmer(yes: bool, live: Live | None = None):
    """Ask before Serve's declarative PUT removes applications; refuse when no one can answer.

    `live` is the progress spinner on stderr: it redraws over anything written beside it, so it
    is stopped while the question waits for an answer (else the command looks hung) and resumed after.
    """

    def confirm(names: list[str]) -> bool:
        err_console.print(Text("warning: ", style="warn") + Text(f"this deploy removes running application(s): {', '.join(names)}"))
        if yes:
            return True
        if not sys.stdin.isatty():
            return False
        if live is not None:
            live.stop()
        try:
            return typer.confirm("Remove them?", default=False, err=True)
        finally:
            if live is not None:
                live.start()

    return confirm


def _progress(live: Live):
    from rayfleet.views.serve import progress_line

    return lambda apps, elapsed: live.update(progress_line(apps, elapsed))


def _deploy_each(targets, yes: bool, timeout: float, as_json: bool, rollback: bool = False) -> None:
    from rayfleet.views.serve import status_table
    from serve_apps import deployer
    from serve_apps.status import status_json

    report = []
    for target in targets:
        err_console.print(Text(f"{'rolling back' if rollback else 'deploying to'} {target.label}", style="bold"))
        with Live(Text("waiting for the controller", style="muted"), console=err_console, transient=True) as live:
            if rollback:
                restored, result = deployer.rollback(
                    target.dashboard, target.history, confirm_removal=confirmer(yes, live), on_progress=_progress(live), timeout_s=timeout
                )
                err_console.print(Text(f"restored deployment #{restored.seq} of {target.history.folder}", style="muted"))
            else:
                for note in target.rendered.notes:
                    err_console.print(Text(f"note: {note}", style="muted"))
                result = deployer.deploy(
                    target.dashboard, target.rendered.config, history=target.history,
                    confirm_removal=confirmer(yes, live), on_progress=_progress(live), timeout_s=timeout,
                )
        err_console.print(Text("✓ ", style="ok") + Text(f"{target.label}: every application RUNNING in {result.seconds:.0f} s"))
        report.append({"target": target.label, "record": result.record.seq, "removed": result.removed, "applications": status_json(result.apps)})
        if not as_json:
            console.print(status_table(result.apps, title=target.label))
    if as_json:
        print_json(report)


@app.command()
def deploy(
    env: str = EnvOption,
    file: Path = FileOption,
    region: str = RegionOption,
    address: str = AddressOption,
    token: str = TokenOption,
    token_file: Path = TokenFileOption,
    outputs: Path = OutputsOption,
    yes: bool = YesOption,
    timeout: float = TimeoutOption,
    canary: int = CanaryOption,
    steps: str = StepsOption,
    watch: float | None = WatchOption,
    app_name: str = AppOption,
    as_json: bool = JsonOption,
) -> None:
    """Deploy the environment's Serve applications to each region's cluster (or to --address) and wait for them.

    With --canary PERCENT, a running application's new version serves beside the current one on the same
    route, taking PERCENT of its traffic, then each of --steps in turn; each step is judged on both versions'
    error rate and p99 from Serve's metrics, and the new version is promoted or rolled back on its own.
    """
    from rayfleet.commands.common import load
    from serve_apps.targets import address_target, env_targets

    policy = None
    if canary is not None or steps is not None or watch is not None or app_name is not None:
        from serve_apps.canary_plan import DEFAULT_WATCH_S, CanaryInputError, CanaryPolicy

        if canary is None:
            given = next(f"{option} {value}" for option, value in
                         (("--steps", steps), ("--watch", watch and f"{watch:g}"), ("--app", app_name))
                         if value is not None)
            first = steps.split(",")[0] if steps else "10"
            raise CanaryInputError(f"{given} needs --canary PERCENT. Fix: add --canary {first}")
        policy = CanaryPolicy.from_options(canary, steps, DEFAULT_WATCH_S if watch is None else watch)
    cfg = load(env, file)
    if address:
        targets = [address_target(address, token, token_file, cfg)]
    else:
        targets = env_targets(cfg, region, outputs, token=token, token_file=token_file)
    if policy is not None:
        _canary_each(targets, policy, app_name, timeout, as_json)
        return
    _deploy_each(targets, yes, timeout, as_json)


def _canary_each(targets, policy, app_name: str | None, timeout: float, as_json: bool) -> None:
    """A canary on each target in turn; exits 1 when any was rolled back."""
    from rayfleet.views.canary import canary_summary, canary_table
    from serve_apps.canary import changed_application, local_metrics, node_metrics, run_canary
    from serve_apps.local import read_state

    report = []
    for target in targets:
        err_console.print(Text(f"canary on {target.label}", style="bold"))
        state = read_state()
        local = state is not None and state.dashboard_url == target.dashboard.address
        metrics = local_metrics(state) if local else node_metrics(target.dashboard)
        app = app_name or changed_application(target.dashboard.get_applications(), target.rendered.config)
        result = run_canary(
            target.dashboard, target.rendered.config, app, policy, history=target.history, metrics=metrics,
            on_event=lambda message: err_console.print(Text(f"  {message}", style="muted")), timeout_s=timeout,
            reserve=not local,
        )
        err_console.print(canary_summary(result))
        report.append({"target": target.label, **result.to_json()})
        if not as_json:
            console.print(canary_table(result, title=target.label))
    if as_json:
        print_json(report)
    if any(r["outcome"] != "promoted" for r in report):
        raise typer.Exit(1)


def _targets_without_config(env, file, region, address, token, token_file, outputs):
    from rayfleet.commands.common import load
    from serve_apps.targets import address_target, env_targets

    if address and (env or file) or not (address or env or file):
        raise RayfleetError("give exactly one of --env ENV, --file PATH or --address URL")
    if address:
        return [address_target(address, token, token_file)]
    return env_targets(load(env, file), region, outputs, token=token, token_file=token_file, upload=False)


@app.command()
def status(
    env: str = EnvOption,
    file: Path = FileOption,
    region: str = RegionOption,
    address: str = AddressOption,
    token: str = TokenOption,
    token_file: Path = TokenFileOption,
    outputs: Path = OutputsOption,
    as_json: bool = JsonOption,
) -> None:
    """Applications on the cluster(s): route, status, replicas running/target per deployment."""
    from rayfleet.views.serve import status_table
    from serve_apps.status import parse_status, status_json

    report = []
    for target in _targets_without_config(env, file, region, address, token, token_file, outputs):
        apps = parse_status(target.dashboard.get_applications())
        report.append({"target": target.label, "applications": status_json(apps)})
        if not as_json:
            console.print(status_table(apps, title=target.label))
    if as_json:
        print_json(report)


@app.command()
def rollback(
    env: str = EnvOption,
    file: Path = FileOption,
    region: str = RegionOption,
    address: str = AddressOption,
    token: str = TokenOption,
    token_file: Path = TokenFileOption,
    outputs: Path = OutputsOption,
    yes: bool = YesOption,
    timeout: float = TimeoutOption,
    as_json: bool = JsonOption,
) -> None:
    """Deploy again the last good config before the latest deployment."""
    targets = _targets_without_config(env, file, region, address, token, token_file, outputs)
    _deploy_each(targets, yes, timeout, as_json, rollback=True)


@app.command(name="build-models")
def build_models(
    out: Path = typer.Option(None, "--out", help="Models folder (default: $RAYFLEET_HOME/models, ~/.rayfleet/models).", file_okay=False),
    force: bool = typer.Option(False, "--force", help="Rebuild even if the artifact exists."),
) -> None:
    """Train the digits model on scikit-learn's bundled data into a versioned artifact (deterministic)."""
    import json

    from serve_apps.digits.model import build_model
    from serve_apps.paths import models_dir

    path = build_model(out or models_dir(), force=force)
    version = json.loads(path.read_text())["version"]
    console.print(Text("✓ ", style="ok") + Text(f"{path}  (digits model {version})"))


@app.command()
def new(
    name: str = typer.Argument(..., help="The application's name: a Python package name, like 'reviews'.", show_default=False),
    folder: Path = typer.Option(None, "--dir", help="Where to write it (default: ./NAME); must be new or empty.", file_okay=False),
) -> None:
    """Write a Serve application to grow into your own: a deployment, its test, and a stack-file entry.

    The deployment loads a small model in __init__, answers JSON, rejects bad input with a 400 and
    checks its health; the test runs it in Serve's local testing mode (no cluster).
    """
    from serve_apps.scaffold import new_app

    folder = folder or Path(name)
    written = new_app(name, folder)
    console.print(Text("✓ ", style="ok") + Text(f"wrote application '{name}' in {folder}:"))
    for path in written:
        console.print(Text(f"  {path}", style="muted"))
    console.print(Text(f"next: cd {folder} && python -m pytest -q; then paste stack-snippet.yaml into a stack file "
                       "and run 'rayfleet local up --file STACK.yaml'", style="muted"))
