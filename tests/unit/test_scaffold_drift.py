"""`serve new` gives the application the drift helper: a copy that runs with the standard library alone."""

from __future__ import annotations

import ast
import subprocess
import sys

from components.contract import APPLICATION_LABEL, DRIFT_GAUGE
from serve_apps.scaffold import new_app


def test_the_new_application_carries_a_drift_helper_that_needs_nothing_but_python(tmp_path):
    folder = tmp_path / "reviews"
    assert "reviews/monitoring.py" in [str(path) for path in new_app("reviews", folder)]
    copy = folder / "reviews" / "monitoring.py"
    top_level = {
        alias.name.split(".")[0]
        for node in ast.parse(copy.read_text()).body
        if isinstance(node, (ast.Import, ast.ImportFrom))
        for alias in (node.names if isinstance(node, ast.Import) else [ast.alias(node.module or "")])
    }
    assert top_level <= set(sys.stdlib_module_names) | {"__future__"}
    # -I -S: no project, no site-packages (so no Ray): what a cluster without rayfleet offers, and less.
    script = (
        f"import sys; sys.path.insert(0, {str(copy.parent)!r})\n"
        "import monitoring as m\n"
        "b = m.baseline_from([[float(x)] for x in range(100)], bins=2)\n"
        "d = m.DriftMonitor(b, publish=lambda s: print(round(s, 4)), window=4, publish_every=4)\n"
        "for x in (99, 99, 99, 99): d.record([x])\n"
        "print(m.DRIFT_GAUGE, m.APPLICATION_LABEL)\n"
    )
    run = subprocess.run([sys.executable, "-I", "-S", "-c", script], cwd=copy.parent, capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout.splitlines() == ["4.6043", f"{DRIFT_GAUGE} {APPLICATION_LABEL}"]


def test_the_new_applications_deployment_shows_how_to_record_drift(tmp_path):
    new_app("reviews", tmp_path / "reviews")
    app = (tmp_path / "reviews" / "reviews" / "app.py").read_text()
    assert "from reviews.monitoring import DriftMonitor, load_baseline" in app
    assert "self.drift.record(" in app
