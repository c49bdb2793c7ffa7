"""A cost diff of two stack files, its Markdown for a pull request, and the base read from a git ref."""

from __future__ import annotations

import subprocess
from decimal import Decimal as D

import pytest
from markdown_it import MarkdownIt

from cost.committed import committed_stack_file, committed_text
from cost.diff import diff_estimates
from cost.environment import estimate_environment
from components.errors import ConfigError, RayfleetError
from rayfleet.views.cost_diff_markdown import HEADER, diff_markdown
from stacks.loader import load_file
from tests.fakes.cost import shipped_prices
from tests.fakes.environments import STACKS, stack_config, write_stack

SPOT_ASG = "cluster-us-west-2-cpu-spot"


def bigger_cpu_group() -> dict:
    """dev with its cpu group expecting 2 workers instead of 1 (and up to 8 instead of 4)."""
    config = stack_config("dev")
    group = config["rayfleet:cluster"]["workerGroups"][0]
    assert (group["expectedWorkers"], group["maxWorkers"]) == (1, 4)
    group.update(expectedWorkers=2, maxWorkers=8)
    return config


@pytest.fixture(scope="module")
def dev_diff(tmp_path_factory):
    # Under another name, as a reviewer saves a proposed file: lines still match dev's by name.
    changed = write_stack(tmp_path_factory.mktemp("new"), bigger_cpu_group(), env="review")
    prices = shipped_prices()
    return diff_estimates(estimate_environment(changed, prices),
                          estimate_environment(STACKS / "Pulumi.dev.yaml", prices), base_ref="main")


def test_diff_of_a_changed_worker_group_changes_its_instances_and_volumes_only(dev_diff):
    changed = {(line.name, line.kind, line.status) for line in dev_diff.shown()}
    assert changed == {(SPOT_ASG, "instances", "changed"), (f"{SPOT_ASG} /dev/sda1", "volumes", "changed")}
    assert dev_diff.unchanged == len(dev_diff.lines) - 2
    assert {line.status for line in dev_diff.shown(everything=True)} == {"changed", "same"}


def test_diff_of_a_changed_worker_group_costs_one_more_expected_worker(dev_diff):
    spot = next(line for line in dev_diff.lines if (line.name, line.kind) == (SPOT_ASG, "instances"))
    one_worker = spot.against.expected  # 1 expected worker before
    volume = D(100) * D("0.08")  # the worker's 100 GB gp3 root volume, USD per GB-month in us-west-2
    assert dev_diff.delta.expected == one_worker + volume
    assert dev_diff.delta.max == 4 * (one_worker + volume)  # maxWorkers 4 -> 8
    assert dev_diff.delta.min == 0


def test_diff_json_hides_unchanged_lines_unless_asked(dev_diff):
    data = dev_diff.to_json()
    assert (data["env"], data["against"], data["baseRef"]) == ("review", "dev", "main")
    assert len(data["lines"]) == 2 and data["unchangedLines"] == len(dev_diff.lines) - 2
    assert len(dev_diff.to_json(everything=True)["lines"]) == len(dev_diff.lines)


def github_table(markdown: str) -> tuple[list[str], list[list[str]]]:
    """The header cells and body rows of the one table in `markdown`, as GitHub's table extension reads them."""
    tokens = MarkdownIt("commonmark").enable("table").parse(markdown)
    assert [t.type for t in tokens].count("table_open") == 1
    rows, row, in_head, header = [], None, False, []
    for token in tokens:
        if token.type == "thead_open":
            in_head = True
        elif token.type == "thead_close":
            in_head = False
        elif token.type == "tr_open":
            row = []
        elif token.type == "inline" and row is not None:
            row.append(token.content)
        elif token.type == "tr_close":
            (header.extend(row) if in_head else rows.append(row))
            row = None
    return header, rows


