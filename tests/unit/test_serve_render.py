"""The Serve config renderer: every environment is accepted by Ray's ServeDeploySchema; local clamping."""

from __future__ import annotations

import pytest

from serve_apps.package import ROOT
from serve_apps.monitoring import THRESHOLD_ENV
from serve_apps.render import CloudTarget, LocalTarget, Machine, render_serve_config, validate_serve_config
from components.contract import REGION_HEALTH_APP, REGION_HEALTH_ROUTE
from components.errors import ConfigError, RayfleetError
from stacks.loader import load_environment, load_file
from tests.fakes.environments import ENVIRONMENTS, stack_config, write_stack

CLOUD = CloudTarget(models_base="s3://bucket/models", working_dir="s3://bucket/serve/code-0123456789ab.zip")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_environment_renders_a_config_ray_accepts(env):
    from ray.serve.schema import ServeDeploySchema

    rendered = render_serve_config(load_environment(env), CLOUD)
    schema = ServeDeploySchema.model_validate(rendered.config)
    assert [a.name for a in schema.applications] == ["sentiment", "digits", REGION_HEALTH_APP]
    assert schema.http_options.host == "0.0.0.0" and schema.http_options.port == 8000
    assert rendered.notes == []


def test_prod_digits_app_gets_model_uri_runtime_env_and_scaling():
    cfg = load_environment("prod")
    digits = render_serve_config(cfg, CLOUD).config["applications"][1]
    assert digits["args"] == {"modelUri": "s3://bucket/models/digits-v1.json"}
    assert digits["runtime_env"]["working_dir"] == "s3://bucket/serve/code-0123456789ab.zip"
    deployment = digits["deployments"][0]
    assert deployment["name"] == "Digits"
    assert deployment["autoscaling_config"] == {"min_replicas": 2, "max_replicas": 10, "target_ongoing_requests": 4.0}
    assert deployment["ray_actor_options"] == {"num_cpus": 1.0, "num_gpus": 0.0}
    assert deployment["max_ongoing_requests"] == 8
    assert deployment["graceful_shutdown_timeout_s"] == 20.0
    assert deployment["health_check_period_s"] == 10.0


def test_explicit_args_and_memory_are_kept(tmp_path):
    config = stack_config("dev")
    app = config["rayfleet:serve"]["applications"][1]
    app["args"] = {"modelUri": "s3://bucket/models/digits-v2.json", "maxBatchSize": 8}
    app["resources"]["memoryGb"] = 2
    rendered = render_serve_config(load_file(write_stack(tmp_path, config)), CLOUD).config["applications"][1]
    assert rendered["args"] == {"modelUri": "s3://bucket/models/digits-v2.json", "maxBatchSize": 8}
    assert rendered["deployments"][0]["ray_actor_options"]["memory"] == 2 * 1024**3


def test_local_target_clamps_to_the_machine_and_says_so():
    rendered = render_serve_config(
        load_environment("prod"), LocalTarget(models_base="file:///m", machine=Machine(cpus=2, gpus=0, memory_gb=8))
    )
    assert rendered.notes == [
        "sentiment: replicas 2..20 -> 2..2 (at most 2 per app locally)",
        "digits: replicas 2..10 -> 2..2 (at most 2 per app locally)",
        "sentiment: 1 CPU per replica -> 0.5 (2 CPUs here)",
        "digits: 1 CPU per replica -> 0.5 (2 CPUs here)",
    ]
    app = rendered.config["applications"][0]
    assert app["runtime_env"] == {"env_vars": {THRESHOLD_ENV: "0.2"}}
    assert app["deployments"][0]["autoscaling_config"]["max_replicas"] == 2
    assert rendered.config["http_options"] == {"host": "127.0.0.1", "port": 8000}
    validate_serve_config(rendered.config)


def test_local_target_drops_gpus_the_machine_lacks(tmp_path):
    config = stack_config("prod")
    config["rayfleet:serve"]["applications"][0]["resources"] = {"cpus": 1, "gpus": 1}
    rendered = render_serve_config(
        load_file(write_stack(tmp_path, config)), LocalTarget(models_base="file:///m", machine=Machine(cpus=16))
    )
    assert "sentiment: 1 GPU per replica -> 0 (no GPU here)" in rendered.notes
    assert rendered.config["applications"][0]["deployments"][0]["ray_actor_options"]["num_gpus"] == 0


def test_an_import_path_that_does_not_import_is_refused_in_one_line(tmp_path):
    config = stack_config("dev")
    config["rayfleet:serve"]["applications"][0]["importPath"] = "my_models.fraud:app"
    with pytest.raises(RayfleetError) as caught:
        render_serve_config(load_file(write_stack(tmp_path, config)), CLOUD)
    assert str(caught.value) == (
        "rayfleet:serve.applications[0].importPath = 'my_models.fraud:app': cannot import: No module named "
        f"'my_models' (looked for in {ROOT}). Fix: check importPath ('module:attribute' naming a Serve application "
        "or a builder function) and source (the folder its module is found in)"
    )


