"""A user's own application, in a folder outside the project: validated, rendered for the cloud, its
mistakes reported in one line."""

from __future__ import annotations

import json

from serve_apps.monitoring import THRESHOLD_ENV
from serve_apps.package import source_package
from tests.fakes.environments import stack_config, write_stack
from tests.fakes.own_app import OWN_APP_DEPLOYMENT, write_multiplexed_app, write_own_app, write_own_app_stack
from tests.fakes.working_dir import working_dir_files


def _refused(cli, path, *flags) -> str:
    """What `config validate --file PATH` prints when it refuses the file (exit 1, nothing on stdout)."""
    run = cli("config", "validate", "--file", str(path), *flags)
    assert (run.code, run.out) == (1, "")
    return run.err


def test_config_validate_accepts_an_application_outside_the_project(cli, tmp_path):
    source = write_own_app(tmp_path / "outside")
    path = write_own_app_stack(tmp_path, source)
    run = cli("config", "validate", "--file", str(path))
    assert run.code == 0, run.err
    assert run.out.startswith(f"✓ {path}: environment 'own' is valid (")


def test_render_serve_packages_the_source_and_ray_accepts_the_config(cli, tmp_path):
    from ray.serve.schema import ServeDeploySchema

    source = write_own_app(tmp_path / "outside")
    path = write_own_app_stack(tmp_path, source)
    run = cli("render", "serve", "--file", str(path), "--region", "us-west-2", "--json")
    assert run.code == 0, run.err
    config = json.loads(run.out)
    ServeDeploySchema.model_validate(config)
    fraud = config["applications"][0]
    _, key = source_package(source.resolve())
    assert key.startswith("serve/source-") and key.endswith(".zip")
    assert fraud["runtime_env"] == {"working_dir": f"s3://artifact-bucket-unknown/{key}", "env_vars": {THRESHOLD_ENV: "0.2"}}
    assert fraud["import_path"] == "fraud.app:build" and fraud["args"] == {"threshold": 500}
    assert [d["name"] for d in fraud["deployments"]] == [OWN_APP_DEPLOYMENT]
    assert fraud["deployments"][0]["ray_actor_options"] == {"num_cpus": 0.5, "num_gpus": 0.0}


def test_the_source_package_is_reproducible_and_named_by_its_content(tmp_path):
    source = write_own_app(tmp_path / "outside")
    first = source_package(source)
    (source / "fraud" / "__pycache__").mkdir()
    (source / "fraud" / "__pycache__" / "rules.cpython-311.pyc").write_bytes(b"cache")
    assert source_package(source) == first
    (source / "fraud" / "rules.py").write_text("# changed\n")
    assert source_package(source)[1] != first[1]


def test_a_broken_import_path_fails_validation_in_one_line(cli, tmp_path):
    source = write_own_app(tmp_path / "outside")
    path = write_own_app_stack(tmp_path, source, importPath="fraud.ap:build")
    err = _refused(cli, path)
    assert err == (
        f"error: {path}: rayfleet:serve.applications[0].importPath = 'fraud.ap:build': cannot import: No module "
        f"named 'fraud.ap' (looked for in {source}). Fix: check importPath ('module:attribute' naming a Serve "
        "application or a builder function) and source (the folder its module is found in)\n"
    )


def test_an_exception_in_the_users_module_names_its_file_and_line(cli, tmp_path):
    source = write_own_app(tmp_path / "outside")
    rules = source / "fraud" / "rules.py"
    rules.write_text(rules.read_text() + "\nraise RuntimeError('no rules table')\n")
    path = write_own_app_stack(tmp_path, source)
    err = _refused(cli, path)
    line = len(rules.read_text().splitlines())
    assert err.startswith(
        f"error: {path}: rayfleet:serve.applications[0].importPath = 'fraud.app:build': cannot import: "
        f"no rules table ({rules}:{line}). Fix: "
    )
    assert err.count("\n") == 1


