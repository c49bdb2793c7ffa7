"""`rayfleet cost diff` in review: a changed stack file against the same environment as committed at a git ref."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from tests.fakes.environments import ROOT, stack_config, write_stack


def git(folder, *args: str) -> None:
    subprocess.run(["git", "-C", str(folder), "-c", "user.name=t", "-c", "user.email=t@example.com", *args],
                   check=True, capture_output=True)


@pytest.fixture
def project(tmp_path):
    """A user's project (Pulumi.yaml and stacks/) with dev committed on main and its cpu group then changed."""
    shutil.copy(ROOT / "Pulumi.yaml", tmp_path / "Pulumi.yaml")
    (tmp_path / "stacks").mkdir()
    config = stack_config("dev")
    write_stack(tmp_path / "stacks", config, env="dev")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "dev")
    config["rayfleet:cluster"]["workerGroups"][0]["expectedWorkers"] = 2
    write_stack(tmp_path / "stacks", config, env="dev")
    return tmp_path


def test_diff_against_the_committed_file_prints_markdown_for_the_pull_request(cli, project):
    run = cli("cost", "diff", "--env", "dev", "--base-ref", "main", "--format", "markdown", cwd=project,
              env={"COLUMNS": "40"}, timeout=300)
    assert run.code == 0, run.err
    assert run.out.splitlines()[:5] == [
        "#### Monthly cost: `dev` against `dev@main`",
        "",
        "| Region | Component | Resource | Market | Before | After | Delta |",
        "| --- | --- | --- | --- | ---: | ---: | ---: |",
        "| us-west-2 | cluster | `cluster-us-west-2-cpu-spot` | spot | $44.15 | $88.30 | +$44.15 |",
    ]
    assert "| **Total** |  |  |  | **$186.70** | **$238.85** | **+$52.15** |" in run.out.splitlines()


def test_diff_json_with_all_lists_unchanged_lines_too(cli, project):
    run = cli("cost", "diff", "--env", "dev", "--base-ref", "main", "--all", "--json", cwd=project, timeout=300)
    assert run.code == 0, run.err
    data = json.loads(run.out)
    assert (data["env"], data["against"], data["baseRef"], data["unchangedLines"]) == ("dev", "dev", "main", 9)
    assert sorted(line["status"] for line in data["lines"]) == ["changed"] * 2 + ["same"] * 9


def test_diff_with_a_ref_that_does_not_exist_says_so(cli, project):
    run = cli("cost", "diff", "--env", "dev", "--base-ref", "origin/nope", cwd=project)
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        f"error: --base-ref origin/nope: no commit, branch or tag of that name in {project}. "
        "Fix: check the name ('git branch -a', 'git tag'), or fetch it ('git fetch origin')\n"
    )


def test_diff_with_a_ref_outside_a_git_repository_says_so(cli, project):
    shutil.rmtree(project / ".git")
    run = cli("cost", "diff", "--env", "dev", "--base-ref", "main", cwd=project)
    assert run.code == 1
    assert run.err == (
        f"error: --base-ref main: {project / 'stacks'} is not inside a git repository. "
        "Fix: run rayfleet from the project's git checkout, or compare with the stack file as it is now: "
        "--against ENV without --base-ref\n"
    )


def test_diff_without_against_or_base_ref_says_what_to_add(cli):
    run = cli("cost", "diff", "--env", "dev")
    assert run.code == 1
    assert run.err == (
        "error: cost diff needs something to compare with. Fix: add --against ENV (its stack file now) or "
        "--base-ref GIT_REF (the stack file as committed there, e.g. --base-ref origin/main)\n"
    )


def test_diff_with_an_unknown_format_lists_the_formats(cli):
    run = cli("cost", "diff", "--env", "dev", "--against", "prod", "--format", "html")
    assert run.code == 1
    assert run.err == "error: --format 'html' is not a format of cost diff. Fix: use one of table, json, markdown\n"
