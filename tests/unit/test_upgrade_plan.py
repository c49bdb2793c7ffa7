"""The upgrade's pure decisions: which config each step writes, as Pulumi config paths, and where traffic goes on failure."""

from __future__ import annotations

import pytest

from stacks.loader import parse_stack_config
from stacks.upgrade_plan import STEPS, change_of, config_paths, live_config, retired, rolled_back, safe_weight, with_weight
from serve_apps.upgrade_runner import AutomationRunner
from tests.fakes.environments import stack_config, write_stack


def test_a_weight_step_sets_one_leaf():
    before = {"rayfleet:upgrade": {"cluster": {"rayVersion": "2.60.1"}, "weight": 10}}
    after = {"rayfleet:upgrade": {"cluster": {"rayVersion": "2.60.1"}, "weight": 50}}
    assert config_paths(before, after) == ({"rayfleet:upgrade.weight": 50}, [])


def test_list_leaves_are_written_by_index_and_a_removed_key_once():
    before = {"rayfleet:upgrade": {"cluster": {"workerGroups": {"cpu": {"instanceTypes": ["m6i.xlarge"]}}}, "weight": 0},
              "rayfleet:cluster": {"rayVersion": "2.60.0"}}
    after = {"rayfleet:cluster": {"rayVersion": "2.60.1"}, "rayfleet:slot": "green"}
    assert config_paths(before, after) == (
        {"rayfleet:cluster.rayVersion": "2.60.1", "rayfleet:slot": "green"},
        ["rayfleet:upgrade"],
    )
    assert config_paths({}, {"rayfleet:x": {"types": ["a", "b"]}})[0] == {"rayfleet:x.types[0]": "a", "rayfleet:x.types[1]": "b"}


def _apply_like_pulumi(config: dict, sets: dict, removed: list[str]) -> dict:
    """`pulumi config rm --path` then `config set --path`, one path at a time: an index into a list
    that has shrunk is not there, and removing an item shifts the later ones down."""
    import copy
    import re

    config = copy.deepcopy(config)

    def walk(path: str):
        parts = [p for p in re.split(r"\.|\[(\d+)\]", path) if p]
        keys = [int(p) if p.isdigit() else p for p in parts]
        node = config
        for key in keys[:-1]:
            node = node[key]
        return node, keys[-1]

    for path in removed:
        node, key = walk(path)
        if isinstance(node, list) and key >= len(node):
            continue
        del node[key]
    for path, value in sets.items():
        node, key = walk(path)
        if isinstance(node, list) and key == len(node):
            node.append(value)
        else:
            node[key] = value
    return config


@pytest.mark.parametrize(("before", "after"), [
    ({"rayfleet:x": {"l": ["a", "b", "c"]}}, {"rayfleet:x": {"l": ["a"]}}),
    ({"rayfleet:x": {"l": [{"t": "a", "n": 1}, {"t": "b", "n": 2}, {"t": "c", "n": 3}]}},
     {"rayfleet:x": {"l": [{"t": "a", "n": 1}]}}),
    ({"rayfleet:x": {"l": ["a", "b", "c"], "k": {"m": 1, "n": 2}}}, {"rayfleet:x": {"l": ["z", "b"], "k": {"m": 1}}}),
], ids=["strings", "maps", "mixed"])
def test_a_shrinking_list_is_written_so_pulumi_ends_at_the_new_config(before, after):
    sets, removed = config_paths(before, after)
    assert _apply_like_pulumi(before, sets, removed) == after


def test_a_shrinking_list_loses_its_last_items_first_each_whole():
    before = {"rayfleet:x": {"l": [{"t": "a", "n": 1}, {"t": "b", "n": 2}, {"t": "c", "n": 3}]}}
    assert config_paths(before, {"rayfleet:x": {"l": [{"t": "a", "n": 1}]}}) == ({}, ["rayfleet:x.l[2]", "rayfleet:x.l[1]"])


def test_the_stack_file_asking_for_a_new_ray_is_an_upgrade_from_the_running_one():
    config = stack_config("dev")
    config["rayfleet:cluster"]["rayVersion"] = "2.60.1"
    cfg = parse_stack_config("dev", config, source="test")
    assert change_of(cfg, "2.60.0") == {"rayVersion": "2.60.1"}
    assert live_config(config, "2.60.0")["rayfleet:cluster"]["rayVersion"] == "2.60.0"


def test_retiring_makes_the_new_slots_cluster_the_live_one_and_keeps_the_rest():
    live = stack_config("dev")
    mid = with_weight(live, {"rayVersion": "2.60.1", "workerGroups": {"cpu": {"instanceTypes": ["m7i.xlarge"]}}}, 100)
    after = retired(parse_stack_config("dev", mid, source="test"), live)
    cfg = parse_stack_config("dev", after, source="test")
    assert (cfg.slot, cfg.cluster.ray_version, cfg.cluster.worker_groups[0].instance_types, cfg.upgrade) == (
        "green", "2.60.1", ["m7i.xlarge"], None)
    assert cfg.cluster.worker_groups[0].max_workers == 4 and cfg.serve == parse_stack_config("dev", live, source="t").serve
    assert rolled_back(mid) == live


@pytest.mark.parametrize("step", STEPS, ids=[s.name for s in STEPS])
def test_a_failed_step_keeps_traffic_on_the_old_slot_until_it_is_drained(step):
    assert safe_weight(step) == (100 if step.name in ("drain", "retire") else 0)


class _Stack:
    """The Automation API's Stack, as far as the runner uses it."""

    def __init__(self):
        self.calls = []

    def remove_all_config(self, keys, *, path):
        self.calls.append(("remove", keys, path))

    def set_all_config(self, config, *, path):
        self.calls.append(("set", {k: v.value for k, v in config.items()}, path))

    def up(self, on_output):
        self.calls.append(("up",))
        return type("Result", (), {"outputs": {"env": type("O", (), {"value": "dev"})()}})()


def test_the_runner_writes_only_the_changed_config_paths_then_runs_up(tmp_path, monkeypatch):
    live = stack_config("dev")
    runner = AutomationRunner("dev", write_stack(tmp_path, live, env="dev"))
    fake = _Stack()
    monkeypatch.setattr(runner, "_stack", lambda: fake)
    outputs = runner.up(with_weight(live, {"rayVersion": "2.60.1"}, 0))
    assert fake.calls == [
        ("set", {"rayfleet:upgrade.cluster.rayVersion": "2.60.1", "rayfleet:upgrade.weight": "0"}, True),
        ("up",),
    ]
    assert outputs.env == "dev"


def test_forward_weights_keep_to_what_an_alb_accepts():
    from components.serve_ingress.plan import check_weights

    assert check_weights({"blue": 90, "green": 10}) == {"blue": 90, "green": 10}
    for bad in ({"blue": 1000, "green": 0}, {"blue": 0, "green": 0}, {"blue": -1, "green": 5}):
        with pytest.raises(ValueError) as caught:
            check_weights(bad)
        assert str(caught.value) == f"forward weights must be 0-999 with one above 0 (got {bad})"
