"""Which nodes have joined the Ray cluster: the GCS node table, as the node provider needs it.

    alive = GcsMembership("10.10.1.5:6379")()   # {'10.10.1.7', 'i-0abc...', ...} or None if unknown

The provider reports a node `up-to-date` only once its raylet is ALIVE here, matched by private IP
(`node_manager_address`) or by EC2 instance id (`RAY_CLOUD_INSTANCE_ID`, which Ray records as the
node's `instance_id`). It reads the table with the GCS client the `ray` CLI uses, so the monitor
process needs no `ray.init`.
"""

from __future__ import annotations

import logging
from typing import Callable

log = logging.getLogger(__name__)

#: Returns the identifiers (private IPs and instance ids) of the nodes alive in Ray, or None if unknown.
Membership = Callable[[], "set[str] | None"]


class GcsMembership:
    """The GCS node table, read with the same client the `ray` CLI uses (no `ray.init` needed)."""

    def __init__(self, address: str | None = None):
        self._address = address
        self._client = None

    def __call__(self) -> set[str] | None:
        try:
            import ray._raylet
            from ray._private import services
            from ray.core.generated.gcs_pb2 import GcsNodeInfo

            if self._client is None:
                # An explicit address is used as given (Ray would rewrite 127.0.0.1 to the host's IP).
                address = self._address or services.canonicalize_bootstrap_address(None)
                if address is None:
                    return None
                self._client = ray._raylet.GcsClient(address=address)
            nodes = self._client.get_all_node_info(timeout=5, state_filter=GcsNodeInfo.GcsNodeState.ALIVE)
        except Exception as err:  # noqa: BLE001 - an unreachable GCS means "unknown", not a crash
            log.warning("cannot read Ray's node table: %s", err)
            self._client = None
            return None
        alive: set[str] = set()
        for info in nodes.values():
            alive.add(info.node_manager_address)
            if info.instance_id:
                alive.add(info.instance_id)
        return alive
