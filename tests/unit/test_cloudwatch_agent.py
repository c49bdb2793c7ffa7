"""The CloudWatch agent's config: what each node ships, where, and under which names."""

from __future__ import annotations

import pytest

from components.contract import APPLICATION_LABEL, CLUSTER_DIMENSION, DRIFT_METRIC, NODE_GROUP_DIMENSION
from components.ray_cluster.cloudwatch_agent import (
    Shipping,
    agent_config,
    debian_arch,
    kept_metrics,
    log_files,
    package_urls,
    prometheus_config,
)

CPU = Shipping("rayfleet-prod-us-east-1", "cpu", "Rayfleet/prod", "/rayfleet/rayfleet-prod-us-east-1")
GPU = Shipping("rayfleet-prod-us-east-1", "gpu", "Rayfleet/prod", "/rayfleet/rayfleet-prod-us-east-1", gpus=True)


def test_serve_ray_and_boot_logs_go_to_the_clusters_log_group_one_stream_per_instance_and_file():
    files = log_files(agent_config(CPU))
    assert [f["file_path"] for f in files] == [
        "/tmp/ray/session_latest/logs/serve/*.log",
        "/tmp/ray/session_latest/logs/*.log",
        "/tmp/ray/session_latest/logs/*.out",
        "/tmp/ray/session_latest/logs/*.err",
        "/var/log/rayfleet-boot.log",
    ]
    for entry in files:
        assert entry["log_group_name"] == "/rayfleet/rayfleet-prod-us-east-1"
        # Without publish_multi_logs a glob ships only its newest file.
        assert entry["log_stream_name"] == "{instance_id}" and entry["publish_multi_logs"] is True
        assert "retention_in_days" not in entry  # the log group's retention is Pulumi's


def test_node_metrics_go_to_the_environments_namespace_by_cluster_and_node_group():
    metrics = agent_config(CPU)["metrics"]
    assert metrics["namespace"] == "Rayfleet/prod"
    assert set(metrics["metrics_collected"]) == {"cpu", "mem"}
    for plugin in metrics["metrics_collected"].values():
        assert plugin["append_dimensions"] == {CLUSTER_DIMENSION: CPU.cluster_id, NODE_GROUP_DIMENSION: "cpu"}
    assert [CLUSTER_DIMENSION] in metrics["aggregation_dimensions"]
    assert agent_config(CPU)["agent"]["omit_hostname"] is True


def test_only_gpu_groups_collect_nvidia_gpu_metrics():
    assert "nvidia_gpu" not in agent_config(CPU)["metrics"]["metrics_collected"]
    gpu = agent_config(GPU)["metrics"]["metrics_collected"]["nvidia_gpu"]
    assert "utilization_gpu" in gpu["measurement"]
    assert gpu["append_dimensions"][NODE_GROUP_DIMENSION] == "gpu"


def test_rays_metrics_keep_requests_errors_latency_replicas_queues_and_drift_per_application():
    prometheus = agent_config(CPU)["logs"]["metrics_collected"]["prometheus"]
    assert prometheus["log_group_name"] == CPU.log_group
    emf = prometheus["emf_processor"]
    assert emf["metric_namespace"] == "Rayfleet/prod"
    (declaration,) = emf["metric_declaration"]
    assert declaration["dimensions"] == [[CLUSTER_DIMENSION, APPLICATION_LABEL]]
    assert kept_metrics(agent_config(CPU)) == [
        "ray_serve_deployment_request_counter_total",
        "ray_serve_deployment_error_counter_total",
        "ray_serve_deployment_max_processing_latency_ms",
        "ray_serve_deployment_replica_healthy",
        "ray_serve_autoscaling_target_replicas",
        "ray_serve_replica_processing_queries",
        "ray_serve_deployment_queued_queries",
        DRIFT_METRIC,
    ]


def test_the_scrape_labels_rays_metrics_with_the_cluster_and_node_group():
    scrape = prometheus_config(CPU)
    assert "  - job_name: ray\n" in scrape
    assert '          Cluster: "rayfleet-prod-us-east-1"\n          NodeGroup: "cpu"\n' in scrape


def test_the_package_comes_from_the_regions_bucket_and_the_key_from_where_aws_documents_it():
    urls = package_urls("eu-west-1", "arm64")
    # AWS documents the signing key in the global bucket only; the regional buckets hold the packages.
    assert urls == {
        "deb": "https://amazoncloudwatch-agent-eu-west-1.s3.eu-west-1.amazonaws.com/ubuntu/arm64/latest/amazon-cloudwatch-agent.deb",
        "sig": "https://amazoncloudwatch-agent-eu-west-1.s3.eu-west-1.amazonaws.com/ubuntu/arm64/latest/amazon-cloudwatch-agent.deb.sig",
        "key": "https://amazoncloudwatch-agent.s3.amazonaws.com/assets/amazon-cloudwatch-agent.gpg",
    }
    assert debian_arch(["m6i.large", "g5.xlarge"]) == "amd64"


def test_a_group_whose_types_differ_in_architecture_is_refused(monkeypatch):
    from components.ray_cluster import cloudwatch_agent

    arches = {"m7g.large": "arm64", "m6i.large": "x86_64"}
    monkeypatch.setattr(cloudwatch_agent, "instance_type", lambda name: type("T", (), {"arch": arches[name]}))
    with pytest.raises(ValueError, match="must share one architecture, got arm64, x86_64"):
        debian_arch(["m7g.large", "m6i.large"])
    assert debian_arch(["m7g.large"]) == "arm64"
