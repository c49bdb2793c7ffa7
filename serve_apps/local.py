"""The embedded local environment: a Ray head on this machine with the environment's apps deployed.

    result = up("dev", serve_port=8000)     # start (or reuse) the head, build models, deploy, smoke-test
    result.urls                             # {'sentiment': 'http://127.0.0.1:8000/sentiment', ...}
    down()                                  # stop Serve and exactly this head's processes

The head runs `ray start --head` with its own short `--temp-dir`
(`/tmp/rf<uid>-<gcs port>.ray`: Unix socket paths must stay under ~107 bytes)
in a new process group, and token auth on: rayfleet writes its own token to
`$RAYFLEET_HOME/local/auth_token` and starts Ray with `RAY_AUTH_MODE=token`
and `RAY_AUTH_TOKEN_PATH` pointing at it, so `~/.ray/auth_token` (shared with
other clusters on the machine) is neither read nor written. Apps are deployed
through the same REST deployer as the cloud. `down` never runs `ray stop`,
which would kill every Ray cluster on the machine (see serve_apps/processes.py).
"""

from __future__ import annotations

import fcntl
import functools
import json
import os
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

from serve_apps.dashboard import Dashboard, DashboardError
from serve_apps.deployer import DEFAULT_TIMEOUT_S, DeployResult, deploy
from serve_apps.history import History
from serve_apps.paths import models_dir, rayfleet_home
from serve_apps.ports import free_port, port_in_use
from serve_apps.render import Machine, RenderedConfig, render_serve_config
from serve_apps.serve_ingress import local_ingress_environment
from components.contract import DASHBOARD_PORT, GCS_PORT, REGION_HEALTH_APP, SERVE_PORT
from components.errors import RayfleetError
from components.serve_runtime import DEFAULT_INGRESS, Ingress
from stacks.config import EnvironmentConfig, SmokeRequest
from stacks.loader import load_environment

START_TIMEOUT_S = 120


@dataclass
class LocalState:
    """What `up` started, kept in `$RAYFLEET_HOME/local/state.json` for the next `up` and for `down`."""

    gcs_port: int
    dashboard_port: int
    serve_port: int
    temp_dir: str
    pgid: int
    token_path: str
    #: What takes HTTP on the Serve port: Serve's HAProxy ingress or its Python proxy. A state file
    #: written before the choice existed is a head running Serve's Python proxy.
    ingress: str = "python"

    @property
    def dashboard_url(self) -> str:
        return f"http://127.0.0.1:{self.dashboard_port}"

    @property
    def serve_url(self) -> str:
        return f"http://127.0.0.1:{self.serve_port}"

    @property
    def gcs_address(self) -> str:
        return f"127.0.0.1:{self.gcs_port}"

    def token(self) -> str:
        return Path(self.token_path).read_text().strip()

    def dashboard(self, timeout_s: float = 15.0) -> Dashboard:
        return Dashboard(self.dashboard_url, self.token(), timeout_s=timeout_s)

    def ray_env(self) -> dict[str, str]:
        """Environment a Ray driver needs to join this cluster (token auth)."""
        return {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": self.token_path}


@dataclass
class SmokeResult:
    app: str
    url: str
    ok: bool
    detail: str
    #: How the route was asked: POST (an app's smokeRequest), GET (the region-health route), or "" (nothing sent).
    method: str = "POST"


@dataclass
class UpResult:
    state: LocalState
    started: bool
    built_models: list[str]
    rendered: RenderedConfig
    deployed: DeployResult
    smoke: list[SmokeResult] = field(default_factory=list)

    @property
    def urls(self) -> dict[str, str]:
        return {s.app: s.url for s in self.smoke}


def local_token_for(address: str) -> str | None:
    """The token of the `rayfleet local up` cluster when `address` is its dashboard, else None."""
    from serve_apps.dashboard import normalize_address

    state = read_state()
    if state is None or normalize_address(address) != state.dashboard_url or not Path(state.token_path).is_file():
        return None
    return state.token()


def state_file() -> Path:
    return rayfleet_home() / "local" / "state.json"


def read_state() -> LocalState | None:
    path = state_file()
    if not path.is_file():
        return None
    return LocalState(**json.loads(path.read_text()))


def _write_state(state: LocalState) -> None:
    path = state_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(asdict(state), indent=1) + "\n")


def session_temp_dir(gcs_port: int) -> str:
    return os.path.join(tempfile.gettempdir(), f"rf{os.getuid()}-{gcs_port}.ray")


