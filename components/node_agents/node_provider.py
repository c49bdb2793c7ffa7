"""Ray's autoscaler on EC2 Auto Scaling Groups: rayfleet's `BatchingNodeProvider`.

The head's autoscaler (v1, `monitor.py`) loads this class from the rendered cluster config:

    provider:
      type: external
      module: components.node_agents.node_provider.AsgNodeProvider
      region: us-east-1
      cluster_name: rayfleet-prod-us-east-1
      disable_node_updaters: true
      disable_launch_config_check: true
      foreground_node_launch: true
      fallback_after_seconds: {cpu: 180}
      consolidate_nodes_per_minute: {cpu: 3}

Contract (see `ray.autoscaler.batching_node_provider`):

- Node types are the worker group names plus `head`. Node ids are EC2 instance ids. The cluster's
  ASGs are found by tags (`rayfleet:cluster`, `rayfleet:node-type`, `rayfleet:market`); Pulumi
  owns them, this provider owns their desired capacity.
- `get_node_data()` reads the whole cluster once per autoscaler update: one paginated, tag-filtered
  `describe_auto_scaling_groups` and one paginated `describe_instances`.
- Status: `up-to-date` iff the instance runs *and* its raylet is ALIVE in the GCS node table
  (matched by private IP or `RAY_CLOUD_INSTANCE_ID`); `update-failed` iff failed (ASG-unhealthy,
  stopped, never joined within `join_timeout_seconds`, or joined once and left); otherwise a short
  reason it is pending. Reporting `up-to-date` before the raylet joins would let the autoscaler
  count a booting node's missing heartbeat as "lost contact" and terminate it.
- `submit_scale_request()` terminates `workers_to_delete` with ShouldDecrementDesiredCapacity and
  sets desired capacity per node type, split between a group's spot ASG and its on-demand twin
  (`spot_fallback`), clamped to each ASG's min/max; never the head; unchanged values are not sent.
  A deleted node vanishes from `get_node_data()` at once, even while AWS still lists it; until AWS
  accepts its termination it stays counted in desired capacity, so the ASG never picks a victim
  Ray did not drain. Emptying an ASG with no launch in flight takes one SetDesiredCapacity.
- Spot (`spot_markets`): a short spot ASG counts only what it runs, so its shortfall, its
  minimum included, moves to the twin as soon as AWS reports a capacity failure (after
  `fallback_after_seconds` if it reports nothing; never for other launch failures, which
  `status()` shows). When spot launches again, the twin's workers are replaced by spot ones at
  `consolidate_nodes_per_minute`: spot first, the on-demand worker terminated through the drain
  hook only after its replacement has joined, never below the requested count.
- Nodes are listed spot before on-demand within a type: Ray keeps the first nodes of a type for
  `min_workers` and trims the last ones, so on-demand capacity goes first as demand falls.
- Node agents import only stdlib, boto3, ray and `components.contract` (tag keys, markets, the head's node type).
- AWS errors never escape into the autoscaler loop: they are logged, kept in `errors`, shown in
  the status of that type's pending nodes, and a failed read makes `safe_to_scale()` False.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from botocore.exceptions import BotoCoreError, ClientError
from ray.autoscaler.batching_node_provider import BatchingNodeProvider, NodeData, ScaleRequest
from ray.autoscaler.tags import NODE_KIND_HEAD, NODE_KIND_WORKER, STATUS_UP_TO_DATE, STATUS_UPDATE_FAILED

from components.node_agents import spot_fallback
from components.node_agents.spot_markets import SpotMarkets
from components.node_agents.aws_calls import client, clients, error_code, with_backoff
from components.node_agents.ray_membership import GcsMembership, Membership
from components.contract import (
    CLUSTER_DIMENSION,
    CLUSTER_KEY,
    ENV_KEY,
    HEAD_NODE_TYPE,
    MARKET_KEY,
    NODE_GROUP_DIMENSION,
    NODE_TYPE_KEY,
    SPOT_FALLBACK_METRIC,
    Market,
    metrics_namespace,
)

log = logging.getLogger(__name__)

#: The IAM actions this provider calls, with the reason: plain data, composed into the head's
#: policy by `components.ray_cluster.permissions` (tests check it against the calls below).
PERMISSIONS = (
    ("autoscaling:DescribeAutoScalingGroups", "list the cluster's ASGs by tag, with their sizes and instances"),
    ("ec2:DescribeInstances", "read the state and private IP of the cluster's instances"),
    ("autoscaling:DescribeScalingActivities", "see failed spot launches, to fall back to the on-demand twin"),
    ("autoscaling:SetDesiredCapacity", "set each worker ASG's desired capacity to what Ray asks for"),
    ("autoscaling:TerminateInstanceInAutoScalingGroup", "remove the idle workers Ray drained"),
    ("cloudwatch:PutMetricData", "publish when a worker group's demand falls back to on-demand and when it returns"),
)

DEFAULT_RETRY_SPOT_AFTER_SECONDS = 600
DEFAULT_JOIN_TIMEOUT_SECONDS = 900
_GONE_LIFECYCLE = ("Terminating", "Terminated", "Detaching", "Detached", "Warmed")
_GONE_EC2 = ("shutting-down", "terminated")

@dataclass
class AsgView:
    """One of the cluster's ASGs as read in the current update."""

    name: str
    node_type: str
    market: str
    min_size: int
    max_size: int
    desired: int
    instances: list[dict] = field(default_factory=list)
    #: The environment the ASG belongs to (its ENV_KEY tag): where the provider's metrics go.
    env: str = ""

    def market_view(self, gone: set[str]) -> spot_fallback.AsgState:
        live = sum(1 for i in self.instances if _alive_in_asg(i) and i["InstanceId"] not in gone)
        return spot_fallback.AsgState(self.name, self.min_size, self.max_size, self.desired, live)