def test_a_model_uri_outside_the_artifact_bucket_is_refused(tmp_path):
    config = stack_config("dev")
    config["rayfleet:serve"]["applications"][1]["args"] = {"modelUri": "s3://elsewhere/digits-v1.json"}
    with pytest.raises(RayfleetError) as caught:
        render_serve_config(load_file(write_stack(tmp_path, config)), CLOUD)
    assert str(caught.value) == (
        "rayfleet:serve.applications[1].args.modelUri = 's3://elsewhere/digits-v1.json': is not in the "
        "environment's artifact bucket (bucket), the only bucket the nodes' role can read. Fix: copy the object "
        "to s3://bucket/models/ and write '${models}/<file>'"
    )


def test_the_models_placeholder_becomes_each_targets_models_base():
    cfg = load_environment("dev")
    assert cfg.serve.applications[1].args == {"modelUri": "${models}/digits-v1.json"}
    cloud = render_serve_config(cfg, CLOUD).config["applications"][1]["args"]
    local = render_serve_config(cfg, LocalTarget(models_base="file:///home/me/.rayfleet/models/")).config
    assert cloud == {"modelUri": "s3://bucket/models/digits-v1.json"}
    assert local["applications"][1]["args"] == {"modelUri": "file:///home/me/.rayfleet/models/digits-v1.json"}


def test_cloud_apps_get_their_pip_and_env_vars_and_local_root_apps_run_in_rayfleets_environment(tmp_path):
    config = stack_config("dev")
    config["rayfleet:serve"]["applications"][0]["runtimeEnv"] = {"pip": ["vaderSentiment>=3.3.2,<4"],
                                                                  "envVars": {"LOG_LEVEL": "debug"}}
    cfg = load_file(write_stack(tmp_path, config))
    cloud = render_serve_config(cfg, CLOUD).config["applications"][0]
    local = render_serve_config(cfg, LocalTarget(models_base="file:///m")).config["applications"][0]
    assert cloud["runtime_env"] == {"working_dir": CLOUD.working_dir, "pip": ["vaderSentiment>=3.3.2,<4"],
                                    "env_vars": {"LOG_LEVEL": "debug", THRESHOLD_ENV: "0.2"}}
    assert local["runtime_env"] == {"env_vars": {"LOG_LEVEL": "debug", THRESHOLD_ENV: "0.2"}}


def test_every_application_is_told_the_drift_threshold_of_its_alarm(tmp_path):
    config = stack_config("dev")
    config["rayfleet:serve"]["applications"][1]["drift"] = {"threshold": 0.35}
    cfg = load_file(write_stack(tmp_path, config))
    for target in (CLOUD, LocalTarget(models_base="file:///m")):
        apps = render_serve_config(cfg, target).config["applications"]
        thresholds = {app["name"]: app.get("runtime_env", {}).get("env_vars", {}).get(THRESHOLD_ENV) for app in apps}
        assert thresholds == {"sentiment": "0.2", "digits": "0.35", REGION_HEALTH_APP: None}


def test_an_override_for_a_missing_deployment_names_the_ones_the_app_has(tmp_path):
    config = stack_config("dev")
    config["rayfleet:serve"]["applications"][1]["deployments"] = {"Digit": {"numReplicas": 2}}
    with pytest.raises(RayfleetError) as caught:
        render_serve_config(load_file(write_stack(tmp_path, config)), CLOUD)
    assert str(caught.value) == (
        "rayfleet:serve.applications[1].deployments.Digit: application 'digits' has no deployment 'Digit' "
        "(its deployments: Digits). Fix: name one of those"
    )


def test_an_override_of_the_ingress_wins_over_the_application_settings(tmp_path):
    config = stack_config("dev")
    config["rayfleet:serve"]["applications"][1]["deployments"] = {
        "Digits": {"numReplicas": 3, "userConfig": {"threshold": 0.5}}
    }
    rendered = render_serve_config(load_file(write_stack(tmp_path, config)), CLOUD).config
    (deployment,) = rendered["applications"][1]["deployments"]
    assert deployment["num_replicas"] == 3 and "autoscaling_config" not in deployment
    assert deployment["user_config"] == {"threshold": 0.5}
    assert deployment["ray_actor_options"] == {"num_cpus": 1.0, "num_gpus": 0.0}
    validate_serve_config(rendered)


