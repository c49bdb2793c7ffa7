"""The code that runs on cluster nodes, shipped to them whole as the node-agent package.

    python3 -m components.node_agents.spot_watcher --region us-east-1     # on every worker
    provider: {type: external, module: components.node_agents.node_provider.AsgNodeProvider}   # the head's autoscaler

Nodes have ray and boto3, nothing else of rayfleet's: these modules import the
standard library, boto3, ray and the core's `components.contract`, never pulumi
(import-linter holds this; `components.artifacts.plan.node_agent_files` zips
this package and the core modules it imports).
"""
