"""The Ray cluster of one region: security groups, roles, launch templates, ASGs, head fault tolerance.

    from components.ray_cluster.component import RayCluster

The agents its nodes run live in `components.node_agents`.
"""
