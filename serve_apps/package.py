"""The code packages replicas run from: deterministic zips named by their content hash.

    data, key = code_package()                  # (b"PK...", "serve/code-1a2b3c4d5e6f.zip"): rayfleet's own apps
    data, key = source_package(Path("my_app"))  # (b"PK...", "serve/source-0f1e2d3c4b5a.zip"): a user's source

Serve's `runtime_env.working_dir` must be a remote URI when deployed through
the dashboard: the deployer uploads these zips to the region's artifact bucket
(or, locally, writes them under $RAYFLEET_HOME/packages and uses file:// URIs).
The same sources always give the same bytes (sorted entries, fixed timestamps),
so an unchanged app is not re-uploaded or redeployed.
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
#: The one top-level folder of every package. Ray unpacks a remote working_dir (s3://, file://) and, when
#: everything in it lies under one folder, takes that folder's contents as the working dir
#: (ray/_private/runtime_env/packaging.py, remove_top_level_directory). Without a wrapper a source that
#: holds one package (`fraud/`) would lose it: its modules would land at the top and `fraud` not import.
_TOP = "package/"
#: Folders of a source that are never code: caches, version control, virtual environments.
_SKIPPED = {"__pycache__", ".git", ".venv", "venv", ".pytest_cache", ".mypy_cache", "node_modules"}


def code_package(root: Path = ROOT) -> tuple[bytes, str]:
    paths = sorted({p for pattern in _FILES for p in root.glob(pattern) if "__pycache__" not in p.parts})
    data = _zip(root, paths)
    return data, f"serve/code-{hashlib.sha256(data).hexdigest()[:12]}.zip"


def source_package(source: Path) -> tuple[bytes, str]:
    """Every file below `source` (but caches, VCS and virtualenvs), its paths relative to `source` under `_TOP`."""
    paths = sorted(
        p for p in source.rglob("*")
        if p.is_file() and not _SKIPPED.intersection(p.relative_to(source).parts) and p.suffix != ".pyc"
    )
    data = _zip(source, paths)
    return data, f"serve/source-{hashlib.sha256(data).hexdigest()[:12]}.zip"


def _zip(root: Path, paths: list[Path]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in paths:
            info = zipfile.ZipInfo(_TOP + path.relative_to(root).as_posix(), date_time=_EPOCH)
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes(), compress_type=zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


def app_sources(apps) -> list[Path]:
    """The distinct `source` folders of `apps` (ServeApp entries) other than the project root, in order."""
    from serve_apps.discovery import source_dir

    root = source_dir(None)
    found = [source_dir(app.source) for app in apps]
    return list(dict.fromkeys(s for s in found if s != root))


def local_packages(sources: list[Path], folder: Path) -> dict[str, str]:
    """Write each source's package into `folder`; source -> its file:// URI (a local cluster's working_dir)."""
    out = {}
    for source in sources:
        data, key = source_package(source)
        path = folder / Path(key).name
        if not path.is_file():
            folder.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        out[str(source)] = path.resolve().as_uri()
    return out
