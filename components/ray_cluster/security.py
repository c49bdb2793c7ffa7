"""The cluster's security groups: nodes talk freely among themselves, everything else is closed by default.

    groups = ClusterSecurity(name, args, parent=cluster)   # with a Redis group when args.gcs_redis is set
    groups.allow_serve_from("ingress", alb_security_group.id)   # Serve's 8000 from the load balancer only
    groups.of_node_type("head")   # [nodes, head]: the head also carries the head group

Inbound: all traffic between cluster nodes; the dashboard (8265) only from the
configured operator CIDRs (none by default); Serve (8000) only from the groups
the ingress adds; never port 22 (Session Manager replaces SSH). Outbound:
HTTPS and HTTP (package mirrors, AWS APIs) plus the cluster itself; Redis only
from and to the head group, which only the head carries: workers never talk to
the GCS store, and a worker runs user code.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.ray_cluster.args import RayClusterArgs
from components.ray_cluster.plan import DASHBOARD_PORT, HEAD_NODE_TYPE, REDIS_PORT, SERVE_PORT, resource_tags

ANYWHERE = "0.0.0.0/0"
#: Outbound to the world: package mirrors (apt uses HTTP), PyPI, AWS APIs and S3.
EGRESS_PORTS = (443, 80)


class ClusterSecurity:
    """Creates the node, head (and Redis) security groups as children of `parent`."""

    def __init__(self, name: str, args: RayClusterArgs, parent: pulumi.Resource):
        self._name = name
        self._args = args
        self._opts = pulumi.ResourceOptions(parent=parent)
        cluster = args.cluster_id
        self.node = self._group("nodes", f"Ray nodes of {cluster}")
        #: Carried by the head alone, so rules can single it out (Redis admits only this group).
        self.head = self._group("head", f"Ray head of {cluster}")
        self.redis = (
            self._group("redis", f"GCS Redis of {cluster}: Redis from its Ray head only")
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
            self._redis_rules(self.redis)

    def _redis_rules(self, redis: aws.ec2.SecurityGroup) -> None:
        """Redis (GCS state) between the head group and the Redis group, in both directions, and nothing else."""
        self._egress("egress-redis", "GCS state in Redis", port=REDIS_PORT, target=redis.id, group=self.head)
        aws.vpc.SecurityGroupIngressRule(
            f"{self._name}-redis-from-head",
            security_group_id=redis.id,
            description="Redis from Ray heads of the cluster",
            ip_protocol="tcp",
            from_port=REDIS_PORT,
            to_port=REDIS_PORT,
            referenced_security_group_id=self.head.id,
            tags=self.tags("redis-from-head"),
            opts=self._opts,
        )

    def of_node_type(self, node_type: str) -> list[pulumi.Output[str]]:
        """The groups a node type's instances carry: every node the node group; the head also its own."""
        return [self.node.id, self.head.id] if node_type == HEAD_NODE_TYPE else [self.node.id]

    def _group(self, role: str, description: str) -> aws.ec2.SecurityGroup:
        return aws.ec2.SecurityGroup(
            f"{self._name}-{role}",
            vpc_id=self._args.vpc_id,
            description=description,
            tags=self.tags(role),
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

    def _rule(self, resource, role, description, *, port=None, protocol="tcp", cidr=None, source=None, group=None):
        """One rule on `group` (the node group by default); `source` is the peer group (the destination, for egress)."""
        return resource(
            f"{self._name}-{role}",
            security_group_id=(group or self.node).id,
            description=description,
            ip_protocol=protocol,
            from_port=port,
            to_port=port,
            cidr_ipv4=cidr,
            referenced_security_group_id=source,
            tags=self.tags(role),
            opts=self._opts,
        )
