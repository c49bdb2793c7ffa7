"""The one config loader: a Pulumi stack file (or Pulumi's config values) -> EnvironmentConfig.

    >>> from stacks.loader import load_environment
    >>> load_environment("dev").regions[0].name
    'us-west-2'

Two sources feed the same validation, `parse_stack_config`: `load_file` reads
`stacks/Pulumi.<env>.yaml` directly (the CLI, the plan, the deployer, the cost
tools), and stacks/__main__.py passes the whole config Pulumi hands the program
under `pulumi up`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from components.catalog import closest
from stacks.config import EnvironmentConfig
from stacks.config_errors import cross_field_issues, translate
from components.errors import ConfigError, ConfigIssue, Missing, RayfleetError

NAMESPACE = "rayfleet"
_STACK_FILE_RE = re.compile(r"^Pulumi\.(?P<env>[^.]+)\.ya?ml$")
#: Keys of a stack file besides `config` that Pulumi itself writes.
_PULUMI_FILE_KEYS = {"config", "encryptionsalt", "secretsprovider", "encryptedkey", "environment"}


def config_keys() -> list[str]:
    """The `rayfleet:` keys a stack file may carry, as written in the file."""
    return [f.alias for name, f in EnvironmentConfig.model_fields.items() if name not in ("env", "aws_region")]


def stacks_dir() -> Path:
    """Where the environment files live: `stacks/` of the project the user is in, else the installed package's."""
    here = Path.cwd()
    for folder in (here, *here.parents):
        candidate = folder / "Pulumi.yaml"
        if candidate.is_file() and (folder / "stacks").is_dir():
            return folder / "stacks"
    return Path(__file__).resolve().parent


def environment_names(folder: Path | None = None) -> list[str]:
    folder = folder or stacks_dir()
    names = (_STACK_FILE_RE.match(p.name) for p in folder.iterdir()) if folder.is_dir() else ()
    return sorted(m["env"] for m in names if m)


def environment_file(env: str, folder: Path | None = None) -> Path:
    folder = folder or stacks_dir()
    for suffix in ("yaml", "yml"):
        path = folder / f"Pulumi.{env}.{suffix}"
        if path.is_file():
            return path
    known = environment_names(folder)
    listing = ", ".join(known) if known else "none"
    hint = closest(env, known)
    fix = f"did you mean '{hint}'?" if hint else f"create {folder / f'Pulumi.{env}.yaml'}"
    raise RayfleetError(f"no environment '{env}' in {folder} (environments: {listing}). Fix: {fix}")


def load_environment(env: str, folder: Path | None = None) -> EnvironmentConfig:
    return load_file(environment_file(env, folder))


def env_name_of(path: Path) -> str:
    match = _STACK_FILE_RE.match(path.name)
    return match["env"] if match else path.stem


def read_stack_file(path: Path) -> dict[str, Any]:
    """The `config:` mapping of a stack file; RayfleetError for a missing, empty or malformed file."""
    if not path.is_file():
        raise RayfleetError(f"{path}: no such file. Fix: check the path, or use --env with one of the stacks")
    text = path.read_text()
    if not text.strip():
        raise ConfigError(str(path), [ConfigIssue("config", Missing(), "the file is empty", "add a 'config:' mapping")])
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)
    except yaml.MarkedYAMLError as err:
        mark = err.problem_mark or err.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "unknown position"
        problem = err.problem or err.context or "invalid YAML"
        if err.context and err.context_mark and err.problem_mark and err.context_mark.line != mark.line:
            problem += f" ({err.context} started on line {err.context_mark.line + 1})"
        raise RayfleetError(
            f"{path}: YAML syntax error at {where}: {problem}. Fix: correct the YAML at that line"
        ) from None
    except yaml.YAMLError as err:
        raise RayfleetError(f"{path}: YAML syntax error: {err}. Fix: correct the YAML") from None
    if document is None:
        raise ConfigError(str(path), [ConfigIssue("config", Missing(), "the file is empty", "add a 'config:' mapping")])
    if not isinstance(document, dict):
        raise ConfigError(
            str(path), [ConfigIssue("(file)", document, "must be a mapping with a 'config:' key", "add 'config:'")]
        )
    issues = [
        ConfigIssue(str(key), document[key], "is not a key of a Pulumi stack file", "remove it, or move it under config:")
        for key in document
        if key not in _PULUMI_FILE_KEYS
    ]
    config = document.get("config")
    if config is None:
        issues.append(ConfigIssue("config", Missing(), "is required", "put the environment's keys under 'config:'"))
    elif not isinstance(config, dict):
        issues.append(ConfigIssue("config", config, "must be a mapping of keys to values", "write 'key: value' pairs"))
    if issues:
        raise ConfigError(str(path), issues)
    return config


def load_file(path: Path | str) -> EnvironmentConfig:
    path = Path(path)
    return parse_stack_config(env_name_of(path), read_stack_file(path), source=str(path))


def parse_stack_config(env: str, config: Mapping[str, Any], *, source: str) -> EnvironmentConfig:
    """Validate a stack's whole config: its namespaced keys (`rayfleet:cluster`, `aws:region`, ...), decoded.

    The same path for a stack file (`load_file`) and for the config Pulumi hands the program
    under `pulumi up` (stacks/__main__.py), so an unknown key fails the same way on both.
    """
    values: dict[str, Any] = {}
    issues: list[ConfigIssue] = []
    known = config_keys()
    aws_region = None
    for key, value in config.items():
        namespace, _, name = str(key).partition(":")
        if namespace == "aws" and name == "region":
            aws_region = value
        elif namespace == NAMESPACE:
            if name in known:
                values[name] = value
            else:
                hint = closest(name, known)
                fix = f"did you mean 'rayfleet:{hint}'?" if hint else "remove it; known keys: " + ", ".join(
                    f"rayfleet:{k}" for k in known
                )
                issues.append(ConfigIssue(str(key), value, "is not a known key", fix))
        elif not name:
            issues.append(
                ConfigIssue(str(key), value, "has no namespace", f"write it as 'rayfleet:{key}' (or 'aws:{key}')")
            )
        # Other namespaces (aws:profile, pulumi:tags, ...) belong to Pulumi and its providers.
    try:
        cfg = parse_environment(env, values, aws_region=aws_region, source=source)
    except ConfigError as err:
        raise ConfigError(source, issues + err.issues) from None
    if issues:
        raise ConfigError(source, issues)
    return cfg


def parse_environment(
    env: str, values: Mapping[str, Any], *, aws_region: Any = None, source: str = "config"
) -> EnvironmentConfig:
    """Validate `rayfleet:` values (keys without the namespace) into an EnvironmentConfig."""
    data = {"env": env, **values}
    if aws_region is not None:
        data["awsRegion"] = aws_region
    try:
        return EnvironmentConfig.model_validate(data)
    except ValidationError as err:
        issues = translate(err, data)
        # Cross-field rules between fields that are valid on their own, which pydantic skips while any
        # field of their model is invalid: every problem in one pass.
        issues += [issue for issue in cross_field_issues(data) if issue not in issues]
        raise ConfigError(source, issues) from None


class _UniqueKeyLoader(yaml.SafeLoader):
    """A SafeLoader that rejects a key repeated in one mapping (PyYAML silently keeps the last)."""

    def construct_mapping(self, node, deep=False):
        seen: dict[Any, Any] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"key '{key}' appears twice (first on line {seen[key].line + 1})",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark
        return super().construct_mapping(node, deep=deep)
