"""A small loader for the YAML subset the bridge config uses (or JSON).

The bridge may depend on paho-mqtt and the standard library only, so it cannot use
PyYAML. Its config needs nested mappings of scalars and nothing else, so this loader
accepts exactly that and refuses everything else with the line number and the fix:

- ``key: value`` pairs and ``key:`` opening a nested mapping, nested by indentation
  (spaces only, consistent per block);
- scalars: integers, floats, ``true``/``false``, ``null``/``~``, single- or
  double-quoted strings, plain strings;
- ``#`` comments (at line start, or after a space outside quotes).

Lists, anchors, multi-line strings and flow collections are refused. A file whose
first non-blank character is ``{`` is parsed as JSON instead (JSON is valid YAML,
so the same file also loads with a full YAML parser).
"""

from __future__ import annotations

import json
import re

__all__ = ["ConfigSyntaxError", "loads"]

Scalar = str | int | float | bool | None
Mapping = dict[str, "Scalar | Mapping"]

_INT = re.compile(r"^[-+]?\d+$")
_FLOAT = re.compile(r"^[-+]?(\d+\.\d*|\.\d+|\d+)([eE][-+]?\d+)?$")
_KEY = re.compile(r"^([A-Za-z_][A-Za-z0-9_\-]*)\s*:(.*)$")


class ConfigSyntaxError(ValueError):
    """The text is not in the accepted subset; the message names the line and the fix."""


def loads(text: str, source: str = "<config>") -> Mapping:
    """Parse ``text`` (YAML subset or JSON) into nested dicts of scalars."""
    if text.lstrip().startswith("{"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigSyntaxError(f"{source}:{err.lineno}: invalid JSON: {err.msg}") from err
        if not isinstance(data, dict):
            raise ConfigSyntaxError(f"{source}: the top level must be a mapping")
        return data
    lines = _significant_lines(text, source)
    root: Mapping = {}
    _parse_block(lines, 0, 0, root, source)
    return root


def _strip_comment(line: str) -> str:
    quote: str | None = None
    for i, ch in enumerate(line):
        if quote:
            if ch == quote:
                quote = None
        elif ch in "\"'":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1] in " \t"):
            return line[:i]
    return line


def _significant_lines(text: str, source: str) -> list[tuple[int, int, str]]:
    """(line number, indent, content) of each non-blank, non-comment line."""
    out: list[tuple[int, int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        body = _strip_comment(raw).rstrip()
        if not body.strip():
            continue
        stripped = body.lstrip(" ")
        if stripped.startswith("\t") or "\t" in body[: len(body) - len(stripped)]:
            raise ConfigSyntaxError(f"{source}:{number}: tab in indentation; indent with spaces")
        if stripped in ("---", "..."):
            continue
        out.append((number, len(body) - len(stripped), stripped))
    return out


def _parse_block(
    lines: list[tuple[int, int, str]], start: int, indent: int, into: Mapping, source: str
) -> int:
    """Fill ``into`` from lines[start:] at ``indent``; return the index after the block."""
    i = start
    while i < len(lines):
        number, ind, content = lines[i]
        if ind < indent:
            return i
        if ind > indent:
            raise ConfigSyntaxError(f"{source}:{number}: unexpected indentation")
        if content.startswith("- ") or content == "-":
            raise ConfigSyntaxError(
                f"{source}:{number}: lists are not supported by the bridge config loader; "
                "use a mapping (or write the file as JSON)"
            )
        match = _KEY.match(content)
        if match is None:
            raise ConfigSyntaxError(f"{source}:{number}: expected `key: value`, got {content!r}")
        key, rest = match.group(1), match.group(2).strip()
        if key in into:
            raise ConfigSyntaxError(f"{source}:{number}: duplicate key {key!r}")
        i += 1
        if rest:
            into[key] = _scalar(rest, number, source)
            continue
        if i < len(lines) and lines[i][1] > indent:
            child: Mapping = {}
            i = _parse_block(lines, i, lines[i][1], child, source)
            into[key] = child
        else:
            into[key] = None
    return i


def _scalar(text: str, number: int, source: str) -> Scalar:
    if text[0] in "\"'":
        if len(text) < 2 or text[-1] != text[0]:
            raise ConfigSyntaxError(f"{source}:{number}: unterminated string {text!r}")
        inner = text[1:-1]
        if text[0] == '"':
            try:
                value = json.loads(text)
            except json.JSONDecodeError as err:
                raise ConfigSyntaxError(f"{source}:{number}: bad string {text!r}") from err
            return str(value)
        return inner.replace("''", "'")
    if text[0] in "[{&*|>!%@`":
        raise ConfigSyntaxError(
            f"{source}:{number}: {text!r} uses YAML syntax the bridge loader does not support "
            "(flow collections, anchors, tags, block strings); quote it or use JSON"
        )
    lowered = text.lower()
    if lowered == "true":
        return True
    if lowered == "false":
        return False
    if lowered in ("null", "~"):
        return None
    if _INT.match(text):
        return int(text)
    if _FLOAT.match(text):
        return float(text)
    return text
