"""User data of the cluster's nodes: a bash script that installs Ray and starts it under systemd.

    >>> script = render_worker(NodeBoot(cluster_id="rayfleet-dev-us-west-2", region="us-west-2",
    ...                                 node_type="cpu", ray_version="2.60.0", ...))
    >>> "ray start --block --address=head.rayfleet-dev-us-west-2.rayfleet.internal:6379" in script
    True

Every node: a Python venv with the pinned `ray[serve]` and boto3, the node
agents unpacked from the region's artifact bucket onto PYTHONPATH, the
cluster's dashboard token (Ray token auth for the dashboard and for joining),
Ray running as the unprivileged `ray` user under systemd (restarted if it dies).

The head also generates the token on the cluster's first boot (the secret has
no value until then, so the token never passes through Pulumi), publishes its
private IP as the stable head address in the VPC's private zone, writes the
autoscaler config and runs `ray start --head` with the autoscaler; with head
fault tolerance, GCS state goes to ElastiCache Redis over TLS. Workers wait for
the head address, run `ray start --address=<head>:6379` with their group's
custom resources, and run the spot-interruption watcher.

Pure: the same inputs give the same script (snapshot-tested).
"""

from __future__ import annotations

import json
import shlex
from dataclasses import dataclass, field

from components.ray_cluster.plan import DASHBOARD_PORT, GCS_PORT, HEAD_NODE_TYPE

VENV = "/opt/rayfleet/venv"
AGENTS = "/opt/rayfleet/agents"
CONF = "/etc/rayfleet"
TOKEN_PATH = f"{CONF}/auth_token"
AUTOSCALER_CONFIG_PATH = f"{CONF}/autoscaler.yaml"
#: Ubuntu's CA bundle, which holds the roots ElastiCache's TLS certificates chain to.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
#: How long raylets wait for a replaced head's GCS before giving up (a new head takes a few minutes).
GCS_RECONNECT_TIMEOUT_S = 600
#: Seconds, in DNS, of the head address record (short: a replaced head moves it).
HEAD_RECORD_TTL = 10

#: The IAM actions the boot steps' boto3 calls need, with the reason: plain data, composed into
#: the node roles by `permissions.py` (tests check them against the calls in the rendered scripts).
_FETCH_AGENTS = (("s3:GetObject", "fetch the node agents from the region's artifact bucket"),)
HEAD_BOOT_PERMISSIONS = _FETCH_AGENTS + (
    ("secretsmanager:GetSecretValue", "read the dashboard token (and, with GCS fault tolerance, the Redis AUTH token)"),
    ("secretsmanager:PutSecretValue", "the cluster's first head creates the dashboard token"),
    ("route53:ChangeResourceRecordSets", "publish this head's private IP as the stable head address"),
    ("route53:GetChange", "wait until the head address is live before starting Ray"),
)
WORKER_BOOT_PERMISSIONS = _FETCH_AGENTS + (
    ("secretsmanager:GetSecretValue", "read the dashboard token that lets this node join"),
)


@dataclass(frozen=True)
class RedisBoot:
    """Where the head keeps GCS state when head fault tolerance is on."""

    endpoint: str
    port: int
    auth_secret_arn: str


@dataclass(frozen=True)
class NodeBoot:
    """Everything a node's user data needs, resolved to plain values."""

    cluster_id: str
    region: str
    #: `head`, or the worker group's name.
    node_type: str
    ray_version: str
    artifact_bucket: str
    agent_key: str
    dashboard_token_secret_arn: str
    #: The stable DNS name of the head ('head.<cluster>.rayfleet.internal').
    head_address: str
    #: Install NVIDIA's driver unless the image has one.
    gpus: bool = False
    #: Custom Ray resources of a worker group (CPU, GPU and memory Ray detects itself).
    resources: dict[str, int] = field(default_factory=dict)
    #: Head only: the private hosted zone the head publishes its address in.
    hosted_zone_id: str | None = None
    #: Head only: the autoscaler config YAML.
    autoscaler_yaml: str | None = None
    #: Head only, with head fault tolerance.
    redis: RedisBoot | None = None
    #: Fault tolerance is on: raylets wait longer for a replaced head.
    gcs_fault_tolerance: bool = False


