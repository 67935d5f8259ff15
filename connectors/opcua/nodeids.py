"""Node ids and browse paths checked without a server (and without importing asyncua)."""

from __future__ import annotations

import re

_NODE_ID = re.compile(
    r"^(?:(?:ns=\d+|nsu=[^;]+);)?"
    r"(?:i=\d+|s=.+|g=[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}"
    r"|b=[A-Za-z0-9+/]+=*)$",
    re.DOTALL,
)
_ELEMENT = re.compile(r"^(?:\d+:)?[^:/]+$")
EXAMPLE = "e.g. ns=2;s=bat1.p_kw, ns=2;i=1001, or a browse path /Objects/2:Field/2:bat1/2:p_kw"


def node_id_problem(node: str) -> str | None:
    """Why ``node`` is neither an OPC UA node id nor a browse path; None when it is one."""
    if node.startswith("/"):
        parts = [p for p in node.strip("/").split("/") if p]
        if not parts:
            return f"an empty browse path; write {EXAMPLE}"
        bad = next((p for p in parts if not _ELEMENT.match(p)), None)
        if bad is not None:
            return f"browse path element {bad!r} is not [<namespace index>:]<name>; write {EXAMPLE}"
        return None
    if _NODE_ID.match(node) is None:
        return f"not an OPC UA node id; write {EXAMPLE}"
    return None