def test_an_attribute_that_is_not_an_application_fails_validation(cli, tmp_path):
    source = write_own_app(tmp_path / "outside")
    path = write_own_app_stack(tmp_path, source, importPath="fraud.rules:score")
    err = _refused(cli, path)
    assert err.startswith(
        f"error: {path}: rayfleet:serve.applications[0].importPath = 'fraud.rules:score': cannot build: "
        "Application builder functions should take exactly one parameter, a dictionary containing the passed "
        f"arguments. ({source / 'fraud' / 'rules.py'}:4). Fix: "
    )


def test_an_override_for_a_missing_deployment_fails_validation_with_the_names(cli, tmp_path):
    source = write_own_app(tmp_path / "outside")
    path = write_own_app_stack(tmp_path, source, deployments={"Scorer": {"numReplicas": 2}})
    err = _refused(cli, path)
    assert err == (
        f"error: {path}: rayfleet:serve.applications[0].deployments.Scorer: application 'fraud' has no "
        "deployment 'Scorer' (its deployments: FraudScorer). Fix: name one of those\n"
    )


def test_a_missing_source_folder_fails_validation_without_importing(cli, tmp_path):
    path = write_own_app_stack(tmp_path, tmp_path / "nowhere")
    err = _refused(cli, path, "--no-imports")
    assert err == (
        f"error: {path}: rayfleet:serve.applications[0].source = '{tmp_path / 'nowhere'}': no such folder "
        f"{tmp_path / 'nowhere'}. Fix: give the folder holding the application's code (absolute, or relative "
        "to the project root)\n"
    )


def test_a_local_target_runs_the_source_from_its_package_with_its_requirements_file(tmp_path, monkeypatch):
    from serve_apps.render import render_serve_config, validate_serve_config
    from serve_apps.targets import local_target
    from stacks.loader import load_file

    monkeypatch.setenv("RAYFLEET_HOME", str(tmp_path / "home"))
    source = write_own_app(tmp_path / "outside")
    (source / "requirements.txt").write_text("# scoring\nnumpy>=1.26  # arrays\n\nrequests\n")
    path = write_own_app_stack(tmp_path, source, runtimeEnv={"pip": "requirements.txt", "envVars": {"MODE": "strict"}})
    config = render_serve_config(load_file(path), local_target(load_file(path))).config
    validate_serve_config(config)
    runtime_env = config["applications"][0]["runtime_env"]
    _, key = source_package(source.resolve())
    package = tmp_path / "home" / "packages" / key.removeprefix("serve/")
    assert runtime_env == {"working_dir": package.as_uri(), "pip": ["numpy>=1.26", "requests"],
                           "env_vars": {"MODE": "strict", THRESHOLD_ENV: "0.2"}}
    assert package.read_bytes() == source_package(source.resolve())[0]


def test_a_source_holding_one_package_keeps_it_in_the_working_dir_ray_unpacks(tmp_path):
    # Ray takes a lone top-level folder's contents as the working dir: `fraud/` must survive as a package.
    data, _ = source_package(write_own_app(tmp_path / "outside"))
    assert working_dir_files(data) == {"fraud/__init__.py", "fraud/app.py", "fraud/rules.py"}


def _multiplexed_stack(tmp_path, **serve):
    config = stack_config("dev")
    config["rayfleet:serve"] = {**serve, "applications": [write_multiplexed_app(tmp_path / "tenants")]}
    return write_stack(tmp_path, config, env="own")


def test_a_multiplexed_application_is_refused_with_the_haproxy_ingress(cli, tmp_path):
    err = _refused(cli, _multiplexed_stack(tmp_path))
    assert err.endswith(
        "rayfleet:serve.applications[0].importPath = 'tenants:app': deployment PerTenant uses @serve.multiplexed, "
        "which Serve's HAProxy ingress does not route by (requests would reach replicas without their model "
        "loaded). Fix: set rayfleet:serve.ingress: python for this environment\n"
    ), err


def test_a_multiplexed_application_is_accepted_with_serves_python_proxy(cli, tmp_path):
    run = cli("config", "validate", "--file", str(_multiplexed_stack(tmp_path, ingress="python")))
    assert run.code == 0, run.err
