"""The stack outputs as one typed model: what the program exports, and what every command reads back.

    outputs = StackOutputs.model_validate(json.loads(text))   # `pulumi stack output --json --stack prod`
    outputs.regions["us-east-1"].dashboard_url                 # 'http://head.rayfleet-prod-us-east-1.rayfleet.internal:8265'
    outputs.regions["us-east-1"].missing("dashboard_url", "artifact_bucket")   # [] once deployed

The keys are camelCase, as `pulumi stack output --json` prints them:

    env, primaryRegion, rayVersion,
    regions.<region>.{primary, cluster, vpcId, privateSubnetIds, publicSubnetIds, clusterName,
                      headAsgName, workerAsgs, headAddress, dashboardUrl, dashboardTokenSecretArn,
                      artifactBucket, nodeSecurityGroupId, loadBalancerDnsName, targetGroupArn, tls,
                      healthCheckId, logGroupName},
    failover.{mode, domain, hostedZone, hostedZoneId, ttlSeconds,
              records[{region, routing, role, setIdentifier, healthCheckId, loadBalancerDnsName}]},
    slot, upgrade.{slot, rayVersion, weight, regions.<region>.{clusterName, ..., targetGroupArn}}

The program writes every key (`healthCheckId` and `failover` only with DNS
failover). Read back, any key may be absent: a stack deployed by an older
rayfleet lacks the keys added since, so each reader asks for the keys it uses
(`missing`) and can say which are absent. Keys this rayfleet does not know
are ignored, so that a stack deployed by a newer one still reads.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict
from pydantic.alias_generators import to_camel

_ABSENT: tuple[Any, ...] = (None, "", [], {})


class OutputsModel(BaseModel):
    """A part of the stack outputs: camelCase keys, read leniently (see the module docstring)."""

    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, frozen=True, extra="ignore")

    def missing(self, *fields: str) -> list[str]:
        """The output keys (`dashboardUrl`) of `fields` (attribute names, `dashboard_url`) that are absent or empty."""
        known = type(self).model_fields
        unknown = [name for name in fields if name not in known]
        if unknown:
            raise AttributeError(f"{type(self).__name__} has no field {', '.join(unknown)}")
        return [known[name].alias or name for name in fields if getattr(self, name) in _ABSENT]

    def to_json(self) -> dict[str, Any]:
        """The outputs as `pulumi stack output --json` prints them (absent keys left out)."""
        return self.model_dump(by_alias=True, exclude_none=True)


class RegionOutputs(OutputsModel):
    """`regions.<region>`: where a region's network, cluster and load balancer are."""

    primary: bool | None = None
    #: The region's cluster id, `rayfleet-<env>-<region>` (the `rayfleet:cluster` tag).
    cluster: str | None = None
    vpc_id: str | None = None
    private_subnet_ids: list[str] | None = None
    public_subnet_ids: list[str] | None = None
    cluster_name: str | None = None
    head_asg_name: str | None = None
    #: `{group: {market: ASG name}}`; the market keys are the node-group model's.
    worker_asgs: dict[str, dict[str, str]] | None = None
    head_address: str | None = None
    dashboard_url: str | None = None
    dashboard_token_secret_arn: str | None = None
    artifact_bucket: str | None = None
    node_security_group_id: str | None = None
    load_balancer_dns_name: str | None = None
    #: The load balancer's target group: the nodes' Serve port, as the load balancer sees its health.
    target_group_arn: str | None = None
    #: Where the load balancer's certificate comes from: `configured`, `issued` or `none`.
    tls: str | None = None
    #: The region's Route 53 health check; only with DNS failover.
    health_check_id: str | None = None
    #: The cluster's CloudWatch log group: node logs, one stream per instance and file (`rayfleet logs`).
    log_group_name: str | None = None


class FailoverRecord(OutputsModel):
    """`failover.records[i]`: one region's Route 53 record; the first is the primary's."""

    region: str | None = None
    #: `failover` (active-passive) or `latency` (active-active).
    routing: str | None = None
    #: `PRIMARY` / `SECONDARY` (active-passive) or the region (active-active).
    role: str | None = None
    set_identifier: str | None = None
    health_check_id: str | None = None
    load_balancer_dns_name: str | None = None


class FailoverOutputs(OutputsModel):
    """`failover`: the domain's DNS failover, as the failover drill needs it."""

    mode: str | None = None
    domain: str | None = None
    hosted_zone: str | None = None
    hosted_zone_id: str | None = None
    ttl_seconds: int | None = None
    records: list[FailoverRecord] | None = None


class UpgradeOutputs(OutputsModel):
    """`upgrade`: mid-upgrade, the new cluster slot beside the live one (`rayfleet upgrade` reads it)."""

    slot: str | None = None
    ray_version: str | None = None
    #: Percent of each region's traffic the new slot takes.
    weight: int | None = None
    #: Per region, the new slot's cluster fields of RegionOutputs and its own `targetGroupArn`.
    regions: dict[str, RegionOutputs] = {}


class StackOutputs(OutputsModel):
    """Everything `pulumi stack output --json` holds for one environment."""

    env: str | None = None
    primary_region: str | None = None
    #: The Ray version the stack's clusters run; the next update reads it back (stacks/deployed.py).
    ray_version: str | None = None
    regions: dict[str, RegionOutputs] = {}
    failover: FailoverOutputs | None = None
    #: The slot `rayVersion` and `regions` describe; absent: `blue`, as on every stack before slots.
    slot: str | None = None
    #: Only mid-upgrade.
    upgrade: UpgradeOutputs | None = None

    @property
    def live_slot(self) -> str:
        return self.slot or "blue"
