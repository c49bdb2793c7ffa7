"""`rayfleet ssh|exec|dashboard|logs|job submit`: operate a deployed cluster through Session Manager, no SSH.

    rayfleet ssh --env prod                          # a shell on the primary region's head
    rayfleet exec --env prod --node all -- ray --version
    rayfleet dashboard --env prod                    # http://127.0.0.1:8265, forwarded from the head
    rayfleet logs --env prod --app digits --since 15m --follow
    rayfleet job submit --env prod --working-dir pipeline -- python run.py

Every command finds the cluster from the stack outputs of --env/--file in
--region (default: the primary region), and its nodes by their tags.
"""

from __future__ import annotations

import contextlib
import json
import shlex
import sys
from pathlib import Path

import typer
from rich.live import Live
from rich.text import Text

from components.contract import DASHBOARD_PORT
from components.errors import RayfleetError
from rayfleet.commands.common import EnvOption, FileOption, JsonOption, load
from rayfleet.output import console, err_console, print_json

RegionOption = typer.Option(None, "--region", "-r", help="A region of the environment (default: the primary region).")
OutputsOption = typer.Option(None, "--outputs", help="Stack outputs JSON file (default: 'pulumi stack output --json').", dir_okay=False)
PrintOption = typer.Option(False, "--print-command", help="Print the 'aws ssm start-session' command instead of running it.")

#: The `rayfleet --help` panel that lists these commands together.
PANEL = "Operate a deployed cluster (Session Manager, no SSH)"

job_app = typer.Typer(help="Ray Jobs on a cluster, through its dashboard.", no_args_is_help=True)


def _node(env, file, region, outputs, node: str, needs=()):
    from serve_apps.remote import cluster_nodes, cluster_ref, select_nodes

    ref = cluster_ref(load(env, file), region, outputs, needs=needs)
    return ref, select_nodes(cluster_nodes(ref), node, where=f"cluster {ref.cluster}")


def _start(argv: list[str], print_only: bool, *notes: Text) -> None:
    """Print the session's command, or check the tools, say what it is and run it in this terminal."""
    from serve_apps.forwarding import attach
    from serve_apps.sessions import require_session_tools

    if not print_only:
        require_session_tools()
    for note in notes:
        err_console.print(note)
    if print_only:
        console.print(shlex.join(argv), soft_wrap=True)
        return
    code = attach(argv)
    if code:
        raise typer.Exit(code)


def ssh(
    env: str = EnvOption,
    file: Path = FileOption,
    region: str = RegionOption,
    node: str = typer.Option("head", "--node", help="head, or a node's instance id (see 'rayfleet exec --node all -- hostname')."),
    command: str = typer.Option(None, "--command", "-c", help="Run this interactively instead of a shell."),
    outputs: Path = OutputsOption,
    print_command: bool = PrintOption,
) -> None:
    """A shell (or --command) on a node through Session Manager: no SSH key, no open port."""
    from serve_apps.sessions import shell_command

    if node == "all":
        raise RayfleetError("--node all: a session is on one node. Fix: pass --node head or an instance id "
                            "('rayfleet exec --node all -- CMD' runs a command on every node)")
    ref, (target,) = _node(env, file, region, outputs, node)
    _start(shell_command(target.instance_id, ref.region, command), print_command,
           Text(f"session on {target.label} of {ref.cluster}", style="muted"))


def exec_(
    command: list[str] = typer.Argument(..., help="The command, after '--' (run by /bin/sh as root, Ray's venv first on PATH).", show_default=False),
    env: str = EnvOption,
    file: Path = FileOption,
    region: str = RegionOption,
    node: str = typer.Option("head", "--node", help="head, all, or a node's instance id."),
    timeout: float = typer.Option(600.0, "--timeout", help="Seconds to wait for every node's result."),
    outputs: Path = OutputsOption,
    as_json: bool = JsonOption,
) -> None:
    """Run a command on the head or every node (SSM Run Command); print each node's output; fail if any node failed."""
    from rayfleet.views.ops import exec_json, exec_progress, exec_results
    from serve_apps.remote import run_command

    ref, nodes = _node(env, file, region, outputs, node)
    text = " ".join(command)  # as ssh joins its arguments: the remote shell parses them
    with Live(Text("sending", style="muted"), console=err_console, transient=True) as live:
        results = run_command(nodes, text, ref.region, timeout_s=timeout,
                              on_progress=lambda statuses, elapsed: live.update(exec_progress(statuses, elapsed)))
    if as_json:
        print_json(exec_json(results))
    else:
        console.print(exec_results(results))
    failed = [r.node.instance_id for r in results if not r.ok]
    if failed:
        err_console.print(Text("error: ", style="error") + Text(f"the command failed on {len(failed)} of {len(results)} "
                                                                 f"node(s): {', '.join(failed)}"))
        raise typer.Exit(1)


def dashboard(
    env: str = EnvOption,
    file: Path = FileOption,
    region: str = RegionOption,
    local_port: int = typer.Option(DASHBOARD_PORT, "--local-port", help="Port on this machine."),
    outputs: Path = OutputsOption,
    print_command: bool = PrintOption,
) -> None:
    """Forward the head's Ray dashboard to http://127.0.0.1:PORT until Ctrl-C, and say how to get its token."""
    from serve_apps.forwarding import port_is_free
    from serve_apps.sessions import forward_command, token_command

    ref, (head,) = _node(env, file, region, outputs, "head", needs=("dashboard_token_secret_arn",))
    if not print_command and not port_is_free(local_port):
        raise RayfleetError(f"--local-port {local_port} is in use on this machine. Fix: pass a free one, e.g. --local-port 18265")
    _start(
        forward_command(head.instance_id, ref.region, remote_port=DASHBOARD_PORT, local_port=local_port), print_command,
        Text(f"Ray dashboard of {ref.env}/{ref.region}: ", style="bold") + Text(f"http://127.0.0.1:{local_port}")
        + Text(f"  (forwarded from the head {head.instance_id}; Ctrl-C ends it)", style="muted"),
        Text("its token: ", style="muted") + Text(token_command(ref.dashboard_token_secret_arn, ref.region)),
    )


