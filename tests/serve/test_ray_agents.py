"""The node agents' Ray calls against real local clusters: GCS membership and the preemption drain.

Membership reads the session cluster. The drain needs a worker node to drain, and the session
cluster is a single head that the other tests keep serving from: it gets a two-node cluster of its own.
"""

from __future__ import annotations

import pytest

from components.drills.spot import LOOPBACK, local_ray_env
from components.node_agents.ray_membership import GcsMembership
from components.node_agents.spot_watcher import SPOT_INTERRUPTION, Notice, RayDrainer


@pytest.fixture(scope="module")
def cluster():
    """A head and one worker, apart from the session cluster: draining takes a node out of service."""
    from ray.cluster_utils import Cluster

    with local_ray_env():
        # GCS 6390: other local clusters keep their ports. Nothing here reads the dashboard: none is started.
        c = Cluster(initialize_head=True, head_node_args={"gcs_server_port": 6390, "include_dashboard": False, **LOOPBACK})
        worker = c.add_node(num_cpus=1, **LOOPBACK)
        c.wait_for_nodes()
        try:
            yield c, worker
        finally:
            c.shutdown()


def test_gcs_membership_lists_the_joined_nodes(cluster_token):
    from cost.ray_state import fetch_snapshot

    # The head registers under this host's address, not the loopback it was given: ask Ray's state API which.
    nodes = fetch_snapshot(cluster_token.dashboard_url, cluster_token.token()).nodes
    joined = {node["node_ip"] for node in nodes if node["state"] == "ALIVE"}
    assert len(joined) == 1
    assert GcsMembership(cluster_token.gcs_address)() == joined


def test_the_watchers_drain_is_accepted_by_the_gcs(cluster):
    c, worker = cluster
    notice = Notice(SPOT_INTERRUPTION, 30, "spot terminate at test time")
    accepted, message = RayDrainer(c.address, worker.node_id)(notice, None, None)
    assert accepted, message
    assert _snapshot_state(c.address, worker.node_id) in ("DRAINING", "AUTOSCALER_DRAIN_PREEMPTED")
    assert _snapshot_state(c.address, c.head_node.node_id, wait=0) in ("IDLE", "ACTIVE")


def _snapshot_state(address: str, node_id: str, wait: float = 10) -> str:
    """DRAINING while the raylet is alive; an idle drained raylet exits: then its death reason."""
    import time

    import ray._raylet
    from ray.core.generated.common_pb2 import NodeDeathInfo
    from ray.core.generated.gcs_pb2 import GcsNodeInfo, NodeSnapshot

    client = ray._raylet.GcsClient(address=address)
    deadline = time.monotonic() + wait
    while True:  # the raylet reports its draining state on its next resource report
        info = next(i for nid, i in client.get_all_node_info(timeout=5).items() if nid.hex() == node_id)
        if info.state == GcsNodeInfo.GcsNodeState.DEAD:
            return NodeDeathInfo.Reason.Name(info.death_info.reason)
        state = NodeSnapshot.State.Name(info.state_snapshot.state)
        if state == "DRAINING" or time.monotonic() > deadline:
            return state
        time.sleep(0.2)