def render_head(boot: NodeBoot) -> str:
    if boot.node_type != HEAD_NODE_TYPE or boot.hosted_zone_id is None or boot.autoscaler_yaml is None:
        raise ValueError("a head needs node_type 'head', hosted_zone_id and autoscaler_yaml")
    parts = [
        _preamble(boot),
        _hide_other_users_processes(),
        _install(boot),
        _fetch_token_or_create(boot),
        _redis_password(boot) if boot.redis else "",
        _publish_head_address(boot),
        _write_file(AUTOSCALER_CONFIG_PATH, boot.autoscaler_yaml, mode="0640"),
        _env_file(boot),
        _start_script(_head_command(boot)),
        _unit("ray", f"Ray head of {boot.cluster_id}", "/opt/rayfleet/bin/start-ray", redis=boot.redis is not None),
        "systemctl daemon-reload\nsystemctl enable --now ray.service\n",
    ]
    return "".join(p for p in parts if p)


def render_worker(boot: NodeBoot) -> str:
    if boot.node_type == HEAD_NODE_TYPE:
        raise ValueError("render_worker renders worker groups; use render_head for the head")
    watcher = f"{VENV}/bin/python3 -m components.node_agents.spot_watcher --region {boot.region}"
    parts = [
        _preamble(boot),
        _hide_other_users_processes(),
        _install(boot),
        _wait_for_token(boot),
        _env_file(boot),
        _start_script(_worker_command(boot), wait_for=boot.head_address),
        _unit("ray", f"Ray worker ({boot.node_type}) of {boot.cluster_id}", "/opt/rayfleet/bin/start-ray"),
        _unit(
            "rayfleet-spot-watcher",
            "rayfleet spot-interruption watcher (drains this node on notice)",
            watcher,
            after="ray.service",
        ),
        "systemctl daemon-reload\nsystemctl enable --now ray.service rayfleet-spot-watcher.service\n",
    ]
    return "".join(p for p in parts if p)


# --- the pieces, in boot order --------------------------------------------------


def _preamble(boot: NodeBoot) -> str:
    return f"""#!/bin/bash
# rayfleet {boot.node_type} node of {boot.cluster_id}.
# Rendered by components/ray_cluster/userdata.py; the launch template is rebuilt on `pulumi up`.
set -euo pipefail
exec > >(tee -a /var/log/rayfleet-boot.log) 2>&1
echo "rayfleet boot: $(date -u +%FT%TZ)"
export DEBIAN_FRONTEND=noninteractive
export AWS_DEFAULT_REGION={shlex.quote(boot.region)}

"""


#: /proc shows each user only their own processes (proc(5)); root is unaffected.
PROC_MOUNT_OPTIONS = "hidepid=invisible"
PROC_FSTAB_LINE = f"proc /proc proc defaults,{PROC_MOUNT_OPTIONS} 0 0"


#: systemd (root) answers GetUnitProcesses with every process's command line to any caller
#: (`systemctl status ray`), around hidepid: only root may ask.
UNIT_PROCESSES_DBUS_POLICY = """<?xml version="1.0"?>
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
"""


def _hide_other_users_processes() -> str:
    # Ray 2.60 passes the Redis AUTH token on gcs_server's command line, and /proc/<pid>/cmdline
    # is world-readable by default. systemd's ProtectProc= cannot help: it changes only the
    # unit's own view of /proc. The host-wide mount hides Ray's processes from every other
    # non-root user; fstab keeps it across reboots (systemd-remount-fs applies /proc's options).
    return (
        f"""# Other local users cannot read Ray's command lines (secrets on argv: the GCS store's AUTH token).
grep -q '^proc /proc proc .*{PROC_MOUNT_OPTIONS}' /etc/fstab || echo '{PROC_FSTAB_LINE}' >> /etc/fstab
mount -o remount,{PROC_MOUNT_OPTIONS} /proc
"""
        + _write_file("/etc/dbus-1/system.d/rayfleet-unit-processes.conf", UNIT_PROCESSES_DBUS_POLICY, mode="0644")
        + "systemctl reload dbus\n\n"
    )


