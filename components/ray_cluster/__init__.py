"""The Ray cluster: its Pulumi component, and the agents its nodes run (node provider, spot watcher).

Kept free of pulumi imports: cluster nodes import the agents with only ray and boto3 installed,
e.g. `python3 -m components.ray_cluster.spot_watcher --region us-east-1`.
"""
