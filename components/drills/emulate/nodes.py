"""Emulated nodes: each instance an Auto Scaling group launches in moto runs its user data, as written, on this machine.

    with node_runner(server, plane, net, run_dir) as runner:    # polls moto every second
        runner.wait_for(lambda r: bool(r.nodes_of("head")), 60, "the head's instance")
        head = runner.nodes_of("head")[0]
        head.steps()                      # ['install packages', 'install Ray', ...] from its boot log
    # here every node is stopped: its processes killed, its namespace deleted (its mounts go with it)

A node is a network namespace (network.py) with the instance's private IP, and a mount namespace
in which /etc, /opt, /var and /root are overlays whose upper layers sit in the node's directory,
and /tmp is the node's own: `useradd ray`, /etc/rayfleet, /opt/rayfleet, /var/log and Ray's
/tmp/ray are written there, never on the machine. The user data is the instance's own (EC2's
`userData` attribute, gunzipped as cloud-init does), run by bash with the shims (shims/) first
on PATH: what cannot run here (apt, the CloudWatch agent, systemd, hidepid, resolved) and the
way to AWS (AWS_ENDPOINT_URL of the moto router, fake credentials). Each node has its IMDS
(node_imds.py) and resolves names through the VPC's resolver (dns.py), which answers the private
zone's records as the runner last read them from moto (every second).

An instance that leaves moto (terminated, or gone from its group) has its node stopped at once; one a
termination hook holds (Terminating:Wait) keeps running, its IMDS target-lifecycle-state `Terminated`.
"""

from __future__ import annotations

import base64
import contextlib
import gzip
import json
import os
import re
import shlex
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from components.drills.emulate import node_imds
from components.drills.emulate.boot import failed_boots
from components.drills.emulate.control_plane import ControlPlane
from components.drills.emulate.dns import DEFAULT_SOA, zone_soa
from components.drills.emulate.moto_server import FAKE_CREDENTIALS, MotoServer
from components.drills.emulate.network import RegionNetwork, stop_each
from components.drills.emulate.plane import ZONE
from components.contract import NODE_TYPE_KEY
from components.errors import RayfleetError
from components.ray_cluster.cloudwatch_agent import SIGNING_KEY_FINGERPRINT, debian_arch
from components.ray_cluster.userdata import BOOT_LOG

SHIMS = Path(__file__).parent / "shims"
#: The machine directories each node writes through an overlay of its own.
OVERLAID = ("etc", "opt", "var", "root")
#: Directories an Ubuntu image has that the user data writes into without creating them.
IMAGE_DIRS = ("etc/dbus-1/system.d", "etc/systemd/system", "var/log")
POLL_S = 1.0
#: The IMDS path of the lifecycle state Auto Scaling is moving the instance to.
TARGET_LIFECYCLE_STATE = "autoscaling/target-lifecycle-state"
#: Polls in a row that may fail (moto slow to answer on a loaded machine) before the runner gives up.
POLL_RETRIES = 10
#: Nodes this machine runs at once: each is a Ray node (GCS or raylet, agents, workers) on 2 shared cores.
MAX_NODES = 4
_STEP = re.compile(r"^rayfleet boot step: (.+)$", re.M)
_FAILED = re.compile(r"^rayfleet boot FAILED in step '([^']*)'.*$", re.M)


def user_data_script(encoded: str) -> str:
    """The script cloud-init runs from EC2's base64 user data (gzip-compressed content is unpacked first)."""
    raw = base64.b64decode(encoded)
    return (gzip.decompress(raw) if raw[:2] == b"\x1f\x8b" else raw).decode()


def machine_paths_under_tmp() -> list[str]:
    """What a node needs from this machine that a checkout in /tmp keeps there: the project's code (the shims,
    the agents) and its Python environment. The node's own /tmp would hide them."""
    needed = {Path(__file__).resolve().parents[3], Path(sys.prefix).resolve(), Path(sys.base_prefix).resolve()}
    return sorted(str(path) for path in needed if path.is_relative_to("/tmp"))


