#!/bin/bash
# rayfleet head node of rayfleet-prod-us-east-1.
# Rendered by components/ray_cluster/userdata.py; the launch template is rebuilt on `pulumi up`.
set -euo pipefail
exec > >(tee -a /var/log/rayfleet-boot.log) 2>&1
echo "rayfleet boot: $(date -u +%FT%TZ)"
export DEBIAN_FRONTEND=noninteractive
export AWS_DEFAULT_REGION=us-east-1

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

apt-get update -q
apt-get install -y -q python3-venv
id ray >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/ray --shell /usr/sbin/nologin ray
install -d -m 0755 /opt/rayfleet /opt/rayfleet/bin /opt/rayfleet/agents
install -d -m 0750 -o root -g ray /etc/rayfleet
python3 -m venv /opt/rayfleet/venv
/opt/rayfleet/venv/bin/pip install --quiet --upgrade pip
/opt/rayfleet/venv/bin/pip install --quiet 'ray[serve]==2.60.0' 'boto3>=1.34,<2'

# The node agents (node provider, spot watcher), from the region's artifact bucket.
/opt/rayfleet/venv/bin/python - <<'PY'
import io, zipfile, boto3
body = boto3.client("s3").get_object(Bucket="rayfleet-prod-us-east-1-0123456789ab", Key="node-agent/rayfleet-node-agent.zip")["Body"].read()
zipfile.ZipFile(io.BytesIO(body)).extractall("/opt/rayfleet/agents")
PY

# The dashboard token: created by the cluster's first head, read by every later one.
/opt/rayfleet/venv/bin/python - <<'PY'
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

# The Redis auth token, for GCS fault tolerance.
/opt/rayfleet/venv/bin/python - <<'PY'
import os, boto3
password = boto3.client("secretsmanager").get_secret_value(SecretId="arn:aws:secretsmanager:us-east-1:123456789012:secret:redis-auth-GhIjKl")["SecretString"]
fd = os.open("/etc/rayfleet/redis.env", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
with os.fdopen(fd, 'w') as handle:
    handle.write("REDIS_PASSWORD=" + password + "\n")
os.chown("/etc/rayfleet/redis.env", 0, __import__('grp').getgrnam('ray').gr_gid)
PY

# The stable head address: this head's private IP, in the VPC's private zone.
/opt/rayfleet/venv/bin/python - <<'PY'
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
RAYFLEET_EOF
chmod 0640 /etc/rayfleet/ray.env
chown root:ray /etc/rayfleet/ray.env

cat > /opt/rayfleet/bin/start-ray <<'RAYFLEET_EOF'
#!/bin/bash
set -euo pipefail
exec /opt/rayfleet/venv/bin/ray start --head \
  --block \
  --disable-usage-stats \
  --port=6379 \
  --dashboard-host=0.0.0.0 \
  --dashboard-port=8265 \
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
