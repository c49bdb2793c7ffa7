"""The upgrade's `SlotServe`: a cluster slot's Serve applications deployed or drained through the deployer.

    ClusterSlotServe().deploy(new_cfg, "us-east-1", outputs.upgrade.regions["us-east-1"])   # the new slot
    ClusterSlotServe().drain("us-east-1", outputs.regions["us-east-1"])                      # the old slot

A slot's outputs are one region's RegionOutputs (`regions.<r>` for the live slot,
`upgrade.regions.<r>` for the new one); the deploy goes the way `rayfleet serve
deploy` goes (artifacts uploaded, config rendered, PUT to the slot's dashboard,
wait until RUNNING), with its own deploy history per slot cluster.
"""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

from components.errors import RayfleetError
from serve_apps import deployer
from serve_apps.history import History
from serve_apps.targets import env_targets
from stacks.config import EnvironmentConfig
from stacks.outputs_model import RegionOutputs, StackOutputs


class ClusterSlotServe:
    def __init__(self, timeout_s: float = deployer.DEFAULT_TIMEOUT_S):
        self.timeout_s = timeout_s

    def deploy(self, cfg: EnvironmentConfig, region: str, outputs: RegionOutputs) -> None:
        (target,) = _targets(cfg, region, outputs, upload=True)
        assert target.rendered is not None
        deployer.deploy(
            target.dashboard,
            target.rendered.config,
            # Per slot cluster: `env_targets` keys the history by environment and region, which is the
            # live slot's; a new slot's deploys would become the live slot's rollback targets.
            history=History.for_target(_cluster_name(outputs, region)),
            # A new slot runs nothing yet; an old one being restored runs nothing else.
            confirm_removal=lambda names: False,
            timeout_s=self.timeout_s,
            note=f"upgrade: {outputs.cluster_name}",
        )

    def drain(self, region: str, outputs: RegionOutputs) -> None:
        if not outputs.dashboard_url:
            raise RayfleetError(f"the stack outputs lack dashboardUrl of the slot cluster in {region}")
        from serve_apps.dashboard import Dashboard
        from stacks.outputs import dashboard_token

        token = dashboard_token(outputs.dashboard_token_secret_arn, region) if outputs.dashboard_token_secret_arn else None
        Dashboard(outputs.dashboard_url, token).delete_applications()


def _cluster_name(outputs: RegionOutputs, region: str) -> str:
    if not outputs.cluster_name:
        raise RayfleetError(f"the stack outputs lack clusterName of the slot cluster in {region}")
    return outputs.cluster_name


def _targets(cfg: EnvironmentConfig, region: str, outputs: RegionOutputs, *, upload: bool):
    """The deployer's target for one slot cluster, through the same path as `rayfleet serve deploy`."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "outputs.json"
        path.write_text(json.dumps(StackOutputs(env=cfg.env, regions={region: outputs}).to_json()))
        return env_targets(cfg, region, path, upload=upload)
