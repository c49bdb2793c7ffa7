"""One local Ray cluster for the whole test session, started by `rayfleet local up` as a user would.

Every live test that can share a head uses this one (`local_cluster`, or one of the fixtures
built on it): starting a head and deploying dev's applications costs tens of seconds on a busy
machine, once. It runs dev's applications on free ports, not `local up`'s defaults (6379, 8265,
8000), so the suite runs beside a user's own `rayfleet local up`, and its RAYFLEET_HOME is a
session folder, so nothing of the user's is touched.

A test keeps a head of its own only where the shared one cannot serve it, and says why in its
docstring (a worker node to drain, another ingress, apps of known sizes on a head with room).

Order (`pytest_collection_modifyitems`): the modules that use the cluster run last, together:
first tests/serve's, which count and redeploy dev's applications; then the others, which may add a
Serve application of their own and leave it to `local down` (removing one takes Serve over half a
minute); and the tests that stop the cluster (`LAST`) after everything.
"""

from __future__ import annotations

import copy
import json
import os
import sys
import urllib.request
from pathlib import Path

import pytest

from tests.fakes.cli import run_cli
from tests.fakes.environments import ROOT
from tests.fakes.ports import free_ports

#: Tests that stop the shared cluster; they run after every other test.
LAST = ("test_local_down",)

#: How many Ray heads this session's `local up` started: the suite's CPU-independent cost (a head is seconds).
HEADS_STARTED: list[str] = []


def _uses_cluster(item) -> bool:
    return "local_cluster" in getattr(item, "fixturenames", ())


def pytest_collection_modifyitems(session, config, items):
    # Whole modules move, so that module-scoped fixtures (a Ray driver) are set up once.
    sharing = {item.module for item in items if _uses_cluster(item) and getattr(item, "module", None)}
    serve_folder = Path(__file__).parent.parent / "serve"

    def order(item) -> tuple[bool, bool, bool]:
        shares = getattr(item, "module", None) in sharing
        in_serve = serve_folder in Path(item.fspath).parents
        return shares, any(name in item.nodeid for name in LAST), shares and not in_serve

    items.sort(key=order)


def pytest_terminal_summary(terminalreporter):
    if HEADS_STARTED:
        terminalreporter.write_line(f"shared local Ray cluster: {len(HEADS_STARTED)} head started by `local up`")


@pytest.fixture(scope="session")
def rayfleet_home(tmp_path_factory):
    home = tmp_path_factory.mktemp("rayfleet-home")
    previous = os.environ.get("RAYFLEET_HOME")
    os.environ["RAYFLEET_HOME"] = str(home)
    yield home
    if previous is None:
        os.environ.pop("RAYFLEET_HOME", None)
    else:
        os.environ["RAYFLEET_HOME"] = previous


@pytest.fixture(scope="session")
def local_ports() -> list[str]:
    """`local up`'s port options for the session cluster: free ports, whatever else runs on this machine."""
    gcs, dashboard, serve = free_ports(3)
    return ["--ray-port", str(gcs), "--dashboard-port", str(dashboard), "--port", str(serve)]


@pytest.fixture(scope="session")
def local_cluster(rayfleet_home, local_ports):
    """The `rayfleet local up --json` run that started the cluster: its report, and the state it wrote."""
    from serve_apps.local import read_state

    # As on the nodes (start-ray): the venv first on PATH, so that a Ray job's `python` is the one with Ray.
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"
    env = {"RAYFLEET_HOME": str(rayfleet_home), "PATH": path}
    run = run_cli("local", "up", "--env", "dev", *local_ports, "--json", env=env, timeout=400)
    assert run.code == 0, run.err
    state = read_state()
    HEADS_STARTED.append(state.gcs_address)
    yield {"report": json.loads(run.out), "stderr": run.err, "state": state}
    run_cli("local", "down", env={"RAYFLEET_HOME": str(rayfleet_home)}, timeout=120)


@pytest.fixture(scope="session")
def cluster_token(local_cluster):
    """This process holds the cluster's token (token auth), so that its Ray drivers and GCS clients get in."""
    from ray._raylet import Config

    state = local_cluster["state"]
    os.environ.update(state.ray_env())
    Config.initialize("")  # Ray caches RAY_AUTH_MODE; make it see token mode
    return state


@pytest.fixture(scope="module")
def ray_driver(cluster_token):
    """This process joined to the cluster as a Ray driver (token auth), for DeploymentHandles.

    Module-scoped: the driver leaves before `local down`, so no handle outlives the cluster.
    """
    import ray
    from ray._private import auto_init_hook

    ray.init(address=cluster_token.gcs_address, logging_level="ERROR", log_to_driver=False)
    yield cluster_token
    # A handle's router thread outlives the driver and calls Ray again; with auto-connect on, that
    # call would start a fresh local Ray on the default ports, beside the session cluster.
    auto_init_hook.enable_auto_connect = False
    ray.shutdown()


@pytest.fixture
def serve_url(local_cluster):
    return f"http://127.0.0.1:{local_cluster['state'].serve_port}"


@pytest.fixture
def dashboard(local_cluster):
    return local_cluster["state"].dashboard()


@pytest.fixture
def current_config(local_cluster):
    """The config `local up` deployed, read back from its history."""
    from serve_apps.history import History

    history = History.for_target(local_cluster["state"].dashboard_url)
    return copy.deepcopy(history.records()[-1].config)


def driver_env(state, **extra: str) -> dict[str, str]:
    """The environment of a Ray driver subprocess joining the session cluster (token auth), project importable."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), **state.ray_env(), **extra}
    for name in ("RAY_ADDRESS", "RAY_AUTH_TOKEN"):
        env.pop(name, None)
    return env


def metrics_export_port(state) -> int:
    """The head's metrics export port (its raylet's Prometheus endpoint), as Ray's node summary lists it."""
    request = urllib.request.Request(f"{state.dashboard_url}/nodes?view=summary",
                                     headers={"Authorization": f"Bearer {state.token()}"})
    with urllib.request.urlopen(request, timeout=10) as answer:
        summary = json.loads(answer.read())["data"]["summary"]
    (port,) = [node["raylet"]["metricsExportPort"] for node in summary if node["raylet"]["state"] == "ALIVE"]
    return int(port)
