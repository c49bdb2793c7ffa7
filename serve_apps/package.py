"""The code package replicas run in the cloud: a deterministic zip of `serve_apps/`, named by its hash.

    data, key = code_package()            # (b"PK...", "serve/code-1a2b3c4d5e6f.zip")

Serve's `runtime_env.working_dir` must be a remote URI when deployed through
the dashboard; the deployer uploads this zip to the region's artifact bucket.
The same sources always give the same bytes (sorted entries, fixed
timestamps), so an unchanged app is not re-uploaded or redeployed.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: What replicas import: the apps, the error root they raise, and the contract (the region-health route).
_FILES = ("serve_apps/**/*.py", "stacks/__init__.py", "components/errors.py", "components/contract.py")
_EPOCH = (1980, 1, 1, 0, 0, 0)


def code_package(root: Path = ROOT) -> tuple[bytes, str]:
    paths = sorted({p for pattern in _FILES for p in root.glob(pattern) if "__pycache__" not in p.parts})
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            info = zipfile.ZipInfo(path.relative_to(root).as_posix(), date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    data = buffer.getvalue()
    return data, f"serve/code-{hashlib.sha256(data).hexdigest()[:12]}.zip"
