"""Readers of the event log read the typed events' fields, never a key no model has.

Readers use ``Event.typed()`` / ``Event.as_(Model)`` (attribute access, checked by mypy).
Where a payload is still read as a mapping (``e.payload["key"]``, ``e.payload.get("key")``,
or a name bound to ``e.payload``), the key must be a field of the model of an event kind
that function reads (a kind named in it as a string), or of any event model when it names
none: a renamed field fails here instead of reading ``None`` in production.
"""

from __future__ import annotations

import ast
from pathlib import Path

from runtime.log import events as ev

REPO = Path(__file__).resolve().parents[2]
RUNTIME = REPO / "runtime"
FIELDS = {kind: set(model.model_fields) for kind, model in ev.KINDS.items()}
ALL_FIELDS = set().union(*FIELDS.values())
# payload keys of records that are not the log's typed events (wire messages, API bodies)
NOT_EVENTS = {"runtime/hierarchy/site_link.py"}


def _is_payload(node: ast.AST, aliases: set[str]) -> bool:
    if isinstance(node, ast.Attribute) and node.attr == "payload":
        return True
    return isinstance(node, ast.Name) and node.id in aliases


def _payload_copy(value: ast.AST | None) -> bool:
    """``e.payload`` or a copy of it (``dict(e.payload)``): a name bound to it is a payload."""
    if (
        isinstance(value, ast.Call)
        and isinstance(value.func, ast.Name)
        and value.func.id == "dict"
        and len(value.args) == 1
    ):
        value = value.args[0]
    return isinstance(value, ast.Attribute) and value.attr == "payload"


def kind_constants(tree: ast.Module) -> dict[str, str]:
    """Module-level names bound to an event kind (``REQUESTED = "approval.requested"``)."""
    out: dict[str, str] = {}
    for node in tree.body:
        if (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and node.value.value in FIELDS
        ):
            out.update(
                {t.id: str(node.value.value) for t in node.targets if isinstance(t, ast.Name)}
            )
    return out


def reads(
    func: ast.AST,
    constants: dict[str, str] | None = None,
    *,
    params: frozenset[str] | set[str] = frozenset(),
) -> tuple[set[str], list[tuple[int, str]]]:
    """The event kinds a function names and the payload keys it reads (line, key);
    ``params``: names that hold a payload (a renderer's parameter)."""
    kinds: set[str] = set()
    aliases: set[str] = set(params)
    keys: list[tuple[int, str]] = []
    for node in ast.walk(func):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in FIELDS:
            kinds.add(node.value)
        if isinstance(node, ast.Name) and constants and node.id in constants:
            kinds.add(constants[node.id])
        if isinstance(node, ast.Assign | ast.AnnAssign) and _payload_copy(node.value):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            aliases.update(t.id for t in targets if isinstance(t, ast.Name))
    for node in ast.walk(func):
        if isinstance(node, ast.Subscript) and _is_payload(node.value, aliases):
            key = node.slice
            if isinstance(key, ast.Constant) and isinstance(key.value, str):
                keys.append((node.lineno, key.value))
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr == "get"
            and _is_payload(node.func.value, aliases)
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            keys.append((node.lineno, node.args[0].value))
    return kinds, keys


def unknown_keys(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    constants = kind_constants(tree)
    out = []
    for func in ast.walk(tree):
        if not isinstance(func, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        kinds, keys = reads(func, constants)
        allowed = set().union(*(FIELDS[k] for k in kinds)) if kinds else ALL_FIELDS
        for line, key in keys:
            if key not in allowed:
                where = f"{path.relative_to(REPO)}:{line}"
                named = ", ".join(sorted(kinds)) or "any event"
                out.append(f"{where} reads payload[{key!r}]: no field of {named}")
    return out


def renderer_keys(path: Path, root: Path = REPO) -> list[str]:
    """Readers dispatched by kind (``{"dispatch.gated": _gated, "x.y": lambda p, ...: ...}``):
    the keys each reads from its first parameter (the payload) must be fields of that kind."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    functions = {f.name: f for f in ast.walk(tree) if isinstance(f, ast.FunctionDef)}
    out = []
    for table in ast.walk(tree):
        if not isinstance(table, ast.Dict):
            continue
        for key, value in zip(table.keys, table.values, strict=True):
            if not (isinstance(key, ast.Constant) and key.value in FIELDS):
                continue
            func: ast.AST | None = value
            if isinstance(value, ast.Name):
                func = functions.get(value.id)
            if not isinstance(func, ast.Lambda | ast.FunctionDef) or not func.args.args:
                continue
            payload = func.args.args[0].arg
            _, keys = reads(func, None, params={payload})
            for line, name in keys:
                if name not in FIELDS[str(key.value)]:
                    where = f"{path.relative_to(root)}:{line}"
                    out.append(f"{where} reads payload[{name!r}]: no field of {key.value}")
    return out


def test_readers_dispatched_by_kind_read_that_kinds_fields() -> None:
    bad = [problem for path in sorted(RUNTIME.rglob("*.py")) for problem in renderer_keys(path)]
    assert bad == []


def test_every_payload_key_a_reader_uses_is_a_field_of_its_event() -> None:
    bad = [
        problem
        for path in sorted(RUNTIME.rglob("*.py"))
        if str(path.relative_to(REPO)) not in NOT_EVENTS
        for problem in unknown_keys(path)
    ]
    assert bad == []


def test_the_check_catches_a_renamed_field(tmp_path: Path) -> None:
    reader = tmp_path / "reader.py"
    reader.write_text(
        "def f(log):\n"
        "    for e in log.events(kinds=('dispatch.gated',)):\n"
        "        p = e.payload\n"
        "        yield p['outcome'], p['verdict'], e.payload.get('histories')\n"
    )
    text = "\n".join(unknown_keys_at(reader))
    assert "payload['verdict']" in text and "payload['histories']" in text
    assert "'outcome'" not in text


def test_the_check_catches_a_renamed_field_in_a_renderer(tmp_path: Path) -> None:
    runtime = tmp_path / "runtime"
    runtime.mkdir()
    reader = runtime / "render.py"
    reader.write_text(
        "def _gated(p, ts):\n    return [p['outcome'], p.get('verdict')]\n"
        "RENDER = {'dispatch.gated': _gated, 'dispatch.sent': lambda p, ts: [p['attempts']]}\n"
    )
    found = renderer_keys(reader, tmp_path)
    assert [f.split(" reads ")[1] for f in found] == [
        "payload['verdict']: no field of dispatch.gated",
        "payload['attempts']: no field of dispatch.sent",
    ]


def unknown_keys_at(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    out = []
    for func in ast.walk(tree):
        if isinstance(func, ast.FunctionDef):
            kinds, keys = reads(func)
            allowed = set().union(*(FIELDS[k] for k in kinds)) if kinds else ALL_FIELDS
            out += [f"payload[{k!r}]" for _, k in keys if k not in allowed]
    return out


def test_the_check_sees_a_copied_payload(tmp_path: Path) -> None:
    """``proposed = dict(e.payload)`` (the observer's way) is a payload read too."""
    reader = tmp_path / "reader.py"
    reader.write_text(
        "def f(log):\n"
        "    for e in log.events(kinds=('dispatch.simulated',)):\n"
        "        simulated: dict = dict(e.payload)\n"
        "        copy = dict(e.payload)\n"
        "        yield simulated['value'], simulated['values'], copy.get('oks')\n"
    )
    text = "\n".join(unknown_keys_at(reader))
    assert "payload['values']" in text and "payload['oks']" in text
    assert "payload['value']" not in text
