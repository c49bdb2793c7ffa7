"""The GCS store of head fault tolerance: ElastiCache Redis with TLS and AUTH, reachable from the node group only.

    store = GcsStore(name, args, parent=cluster, security_group=security.redis)
    store.group.primary_endpoint_address, store.auth_secret.arn   # what the head's user data reads

With the GCS state in Redis, a replaced head picks up where the last one was
and workers (and their Serve replicas) keep answering meanwhile.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.ray_cluster.args import RayClusterArgs
from components.ray_cluster.plan import REDIS_PORT, redis_group_id, resource_tags

ENGINE_VERSION = "7.1"


class GcsStore:
    """Creates the Redis replication group and its AUTH-token secret as children of `parent`."""

    def __init__(self, name: str, args: RayClusterArgs, parent: pulumi.Resource, security_group: aws.ec2.SecurityGroup):
        assert args.gcs_redis is not None, "a GCS store needs args.gcs_redis"
        self._name, self._args, self._parent = name, args, parent
        auth_token = self._auth_token()
        self.group = self._replication_group(auth_token, security_group)

    def _auth_token(self) -> pulumi.Output[str]:
        """The Redis AUTH token, kept in the secret the head reads it from at boot.

        The token comes from Secrets Manager's password generator. ElastiCache
        needs it at creation, so Pulumi holds it, as a secret (encrypted in
        state). The generator answers anew on every run: `ignore_changes`
        keeps the first token on the secret and the replication group alike.
        """
        password = aws.secretsmanager.get_random_password_output(
            password_length=64, exclude_punctuation=True, opts=pulumi.InvokeOutputOptions(parent=self._parent)
        )
        auth_token = pulumi.Output.secret(password.random_password)
        self.auth_secret = aws.secretsmanager.Secret(
            f"{self._name}-redis-auth",
            description=f"Redis AUTH token of {self._args.cluster_id}'s GCS store",
            tags=resource_tags(self._args.tags, "redis-auth"),
            opts=pulumi.ResourceOptions(parent=self._parent),
        )
        aws.secretsmanager.SecretVersion(
            f"{self._name}-redis-auth-value",
            secret_id=self.auth_secret.id,
            secret_string=auth_token,
            opts=pulumi.ResourceOptions(parent=self._parent, ignore_changes=["secretString"]),
        )
        return auth_token

    def _replication_group(
        self, auth_token: pulumi.Output[str], security_group: aws.ec2.SecurityGroup
    ) -> aws.elasticache.ReplicationGroup:
        """Redis in the private subnets: a primary and `replicas` replicas, multi-AZ with at least one."""
        cluster_id, redis = self._args.cluster_id, self._args.gcs_redis
        assert redis is not None
        subnets = aws.elasticache.SubnetGroup(
            f"{self._name}-redis-subnets",
            description=f"Private subnets of {cluster_id}",
            subnet_ids=self._args.private_subnet_ids,
            tags=resource_tags(self._args.tags, "redis-subnets"),
            opts=pulumi.ResourceOptions(parent=self._parent),
        )
        return aws.elasticache.ReplicationGroup(
            f"{self._name}-redis",
            replication_group_id=redis_group_id(cluster_id),
            description=f"GCS fault tolerance of {cluster_id}",
            engine="redis",
            engine_version=ENGINE_VERSION,
            node_type=redis.node_type,
            num_cache_clusters=1 + redis.replicas,
            automatic_failover_enabled=redis.replicas > 0,
            multi_az_enabled=redis.replicas > 0,
            port=REDIS_PORT,
            subnet_group_name=subnets.name,
            security_group_ids=[security_group.id],
            at_rest_encryption_enabled=True,
            transit_encryption_enabled=True,
            auth_token=auth_token,
            tags=resource_tags(self._args.tags, "redis"),
            opts=pulumi.ResourceOptions(parent=self._parent, ignore_changes=["authToken"]),
        )
