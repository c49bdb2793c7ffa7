#!/bin/bash
# rayfleet gpu node of rayfleet-prod-us-east-1.
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
# GPU nodes: NVIDIA's server driver from Ubuntu's archive, unless the image already has one.
if ! command -v nvidia-smi >/dev/null 2>&1; then
  apt-get install -y -q ubuntu-drivers-common
  ubuntu-drivers install --gpgpu
  modprobe nvidia || true
fi
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

# The dashboard token (Ray token auth): written by the head on the cluster's first boot.
/opt/rayfleet/venv/bin/python - <<'PY'
import os, time, boto3
client = boto3.client("secretsmanager")
for attempt in range(90):
    try:
        token = client.get_secret_value(SecretId="arn:aws:secretsmanager:us-east-1:123456789012:secret:dashboard-token-AbCdEf")["SecretString"]
        break
    except client.exceptions.ResourceNotFoundException:
        time.sleep(10)
else:
    raise SystemExit("the head has not created the dashboard token after 15 minutes")
fd = os.open("/etc/rayfleet/auth_token", os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)
with os.fdopen(fd, 'w') as handle:
    handle.write(token)
os.chown("/etc/rayfleet/auth_token", 0, __import__('grp').getgrnam('ray').gr_gid)
PY

cat > /etc/rayfleet/ray.env <<'RAYFLEET_EOF'
HOME=/var/lib/ray
PATH=/opt/rayfleet/venv/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
PYTHONPATH=/opt/rayfleet/agents
AWS_DEFAULT_REGION=us-east-1
RAY_AUTH_MODE=token
RAY_AUTH_TOKEN_PATH=/etc/rayfleet/auth_token
RAY_gcs_rpc_server_reconnect_timeout_s=600
RAYFLEET_EOF
chmod 0640 /etc/rayfleet/ray.env
chown root:ray /etc/rayfleet/ray.env

cat > /opt/rayfleet/bin/start-ray <<'RAYFLEET_EOF'
#!/bin/bash
set -euo pipefail
for attempt in $(seq 1 60); do getent hosts head.rayfleet-prod-us-east-1.rayfleet.internal >/dev/null && break; sleep 10; done
exec /opt/rayfleet/venv/bin/ray start \
  --block \
  --disable-usage-stats \
  --address=head.rayfleet-prod-us-east-1.rayfleet.internal:6379 \
  --resources='{"video_slots":2}'
RAYFLEET_EOF
chmod 0755 /opt/rayfleet/bin/start-ray

cat > /etc/systemd/system/ray.service <<'RAYFLEET_EOF'
[Unit]
Description=Ray worker (gpu) of rayfleet-prod-us-east-1
Wants=network-online.target
After=network-online.target

[Service]
User=ray
Group=ray
EnvironmentFile=/etc/rayfleet/ray.env
WorkingDirectory=/opt/rayfleet/agents
ExecStart=/opt/rayfleet/bin/start-ray
Restart=always
RestartSec=10
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
RAYFLEET_EOF
chmod 0644 /etc/systemd/system/ray.service

cat > /etc/systemd/system/rayfleet-spot-watcher.service <<'RAYFLEET_EOF'
[Unit]
Description=rayfleet spot-interruption watcher (drains this node on notice)
Wants=network-online.target
After=ray.service

[Service]
User=ray
Group=ray
EnvironmentFile=/etc/rayfleet/ray.env
WorkingDirectory=/opt/rayfleet/agents
ExecStart=/opt/rayfleet/venv/bin/python3 -m components.node_agents.spot_watcher --region us-east-1
Restart=always
RestartSec=10
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
RAYFLEET_EOF
chmod 0644 /etc/systemd/system/rayfleet-spot-watcher.service

systemctl daemon-reload
systemctl enable --now ray.service rayfleet-spot-watcher.service
