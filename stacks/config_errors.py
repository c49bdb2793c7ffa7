"""Turns pydantic's validation errors into ConfigIssues: field path, value, rule and fix.

    rayfleet:cluster.workerGroups[0].minWorkers = 30: minWorkers (30) must be less
    than or equal to maxWorkers (20). Fix: lower minWorkers or raise maxWorkers.

Paths are written as in the file: `rayfleet:<key>` then camelCase keys and list
indexes; `aws:region` for the provider's region.
"""

from __future__ import annotations

import types
import typing
from typing import Any

from pydantic import BaseModel, TypeAdapter, ValidationError

from components.catalog import closest
from stacks.config import EnvironmentConfig, Rule
from components.errors import ConfigIssue, Missing

_TYPE_RULES = {
    "int_type": ("must be a whole number", "write a whole number such as 3"),
    "int_parsing": ("must be a whole number", "write a whole number such as 3"),
    "int_from_float": ("must be a whole number", "write a whole number such as 3"),
    "float_type": ("must be a number", "write a number such as 1.5"),
    "float_parsing": ("must be a number", "write a number such as 1.5"),
    "decimal_type": ("must be a number", "write a number such as 8000"),
    "decimal_parsing": ("must be a number", "write a number such as 8000"),
    "bool_type": ("must be true or false", "write true or false"),
    "bool_parsing": ("must be true or false", "write true or false"),
    "string_type": ("must be a string", "quote the value"),
    "list_type": ("must be a list", "write a YAML list, one '- item' per line or [a, b]"),
    "dict_type": ("must be a mapping of keys to values", "write 'key: value' pairs"),
    "model_type": ("must be a mapping of keys to values", "write 'key: value' pairs"),
    "model_attributes_type": ("must be a mapping of keys to values", "write 'key: value' pairs"),
    "ip_v4_network": ("is not an IPv4 CIDR block", "write it as a.b.c.d/n, for example '10.10.0.0/16'"),
    "finite_number": ("must be a finite number", "write a number such as 1.5"),
}


def format_path(loc: tuple) -> str:
    """('cluster', 'workerGroups', 0, 'minWorkers') -> 'rayfleet:cluster.workerGroups[0].minWorkers'."""
    if not loc:
        return "rayfleet"
    head, rest = loc[0], loc[1:]
    text = "aws:region" if head == "awsRegion" else f"rayfleet:{head}"
    for part in rest:
        text += f"[{part}]" if isinstance(part, int) else f".{part}"
    return text


def _lookup(data: Any, loc: tuple) -> Any:
    for part in loc:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return Missing()
    return data


def _unwrap(annotation: Any) -> list[Any]:
    """The concrete types behind Annotated/Optional/Union."""
    origin = typing.get_origin(annotation)
    if origin is typing.Annotated:
        return _unwrap(typing.get_args(annotation)[0])
    if origin in (typing.Union, types.UnionType):
        return [t for arg in typing.get_args(annotation) for t in _unwrap(arg)]
    return [annotation]


def _model_at(loc: tuple) -> type[BaseModel] | None:
    """The config model class that validates the object at `loc`, for "did you mean" hints."""
    current: list[Any] = [EnvironmentConfig]
    for part in loc:
        following: list[Any] = []
        for candidate in current:
            if isinstance(part, int) or typing.get_origin(candidate) is dict:
                if typing.get_origin(candidate) in (list, dict):
                    following += _unwrap(typing.get_args(candidate)[-1])
            elif isinstance(candidate, type) and issubclass(candidate, BaseModel):
                for field in candidate.model_fields.values():
                    if field.alias == part:
                        following += _unwrap(field.annotation)
        current = following
    models = [c for c in current if isinstance(c, type) and issubclass(c, BaseModel)]
    return models[0] if models else None


def _unknown_key(loc: tuple, value: Any) -> ConfigIssue:
    parent = _model_at(loc[:-1])
    key = str(loc[-1])
    known = [f.alias for f in parent.model_fields.values() if f.alias] if parent else []
    if parent is EnvironmentConfig:
        known = [k for k in known if k not in ("env", "awsRegion")]
    hint = closest(key, known)
    if hint:
        fix = f"did you mean '{hint}'?"
    else:
        fix = "remove it; known keys here: " + ", ".join(known) if known else "remove it"
    return ConfigIssue(format_path(loc), value, "is not a known key", fix)


def translate(error: ValidationError, data: dict) -> list[ConfigIssue]:
    """One ConfigIssue per pydantic error, in file order."""
    issues = []
    for detail in error.errors():
        loc = tuple(detail["loc"])
        kind = detail["type"]
        ctx = detail.get("ctx", {})
        cause = ctx.get("error")
        if isinstance(cause, Rule):
            at = loc + tuple(cause.at)
            value = cause.value if cause.has_value else _lookup(data, at)
            issues.append(ConfigIssue(format_path(at), value, cause.rule, cause.fix))
            continue
        if kind == "extra_forbidden":
            issues.append(_unknown_key(loc, detail["input"]))
            continue
        value = Missing() if kind == "missing" else detail["input"]
        issues.append(ConfigIssue(format_path(loc), value, *_rule_for(kind, ctx, detail["msg"])))
    return issues


