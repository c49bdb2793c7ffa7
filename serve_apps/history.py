"""Every Serve config deployed to one target, so that a rollback can restore the last good one.

    history = History.for_target("prod-us-east-1")     # ~/.rayfleet/deployments/prod-us-east-1/
    history.record(config, outcome="running")
    history.rollback_target().config                     # the good config before the latest one

Records are JSON files `0001.json`, `0002.json`, ... holding the config, when
it was deployed, to which address, and its outcome (`running` or `failed`).
"""

from __future__ import annotations

import json
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from serve_apps.paths import rayfleet_home

Outcome = Literal["running", "failed"]
_RECORD_RE = re.compile(r"^(\d{4,})\.json$")


@dataclass(frozen=True)
class Record:
    seq: int
    path: Path
    config: dict[str, Any]
    outcome: Outcome
    deployed_at: float
    address: str
    note: str = ""


def target_key(name: str) -> str:
    """A folder name for an environment/region or a dashboard address (`http://127.0.0.1:8265` -> `127.0.0.1-8265`)."""
    name = re.sub(r"^[a-z]+://", "", name)
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-") or "default"


class History:
    def __init__(self, folder: Path):
        self.folder = folder

    @classmethod
    def for_target(cls, key: str) -> History:
        return cls(rayfleet_home() / "deployments" / target_key(key))

    def records(self) -> list[Record]:
        if not self.folder.is_dir():
            return []
        out = []
        for path in self.folder.iterdir():
            match = _RECORD_RE.match(path.name)
            if not match:
                continue
            doc = json.loads(path.read_text())
            out.append(
                Record(int(match[1]), path, doc["config"], doc["outcome"], doc["deployedAt"], doc["address"], doc.get("note", ""))
            )
        return sorted(out, key=lambda r: r.seq)

    def record(self, config: dict[str, Any], outcome: Outcome, address: str, note: str = "") -> Record:
        self.folder.mkdir(parents=True, exist_ok=True)
        existing = self.records()
        seq = existing[-1].seq + 1 if existing else 1
        path = self.folder / f"{seq:04d}.json"
        now = time.time()
        doc = {"config": config, "outcome": outcome, "deployedAt": now, "address": address, "note": note}
        path.write_text(json.dumps(doc, indent=1) + "\n")
        return Record(seq, path, config, outcome, now, address, note)

    def rollback_target(self) -> Record | None:
        """The most recent good record older than the latest one (the latest is what is deployed now)."""
        records = self.records()
        for record in reversed(records[:-1]):
            if record.outcome == "running":
                return record
        return None
