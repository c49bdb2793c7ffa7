"""Create a region's boot-time control plane in an emulated AWS (a moto server), from the offline plan.

    with moto_server() as server:
        region = create_control_plane(plan.resources, "us-east-1", server, packages=[(b"PK...", "serve/code-1a2b.zip")])
    region.ids.ids["lt-8a883be0659e56d82"]     # 'lt-0f9e...': the emulated launch template
    region.counts()                             # {'aws:autoscaling/group:Group': 5, ...}

The calls come from components.drills.emulate.plane (one per planned resource, in dependency
order); this module only sends them and records the IDs they return, so that the resources
created later name the emulated IDs. `packages` are the applications' code packages, put in
the artifact bucket at the keys the Serve config names.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from components.drills.emulate.moto_server import MotoServer
from components.drills.emulate.plane import BUCKET, BUCKET_OBJECT, Call, IdMap, Planned, boot_resources, recipe_for
from components.errors import RayfleetError

#: The code packages' content type, as the deployer's uploads leave it (S3's default).
PACKAGE_OBJECT = "serve code package"


@dataclass(frozen=True)
class Created:
    """One resource in the emulated region: what the plan called it, and the ID the emulation gave it."""

    type: str
    name: str
    planned_id: str
    emulated_id: str

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "name": self.name, "plannedId": self.planned_id, "emulatedId": self.emulated_id}


@dataclass
class ControlPlane:
    region: str
    endpoint: str
    created: list[Created] = field(default_factory=list)
    ids: IdMap = field(default_factory=IdMap)
    seconds: float = 0.0

    def counts(self) -> dict[str, int]:
        return dict(Counter(c.type for c in self.created))

    def to_json(self) -> dict[str, Any]:
        return {
            "region": self.region,
            "endpoint": self.endpoint,
            "seconds": round(self.seconds, 2),
            "counts": self.counts(),
            "created": [c.to_json() for c in self.created],
        }


def create_control_plane(
    resources: Iterable[Planned],
    region: str,
    server: MotoServer,
    *,
    packages: Iterable[tuple[bytes, str]] = (),
    on_created: Callable[[Created], None] = lambda _c: None,
) -> ControlPlane:
    """Create what `region`'s nodes need at boot; `packages` (bytes, key) go to the region's artifact bucket."""
    import boto3

    started = time.monotonic()
    plane = ControlPlane(region, server.endpoint)
    clients: dict[str, Any] = {}

    def send(call: Call) -> dict[str, Any]:
        if call.service not in clients:
            clients[call.service] = boto3.client(call.service, **server.client_args(region))
        return _send(clients[call.service], call)

    buckets = []
    for resource in boot_resources(resources, region):
        created = _create(resource, plane.ids, send)
        plane.created.append(created)
        on_created(created)
        if resource.type == BUCKET:
            buckets.append(created.emulated_id)
    for data, key in packages:
        plane.created.append(_put_package(data, key, buckets, send))
        on_created(plane.created[-1])
    plane.seconds = time.monotonic() - started
    return plane


def _create(resource: Planned, ids: IdMap, send: Callable[[Call], dict[str, Any]]) -> Created:
    recipe = recipe_for(resource, ids)
    response = send(recipe.create)
    emulated = str(_at(response, recipe.id_path)) if recipe.id_path else resource.id
    if recipe.id_path:
        ids.ids[resource.id] = emulated
    if recipe.version_path:
        ids.versions[emulated] = str(_at(response, recipe.version_path))
    for call in recipe.then(emulated):
        send(call)
    if resource.type == BUCKET_OBJECT:
        emulated = f"s3://{recipe.create.kwargs['Bucket']}/{recipe.create.kwargs['Key']}"
    return Created(resource.type, resource.name, resource.id, emulated)


def _put_package(data: bytes, key: str, buckets: list[str], send: Callable[[Call], dict[str, Any]]) -> Created:
    if len(buckets) != 1:
        raise RayfleetError(f"the plan's region holds {len(buckets)} artifact buckets, so the code package {key} "
                            "has no single home. Fix: plan one artifact bucket per region")
    send(Call("s3", "put_object", {"Bucket": buckets[0], "Key": key, "Body": data}))
    return Created(PACKAGE_OBJECT, key, key, f"s3://{buckets[0]}/{key}")


def _at(response: dict[str, Any], path: tuple[str, ...]) -> Any:
    value: Any = response
    for key in path:
        value = value[key]
    return value


def _send(client: Any, call: Call) -> dict[str, Any]:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return getattr(client, call.operation)(**call.kwargs)
    except (BotoCoreError, ClientError) as err:
        raise RayfleetError(f"the emulated control plane refused {call.service} {call.operation} ({err}). "
                            "Fix: add the input to the known gaps in components/drills/emulate/plane.py, "
                            "or map it as AWS expects") from None
