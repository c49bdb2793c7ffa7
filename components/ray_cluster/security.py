"""The cluster's security groups: nodes talk freely among themselves, everything else is closed by default.

    groups = ClusterSecurity(name, args, parent=cluster)   # with a Redis group when args.gcs_redis is set
    groups.allow_serve_from("ingress", alb_security_group.id)   # Serve's 8000 from the load balancer only

Inbound: all traffic between cluster nodes; the dashboard (8265) only from the
configured operator CIDRs (none by default); Serve (8000) only from the groups
the ingress adds; never port 22 (Session Manager replaces SSH). Outbound:
HTTPS and HTTP (package mirrors, AWS APIs) plus the cluster itself and Redis.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.ray_cluster.args import RayClusterArgs
from components.ray_cluster.plan import DASHBOARD_PORT, REDIS_PORT, SERVE_PORT, resource_tags

ANYWHERE = "0.0.0.0/0"
#: Outbound to the world: package mirrors (apt uses HTTP), PyPI, AWS APIs and S3.
EGRESS_PORTS = (443, 80)


class ClusterSecurity:
    """Creates the node (and Redis) security groups as children of `parent`."""

    def __init__(self, name: str, args: RayClusterArgs, parent: pulumi.Resource):
        self._name = name
        self._args = args
        self._opts = pulumi.ResourceOptions(parent=parent)
        cluster = args.cluster_id
        self.node = aws.ec2.SecurityGroup(
            f"{name}-nodes",
            vpc_id=args.vpc_id,
            description=f"Ray nodes of {cluster}",
            tags=self.tags("nodes"),
            opts=self._opts,
        )
        self.redis = (
            aws.ec2.SecurityGroup(
                f"{name}-redis",
                vpc_id=args.vpc_id,
                description=f"GCS Redis of {cluster}: Redis from its Ray nodes only",
                tags=self.tags("redis"),
                opts=self._opts,
            )
            if args.head_fault_tolerance
            else None
        )
        self._ingress("intra-cluster", "all traffic between nodes of the cluster", protocol="-1", source=self.node.id)
        for index, cidr in enumerate(args.operator_cidrs):
            self._ingress(
                f"dashboard-{index}",
                f"Ray dashboard from operators ({cidr})",
                port=DASHBOARD_PORT,
                cidr=str(cidr),
            )
        for port in EGRESS_PORTS:
            self._egress(f"egress-{port}", f"outbound {port} (packages, AWS APIs)", port=port, cidr=ANYWHERE)
        self._egress("egress-cluster", "all traffic to nodes of the cluster", protocol="-1", target=self.node.id)
        if self.redis is not None:
            self._egress("egress-redis", "GCS state in Redis", port=REDIS_PORT, target=self.redis.id)
            aws.vpc.SecurityGroupIngressRule(
                f"{name}-redis-from-nodes",
                security_group_id=self.redis.id,
                description="Redis from Ray heads of the cluster",
                ip_protocol="tcp",
                from_port=REDIS_PORT,
                to_port=REDIS_PORT,
                referenced_security_group_id=self.node.id,
                tags=self.tags("redis-from-nodes"),
                opts=self._opts,
            )

    def tags(self, role: str) -> dict[str, str]:
        return resource_tags(self._args.tags, role)

    def allow_serve_from(self, name: str, source_security_group_id: pulumi.Input[str]):
        """Open Serve's port to one security group (the ingress load balancer's)."""
        return self._ingress(
            f"serve-from-{name}", f"Ray Serve from {name}", port=SERVE_PORT, source=source_security_group_id
        )

    def _ingress(self, role, description, **rule):
        return self._rule(aws.vpc.SecurityGroupIngressRule, role, description, **rule)

    def _egress(self, role, description, *, target=None, **rule):
        return self._rule(aws.vpc.SecurityGroupEgressRule, role, description, source=target, **rule)

    def _rule(self, resource, role, description, *, port=None, protocol="tcp", cidr=None, source=None):
        """One rule on the node group; `source` is the peer group (the destination, for egress)."""
        return resource(
            f"{self._name}-{role}",
            security_group_id=self.node.id,
            description=description,
            ip_protocol=protocol,
            from_port=port,
            to_port=port,
            cidr_ipv4=cidr,
            referenced_security_group_id=source,
            tags=self.tags(role),
            opts=self._opts,
        )
