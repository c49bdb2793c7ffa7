"""The node agents' Ray calls against a real local cluster: GCS membership and the preemption drain."""

from __future__ import annotations

import pytest

from components.drills.spot import LOOPBACK, local_ray_env
from components.node_agents.ray_membership import GcsMembership
from components.node_agents.spot_watcher import SPOT_INTERRUPTION, Notice, RayDrainer


@pytest.fixture(scope="module")
def cluster():
    from ray.cluster_utils import Cluster

    with local_ray_env():
        # The issue-4 development ports (GCS 6390, dashboard 8270): other local clusters keep theirs.
        c = Cluster(initialize_head=True, head_node_args={"gcs_server_port": 6390, "dashboard_port": 8270, **LOOPBACK})
        worker = c.add_node(num_cpus=1, **LOOPBACK)
        c.wait_for_nodes()
        try:
            yield c, worker
        finally:
            c.shutdown()


def test_gcs_membership_lists_the_joined_nodes(cluster):
    c, _ = cluster
    assert GcsMembership(c.address)() == {"127.0.0.1"}


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
