"""An environment's stack file as committed at a git ref, for `rayfleet cost diff --base-ref REF`.

    >>> with committed_stack_file("dev", "origin/main") as path:
    ...     estimate_environment(path)

The file is `git show REF:stacks/Pulumi.<env>.yaml` (the project's `stacks/`
folder, found as every command finds it), written under its own name to a
temporary folder so that the one loader reads it like any stack file. Every
way git can refuse (no git, no repository, no such ref, no such file at the
ref) is one `RayfleetError` with a fix.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from components.errors import ConfigError, RayfleetError
from stacks.loader import env_name_of, stacks_dir

COMPARE_NOW = "compare with the stack file as it is now: --against ENV without --base-ref"


def _git(folder: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(folder), *args], capture_output=True, text=True, check=False)


def _checkout_root(ref: str, folder: Path) -> Path:
    if shutil.which("git") is None:
        raise RayfleetError(f"--base-ref {ref} needs git, and git is not installed. Fix: install git, or {COMPARE_NOW}")
    top = _git(folder, "rev-parse", "--show-toplevel")
    if top.returncode != 0:
        raise RayfleetError(
            f"--base-ref {ref}: {folder} is not inside a git repository. "
            f"Fix: run rayfleet from the project's git checkout, or {COMPARE_NOW}"
        )
    return Path(top.stdout.strip())


def committed_text(env: str, ref: str, folder: Path | None = None) -> tuple[str, str]:
    """(`REF:stacks/Pulumi.<env>.yaml`, the file's text at that ref)."""
    folder = (folder or stacks_dir()).resolve()
    root = _checkout_root(ref, folder)
    if _git(folder, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}").returncode != 0:
        raise RayfleetError(
            f"--base-ref {ref}: no commit, branch or tag of that name in {root}. "
            "Fix: check the name ('git branch -a', 'git tag'), or fetch it ('git fetch origin')"
        )
    stacks = folder.relative_to(root).as_posix()
    for suffix in ("yaml", "yml"):
        where = f"{stacks}/Pulumi.{env}.{suffix}"
        shown = _git(root, "show", f"{ref}:{where}")
        if shown.returncode == 0:
            return f"{ref}:{where}", shown.stdout
    listed = _git(root, "ls-tree", "--name-only", f"{ref}:{stacks}")
    names = environment_names_in(listed.stdout.split()) if listed.returncode == 0 else []
    raise RayfleetError(
        f"--base-ref {ref}: {stacks}/Pulumi.{env}.yaml does not exist at {ref} "
        f"(environments there: {', '.join(names) or 'none'}). "
        "Fix: name an environment committed there with --against ENV, or use a later ref"
    )


def environment_names_in(file_names: list[str]) -> list[str]:
    """The environments among a folder's file names (`Pulumi.<env>.yaml`)."""
    stack_files = [n for n in file_names if n.startswith("Pulumi.") and n.endswith((".yaml", ".yml"))]
    return sorted(env_name_of(Path(n)) for n in stack_files)


@contextmanager
def committed_stack_file(env: str, ref: str, folder: Path | None = None) -> Iterator[Path]:
    """The committed file, as a path the loader and the plan read; config errors name `REF:path`."""
    source, text = committed_text(env, ref, folder)
    with tempfile.TemporaryDirectory(prefix="rayfleet-base-") as tmp:
        path = Path(tmp) / f"Pulumi.{env}.yaml"
        path.write_text(text)
        try:
            yield path
        except ConfigError as err:
            raise ConfigError(source, err.issues) from None
        except RayfleetError as err:
            raise RayfleetError(str(err).replace(str(path), source)) from None
