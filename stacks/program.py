"""The Pulumi program: one environment -> per region, an AWS provider and the components.

    build(load_environment("prod"))   # inside a Pulumi run (pulumi up, or the offline plan)

`build` is the only place that composes components; each component gets its
region's explicit provider, so nothing depends on the default provider's region.
Before it registers anything, `build` reads the stack's own outputs as its
previous update left them and refuses a change that cannot roll onto running
nodes (stacks/deployed.py: a new Ray version).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from components.alarms import Alerts, Dashboard, DashboardArgs, IngressSignals
from components.alarms.args import SlotSignals
from components.alarms.plan import ROUTE53_METRICS_REGION
from components.artifact_replication import ArtifactReplication, ArtifactReplicationArgs
from components.artifacts import Artifacts, ArtifactsArgs
from components.artifacts.plan import MODELS_PREFIX
from components.cost_allocation import CostAllocation, CostAllocationArgs
from components.global_failover.args import GlobalFailoverArgs, RegionEndpoint
from components.global_failover.component import GlobalFailover
from components.network import Network, NetworkArgs
from components.ray_cluster.component import RayCluster
from components.serve_ingress import ServeIngress, ServeIngressArgs
from components.serve_ingress.plan import slot_suffix
from components.tags import TagContext, build_tags
from stacks.cluster_args import alerts_args, cluster_signals, min_healthy_targets, ray_cluster_args
from stacks.config import SLOTS, EnvironmentConfig
from stacks.deployed import check_rollable, own_stack_names
from stacks.slots import forward_weights, new_slot_config
from stacks.export import export_model, resolved
from stacks.outputs_model import FailoverOutputs, RegionOutputs, StackOutputs, UpgradeOutputs

#: The repository root: where the node-agent modules are read from at deploy time.
SOURCE_ROOT = Path(__file__).resolve().parents[1]
#: The account-wide provider's name; the plan's mocks place its resources in region `global`.
GLOBAL_PROVIDER = "aws-global"
#: The engine's built-in invoke that reads a stack's outputs: what a `pulumi.StackReference` reads.
READ_STACK_OUTPUTS = "pulumi:pulumi:readStackOutputs"


@dataclass
class RegionStack:
    """What `build` created in one region, for later components and the stack outputs."""

    name: str
    primary: bool
    provider: aws.Provider
    tags: TagContext
    network: Network
    artifacts: Artifacts | None = None
    cluster: RayCluster | None = None
    #: Mid-upgrade, the new slot's cluster beside the live one.
    next_cluster: RayCluster | None = None


def region_tags(cfg: EnvironmentConfig, region: str) -> TagContext:
    """The tags of what a region's cluster slots share; a slot's cluster has its own (`slot_tags`)."""
    return TagContext(env=cfg.env, cluster=cfg.region_id(region), cost_tags=cfg.cost.tags)


def slot_tags(cfg: EnvironmentConfig, region: str) -> TagContext:
    return TagContext(env=cfg.env, cluster=cfg.cluster_id(region), cost_tags=cfg.cost.tags)


_global_providers: dict[str, aws.Provider] = {}


def global_provider(cfg: EnvironmentConfig) -> aws.Provider:
    """The account-wide provider (Route 53, budgets, cost-allocation tags): created once per build.

    Its region is the primary's, where AWS's global services take their calls.
    """
    if GLOBAL_PROVIDER not in _global_providers:
        _global_providers[GLOBAL_PROVIDER] = aws.Provider(
            GLOBAL_PROVIDER,
            region=cfg.primary_region.name,
            default_tags=aws.ProviderDefaultTagsArgs(
                tags=build_tags(region_tags(cfg, cfg.primary_region.name), "default")
            ),
        )
    return _global_providers[GLOBAL_PROVIDER]


def build(cfg: EnvironmentConfig) -> list[RegionStack]:
    _global_providers.clear()  # a new program run (the plan runs several per process)
    check_rollable(cfg, previous_outputs())
    stacks = []
    for index, region in enumerate(cfg.regions):
        tags = region_tags(cfg, region.name)
        provider = aws.Provider(
            f"aws-{region.name}",
            region=region.name,
            # Reaches resources that forget their tags; ASG-launched instances get
            # theirs from the ASG and launch template (see components/tags.py).
            default_tags=aws.ProviderDefaultTagsArgs(tags=build_tags(tags, "default")),
        )
        in_region = pulumi.ResourceOptions(provider=provider)
        network = Network(
            f"network-{region.name}",
            NetworkArgs(
                region=region.name,
                cidr=region.cidr,
                az_count=cfg.network.az_count,
                nat_gateways=cfg.network.nat_gateways,
                tags=tags,
            ),
            opts=in_region,
        )
        stack = RegionStack(region.name, index == 0, provider, tags, network)
        add_cluster(cfg, stack)
        stacks.append(stack)
    serving = add_serving(cfg, stacks, {s.name: ClusterHandles.of(s, s.cluster) for s in stacks})
    alerts = add_alerts(cfg, stacks, serving)
    add_cost_allocation(cfg, alerts[cfg.primary_region.name].topic_arn)
    export_outputs(cfg, stacks, serving)
    return stacks


def previous_outputs() -> StackOutputs:
    """This stack's outputs as its previous update left them; empty on its first update.

    A stack may reference itself (the engine reads the last checkpoint of any stack
    it is given by name). The engine's built-in `readStackOutputs`, which
    `pulumi.StackReference` reads too, is invoked synchronously here, so the
    answer is in hand before any resource is registered: a refused change
    leaves the stack as it was. A stack with no checkpoint yet has no root
    resource, and the engine answers with no outputs.
    """
    *precise, bare = own_stack_names(pulumi.get_organization(), pulumi.get_project(), pulumi.get_stack())
    for name in precise:
        try:
            return _stack_outputs(name)
        except Exception:  # noqa: BLE001 - the engine's refusal of this form of name; the bare one follows
            pulumi.log.debug(f"reading stack outputs as {name!r} failed; trying {bare!r}")
    return _stack_outputs(bare)


def _stack_outputs(name: str) -> StackOutputs:
    result = pulumi.runtime.invoke(READ_STACK_OUTPUTS, {"name": name})
    return StackOutputs.model_validate((result.value or {}).get("outputs") or {})


def add_cost_allocation(cfg: EnvironmentConfig, alert_topic_arn: Any = None) -> CostAllocation:
    """The environment's cost-allocation tags and budget: account-wide, so once per environment.

    With `alert_topic_arn` (the primary region's alarm topic), the budget notifies that topic.
    """
    return CostAllocation(
        f"cost-{cfg.env}",
        CostAllocationArgs(
            env=cfg.env,
            cost_tag_keys=list(cfg.cost.tags),
            monthly_budget_usd=cfg.cost.monthly_budget_usd,
            alert_emails=list(cfg.cost.alert_emails),
            alert_topic_arn=alert_topic_arn,
            activate_tags=cfg.cost.activate_tags,
            tags=region_tags(cfg, cfg.primary_region.name),
        ),
        opts=pulumi.ResourceOptions(provider=global_provider(cfg)),
    )


def add_cluster(cfg: EnvironmentConfig, stack: RegionStack) -> None:
    """The region's artifact bucket and Ray cluster, in the region's private subnets; mid-upgrade, the new slot's too."""
    in_region = pulumi.ResourceOptions(provider=stack.provider)
    stack.artifacts = Artifacts(
        f"artifacts-{stack.name}",
        ArtifactsArgs(region=stack.name, tags=stack.tags, source_root=SOURCE_ROOT),
        opts=in_region,
    )
    stack.cluster = slot_cluster(cfg, stack)
    new = new_slot_config(cfg)
    if new is not None:
        stack.next_cluster = slot_cluster(new, stack)


def slot_cluster(cfg: EnvironmentConfig, stack: RegionStack) -> RayCluster:
    """One slot's Ray cluster; the blue slot's logical names are those clusters had before slots existed."""
    assert stack.artifacts is not None
    return RayCluster(
        f"cluster-{stack.name}{slot_suffix(cfg.slot)}",
        ray_cluster_args(cfg, stack.name, slot_tags(cfg, stack.name), stack.network, stack.artifacts),
        opts=pulumi.ResourceOptions(provider=stack.provider),
    )


@dataclass
class ClusterHandles:
    """What one region's Ray cluster hands the serving path: its nodes' security group, ASGs and bucket."""

    node_security_group_id: Any
    #: Every ASG whose instances run Serve replicas (the workers), by its node-group role ('cpu-spot').
    asg_names: dict[str, Any]
    artifact_bucket_id: Any
    artifact_bucket_arn: Any
    #: Opens the nodes' Serve port to one security group: `(name, source_security_group_id)`.
    allow_serve_from: Callable[[str, Any], Any]
    #: Resources replication waits for (the buckets' versioning).
    artifacts: list[pulumi.Resource] = field(default_factory=list)

    @classmethod
    def of(cls, stack: RegionStack, cluster: RayCluster | None) -> ClusterHandles:
        artifacts = stack.artifacts
        assert cluster is not None and artifacts is not None
        # Only workers take traffic. The head offers no CPU to replicas, and its proxy stays ready with
        # none running (so that it can wake an app scaled to zero): as a target it would keep the load
        # balancer, and Route 53's target-health check, green after every worker has gone.
        asgs = {
            asg.role: cluster.asgs[asg.role].name for group in cluster.args.nodes.workers for asg in group.asgs
        }
        return cls(
            node_security_group_id=cluster.node_security_group_id,
            asg_names=asgs,
            artifact_bucket_id=artifacts.bucket_id,
            artifact_bucket_arn=artifacts.bucket_arn,
            allow_serve_from=cluster.allow_serve_from,
            artifacts=[artifacts],
        )


@dataclass
class Serving:
    """What `add_serving` created: an ingress per region, and failover and replication when multi-region."""

    ingress: dict[str, ServeIngress]
    failover: GlobalFailover | None = None
    replication: ArtifactReplication | None = None


def hosted_zone_id(cfg: EnvironmentConfig) -> pulumi.Output[str] | None:
    """The user's hosted zone of failover.hostedZone, looked up (never created); None without failover."""
    if cfg.failover is None:
        return None
    zone = aws.route53.get_zone_output(
        name=cfg.failover.hosted_zone,
        private_zone=False,
        opts=pulumi.InvokeOutputOptions(provider=global_provider(cfg)),
    )
    return zone.zone_id


def add_serving(cfg: EnvironmentConfig, stacks: list[RegionStack], clusters: dict[str, ClusterHandles]) -> Serving:
    """Per region a load balancer in front of Serve; across regions, DNS failover and artifact replication."""
    zone_id = hosted_zone_id(cfg)
    ingress: dict[str, ServeIngress] = {}
    validation_fqdns = None  # written by the first region that issues a certificate, reused by the rest
    for stack in stacks:
        cluster = clusters[stack.name]
        new = ClusterHandles.of(stack, stack.next_cluster) if stack.next_cluster is not None else None
        tls = cfg.tls_source(stack.name)
        ingress[stack.name] = ServeIngress(
            f"ingress-{stack.name}",
            ServeIngressArgs(
                region=stack.name,
                vpc_id=stack.network.vpc_id,
                public_subnet_ids=stack.network.public_subnet_ids,
                node_security_group_id=cluster.node_security_group_id,
                asg_names=cluster.asg_names,
                slot=cfg.slot,
                next_asg_names=new.asg_names if new else None,
                next_node_security_group_id=new.node_security_group_id if new else None,
                weights=forward_weights(cfg),
                tls=tls,
                certificate_arn=cfg.ingress.certificate_arns.get(stack.name),
                domain=cfg.failover.domain if tls == "issued" else None,
                zone_id=zone_id if tls == "issued" else None,
                validation_record_fqdns=validation_fqdns if tls == "issued" else None,
                dns_provider=global_provider(cfg) if tls == "issued" else None,
                tags=stack.tags,
            ),
            opts=pulumi.ResourceOptions(provider=stack.provider),
        )
        cluster.allow_serve_from("ingress", ingress[stack.name].security_group_id)
        if new is not None:
            new.allow_serve_from("ingress", ingress[stack.name].security_group_id)
        if tls == "issued" and validation_fqdns is None:
            validation_fqdns = ingress[stack.name].validation_record_fqdns
    serving = Serving(ingress)
    if cfg.failover is not None:
        serving.failover = GlobalFailover(
            "failover",
            GlobalFailoverArgs(
                mode=cfg.failover.mode,
                domain=cfg.failover.domain,
                zone_id=zone_id,
                endpoints=[
                    RegionEndpoint(
                        region=s.name,
                        load_balancer_dns_name=ingress[s.name].dns_name,
                        load_balancer_zone_id=ingress[s.name].zone_id,
                        tags=s.tags,
                    )
                    for s in stacks
                ],
            ),
            opts=pulumi.ResourceOptions(provider=global_provider(cfg)),
        )
    if len(stacks) > 1:
        primary, secondaries = stacks[0], stacks[1:]
        serving.replication = ArtifactReplication(
            f"replication-{primary.name}",
            ArtifactReplicationArgs(
                source_region=primary.name,
                source_bucket_id=clusters[primary.name].artifact_bucket_id,
                source_bucket_arn=clusters[primary.name].artifact_bucket_arn,
                prefix=MODELS_PREFIX,
                destination_bucket_arns={s.name: clusters[s.name].artifact_bucket_arn for s in secondaries},
                tags=primary.tags,
            ),
            opts=pulumi.ResourceOptions(
                provider=primary.provider,
                # S3 refuses a replication configuration until both sides are versioned.
                depends_on=[r for s in stacks for r in clusters[s.name].artifacts],
            ),
        )
    return serving


def add_alerts(cfg: EnvironmentConfig, stacks: list[RegionStack], serving: Serving) -> dict[str, Alerts]:
    """Per region an alarm topic and its alarms; Route 53's alarms in us-east-1; one dashboard for them all.

    Route 53 publishes health-check metrics only in us-east-1, so their alarms, and the topic they
    notify, live there: in that region's Alerts when the environment deploys to it, else in an
    Alerts of their own. The primary region's topic also takes the budget's notifications.
    """
    checks = dict(serving.failover.health_check_ids) if serving.failover is not None else {}
    alerts: dict[str, Alerts] = {}
    for stack in stacks:
        ingress = serving.ingress[stack.name]
        signals = IngressSignals(
            load_balancer_arn_suffix=ingress.arn_suffix,
            target_group_arn_suffix=ingress.target_group_arn_suffix,
            min_healthy_targets=min_healthy_targets(cfg),
        )
        args = alerts_args(
            cfg,
            stack.name,
            stack.tags,
            signals,
            health_checks=checks if stack.name == ROUTE53_METRICS_REGION else None,
            budgets_publish=stack.primary,
        )
        alerts[stack.name] = Alerts(
            f"alerts-{stack.name}",
            args.model_copy(update={"next_slot": next_slot_signals(cfg, stack.name, ingress)}),
            opts=pulumi.ResourceOptions(provider=stack.provider),
        )
    if checks and ROUTE53_METRICS_REGION not in alerts:
        primary = stacks[0]
        provider = aws.Provider(
            f"aws-{ROUTE53_METRICS_REGION}",
            region=ROUTE53_METRICS_REGION,
            default_tags=aws.ProviderDefaultTagsArgs(tags=build_tags(primary.tags, "default")),
        )
        alerts[ROUTE53_METRICS_REGION] = Alerts(
            f"alerts-{ROUTE53_METRICS_REGION}",
            alerts_args(cfg, ROUTE53_METRICS_REGION, primary.tags, None, health_checks=checks),
            opts=pulumi.ResourceOptions(provider=provider),
        )
    sections = {
        s.name: [p for a in alerts.values() for p in a.plans if p.watched_region == s.name] for s in stacks
    }
    Dashboard(
        f"dashboard-{cfg.env}",
        DashboardArgs(env=cfg.env, sections=sections),
        opts=pulumi.ResourceOptions(provider=stacks[0].provider),
    )
    return alerts


def next_slot_signals(cfg: EnvironmentConfig, region: str, ingress: ServeIngress) -> SlotSignals | None:
    """Mid-upgrade, what the new slot's own alarms watch in `region`: its target group and its cluster."""
    new = new_slot_config(cfg)
    if new is None:
        return None
    return SlotSignals(
        slot=new.slot,
        target_group_arn_suffix=ingress.target_groups[new.slot].arn_suffix,
        cluster=cluster_signals(new, region),
    )


def serving_outputs(
    cfg: EnvironmentConfig, serving: Serving
) -> tuple[dict[str, dict[str, Any]], pulumi.Output[FailoverOutputs] | None]:
    """Per region, the serving path's fields of RegionOutputs; and the `failover` output (None without it)."""
    per_region: dict[str, dict[str, Any]] = {}
    for region, ingress in serving.ingress.items():
        per_region[region] = dict(
            load_balancer_dns_name=ingress.dns_name, target_group_arn=ingress.target_group_arn, tls=cfg.tls_source(region)
        )
        if serving.failover is not None:
            per_region[region]["health_check_id"] = serving.failover.health_check_ids[region]
    if serving.failover is None or cfg.failover is None:
        return per_region, None
    failover = resolved(
        FailoverOutputs,
        mode=cfg.failover.mode,
        domain=cfg.failover.domain,
        hosted_zone=cfg.failover.hosted_zone,
        hosted_zone_id=serving.failover.zone_id,
        ttl_seconds=cfg.failover.ttl_seconds,
        records=serving.failover.records,
    )
    return per_region, failover


def export_outputs(cfg: EnvironmentConfig, stacks: list[RegionStack], serving: Serving | None = None) -> None:
    """Stack outputs the CLI reads back (`pulumi stack output --json`), written through StackOutputs."""
    per_region, failover = serving_outputs(cfg, serving) if serving else ({}, None)
    regions = {
        s.name: resolved(
            RegionOutputs,
            primary=s.primary,
            cluster=s.tags.cluster,
            vpc_id=s.network.vpc_id,
            private_subnet_ids=s.network.private_subnet_ids,
            public_subnet_ids=s.network.public_subnet_ids,
            **(cluster_outputs(s) if s.cluster else {}),
            **per_region.get(s.name, {}),
        )
        for s in stacks
    }
    export_model(
        StackOutputs,
        env=cfg.env,
        primary_region=cfg.primary_region.name,
        ray_version=cfg.cluster.ray_version,
        regions=regions,
        failover=failover,
        # Written only where they say something: a blue stack with no upgrade exports what it always did.
        slot=cfg.slot if cfg.slot != SLOTS[0] else None,
        upgrade=upgrade_outputs(cfg, stacks, serving),
    )


def upgrade_outputs(
    cfg: EnvironmentConfig, stacks: list[RegionStack], serving: Serving | None
) -> pulumi.Output[UpgradeOutputs] | None:
    """Mid-upgrade, where the new slot's clusters and target groups are; None otherwise."""
    new = new_slot_config(cfg)
    if new is None or cfg.upgrade is None:
        return None
    regions = {
        s.name: resolved(
            RegionOutputs,
            cluster=s.tags.cluster,
            **cluster_outputs(s, s.next_cluster),
            **({"target_group_arn": serving.ingress[s.name].target_groups[new.slot].arn} if serving else {}),
        )
        for s in stacks
        if s.next_cluster is not None
    }
    return resolved(
        UpgradeOutputs, slot=new.slot, ray_version=new.cluster.ray_version, weight=cfg.upgrade.weight, regions=regions
    )


def cluster_outputs(s: RegionStack, cluster: RayCluster | None = None) -> dict[str, Any]:
    """What the deployer and operators need to reach a region's cluster (default: the live slot's)."""
    cluster = cluster or s.cluster
    assert cluster is not None and s.artifacts is not None
    return dict(
        cluster_name=cluster.cluster_name,
        head_asg_name=cluster.head_asg_name,
        worker_asgs=cluster.worker_asg_names,
        head_address=cluster.head_address,
        dashboard_url=cluster.dashboard_url,
        dashboard_token_secret_arn=cluster.dashboard_token_secret_arn,
        artifact_bucket=s.artifacts.bucket_name,
        node_security_group_id=cluster.node_security_group_id,
        log_group_name=cluster.log_group_name,
    )