def boot_wrapper(kept: Iterable[str] = ()) -> str:
    """What runs first in the node's namespaces: its own filesystem layers, its IMDS, then the user data.

    `kept`: paths under /tmp bound into the node's /tmp at the same place (`machine_paths_under_tmp`)."""
    mounts = "".join(f"mount -t overlay overlay -o lowerdir=/{d},upperdir=$PWD/layers/{d}.up,"
                     f"workdir=$PWD/layers/{d}.work /{d}\n" for d in OVERLAID)
    for path in kept:
        inside = "tmp/" + str(Path(path).relative_to("/tmp"))
        mounts += f"mkdir -p {shlex.quote(inside)}\nmount --bind {shlex.quote(path)} {shlex.quote(inside)}\n"
    return f"""#!/bin/bash
# An emulated node's boot, in its own network and mount namespaces, from the node's directory.
set -euo pipefail
{mounts}mount --rbind tmp /tmp
"$RAYFLEET_EMULATE_PYTHON" -m components.drills.emulate.node_imds imds.json >imds.log 2>&1 &
for attempt in $(seq 1 150); do
  /usr/bin/curl -sf -m 1 -X PUT -H 'X-aws-ec2-metadata-token-ttl-seconds: 60' \\
    http://{node_imds.ADDRESS}/latest/api/token >/dev/null && break
  sleep 0.2
done
exec env -i PATH="$RAYFLEET_EMULATE_SHIMS:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" \\
  HOME=/root LANG=C.UTF-8 RAYFLEET_EMULATE_PYTHON="$RAYFLEET_EMULATE_PYTHON" \\
  RAYFLEET_EMULATE_AGENT_KEY="$RAYFLEET_EMULATE_AGENT_KEY" RAYFLEET_EMULATE_ARCH="$RAYFLEET_EMULATE_ARCH" \\
  AWS_ENDPOINT_URL="$AWS_ENDPOINT_URL" \\
  AWS_ACCESS_KEY_ID="$AWS_ACCESS_KEY_ID" AWS_SECRET_ACCESS_KEY="$AWS_SECRET_ACCESS_KEY" \\
  bash user-data.sh
"""


def node_environment(instance_type: str, aws_endpoint: str) -> dict[str, str]:
    """The boot wrapper's environment: the shims' settings (the instance type's Debian architecture, which
    `dpkg --print-architecture` answers, as the image of that type would) and the way to AWS."""
    return {"RAYFLEET_EMULATE_PYTHON": sys.executable, "RAYFLEET_EMULATE_SHIMS": str(SHIMS),
            "RAYFLEET_EMULATE_AGENT_KEY": SIGNING_KEY_FINGERPRINT, "RAYFLEET_EMULATE_ARCH": debian_arch([instance_type]),
            "AWS_ENDPOINT_URL": aws_endpoint, "AWS_ACCESS_KEY_ID": FAKE_CREDENTIALS["aws_access_key_id"],
            "AWS_SECRET_ACCESS_KEY": FAKE_CREDENTIALS["aws_secret_access_key"], "PATH": "/usr/sbin:/usr/bin:/sbin:/bin"}


#: A node's /etc/hosts, as Ubuntu's cloud images have it: names of the region come from the VPC's resolver.
HOSTS = "127.0.0.1 localhost\n::1 ip6-localhost ip6-loopback\n"


def resolv_conf(resolver: str) -> str:
    """A node's /etc/resolv.conf: the VPC's resolver (on EC2, systemd-resolved forwards to it)."""
    return f"nameserver {resolver}\noptions timeout:2 attempts:3\n"


