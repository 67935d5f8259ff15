"""Walk a server's address space for an integrator (``gridaios browse``).

From a start node (a browse path such as ``/Objects/2:Field`` or a node id), every
Object and Variable below it to ``depth`` levels: node id, browse path, node class, and
for variables the data type, access level, engineering unit and current value, read in
bulk requests.
"""

from __future__ import annotations

from dataclasses import dataclass

from asyncua import Client, Node, ua

from connectors.errors import UnknownPoint
from connectors.opcua import typed
from connectors.opcua.browse import engineering_info
from connectors.opcua.mapping import browse_path, is_browse_path
from connectors.points import PointBinding

MAX_NODES = 5000  # a walk stops here (a server's whole namespace is rarely wanted)


@dataclass(frozen=True, slots=True)
class NodeInfo:
    node_id: str
    path: str
    node_class: str
    data_type: str = ""
    access: str = ""  # "rw", "r", "w" or ""
    unit: str = ""
    value: str = ""

    def as_json(self) -> dict[str, str]:
        return {
            "node_id": self.node_id,
            "path": self.path,
            "class": self.node_class,
            "data_type": self.data_type,
            "access": self.access,
            "unit": self.unit,
            "value": self.value,
        }


async def start_node(client: Client, where: str) -> Node:
    try:
        if is_browse_path(where):
            return await client.nodes.root.get_child(browse_path(where))
        node = client.get_node(where)
        (dv,) = await client.read_attributes([node], ua.AttributeIds.NodeId)
        dv.StatusCode.check()
        return node
    except (ua.UaStatusCodeError, ValueError) as err:
        raise UnknownPoint(f"{where} does not exist on this server ({err})") from err


async def walk(client: Client, where: str, depth: int) -> list[NodeInfo]:
    """Objects and variables below ``where`` (itself included), depth first."""
    root = await start_node(client, where)
    base = where.rstrip("/") if is_browse_path(where) else ""
    found: list[tuple[Node, str, ua.NodeClass]] = []
    stack: list[tuple[Node, str, int]] = [(root, base or where, 0)]
    while stack and len(found) < MAX_NODES:
        node, path, level = stack.pop()
        node_class = await node.read_node_class()
        found.append((node, path, node_class))
        if level >= depth:
            continue
        children = await node.get_children_descriptions(
            refs=ua.ObjectIds.HierarchicalReferences,
            nodeclassmask=ua.NodeClass.Object | ua.NodeClass.Variable,
        )
        properties = ua.NodeId(ua.ObjectIds.HasProperty)
        for ref in reversed(children):
            if ref.ReferenceTypeId == properties:
                continue  # EURange, EngineeringUnits...: shown on their variable
            name = ref.BrowseName
            child_path = f"{path}/{name.NamespaceIndex}:{name.Name}"
            stack.append((client.get_node(ref.NodeId), child_path, level + 1))
    variables = [(n, p) for n, p, c in found if c == ua.NodeClass.Variable]
    details = await _describe(client, [n for n, _ in variables])
    out: list[NodeInfo] = []
    for node, path, node_class in found:
        info = NodeInfo(node.nodeid.to_string(), path, node_class.name)
        extra = details.get(node.nodeid.to_string())
        out.append(NodeInfo(info.node_id, info.path, info.node_class, *extra) if extra else info)
    return out


async def _describe(client: Client, nodes: list[Node]) -> dict[str, tuple[str, str, str, str]]:
    if not nodes:
        return {}
    types = await client.read_attributes(nodes, ua.AttributeIds.DataType)
    access = await client.read_attributes(nodes, ua.AttributeIds.UserAccessLevel)
    values = await client.read_attributes(nodes, ua.AttributeIds.Value)
    bindings = [
        PointBinding(point=n.nodeid.to_string(), node_id=n.nodeid.to_string(), unit="")
        for n in nodes
    ]
    units, _ = await engineering_info(client, nodes, bindings)
    out: dict[str, tuple[str, str, str, str]] = {}
    for node, t, a, v in zip(nodes, types, access, values, strict=True):
        nid = node.nodeid.to_string()
        data_type = t.Value.Value if t.Value is not None else None
        builtin = typed.builtin_type(data_type) if isinstance(data_type, ua.NodeId) else None
        type_name = builtin.name if builtin is not None else await _type_name(client, data_type)
        level = int(a.Value.Value) if a.Value is not None and a.Value.Value is not None else 0
        rights = ("r" if level & ua.AccessLevel.CurrentRead.mask else "") + (
            "w" if typed.writable(level) else ""
        )
        raw = v.Value.Value if v.Value is not None else None
        shown = "" if raw is None else repr(raw)
        out[nid] = (type_name, rights, units.get(nid, ""), shown[:60])
    return out


async def _type_name(client: Client, data_type: object) -> str:
    if not isinstance(data_type, ua.NodeId):
        return ""
    try:
        name = await client.get_node(data_type).read_browse_name()
    except ua.UaStatusCodeError:
        return str(data_type.to_string())
    return str(name.Name)
