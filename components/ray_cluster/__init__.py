"""The Ray cluster of one region, and the agents its nodes run.

Kept light on purpose: cluster nodes import the node agents
(`components.ray_cluster.node_provider`, `components.ray_cluster.spot_watcher`)
with only ray and boto3 installed, so nothing here may import pulumi. The
Pulumi component lives in `components.ray_cluster.component`:

    from components.ray_cluster.component import RayCluster
"""
