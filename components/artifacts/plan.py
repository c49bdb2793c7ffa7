"""Pure decisions about the artifact bucket: what the node-agent package holds, and where it lives.

    >>> node_agent_key(b"PK...")
    'node-agent/rayfleet-node-agent-8fba1050d81d4d9b.zip'
    >>> bucket_prefix("rayfleet-prod-us-east-1")
    'rayfleet-prod-us-east-1-'
    >>> "components/node_agents/node_provider.py" in node_agent_files(SOURCE_ROOT)
    True

The package's key carries the hash of its bytes, and the user data names the
key: new agent code is a new key, so new user data, a new launch template
version and a rollout to every node (an unchanged package keeps its key, and
no node is replaced).

The node agents run on cluster nodes that have only ray and boto3. The package
is `components/node_agents/` whole, plus the core modules (top-level modules
of `components/`) it imports, found by reading its imports: nothing is listed
by hand, so a new agent module ships without anyone remembering to add it.
"""

from __future__ import annotations

import ast
import hashlib
from pathlib import Path

#: The `rayfleet:component` tag value of the bucket and its objects (and the type token's middle part).
COMPONENT = "artifacts"

#: The repository root (where `components/` lives).
SOURCE_ROOT = Path(__file__).resolve().parents[2]
#: The package shipped to the nodes, relative to the source root.
NODE_AGENT_PACKAGE = "components/node_agents"
#: Where node-agent packages live in the bucket, one object per package content.
NODE_AGENT_PREFIX = "node-agent/"
#: Where model versions go (replicated across regions by the failover work).
MODELS_PREFIX = "models/"

#: S3 allows at most 37 characters in a bucket-name prefix (Pulumi appends a random suffix).
_MAX_PREFIX = 37


def package_digest(package: bytes) -> str:
    """The short content hash that names a package (its file here, its key in the bucket)."""
    return hashlib.sha256(package).hexdigest()[:16]


def node_agent_key(package: bytes) -> str:
    """The bucket key of a node-agent package: named by its content, so changed code is a new key."""
    return f"{NODE_AGENT_PREFIX}rayfleet-node-agent-{package_digest(package)}.zip"


def bucket_prefix(cluster_id: str) -> str:
    """A bucket-name prefix that says whose bucket it is, within S3's limit."""
    return cluster_id[: _MAX_PREFIX - 1].rstrip("-") + "-"


def node_agent_files(source_root: Path) -> tuple[str, ...]:
    """The files of the node-agent package, relative to `source_root`, sorted.

    Every module of `components/node_agents/`, `components/__init__.py`, and
    each core module (`components/<name>.py`) the package imports, with what
    those import in turn. The zip keeps these paths, so
    `components.node_agents.node_provider` imports from it as it does here.
    """
    package = sorted(
        path.relative_to(source_root).as_posix() for path in (source_root / NODE_AGENT_PACKAGE).rglob("*.py")
    )
    files = {"components/__init__.py", *package}
    todo = list(package)
    while todo:
        for core in _core_imports(source_root, todo.pop()):
            if core not in files:
                files.add(core)
                todo.append(core)
    return tuple(sorted(files))


def _core_imports(source_root: Path, relative: str) -> set[str]:
    """The core modules (`components/<name>.py`) one file imports, at any depth in the file."""
    found = set()
    for node in ast.walk(ast.parse((source_root / relative).read_text(), relative)):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{alias.name}" for alias in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if len(parts) >= 2 and parts[0] == "components" and (source_root / "components" / f"{parts[1]}.py").is_file():
                found.add(f"components/{parts[1]}.py")
    return found
