"""The contract between rayfleet's parts: names and numbers every layer must spell the same way.

    >>> Market.ON_DEMAND.value, str(Market.SPOT), HEAD_NODE_TYPE, DRAIN_HOOK
    ('on-demand', 'spot', 'head', 'rayfleet-drain')

The Pulumi components write these onto AWS (tags, hook names, ports), the node
agents read them back on the nodes, and the cost estimate, the deployer and the
tests use them to find what was written. Standard library only: the node agents
import this module on nodes that have nothing but ray and boto3.
"""

from __future__ import annotations

from enum import Enum

# --- tag keys -----------------------------------------------------------------

ENV_KEY = "rayfleet:env"
CLUSTER_KEY = "rayfleet:cluster"
COMPONENT_KEY = "rayfleet:component"
#: The Ray node type of an ASG and its instances: a worker group's name, or HEAD_NODE_TYPE.
NODE_TYPE_KEY = "rayfleet:node-type"
#: The market of an ASG and its instances: a `Market` value.
MARKET_KEY = "rayfleet:market"

#: The keys activated as cost-allocation tags, besides an environment's own cost tags.
COST_ALLOCATION_KEYS = (ENV_KEY, CLUSTER_KEY, COMPONENT_KEY)


class Market(str, Enum):
    """How an ASG buys its instances. A worker group has a spot ASG and its on-demand twin."""

    SPOT = "spot"
    ON_DEMAND = "on-demand"

    def __str__(self) -> str:  # f-strings and tags show the value on every Python version
        return self.value


# --- the cluster --------------------------------------------------------------

#: The Ray node type of the head (its ASG's `rayfleet:node-type`, the autoscaler's `head_node_type`).
HEAD_NODE_TYPE = "head"

#: The termination lifecycle hook on every worker ASG; the spot watcher completes it after draining.
DRAIN_HOOK = "rayfleet-drain"

GCS_PORT = 6379
DASHBOARD_PORT = 8265
#: Serve's HTTP proxy on every node: what the load balancer forwards to.
SERVE_PORT = 8000
REDIS_PORT = 6379

# --- serving ------------------------------------------------------------------

#: The route where every region answers whether it can serve each of its Serve applications:
#: 200 while it can, 503 naming those it cannot. Route 53 fails a region over on it.
REGION_HEALTH_ROUTE = "/-/region-health"
#: The Serve application behind that route, deployed beside the user's applications. A leading
#: underscore: no application name the config accepts can take it.
REGION_HEALTH_APP = "_region-health"
#: How old the status behind that route's answer may be, in seconds: Serve's controller is asked at
#: most this often, however many health checkers ask the route.
REGION_HEALTH_REFRESH_SECONDS = 2