def this_machine() -> Machine:
    import psutil

    # GPUs would need a CUDA probe; the local environment is for CPU replicas.
    return Machine(cpus=float(os.cpu_count() or 1), gpus=0, memory_gb=psutil.virtual_memory().total / 1024**3)


def head_alive(state: LocalState) -> bool:
    try:
        state.dashboard(timeout_s=5).get_applications()
        return True
    except (DashboardError, OSError):
        return False


def _ray_executable() -> str:
    beside = Path(sys.executable).with_name("ray")
    return str(beside) if beside.exists() else (shutil.which("ray") or "ray")


def _new_token(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as out:
        out.write(secrets.token_hex(32))


def start_head(
    gcs_port: int, dashboard_port: int, serve_port: int, num_cpus: float, ingress: Ingress = DEFAULT_INGRESS
) -> LocalState:
    """`ray start --head` in its own process group with its own temp dir and token, Serve's `ingress`
    switched on in its environment; wait for the dashboard."""
    for port, what, flag in ((gcs_port, "Ray GCS", "--ray-port"), (dashboard_port, "Ray dashboard", "--dashboard-port")):
        if port_in_use(port):
            raise RayfleetError(
                f"port {port} ({what}) is already in use on this machine, by a process rayfleet did not start. "
                f"Fix: stop that process, or pick another port with {flag}"
            )
    temp_dir = session_temp_dir(gcs_port)
    token_path = rayfleet_home() / "local" / "auth_token"
    _new_token(token_path)
    env = {k: v for k, v in os.environ.items() if k not in ("RAY_ADDRESS", "RAY_AUTH_TOKEN")}
    env.update({"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token_path), "RAY_USAGE_STATS_ENABLED": "0"})
    env.update(local_ingress_environment(ingress, temp_dir))
    # Fixed-default ports (agent 52365, client server 10001) would collide with other clusters on the machine.
    command = [
        _ray_executable(), "start", "--head",
        f"--port={gcs_port}",
        "--node-ip-address=127.0.0.1",
        "--dashboard-host=127.0.0.1",
        f"--dashboard-port={dashboard_port}",
        f"--dashboard-agent-listen-port={free_port()}",
        f"--ray-client-server-port={free_port()}",
        f"--temp-dir={temp_dir}",
        f"--num-cpus={num_cpus:g}",
        "--num-gpus=0",
        "--disable-usage-stats",
    ]
    proc = subprocess.Popen(
        command, env=env, start_new_session=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    state = LocalState(gcs_port, dashboard_port, serve_port, temp_dir, proc.pid, str(token_path), ingress)
    _write_state(state)  # written first, so that `down` can clean up even after a failed start
    try:
        output, _ = proc.communicate(timeout=START_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        output = "(ray start did not finish)"
    if proc.returncode != 0:
        tail = "\n".join(output.strip().splitlines()[-5:])
        raise RayfleetError(f"'ray start --head' failed (exit {proc.returncode}):\n{tail}\nFix: "
                            "use --ray-port/--dashboard-port if the ports are taken")
    deadline = time.monotonic() + START_TIMEOUT_S
    while not head_alive(state):
        if time.monotonic() > deadline:
            raise RayfleetError(f"the Ray dashboard at {state.dashboard_url} did not answer within {START_TIMEOUT_S} s. "
                                f"Fix: see the logs in {temp_dir}/session_latest/logs")
        time.sleep(0.5)
    return state


def smoke_test(base_url: str, config: dict, requests: dict[str, SmokeRequest | None]) -> list[SmokeResult]:
    """POST each app's `smokeRequest` (by app name) to its route under `base_url` (a Serve proxy: this machine's,
    an emulated head's) and check the answer has what it expects."""
    results = []
    for app in config["applications"]:
        url = f"{base_url.rstrip('/')}{app['route_prefix']}"
        if app["name"] == REGION_HEALTH_APP:
            results.append(_region_health_smoke(app["name"], url))
            continue
        smoke = requests.get(app["name"])
        if smoke is None:
            results.append(SmokeResult(app["name"], url, True, "no smoke request defined", method=""))
            continue
        body = json.dumps(smoke.body).encode()
        request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"}, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                answer = json.loads(response.read())
        except (urllib.error.URLError, OSError, json.JSONDecodeError) as err:
            results.append(SmokeResult(app["name"], url, False, f"request failed: {err}"))
            continue
        results.append(_check_answer(app["name"], url, answer, smoke.expect))
    return results


def _check_answer(name: str, url: str, answer, expect: dict) -> SmokeResult:
    got = answer if isinstance(answer, dict) else {}
    wrong = [key for key, want in expect.items() if got.get(key) != want]
    detail = ", ".join(f"{key} = {got.get(key)!r}" for key in expect) or "answered"
    if wrong:
        detail += "; expected " + ", ".join(f"{key} = {expect[key]!r}" for key in wrong)
    return SmokeResult(name, url, not wrong, detail)


def _region_health_smoke(name: str, url: str) -> SmokeResult:
    """The region-health route answers 200: every application just deployed can serve."""
    try:
        with urllib.request.urlopen(url, timeout=30) as response:
            return SmokeResult(name, url, True, f"HTTP {response.status}", method="GET")
    except urllib.error.HTTPError as err:
        return SmokeResult(name, url, False, f"HTTP {err.code}: {err.read().decode(errors='replace')[:300]}", method="GET")
    except (urllib.error.URLError, OSError) as err:
        return SmokeResult(name, url, False, f"request failed: {err}", method="GET")


_lock_depth = threading.local()


def one_at_a_time(command):
    """Run `up`/`down` under an exclusive lock on `$RAYFLEET_HOME/local/lock`; a second one waits, saying why.

    Without it, a second `up` finds the first one's state file before its head answers, takes that
    head for a dead one and stops it (the first fails with "'ray start --head' failed (exit -15)").
    flock is released by the kernel when its holder exits, however it exits. `up` calls `down`
    itself, hence the per-thread depth.
    """

    @functools.wraps(command)
    def locked(*args, **kwargs):
        depth = getattr(_lock_depth, "value", 0)
        if depth:
            return command(*args, **kwargs)
        on_step = kwargs.get("on_step") or (lambda message: None)
        path = rayfleet_home() / "local" / "lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                lock.seek(0)
                holder = lock.read().strip() or "?"
                on_step(f"another 'rayfleet local up' or 'local down' is running (pid {holder}); waiting for it to finish")
                fcntl.flock(lock, fcntl.LOCK_EX)
            lock.truncate(0)
            lock.write(f"{os.getpid()}\n")
            lock.flush()
            _lock_depth.value = 1
            try:
                return command(*args, **kwargs)
            finally:
                _lock_depth.value = 0
                lock.truncate(0)
                fcntl.flock(lock, fcntl.LOCK_UN)

    return locked


@one_at_a_time
def up(
    cfg: EnvironmentConfig | str = "dev",
    *,
    serve_port: int = SERVE_PORT,
    gcs_port: int = GCS_PORT,
    dashboard_port: int = DASHBOARD_PORT,
    confirm_removal: Callable[[list[str]], bool] = lambda names: False,
    on_step: Callable[[str], None] = lambda message: None,
    on_progress=lambda apps, elapsed: None,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    note: str = "",
) -> UpResult:
    """Start (or reuse) the head and deploy `cfg` (a config, or an environment's name) on it.

    Any failure after this call started a head stops exactly that head's session (as `down` does)
    and raises one line naming the step: a half-deployed cluster nobody asked for is worse than none.
    """
    if isinstance(cfg, str):
        cfg = load_environment(cfg)
    machine = this_machine()
    state = read_state()
    reuse = state is not None and head_alive(state)
    if reuse:
        _note_reuse(state, gcs_port, dashboard_port, serve_port, cfg.serve.ingress, on_step)
        # A running head keeps the ingress it started with: check and render the apps for the one serving them.
        cfg = cfg.model_copy(update={"serve": cfg.serve.model_copy(update={"ingress": state.ingress})})
    _check_applications(cfg)
    if reuse:
        step = Step("checking the applications")
        try:
            return _deploy_and_check(cfg, state, False, machine, confirm_removal, on_step, on_progress, timeout_s, note, step)
        except RayfleetError as err:
            # Not this call's head: it stays, with whatever the failed step left on it.
            raise RayfleetError(f"local up failed while {step.now}: {_one_line(err)}") from err
    if state is not None:
        down(on_step=lambda message: None)  # a dead or half-started session: clear what is left of it
    on_step(f"starting a Ray head: GCS {gcs_port}, dashboard {dashboard_port}, {machine.cpus:g} CPUs")
    step = Step("starting the Ray head")
    try:
        state = start_head(gcs_port, dashboard_port, serve_port, machine.cpus, cfg.serve.ingress)
        result = _deploy_and_check(cfg, state, True, machine, confirm_removal, on_step, on_progress, timeout_s, note, step)
        failed = [s for s in result.smoke if not s.ok]
        if failed:
            step.now = "smoke-testing the routes"
            raise RayfleetError("; ".join(f"{s.app} at {s.url}: {s.detail}" for s in failed))
        return result
    except (Exception, KeyboardInterrupt) as err:
        raise _stopped_after(step.now, err) from err


def _check_applications(cfg: EnvironmentConfig) -> None:
    """Every application imports and builds before a head starts for it: a typo costs seconds, not a cluster."""
    from serve_apps.discovery import check_applications

    problems = check_applications(cfg.serve.applications, ingress=cfg.serve.ingress)
    if problems:
        raise RayfleetError(f"local up failed while checking the applications (nothing was started): {'; '.join(problems)}")


@dataclass
class Step:
    """The step `up` is at, so that a failure can say where it happened."""

    now: str


def _note_reuse(state: LocalState, gcs_port: int, dashboard_port: int, serve_port: int, ingress: str, on_step) -> None:
    if (state.gcs_port, state.dashboard_port) != (gcs_port, dashboard_port):
        on_step(f"reusing the running head (GCS {state.gcs_port}, dashboard {state.dashboard_port}); "
                "'rayfleet local down' first to change its ports")
    else:
        on_step(f"Ray head already running (dashboard {state.dashboard_url})")
    if state.serve_port != serve_port:
        on_step(f"Serve keeps port {state.serve_port} while this head runs; 'rayfleet local down' first to change it")
    if state.ingress != ingress:
        on_step(f"Serve keeps its {state.ingress} ingress while this head runs (the environment asks for {ingress}); "
                "'rayfleet local down' first to change it")


def _stopped_after(step: str, err: BaseException) -> RayfleetError:
    """Stop the session `up` started and say, on one line, which step failed and why."""
    reason = _one_line(err)
    try:
        stopped = down(keep_logs=True)
    except RayfleetError as stop_err:
        return RayfleetError(f"local up failed while {step} (and stopping its Ray head failed: {stop_err}): {reason}")
    left = "nothing was left running"
    if stopped.was_running:
        left = f"stopped the {stopped.stopped} processes it started; Ray's logs stay in {stopped.temp_dir}"
    return RayfleetError(f"local up failed while {step} ({left}): {reason}")


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _deploy_and_check(
    cfg: EnvironmentConfig, state: LocalState, started: bool, machine: Machine, confirm_removal, on_step, on_progress,
    timeout_s: float, note: str, step: Step,
) -> UpResult:
    """Build missing models, render, deploy and smoke-test on a running head; `step` follows along."""
    from serve_apps.targets import ensure_models, local_target

    step.now = "building the models the applications name"
    built = ensure_models(cfg, on_build=lambda name: on_step(f"building model {name} into {models_dir()}"))
    step.now = "rendering the Serve config"
    rendered = render_serve_config(cfg, local_target(cfg, machine=machine, port=state.serve_port))
    for line in rendered.notes:
        on_step(f"clamped to this machine: {line}")
    step.now = "deploying the applications"
    on_step(f"deploying {len(rendered.config['applications'])} application(s) through {state.dashboard_url}")
    result = deploy(
        state.dashboard(),
        rendered.config,
        history=History.for_target(state.dashboard_url),
        confirm_removal=confirm_removal,
        on_progress=on_progress,
        timeout_s=timeout_s,
        note=note or f"rayfleet local up --env {cfg.env}",
    )
    step.now = "smoke-testing the routes"
    smoke = smoke_test(state.serve_url, rendered.config, {app.name: app.smoke_request for app in cfg.serve.applications})
    return UpResult(state, started, built, rendered, result, smoke)


@dataclass
class DownResult:
    was_running: bool
    stopped: int
    temp_dir: str = ""


@one_at_a_time
def down(on_step: Callable[[str], None] = lambda message: None, keep_logs: bool = False) -> DownResult:
    """Stop the session's processes; `keep_logs` leaves its temp dir, where Ray's logs say why a step failed."""
    from serve_apps.processes import session_processes, stop_session

    state = read_state()
    if state is None:
        return DownResult(False, 0)
    marker = state.temp_dir
    # No Serve shutdown first: it drains every proxy for Serve's minimum of 30 s, for a cluster whose
    # state (in its own GCS) goes with it; stopped processes end their requests' connections at once.
    procs = session_processes(state.pgid, marker)
    on_step(f"stopping {len(procs)} Ray process(es) of the session in {state.temp_dir}")
    left = stop_session(state.pgid, marker)
    if left:
        raise RayfleetError(f"{len(left)} Ray process(es) of the local session survived SIGKILL: pids {left}. "
                            "Fix: check them with 'ps -fp PID' and stop them by pid")
    if not keep_logs:
        shutil.rmtree(state.temp_dir, ignore_errors=True)
    state_file().unlink(missing_ok=True)
    return DownResult(True, len(procs), state.temp_dir)