@dataclass
class Node:
    instance_id: str
    group: str
    address: str
    namespace: str
    directory: Path
    process: subprocess.Popen
    started: float
    #: Its group's `rayfleet:node-type` tag: the Ray node type (HEAD_NODE_TYPE, a worker group's name).
    node_type: str = ""

    @property
    def boot_log(self) -> Path:
        return self.directory / "layers" / "var.up" / BOOT_LOG.removeprefix("/var/")

    def log_text(self) -> str:
        return self.boot_log.read_text(errors="replace") if self.boot_log.exists() else ""

    def steps(self) -> list[str]:
        """The boot steps the user data began, in order (userdata.py's `step` lines)."""
        return _STEP.findall(self.log_text())

    def failed_step(self) -> str | None:
        found = _FAILED.search(self.log_text())
        return found.group(1) if found else None

    def unit_log(self, unit: str) -> Path:
        """Where the node's service manager writes `unit`'s output (its /var/log, in the node's /var layer)."""
        return self.directory / "layers" / "var.up" / "log" / f"{unit}.log"

    def unit_starts(self, unit: str) -> int:
        """How many times the node's service manager started `unit` (more than 1: it restarted)."""
        log = self.unit_log(unit)
        return log.read_text(errors="replace").count(f"systemd: starting {unit}.service") if log.exists() else 0

    def boot_exit(self) -> int | None:
        """The user data's exit code, None while it runs."""
        return self.process.poll()

    def set_target_lifecycle_state(self, state: str) -> None:
        """Set IMDS's `autoscaling/target-lifecycle-state`, once: the file is rewritten only when it changes."""
        if json.loads((self.directory / "imds.json").read_text()).get(TARGET_LIFECYCLE_STATE) != state:
            self.set_metadata(TARGET_LIFECYCLE_STATE, state)

    def set_metadata(self, path: str, value: str | None) -> None:
        """Set (or, with None, remove) an IMDS path of this node: a spot notice, a rebalance signal."""
        file = self.directory / "imds.json"
        paths = json.loads(file.read_text())
        if value is None:
            paths.pop(path, None)
        else:
            paths[path] = value
        _replace(file, json.dumps(paths))


def _replace(path: Path, text: str) -> None:
    """Write `path` whole or not at all: a temporary file in its directory, renamed over it. The node's IMDS
    opens the file by name at each request, so it reads the old version or the new one, never a half-written
    one (a rewrite in place truncates it under a reader)."""
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(text)
    os.replace(temporary, path)


