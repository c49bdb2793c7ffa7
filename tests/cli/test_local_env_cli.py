"""`rayfleet local env`: the exports Ray's CLI needs for the `local up` cluster (tests/serve runs them against one)."""

from __future__ import annotations

import json


def _state(home, token_path):
    (home / "local").mkdir(parents=True)
    (home / "local" / "state.json").write_text(json.dumps({
        "gcs_port": 6421, "dashboard_port": 8291, "serve_port": 8021, "temp_dir": "/tmp/rf0-6421.ray", "pgid": 4242,
        "token_path": str(token_path),
    }))


def test_local_env_prints_shell_exports_of_the_address_and_token_file(cli, tmp_path):
    token = tmp_path / "my home" / "local" / "auth_token"
    _state(tmp_path / "my home", token)
    run = cli("local", "env", env={"RAYFLEET_HOME": str(tmp_path / "my home")})
    assert (run.code, run.err) == (0, "")
    assert run.out == (
        "export RAY_ADDRESS=127.0.0.1:6421\n"
        "export RAY_API_SERVER_ADDRESS=http://127.0.0.1:8291\n"
        "export RAY_AUTH_MODE=token\n"
        f"export RAY_AUTH_TOKEN_PATH='{token}'\n"
        "unset RAY_AUTH_TOKEN\n"
    )


def test_local_env_json_names_the_same_variables(cli, tmp_path):
    _state(tmp_path, tmp_path / "local" / "auth_token")
    run = cli("local", "env", "--json", env={"RAYFLEET_HOME": str(tmp_path)})
    assert json.loads(run.out) == {
        "RAY_ADDRESS": "127.0.0.1:6421", "RAY_API_SERVER_ADDRESS": "http://127.0.0.1:8291", "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": str(tmp_path / "local" / "auth_token"),
    }


def test_local_env_without_a_local_cluster_says_how_to_start_one(cli, tmp_path):
    run = cli("local", "env", env={"RAYFLEET_HOME": str(tmp_path)})
    assert (run.code, run.out) == (1, "")
    assert run.err == ("error: no local cluster is running, so there is nothing to point Ray's CLI at. "
                       "Fix: start one with 'rayfleet local up'\n")


def test_local_up_names_the_local_env_command(monkeypatch, tmp_path):
    from typer.testing import CliRunner

    from rayfleet.app import app
    from serve_apps import local
    from serve_apps.deployer import DeployResult
    from serve_apps.render import RenderedConfig

    state = local.LocalState(6421, 8291, 8021, "/tmp/rf0-6421.ray", 4242, str(tmp_path / "auth_token"))
    deployed = DeployResult(apps=[], removed=[], record=None, seconds=1.0)
    monkeypatch.setattr(local, "up", lambda cfg, **kwargs: local.UpResult(state, True, [], RenderedConfig({}), deployed))
    run = CliRunner().invoke(app, ["local", "up", "--env", "dev"], env={"COLUMNS": "200", "NO_COLOR": "1"})
    assert run.exit_code == 0, run.output
    assert 'ray CLI    eval "$(rayfleet local env)"  then ray status, ray job list\n' in run.output