def _rule_for(kind: str, ctx: dict, message: str) -> tuple[str, str]:
    if kind in _TYPE_RULES:
        return _TYPE_RULES[kind]
    if kind == "missing":
        return "is required", "add it"
    if kind == "greater_than_equal":
        return f"must be at least {ctx['ge']}", f"use a value of {ctx['ge']} or more"
    if kind == "greater_than":
        return f"must be greater than {ctx['gt']}", f"use a value above {ctx['gt']}"
    if kind == "less_than_equal":
        return f"must be at most {ctx['le']}", f"use a value of {ctx['le']} or less"
    if kind == "less_than":
        return f"must be less than {ctx['lt']}", f"use a value below {ctx['lt']}"
    if kind == "too_short":
        n = ctx["min_length"]
        return f"must have at least {n} item{'s' if n != 1 else ''}", "add the missing entries"
    if kind == "too_long":
        n = ctx["max_length"]
        return f"must have at most {n} item{'s' if n != 1 else ''}", "remove entries"
    if kind in ("literal_error", "enum"):
        return f"must be one of {ctx['expected']}", "use one of those values"
    return message[0].lower() + message[1:], "correct the value"


# --- cross-field rules over the valid parts ------------------------------------
# pydantic runs a model's cross-field rules (its "after" validators) only once every field of it is
# valid, so a file with one bad field hid every cross-field problem until that field was fixed.
# When validation fails, `cross_field_issues` builds each model again from the fields that are
# valid on their own, stands `_INVALID` in for the others, and runs the rules: a rule that touches
# an invalid value stops unchecked, so only problems between valid fields are reported.


class _Unchecked(Exception):
    """A cross-field rule read a value that failed its own validation."""


class _Invalid:
    """A value that failed its own validation: any use of it stops the rule reading it."""

    def _stop(self, *args: Any, **kwargs: Any) -> Any:
        raise _Unchecked

    __getattr__ = __getitem__ = __iter__ = __len__ = __contains__ = __bool__ = __hash__ = _stop
    __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = _stop
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _stop
    __str__ = __format__ = __int__ = __float__ = __index__ = _stop

    def __repr__(self) -> str:
        return "<invalid>"


_INVALID = _Invalid()


def cross_field_issues(data: dict) -> list[ConfigIssue]:
    """The cross-field problems of a config that failed validation, among fields valid on their own."""
    issues: list[ConfigIssue] = []
    _rebuild(EnvironmentConfig, data, (), data, issues)
    return issues


def _rebuild(model: type[BaseModel], value: Any, loc: tuple, root: dict, issues: list[ConfigIssue]) -> Any:
    if not isinstance(value, dict):
        return _INVALID
    fields: dict[str, Any] = {}
    whole = True  # every field valid on its own
    for name, field in model.model_fields.items():
        if field.alias in value:
            annotation = typing.Annotated[(field.annotation, *field.metadata)] if field.metadata else field.annotation
            fields[name], valid = _valid_or_rebuilt(annotation, value[field.alias], loc + (field.alias,), root, issues)
            whole = whole and valid
        elif field.is_required():
            fields[name] = _INVALID
            whole = False
    built = model.model_construct(**fields)
    for decorator in model.__pydantic_decorators__.model_validators.values():
        if decorator.info.mode != "after":
            continue
        try:
            decorator.func(built)
        except Rule as rule:
            at = loc + tuple(rule.at)
            shown = rule.value if rule.has_value else _lookup(root, at)
            issues.append(ConfigIssue(format_path(at), shown, rule.rule, rule.fix))
        except _Unchecked:  # the rule read a value that failed its own validation: not checked
            pass
        except TypeError:
            # C code (re, int()) handed an invalid value raises TypeError, not _Unchecked: not checked either.
            # With every field valid, it is the rule's own defect and must surface.
            if whole:
                raise
    return built


def _valid_or_rebuilt(
    annotation: Any, value: Any, loc: tuple, root: dict, issues: list[ConfigIssue]
) -> tuple[Any, bool]:
    """(the value validated, True), else (the value rebuilt from its valid parts, or _INVALID; False)."""
    try:
        return TypeAdapter(annotation).validate_python(value), True
    except ValidationError:
        pass
    for candidate in _unwrap(annotation):
        origin = typing.get_origin(candidate)
        if isinstance(candidate, type) and issubclass(candidate, BaseModel) and isinstance(value, dict):
            return _rebuild(candidate, value, loc, root, issues), False
        if origin in (list, dict) and isinstance(value, origin):
            item = typing.get_args(candidate)[-1]
            keys = range(len(value)) if origin is list else list(value)
            items = {k: _valid_or_rebuilt(item, value[k], loc + (k,), root, issues) for k in keys}
            if all(whole for _, whole in items.values()):
                return _INVALID, False  # every item is valid: the collection broke a rule of its own (its length)
            rebuilt = {k: item for k, (item, _) in items.items()}
            return (list(rebuilt.values()) if origin is list else rebuilt), False
    return _INVALID, False
