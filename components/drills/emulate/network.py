"""The emulated region's network: a bridge on this machine with no external interface, and one namespace per node.

    with region_network("10.30.0.0/16") as net:         # bridge rfb<run>: gateway 10.30.0.1/16, resolver 10.30.0.2
        ns = net.add_node("i-0abc", "10.30.16.4")       # namespace rfn<run>-1: eth0 10.30.16.4/16,
                                                        # 169.254.169.254 on lo (the node's IMDS), default via 10.30.0.1
        net.stop_node("i-0abc")                         # every process in the namespace killed, namespace deleted
    # here no namespace, veth or bridge of this run is left

A node's address is the private IP moto gave its instance, so IMDS `local-ipv4`, the head's DNS
record and Ray's node IP (Ray takes the address its default route leaves from) agree. Nodes
reach each other over the bridge, and the machine (the moto router, the deployer) at the
gateway address; nothing is routed beyond the bridge. Names carry the run's ID, so two runs never
touch each other's namespaces.
"""

from __future__ import annotations

import contextlib
import fcntl
import ipaddress
import os
import re
import signal
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from components.errors import RayfleetError

IMDS_ADDRESS = "169.254.169.254"
#: How long a node's processes get to die after SIGKILL before the namespace is deleted anyway.
KILL_WAIT_S = 10.0


def _ip(*args: str) -> str:
    done = subprocess.run(["ip", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise RayfleetError(f"`ip {' '.join(args)}` failed: {done.stderr.strip()}. "
                            "Fix: run the emulator as root on Linux (it creates network namespaces)")
    return done.stdout


def gateway(cidr: str) -> tuple[str, int]:
    """The bridge's address in the VPC's range (its first host, the VPC router's in AWS) and the prefix length."""
    network = ipaddress.ip_network(cidr)
    return str(next(network.hosts())), network.prefixlen


def resolver(cidr: str) -> str:
    """The VPC's DNS resolver address: the range's base plus two, as AWS places AmazonProvidedDNS."""
    return str(ipaddress.ip_network(cidr).network_address + 2)


def namespace_pids(namespace: str) -> list[int]:
    done = subprocess.run(["ip", "netns", "pids", namespace], capture_output=True, text=True)
    return [int(p) for p in done.stdout.split()] if done.returncode == 0 else []


@dataclass
class RegionNetwork:
    run: str
    cidr: str
    bridge: str
    gateway: str
    prefix: int
    resolver: str
    nodes: dict[str, str] = field(default_factory=dict)  # instance ID -> namespace
    veths: dict[str, str] = field(default_factory=dict)  # instance ID -> the bridge's end of its veth pair
    count: int = 0

    def add_node(self, instance_id: str, address: str) -> str:
        if address in (self.gateway, self.resolver) or ipaddress.ip_address(address) not in ipaddress.ip_network(self.cidr):
            raise RayfleetError(f"instance {instance_id}'s private IP {address} is not a node address of {self.cidr} "
                                f"(the gateway is {self.gateway}, the resolver {self.resolver}). "
                                "Fix: plan subnets inside the VPC's range")
        self.count += 1
        namespace, veth = f"rfn{self.run}-{self.count}", f"rfv{self.run}{self.count}"
        _ip("netns", "add", namespace)
        self.nodes[instance_id] = namespace
        self.veths[instance_id] = veth
        _ip("link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", namespace)
        _ip("link", "set", veth, "master", self.bridge, "up")
        _ip("-n", namespace, "addr", "add", f"{address}/{self.prefix}", "dev", "eth0")
        _ip("-n", namespace, "link", "set", "eth0", "up")
        _ip("-n", namespace, "link", "set", "lo", "up")
        _ip("-n", namespace, "addr", "add", f"{IMDS_ADDRESS}/32", "dev", "lo")
        _ip("-n", namespace, "route", "add", "default", "via", self.gateway)
        return namespace

    def stop_node(self, instance_id: str) -> None:
        """Kill every process in the node's namespace (its mount namespace goes with them), then delete it."""
        namespace = self.nodes.pop(instance_id, None)
        if namespace is None:
            return
        try:
            kill_namespace(namespace)
        finally:
            # The pair goes with the namespace, but the kernel tears a namespace down later: delete it now.
            subprocess.run(["ip", "link", "delete", self.veths.pop(instance_id, "")], capture_output=True)
            subprocess.run(["ip", "netns", "delete", namespace], capture_output=True)

    def stop_all(self) -> None:
        stop_each(list(self.nodes), self.stop_node)


def stop_each(instance_ids: list[str], stop: Callable[[str], None]) -> None:
    """Stop every node, each even when another's processes survive; raises naming all survivors."""
    survivors = []
    for instance_id in instance_ids:
        try:
            stop(instance_id)
        except RayfleetError as err:
            survivors.append(str(err))
    if survivors:
        raise RayfleetError("; ".join(survivors))


def kill_namespace(namespace: str) -> None:
    """SIGKILL every process in `namespace` until none is left (a dying process may have forked); raises naming
    the processes still there after KILL_WAIT_S (one in uninterruptible sleep, say), so none is forgotten."""
    deadline = time.monotonic() + KILL_WAIT_S
    while (pids := namespace_pids(namespace)) and time.monotonic() < deadline:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.1)
    if pids:
        raise RayfleetError(f"processes {', '.join(map(str, pids))} of node namespace {namespace} still run "
                            f"{KILL_WAIT_S:g} s after SIGKILL. Fix: see what they wait for (`ps -o pid,stat,wchan "
                            f"-p {','.join(map(str, pids))}`), kill them, then `ip netns delete {namespace}`")


#: The names a run gives its bridge (rfb<run>), veths (rfv<run><n>) and namespaces (rfn<run>-<n>).
_RUN_NAME = re.compile(r"^rf[bvn]([0-9a-f]{4})")


def run_alive(run: str) -> bool:
    """Whether the process of run `run` may still run: a process whose pid gives that ID (pid % 0xFFFF) exists.
    Another process may share the ID, which keeps a dead run's leftovers for later; never a live run's removed."""
    target = int(run, 16)
    return any(int(p) % 0xFFFF == target for p in os.listdir("/proc") if p.isdigit())


def dead_runs_names(names: list[str], alive: Callable[[str], bool]) -> list[str]:
    """The names (links, namespaces) of runs whose process is dead, among `names`."""
    return [n for n in names if (found := _RUN_NAME.match(n)) and not alive(found.group(1))]


def sweep_dead_runs(alive: Callable[[str], bool] = run_alive) -> list[str]:
    """Delete the namespaces (their processes killed) and links that runs killed before their clean-up left."""
    namespaces = dead_runs_names([line.split()[0] for line in _ip("netns", "list").splitlines() if line], alive)
    links = dead_runs_names([line.split(": ")[1].split("@")[0] for line in _ip("-o", "link").splitlines()
                             if ": " in line], alive)
    for namespace in namespaces:
        kill_namespace(namespace)
        subprocess.run(["ip", "netns", "delete", namespace], capture_output=True)
    for link in links:
        subprocess.run(["ip", "link", "delete", link], capture_output=True)
    return namespaces + links


#: Where runs hold their CIDR's lock: machine-wide, since two runs of one range would route it twice.
LOCK_DIR = Path("/run/rayfleet/emulate")


@contextlib.contextmanager
def cidr_lock(cidr: str, directory: Path | None = None) -> Iterator[None]:
    """Hold `cidr`'s lock while the block runs; raises naming the run that holds it (its pid is in the file)."""
    directory = directory or LOCK_DIR
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / (cidr.replace("/", "_") + ".lock")
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            handle.seek(0)
            holder = handle.read().strip() or "unknown"
            raise RayfleetError(f"another emulated region (pid {holder}) runs {cidr} on this machine; two runs "
                                f"of one range would route it twice. Fix: wait for that run to end, or stop it "
                                f"(`kill -INT {holder}`)") from None
        handle.truncate(0)
        handle.write(str(os.getpid()))
        handle.flush()
        yield  # the lock goes with the file's closing, even when this process is killed


#: Route types `ip route` writes before a destination (ip-route(8)); a plain unicast route has none.
_ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "anycast", "blackhole", "unreachable", "prohibit",
                "throw", "nat"}


