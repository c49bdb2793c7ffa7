"""Where rayfleet keeps local state: `$RAYFLEET_HOME`, default `~/.rayfleet`.

    rayfleet_home() / "models" / "digits-v1.json"

Tests point RAYFLEET_HOME at a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path


def rayfleet_home() -> Path:
    return Path(os.environ.get("RAYFLEET_HOME") or Path.home() / ".rayfleet").expanduser()


def models_dir() -> Path:
    return rayfleet_home() / "models"
