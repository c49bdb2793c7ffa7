"""`rayfleet serve new`: a folder holding a Serve application the user grows into their own.

    written = new_app("reviews", Path("reviews"))   # the files it wrote, relative to the folder

The folder is self-contained (no rayfleet imports), so it deploys the way any
user's application does: its stack entry names it as `source`. It carries a
copy of the drift helper (serve_apps/monitoring.py) as `<name>/monitoring.py`,
since a cluster runs the folder without rayfleet installed.
"""

from __future__ import annotations

import keyword
import re
import sys
from pathlib import Path
from string import Template

from components.errors import RayfleetError

TEMPLATES = Path(__file__).with_name("templates")

#: A Python package name that is also a valid application name once '_' reads '-' (at most 24 characters).
_NAME_RE = re.compile(r"^[a-z][a-z0-9]*(_[a-z0-9]+)*$")

#: Template -> where it goes, `{name}` being the package.
_FILES = {
    "package_init.py.tmpl": "{name}/__init__.py",
    "app.py.tmpl": "{name}/app.py",
    "model.py.tmpl": "{name}/model.py",
    "model.json.tmpl": "{name}/model.json",
    "test_app.py.tmpl": "test_{name}.py",
    "requirements.txt.tmpl": "requirements.txt",
    "stack-snippet.yaml.tmpl": "stack-snippet.yaml",
}


def check_name(name: str) -> None:
    """RayfleetError unless `name` can name both the package and the application."""
    suggestion = re.sub(r"_+", "_", re.sub(r"[^a-z0-9]+", "_", name.lower())).strip("_")
    if suggestion and not suggestion[0].isalpha():
        suggestion = f"app_{suggestion}"
    hint = f"try '{suggestion[:24]}'" if suggestion else "use a name like 'reviews'"
    if not _NAME_RE.match(name) or len(name) > 24:
        raise RayfleetError(
            f"'{name}' cannot name an application: use 1-24 lowercase letters, digits and single underscores, "
            f"starting with a letter (it names a Python package and, with '-' for '_', the app). Fix: {hint}"
        )
    if keyword.iskeyword(name) or name in sys.stdlib_module_names or name in ("ray", "starlette", "test"):
        raise RayfleetError(
            f"'{name}' is the name of a Python module the application imports or shadows. "
            f"Fix: pick a name of your own, like '{name}_app'"
        )


def new_app(name: str, folder: Path) -> list[Path]:
    """Write the application folder; refuse a bad name or a folder that already holds something."""
    check_name(name)
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise RayfleetError(f"{folder} already exists and is not empty. Fix: pass another --dir, or remove it first")
    values = {"name": name, "route": name.replace("_", "-"), "cls": _class_name(name), "source": _source(folder)}
    written = []
    for template, target in _FILES.items():
        path = folder / target.format(name=name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(Template((TEMPLATES / template).read_text()).substitute(values))
        written.append(path.relative_to(folder))
    helper = folder / name / "monitoring.py"
    helper.write_text(monitoring_copy())
    written.append(helper.relative_to(folder))
    return written


def monitoring_copy() -> str:
    """serve_apps/monitoring.py for an application folder: the contract names it imports written in as values."""
    from components import contract
    from serve_apps import monitoring

    source = Path(monitoring.__file__).read_text()
    imported = "from components.contract import APPLICATION_LABEL, DRIFT_GAUGE\n"
    if imported not in source:
        raise RuntimeError(f"serve_apps/monitoring.py no longer imports its names as {imported.strip()!r}")
    values = f"APPLICATION_LABEL = {contract.APPLICATION_LABEL!r}\nDRIFT_GAUGE = {contract.DRIFT_GAUGE!r}\n"
    return source.replace(imported, values)


def _source(folder: Path) -> str:
    """The stack entry's `source`: relative to the project root when inside it (a stack file others can use)."""
    from stacks.loader import stacks_dir

    folder, root = folder.resolve(), stacks_dir().resolve().parent
    return str(folder.relative_to(root)) if folder.is_relative_to(root) else str(folder)


def _class_name(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("_"))
