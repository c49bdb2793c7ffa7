"""The Serve config renderer: an environment -> the body of `PUT /api/serve/applications/`.

    >>> from stacks.loader import load_environment
    >>> target = CloudTarget(models_base="s3://bucket/models", working_dir="s3://bucket/serve/code-abc.zip")
    >>> rendered = render_serve_config(load_environment("prod"), target)
    >>> [a["name"] for a in rendered.config["applications"]]
    ['sentiment', 'digits', '_region-health']

Every config also gets the region-health application at REGION_HEALTH_ROUTE.
Pure: no Ray, no AWS. `validate_serve_config` checks a rendered dict against
Ray's own `ray.serve.schema.ServeDeploySchema` (that one imports Ray).
The local target also clamps replicas and resources to the machine and says
what it changed in `RenderedConfig.notes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from serve_apps.catalog import app_spec
from stacks.config import EnvironmentConfig, ServeApp
from components.contract import REGION_HEALTH_APP, REGION_HEALTH_ROUTE, SERVE_PORT
from components.errors import RayfleetError

#: Replicas get this long to finish in-flight requests when they stop (spot notices give 120 s).
GRACEFUL_SHUTDOWN_TIMEOUT_S = 20.0
GRACEFUL_SHUTDOWN_WAIT_LOOP_S = 2.0
HEALTH_CHECK_PERIOD_S = 10.0
HEALTH_CHECK_TIMEOUT_S = 30.0
#: The region-health application, deployed beside the configured ones (see serve_apps/region_health).
REGION_HEALTH_IMPORT_PATH = "serve_apps.region_health:app"
REGION_HEALTH_REPLICAS = 2
#: Local replicas per application at most: a laptop cannot run prod's fleet.
LOCAL_MAX_REPLICAS = 2
#: Python packages the model apps need on cloud nodes (pip runtime_env of each app).
APP_REQUIREMENTS = ("vaderSentiment>=3.3.2,<4", "scikit-learn>=1.3,<2")


@dataclass(frozen=True)
class CloudTarget:
    """A cluster in AWS: code from a zip in the region's artifact bucket, models from S3."""

    models_base: str
    working_dir: str
    host: str = "0.0.0.0"
    port: int = SERVE_PORT


@dataclass(frozen=True)
class Machine:
    """What the local machine offers replicas."""

    cpus: float
    gpus: int = 0
    memory_gb: float = 0


@dataclass(frozen=True)
class LocalTarget:
    """A cluster that has rayfleet installed (`rayfleet local up`, or `--address`): code from the installed
    package, models from `models_base`; with a `machine`, replicas are clamped to fit it."""

    models_base: str
    machine: Machine | None = None
    host: str = "127.0.0.1"
    port: int = SERVE_PORT


@dataclass
class RenderedConfig:
    config: dict[str, Any]
    #: What the renderer changed to fit the target (local clamping), one sentence each.
    notes: list[str] = field(default_factory=list)


def render_serve_config(cfg: EnvironmentConfig, target: CloudTarget | LocalTarget) -> RenderedConfig:
    notes: list[str] = []
    apps = list(cfg.serve.applications)
    if isinstance(target, LocalTarget) and target.machine is not None:
        apps = _clamp_to_machine(apps, target.machine, notes)
    applications = [_application(app, target) for app in apps] + [_region_health(target)]
    config = {
        "proxy_location": "EveryNode",
        "http_options": {"host": target.host, "port": target.port},
        "logging_config": {"encoding": "JSON"},
        "applications": applications,
    }
    return RenderedConfig(config, notes)


def _application(app: ServeApp, target: CloudTarget | LocalTarget) -> dict[str, Any]:
    spec = app_spec(app.import_path)
    args = dict(app.args)
    if spec.model_artifact and "modelUri" not in args:
        args["modelUri"] = f"{target.models_base.rstrip('/')}/{spec.model_artifact}"
    out: dict[str, Any] = {
        "name": app.name,
        "route_prefix": app.route_prefix,
        "import_path": app.import_path,
        "args": args,
    }
    if isinstance(target, CloudTarget):
        out["runtime_env"] = {"working_dir": target.working_dir, "pip": list(APP_REQUIREMENTS)}
    out["logging_config"] = {"encoding": "JSON"}
    out["deployments"] = [_deployment(spec.deployment, app)]
    return out


