"""The Serve config renderer: an environment -> the body of `PUT /api/serve/applications/`.

    >>> from stacks.loader import load_environment
    >>> target = CloudTarget(models_base="s3://bucket/models", working_dir="s3://bucket/serve/code-abc.zip")
    >>> rendered = render_serve_config(load_environment("prod"), target)
    >>> [a["name"] for a in rendered.config["applications"]]
    ['sentiment', 'digits', '_region-health']

Every config also gets the region-health application at REGION_HEALTH_ROUTE.
No rayfleet list of applications: each app's deployments and ingress come from
importing and building it in a subprocess (serve_apps/discovery.py); `deployments`
overrides apply by name, the app-level settings to the ingress. `${models}` in
`args` becomes the target's models base. No Ray or AWS in this process;
`validate_serve_config` checks a rendered dict against Ray's own
`ray.serve.schema.ServeDeploySchema` (that one imports Ray).
Each application learns the drift its alarm tolerates (`drift.threshold`) from
the environment variable THRESHOLD_ENV, which any application accepts, where
`args` and `user_config` would be refused by apps that do not expect them.
The local target also clamps replicas and resources to the machine and says
what it changed in `RenderedConfig.notes`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from serve_apps.discovery import (
    MODELS_PLACEHOLDER, MODELS_PREFIX, AppRef, discover, expand_models, problems_of, source_dir
)
from serve_apps.monitoring import THRESHOLD_ENV
from stacks.config import DeploymentOverride, EnvironmentConfig, ReplicaResources, ServeApp
from components.contract import REGION_HEALTH_APP, REGION_HEALTH_ROUTE, SERVE_PORT
from components.errors import RayfleetError

#: Replicas get this long to finish in-flight requests when they stop (spot notices give 120 s).
GRACEFUL_SHUTDOWN_TIMEOUT_S = 20.0
GRACEFUL_SHUTDOWN_WAIT_LOOP_S = 2.0
HEALTH_CHECK_PERIOD_S = 10.0
#: Extra replicas a rolling update may start before stopping old ones, in percent of the target (Ray 2.60).
#: Ray rounds the surge up (ceil(percent x target / 100)): 1 % is one extra replica at a time, which a
#: cluster at its node limit can still place; 100 % would need a second full set that may never fit.
MAX_SURGE_PERCENT = 1
HEALTH_CHECK_TIMEOUT_S = 30.0
#: The region-health application, deployed beside the configured ones (see serve_apps/region_health).
REGION_HEALTH_IMPORT_PATH = "serve_apps.region_health:app"
REGION_HEALTH_REPLICAS = 2
#: Local replicas per application at most: a laptop cannot run prod's fleet.
LOCAL_MAX_REPLICAS = 2


@dataclass(frozen=True)
class CloudTarget:
    """A cluster in AWS: code from zips in the region's artifact bucket, models from S3.

    `working_dir` is the project's code package (the region-health app, and apps without a `source`);
    `working_dirs` maps every other source folder to its package's URI. Without stack outputs the bucket is
    a placeholder (`bucket_known=False`) and s3:// URIs in `args` cannot be checked yet.
    """

    models_base: str
    working_dir: str
    working_dirs: dict[str, str] = field(default_factory=dict)
    bucket_known: bool = True
    host: str = "0.0.0.0"
    port: int = SERVE_PORT

    @property
    def bucket(self) -> str:
        return self.models_base.removeprefix("s3://").split("/", 1)[0]

    def working_dir_of(self, source: Path, at_root: bool) -> str:
        return self.working_dir if at_root else _packaged(self.working_dirs, source)


@dataclass(frozen=True)
class Machine:
    """What the local machine offers replicas."""

    cpus: float
    gpus: int = 0
    memory_gb: float = 0


@dataclass(frozen=True)
class LocalTarget:
    """A cluster on a machine with rayfleet installed (`rayfleet local up`, or `--address`): the project's
    apps from the installed package, other sources from their packages (`working_dirs`, file:// zips),
    models from `models_base`; with a `machine`, replicas are clamped to fit it."""

    models_base: str
    machine: Machine | None = None
    host: str = "127.0.0.1"
    port: int = SERVE_PORT
    working_dirs: dict[str, str] = field(default_factory=dict)

    def working_dir_of(self, source: Path, at_root: bool) -> str:
        return _packaged(self.working_dirs, source)


def _packaged(working_dirs: dict[str, str], source: Path) -> str:
    try:
        return working_dirs[str(source)]
    except KeyError:
        raise RayfleetError(f"source {source} has no code package for this target. "
                            "Fix: package every source before rendering (serve_apps.package.source_packages)") from None


@dataclass
class RenderedConfig:
    config: dict[str, Any]
    #: What the renderer changed to fit the target (local clamping), one sentence each.
    notes: list[str] = field(default_factory=list)


def render_serve_config(cfg: EnvironmentConfig, target: CloudTarget | LocalTarget) -> RenderedConfig:
    notes: list[str] = []
    apps = [_resolve(index, app, target, cfg.serve.ingress) for index, app in enumerate(cfg.serve.applications)]
    if isinstance(target, LocalTarget) and target.machine is not None:
        _clamp_to_machine(apps, target.machine, notes)
    applications = [_application(app, target) for app in apps] + [_region_health(target)]
    config = {
        "proxy_location": "EveryNode",
        "http_options": {"host": target.host, "port": target.port},
        "logging_config": {"encoding": "JSON"},
        "applications": applications,
    }
    return RenderedConfig(config, notes)


@dataclass
class _App:
    """One configured application, resolved for a target: its source, args and the deployments to list."""

    app: ServeApp
    source: Path
    args: dict[str, Any]
    #: Deployment name -> its settings, the ingress first (it takes the application-level ones).
    deployments: dict[str, DeploymentOverride]


def _resolve(index: int, app: ServeApp, target: CloudTarget | LocalTarget, ingress: str) -> _App:
    source = source_dir(app.source)
    args = expand_models(app.args, target.models_base)
    if isinstance(target, CloudTarget) and target.bucket_known:
        _check_s3_uris(index, args, target.bucket)
    (found,) = discover(source, [AppRef(app.import_path, args)])
    problems = problems_of(index, app, found, ingress)
    if problems:
        raise RayfleetError(problems[0])
    ingress = DeploymentOverride.model_construct(
        autoscaling=app.autoscaling, resources=app.resources, max_ongoing_requests=app.max_ongoing_requests
    )
    if found.ingress in app.deployments:
        chosen = app.deployments[found.ingress]
        own = {field: getattr(chosen, field) for field in chosen.model_fields_set}
        if "num_replicas" in own:
            ingress = ingress.model_copy(update={"autoscaling": None})
        ingress = ingress.model_copy(update=own)
    deployments = {found.ingress: ingress}
    deployments.update({name: o for name, o in app.deployments.items() if name != found.ingress})
    return _App(app, source, args, deployments)


def _check_s3_uris(index: int, args: Any, bucket: str, at: str = "args") -> None:
    """Nodes read models with their role, which reaches the environment's artifact bucket alone."""
    if isinstance(args, dict):
        for key, value in args.items():
            _check_s3_uris(index, value, bucket, f"{at}.{key}")
    elif isinstance(args, list):
        for n, value in enumerate(args):
            _check_s3_uris(index, value, bucket, f"{at}[{n}]")
    elif isinstance(args, str) and args.startswith("s3://") and not args.startswith(f"s3://{bucket}/"):
        raise RayfleetError(
            f"rayfleet:serve.applications[{index}].{at} = '{args}': is not in the environment's artifact bucket "
            f"({bucket}), the only bucket the nodes' role can read. Fix: copy the object to s3://{bucket}/"
            f"{MODELS_PREFIX}/ and write '{MODELS_PLACEHOLDER}/<file>'"
        )


def _application(resolved: _App, target: CloudTarget | LocalTarget) -> dict[str, Any]:
    app = resolved.app
    out: dict[str, Any] = {
        "name": app.name,
        "route_prefix": app.route_prefix,
        "import_path": app.import_path,
        "args": resolved.args,
    }
    runtime_env = _runtime_env(resolved, target)
    if runtime_env:
        out["runtime_env"] = runtime_env
    out["logging_config"] = {"encoding": "JSON"}
    out["deployments"] = [_deployment(name, o) for name, o in resolved.deployments.items()]
    return out


def _runtime_env(resolved: _App, target: CloudTarget | LocalTarget) -> dict[str, Any]:
    """Code from the source's package; locally, apps of the project root run in rayfleet's own environment."""
    env = resolved.app.runtime_env
    env_vars = {**env.env_vars, THRESHOLD_ENV: str(resolved.app.drift.threshold)}
    at_root = resolved.source == source_dir(None)
    if isinstance(target, LocalTarget) and at_root:
        return {"env_vars": env_vars}
    working_dir = target.working_dir_of(resolved.source, at_root)
    out: dict[str, Any] = {"working_dir": working_dir}
    pip = requirements(env.pip, resolved.source)
    if pip:
        out["pip"] = pip
    out["env_vars"] = env_vars
    return out


def requirements(pip: list[str] | str, source: Path) -> list[str]:
    """`runtimeEnv.pip` as a list: a requirements file (relative to `source`) is read, comments dropped."""
    if isinstance(pip, list):
        return list(pip)
    path = source / pip
    if not path.is_file():
        raise RayfleetError(f"runtimeEnv.pip = '{pip}': no such file {path}. Fix: give a requirements file "
                            "relative to the application's source, or a list of requirements")
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return [line for line in lines if line]


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
            "max_surge_percent": MAX_SURGE_PERCENT,
            "health_check_period_s": HEALTH_CHECK_PERIOD_S,
            "health_check_timeout_s": HEALTH_CHECK_TIMEOUT_S,
        }
    ]
    return out


