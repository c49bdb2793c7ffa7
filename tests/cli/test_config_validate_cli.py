"""`rayfleet config validate` lists field and cross-field problems together, in one run."""

from __future__ import annotations

from tests.fakes.environments import stack_config, write_stack


def test_validate_lists_a_field_problem_and_a_cross_field_problem_in_one_run(cli, tmp_path):
    config = stack_config("prod")
    config["rayfleet:cluster"]["workerGroups"][0]["rootVolumeGb"] = 5
    config["rayfleet:regions"][1]["cidr"] = config["rayfleet:regions"][0]["cidr"]
    path = write_stack(tmp_path, config, env="broken")
    run = cli("config", "validate", "--file", str(path), "--no-imports")
    assert (run.code, run.out) == (1, "")
    assert run.err == (
        f"error: {path}: 2 problems\n"
        "  - rayfleet:cluster.workerGroups[0].rootVolumeGb = 5: must be at least 20. Fix: use a value of 20 or more.\n"
        "  - rayfleet:regions[1].cidr = '10.10.0.0/16': overlaps regions[0].cidr (10.10.0.0/16) of us-east-1. "
        "Fix: give every region its own, non-overlapping block, for example 10.20.0.0/16.\n"
    )
