"""What leaves every node: the Amazon CloudWatch agent's config, its package and the IAM actions it calls.

    >>> config = agent_config(Shipping("rayfleet-dev-us-west-2", "cpu", "Rayfleet/dev", "/rayfleet/x/nodes"))
    >>> [entry["file_path"] for entry in log_files(config)][:2]
    ['/tmp/ray/session_latest/logs/serve/*.log', '/tmp/ray/session_latest/logs/*.log']

Logs go to the cluster's log group, one stream per instance and file: Serve's
logs (the applications' JSON request logs, the controller's and the proxies'),
Ray's own logs, and the boot log. Metrics go to the environment's namespace with
the cluster's name as a dimension: node CPU and memory (GPU on GPU groups) by
PutMetricData, and Ray's Prometheus endpoint, scraped on loopback, as embedded
metric format in the log group, filtered by a metric declaration that keeps what
the alarms and the dashboard read.

Pure: no pulumi, boto3 or ray; the user data writes what these functions return.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Iterable

from components.catalog import instance_type
from components.contract import APPLICATION_LABEL, CLUSTER_DIMENSION, DRIFT_METRIC, METRICS_EXPORT_PORT, NODE_GROUP_DIMENSION

#: Ray's log directory on a node: the `ray` user's default temp dir, through the symlink Ray moves
#: to each new session.
RAY_LOGS = "/tmp/ray/session_latest/logs"
#: Where the user data writes the agent's config files (readable by root, which runs the agent).
AGENT_CONFIG_PATH = "/etc/rayfleet/cloudwatch-agent.json"
PROMETHEUS_CONFIG_PATH = "/etc/rayfleet/cloudwatch-prometheus.yaml"
#: The scrape job of Ray's endpoint: the metric declaration matches its metrics by this `job` label.
SCRAPE_JOB = "ray"
#: Seconds between scrapes and between node metric samples.
INTERVAL_SECONDS = 60

#: The Prometheus names Ray 2.60 exports for what the alarms and the dashboard read. Replica-side
#: metrics (serve/_private/replica.py; the controller's deployment_state.py) exist whatever the
#: ingress: Serve's proxy or HAProxy. The agent drops Prometheus histograms (it converts counters,
#: gauges and summaries only), so latency is the replicas' rolling maximum; the load balancer's target
#: response time gives p99. Ray exports a gauge only for twice its report interval after it was last
#: set, so the activity gauges are absent while a deployment is idle, and the healthy count between
#: the controller's updates of it: the target count is always there.
KEPT_METRICS = (
    "ray_serve_deployment_request_counter_total",  # request rate, per replica, by route
    "ray_serve_deployment_error_counter_total",  # exceptions raised in replicas
    "ray_serve_deployment_max_processing_latency_ms",  # latency: the largest over the last window
    "ray_serve_deployment_replica_healthy",  # replicas that passed their health check
    "ray_serve_autoscaling_target_replicas",  # replicas the controller is bringing up
    "ray_serve_replica_processing_queries",  # queue length at the replicas
    "ray_serve_deployment_queued_queries",  # queue length at the handles, before a replica takes it
    DRIFT_METRIC,
)

#: Debian's names for the architectures the instance catalog names.
DEBIAN_ARCH = {"x86_64": "amd64", "arm64": "arm64"}
#: The key AWS signs the agent's packages with ("Verifying the signature of the CloudWatch agent package").
SIGNING_KEY_FINGERPRINT = "937616F3450B7D806CBD9725D58167303B789C72"
#: Where that page has the key: in the global bucket, not in the regional ones that hold the packages.
SIGNING_KEY_URL = "https://amazoncloudwatch-agent.s3.amazonaws.com/assets/amazon-cloudwatch-agent.gpg"

#: What the agent calls, with the reason: composed into both node roles by `permissions.py`.
PERMISSIONS = (
    ("logs:CreateLogStream", "the CloudWatch agent opens one stream per instance and log file"),
    ("logs:PutLogEvents", "the CloudWatch agent ships logs and Ray's metrics (embedded metric format)"),
    ("logs:DescribeLogStreams", "the CloudWatch agent finds the streams it already writes"),
    ("cloudwatch:PutMetricData", "the CloudWatch agent publishes node CPU, memory and GPU metrics"),
)


@dataclass(frozen=True)
class Shipping:
    """Where one node group's agent ships to, and what it reads."""

    cluster_id: str
    #: The Ray node type: `head` or a worker group's name.
    node_type: str
    #: `contract.metrics_namespace(env)`.
    namespace: str
    log_group: str
    gpus: bool = False
    ray_logs: str = RAY_LOGS
    boot_log: str = "/var/log/rayfleet-boot.log"
    metrics_port: int = METRICS_EXPORT_PORT


