"""`rayfleet local up|down`: the environment's apps on a Ray head on this machine."""

from __future__ import annotations

import shlex
from pathlib import Path

import typer
from rich.live import Live
from rich.text import Text

from rayfleet.commands.common import FileOption, JsonOption, load
from rayfleet.commands.serve import YesOption, confirmer
from rayfleet.output import console, err_console, print_json
from components.contract import DASHBOARD_PORT, GCS_PORT, SERVE_PORT
from components.errors import RayfleetError

app = typer.Typer(help="Run the Serve applications on a local Ray cluster.", no_args_is_help=True)


#: How to point Ray's own CLI at the local cluster, as `local up` and `local env` say it.
ENV_HINT = 'eval "$(rayfleet local env)"'


def ray_cli_env(state) -> dict[str, str]:
    """The variables Ray's CLI reads to reach and authenticate to the local cluster.

    `ray status` takes the GCS from RAY_ADDRESS (ray/_private/services.py); `ray job` takes the
    dashboard from RAY_API_SERVER_ADDRESS, else RAY_ADDRESS (ray/dashboard/utils.py); with
    RAY_AUTH_MODE=token both send the token read from RAY_AUTH_TOKEN_PATH.
    """
    return {"RAY_ADDRESS": state.gcs_address, "RAY_API_SERVER_ADDRESS": state.dashboard_url, **state.ray_env()}


def _step(message: str) -> None:
    err_console.print(Text("• ", style="muted") + Text(message))


@app.command()
def up(
    env: str = typer.Option(None, "--env", "-e", help="Environment whose rayfleet:serve applications to run (default: dev).",
                            show_default=False),
    file: Path = FileOption,
    port: int = typer.Option(SERVE_PORT, "--port", help="Serve's HTTP port."),
    ray_port: int = typer.Option(GCS_PORT, "--ray-port", help="Ray GCS port of the local head."),
    dashboard_port: int = typer.Option(DASHBOARD_PORT, "--dashboard-port", help="Ray dashboard port of the local head."),
    yes: bool = YesOption,
    timeout: float = typer.Option(300.0, "--timeout", help="Seconds to wait for every application to be RUNNING."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON for scripts instead of the terminal view."),
) -> None:
    """Start (or reuse) a local Ray head, build missing models, deploy the apps, smoke-test every route.

    Running it again is harmless: it reuses the head and redeploys the same config. If a step fails
    after it started the head, it stops that head's every process and says which step failed.
    """
    from rayfleet.views.serve import progress_line, status_table
    from serve_apps import local
    from serve_apps.status import status_json

    cfg = load(env, file, default="dev")
    source = f"--file {file}" if file else f"--env {cfg.env}"
    with Live(Text("", style="muted"), console=err_console, transient=True) as live:
        result = local.up(
            cfg, note=f"rayfleet local up {source}", serve_port=port, gcs_port=ray_port, dashboard_port=dashboard_port,
            confirm_removal=confirmer(yes, live), on_step=_step,
            on_progress=lambda apps, elapsed: live.update(progress_line(apps, elapsed)), timeout_s=timeout,
        )
    state = result.state
    failed = [s for s in result.smoke if not s.ok]
    if as_json:
        print_json({
            "dashboard": state.dashboard_url, "gcsAddress": state.gcs_address, "tokenFile": state.token_path,
            "rayEnv": ray_cli_env(state),
            "started": result.started, "builtModels": result.built_models, "clamped": result.rendered.notes,
            "applications": status_json(result.deployed.apps),
            "smoke": [{"app": s.app, "method": s.method, "url": s.url, "ok": s.ok, "detail": s.detail} for s in result.smoke],
        })
    else:
        console.print(status_table(result.deployed.apps, title=f"local ({cfg.env})"))
        for smoke in result.smoke:
            mark = Text("✓ ", style="ok") if smoke.ok else Text("✗ ", style="error")
            console.print(mark + Text(f"{smoke.app:<10} {smoke.method + ' ' if smoke.method else ''}{smoke.url}  ") + Text(smoke.detail, style="muted"))
        console.print(Text(f"dashboard  {state.dashboard_url}  (token in {state.token_path})", style="muted"))
        console.print(Text(f"ray CLI    {ENV_HINT}  then ray status, ray job list", style="muted"))
        console.print(Text("stop with   rayfleet local down", style="muted"))
    if failed:
        raise RayfleetError("smoke test failed: " + "; ".join(f"{s.app} at {s.url}: {s.detail}" for s in failed)
                            + ". Fix: check 'rayfleet serve status --address " + state.dashboard_url + "' and the replica logs")


@app.command()
def down() -> None:
    """Stop Serve and the local Ray head, and check no process of it is left (never a machine-wide 'ray stop')."""
    from serve_apps import local

    result = local.down(on_step=_step)
    if not result.was_running:
        console.print(Text("no local cluster is running (nothing to stop)", style="muted"))
        return
    console.print(Text("✓ ", style="ok") + Text(f"local cluster stopped ({result.stopped} processes); no Ray process of it remains"))


@app.command(name="env")
def env_(as_json: bool = JsonOption) -> None:
    """Print the exports that point Ray's CLI (ray status, ray job ...) at the local cluster, with its token.

    Use it as: eval "$(rayfleet local env)"
    """
    from serve_apps.local import read_state

    state = read_state()
    if state is None:
        raise RayfleetError("no local cluster is running, so there is nothing to point Ray's CLI at. "
                            "Fix: start one with 'rayfleet local up'")
    if as_json:
        print_json(ray_cli_env(state))
        return
    lines = [f"export {name}={shlex.quote(value)}" for name, value in ray_cli_env(state).items()]
    # Ray reads RAY_AUTH_TOKEN before RAY_AUTH_TOKEN_PATH: a token left in the shell would win over this cluster's.
    lines.append("unset RAY_AUTH_TOKEN")
    typer.echo("\n".join(lines))
