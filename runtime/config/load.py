"""Reading a site (or controller) config: YAML -> validated models, refused with field, value
and rule (``ConfigError``), cross-checked (``config.checks``), sensitivities computed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from runtime.config import guard as config_guard
from runtime.config import sensitivities
from runtime.config.checks import (
    agent_issues,
    command_point_issues,
    hierarchy_issues,
    node_id_issues,
    openadr_issues,
    reference_issues,
    safety_issues,
    wire_point_issues,
)
from runtime.config.hierarchy import ControllerConfig
from runtime.config.model import SiteConfig
from runtime.core.errors import ConfigError, ConfigIssue


def load_config(path: str | Path) -> SiteConfig:
    """Read and validate a site config; raise ConfigError naming every bad field."""
    file = str(path)
    try:
        text = config_guard.decode(Path(path).read_bytes(), file)
    except OSError as err:
        raise ConfigError(
            file, [ConfigIssue("(file)", "", f"cannot read: {err.strerror}")]
        ) from err
    config = parse_config(text, file)
    if config.feeder.network is not None:
        network = Path(path).parent / config.feeder.network
        if not network.is_file():
            raise ConfigError(
                file,
                [
                    ConfigIssue(
                        "feeder.network",
                        config.feeder.network,
                        f"no such file ({network}); give a .m or .yaml network relative "
                        "to this config",
                    )
                ],
            )
        feeder = config.feeder.model_copy(update={"network": str(network.resolve())})
        config = config.model_copy(update={"feeder": feeder})
    return sensitivities.resolve(config, file)


def _read_yaml(text: str, file: str) -> dict[str, Any]:
    try:
        raw = config_guard.load_yaml(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(yaml)"
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(file, [ConfigIssue(where, "", f"YAML syntax error: {problem}")]) from err
    if not isinstance(raw, dict):
        raise ConfigError(file, [ConfigIssue("(top level)", "", "must be a mapping of sections")])
    issues = config_guard.number_issues(raw) + config_guard.rating_issues(raw)
    if issues:
        raise ConfigError(file, issues)
    return raw


def is_controller_config(text: str) -> bool:
    """The file declares ``hierarchy: {role: controller}`` (a controller, not a site)."""
    try:
        raw = config_guard.load_yaml(text)
    except yaml.YAMLError:
        return False
    block = raw.get("hierarchy") if isinstance(raw, dict) else None
    return isinstance(block, dict) and block.get("role") == "controller"


def load_controller_config(path: str | Path) -> ControllerConfig:
    """Read and validate a controller config; raise ConfigError naming every bad field."""
    file = str(path)
    try:
        text = config_guard.decode(Path(path).read_bytes(), file)
    except OSError as err:
        raise ConfigError(
            file, [ConfigIssue("(file)", "", f"cannot read: {err.strerror}")]
        ) from err
    raw = _read_yaml(text, file)
    try:
        return ControllerConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(file, [_issue(e, raw) for e in err.errors()]) from err


def parse_config(text: str, file: str = "<config>") -> SiteConfig:
    raw = _read_yaml(text, file)
    if is_controller_config(text):
        raise ConfigError(
            file,
            [
                ConfigIssue(
                    "hierarchy.role",
                    "controller",
                    "this is a controller config: run it with `gridaios run --role controller`",
                )
            ],
        )
    try:
        config = SiteConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(file, [_issue(e, raw) for e in err.errors()]) from err
    dumped = config.model_dump()  # numbers given as text ("1e308") are numbers now
    guarded = config_guard.number_issues(dumped) + config_guard.rating_issues(dumped)
    if guarded:
        raise ConfigError(file, guarded)
    issues = (
        reference_issues(config)
        + wire_point_issues(config)
        + safety_issues(config)
        + hierarchy_issues(config)
        + agent_issues(config)
        + openadr_issues(config, None if file.startswith("<") else Path(file).parent)
    )
    if not issues:
        issues = command_point_issues(config) + node_id_issues(config)
    if issues:
        raise ConfigError(file, issues)
    return config


def _issue(error: Any, raw: Any) -> ConfigIssue:
    path, value, found = _walk(error["loc"], raw)
    kind = error["type"]
    ctx = error.get("ctx", {})
    if kind == "extra_forbidden":
        shown = _fmt(value) if found else ""
        return ConfigIssue(path, shown, "unknown key; remove it or check its spelling")
    if kind == "missing":
        return ConfigIssue(path, "", "required field is missing")
    rules = {
        "greater_than_equal": "must be >= {ge}",
        "greater_than": "must be > {gt}",
        "less_than_equal": "must be <= {le}",
        "less_than": "must be < {lt}",
    }
    if kind in rules:
        rule = rules[kind].format(**{k: _fmt(v) for k, v in ctx.items()})
    else:
        rule = str(error["msg"]).removeprefix("Value error, ")
    return ConfigIssue(path, _fmt(value) if found else "", rule)


def _walk(loc: tuple[Any, ...], raw: Any) -> tuple[str, Any, bool]:
    """Render a pydantic location as `a.b[2].c`, skipping union tags, and find the raw value."""
    parts: list[str] = []
    node: Any = raw
    found = True
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            if isinstance(node, list) and 0 <= item < len(node):
                node = node[item]
            else:
                found = False
            continue
        if isinstance(node, dict) and item not in node and node.get("type") == item:
            continue  # discriminated-union tag, not a key the user wrote
        parts.append(f".{item}" if parts else str(item))
        if isinstance(node, dict) and item in node:
            node = node[item]
        else:
            found = False
    return "".join(parts) or "(top level)", node, found


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return "{...}" if isinstance(value, dict) else "[...]"
    return str(value)