def agent_config(s: Shipping) -> dict[str, Any]:
    """The agent's JSON config (amazon-cloudwatch-agent-ctl -a fetch-config)."""
    return {
        # No `host` dimension: every metric is the cluster's, by CLUSTER_DIMENSION.
        "agent": {"metrics_collection_interval": INTERVAL_SECONDS, "omit_hostname": True},
        "metrics": _node_metrics(s),
        "logs": {
            "logs_collected": {"files": {"collect_list": _log_files(s)}},
            "metrics_collected": {"prometheus": _prometheus(s)},
            "force_flush_interval": 15,
        },
    }


def _dimensions(s: Shipping) -> dict[str, str]:
    return {CLUSTER_DIMENSION: s.cluster_id, NODE_GROUP_DIMENSION: s.node_type}


def _node_metrics(s: Shipping) -> dict[str, Any]:
    dimensions = _dimensions(s)
    collected: dict[str, Any] = {
        "cpu": {"measurement": ["usage_active"], "totalcpu": True, "append_dimensions": dimensions},
        "mem": {"measurement": ["used_percent"], "append_dimensions": dimensions},
    }
    if s.gpus:
        collected["nvidia_gpu"] = {
            "measurement": ["utilization_gpu", "utilization_memory", "memory_used"],
            "append_dimensions": dimensions,
        }
    return {
        "namespace": s.namespace,
        "metrics_collected": collected,
        # Per node group and for the whole cluster, whatever the per-core or per-GPU labels.
        "aggregation_dimensions": [[CLUSTER_DIMENSION, NODE_GROUP_DIMENSION], [CLUSTER_DIMENSION]],
    }


def _log_files(s: Shipping) -> list[dict[str, Any]]:
    # Ray's own daemons write .log, .out (raylet, GCS) and .err; workers' .out/.err are the replicas' stdio.
    globs = (f"{s.ray_logs}/serve/*.log", f"{s.ray_logs}/*.log", f"{s.ray_logs}/*.out", f"{s.ray_logs}/*.err", s.boot_log)
    # With a glob the agent ships only the newest matching file unless publish_multi_logs is set;
    # with it, each file gets its own stream: "<instance id>_<path with / as _>".
    return [
        {"file_path": path, "log_group_name": s.log_group, "log_stream_name": "{instance_id}", "publish_multi_logs": True}
        for path in globs
    ]


def _prometheus(s: Shipping) -> dict[str, Any]:
    return {
        "cluster_name": s.cluster_id,
        "log_group_name": s.log_group,
        "prometheus_config_path": PROMETHEUS_CONFIG_PATH,
        "emf_processor": {
            "metric_namespace": s.namespace,
            "metric_declaration_dedup": True,
            "metric_declaration": [
                {
                    "source_labels": ["job"],
                    "label_matcher": f"^{SCRAPE_JOB}$",
                    "dimensions": [[CLUSTER_DIMENSION, APPLICATION_LABEL]],
                    "metric_selectors": [f"^{name}$" for name in KEPT_METRICS],
                }
            ],
        },
    }


def prometheus_config(s: Shipping) -> str:
    """The agent's Prometheus scrape config (YAML): this node's Ray metrics endpoint, labelled with the
    cluster and node group so they can be dimensions."""
    labels = "".join(f"          {key}: {json.dumps(value)}\n" for key, value in _dimensions(s).items())
    return f"""global:
  scrape_interval: {INTERVAL_SECONDS}s
  scrape_timeout: 10s
scrape_configs:
  - job_name: {SCRAPE_JOB}
    static_configs:
      - targets: ["127.0.0.1:{s.metrics_port}"]
        labels:
{labels}"""


def metrics_url(s: Shipping) -> str:
    return f"http://127.0.0.1:{s.metrics_port}/metrics"


def log_files(config: dict[str, Any]) -> list[dict[str, Any]]:
    """The file entries of a rendered agent config."""
    return config["logs"]["logs_collected"]["files"]["collect_list"]


def kept_metrics(config: dict[str, Any]) -> list[str]:
    """The metric names a rendered config's metric declaration keeps (its selectors, unanchored)."""
    declarations = config["logs"]["metrics_collected"]["prometheus"]["emf_processor"]["metric_declaration"]
    return [selector.strip("^$") for d in declarations for selector in d["metric_selectors"]]


def debian_arch(instance_types: Iterable[str]) -> str:
    """The Debian architecture of a node group's instance types, which one launch template's image must share.

    >>> debian_arch(["m6i.large", "m7i.large"])
    'amd64'
    """
    arches = {instance_type(name).arch for name in instance_types}
    if len(arches) != 1:
        raise ValueError(f"a node group's instance types must share one architecture, got {', '.join(sorted(arches))}")
    (arch,) = arches
    return DEBIAN_ARCH[arch]


def package_urls(region: str, arch: str) -> dict[str, str]:
    """AWS's regional download of the agent for Ubuntu, the package and its signature, and the signing key."""
    base = f"https://amazoncloudwatch-agent-{region}.s3.{region}.amazonaws.com"
    deb = f"{base}/ubuntu/{arch}/latest/amazon-cloudwatch-agent.deb"
    return {"deb": deb, "sig": f"{deb}.sig", "key": SIGNING_KEY_URL}
