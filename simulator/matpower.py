"""Read MATPOWER case files (format version 2) into a ``Network``.

Only data is read, never executed: a case holds ``mpc.version``, ``mpc.baseMVA``
and numeric matrices (``mpc.bus``, ``mpc.gen``, ``mpc.branch``, optionally
``mpc.gencost`` and cell arrays such as ``mpc.bus_name``, which are ignored).
A case whose file runs MATLAB code to finish its data (e.g. converting ohms to
per unit) is refused: the numbers in its matrices are not the numbers it means.
Save such a case with MATPOWER's ``savecase`` first.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from simulator.network import FloatArray, Network, NetworkError

_ASSIGN = re.compile(r"^mpc\.(\w+)\s*=\s*(.*)$", re.DOTALL)
_FUNCTION = re.compile(r"^function\s+(?:(\w+)|\[[^\]]*\])\s*=\s*(\w+)")
BUS_COLS = 13
GEN_COLS = 10
BRANCH_COLS = 11
PQ, PV, REF, ISOLATED = 1, 2, 3, 4


def load_matpower(path: str | Path) -> Network:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as err:
        raise NetworkError(f"{path}: cannot read the case file ({err.strerror})") from err
    return parse_matpower(text, source=str(path))


def parse_matpower(text: str, *, source: str = "<case>") -> Network:
    statements = _statements(text, source)
    name = Path(source).stem
    fields: dict[str, object] = {}
    for line_no, stmt in statements:
        m = _FUNCTION.match(stmt)
        if m:
            if m.group(1) != "mpc":
                raise NetworkError(
                    f"{source}:{line_no}: MATPOWER version 1 case (returns several matrices); "
                    "convert it to version 2 with MATPOWER's savecase"
                )
            name = m.group(2)
            continue
        if stmt in ("end", "return"):
            continue
        m = _ASSIGN.match(stmt)
        if m is None or not _is_data(m.group(2)):
            raise NetworkError(
                f"{source}:{line_no}: {stmt[:60]!r} is MATLAB code, not case data; "
                "only mpc.<field> = <number|'text'|[matrix]|{cell}> is read. Run the case "
                "in MATPOWER and save it with savecase() so it holds plain numbers"
            )
        fields[m.group(1)] = _value(m.group(1), m.group(2), source, line_no)
    version = fields.get("version")
    if version != "2":
        raise NetworkError(
            f"{source}: mpc.version = {version!r}: only MATPOWER case format version '2' "
            "is supported"
        )
    for key in ("baseMVA", "bus", "gen", "branch"):
        if key not in fields:
            raise NetworkError(f"{source}: mpc.{key} is missing")
    base_mva = fields["baseMVA"]
    if not isinstance(base_mva, float):
        raise NetworkError(f"{source}: mpc.baseMVA must be a number")
    bus = _matrix(fields, "bus", BUS_COLS, source)
    gen = _matrix(fields, "gen", GEN_COLS, source, allow_empty=True)
    branch = _matrix(fields, "branch", BRANCH_COLS, source)
    return _network(name, base_mva, bus, gen, branch, source)


def _statements(text: str, source: str) -> list[tuple[int, str]]:
    """Split into statements (ending at ';' outside brackets, or at a line end)."""
    out: list[tuple[int, str]] = []
    buf: list[str] = []
    depth = 0
    start_line = 1
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = _strip_comment(raw).strip()
        if not line:
            continue
        if not buf:
            start_line = line_no
        buf.append(line)
        depth += line.count("[") + line.count("{") - line.count("]") - line.count("}")
        if depth < 0:
            raise NetworkError(f"{source}:{line_no}: unbalanced ']' or '}}'")
        if depth == 0:
            stmt = " ".join(buf).rstrip(";").strip()
            if stmt:
                out.append((start_line, stmt))
            buf = []
    if buf:
        raise NetworkError(f"{source}:{start_line}: '[' or '{{' is never closed")
    return out


def _strip_comment(line: str) -> str:
    in_quote = False
    for i, ch in enumerate(line):
        if ch == "'":
            in_quote = not in_quote
        elif ch == "%" and not in_quote:
            return line[:i]
    return line


def _is_data(rhs: str) -> bool:
    rhs = rhs.strip()
    return (
        (rhs.startswith("[") and rhs.endswith("]"))
        or (rhs.startswith("{") and rhs.endswith("}"))
        or (rhs.startswith("'") and rhs.endswith("'"))
        or _number(rhs) is not None
    )


def _number(token: str) -> float | None:
    t = token.strip().lower()
    if t in ("inf", "+inf"):
        return float("inf")
    if t == "-inf":
        return float("-inf")
    try:
        return float(t)
    except ValueError:
        return None


def _value(field: str, rhs: str, source: str, line_no: int) -> object:
    rhs = rhs.strip()
    if rhs.startswith("'"):
        return rhs[1:-1]
    if rhs.startswith("{"):
        return None  # cell arrays (names, comments): not needed for a power flow
    if rhs.startswith("["):
        rows = [r for r in re.split(r"[;\n]", rhs[1:-1]) if r.strip()]
        matrix: list[list[float]] = []
        for i, row in enumerate(rows, start=1):
            values: list[float] = []
            for token in re.split(r"[\s,]+", row.strip()):
                x = _number(token)
                if x is None:
                    raise NetworkError(
                        f"{source}:{line_no}: mpc.{field} row {i}: {token!r} is not a number"
                    )
                values.append(x)
            if matrix and len(values) != len(matrix[0]):
                raise NetworkError(
                    f"{source}:{line_no}: mpc.{field} row {i} has {len(values)} columns, "
                    f"row 1 has {len(matrix[0])}"
                )
            matrix.append(values)
        return np.array(matrix, dtype=float).reshape(len(matrix), -1)
    x = _number(rhs)
    assert x is not None  # _is_data checked it
    return x


def _matrix(
    fields: dict[str, object], key: str, min_cols: int, source: str, *, allow_empty: bool = False
) -> FloatArray:
    m = fields[key]
    if not isinstance(m, np.ndarray):
        raise NetworkError(f"{source}: mpc.{key} must be a matrix")
    if m.shape[0] == 0:
        if allow_empty:
            return np.zeros((0, min_cols))
        raise NetworkError(f"{source}: mpc.{key} is empty")
    if m.shape[1] < min_cols:
        raise NetworkError(
            f"{source}: mpc.{key} has {m.shape[1]} columns; version 2 needs at least {min_cols}"
        )
    return m


def _network(
    name: str,
    base_mva: float,
    bus: FloatArray,
    gen: FloatArray,
    branch: FloatArray,
    source: str,
) -> Network:
    numbers = [_bus_number(x, source) for x in bus[:, 0]]
    ids = tuple(str(n) for n in numbers)
    index = {n: i for i, n in enumerate(numbers)}
    kinds = bus[:, 1].astype(int)
    for i, kind in enumerate(kinds):
        if kind not in (PQ, PV, REF, ISOLATED):
            raise NetworkError(f"{source}: bus {ids[i]}: type {kind} is not 1, 2, 3 or 4")
        if kind == PV:
            raise NetworkError(
                f"{source}: bus {ids[i]}: type 2 (voltage-controlled) is not supported by "
                "the distribution power flow; make it type 1 with its generator as a fixed "
                "Pg/Qg injection"
            )
        if kind == ISOLATED:
            raise NetworkError(
                f"{source}: bus {ids[i]}: type 4 (isolated); remove the bus and its branches"
            )
    slacks = np.flatnonzero(kinds == REF)
    if slacks.size == 0:
        raise NetworkError(f"{source}: no slack bus (type 3); mark the substation bus as type 3")
    if slacks.size > 1:
        listed = ", ".join(ids[i] for i in slacks)
        raise NetworkError(f"{source}: buses {listed} are all slack (type 3); keep exactly one")
    slack = int(slacks[0])
    p_load = bus[:, 2].copy()
    q_load = bus[:, 3].copy()
    slack_vm = float(bus[slack, 7])
    for row, g in enumerate(gen, start=1):
        if g[7] <= 0:
            continue
        at = index.get(_bus_number(g[0], source))
        if at is None:
            raise NetworkError(f"{source}: mpc.gen row {row}: unknown bus {g[0]:g}")
        if at == slack:
            slack_vm = float(g[5])
        else:  # a fixed injection on a PQ bus (distributed generation)
            p_load[at] -= g[1]
            q_load[at] -= g[2]
    f_bus = np.empty(len(branch), dtype=np.int64)
    t_bus = np.empty(len(branch), dtype=np.int64)
    for k, row in enumerate(branch):
        for col, out in ((0, f_bus), (1, t_bus)):
            at = index.get(_bus_number(row[col], source))
            if at is None:
                raise NetworkError(
                    f"{source}: branch {k + 1}: unknown bus {row[col]:g}; add it to mpc.bus"
                )
            out[k] = at
    tap = branch[:, 8].copy()
    tap[tap == 0] = 1.0
    return Network(
        name=name,
        base_mva=base_mva,
        bus_ids=ids,
        slack=slack,
        slack_vm_pu=slack_vm,
        base_kv=bus[:, 9].copy(),
        p_load_mw=p_load,
        q_load_mvar=q_load,
        gs_mw=bus[:, 4].copy(),
        bs_mvar=bus[:, 5].copy(),
        vmin_pu=bus[:, 12].copy(),
        vmax_pu=bus[:, 11].copy(),
        branch_ids=tuple(str(k + 1) for k in range(len(branch))),
        f_bus=f_bus,
        t_bus=t_bus,
        r_pu=branch[:, 2].copy(),
        x_pu=branch[:, 3].copy(),
        b_pu=branch[:, 4].copy(),
        rating_mva=branch[:, 5].copy(),
        tap=tap,
        shift_deg=branch[:, 9].copy(),
        in_service=branch[:, 10] > 0,
    )


def _bus_number(x: float, source: str) -> int:
    if not np.isfinite(x) or x != int(x) or x <= 0:
        raise NetworkError(f"{source}: bus number {x:g} must be a positive integer")
    return int(x)
