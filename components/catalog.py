"""The instance catalog: the one source of facts about EC2 instance types and AWS regions.

Config validation, the autoscaler's node resources and the cost estimate all
read instance facts from here, never from a second table.

    >>> from components.catalog import instance_type
    >>> instance_type("m6i.2xlarge").vcpus
    8
"""

from __future__ import annotations

import difflib
import json
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources


@dataclass(frozen=True)
class InstanceType:
    """What one EC2 instance type offers to Ray."""

    name: str
    vcpus: int
    memory_gib: float
    gpus: int
    gpu_model: str | None
    arch: str

    @property
    def family(self) -> str:
        return self.name.split(".", 1)[0]


@dataclass(frozen=True)
class InstanceFacts:
    source: str
    as_of: str
    regions: tuple[str, ...]
    instance_types: dict[str, InstanceType]


@lru_cache(maxsize=1)
def facts() -> InstanceFacts:
    raw = json.loads(resources.files("components").joinpath("data/instances.json").read_text())
    types = {
        name: InstanceType(
            name=name,
            vcpus=spec["vcpus"],
            memory_gib=float(spec["memoryGib"]),
            gpus=spec["gpus"],
            gpu_model=spec["gpuModel"],
            arch=spec["arch"],
        )
        for name, spec in raw["instanceTypes"].items()
    }
    return InstanceFacts(raw["source"], raw["asOf"], tuple(raw["regions"]), types)


def is_known_instance_type(name: str) -> bool:
    return name in facts().instance_types


def instance_type(name: str) -> InstanceType:
    """The facts for `name`; KeyError when the catalog does not know it."""
    return facts().instance_types[name]


def is_aws_region(name: str) -> bool:
    return name in facts().regions


def closest(name: str, candidates) -> str | None:
    """The candidate most like `name`, for "did you mean" hints."""
    match = difflib.get_close_matches(name, list(candidates), n=1, cutoff=0.6)
    return match[0] if match else None


def smallest(names) -> InstanceType:
    """The smallest of some instance types (fewest GPUs, then vCPUs, then memory): what every one of them offers."""
    return min((instance_type(n) for n in names), key=lambda t: (t.gpus, t.vcpus, t.memory_gib, t.name))
