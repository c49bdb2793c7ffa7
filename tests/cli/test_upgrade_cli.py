"""`rayfleet upgrade`: the dry run prints the steps for a Ray version change and touches nothing; errors are one line."""

from __future__ import annotations

import json

import pytest

from tests.fakes.environments import stack_config, write_stack

STEPS = [
    "upgrade dev: Ray 2.60.0 (blue) -> Ray 2.60.1 (green)  (dry run: nothing is changed)",
    "  1. bring-up     bring up green (Ray 2.60.1) beside blue (Ray 2.60.0): pulumi up with rayfleet:upgrade at weight 0",
    "  2. deploy-serve deploy the Serve config to green and wait until every application is RUNNING",
    "  3. shift-10     move 10% of traffic to green; gate: green's healthy targets, and no serving alarm of green in ALARM",
    "  4. shift-50     move 50% of traffic to green; gate: green's healthy targets, and no serving alarm of green in ALARM",
    "  5. shift-100    move 100% of traffic to green; gate: green's healthy targets, and no serving alarm of green in ALARM",
    "  6. drain        drain blue: delete its Serve applications, then its workers leave through the rayfleet-drain hook",
    "  7. retire       retire blue: green becomes the only slot (rayfleet:slot: green, Ray 2.60.1)",
]


@pytest.fixture
def ray_version_change(plans, tmp_path):
    """dev deployed at Ray 2.60.0 (its outputs as `pulumi stack output --json` prints them), its file at 2.60.1."""
    outputs = tmp_path / "outputs.json"
    outputs.write_text(json.dumps(plans("dev").outputs))
    config = stack_config("dev")
    config["rayfleet:cluster"]["rayVersion"] = "2.60.1"
    stack = write_stack(tmp_path, config, env="dev")
    return stack, outputs, {"RAYFLEET_HOME": str(tmp_path / "home")}


def test_dry_run_prints_the_steps_for_a_ray_version_change(cli, ray_version_change, tmp_path):
    stack, outputs, env = ray_version_change
    before = stack.read_text()
    run = cli("upgrade", "--file", str(stack), "--outputs", str(outputs), "--dry-run", env=env)
    assert run.code == 0, run.err
    assert run.out.splitlines() == STEPS
    assert stack.read_text() == before and not (tmp_path / "home").exists()


def test_dry_run_json_lists_each_step_with_its_weight(cli, ray_version_change):
    stack, outputs, env = ray_version_change
    run = cli("upgrade", "--file", str(stack), "--outputs", str(outputs), "--dry-run", "--json", env=env)
    assert run.code == 0, run.err
    report = json.loads(run.out)
    assert (report["dry_run"], report["from_version"], report["to_version"]) == (True, "2.60.0", "2.60.1")
    assert [(s["name"], s["weight"], s["state"]) for s in report["steps"]] == [
        ("bring-up", 0, "pending"), ("deploy-serve", 0, "pending"), ("shift-10", 10, "pending"),
        ("shift-50", 50, "pending"), ("shift-100", 100, "pending"), ("drain", 100, "pending"),
        ("retire", 100, "pending"),
    ]


def test_resume_without_an_upgrade_in_progress_is_one_line_with_the_fix(cli, ray_version_change):
    stack, _, env = ray_version_change
    run = cli("upgrade", "--file", str(stack), "--resume", env=env)
    assert run.code == 1
    assert run.err.strip() == (
        "error: no upgrade of dev in progress to resume. Fix: start one with `rayfleet upgrade --env dev`"
    )


def test_a_region_outside_the_environment_is_refused(cli, ray_version_change):
    stack, outputs, env = ray_version_change
    run = cli("upgrade", "--file", str(stack), "--region", "eu-west-1", "--dry-run", "--outputs", str(outputs), env=env)
    assert run.code == 1
    assert run.err.strip() == (
        "error: region 'eu-west-1' is not in environment 'dev' (its regions: us-west-2). "
        "Fix: pass --region with one of them, or omit it"
    )


def test_readme_shows_the_dry_run_as_the_command_prints_it():
    from tests.fakes.environments import ROOT

    readme = (ROOT / "README.md").read_text()
    assert "```text\n$ rayfleet upgrade --env dev --dry-run\n" + "\n".join(STEPS) + "\n```" in readme


def test_a_negative_settle_is_refused_with_the_fix(cli, ray_version_change):
    stack, _, env = ray_version_change
    run = cli("upgrade", "--file", str(stack), "--settle", "-5", env=env)
    assert run.code == 1
    assert run.err.strip() == (
        "error: --settle -5: the seconds each traffic step holds cannot be negative. "
        "Fix: pass --settle 0 or more (each step holds at least evaluationMinutes x 60 s anyway)"
    )


def test_a_corrupt_state_file_is_one_line_with_the_fix(cli, ray_version_change, tmp_path):
    stack, _, env = ray_version_change
    state = tmp_path / "home" / "upgrades" / "dev.json"
    state.parent.mkdir(parents=True)
    state.write_text('{"env": "dev", "from_sl')
    run = cli("upgrade", "--file", str(stack), "--resume", env=env)
    assert run.code == 1
    assert run.err.strip().startswith(f"error: the upgrade state {state} cannot be read (1 validation error for UpgradeState)")
    assert run.err.strip().endswith(
        "Fix: put back the file the upgrade wrote (it is saved after every step), or, if the stack's outputs show "
        "no `upgrade`, delete it"
    )
    assert "Traceback" not in run.err
