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
#: Ray's Prometheus metrics on every node (`ray start --metrics-export-port`), scraped by the node's
#: CloudWatch agent on loopback only.
METRICS_EXPORT_PORT = 8080

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

# --- observability ------------------------------------------------------------


def metrics_namespace(env: str) -> str:
    """The CloudWatch namespace of one environment's metrics: every node's agent and the node agents write here.

    >>> metrics_namespace("prod")
    'Rayfleet/prod'
    """
    return f"Rayfleet/{env}"


#: The dimension naming the cluster a rayfleet metric belongs to: the cluster's name (CLUSTER_KEY's value).
CLUSTER_DIMENSION = "Cluster"
#: The dimension naming a worker group (its Ray node type).
NODE_GROUP_DIMENSION = "NodeGroup"
#: 1 while a worker group's spot demand runs on its on-demand twin, 0 once it is back on spot
#: (dimensions: CLUSTER_DIMENSION, NODE_GROUP_DIMENSION). The node provider publishes it on each change.
SPOT_FALLBACK_METRIC = "SpotFallbackActive"
#: 1 each time a node's boot fails and it marks its own instance unhealthy (dimension: CLUSTER_DIMENSION).
BOOT_FAILED_METRIC = "NodeBootFailed"
#: The Ray gauge (tag APPLICATION_LABEL) on which an application publishes the drift of its inputs: the
#: largest per-feature population stability index against its baseline.
DRIFT_GAUGE = "rayfleet_model_drift_psi"
#: The same gauge as Ray's Prometheus export names it (Ray prefixes application metrics with `ray_`),
#: and so as the CloudWatch agent ships it to the environment's namespace.
DRIFT_METRIC = f"ray_{DRIFT_GAUGE}"
APPLICATION_LABEL = "application"