def logs(
    env: str = EnvOption,
    file: Path = FileOption,
    region: str = RegionOption,
    app: str = typer.Option(None, "--app", help="Only this Serve application's lines."),
    since: str = typer.Option("1h", "--since", help="How far back: 30s, 15m, 1h, 7d."),
    follow: bool = typer.Option(False, "--follow", "-f", help="Keep printing new lines until Ctrl-C."),
    outputs: Path = OutputsOption,
    as_json: bool = JsonOption,
) -> None:
    """Node logs from the cluster's CloudWatch log group (all nodes; one application with --app)."""
    from rayfleet.views.ops import log_json, log_line
    from serve_apps.node_logs import LogQuery, follow_logs, parse_since, read_logs
    from serve_apps.remote import cluster_ref

    cfg = load(env, file)
    apps = [a.name for a in cfg.serve.applications]
    if app is not None and app not in apps:
        raise RayfleetError(f"--app {app} is not an application of environment '{cfg.env}' "
                            f"(applications: {', '.join(apps) or 'none'}). Fix: pick one of those")
    since_s = parse_since(since)
    ref = cluster_ref(cfg, region, outputs, needs=("log_group_name",))
    query = LogQuery(ref.log_group_name, ref.region, since_s, app, apps)
    batches = follow_logs(query) if follow else iter([read_logs(query)])
    for batch in batches:
        for line in batch:
            if as_json:
                # JSON Lines: a script reads each line as it comes, also while following.
                sys.stdout.write(json.dumps(log_json(line)) + "\n")
                sys.stdout.flush()
            else:
                console.print(log_line(line), soft_wrap=True)


@job_app.command()
def submit(
    entrypoint: list[str] = typer.Argument(..., help="The job's command, after '--' (e.g. -- python script.py).", show_default=False),
    env: str = EnvOption,
    file: Path = FileOption,
    region: str = RegionOption,
    address: str = typer.Option(None, "--address", help="Ray dashboard URL (instead of forwarding the cloud head's)."),
    token: str = typer.Option(None, "--token", help="Dashboard token (default: the stack's token secret, or the local cluster's)."),
    token_file: Path = typer.Option(None, "--token-file", help="File holding the dashboard token.", dir_okay=False),
    working_dir: Path = typer.Option(None, "--working-dir", help="Local folder uploaded as the job's working directory.", file_okay=False),
    no_wait: bool = typer.Option(False, "--no-wait", help="Print the job id and return without following the job."),
    outputs: Path = OutputsOption,
) -> None:
    """Submit a Ray job (a batch pipeline) and follow its output to the end; fail if the job fails."""
    text = " ".join(entrypoint)
    if address:
        if env or file:
            given = f"--env {env}" if env else f"--file {file}"
            raise RayfleetError(f"--address {address} and {given} both say which cluster runs the job: give one. "
                                "Fix: drop --env/--file to use that dashboard, or drop --address to forward the "
                                "environment's head")
        from serve_apps.dashboard import normalize_address
        from serve_apps.targets import resolve_token

        address = normalize_address(address)
        _run_job(address, resolve_token(address, token, token_file), text, working_dir, no_wait)
        return
    _run_cloud_job(env, file, region, outputs, token, token_file, text, working_dir, no_wait)


def _run_cloud_job(env, file, region, outputs, token, token_file, text, working_dir, no_wait) -> None:
    from serve_apps.forwarding import forwarded
    from serve_apps.ports import free_port
    from serve_apps.sessions import require_session_tools
    from serve_apps.targets import resolve_token
    from stacks.outputs import dashboard_token

    ref, (head,) = _node(env, file, region, outputs, "head", needs=("dashboard_token_secret_arn",))
    require_session_tools()
    with contextlib.ExitStack() as stack:
        with Live(Text("forwarding the head's dashboard", style="muted"), console=err_console, transient=True) as live:
            url = stack.enter_context(forwarded(
                head.instance_id, ref.region, remote_port=DASHBOARD_PORT, local_port=free_port(),
                on_wait=lambda s: live.update(Text(f"forwarding the head's dashboard: {s:.0f} s", style="muted")),
            ))
        secret = resolve_token(url, token, token_file) if (token or token_file) else None
        _run_job(url, secret or dashboard_token(ref.dashboard_token_secret_arn, ref.region), text, working_dir, no_wait)


def _run_job(address: str, token: str | None, entrypoint: str, working_dir: Path | None, no_wait: bool) -> None:
    from serve_apps.jobs import JobRunner

    jobs = JobRunner(address, token)
    job_id = jobs.submit(entrypoint, working_dir)
    err_console.print(Text("✓ ", style="ok") + Text(f"submitted {job_id} to {address}"))
    if no_wait:
        console.print(job_id)
        return
    status = jobs.wait(job_id, on_output=lambda text: console.out(text, end="", highlight=False))
    if status != "SUCCEEDED":
        err_console.print(Text("error: ", style="error") + Text(f"job {job_id} ended {status}"))
        raise typer.Exit(1)
    err_console.print(Text("✓ ", style="ok") + Text(f"job {job_id} SUCCEEDED"))
