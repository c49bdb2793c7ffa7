"""An emulated node's Python venv: the project's own environment under the path the user data names.

    python3 -m venv /opt/rayfleet/venv          # (the node's python3 shim) -> create("/opt/rayfleet/venv")
    /opt/rayfleet/venv/bin/pip install --quiet 'ray[serve]==2.60.0' 'boto3>=1.34,<2'   # -> pip([...])

The node's venv holds wrappers that run the project environment's python, ray and serve, so a
node runs the Ray this machine has. `pip install` installs nothing: it checks that each pinned
requirement is met by the installed version, and fails naming the one that is not, as a real
install of another version would give a node a Ray the cluster does not run.
"""

from __future__ import annotations

import sys
from importlib import metadata
from pathlib import Path

#: The commands of the node's venv that run the project environment's own.
COMMANDS = ("python", "python3", "ray", "serve")


def create(venv: Path, environment_bin: Path) -> None:
    """`venv`/bin with a wrapper per command of `environment_bin`, and a pip that checks instead of installing."""
    bin_dir = venv / "bin"
    bin_dir.mkdir(parents=True, exist_ok=True)
    for name in COMMANDS:
        _write_script(bin_dir / name, f'exec {environment_bin / name} "$@"\n')
    _write_script(bin_dir / "pip", f'exec {environment_bin / "python"} -m components.drills.emulate.node_venv pip "$@"\n')
    (venv / "pyvenv.cfg").write_text(f"home = {environment_bin}\n# an emulated node's venv: {environment_bin.parent}\n")


def _write_script(path: Path, body: str) -> None:
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


def unmet(requirements: list[str]) -> list[str]:
    """The requirements the installed distributions do not meet, each with the version found."""
    from packaging.requirements import Requirement

    problems = []
    for text in requirements:
        requirement = Requirement(text)
        try:
            installed = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            problems.append(f"{text} (not installed)")
            continue
        if installed not in requirement.specifier:
            problems.append(f"{text} (installed: {installed})")
    return problems


def pip(argv: list[str]) -> int:
    if argv[:1] != ["install"]:
        print(f"pip (emulated node): nothing to do for: pip {' '.join(argv)}")
        return 0
    requirements = [a for a in argv[1:] if not a.startswith("-") and a != "pip"]
    problems = unmet(requirements)
    if problems:
        print("pip (emulated node): this machine's environment does not meet: " + "; ".join(problems), file=sys.stderr)
        return 1
    print(f"pip (emulated node): already installed: {' '.join(requirements)}")
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["create"]:
        create(Path(sys.argv[2]), Path(sys.argv[3]))
    else:
        sys.exit(pip(sys.argv[2:]))
