"""Snapshot files for rendered text (user data, autoscaler configs).

A snapshot changes only deliberately: run the tests with RAYFLEET_UPDATE_SNAPSHOTS=1,
then review the diff of tests/unit/snapshots/ like any other change.
"""

from __future__ import annotations

import os
from pathlib import Path

SNAPSHOTS = Path(__file__).resolve().parents[1] / "unit" / "snapshots"


def assert_matches_snapshot(text: str, name: str) -> None:
    path = SNAPSHOTS / name
    if os.environ.get("RAYFLEET_UPDATE_SNAPSHOTS") == "1":
        path.write_text(text)
        return
    assert path.is_file(), f"no snapshot {path}; create it with RAYFLEET_UPDATE_SNAPSHOTS=1 and review it"
    assert text == path.read_text(), f"{name} differs from its snapshot; if intended, regenerate and review the diff"
