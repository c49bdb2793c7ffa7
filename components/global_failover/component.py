"""The GlobalFailover component: Route 53 health checks per region and the records that move the domain.

    failover = GlobalFailover("failover", GlobalFailoverArgs(mode="active-passive", domain="api.example.com",
                              zone_id=zone.zone_id, endpoints=[...]),
                              opts=pulumi.ResourceOptions(provider=aws_global))
    failover.health_check_ids["us-east-1"]

Created with the account-wide `aws-global` provider: Route 53 is a global service.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.global_failover import plan
from components.global_failover.args import GlobalFailoverArgs, RegionEndpoint
from components.tags import build_tags

COMPONENT = "failover"


class GlobalFailover(pulumi.ComponentResource):
    health_check_ids: dict[str, pulumi.Output[str]]
    records: list[dict]

    def __init__(self, name: str, args: GlobalFailoverArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"rayfleet:{COMPONENT}:GlobalFailover", name, None, opts)
        self.args = args
        self.health_check_ids = {endpoint.region: self._health_check(name, endpoint) for endpoint in args.endpoints}
        endpoints = {e.region: e for e in args.endpoints}
        self.records = [
            self._record(name, record, endpoints[record.region])
            for record in plan.records(args.mode, [e.region for e in args.endpoints])
        ]
        self.zone_id = args.zone_id
        self.register_outputs({"healthCheckIds": self.health_check_ids, "records": self.records})

    def _health_check(self, name: str, endpoint: RegionEndpoint) -> pulumi.Output[str]:
        """Route 53's view of one region: can it serve every application (its region-health route), over HTTPS."""
        check = aws.route53.HealthCheck(
            f"{name}-{endpoint.region}-health",
            type=plan.HEALTH_CHECK_TYPE,
            fqdn=endpoint.load_balancer_dns_name,
            port=plan.HEALTH_CHECK_PORT,
            resource_path=plan.HEALTH_CHECK_PATH,
            request_interval=plan.HEALTH_CHECK_INTERVAL_SECONDS,
            failure_threshold=plan.HEALTH_CHECK_FAILURE_THRESHOLD,
            # The load balancer's certificate names the domain, not its own DNS name; SNI
            # still lets it pick that certificate (Route 53 does not verify it).
            enable_sni=True,
            tags=build_tags(endpoint.tags, COMPONENT, name=f"{endpoint.tags.cluster}-health"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        return check.id

    def _record(self, name: str, record: plan.RecordPlan, endpoint: RegionEndpoint) -> dict:
        """The domain's alias record for one region, routed as plan.records says; returns its summary."""
        routing = (
            {"failover_routing_policies": [aws.route53.RecordFailoverRoutingPolicyArgs(type=record.role)]}
            if record.policy == "failover"
            else {"latency_routing_policies": [aws.route53.RecordLatencyRoutingPolicyArgs(region=record.region)]}
        )
        aws.route53.Record(
            f"{name}-{record.region}-record",
            zone_id=self.args.zone_id,
            name=self.args.domain,
            type="A",
            set_identifier=record.set_identifier,
            health_check_id=self.health_check_ids[record.region],
            aliases=[
                aws.route53.RecordAliasArgs(
                    name=endpoint.load_balancer_dns_name,
                    zone_id=endpoint.load_balancer_zone_id,
                    # Also fail over when the region's target group has no healthy proxy left.
                    evaluate_target_health=True,
                )
            ],
            **routing,
            opts=pulumi.ResourceOptions(parent=self),
        )
        return {
            "region": record.region,
            "routing": record.policy,
            "role": record.role,
            "setIdentifier": record.set_identifier,
            "healthCheckId": self.health_check_ids[record.region],
            "loadBalancerDnsName": endpoint.load_balancer_dns_name,
        }
