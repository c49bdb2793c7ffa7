"""Which clusters a command talks to, and with what config: an environment's regions, or one address.

    for target in env_targets(cfg, regions=None, outputs_file=None, upload=True):
        deploy(target.dashboard, target.rendered.config, history=target.history, ...)

Cloud targets come from the stack outputs (dashboard URL, token secret,
artifact bucket); deploying uploads the code package and models first.
An `--address` target is a cluster with rayfleet installed (the local one, or
one reached through a tunnel): code from the installed package, models from
this machine's models folder.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

from serve_apps.cloud import CloudRegion, region_outputs, upload_artifacts
from stacks.outputs import dashboard_token, read_stack_outputs
from serve_apps.dashboard import Dashboard, normalize_address
from serve_apps.history import History
from serve_apps.discovery import model_files
from serve_apps.package import app_sources, code_package, local_packages, source_package
from serve_apps.paths import models_dir, rayfleet_home
from serve_apps.render import CloudTarget, LocalTarget, RenderedConfig, render_serve_config
from stacks.config import EnvironmentConfig
from components.errors import RayfleetError


@dataclass
class Target:
    label: str
    dashboard: Dashboard
    history: History
    rendered: RenderedConfig | None = None


def resolve_token(address: str, token: str | None, token_file: Path | None) -> str | None:
    """--token, else --token-file, else the local cluster's token when `address` is it, else ~/.ray/auth_token."""
    if token and token_file:
        raise RayfleetError("give either --token or --token-file, not both")
    if token:
        return token.strip()
    if token_file:
        path = Path(token_file).expanduser()
        if not path.is_file():
            raise RayfleetError(f"--token-file {path}: no such file. Fix: give the file holding the dashboard token")
        return path.read_text().strip()
    from serve_apps.local import local_token_for

    local = local_token_for(address)
    if local:
        return local
    default = Path.home() / ".ray" / "auth_token"
    return default.read_text().strip() if default.is_file() else None


def check_regions(cfg: EnvironmentConfig, region: str | None) -> list[str]:
    if region is None:
        return cfg.region_names
    if region not in cfg.region_names:
        raise RayfleetError(f"--region {region} is not a region of environment '{cfg.env}' "
                            f"(regions: {', '.join(cfg.region_names)}). Fix: pick one of those")
    return [region]


def render_cloud(cfg: EnvironmentConfig, outputs: CloudRegion | None) -> RenderedConfig:
    """The cloud config for one region, nothing uploaded; without outputs the bucket is a visible placeholder."""
    bucket = outputs.artifact_bucket if outputs else "artifact-bucket-unknown"
    _, key = code_package()
    working_dirs = {str(s): f"s3://{bucket}/{source_package(s)[1]}" for s in app_sources(cfg.serve.applications)}
    target = CloudTarget(models_base=f"s3://{bucket}/models", working_dir=f"s3://{bucket}/{key}",
                         working_dirs=working_dirs, bucket_known=outputs is not None)
    rendered = render_serve_config(cfg, target)
    if outputs is None:
        rendered.notes.append("no stack outputs: the artifact bucket is a placeholder (pass --outputs FILE)")
    return rendered


def ensure_models(cfg: EnvironmentConfig, on_build=lambda name: None) -> list[str]:
    """The model files the apps' args name under `${models}`, in this machine's models folder (built when rayfleet can)."""
    from serve_apps.digits.model import ensure_models as ensure

    return ensure([n for app in cfg.serve.applications for n in model_files(app.args)], models_dir(), on_build)


def local_target(cfg: EnvironmentConfig, **kwargs) -> LocalTarget:
    """A LocalTarget for `cfg`: models from this machine's folder, other sources packaged under $RAYFLEET_HOME."""
    working_dirs = local_packages(app_sources(cfg.serve.applications), rayfleet_home() / "packages")
    return LocalTarget(models_base=models_dir().resolve().as_uri(), working_dirs=working_dirs, **kwargs)


def env_targets(
    cfg: EnvironmentConfig,
    region: str | None,
    outputs_file: Path | None,
    *,
    token: str | None = None,
    token_file: Path | None = None,
    upload: bool = True,
) -> list[Target]:
    """One target per region of the environment, resolved from the stack outputs."""
    regions = check_regions(cfg, region)
    outputs = read_stack_outputs(cfg.env, outputs_file)
    targets = []
    for name in regions:
        found = region_outputs(outputs, cfg.env, name)
        secret = resolve_token(found.dashboard_url, token, token_file) if (token or token_file) else None
        secret = secret or dashboard_token(found.token_secret_arn, name)
        rendered = None
        if upload:
            ensure_models(cfg)
            working_dir, working_dirs = upload_artifacts(found, models_dir(), cfg.serve.applications)
            target = CloudTarget(models_base=found.models_base, working_dir=working_dir, working_dirs=working_dirs)
            rendered = render_serve_config(cfg, target)
        targets.append(Target(f"{cfg.env}/{name}", Dashboard(found.dashboard_url, secret), History.for_target(f"{cfg.env}-{name}"), rendered))
    return targets


def address_target(
    address: str, token: str | None, token_file: Path | None, cfg: EnvironmentConfig | None = None
) -> Target:
    address = normalize_address(address)
    rendered = None
    if cfg is not None:
        from serve_apps.local import read_state, this_machine

        ensure_models(cfg)
        state = read_state()
        if state is not None and state.dashboard_url == address:
            # The cluster of `rayfleet local up`: the same clamped config it deploys.
            target = local_target(cfg, machine=this_machine(), port=state.serve_port)
        else:
            target = local_target(cfg, host="127.0.0.1" if _is_loopback(address) else "0.0.0.0")
        rendered = render_serve_config(cfg, target)
    return Target(address, Dashboard(address, resolve_token(address, token, token_file)), History.for_target(address), rendered)


def _is_loopback(address: str) -> bool:
    host = urlparse(address).hostname or ""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
