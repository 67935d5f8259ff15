"""Find the configured nodes on a server and read what it says about them (bulk requests)."""

from __future__ import annotations

from asyncua import Client, Node, ua

from connectors.errors import UnknownPoint
from connectors.opcua.mapping import browse_path, is_browse_path
from connectors.points import PointBinding

CHUNK = 1000  # nodes per bulk request


async def find_node(client: Client, text: str) -> Node:
    """A node id (``ns=``, or ``nsu=`` with the namespace URI, which survives a server
    that renumbers its namespaces) or a browse path, as a Node of this session.
    ``ua.UaStatusCodeError`` or ``ValueError`` when the server has no such node or
    namespace."""
    if is_browse_path(text):
        return await client.nodes.root.get_child(browse_path(text))
    node_id = ua.NodeId.from_string(text)
    uri = getattr(node_id, "NamespaceUri", None)
    if uri:
        index = await client.get_namespace_index(uri)
        node_id = ua.NodeId(node_id.Identifier, index, node_id.NodeIdType)
    return client.get_node(node_id)


async def resolve_nodes(
    client: Client, points: list[PointBinding], source: str, endpoint: str
) -> list[Node]:
    """Node ids as given, browse paths translated; UnknownPoint names every missing one."""
    nodes: list[Node] = []
    found: list[PointBinding] = []
    missing: list[str] = []
    for binding in points:
        try:
            node = await find_node(client, binding.node_id)
        except (ua.UaStatusCodeError, ValueError):
            what = "browse path" if is_browse_path(binding.node_id) else "node"
            missing.append(f"{what} {binding.node_id} for point {binding.point}")
            continue
        nodes.append(node)
        found.append(binding)
    for i in range(0, len(nodes), CHUNK):
        chunk = nodes[i : i + CHUNK]
        results = await client.read_attributes(chunk, ua.AttributeIds.NodeId)
        for node, result, binding in zip(chunk, results, found[i : i + CHUNK], strict=True):
            if not result.StatusCode.is_good():
                missing.append(f"node {node.nodeid.to_string()} for point {binding.point}")
    if missing:  # every one of them: an integrator fixes them all in one go
        verb = "does" if len(missing) == 1 else "do"
        raise UnknownPoint(
            f"OPC UA source {source}: {'; '.join(missing)} {verb} not exist on {endpoint}"
        )
    return nodes


def _property_path(node: Node, name: str) -> ua.BrowsePath:
    element = ua.RelativePathElement()
    element.ReferenceTypeId = ua.TwoByteNodeId(ua.ObjectIds.HasProperty)
    element.IsInverse = False  # asyncua's default is True, which only asyncua's server tolerates
    element.IncludeSubtypes = True
    element.TargetName = ua.QualifiedName(name, 0)
    path = ua.BrowsePath()
    path.StartingNode = node.nodeid
    path.RelativePath = ua.RelativePath(Elements=[element])
    return path


async def engineering_info(
    client: Client, nodes: list[Node], points: list[PointBinding]
) -> tuple[dict[str, str], dict[str, tuple[float, float]]]:
    """EngineeringUnits display names and EURange (low, high) per point, where present."""
    wanted = [(b, prop) for b in points for prop in ("EngineeringUnits", "EURange")]
    paths = [_property_path(n, prop) for n in nodes for prop in ("EngineeringUnits", "EURange")]
    found: list[tuple[PointBinding, Node]] = []
    for i in range(0, len(paths), CHUNK):
        results = await client.uaclient.translate_browsepaths_to_nodeids(paths[i : i + CHUNK])
        for (binding, _prop), result in zip(wanted[i : i + CHUNK], results, strict=True):
            if result.StatusCode.is_good() and result.Targets:
                found.append((binding, client.get_node(result.Targets[0].TargetId)))
    units: dict[str, str] = {}
    ranges: dict[str, tuple[float, float]] = {}
    for i in range(0, len(found), CHUNK):
        chunk = found[i : i + CHUNK]
        values = await client.read_attributes([n for _, n in chunk], ua.AttributeIds.Value)
        for (binding, _node), dv in zip(chunk, values, strict=True):
            value = dv.Value.Value if dv.Value is not None else None
            if isinstance(value, ua.Range):
                ranges[binding.point] = (float(value.Low), float(value.High))
            elif isinstance(value, ua.EUInformation):
                units[binding.point] = value.DisplayName.Text or ""
    return units, ranges


async def data_type_ids(client: Client, nodes: list[Node]) -> list[ua.NodeId | None]:
    """Each node's DataType attribute (None where the server does not say)."""
    out: list[ua.NodeId | None] = []
    for i in range(0, len(nodes), CHUNK):
        results = await client.read_attributes(nodes[i : i + CHUNK], ua.AttributeIds.DataType)
        for dv in results:
            value = dv.Value.Value if dv.Value is not None else None
            out.append(value if isinstance(value, ua.NodeId) else None)
    return out
