"""`rayfleet serve new`: an application folder that passes its own test as generated."""

from __future__ import annotations

import subprocess
import sys

import pytest
import yaml


def test_serve_new_writes_the_application_folder(cli, tmp_path):
    folder = tmp_path / "apps" / "reviews"
    run = cli("serve", "new", "reviews", "--dir", str(folder))
    assert run.code == 0, run.err
    assert run.out.splitlines()[0] == f"✓ wrote application 'reviews' in {folder}:"
    written = sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())
    assert written == [
        "requirements.txt", "reviews/__init__.py", "reviews/app.py", "reviews/model.json", "reviews/model.py",
        "reviews/monitoring.py",
        "stack-snippet.yaml", "test_reviews.py",
    ]
    assert "rayfleet" not in (folder / "reviews" / "app.py").read_text().replace("rayfleet local up", "")


def test_the_generated_test_passes_as_generated(cli, tmp_path):
    folder = tmp_path / "reviews"
    assert cli("serve", "new", "reviews", "--dir", str(folder)).code == 0
    # Its own interpreter and folder, as the user runs it: nothing of the project on the path.
    test = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test_reviews.py"],
        cwd=folder, capture_output=True, text=True, timeout=300,
    )
    assert test.returncode == 0, test.stdout + test.stderr
    assert "\n4 passed" in test.stdout


def test_the_snippet_is_one_applications_entry_naming_the_folder(cli, tmp_path):
    folder = tmp_path / "my_model"
    assert cli("serve", "new", "my_model", "--dir", str(folder)).code == 0
    entries = yaml.safe_load((folder / "stack-snippet.yaml").read_text())
    assert entries == [{
        "name": "my-model",
        "routePrefix": "/my-model",
        "importPath": "my_model.app:app",
        "source": str(folder.resolve()),
        "runtimeEnv": {"envVars": {}},
        "autoscaling": {"minReplicas": 1, "maxReplicas": 2, "targetOngoingRequests": 4},
        "resources": {"cpus": 1, "gpus": 0},
        "smokeRequest": {"body": {"text": "a great day"}, "expect": {"label": "positive"}},
    }]


def test_the_snippet_is_a_valid_application_entry(cli, tmp_path):
    from stacks.config import ServeApp

    folder = tmp_path / "reviews"
    assert cli("serve", "new", "reviews", "--dir", str(folder)).code == 0
    (entry,) = yaml.safe_load((folder / "stack-snippet.yaml").read_text())
    app = ServeApp.model_validate(entry)
    assert (app.name, app.route_prefix, app.import_path) == ("reviews", "/reviews", "reviews.app:app")
    assert app.source == str(folder.resolve())
    assert app.smoke_request is not None and app.smoke_request.expect == {"label": "positive"}


def test_serve_new_refuses_a_folder_that_holds_something(cli, tmp_path):
    (tmp_path / "notes.txt").write_text("mine")
    run = cli("serve", "new", "reviews", "--dir", str(tmp_path))
    assert (run.code, run.out) == (1, "")
    assert run.err == f"error: {tmp_path} already exists and is not empty. Fix: pass another --dir, or remove it first\n"
    assert [p.name for p in tmp_path.iterdir()] == ["notes.txt"]


@pytest.mark.parametrize(
    ("name", "hint"),
    [("my-app", "try 'my_app'"), ("2fast", "try 'app_2fast'"), ("Reviews", "try 'reviews'"),
     ("a_very_long_application_name", "try 'a_very_long_application_'")],
)
def test_serve_new_refuses_a_name_that_cannot_name_a_package(cli, tmp_path, name, hint):
    run = cli("serve", "new", name, "--dir", str(tmp_path / "x"))
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        f"error: '{name}' cannot name an application: use 1-24 lowercase letters, digits and single underscores, "
        f"starting with a letter (it names a Python package and, with '-' for '_', the app). Fix: {hint}\n"
    )
    assert not (tmp_path / "x").exists()


def test_serve_new_refuses_a_name_that_shadows_a_module(cli, tmp_path):
    run = cli("serve", "new", "json", "--dir", str(tmp_path / "x"))
    assert run.err == (
        "error: 'json' is the name of a Python module the application imports or shadows. "
        "Fix: pick a name of your own, like 'json_app'\n"
    )


def test_the_snippet_names_a_folder_inside_the_project_relative_to_its_root(cli, tmp_path):
    (tmp_path / "Pulumi.yaml").write_text("name: mine\n")
    (tmp_path / "stacks").mkdir()
    run = cli("serve", "new", "reviews", "--dir", "apps/reviews", cwd=tmp_path)
    assert run.code == 0, run.err
    (entry,) = yaml.safe_load((tmp_path / "apps" / "reviews" / "stack-snippet.yaml").read_text())
    assert entry["source"] == "apps/reviews"
