"""An environment's estimate end to end: its stack file -> the offline plan -> priced lines.

    >>> estimate_environment(environment_file("prod")).monthly.expected > 0
    True
"""

from __future__ import annotations

from pathlib import Path

from cost.estimate import Estimate, estimate_plan
from cost.prices import PriceCatalog
from stacks.loader import load_file
from stacks.plan import run_plan


def estimate_environment(stack_file: Path, prices: PriceCatalog | None = None) -> Estimate:
    cfg = load_file(stack_file)
    return estimate_plan(run_plan(path=stack_file), cfg, prices or PriceCatalog.load())
