"""Reading stack files: YAML errors with their line, empty and missing files, file structure."""

from __future__ import annotations

import pytest

from components.errors import ConfigError, RayfleetError
from stacks.loader import environment_file, load_file, parse_environment, parse_stack_config
from tests.fakes.environments import STACKS, stack_config, write_stack


def test_yaml_syntax_error_names_the_line(tmp_path):
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text("config:\n  rayfleet:regions:\n    - {name: us-east-1, cidr: 10.0.0.0/16\n  rayfleet:cluster: {}\n")
    with pytest.raises(RayfleetError) as caught:
        load_file(path)
    assert str(caught.value) == (
        f"{path}: YAML syntax error at line 4, column 19: expected ',' or '}}', but got ':' "
        "(while parsing a flow mapping started on line 3). Fix: correct the YAML at that line"
    )


def test_tab_indentation_is_a_syntax_error_with_its_line(tmp_path):
    path = tmp_path / "Pulumi.bad.yaml"
    path.write_text("config:\n\trayfleet:regions: []\n")
    with pytest.raises(RayfleetError, match=r"YAML syntax error at line 2, column 1"):
        load_file(path)


def test_repeated_key_is_rejected_with_both_lines(tmp_path):
    path = tmp_path / "Pulumi.dup.yaml"
    path.write_text("config:\n  rayfleet:regions: []\n  rayfleet:regions: []\n")
    with pytest.raises(RayfleetError) as caught:
        load_file(path)
    assert "line 3, column 3: key 'rayfleet:regions' appears twice (first on line 2)" in str(caught.value)


@pytest.mark.parametrize("text", ["", "   \n", "# only a comment\n"])
def test_empty_file_is_rejected(tmp_path, text):
    path = tmp_path / "Pulumi.empty.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_file(path)
    assert [str(i) for i in caught.value.issues] == ["config = (missing): the file is empty. Fix: add a 'config:' mapping."]


def test_missing_file_is_rejected(tmp_path):
    with pytest.raises(RayfleetError) as caught:
        load_file(tmp_path / "Pulumi.none.yaml")
    assert str(caught.value) == (
        f"{tmp_path / 'Pulumi.none.yaml'}: no such file. Fix: check the path, or use --env with one of the stacks"
    )


def test_unknown_environment_suggests_a_close_one():
    with pytest.raises(RayfleetError) as caught:
        environment_file("prd", STACKS)
    assert str(caught.value) == (
        f"no environment 'prd' in {STACKS} (environments: dev, prod, staging). Fix: did you mean 'prod'?"
    )


def test_file_without_config_key_is_rejected(tmp_path):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text("rayfleet:regions: []\n")
    with pytest.raises(ConfigError) as caught:
        load_file(path)
    assert [str(i) for i in caught.value.issues] == [
        "rayfleet:regions = []: is not a key of a Pulumi stack file. Fix: remove it, or move it under config:.",
        "config = (missing): is required. Fix: put the environment's keys under 'config:'.",
    ]


def test_file_that_is_a_list_is_rejected(tmp_path):
    path = tmp_path / "Pulumi.x.yaml"
    path.write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"must be a mapping with a 'config:' key"):
        load_file(path)


def test_other_namespaces_belong_to_pulumi(tmp_path):
    config = stack_config("dev")
    config["aws:profile"] = "ml"
    config["pulumi:tags"] = {"owner": "ml"}
    path = tmp_path / "Pulumi.dev.yaml"
    import yaml

    path.write_text(yaml.safe_dump({"config": config, "encryptionsalt": "v1:abc"}))
    assert load_file(path).env == "dev"


def test_program_config_values_validate_like_the_file():
    config = stack_config("prod")
    values = {k.split(":", 1)[1]: v for k, v in config.items() if k.startswith("rayfleet:")}
    cfg = parse_environment("prod", values, aws_region="us-east-1", source="stack 'prod' config")
    assert cfg.region_names == ["us-east-1", "us-west-2"]
    values["cluster"]["workerGroups"][0]["minWorkers"] = 99
    with pytest.raises(ConfigError, match=r"^stack 'prod' config: 1 problem"):
        parse_environment("prod", values, aws_region="us-east-1", source="stack 'prod' config")


def test_config_pulumi_passes_the_program_validates_like_the_file(tmp_path):
    config = {**stack_config("dev"), "rayfleet:failovr": {}}
    with pytest.raises(ConfigError) as from_pulumi:
        parse_stack_config("dev", config, source="stack 'dev' config")
    with pytest.raises(ConfigError) as from_file:
        load_file(write_stack(tmp_path, config, env="dev"))
    assert str(from_pulumi.value) == (
        "stack 'dev' config: 1 problem\n"
        "  - rayfleet:failovr = {}: is not a known key. Fix: did you mean 'rayfleet:failover'?"
    )
    assert from_pulumi.value.issues == from_file.value.issues
