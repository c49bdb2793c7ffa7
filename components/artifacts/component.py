"""The Artifacts component: one private, versioned, encrypted S3 bucket per region, with the node-agent package.

    artifacts = Artifacts("artifacts-us-east-1", ArtifactsArgs(region="us-east-1", tags=ctx, source_root=ROOT),
                          opts=pulumi.ResourceOptions(provider=aws_us_east_1))
    artifacts.bucket_name, artifacts.node_agent_key   # what the cluster's user data fetches
    artifacts.node_agent                              # the object itself: what a node's first boot waits for

Versioning is on from the start, so cross-region replication (which requires
it) can be added by a later component from `bucket_id` / `bucket_arn`.
"""

from __future__ import annotations

import io
import json
import os
import tempfile
import zipfile
from pathlib import Path

import pulumi
import pulumi_aws as aws

from components.artifacts.args import ArtifactsArgs
from components.artifacts.plan import COMPONENT, bucket_prefix, node_agent_files, node_agent_key, package_digest
from components.tags import build_tags


class Artifacts(pulumi.ComponentResource):
    bucket_id: pulumi.Output[str]
    bucket_name: pulumi.Output[str]
    bucket_arn: pulumi.Output[str]
    #: `node-agent/rayfleet-node-agent-<hash>.zip`: a new key whenever the agent code changes.
    node_agent_key: str
    node_agent: aws.s3.BucketObjectv2

    def __init__(self, name: str, args: ArtifactsArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("rayfleet:artifacts:Artifacts", name, None, opts)
        self.args = args
        bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket_prefix=bucket_prefix(args.tags.cluster),
            tags=self._tags("artifacts"),
            opts=pulumi.ResourceOptions(parent=self),
        )
        settings = self._bucket_settings(name, bucket)
        self._tls_only_policy(name, bucket, settings)
        self.node_agent_key, self.node_agent = self._node_agent(name, bucket, settings)

        self.bucket_id = bucket.id
        self.bucket_name = bucket.bucket
        self.bucket_arn = bucket.arn
        self.register_outputs({"bucketId": bucket.id, "bucketArn": bucket.arn, "nodeAgentKey": self.node_agent_key})

    def _tags(self, role: str) -> dict[str, str]:
        return build_tags(self.args.tags, COMPONENT, name=f"{self.args.tags.cluster}-{role}")

    def _bucket_settings(self, name: str, bucket: aws.s3.Bucket) -> list[pulumi.Resource]:
        """Private, owner-enforced, versioned (for replication) and encrypted: in place before anything is written."""
        by_default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs
        return [
            aws.s3.BucketPublicAccessBlock(
                f"{name}-public-access-block",
                bucket=bucket.id,
                block_public_acls=True,
                block_public_policy=True,
                ignore_public_acls=True,
                restrict_public_buckets=True,
                opts=pulumi.ResourceOptions(parent=self),
            ),
            aws.s3.BucketOwnershipControls(
                f"{name}-ownership",
                bucket=bucket.id,
                rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
                opts=pulumi.ResourceOptions(parent=self),
            ),
            aws.s3.BucketVersioning(
                f"{name}-versioning",
                bucket=bucket.id,
                versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
                opts=pulumi.ResourceOptions(parent=self),
            ),
            aws.s3.BucketServerSideEncryptionConfiguration(
                f"{name}-encryption",
                bucket=bucket.id,
                rules=[
                    aws.s3.BucketServerSideEncryptionConfigurationRuleArgs(
                        apply_server_side_encryption_by_default=by_default(sse_algorithm="AES256"),
                        bucket_key_enabled=True,
                    )
                ],
                opts=pulumi.ResourceOptions(parent=self),
            ),
        ]

    def _tls_only_policy(self, name: str, bucket: aws.s3.Bucket, settings: list[pulumi.Resource]) -> None:
        aws.s3.BucketPolicy(
            f"{name}-tls-only",
            bucket=bucket.id,
            policy=bucket.arn.apply(lambda arn: json.dumps(tls_only_policy(arn))),
            opts=pulumi.ResourceOptions(parent=self, depends_on=settings),
        )

    def _node_agent(
        self, name: str, bucket: aws.s3.Bucket, settings: list[pulumi.Resource]
    ) -> tuple[str, aws.s3.BucketObjectv2]:
        """The node-agent package at its content-addressed key: what every node's user data fetches."""
        # An S3 object's `source` takes a file asset, not an archive (the provider rejects one):
        # zip the agents here and upload that file.
        source_root = self.args.source_root
        package = node_agent_zip(source_root, node_agent_files(source_root))
        key = node_agent_key(package)
        # A new key replaces the object: Pulumi creates the new one, updates what depends on it
        # (the ASGs, which then refresh to a template naming the new key), and deletes the old one last.
        package_path = write_package(package, Path(tempfile.gettempdir()))
        return key, aws.s3.BucketObjectv2(
            f"{name}-node-agent",
            bucket=bucket.id,
            key=key,
            source=pulumi.FileAsset(str(package_path)),
            content_type="application/zip",
            tags=self._tags("node-agent"),
            opts=pulumi.ResourceOptions(parent=self, depends_on=settings),
        )


def tls_only_policy(bucket_arn: str) -> dict:
    """Refuse every request that does not use TLS."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "DenyInsecureTransport",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:*",
                "Resource": [bucket_arn, f"{bucket_arn}/*"],
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            }
        ],
    }


def node_agent_zip(source_root: Path, files: tuple[str, ...]) -> bytes:
    """`files` read from `source_root`, zipped under their relative paths (what nodes unpack onto PYTHONPATH).

    Byte-for-byte the same for the same sources (fixed timestamps and order),
    so an unchanged repository never uploads it again.
    """
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(files):
            info = zipfile.ZipInfo(path, date_time=(1980, 1, 1, 0, 0, 0))
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, (source_root / path).read_bytes())
    return buffer.getvalue()


def write_node_agent_zip(source_root: Path, files: tuple[str, ...], directory: Path) -> Path:
    """The package as a file named by its content, so its path (part of the asset) changes only with it."""
    return write_package(node_agent_zip(source_root, files), directory)


def write_package(package: bytes, directory: Path) -> Path:
    """`package` written once to a file named by its content hash (the same hash as its bucket key)."""
    path = directory / f"rayfleet-node-agent-{package_digest(package)}.zip"
    if not path.exists():
        # Written aside and renamed: concurrent runs never see half a file.
        partial = path.with_suffix(f".{os.getpid()}.tmp")
        partial.write_bytes(package)
        os.replace(partial, path)
    return path
