"""The spot interruption watcher: an agent on every worker that drains its Ray node before AWS takes it.

Started by the worker's user data (systemd):

    python3 -m components.node_agents.spot_watcher --region us-east-1 --poll-seconds 2

Every poll it reads IMDSv2 (token first) for three signals:

- `spot/instance-action`: a spot interruption notice; the deadline is the notice's `time`;
- `events/recommendations/rebalance`: EC2 says this spot instance is at elevated risk; with
  capacity rebalancing on, the ASG will replace it, so the node is drained now (deadline
  `--drain-seconds`) rather than mid-request later;
- `autoscaling/target-lifecycle-state` = `Terminated`: the ASG is terminating this instance
  (scale-in, rebalancing, interruption) and its `rayfleet-drain` lifecycle hook holds it in
  `Terminating:Wait`. Where IMDS lacks that path, `describe_auto_scaling_instances` is asked instead.

On the first notice it drains the local Ray node exactly as `ray drain-node --reason
DRAIN_NODE_REASON_PREEMPTION --deadline-remaining-seconds N` does (the GCS `DrainNode` RPC), so
Serve starts replacement replicas elsewhere before the node dies. When the ASG holds the
instance, it then heartbeats the lifecycle action while the node drains and completes it with
CONTINUE. SIGTERM/SIGINT stop it cleanly (completing a held lifecycle action first). Every
action is logged.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import logging
import signal
import sys
import threading
import time
from dataclasses import dataclass, replace
from typing import Callable

from components.contract import DRAIN_HOOK
from components.node_agents.imds import DEFAULT_URL, Imds, ImdsError

log = logging.getLogger("rayfleet.spot_watcher")

#: The IAM actions this watcher calls, with the reason: plain data, composed into the workers'
#: policy by `components.ray_cluster.permissions` (tests check it against the calls below).
PERMISSIONS = (
    ("autoscaling:DescribeAutoScalingInstances", "learn this instance's ASG and lifecycle state where IMDS lacks it"),
    ("autoscaling:RecordLifecycleActionHeartbeat", "hold the drain hook while the node drains"),
    ("autoscaling:CompleteLifecycleAction", "let the ASG terminate the drained instance"),
)

LIFECYCLE_HOOK = DRAIN_HOOK
SPOT_INTERRUPTION, REBALANCE, ASG_TERMINATION = "spot-interruption", "rebalance-recommendation", "asg-termination"


@dataclass(frozen=True)
class Notice:
    kind: str
    #: Seconds until the node goes away, as the notice says (or the configured drain window).
    deadline_seconds: float
    detail: str
    #: The ASG holds the instance in Terminating:Wait until we complete the lifecycle action.
    lifecycle: bool = False


def parse_instance_action(text: str, now: dt.datetime) -> Notice | None:
    """A spot `instance-action` document -> a notice with its deadline; None if it is not one."""
    try:
        doc = json.loads(text)
        at = dt.datetime.strptime(doc["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc)
    except (ValueError, KeyError, TypeError):
        log.warning("ignoring unreadable spot/instance-action: %r", text)
        return None
    seconds = max(0.0, (at - now).total_seconds())
    return Notice(SPOT_INTERRUPTION, seconds, f"spot {doc.get('action', 'terminate')} at {doc['time']}")


@dataclass
class WatcherConfig:
    region: str
    imds_url: str = DEFAULT_URL
    poll_seconds: float = 2.0
    gcs_address: str | None = None
    node_id: str | None = None
    lifecycle_hook: str | None = LIFECYCLE_HOOK
    drain_seconds: float = 110.0
    heartbeat_seconds: float = 30.0
    asg_poll_seconds: float = 30.0


class RayDrainer:
    """Drains a Ray node through the GCS `DrainNode` RPC, the call `ray drain-node` makes."""

    def __init__(self, gcs_address: str | None, node_id: str | None):
        self.gcs_address, self.node_id = gcs_address, node_id

    def __call__(self, notice: Notice, instance_id: str | None, private_ip: str | None) -> tuple[bool, str]:
        import ray._raylet
        from ray._private import services
        from ray.core.generated import autoscaler_pb2
        from ray.core.generated.gcs_pb2 import GcsNodeInfo

        # An explicit address is used as given (Ray would rewrite 127.0.0.1 to the host's IP).
        address = self.gcs_address or services.canonicalize_bootstrap_address_or_die(None)
        client = ray._raylet.GcsClient(address=address)
        node_id = self.node_id
        if node_id is None:
            alive = client.get_all_node_info(timeout=10, state_filter=GcsNodeInfo.GcsNodeState.ALIVE)
            matches = [
                nid.hex()
                for nid, info in alive.items()
                if (instance_id and info.instance_id == instance_id) or info.node_manager_address == private_ip
            ]
            if len(matches) != 1:
                return False, f"cannot tell the local Ray node among {len(matches)} candidates"
            node_id = matches[0]
        deadline_ms = time.time_ns() // 1_000_000 + int(notice.deadline_seconds * 1000)
        accepted, message = client.drain_node(
            node_id,
            autoscaler_pb2.DrainNodeReason.Value("DRAIN_NODE_REASON_PREEMPTION"),
            f"{notice.kind}: {notice.detail}",
            deadline_ms,
        )
        return bool(accepted), message or f"node {node_id} draining"


class SpotWatcher:
    def __init__(
        self,
        config: WatcherConfig,
        *,
        imds: Imds | None = None,
        drainer: Callable[[Notice, str | None, str | None], tuple[bool, str]] | None = None,
        autoscaling=None,
        stop: threading.Event | None = None,
        clock: Callable[[], float] = time.monotonic,
    ):
        self.config = config
        self.imds = imds or Imds(config.imds_url)
        self.drainer = drainer or RayDrainer(config.gcs_address, config.node_id)
        self._autoscaling = autoscaling
        self.stop = stop or threading.Event()
        self.clock = clock
        self.drained: Notice | None = None
        self.lifecycle_completed = False
        self._imds_has_lifecycle: bool | None = None
        self._last_asg_poll = float("-inf")
        self._identity: tuple[str | None, str | None] | None = None
        self._asg_name: str | None = None

    # -- reading notices -------------------------------------------------------------------------

    def identity(self) -> tuple[str | None, str | None]:
        if self._identity is None:
            self._identity = (self.imds.get("instance-id"), self.imds.get("local-ipv4"))
        return self._identity

    def autoscaling(self):
        if self._autoscaling is None:
            # boto3 loads only when the ASG is asked (never with --no-lifecycle).
            from components.node_agents.aws_calls import client

            self._autoscaling = client("autoscaling", self.config.region)
        return self._autoscaling

    def check(self) -> Notice | None:
        """One poll: the most urgent notice IMDS (or the ASG) has for this instance, or None."""
        text = self.imds.get("spot/instance-action")
        spot = parse_instance_action(text, dt.datetime.now(dt.timezone.utc)) if text else None
        lifecycle = self._lifecycle_notice() if self.config.lifecycle_hook else None
        if spot:
            # An interrupted instance in an ASG is also held by the hook: drain to the spot deadline.
            return replace(spot, lifecycle=lifecycle is not None)
        if lifecycle:
            return lifecycle
        rebalance = self.imds.get("events/recommendations/rebalance")
        if rebalance:
            return Notice(REBALANCE, self.config.drain_seconds, f"rebalance recommendation {rebalance.strip()}")
        return None

    def _lifecycle_notice(self) -> Notice | None:
        if self._imds_has_lifecycle is not False:
            state = self.imds.get("autoscaling/target-lifecycle-state")
            if state is not None:
                self._imds_has_lifecycle = True
                if state.strip() == "Terminated":
                    return Notice(ASG_TERMINATION, self.config.drain_seconds, "ASG target lifecycle state Terminated", True)
                return None
            self._imds_has_lifecycle = False
        # No IMDS path (older AMIs): ask the ASG, rarely, so a fleet of workers does not throttle it.
        if self.clock() - self._last_asg_poll < self.config.asg_poll_seconds:
            return None
        self._last_asg_poll = self.clock()
        instance_id, _ = self.identity()
        found = self.autoscaling().describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
        if found:
            self._asg_name = found[0]["AutoScalingGroupName"]
            if found[0]["LifecycleState"] == "Terminating:Wait":
                return Notice(ASG_TERMINATION, self.config.drain_seconds, "ASG lifecycle state Terminating:Wait", True)
        return None

    # -- acting ----------------------------------------------------------------------------------

    def handle(self, notice: Notice) -> None:
        if self.drained is None:
            instance_id, private_ip = self.identity()
            log.info("notice: %s (%s); draining the local Ray node, deadline %.0fs", notice.kind, notice.detail, notice.deadline_seconds)
            try:
                accepted, message = self.drainer(notice, instance_id, private_ip)
            except Exception as err:  # noqa: BLE001 - a failed drain is logged and retried next poll
                accepted, message = False, f"{type(err).__name__}: {err}"
            if accepted:
                log.info("drain accepted: %s", message)
                self.drained = notice
            elif not notice.lifecycle:
                log.error("drain failed: %s (retrying next poll)", message)
                return
            else:
                # The ASG terminates the instance either way; holding it undrained only delays that.
                log.error("drain failed: %s; completing the lifecycle action anyway", message)
        if notice.lifecycle and not self.lifecycle_completed:
            self._hold_then_complete(notice)

    def _hold_then_complete(self, notice: Notice) -> None:
        """Heartbeat the held lifecycle action while the node drains, then let the ASG terminate it."""
        end = self.clock() + min(notice.deadline_seconds, self.config.drain_seconds)
        while not self.stop.is_set() and self.clock() < end:
            self._lifecycle_call("record_lifecycle_action_heartbeat")
            self.stop.wait(min(self.config.heartbeat_seconds, max(0.0, end - self.clock())))
        self._lifecycle_call("complete_lifecycle_action", LifecycleActionResult="CONTINUE")
        self.lifecycle_completed = True

    def _lifecycle_call(self, operation: str, **extra) -> None:
        from components.node_agents.aws_calls import with_backoff

        instance_id, _ = self.identity()
        try:
            if self._asg_name is None:
                found = self.autoscaling().describe_auto_scaling_instances(InstanceIds=[instance_id])["AutoScalingInstances"]
                self._asg_name = found[0]["AutoScalingGroupName"] if found else None
            if self._asg_name is None:
                log.error("%s skipped: %s belongs to no ASG", operation, instance_id)
                return
            params = dict(
                LifecycleHookName=self.config.lifecycle_hook,
                AutoScalingGroupName=self._asg_name,
                InstanceId=instance_id,
                **extra,
            )
            with_backoff(lambda: getattr(self.autoscaling(), operation)(**params), what=operation)
            log.info("%s: %s on %s (hook %s)", operation, instance_id, self._asg_name, self.config.lifecycle_hook)
        except Exception as err:  # noqa: BLE001 - AWS errors are logged; the hook's timeout is the backstop
            log.error("%s failed: %s", operation, err)

    # -- loop ------------------------------------------------------------------------------------

    def poll_once(self) -> Notice | None:
        try:
            notice = self.check()
        except ImdsError as err:
            log.warning("IMDS unavailable: %s", err)
            return None
        except Exception as err:  # noqa: BLE001 - one bad poll (AWS error) must not stop the watcher
            log.warning("poll failed: %s", err)
            return None
        if notice:
            self.handle(notice)
        return notice

    def run(self) -> None:
        log.info("watching IMDS at %s every %.1fs (lifecycle hook: %s)", self.config.imds_url, self.config.poll_seconds, self.config.lifecycle_hook or "none")
        while not self.stop.is_set():
            self.poll_once()
            self.stop.wait(self.config.poll_seconds)
        log.info("stopped")


def parse_args(argv: list[str] | None = None) -> WatcherConfig:
    parser = argparse.ArgumentParser(prog="spot_watcher", description=__doc__.splitlines()[0])
    parser.add_argument("--region", required=True)
    parser.add_argument("--imds-url", default=DEFAULT_URL)
    parser.add_argument("--poll-seconds", type=float, default=2.0)
    parser.add_argument("--gcs-address", default=None, help="Ray GCS address (default: this node's Ray)")
    parser.add_argument("--node-id", default=None, help="Ray node id to drain (default: found by instance id / IP)")
    parser.add_argument("--lifecycle-hook", default=LIFECYCLE_HOOK)
    parser.add_argument("--no-lifecycle", action="store_true", help="ignore ASG lifecycle (not in an ASG)")
    parser.add_argument("--drain-seconds", type=float, default=110.0, help="deadline for notices that carry none")
    parser.add_argument("--heartbeat-seconds", type=float, default=30.0)
    args = parser.parse_args(argv)
    return WatcherConfig(
        region=args.region,
        imds_url=args.imds_url,
        poll_seconds=args.poll_seconds,
        gcs_address=args.gcs_address,
        node_id=args.node_id,
        lifecycle_hook=None if args.no_lifecycle else args.lifecycle_hook,
        drain_seconds=args.drain_seconds,
        heartbeat_seconds=args.heartbeat_seconds,
    )


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    watcher = SpotWatcher(parse_args(argv))

    def on_signal(signum, _frame):
        log.info("signal %s: stopping", signal.Signals(signum).name)
        watcher.stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    watcher.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
