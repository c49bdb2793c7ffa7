"""Which nodes an operation targets, and the Run Command request it makes: AWS's limits kept."""

from __future__ import annotations

import subprocess

import pytest

from components.errors import RayfleetError
from components.ray_cluster.userdata import RAY_ENV_PATH, TOKEN_PATH, render_head, render_worker
from serve_apps.remote import Node, _execution_timeout, batches, node_script, select_nodes
from tests.fakes import node_boots as boots

HEAD = Node("i-0000000000000000a", "head", "on-demand", "10.0.0.10")
CPU = Node("i-0000000000000000b", "cpu", "spot", "10.0.0.11")
GPU = Node("i-0000000000000000c", "gpu", "on-demand", "10.0.0.12")


def test_head_selects_the_head_alone():
    assert select_nodes([HEAD, CPU, GPU], "head") == [HEAD]


def test_all_selects_every_node():
    assert select_nodes([HEAD, CPU, GPU], "all") == [HEAD, CPU, GPU]


def test_an_instance_id_selects_that_node():
    assert select_nodes([HEAD, CPU, GPU], CPU.instance_id) == [CPU]


def test_an_unknown_instance_is_an_error_listing_the_nodes():
    with pytest.raises(RayfleetError) as err:
        select_nodes([HEAD, CPU], "i-0ffffffffffffffff", where="cluster rayfleet-dev-us-west-2")
    assert str(err.value) == (
        "--node i-0ffffffffffffffff is not a running node of cluster rayfleet-dev-us-west-2 (nodes: "
        "i-0000000000000000a (head), i-0000000000000000b (cpu, spot)). "
        "Fix: pass --node head, --node all or one of those instance ids"
    )


def test_a_cluster_without_a_running_head_says_so():
    with pytest.raises(RayfleetError, match=r"^cluster c has no running head \(nodes: i-0000000000000000b"):
        select_nodes([CPU], "head", where="cluster c")


def test_a_cluster_without_nodes_says_to_check_the_stack():
    with pytest.raises(RayfleetError, match=r"^cluster c has no running nodes\. Fix: check that the stack is up"):
        select_nodes([], "all", where="cluster c")


def test_send_command_gets_at_most_fifty_instances_per_call():
    ids = [f"i-{n:017x}" for n in range(120)]
    assert [len(b) for b in batches(ids)] == [50, 50, 20]
    assert sum(batches(ids), []) == ids


@pytest.mark.parametrize("seconds, sent", [(0.2, 1), (600, 600), (10**7, 172800)])
def test_execution_timeout_stays_within_aws_run_shell_script_bounds(seconds, sent):
    # AWS-RunShellScript's executionTimeout: a whole number of seconds from 1 to 172800 (48 hours).
    assert _execution_timeout(seconds) == sent


def test_commands_find_rays_venv_first_on_path_after_the_ray_units_environment():
    assert node_script("ray status") == ('set -a; . /etc/rayfleet/ray.env; set +a\n'
                                         'export PATH=/opt/rayfleet/venv/bin:"$PATH"\nray status')


NODES = [(render_head, boots.HEAD), (render_head, boots.DEV_HEAD), (render_worker, boots.GPU_WORKER)]


@pytest.mark.parametrize("render, boot", NODES)
def test_commands_read_the_environment_file_the_nodes_user_data_writes(render, boot):
    # Run Command runs as root, which has no ~/.ray/auth_token: Ray's CLI finds the cluster's token
    # only through the Ray units' environment file.
    assert node_script("ray status").startswith(f"set -a; . {RAY_ENV_PATH}; set +a\n")
    env = dict(line.split("=", 1) for line in boots.written(render(boot), RAY_ENV_PATH).splitlines())
    assert (env["RAY_AUTH_MODE"], env["RAY_AUTH_TOKEN_PATH"]) == ("token", TOKEN_PATH)


def test_a_commands_processes_see_rays_token_settings_and_the_venv_first(tmp_path):
    # The script as /bin/sh runs it, with the file the head's user data writes in place of /etc/rayfleet/ray.env.
    env_file = tmp_path / "ray.env"
    env_file.write_text(boots.written(render_head(boots.HEAD), RAY_ENV_PATH))
    script = node_script("env").replace(RAY_ENV_PATH, str(env_file))
    run = subprocess.run(["/bin/sh", "-c", script], env={"PATH": "/usr/bin:/bin"}, capture_output=True, text=True)
    seen = dict(line.split("=", 1) for line in run.stdout.splitlines() if "=" in line)
    assert (run.returncode, seen["RAY_AUTH_MODE"], seen["RAY_AUTH_TOKEN_PATH"]) == (0, "token", TOKEN_PATH)
    assert seen["PATH"].startswith("/opt/rayfleet/venv/bin:")