def _deployment(name: str, settings: DeploymentOverride) -> dict[str, Any]:
    out: dict[str, Any] = {"name": name}
    if settings.max_ongoing_requests is not None:
        out["max_ongoing_requests"] = settings.max_ongoing_requests
    if settings.num_replicas is not None:
        out["num_replicas"] = settings.num_replicas
    elif settings.autoscaling is not None:
        scaling = settings.autoscaling
        autoscaling: dict[str, Any] = {
            "min_replicas": scaling.min_replicas,
            "max_replicas": scaling.max_replicas,
            "target_ongoing_requests": scaling.target_ongoing_requests,
        }
        if scaling.initial_replicas is not None:
            autoscaling["initial_replicas"] = scaling.initial_replicas
        out["autoscaling_config"] = autoscaling
    if settings.resources is not None:
        res = settings.resources
        actor: dict[str, Any] = {"num_cpus": res.cpus, "num_gpus": res.gpus}
        if res.memory_gb:
            actor["memory"] = int(res.memory_gb * 1024**3)
        out["ray_actor_options"] = actor
    if settings.user_config is not None:
        out["user_config"] = settings.user_config
    out.update(
        # Serve's default (0) stops a replica before its replacement starts: with one replica, a redeploy
        # leaves the route none, and requests wait for a replica to start. Start the new one first.
        max_surge_percent=MAX_SURGE_PERCENT,
        health_check_period_s=HEALTH_CHECK_PERIOD_S,
        health_check_timeout_s=HEALTH_CHECK_TIMEOUT_S,
        graceful_shutdown_wait_loop_s=GRACEFUL_SHUTDOWN_WAIT_LOOP_S,
        graceful_shutdown_timeout_s=GRACEFUL_SHUTDOWN_TIMEOUT_S,
    )
    return out