def _install(boot: NodeBoot) -> str:
    gpu = (
        """# GPU nodes: NVIDIA's server driver from Ubuntu's archive, unless the image already has one.
if ! command -v nvidia-smi >/dev/null 2>&1; then
  apt-get install -y -q ubuntu-drivers-common
  ubuntu-drivers install --gpgpu
  modprobe nvidia || true
fi
"""
        if boot.gpus
        else ""
    )
    fetch = _python(
        f"""import io, zipfile, boto3
body = boto3.client("s3").get_object(Bucket={json.dumps(boot.artifact_bucket)}, Key={json.dumps(boot.agent_key)})["Body"].read()
zipfile.ZipFile(io.BytesIO(body)).extractall({json.dumps(AGENTS)})"""
    )
    return f"""apt-get update -q
apt-get install -y -q python3-venv
{gpu}id ray >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/ray --shell /usr/sbin/nologin ray
install -d -m 0755 /opt/rayfleet /opt/rayfleet/bin {AGENTS}
install -d -m 0750 -o root -g ray {CONF}
python3 -m venv {VENV}
{VENV}/bin/pip install --quiet --upgrade pip
{VENV}/bin/pip install --quiet {shlex.quote(f"ray[serve]=={boot.ray_version}")} 'boto3>=1.34,<2'

# The node agents (node provider, spot watcher), from the region's artifact bucket.
{fetch}"""


def _fetch_token_or_create(boot: NodeBoot) -> str:
    return "# The dashboard token: created by the cluster's first head, read by every later one.\n" + _python(
        f"""import os, secrets, boto3
client = boto3.client("secretsmanager")
arn = {json.dumps(boot.dashboard_token_secret_arn)}
try:
    token = client.get_secret_value(SecretId=arn)["SecretString"]
except client.exceptions.ResourceNotFoundException:
    token = secrets.token_hex(32)  # what `ray get-auth-token --generate` makes
    client.put_secret_value(SecretId=arn, SecretString=token)
{_write_secret_py(TOKEN_PATH, "token")}"""
    )


def _wait_for_token(boot: NodeBoot) -> str:
    return "# The dashboard token (Ray token auth): written by the head on the cluster's first boot.\n" + _python(
        f"""import os, time, boto3
client = boto3.client("secretsmanager")
for attempt in range(90):
    try:
        token = client.get_secret_value(SecretId={json.dumps(boot.dashboard_token_secret_arn)})["SecretString"]
        break
    except client.exceptions.ResourceNotFoundException:
        time.sleep(10)
else:
    raise SystemExit("the head has not created the dashboard token after 15 minutes")
{_write_secret_py(TOKEN_PATH, "token")}"""
    )


def _redis_password(boot: NodeBoot) -> str:
    assert boot.redis is not None
    write = _write_secret_py(f"{CONF}/redis.env", '"REDIS_PASSWORD=" + password + "\\n"')
    return "# The Redis auth token, for GCS fault tolerance.\n" + _python(
        f"""import os, boto3
password = boto3.client("secretsmanager").get_secret_value(SecretId={json.dumps(boot.redis.auth_secret_arn)})["SecretString"]
{write}"""
    )


def _publish_head_address(boot: NodeBoot) -> str:
    return "# The stable head address: this head's private IP, in the VPC's private zone.\n" + _python(
        f"""import urllib.request, boto3
def imds(path):
    put = urllib.request.Request("http://169.254.169.254/latest/api/token", method="PUT",
                                 headers={{"X-aws-ec2-metadata-token-ttl-seconds": "60"}})
    token = urllib.request.urlopen(put, timeout=5).read().decode()
    get = urllib.request.Request("http://169.254.169.254/latest/meta-data/" + path,
                                 headers={{"X-aws-ec2-metadata-token": token}})
    return urllib.request.urlopen(get, timeout=5).read().decode()
route53 = boto3.client("route53")
change = route53.change_resource_record_sets(
    HostedZoneId={json.dumps(boot.hosted_zone_id)},
    ChangeBatch={{"Comment": "rayfleet head boot", "Changes": [{{"Action": "UPSERT", "ResourceRecordSet": {{
        "Name": {json.dumps(boot.head_address)}, "Type": "A", "TTL": {HEAD_RECORD_TTL},
        "ResourceRecords": [{{"Value": imds("local-ipv4")}}]}}}}]}},
)
route53.get_waiter("resource_record_sets_changed").wait(
    Id=change["ChangeInfo"]["Id"], WaiterConfig={{"Delay": 5, "MaxAttempts": 60}})"""
    )