def _alive_in_asg(instance: dict) -> bool:
    return not instance.get("LifecycleState", "").startswith(_GONE_LIFECYCLE)


class AsgNodeProvider(SpotMarkets, BatchingNodeProvider):
    """Ray's autoscaler on the cluster's spot ASGs and their on-demand twins (contract above)."""

    def __init__(
        self,
        provider_config: dict[str, Any],
        cluster_name: str,
        *,
        session=None,
        membership: Membership | None = None,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        BatchingNodeProvider.__init__(self, provider_config, cluster_name)
        self.region = provider_config["region"]
        self.cluster = provider_config.get("cluster_name", cluster_name)
        self.fallback_after = {
            str(k): float(v) for k, v in (provider_config.get("fallback_after_seconds") or {}).items()
        }
        self.consolidate_rate = {
            str(k): int(v) for k, v in (provider_config.get("consolidate_nodes_per_minute") or {}).items()
        }
        self.retry_spot_after = float(provider_config.get("retry_spot_after_seconds", DEFAULT_RETRY_SPOT_AFTER_SECONDS))
        self.join_timeout = float(provider_config.get("join_timeout_seconds", DEFAULT_JOIN_TIMEOUT_SECONDS))
        self.asg, self.ec2 = clients(self.region, session)
        self.cloudwatch = client("cloudwatch", self.region, session)
        #: Per node type, the spot-fallback state last published (absent: none yet).
        self._fallback_published: dict[str, bool] = {}
        self.membership = membership or GcsMembership(provider_config.get("gcs_address"))
        self.clock, self.sleep = clock, sleep
        #: Latest AWS error per node type (or "*" for reads), shown in pending nodes' status.
        self.errors: dict[str, str] = {}
        self._asgs: dict[str, AsgView] = {}
        self._asg_of: dict[str, str] = {}
        self._deleted: set[str] = set()
        self._unterminated: set[str] = set()
        self._joined_once: set[str] = set()
        self._alive: set[str] = set()
        self._spot: dict[str, spot_fallback.SpotMemory] = {}
        #: The worker count per node type as Ray last asked for it (or as read from the ASGs at
        #: start): what a fallback must hold, since desired counts include capacity not arriving.
        self._requested: dict[str, int] = {}
        #: Per node type: spot workers launched to replace on-demand ones and not yet matched by a
        #: drain (Ray counts them as requested), when the last on-demand workers were drained, and
        #: how many workers moved back to spot so far (the status reports it).
        self._replacing: dict[str, int] = {}
        self._drained_at: dict[str, list[float]] = {}
        self._moved_to_spot: dict[str, int] = {}
        self._stale = False
        #: Page size of the describe calls (None: AWS's default); small values exercise pagination.
        self.page_size: int | None = provider_config.get("page_size")

    # -- reading -------------------------------------------------------------------------------

    def get_node_data(self) -> dict[str, NodeData]:
        try:
            asgs = self._describe_asgs()
            ec2 = self._describe_instances()
        except (ClientError, BotoCoreError) as err:
            self._record_error("*", "reading the cluster's ASGs and instances", err)
            self._stale = True
            # The last known nodes, minus deletions: the autoscaler backs off (safe_to_scale).
            return {k: v for k, v in self.node_data_dict.items() if k not in self._deleted}
        self._stale = False
        self.errors.pop("*", None)
        self._asgs = {a.name: a for a in asgs}
        alive = self.membership()
        if alive is not None:
            self._alive = alive
        self._assess_spot_markets()
        return self._node_data(ec2)

    def _describe_asgs(self) -> list[AsgView]:
        def read() -> list[AsgView]:
            pages = self.asg.get_paginator("describe_auto_scaling_groups").paginate(
                Filters=[{"Name": f"tag:{CLUSTER_KEY}", "Values": [self.cluster]}],
                PaginationConfig=self._pages(100),
            )
            views = []
            for page in pages:
                for group in page["AutoScalingGroups"]:
                    tags = {t["Key"]: t["Value"] for t in group.get("Tags", [])}
                    if NODE_TYPE_KEY not in tags:
                        continue
                    views.append(
                        AsgView(
                            name=group["AutoScalingGroupName"],
                            node_type=tags[NODE_TYPE_KEY],
                            market=tags.get(MARKET_KEY, Market.ON_DEMAND),
                            min_size=group["MinSize"],
                            max_size=group["MaxSize"],
                            desired=group["DesiredCapacity"],
                            instances=list(group.get("Instances", [])),
                            env=tags.get(ENV_KEY, ""),
                        )
                    )
            return views

        return with_backoff(read, sleep=self.sleep, what="describe_auto_scaling_groups")

    def _describe_instances(self) -> dict[str, dict]:
        def read() -> dict[str, dict]:
            pages = self.ec2.get_paginator("describe_instances").paginate(
                Filters=[
                    {"Name": f"tag:{CLUSTER_KEY}", "Values": [self.cluster]},
                    {"Name": "instance-state-name", "Values": ["pending", "running", "stopping", "stopped"]},
                ],
                PaginationConfig=self._pages(1000),
            )
            return {
                inst["InstanceId"]: inst
                for page in pages
                for reservation in page["Reservations"]
                for inst in reservation["Instances"]
            }

        return with_backoff(read, sleep=self.sleep, what="describe_instances")

    def _pages(self, limit: int) -> dict:
        return {"PageSize": min(self.page_size, limit)} if self.page_size else {}

    def _ordered_asgs(self) -> list[AsgView]:
        # Head first, then per type spot before on-demand: Ray keeps the first nodes of a type for
        # min_workers and trims the last ones for max_workers, so on-demand goes first.
        rank = {Market.SPOT: 0, Market.ON_DEMAND: 1}
        return sorted(
            self._asgs.values(), key=lambda a: (a.node_type != HEAD_NODE_TYPE, a.node_type, rank.get(a.market, 2), a.name)
        )

    def _node_data(self, ec2: dict[str, dict]) -> dict[str, NodeData]:
        data: dict[str, NodeData] = {}
        seen: set[str] = set()
        self._asg_of = {}
        for asg in self._ordered_asgs():
            for member in asg.instances:
                iid = member["InstanceId"]
                seen.add(iid)
                self._asg_of[iid] = asg.name
                instance = ec2.get(iid)
                if iid in self._deleted or not _alive_in_asg(member):
                    continue
                if instance and instance["State"]["Name"] in _GONE_EC2:
                    continue
                kind = NODE_KIND_HEAD if asg.node_type == HEAD_NODE_TYPE else NODE_KIND_WORKER
                ip = instance.get("PrivateIpAddress") if instance else None
                data[iid] = NodeData(kind=kind, type=asg.node_type, ip=ip, status=self._status(asg, member, instance))
        # Forget deletions AWS no longer lists; until then they stay hidden (consistency rule).
        self._deleted &= seen | {i for i, inst in ec2.items() if inst["State"]["Name"] not in _GONE_EC2}
        return data

    def _status(self, asg: AsgView, member: dict, instance: dict | None) -> str:
        iid = member["InstanceId"]
        if member.get("HealthStatus") == "Unhealthy":
            return STATUS_UPDATE_FAILED
        if instance is None or instance["State"]["Name"] == "pending" or member["LifecycleState"].startswith("Pending"):
            return self._pending(asg.node_type, "launching")
        if instance["State"]["Name"] != "running":
            return STATUS_UPDATE_FAILED
        if asg.node_type == HEAD_NODE_TYPE or iid in self._alive or instance.get("PrivateIpAddress") in self._alive:
            self._joined_once.add(iid)
            return STATUS_UP_TO_DATE
        if iid in self._joined_once:
            return STATUS_UPDATE_FAILED  # its raylet left the cluster: a failed node
        launched = instance.get("LaunchTime")
        if isinstance(launched, datetime) and self.clock() - launched.timestamp() > self.join_timeout:
            return STATUS_UPDATE_FAILED
        return self._pending(asg.node_type, "waiting for Ray to join")

    def _pending(self, node_type: str, what: str) -> str:
        error = self.errors.get(node_type) or self.errors.get("*")
        if error:
            return f"{what}; last AWS error: {error}"
        failing = self._spot.get(node_type, spot_fallback.SpotMemory()).launch_error
        return f"{what}; spot launches failing: {failing}" if failing else what

    # -- spot fallback -------------------------------------------------------------------------

    def _groups(self) -> dict[str, spot_fallback.GroupMarkets]:
        groups: dict[str, dict[str, spot_fallback.AsgState]] = {}
        for asg in self._asgs.values():
            if asg.node_type != HEAD_NODE_TYPE:
                # A deletion AWS has not accepted yet still counts in its ASG's desired capacity.
                gone = self._deleted - self._unterminated
                groups.setdefault(asg.node_type, {})[asg.market] = asg.market_view(gone)
        return {t: spot_fallback.GroupMarkets(t, m.get(Market.SPOT), m.get(Market.ON_DEMAND)) for t, m in groups.items()}

    def _launch_failures(self, asg_name: str, since: float) -> tuple[str | None, str | None]:
        """The ASG's capacity failure and other launch failure since `since`, from its activities."""
        try:
            page = with_backoff(
                lambda: self.asg.describe_scaling_activities(AutoScalingGroupName=asg_name, MaxRecords=20),
                sleep=self.sleep,
                what="describe_scaling_activities",
            )
        except (ClientError, BotoCoreError) as err:
            log.warning("cannot read scaling activities of %s: %s", asg_name, err)
            return None, None
        # A minute of slack: the failed launch may start just before we first saw the shortfall.
        cutoff = datetime.fromtimestamp(since, tz=timezone.utc) - timedelta(seconds=60)
        activities = page.get("Activities", [])
        return spot_fallback.capacity_failure(activities, since=cutoff), spot_fallback.launch_failure(activities, since=cutoff)

    def _publish_fallback(self, node_type: str, active: bool) -> None:
        """SPOT_FALLBACK_METRIC of one group: once when first judged, then on each change, never every update.

        A failed put is logged and tried again at the next update (nothing is recorded as published)."""
        if self._fallback_published.get(node_type) == active:
            return
        env = next((asg.env for asg in self._asgs.values() if asg.env), "")
        if not env:
            log.warning("%s: the cluster's ASGs carry no %s tag; not publishing %s", node_type, ENV_KEY, SPOT_FALLBACK_METRIC)
            return
        dimensions = [{"Name": CLUSTER_DIMENSION, "Value": self.cluster}, {"Name": NODE_GROUP_DIMENSION, "Value": node_type}]
        datum = {"MetricName": SPOT_FALLBACK_METRIC, "Dimensions": dimensions, "Value": 1 if active else 0, "Unit": "Count"}
        try:
            with_backoff(
                lambda: self.cloudwatch.put_metric_data(Namespace=metrics_namespace(env), MetricData=[datum]),
                sleep=self.sleep,
                what="put_metric_data",
            )
        except (ClientError, BotoCoreError) as err:
            log.warning("cannot publish %s for %s (next update retries): %s", SPOT_FALLBACK_METRIC, node_type, err)
            return
        self._fallback_published[node_type] = active

    # -- writing -------------------------------------------------------------------------------

    def safe_to_scale(self) -> bool:
        if self._stale:
            log.warning("cluster state could not be read (%s); skipping this update", self.errors.get("*"))
        return not self._stale

    def submit_scale_request(self, scale_request: ScaleRequest) -> None:
        for iid in sorted(scale_request.workers_to_delete):
            node = self.node_data_dict.get(iid)
            if node is None or node.kind == NODE_KIND_HEAD or iid not in self._asg_of:
                log.warning("not terminating %s: not a worker of this cluster", iid)
                continue
            # Hidden from now on, whether or not AWS has acted yet (BatchingNodeProvider's rule).
            self._deleted.add(iid)
            self._unterminated.add(iid)
        self._terminate_pending()
        groups = self._groups()
        for node_type, target in sorted(scale_request.desired_num_workers.items()):
            if node_type == HEAD_NODE_TYPE:
                continue
            group = groups.get(node_type)
            if group is None:
                log.error("autoscaler asked for %d x %s, but this cluster has no ASG for it", target, node_type)
                continue
            # Until AWS accepts a termination, lowering desired capacity would let the ASG pick its
            # own victim (not the node Ray drained): keep those nodes in the count until then.
            self._requested[node_type] = max(0, target - self._replacing.get(node_type, 0))
            target += self._waiting(node_type)
            split = spot_fallback.split_target(target, group, spot_impaired=self.spot_impaired(node_type))
            if sum(split.values()) != target:
                log.warning("%s: %d workers requested; ASG limits allow %s", node_type, target, split)
            self._set_desired(node_type, split)

    def _waiting(self, node_type: str) -> int:
        return sum(1 for i in self._unterminated if self._type_of(i) == node_type)

    def _type_of(self, iid: str) -> str | None:
        asg = self._asgs.get(self._asg_of.get(iid, ""))
        return asg.node_type if asg else None

    def post_process(self) -> None:
        super().post_process()
        if self._stale:
            return
        self._terminate_pending()
        self._move_shortfalls()
        self._consolidate()
        self._terminate_pending()

    def _terminate_pending(self) -> None:
        self._empty_whole_asgs()
        for iid in sorted(self._unterminated):
            asg = self._asgs.get(self._asg_of.get(iid, ""))
            node_type = asg.node_type if asg else "*"
            try:
                with_backoff(
                    lambda iid=iid: self.asg.terminate_instance_in_auto_scaling_group(
                        InstanceId=iid, ShouldDecrementDesiredCapacity=True
                    ),
                    sleep=self.sleep,
                    what=f"terminate {iid}",
                )
            except ClientError as err:
                if error_code(err) == "ValidationError" and "not found" in str(err).lower():
                    log.info("%s is already gone", iid)  # idempotent: someone got there first
                else:
                    self._record_error(node_type, f"terminating {iid} (will retry)", err)
                    continue
            except BotoCoreError as err:
                self._record_error(node_type, f"terminating {iid} (will retry)", err)
                continue
            log.info("terminated %s (%s), desired capacity decremented", iid, node_type)
            self._unterminated.discard(iid)
            if asg:
                asg.desired = max(asg.min_size, asg.desired - 1)
                asg.instances = [i for i in asg.instances if i["InstanceId"] != iid]

    def _empty_whole_asgs(self) -> None:
        """Deleting every instance of an ASG takes one SetDesiredCapacity, not one call per node.

        Safe only when the ASG has no launch in flight (desired == its live instances): then the
        only instances it can remove are exactly the ones Ray chose.
        """
        for asg in self._asgs.values():
            live = {i["InstanceId"] for i in asg.instances if _alive_in_asg(i)}
            if not live or asg.node_type == HEAD_NODE_TYPE or not live <= self._unterminated:
                continue
            target = asg.desired - len(live)
            if asg.desired != len(live) or target < asg.min_size:
                continue
            before = asg.desired
            self._set_desired(asg.node_type, {asg.name: target})
            if asg.desired == target:
                log.info("emptied %s (%d -> %d): %s", asg.name, before, target, ", ".join(sorted(live)))
                self._unterminated -= live
                asg.instances = [i for i in asg.instances if i["InstanceId"] not in live]

    def _set_desired(self, node_type: str, desired: dict[str, int]) -> None:
        ok = True
        for name, value in desired.items():
            asg = self._asgs[name]
            if asg.desired == value:
                continue
            try:
                with_backoff(
                    lambda: self.asg.set_desired_capacity(AutoScalingGroupName=name, DesiredCapacity=value, HonorCooldown=False),
                    sleep=self.sleep,
                    what=f"set_desired_capacity {name}",
                )
            except (ClientError, BotoCoreError) as err:
                self._record_error(node_type, f"setting {name} desired capacity to {value}", err)
                ok = False
                continue
            log.info("%s: %s desired capacity %d -> %d", node_type, name, asg.desired, value)
            asg.desired = value
        if ok:
            self.errors.pop(node_type, None)

    def _record_error(self, node_type: str, doing: str, err: Exception) -> None:
        message = f"{error_code(err) or type(err).__name__}: {err}"
        self.errors[node_type] = message
        log.error("AWS error while %s: %s", doing, message)

