"""Pure decisions of artifact replication: one rule per secondary region, in a stable order.

    >>> [(r.id, r.priority) for r in replication_rules(["us-west-2", "eu-west-1"])]
    [('to-us-west-2', 1), ('to-eu-west-1', 2)]
"""

from __future__ import annotations

from dataclasses import dataclass

#: Replicas keep the source's storage class.
STORAGE_CLASS = "STANDARD"


@dataclass(frozen=True)
class ReplicationRule:
    id: str
    #: Rules with several destinations need distinct priorities (S3's replication schema V2).
    priority: int
    destination_region: str


def replication_rules(destination_regions: list[str]) -> list[ReplicationRule]:
    if not destination_regions:
        raise ValueError("replication needs at least one destination region")
    return [ReplicationRule(f"to-{region}", index + 1, region) for index, region in enumerate(destination_regions)]