def test_schema_problems_are_listed():
    rendered = render_serve_config(load_environment("dev"), CLOUD).config
    rendered["applications"][1]["route_prefix"] = "/sentiment"
    with pytest.raises(RayfleetError) as caught:
        validate_serve_config(rendered, "dev/us-west-2")
    assert str(caught.value).startswith("dev/us-west-2: Ray's ServeDeploySchema rejects it (1 problem):\n  - applications: ")
    assert str(caught.value).endswith("\nFix: correct rayfleet:serve in the environment file")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_config_answers_region_health_at_the_reserved_route(env):
    cloud = render_serve_config(load_environment(env), CLOUD).config["applications"]
    local = render_serve_config(load_environment(env), LocalTarget(models_base="file:///m")).config["applications"]
    for applications in (cloud, local):
        (health,) = [a for a in applications if a["route_prefix"] == REGION_HEALTH_ROUTE]
        assert (health["name"], health["import_path"]) == (REGION_HEALTH_APP, "serve_apps.region_health:app")
        (deployment,) = health["deployments"]
        # It must answer while the apps' replicas take every CPU, and on the head, which has none.
        assert deployment["ray_actor_options"] == {"num_cpus": 0, "num_gpus": 0}
        assert deployment["num_replicas"] >= 2
    assert cloud[-1]["runtime_env"] == {"working_dir": CLOUD.working_dir}
    assert "runtime_env" not in local[-1]


def test_local_config_with_region_health_fits_the_machine():
    machine = Machine(cpus=2, gpus=0, memory_gb=8)
    config = render_serve_config(load_environment("prod"), LocalTarget(models_base="file:///m", machine=machine)).config
    validate_serve_config(config)
    needed = 0.0
    for app in config["applications"]:
        (deployment,) = app["deployments"]
        replicas = deployment.get("num_replicas") or deployment["autoscaling_config"]["max_replicas"]
        needed += replicas * deployment["ray_actor_options"]["num_cpus"]
    assert needed <= machine.cpus


def test_route_prefix_of_region_health_is_refused_for_an_application(tmp_path):
    config = stack_config("dev")
    config["rayfleet:serve"]["applications"][1]["routePrefix"] = "/-/region-health"
    with pytest.raises(ConfigError) as caught:
        load_file(write_stack(tmp_path, config))
    assert [str(issue) for issue in caught.value.issues] == [
        "rayfleet:serve.applications[1].routePrefix = '/-/region-health': is reserved: every region answers "
        "Route 53's health checks at /-/region-health. Fix: pick another routePrefix."
    ]


def test_route_prefix_below_region_health_is_refused_too(tmp_path):
    config = stack_config("dev")
    config["rayfleet:serve"]["applications"][0]["routePrefix"] = "/-/region-health/sentiment"
    with pytest.raises(ConfigError) as caught:
        load_file(write_stack(tmp_path, config))
    assert len(caught.value.issues) == 1
    assert str(caught.value.issues[0]).startswith(
        "rayfleet:serve.applications[0].routePrefix = '/-/region-health/sentiment': is reserved"
    )


_COMPOSED_APP = '''from ray import serve


@serve.deployment
class Embedder:
    def __call__(self, text):
        return len(text)


@serve.deployment
class Router:
    def __init__(self, embedder):
        self.embedder = embedder


app = Router.bind(Embedder.bind())
'''


def test_overrides_reach_inner_deployments_and_app_settings_the_ingress(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "composed.py").write_text(_COMPOSED_APP)
    config = stack_config("dev")
    config["rayfleet:serve"]["applications"] = [{
        "name": "composed", "importPath": "composed:app", "routePrefix": "/composed", "source": str(tmp_path / "src"),
        "autoscaling": {"minReplicas": 1, "maxReplicas": 3},
        "deployments": {"Embedder": {"numReplicas": 4, "resources": {"cpus": 2}, "maxOngoingRequests": 32}},
    }]
    cfg = load_file(write_stack(tmp_path, config))
    target = CloudTarget(models_base="s3://bucket/models", working_dir=CLOUD.working_dir,
                         working_dirs={str(tmp_path / "src"): "s3://bucket/serve/source-0123456789ab.zip"})
    app = render_serve_config(cfg, target).config["applications"][0]
    router, embedder = app["deployments"]
    assert router["name"] == "Router" and router["autoscaling_config"]["max_replicas"] == 3
    assert (embedder["name"], embedder["num_replicas"], embedder["max_ongoing_requests"]) == ("Embedder", 4, 32)
    assert embedder["ray_actor_options"] == {"num_cpus": 2.0, "num_gpus": 0.0}
    local = render_serve_config(cfg, LocalTarget(models_base="file:///m", machine=Machine(cpus=4),
                                                 working_dirs={str(tmp_path / "src"): "file:///p/source.zip"}))
    assert local.notes == [
        "composed: replicas 1..3 -> 1..2 (at most 2 per app locally)",
        "composed/Embedder: replicas 4 -> 2 (at most 2 per app locally)",
        "composed/Embedder: 2 CPU per replica -> 1 (4 CPUs here)",
    ]
    validate_serve_config(local.config)
