"""The IAM the S3 replication role needs, scoped to exactly the source and destination buckets.

    >>> policy = replication_policy("arn:aws:s3:::src", ["arn:aws:s3:::dst"])
    >>> policy["Statement"][2]["Resource"]
    ['arn:aws:s3:::dst/*']
    >>> trust_policy("123456789012")["Statement"][0]["Condition"]
    {'StringEquals': {'aws:SourceAccount': '123456789012'}}

Pure: the component fills in the ARNs once the buckets exist.
"""

from __future__ import annotations

#: Read the source bucket's replication rules and list it.
SOURCE_BUCKET_ACTIONS = ["s3:GetReplicationConfiguration", "s3:ListBucket"]
#: Read each object version to copy, with its ACL and tags.
SOURCE_OBJECT_ACTIONS = [
    "s3:GetObjectVersionForReplication",
    "s3:GetObjectVersionAcl",
    "s3:GetObjectVersionTagging",
]
#: Write replicas, delete markers and tags into the destinations.
DESTINATION_OBJECT_ACTIONS = ["s3:ReplicateObject", "s3:ReplicateDelete", "s3:ReplicateTags"]


def trust_policy(account_id: str) -> dict:
    """Only S3, acting for a bucket of this account, may assume the replication role.

    `aws:SourceAccount` keeps S3 acting for another account's bucket (a confused deputy) from
    assuming it, as IAM's cross-service guidance recommends for service roles. S3's own
    replication guide shows the trust without a condition and does not say S3 sends the key on
    this AssumeRole: after the first deploy, check that a new `models/` object reaches replication
    status COMPLETED (FAILED means the condition, not the policy, refused S3).
    """
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"Service": "s3.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": account_id}},
            }
        ],
    }


def replication_policy(source_bucket_arn: str, destination_bucket_arns: list[str]) -> dict:
    if not destination_bucket_arns:
        raise ValueError("replication needs at least one destination bucket")
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "ReadSourceBucket", "Effect": "Allow", "Action": SOURCE_BUCKET_ACTIONS, "Resource": [source_bucket_arn]},
            {
                "Sid": "ReadSourceObjects",
                "Effect": "Allow",
                "Action": SOURCE_OBJECT_ACTIONS,
                "Resource": [f"{source_bucket_arn}/*"],
            },
            {
                "Sid": "WriteReplicas",
                "Effect": "Allow",
                "Action": DESTINATION_OBJECT_ACTIONS,
                "Resource": [f"{arn}/*" for arn in destination_bucket_arns],
            },
        ],
    }