def _env_file(boot: NodeBoot) -> str:
    env = {
        "HOME": "/var/lib/ray",
        # The agents call the venv's `ray` CLI (drain-node) as well as its Python.
        "PATH": f"{VENV}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "PYTHONPATH": AGENTS,
        "AWS_DEFAULT_REGION": boot.region,
        # Ray token auth: the dashboard and every gRPC call between nodes need the cluster's token.
        "RAY_AUTH_MODE": "token",
        "RAY_AUTH_TOKEN_PATH": TOKEN_PATH,
    }
    if boot.redis:
        env.update(
            {
                "RAY_REDIS_ADDRESS": f"rediss://{boot.redis.endpoint}:{boot.redis.port}",
                "RAY_REDIS_CA_CERT": CA_BUNDLE,
                "RAY_external_storage_namespace": boot.cluster_id,
            }
        )
    if boot.gcs_fault_tolerance:
        env["RAY_gcs_rpc_server_reconnect_timeout_s"] = str(GCS_RECONNECT_TIMEOUT_S)
    body = "".join(f"{key}={value}\n" for key, value in env.items())
    return _write_file(f"{CONF}/ray.env", body, mode="0640")


def _head_command(boot: NodeBoot) -> list[str]:
    command = [
        f"{VENV}/bin/ray start --head",
        "--block",
        "--disable-usage-stats",
        f"--port={GCS_PORT}",
        "--dashboard-host=0.0.0.0",
        f"--dashboard-port={DASHBOARD_PORT}",
        # Replicas and tasks run on workers; the head keeps the GCS, autoscaler, dashboard and a proxy.
        "--num-cpus=0",
        f"--autoscaling-config={AUTOSCALER_CONFIG_PATH}",
    ]
    if boot.redis:
        command.append('--redis-password="$REDIS_PASSWORD"')
    return command


def _worker_command(boot: NodeBoot) -> list[str]:
    command = [
        f"{VENV}/bin/ray start",
        "--block",
        "--disable-usage-stats",
        f"--address={boot.head_address}:{GCS_PORT}",
    ]
    if boot.resources:
        command.append("--resources=" + shlex.quote(json.dumps(boot.resources, separators=(",", ":"))))
    return command


def _start_script(command: list[str], *, wait_for: str | None = None) -> str:
    body = "#!/bin/bash\nset -euo pipefail\n"
    if wait_for:
        # Bounded wait for the head's address; systemd restarts this script if the head is still away.
        body += f"for attempt in $(seq 1 60); do getent hosts {wait_for} >/dev/null && break; sleep 10; done\n"
    body += "exec " + " \\\n  ".join(command) + "\n"
    return _write_file("/opt/rayfleet/bin/start-ray", body, mode="0755")


def _unit(name: str, description: str, exec_start: str, *, after: str = "network-online.target", redis=False) -> str:
    environment = f"EnvironmentFile={CONF}/ray.env\n" + (f"EnvironmentFile={CONF}/redis.env\n" if redis else "")
    body = f"""[Unit]
Description={description}
Wants=network-online.target
After={after}

[Service]
User=ray
Group=ray
{environment}WorkingDirectory={AGENTS}
ExecStart={exec_start}
Restart=always
RestartSec=10
LimitNOFILE=65536

[Install]
WantedBy=multi-user.target
"""
    return _write_file(f"/etc/systemd/system/{name}.service", body, mode="0644")


# --- helpers ------------------------------------------------------------------


def _python(code: str) -> str:
    """Run `code` with the venv's Python; the quoted heredoc keeps bash from expanding anything in it."""
    return f"{VENV}/bin/python - <<'PY'\n{code}\nPY\n\n"


def _write_secret_py(path: str, expression: str) -> str:
    """Python lines that write a secret readable by root and the ray group only, never world-readable."""
    return (
        f"fd = os.open({json.dumps(path)}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)\n"
        f"with os.fdopen(fd, 'w') as handle:\n"
        f"    handle.write({expression})\n"
        f"os.chown({json.dumps(path)}, 0, __import__('grp').getgrnam('ray').gr_gid)"
    )


def _write_file(path: str, content: str, *, mode: str) -> str:
    marker = "RAYFLEET_EOF"
    if marker in content:
        raise ValueError(f"{path}: content may not contain the heredoc marker {marker}")
    if not content.endswith("\n"):
        content += "\n"
    # Config under /etc/rayfleet is readable by Ray (group ray), never by other users.
    owner = f"chown root:ray {path}\n" if path.startswith(CONF + "/") else ""
    return f"cat > {path} <<'{marker}'\n{content}{marker}\nchmod {mode} {path}\n{owner}\n"