def test_markdown_is_one_github_table_with_before_after_delta_and_the_total(dev_diff):
    text = diff_markdown(dev_diff)
    assert text.startswith("#### Monthly cost: `review` against `dev@main`\n")
    header, rows = github_table(text)
    assert tuple(header) == HEADER == ("Region", "Component", "Resource", "Market", "Before", "After", "Delta")
    assert all(len(row) == len(HEADER) for row in rows)
    assert rows[0] == ["us-west-2", "cluster", f"`{SPOT_ASG}`", "spot", "$44.15", "$88.30", "+$44.15"]
    assert rows[-1] == ["**Total**", "", "", "", "**$186.70**", "**$238.85**", "**+$52.15**"]
    assert text.endswith(
        "Expected size, USD a month (730 h). At minimum size $0.00, at maximum +$208.60. "
        f"{dev_diff.unchanged} unchanged lines not shown.\n"
    )


def test_markdown_with_all_lists_every_line(dev_diff):
    _, rows = github_table(diff_markdown(dev_diff, everything=True))
    assert len(rows) == len(dev_diff.lines) + 1


# --- the base at a git ref ---------------------------------------------------------


def git(folder, *args: str) -> str:
    return subprocess.run(["git", "-C", str(folder), *args], check=True, capture_output=True, text=True).stdout


@pytest.fixture
def repo(tmp_path):
    """A project checkout whose stacks/Pulumi.dev.yaml is committed, then changed in the working tree."""
    stacks = tmp_path / "stacks"
    stacks.mkdir()
    write_stack(stacks, stack_config("dev"), env="dev")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-q", "-m", "dev")
    write_stack(stacks, bigger_cpu_group(), env="dev")
    return tmp_path


def test_base_ref_reads_the_file_as_committed_not_as_changed(repo):
    source, text = committed_text("dev", "main", repo / "stacks")
    assert source == "main:stacks/Pulumi.dev.yaml"
    with committed_stack_file("dev", "main", repo / "stacks") as path:
        assert path.name == "Pulumi.dev.yaml" and path.read_text() == text
        assert load_file(path) == load_file(STACKS / "Pulumi.dev.yaml")
    assert load_file(repo / "stacks" / "Pulumi.dev.yaml") != load_file(STACKS / "Pulumi.dev.yaml")


def test_base_ref_that_names_no_commit_is_one_clear_error(repo):
    with pytest.raises(RayfleetError) as err:
        committed_text("dev", "no-such-branch", repo / "stacks")
    assert str(err.value) == (
        f"--base-ref no-such-branch: no commit, branch or tag of that name in {repo}. "
        "Fix: check the name ('git branch -a', 'git tag'), or fetch it ('git fetch origin')"
    )


def test_base_ref_without_the_environment_file_lists_the_committed_ones(repo):
    with pytest.raises(RayfleetError) as err:
        committed_text("prod", "main", repo / "stacks")
    assert str(err.value) == (
        "--base-ref main: stacks/Pulumi.prod.yaml does not exist at main (environments there: dev). "
        "Fix: name an environment committed there with --against ENV, or use a later ref"
    )


def test_base_ref_outside_a_git_repository_is_one_clear_error(tmp_path):
    with pytest.raises(RayfleetError) as err:
        committed_text("dev", "main", tmp_path)
    assert str(err.value) == (
        f"--base-ref main: {tmp_path} is not inside a git repository. "
        "Fix: run rayfleet from the project's git checkout, or compare with the stack file as it is now: "
        "--against ENV without --base-ref"
    )


def test_config_errors_of_the_committed_file_name_the_ref(repo):
    (repo / "stacks" / "Pulumi.dev.yaml").write_text("config:\n  rayfleet:nope: 1\n")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qam", "broken")
    with pytest.raises(ConfigError) as err:
        with committed_stack_file("dev", "HEAD", repo / "stacks") as path:
            load_file(path)
    assert str(err.value).startswith("HEAD:stacks/Pulumi.dev.yaml: ")
