"""No function in components/ is longer than MAX_LINES: a component reads as short named steps.

    $ .venv/bin/pytest -q tests/unit/test_function_size.py
    components/network/component.py:27 __init__ is 102 lines (limit 60)   # a breach, as reported

A function's length runs from its `def` line to its last line, docstring and
comments included (decorators not), for methods and nested functions alike.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COMPONENTS = ROOT / "components"
MAX_LINES = 60


@dataclass(frozen=True)
class Function:
    path: str
    line: int
    name: str
    length: int

    def __str__(self) -> str:
        return f"{self.path}:{self.line} {self.name} is {self.length} lines (limit {MAX_LINES})"


def functions(root: Path, relative_to: Path) -> list[Function]:
    """Every function and method under `root`, nested ones included, in file then line order."""
    found = []
    for path in sorted(root.rglob("*.py")):
        relative = path.relative_to(relative_to).as_posix()
        for node in ast.walk(ast.parse(path.read_text(), relative)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append(Function(relative, node.lineno, node.name, node.end_lineno - node.lineno + 1))
    return sorted(found, key=lambda f: (f.path, f.line))


def too_long(root: Path, relative_to: Path) -> list[Function]:
    return [f for f in functions(root, relative_to) if f.length > MAX_LINES]


def test_no_function_in_components_is_longer_than_the_limit():
    assert len(functions(COMPONENTS, ROOT)) > 100  # the walk sees the package, not an empty folder
    breaches = too_long(COMPONENTS, ROOT)
    assert not breaches, "split these into named steps:\n" + "\n".join(map(str, breaches))


def test_a_long_method_is_named_with_its_file_line_and_length(tmp_path):
    package = tmp_path / "components" / "thing"
    package.mkdir(parents=True)
    body = "".join(f"        x{i} = {i}\n" for i in range(MAX_LINES))
    (package / "component.py").write_text(
        "import pulumi\n\n\nclass Thing:\n    def __init__(self):\n" + body + "\n    def short(self):\n        pass\n"
    )
    (package / "plan.py").write_text("def exactly_at_the_limit():\n" + "    pass\n" * (MAX_LINES - 1))

    assert [str(f) for f in too_long(tmp_path / "components", tmp_path)] == [
        f"components/thing/component.py:5 __init__ is {MAX_LINES + 1} lines (limit {MAX_LINES})"
    ]


def test_a_nested_function_counts_on_its_own(tmp_path):
    inner = "".join(f"        y{i} = {i}\n" for i in range(MAX_LINES))
    (tmp_path / "agent.py").write_text("async def outer():\n    def inner():\n" + inner)

    assert [(f.name, f.length) for f in too_long(tmp_path, tmp_path)] == [
        ("outer", MAX_LINES + 2),
        ("inner", MAX_LINES + 1),
    ]