@dataclass
class NodeRunner:
    server: MotoServer
    plane: ControlPlane
    net: RegionNetwork
    run_dir: Path
    #: The moto router's endpoint, as nodes reach it.
    aws_endpoint: str
    nodes: dict[str, Node] = field(default_factory=dict)
    stopped: list[str] = field(default_factory=list)
    records: dict[str, str] = field(default_factory=dict)
    #: The private zones' SOA (value, TTL) by zone name, which the VPC resolver's negative answers carry.
    zones: dict[str, tuple[str, int]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    #: Failed boots of nodes already stopped (their instance replaced): kept so that a scenario still sees them.
    failures: list[str] = field(default_factory=list)
    #: The errors of the polls that failed since the last one that succeeded.
    poll_failures: list[str] = field(default_factory=list)
    #: A CA the nodes' image trusts besides the machine's (the emulated ElastiCache's), PEM.
    trusted_ca: bytes = b""
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def clients(self) -> tuple[Any, Any, Any]:
        import boto3

        args = self.server.client_args(self.plane.region)
        return boto3.client("autoscaling", **args), boto3.client("ec2", **args), boto3.client("route53", **args)

    def poll(self, autoscaling, ec2, route53) -> None:
        """Start a node for each running instance of a group, stop those whose instance is gone; refresh DNS."""
        groups = [group for page in autoscaling.get_paginator("describe_auto_scaling_groups").paginate()
                  for group in page["AutoScalingGroups"]]
        wanted = wanted_instances(groups)
        running = _running_instances(ec2, list(wanted))
        if len(running) > MAX_NODES:
            raise RayfleetError(f"the emulated region runs {len(running)} instances; this machine runs at most "
                                f"{MAX_NODES} nodes. Fix: emulate an environment whose groups' sizes add up to "
                                f"{MAX_NODES} or fewer (dev's), or lower its maxWorkers in a stack file of its own")
        with self._lock:
            for instance_id in [i for i in self.nodes if i not in running]:
                self.stop(instance_id)
            for instance_id, instance in running.items():
                if instance_id not in self.nodes:
                    self.start(instance, *wanted[instance_id], ec2)
            for instance_id, state in target_lifecycle_states(groups).items():
                if instance_id in self.nodes:
                    self.nodes[instance_id].set_target_lifecycle_state(state)
        self._refresh_records(route53)

    def start(self, instance: dict[str, Any], group: str, node_type: str, ec2) -> Node:
        instance_id = instance["InstanceId"]
        encoded = ec2.describe_instance_attribute(InstanceId=instance_id, Attribute="userData")["UserData"]["Value"]
        directory = self.run_dir / instance_id
        _prepare_directory(directory, user_data_script(encoded), instance, self.net.resolver)
        if self.trusted_ca:
            _trust(directory, self.trusted_ca)
        namespace = self.net.add_node(instance_id, instance["PrivateIpAddress"])
        env = node_environment(instance["InstanceType"], self.aws_endpoint)
        with open(directory / "console.log", "ab") as console:
            process = subprocess.Popen(
                ["ip", "netns", "exec", namespace, "unshare", "--mount", "--propagation", "private", "bash", "boot.sh"],
                cwd=directory, env=env, stdin=subprocess.DEVNULL, stdout=console, stderr=subprocess.STDOUT,
                start_new_session=True)
        node = Node(instance_id, group, instance["PrivateIpAddress"], namespace, directory, process, time.monotonic(),
                    node_type)
        self.nodes[instance_id] = node
        return node

    def stop(self, instance_id: str) -> None:
        node = self.nodes.pop(instance_id, None)
        self.net.stop_node(instance_id)
        if node is not None:
            node.process.wait()
            self.stopped.append(instance_id)
            self.failures.extend(failed_boots([node]))

    def poll_once(self, clients: tuple[Any, Any, Any]) -> bool:
        """One poll; False once polling must stop. A RayfleetError (a rule broken) stops it at once; any other
        error (moto busy on a loaded machine, a connection reset) is retried, up to POLL_RETRIES polls in a row."""
        try:
            self.poll(*clients)
        except RayfleetError as err:
            self.errors.append(str(err))
            return False
        except Exception as err:  # reported by wait_for and _check_boots once retries are spent
            self.poll_failures.append(f"{type(err).__name__}: {err}")
            if len(self.poll_failures) >= POLL_RETRIES:
                self.errors.append(f"{len(self.poll_failures)} polls in a row failed, the last with "
                                   f"{self.poll_failures[-1]}")
                return False
            return True
        self.poll_failures.clear()
        return True

    def running(self) -> list[Node]:
        """The running nodes, read under the poller's lock (it adds and removes nodes every POLL_S)."""
        with self._lock:
            return list(self.nodes.values())

    def boot_failures(self) -> list[str]:
        """The failed boots of running and stopped nodes, each with the step its boot log names."""
        with self._lock:
            stopped = list(self.failures)
        return stopped + failed_boots(self.running())

    def stop_all(self) -> None:
        with self._lock:
            stop_each(list(self.nodes), self.stop)

    def _refresh_records(self, route53) -> None:
        """The private zones' A records (name -> address), which the VPC resolver answers."""
        records, zones = {}, {}
        for zone_id in (c.emulated_id for c in self.plane.created if c.type == ZONE):
            zone = route53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"].rstrip(".")
            zones[zone] = DEFAULT_SOA
            for record in route53.list_resource_record_sets(HostedZoneId=zone_id)["ResourceRecordSets"]:
                if record["Type"] == "A" and record.get("ResourceRecords"):
                    records[record["Name"].rstrip(".")] = record["ResourceRecords"][0]["Value"]
                elif record["Type"] == "SOA" and record.get("ResourceRecords"):
                    zones[zone] = zone_soa(record["ResourceRecords"][0]["Value"], int(record["TTL"]))
        self.records, self.zones = records, zones

    def nodes_of(self, node_type: str) -> list[Node]:
        """The running nodes of the groups tagged `rayfleet:node-type` = `node_type` (as the node provider finds them)."""
        return [n for n in self.running() if n.node_type == node_type]

    def check(self) -> None:
        """Raise when the poller stopped (its first error): the nodes seen are no longer the region's."""
        if self.errors:
            raise RayfleetError(f"the node runner failed: {self.errors[0]}")

    def wait_for(self, ready: Callable[[NodeRunner], bool], timeout: float, what: str,
                 on_wait: Callable[[], None] = lambda: None) -> float:
        """Seconds until `ready(self)`; raises naming `what` after `timeout` or when the poller failed."""
        started = time.monotonic()
        while not ready(self):
            self.check()
            if time.monotonic() - started > timeout:
                raise TimeoutError(what)
            on_wait()
            time.sleep(0.5)
        return time.monotonic() - started


def wanted_instances(groups: Iterable[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    """Instance ID -> (group name, node type) of the instances in service or launching in the groups tagged with a
    node type (the contract's tag, which the node provider reads too). One held in Terminating:Wait by a lifecycle
    hook still runs (it drains); a terminating one is not wanted."""
    wanted = {}
    for group in groups:
        tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
        if NODE_TYPE_KEY not in tags:
            continue
        for instance in group["Instances"]:
            if instance["LifecycleState"] not in ("Terminating", "Terminating:Proceed", "Terminated"):
                wanted[instance["InstanceId"]] = (group["AutoScalingGroupName"], tags[NODE_TYPE_KEY])
    return wanted


def target_lifecycle_states(groups: Iterable[dict[str, Any]]) -> dict[str, str]:
    """Instance ID -> the IMDS `autoscaling/target-lifecycle-state` of instances a termination hook holds: an
    instance in Terminating:Wait reads `Terminated` (its drain agent's cue), as on EC2."""
    return {i["InstanceId"]: "Terminated" for g in groups for i in g["Instances"]
            if i["LifecycleState"] == "Terminating:Wait"}


def _running_instances(ec2, instance_ids: list[str]) -> dict[str, dict[str, Any]]:
    if not instance_ids:
        return {}
    found = {}
    for reservation in ec2.describe_instances(InstanceIds=instance_ids)["Reservations"]:
        for instance in reservation["Instances"]:
            if instance["State"]["Name"] in ("pending", "running"):
                found[instance["InstanceId"]] = instance
    return found


def _prepare_directory(directory: Path, script: str, instance: dict[str, Any], resolver: str) -> None:
    for name in OVERLAID:
        (directory / "layers" / f"{name}.up").mkdir(parents=True, exist_ok=True)
        (directory / "layers" / f"{name}.work").mkdir(parents=True, exist_ok=True)
    for name in IMAGE_DIRS:
        (directory / "layers" / f"{name.split('/')[0]}.up" / name.split("/", 1)[1]).mkdir(parents=True, exist_ok=True)
    # Traversable, so that the ray user reaches the project's Python where this machine keeps it (under /root).
    (directory / "layers" / "root.up").chmod(0o711)
    (directory / "tmp").mkdir(exist_ok=True)
    (directory / "tmp").chmod(0o1777)
    (directory / "layers" / "etc.up" / "hosts").write_text(HOSTS)
    (directory / "layers" / "etc.up" / "resolv.conf").write_text(resolv_conf(resolver))
    (directory / "user-data.sh").write_text(script)
    (directory / "boot.sh").write_text(boot_wrapper(machine_paths_under_tmp()))
    zone = instance["Placement"]["AvailabilityZone"]
    paths = node_imds.metadata(instance["InstanceId"], instance["PrivateIpAddress"], zone, instance["InstanceType"])
    if instance.get("InstanceLifecycle") == "spot":
        paths["instance-life-cycle"] = "spot"
    (directory / "imds.json").write_text(json.dumps(paths))


#: The CA bundle of Ubuntu's images, which the user data points TLS clients at (Ray's GCS to ElastiCache).
CA_BUNDLE = "etc/ssl/certs/ca-certificates.crt"


def _trust(directory: Path, ca_pem: bytes) -> None:
    """The node's CA bundle: the machine's, plus `ca_pem` (an image trusts Amazon's CAs, which sign ElastiCache's
    certificates; the emulated ElastiCache's is signed by a CA of the run)."""
    bundle = directory / "layers" / "etc.up" / CA_BUNDLE.split("/", 1)[1]
    bundle.parent.mkdir(parents=True, exist_ok=True)
    machine = Path("/" + CA_BUNDLE)
    bundle.write_bytes((machine.read_bytes() if machine.exists() else b"") + b"\n" + ca_pem)


@contextlib.contextmanager
def node_runner(server: MotoServer, plane: ControlPlane, net: RegionNetwork, run_dir: Path,
                aws_endpoint: str, trusted_ca: bytes = b"") -> Iterator[NodeRunner]:
    """Poll moto in the background and run its instances as nodes; every node is stopped when the block ends."""
    runner = NodeRunner(server, plane, net, run_dir, aws_endpoint, trusted_ca=trusted_ca)
    done = threading.Event()

    def loop() -> None:
        clients = runner.clients()
        while not done.is_set() and runner.poll_once(clients):
            done.wait(POLL_S)

    thread = threading.Thread(target=loop, name="node-runner", daemon=True)
    thread.start()
    try:
        yield runner
    finally:
        done.set()
        thread.join(timeout=30)
        runner.stop_all()