def _clamp_to_machine(apps: list[_App], machine: Machine, notes: list[str]) -> None:
    """Fewer replicas and smaller ones, so that every deployment's most replicas fit this machine at once."""
    tops = []
    for resolved in apps:
        for index, (name, settings) in enumerate(list(resolved.deployments.items())):
            label = resolved.app.name if index == 0 else f"{resolved.app.name}/{name}"
            settings, top = _clamp_replicas(label, settings, notes)
            resolved.deployments[name] = settings
            tops.append(top)
    total = sum(tops) or 1
    # Every replica of every app must fit at once, or autoscaling would leave some pending.
    share = math.floor(machine.cpus / total * 20) / 20 or 0.05
    for resolved in apps:
        for index, (name, settings) in enumerate(list(resolved.deployments.items())):
            label = resolved.app.name if index == 0 else f"{resolved.app.name}/{name}"
            top = settings.num_replicas or (settings.autoscaling.max_replicas if settings.autoscaling else 1)
            if settings.resources is not None:
                resources = _clamp_resources(label, settings.resources, top, share, machine, notes)
                resolved.deployments[name] = settings.model_copy(update={"resources": resources})


def _clamp_replicas(label: str, settings: DeploymentOverride, notes: list[str]) -> tuple[DeploymentOverride, int]:
    if settings.num_replicas is not None:
        top = min(settings.num_replicas, LOCAL_MAX_REPLICAS)
        if top != settings.num_replicas:
            notes.append(f"{label}: replicas {settings.num_replicas} -> {top} (at most {LOCAL_MAX_REPLICAS} per app locally)")
        return settings.model_copy(update={"num_replicas": top}), top
    scaling = settings.autoscaling
    if scaling is None:
        return settings, 1
    top = min(scaling.max_replicas, LOCAL_MAX_REPLICAS)
    low = min(scaling.min_replicas, top)
    initial = None if scaling.initial_replicas is None else min(scaling.initial_replicas, top)
    if (top, low) != (scaling.max_replicas, scaling.min_replicas):
        notes.append(
            f"{label}: replicas {scaling.min_replicas}..{scaling.max_replicas} -> {low}..{top} "
            f"(at most {LOCAL_MAX_REPLICAS} per app locally)"
        )
    update = {"min_replicas": low, "max_replicas": top, "initial_replicas": initial}
    return settings.model_copy(update={"autoscaling": scaling.model_copy(update=update)}), top


def _clamp_resources(
    label: str, res: ReplicaResources, top: int, share: float, machine: Machine, notes: list[str]
) -> ReplicaResources:
    cpus, gpus, memory = min(res.cpus, share), res.gpus, res.memory_gb
    if cpus != res.cpus:
        notes.append(f"{label}: {res.cpus:g} CPU per replica -> {cpus:g} ({machine.cpus:g} CPUs here)")
    if gpus > machine.gpus:
        notes.append(f"{label}: {res.gpus:g} GPU per replica -> 0 (no GPU here)")
        gpus = 0
    if memory and memory * top > machine.memory_gb / 2:
        notes.append(f"{label}: {memory:g} GB memory per replica -> no reservation ({machine.memory_gb:.0f} GB here)")
        memory = 0
    return res.model_copy(update={"cpus": cpus, "gpus": gpus, "memory_gb": memory})


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
