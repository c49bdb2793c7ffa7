"""`rayfleet render serve`, `rayfleet serve ...` and `rayfleet local ...` as a user types them (no cluster needed)."""

from __future__ import annotations

import json

import pytest

from tests.fakes.ports import free_port


def test_render_serve_prod_json_is_accepted_by_serve_deploy_schema(cli):
    from ray.serve.schema import ServeDeploySchema

    run = cli("render", "serve", "--env", "prod", "--json")
    assert run.code == 0, run.err
    rendered = json.loads(run.out)
    assert sorted(rendered) == ["us-east-1", "us-west-2"]
    for config in rendered.values():
        ServeDeploySchema.model_validate(config)
    assert run.err.count("note: no stack outputs: the artifact bucket is a placeholder (pass --outputs FILE)\n") == 2


def test_render_serve_uses_the_artifact_bucket_from_stack_outputs(cli, tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"regions": {"us-west-2": {
        "dashboardUrl": "http://10.30.0.10:8265", "dashboardTokenSecretArn": "arn:aws:secretsmanager:us-west-2:1:secret:t",
        "artifactBucket": "rayfleet-dev-artifacts"}}}))
    run = cli("render", "serve", "--env", "dev", "--region", "us-west-2", "--outputs", str(outputs), "--json")
    assert run.code == 0, run.err
    config = json.loads(run.out)
    digits = config["applications"][1]
    assert digits["args"]["modelUri"] == "s3://rayfleet-dev-artifacts/models/digits-v1.json"
    assert digits["runtime_env"]["working_dir"].startswith("s3://rayfleet-dev-artifacts/serve/code-")
    assert run.err == ""


def test_render_serve_text_is_yaml_per_region(cli):
    run = cli("render", "serve", "--env", "dev")
    assert run.code == 0, run.err
    assert run.out.splitlines()[0] == "# dev/us-west-2: Serve config (accepted by ray.serve.schema.ServeDeploySchema)"
    assert "import_path: serve_apps.digits:app" in run.out


def test_unknown_region_is_refused(cli):
    run = cli("render", "serve", "--env", "prod", "--region", "eu-west-1")
    assert run.code == 1
    assert run.err == "error: --region eu-west-1 is not a region of environment 'prod' (regions: us-east-1, us-west-2). Fix: pick one of those\n"


def test_status_needs_exactly_one_target(cli):
    both = cli("serve", "status", "--env", "dev", "--address", "127.0.0.1:8265")
    neither = cli("serve", "status")
    assert both.code == neither.code == 1
    assert both.err == neither.err == "error: give exactly one of --env ENV, --file PATH or --address URL\n"


@pytest.mark.slow  # trains the digits model before it reaches the dashboard
def test_deploy_to_an_unreachable_dashboard_is_a_clear_error(cli, tmp_path):
    port = free_port()
    run = cli("serve", "deploy", "--env", "dev", "--address", f"127.0.0.1:{port}", "--token", "t",
              env={"RAYFLEET_HOME": str(tmp_path)})
    assert run.code == 1
    assert run.err.endswith(
        f"error: cannot reach the Ray dashboard at http://127.0.0.1:{port} (GET /api/serve/applications/: "
        "[Errno 111] Connection refused). Fix: check the address and that the cluster is up (rayfleet local up, "
        "or the stack's dashboardUrl), and that this machine may reach it (operatorCidrs)\n"
    )
    assert "Traceback" not in run.err


def test_deploy_with_outputs_missing_the_region_says_which(cli, tmp_path):
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps({"regions": {"us-east-1": {}}}))
    run = cli("serve", "deploy", "--env", "dev", "--outputs", str(outputs), env={"RAYFLEET_HOME": str(tmp_path)})
    assert run.code == 1
    assert run.err == (
        "error: stack 'dev' has no outputs for region us-west-2 (regions in the outputs: us-east-1). "
        "Fix: run 'pulumi up --stack dev', or pick a region it has\n"
    )


@pytest.mark.slow  # trains the digits model
def test_build_models_writes_the_versioned_artifact(cli, tmp_path):
    run = cli("serve", "build-models", "--out", str(tmp_path))
    assert run.code == 0, run.err
    version = json.loads((tmp_path / "digits-v1.json").read_text())["version"]
    assert run.out == f"✓ {tmp_path / 'digits-v1.json'}  (digits model {version})\n"


def test_local_down_with_nothing_running_is_harmless(cli, tmp_path):
    run = cli("local", "down", env={"RAYFLEET_HOME": str(tmp_path)})
    assert run.code == 0
    assert run.out == "no local cluster is running (nothing to stop)\n"


@pytest.mark.parametrize(
    "args",
    [("render",), ("render", "serve"), ("serve",), ("serve", "deploy"), ("serve", "status"), ("serve", "rollback"),
     ("serve", "build-models"), ("local",), ("local", "up"), ("local", "down")],
)
def test_help_for_serve_commands(cli, args):
    run = cli(*args, "--help")
    assert run.code == 0
    assert "Usage:" in run.out
