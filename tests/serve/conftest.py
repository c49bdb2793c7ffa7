"""One local Ray cluster for the whole session, started by `rayfleet local up` as a user would.

Every test in tests/serve/ shares it: the apps through DeploymentHandles and
over HTTP, the deployer against its real dashboard, the node agents' GCS reads,
and finally `rayfleet local down` (ordered last by `pytest_collection_modifyitems`).
It runs on free ports, not `local up`'s defaults (6379, 8265, 8000), so the suite
runs beside a user's own `rayfleet local up`.
Two modules start a cluster of their own, each saying why: test_ray_agents.py
(a worker to drain) and test_cost_allocate_live.py (apps with known resources on a
head with room for them). RAYFLEET_HOME points at a session folder, so nothing of
the user's is touched.
"""

from __future__ import annotations

import copy
import json
import os
from pathlib import Path

import pytest

from tests.fakes.cli import run_cli
from tests.fakes.ports import free_ports

#: Tests that stop the shared cluster; they run after every other test.
LAST = ("test_local_down",)


def pytest_collection_modifyitems(session, config, items):
    here = Path(__file__).parent
    for item in items:
        if here in Path(item.fspath).parents:
            # They all need the shared cluster (~20 s to start): `-m 'not slow'` skips local Ray entirely.
            item.add_marker(pytest.mark.slow)
    items.sort(key=lambda item: any(name in item.nodeid for name in LAST))


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

    run = run_cli("local", "up", "--env", "dev", *local_ports, "--json", env={"RAYFLEET_HOME": str(rayfleet_home)},
                  timeout=400)
    assert run.code == 0, run.err
    state = read_state()
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
