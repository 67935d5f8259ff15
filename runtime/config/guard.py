"""What a config file must be before its values are trusted: the class of silent limit removal.

- UTF-8 text (a clear error naming the byte offset otherwise);
- YAML without duplicated keys (the last value would silently win) and not nested
  deeper than ``MAX_DEPTH`` (a deep document would exhaust the parser's recursion);
- every number finite (no ``.inf``/``.nan``) and within ``MAX_MAGNITUDE`` (``1e308`` is
  as good as infinite for a limit);
- an asset's power rating no larger than ``RATING_FACTOR`` x the feeder transformer's
  rating: a limit above what the feeder can physically carry is no limit.

Each problem is a ``ConfigIssue`` naming the field (or line), the value and the rule.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import yaml

from runtime.core.errors import ConfigError, ConfigIssue

MAX_DEPTH = 32
MAX_NODES = 200_000  # a site config has a few thousand; aliases can make a "YAML bomb"
MAX_MAGNITUDE = 1e9
RATING_FACTOR = 2.0
RATED_FIELDS = ("max_charge_kw", "max_discharge_kw", "rated_kw")
FEEDER_MAX_KW = 1e6  # 1 GW: above any distribution feeder's transformer


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicated mapping keys and documents nested too deep."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"nested deeper than {MAX_DEPTH} levels; a site config is a few levels deep",
                    mark,
                )
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_mapping(self, node: Any, deep: bool = False) -> Any:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            try:
                hash(key)
            except TypeError:
                continue  # the base class reports unhashable keys
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None,
                    None,
                    f"key {key!r} appears twice in one mapping (first on line {seen[key] + 1}); "
                    "keep one: the last value would silently win",
                    key_node.start_mark,
                )
            seen[key] = key_node.start_mark.line
        return super().construct_mapping(node, deep=deep)


def decode(raw: bytes, file: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(
            file,
            [
                ConfigIssue(
                    "(file)",
                    f"byte {err.start}",
                    f"not UTF-8 text (0x{raw[err.start]:02x} at byte {err.start}); "
                    "save the file as UTF-8",
                )
            ],
        ) from err


def load_yaml(text: str) -> Any:
    """``yaml.safe_load`` that refuses duplicated keys and excessive nesting."""
    try:
        return yaml.load(text, Loader=_StrictLoader)
    except RecursionError as err:
        raise yaml.YAMLError(f"nested deeper than {MAX_DEPTH} levels") from err


def _walk(node: Any, path: str, depth: int = 0) -> Iterator[tuple[str, Any]]:
    if depth > MAX_DEPTH:
        return
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _walk(value, f"{path}.{key}" if path else str(key), depth + 1)
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, f"{path}[{i}]", depth + 1)
    else:
        yield path, node


def number_issues(raw: Any) -> list[ConfigIssue]:
    """Every number in the document finite and of a magnitude a feeder can have."""
    issues: list[ConfigIssue] = []
    for n, (path, value) in enumerate(_walk(raw, "")):
        if n >= MAX_NODES:
            return [
                ConfigIssue(
                    "(document)",
                    f"> {MAX_NODES} values",
                    "too many values (YAML aliases expanding?); a site config has a few thousand",
                )
            ]
        if isinstance(value, bool) or not isinstance(value, int | float):
            continue
        if isinstance(value, float) and not math.isfinite(value):
            issues.append(
                ConfigIssue(path, str(value), "must be a finite number (.inf/.nan remove a limit)")
            )
        elif abs(value) > MAX_MAGNITUDE:
            issues.append(ConfigIssue(path, f"{value:g}", f"must be within +/-{MAX_MAGNITUDE:g}"))
    return issues


def rating_issues(raw: Any) -> list[ConfigIssue]:
    """An asset rated above what the feeder's transformer can carry is a removed limit."""
    if not isinstance(raw, dict):
        return []
    feeder = raw.get("feeder")
    rating = feeder.get("transformer_rating_kw") if isinstance(feeder, dict) else None
    if isinstance(rating, bool) or not isinstance(rating, int | float):
        return []
    if not math.isfinite(rating) or rating <= 0:
        return []
    if rating > FEEDER_MAX_KW:
        return [
            ConfigIssue(
                "feeder.transformer_rating_kw",
                f"{rating:g}",
                f"must be <= {FEEDER_MAX_KW:g} kW: no distribution feeder carries more, and a "
                "larger rating removes the thermal limit",
            )
        ]
    cap = RATING_FACTOR * float(rating)
    issues: list[ConfigIssue] = []
    assets = raw.get("assets")
    for i, asset in enumerate(assets if isinstance(assets, list) else []):
        if not isinstance(asset, dict):
            continue
        for name in RATED_FIELDS:
            value = asset.get(name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                continue
            if math.isfinite(value) and value > cap:
                issues.append(
                    ConfigIssue(
                        f"assets[{i}].{name}",
                        f"{value:g}",
                        f"must be <= {RATING_FACTOR:g} x feeder.transformer_rating_kw "
                        f"({cap:g} kW): above what the feeder can carry it limits nothing",
                    )
                )
    return issues
