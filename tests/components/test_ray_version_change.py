"""A Ray version cannot roll onto a running cluster: `pulumi up` refuses it and points to `rayfleet upgrade`.

Ray refuses a node whose Ray version differs from its cluster's (patch included), so
workers of the old version could not join a new head. The program reads the stack's
own outputs from its previous update (`rayVersion`, and mid-upgrade `upgrade.rayVersion`)
and stops with one line; the change goes through a second cluster slot instead.
"""

from __future__ import annotations

import runpy
from pathlib import Path

import pulumi
import pytest

import stacks
from stacks.deployed import RayVersionChangeError, own_stack_names
from stacks.mocks import pulumi_program_config
from stacks.plan import capture, run_plan
from tests.fakes.environments import stack_config, write_stack

PROGRAM = Path(stacks.__file__).resolve().parent  # `main: stacks/` in Pulumi.yaml
REFUSED = (
    "rayfleet:cluster.rayVersion changes from 2.60.0 to 2.60.1 on a stack whose blue clusters already run 2.60.0: "
    "Ray cannot mix versions in one cluster, so the change cannot roll onto running nodes. "
    "Fix: run `rayfleet upgrade --env dev` instead of `pulumi up`: it brings 2.60.1 up as a second cluster slot "
    "beside this one, moves traffic to it and retires the old one"
)


def _at(version: str) -> dict:
    config = stack_config("dev")
    config["rayfleet:cluster"]["rayVersion"] = version
    return config


def test_the_stack_outputs_record_the_ray_version_its_clusters_run(plans):
    assert plans("dev").outputs["rayVersion"] == "2.60.0"


def test_a_ray_version_change_on_a_stack_with_clusters_is_refused_with_one_line(plans, tmp_path):
    deployed = plans("dev").outputs
    with pytest.raises(RayVersionChangeError) as caught:
        run_plan(path=write_stack(tmp_path, _at("2.60.1"), env="dev"), previous_outputs=deployed)
    assert str(caught.value) == REFUSED


def test_pulumi_up_stops_with_the_same_line_and_no_traceback(plans):
    # What `pulumi up` runs: stacks/__main__.py, with the config as Pulumi passes it.
    with pytest.raises(pulumi.RunError) as caught:
        capture(
            "dev",
            "pulumi up",
            lambda: runpy.run_path(str(PROGRAM), run_name="__main__"),
            primary_region="us-west-2",
            config=pulumi_program_config(_at("2.60.1")),
            previous_outputs=plans("dev").outputs,
        )
    assert str(caught.value) == REFUSED


def test_the_same_ray_version_on_a_deployed_stack_plans_as_usual(plans, tmp_path):
    plan = run_plan(path=write_stack(tmp_path, _at("2.60.0"), env="dev"), previous_outputs=plans("dev").outputs)
    assert plan.outputs["rayVersion"] == "2.60.0"


def test_a_new_stack_takes_any_ray_version(tmp_path):
    plan = run_plan(path=write_stack(tmp_path, _at("2.60.1"), env="dev"), previous_outputs=None)
    assert plan.outputs["rayVersion"] == "2.60.1"


def test_a_stack_deployed_before_ray_version_was_recorded_is_not_refused(plans, tmp_path):
    # Its outputs cannot say which Ray runs; refusing would block its every update.
    deployed = {key: value for key, value in plans("dev").outputs.items() if key != "rayVersion"}
    plan = run_plan(path=write_stack(tmp_path, _at("2.60.1"), env="dev"), previous_outputs=deployed)
    assert plan.outputs["rayVersion"] == "2.60.1"


def test_readme_shows_the_refusal_as_the_program_prints_it():
    readme = (Path(stacks.__file__).resolve().parents[1] / "README.md").read_text()
    assert f"```text\n{REFUSED}\n```" in readme


def test_the_program_reads_its_own_stack_by_its_full_name_first():
    assert own_stack_names("acme", "rayfleet", "prod") == ["acme/rayfleet/prod", "prod"]
    assert own_stack_names(None, "rayfleet", "prod") == ["prod"]


def _upgrading(to: str, weight: int = 0) -> dict:
    config = stack_config("dev")
    config["rayfleet:upgrade"] = {"cluster": {"rayVersion": to}, "weight": weight}
    return config


def test_a_ray_version_change_through_an_upgrade_plans_on_a_deployed_stack(plans, tmp_path):
    plan = run_plan(path=write_stack(tmp_path, _upgrading("2.60.1"), env="dev"), previous_outputs=plans("dev").outputs)
    assert (plan.outputs["rayVersion"], plan.outputs["upgrade"]["rayVersion"]) == ("2.60.0", "2.60.1")


def test_a_new_ray_version_on_the_new_slot_mid_upgrade_is_refused(plans, tmp_path):
    mid = run_plan(path=write_stack(tmp_path, _upgrading("2.60.1"), env="dev"), previous_outputs=plans("dev").outputs)
    with pytest.raises(RayVersionChangeError) as caught:
        run_plan(path=write_stack(tmp_path, _upgrading("2.60.2"), env="dev"), previous_outputs=mid.outputs)
    assert str(caught.value) == (
        "rayfleet:upgrade.cluster.rayVersion changes from 2.60.1 to 2.60.2 on a stack whose green clusters already "
        "run 2.60.1: Ray cannot mix versions in one cluster, so the change cannot roll onto running nodes. "
        "Fix: set rayfleet:upgrade.cluster.rayVersion back to 2.60.1, or roll the upgrade back "
        "(`rayfleet upgrade --env dev --rollback`) and start a new one for 2.60.2"
    )


def test_retiring_blue_makes_the_green_slot_live_with_its_ray_version(plans, tmp_path):
    mid = run_plan(path=write_stack(tmp_path, _upgrading("2.60.1", 100), env="dev"), previous_outputs=plans("dev").outputs)
    retired = _at("2.60.1")
    retired["rayfleet:slot"] = "green"
    plan = run_plan(path=write_stack(tmp_path, retired, env="dev"), previous_outputs=mid.outputs)
    assert (plan.outputs["slot"], plan.outputs["rayVersion"]) == ("green", "2.60.1")


def test_switching_the_live_slot_without_an_upgrade_is_refused(plans, tmp_path):
    config = stack_config("dev")
    config["rayfleet:slot"] = "green"
    with pytest.raises(RayVersionChangeError) as caught:
        run_plan(path=write_stack(tmp_path, config, env="dev"), previous_outputs=plans("dev").outputs)
    assert str(caught.value) == (
        "rayfleet:slot is green, but the stack's clusters run in slot blue: the change would replace the running "
        "clusters with new ones, with no traffic moved between them. Fix: set rayfleet:slot back to blue; "
        "`rayfleet upgrade --env dev` moves clusters between slots"
    )