def _region_health(target: CloudTarget | LocalTarget) -> dict[str, Any]:
    """The application behind REGION_HEALTH_ROUTE, which the load balancer and Route 53 check.

    It reserves no CPU: it must answer while the apps' replicas fill every CPU (and the head,
    which has none for replicas, may hold it), and the local clamping has nothing of it to fit.
    """
    out: dict[str, Any] = {
        "name": REGION_HEALTH_APP,
        "route_prefix": REGION_HEALTH_ROUTE,
        "import_path": REGION_HEALTH_IMPORT_PATH,
        "args": {},
    }
    if isinstance(target, CloudTarget):
        out["runtime_env"] = {"working_dir": target.working_dir}
    out["logging_config"] = {"encoding": "JSON"}
    out["deployments"] = [
        {
            "name": "RegionHealth",
            # Two, on different nodes where Serve can: a check must not fail because one replica is restarting.
            "num_replicas": REGION_HEALTH_REPLICAS,
            "max_ongoing_requests": 64,
            "ray_actor_options": {"num_cpus": 0, "num_gpus": 0},
            "health_check_period_s": HEALTH_CHECK_PERIOD_S,
            "health_check_timeout_s": HEALTH_CHECK_TIMEOUT_S,
        }
    ]
    return out


def _deployment(name: str, app: ServeApp) -> dict[str, Any]:
    scaling = app.autoscaling
    autoscaling: dict[str, Any] = {
        "min_replicas": scaling.min_replicas,
        "max_replicas": scaling.max_replicas,
        "target_ongoing_requests": scaling.target_ongoing_requests,
    }
    if scaling.initial_replicas is not None:
        autoscaling["initial_replicas"] = scaling.initial_replicas
    actor: dict[str, Any] = {"num_cpus": app.resources.cpus, "num_gpus": app.resources.gpus}
    if app.resources.memory_gb:
        actor["memory"] = int(app.resources.memory_gb * 1024**3)
    return {
        "name": name,
        "max_ongoing_requests": app.max_ongoing_requests,
        "autoscaling_config": autoscaling,
        "ray_actor_options": actor,
        "health_check_period_s": HEALTH_CHECK_PERIOD_S,
        "health_check_timeout_s": HEALTH_CHECK_TIMEOUT_S,
        "graceful_shutdown_wait_loop_s": GRACEFUL_SHUTDOWN_WAIT_LOOP_S,
        "graceful_shutdown_timeout_s": GRACEFUL_SHUTDOWN_TIMEOUT_S,
    }


def _clamp_to_machine(apps: list[ServeApp], machine: Machine, notes: list[str]) -> list[ServeApp]:
    """Fewer replicas and smaller ones, so that every app's maxReplicas fit this machine at once."""
    clamped = []
    for app in apps:
        scaling = app.autoscaling
        top = min(scaling.max_replicas, LOCAL_MAX_REPLICAS)
        low = min(scaling.min_replicas, top)
        initial = None if scaling.initial_replicas is None else min(scaling.initial_replicas, top)
        if (top, low) != (scaling.max_replicas, scaling.min_replicas):
            notes.append(
                f"{app.name}: replicas {scaling.min_replicas}..{scaling.max_replicas} -> {low}..{top} "
                f"(at most {LOCAL_MAX_REPLICAS} per app locally)"
            )
        clamped.append((app, top, low, initial))
    total = sum(top for _, top, _, _ in clamped) or 1
    # Every replica of every app must fit at once, or autoscaling would leave some pending.
    share = math.floor(machine.cpus / total * 20) / 20 or 0.05
    out = []
    for app, top, low, initial in clamped:
        res = app.resources
        cpus, gpus, memory = min(res.cpus, share), res.gpus, res.memory_gb
        if cpus != res.cpus:
            notes.append(f"{app.name}: {res.cpus:g} CPU per replica -> {cpus:g} ({machine.cpus:g} CPUs here)")
        if gpus > machine.gpus:
            notes.append(f"{app.name}: {res.gpus:g} GPU per replica -> 0 (no GPU here)")
            gpus = 0
        if memory and memory * top > machine.memory_gb / 2:
            notes.append(f"{app.name}: {memory:g} GB memory per replica -> no reservation ({machine.memory_gb:.0f} GB here)")
            memory = 0
        out.append(
            app.model_copy(
                update={
                    "autoscaling": app.autoscaling.model_copy(
                        update={"min_replicas": low, "max_replicas": top, "initial_replicas": initial}
                    ),
                    "resources": res.model_copy(update={"cpus": cpus, "gpus": gpus, "memory_gb": memory}),
                }
            )
        )
    return out


def validate_serve_config(config: dict[str, Any], source: str = "rendered Serve config") -> None:
    """RayfleetError listing every problem Ray's ServeDeploySchema finds in `config`."""
    from pydantic import ValidationError
    from ray.serve.schema import ServeDeploySchema

    try:
        ServeDeploySchema.model_validate(config)
    except ValidationError as err:
        lines = [
            f"  - {'.'.join(str(p) for p in e['loc']) or '(top)'}: {e['msg']}" for e in err.errors(include_url=False)
        ]
        count = len(lines)
        raise RayfleetError(
            f"{source}: Ray's ServeDeploySchema rejects it ({count} problem{'s' * (count != 1)}):\n"
            + "\n".join(lines)
            + "\nFix: correct rayfleet:serve in the environment file"
        ) from None
