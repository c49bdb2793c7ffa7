"""The ArtifactReplication component: S3 replication from the primary's artifact bucket to every secondary's.

    ArtifactReplication("replication", ArtifactReplicationArgs(source_region="us-east-1",
        source_bucket_id=primary.bucket_id, source_bucket_arn=primary.bucket_arn, prefix="models/",
        destination_bucket_arns={"us-west-2": secondary.bucket_arn}, tags=ctx),
        opts=pulumi.ResourceOptions(provider=aws_us_east_1, depends_on=[...versioning...]))

Every region then loads the same model versions from a bucket in its own region. Only
`args.prefix` (the models) is replicated: node agents and app code are uploaded by each
region's own stack, and a replica would overwrite them.
S3 replicates objects written after the configuration exists; objects already in
the primary bucket need one S3 Batch Replication job.
"""

from __future__ import annotations

import json

import pulumi
import pulumi_aws as aws

from components.artifact_replication.args import ArtifactReplicationArgs
from components.artifact_replication.permissions import replication_policy, trust_policy
from components.artifact_replication.plan import STORAGE_CLASS, replication_rules
from components.tags import build_tags

COMPONENT = "replication"


class ArtifactReplication(pulumi.ComponentResource):
    role_arn: pulumi.Output[str]

    def __init__(self, name: str, args: ArtifactReplicationArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__(f"rayfleet:{COMPONENT}:ArtifactReplication", name, None, opts)
        self.args = args
        role = self._role(name)
        policy = self._policy(name, role)
        self._configuration(name, role, policy)
        self.role_arn = role.arn
        self.register_outputs({"roleArn": self.role_arn})

    def _role(self, name: str) -> aws.iam.Role:
        """The role S3 assumes to copy the primary's objects."""
        cluster, regions = self.args.tags.cluster, list(self.args.destination_bucket_arns)
        account = aws.get_caller_identity_output(opts=pulumi.InvokeOutputOptions(parent=self))
        return aws.iam.Role(
            f"{name}-role",
            assume_role_policy=account.account_id.apply(lambda account_id: json.dumps(trust_policy(account_id))),
            description=f"S3 replication of {cluster}'s artifacts to {', '.join(regions)}",
            tags=build_tags(self.args.tags, COMPONENT, name=f"{cluster}-replication"),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _policy(self, name: str, role: aws.iam.Role) -> aws.iam.RolePolicy:
        """What the role may do: read the primary's bucket, write each destination (permissions.py)."""
        args = self.args
        return aws.iam.RolePolicy(
            f"{name}-policy",
            role=role.id,
            policy=pulumi.Output.all(args.source_bucket_arn, *args.destination_bucket_arns.values()).apply(
                lambda arns: json.dumps(replication_policy(arns[0], list(arns[1:])))
            ),
            opts=pulumi.ResourceOptions(parent=self),
        )

    def _configuration(self, name: str, role: aws.iam.Role, policy: aws.iam.RolePolicy) -> None:
        """One rule per destination region (plan.replication_rules), on the primary's bucket."""
        destinations = self.args.destination_bucket_arns
        aws.s3.BucketReplicationConfig(
            f"{name}-config",
            bucket=self.args.source_bucket_id,
            role=role.arn,
            rules=[
                aws.s3.BucketReplicationConfigRuleArgs(
                    id=rule.id,
                    priority=rule.priority,
                    status="Enabled",
                    # A filter (schema V2) is what lets several rules coexist; S3 then requires
                    # delete_marker_replication to be stated.
                    filter=aws.s3.BucketReplicationConfigRuleFilterArgs(prefix=self.args.prefix),
                    delete_marker_replication=aws.s3.BucketReplicationConfigRuleDeleteMarkerReplicationArgs(
                        status="Enabled"
                    ),
                    destination=aws.s3.BucketReplicationConfigRuleDestinationArgs(
                        bucket=destinations[rule.destination_region],
                        storage_class=STORAGE_CLASS,
                    ),
                )
                for rule in replication_rules(list(destinations))
            ],
            # S3 checks the role's permissions when the configuration is written.
            opts=pulumi.ResourceOptions(parent=self, depends_on=[policy]),
        )