def overlapping_routes(routes: str, cidr: str) -> list[str]:
    """The lines of `ip -o -4 route` output whose destination overlaps `cidr` (the default route aside)."""
    network = ipaddress.ip_network(cidr)
    found = []
    for line in routes.splitlines():
        words = line.split() or [""]
        destination = words[1] if words[0] in _ROUTE_TYPES and len(words) > 1 else words[0]
        with contextlib.suppress(ValueError):
            if destination != "default" and ipaddress.ip_network(destination, strict=False).overlaps(network):
                found.append(line.strip())
    return found


def check_unrouted(cidr: str) -> None:
    """Refuse a VPC range this machine already routes: its nodes would shadow (or be shadowed by) that network."""
    routes = overlapping_routes(_ip("-o", "-4", "route", "show", "table", "all"), cidr)
    if routes:
        raise RayfleetError(f"this machine already routes {cidr} or part of it ({'; '.join(routes)}). Fix: emulate "
                            "a region whose VPC cidr this machine does not use (the region's `cidr` in a stack "
                            "file of its own)")


@contextlib.contextmanager
def region_network(cidr: str) -> Iterator[RegionNetwork]:
    run = f"{os.getpid() % 0xFFFF:04x}"
    address, prefix = gateway(cidr)
    net = RegionNetwork(run, cidr, f"rfb{run}", address, prefix, resolver(cidr))
    with cidr_lock(cidr):
        sweep_dead_runs()
        check_unrouted(cidr)
        with _bridge(net):
            yield net


@contextlib.contextmanager
def _bridge(net: RegionNetwork) -> Iterator[None]:
    address, prefix = net.gateway, net.prefix
    try:
        _ip("link", "add", net.bridge, "type", "bridge")
        _ip("addr", "add", f"{address}/{prefix}", "dev", net.bridge)
        _ip("addr", "add", f"{net.resolver}/{prefix}", "dev", net.bridge)
        _ip("link", "set", net.bridge, "up")
        yield
    finally:
        try:
            net.stop_all()
        finally:
            subprocess.run(["ip", "link", "delete", net.bridge], capture_output=True)
