"""What a connector reads and writes, independent of the protocol."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class PointBinding:
    """One configured point: the gridaios point id, where it lives on the peer, its unit.

    ``node_id`` is an OPC UA node id (``ns=2;s=bat1.soc_pct``) or browse path
    (``/Objects/2:Field/2:bat1/2:soc_pct``), or the point name on the MQTT wire
    (``bat1.soc_pct`` for JSON, ``<edge node>/<device>/<metric>`` for Sparkplug B).
    """

    point: str
    node_id: str
    unit: str
    # engineering value = raw value on the wire * scale + offset (per point, from the config)
    scale: float = 1.0
    offset: float = 0.0
    data_type: str | None = None  # stated in the config: the node's type is meant


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteTarget:
    """Where a command lands: the setpoint, the idempotency key, and the key the device applied.

    On MQTT only ``value_node`` is used (the wire name of the setpoint); the key travels in
    the command payload and comes back in the device's ack. Without key nodes (an absolute
    setpoint such as ``curtail_pct``, idempotent by nature) the value alone is written and
    the read-back of ``value_node`` confirms it.
    """

    value_node: str
    key_node: str | None = None
    applied_key_node: str | None = None
    # raw = (engineering - offset) / scale; ``data_type`` forces the wire type (OPC UA: a
    # built-in type name such as Float); None: the node's own DataType, read from the server
    data_type: str | None = None
    scale: float = 1.0
    offset: float = 0.0
    unit: str = ""

    @property
    def keyless(self) -> bool:
        return self.key_node is None or self.applied_key_node is None


@dataclass(frozen=True, slots=True, kw_only=True)
class WriteResult:
    key: str
    written_value: float
    readback_value: float
    applied_key: str
    # how far the read-back may be from the written value: the wire type's resolution
    # (a Float, an integer register in 0.1 kW), never looser than that
    tolerance: float = 1e-6

    @property
    def verified(self) -> bool:
        return (
            self.applied_key == self.key
            and abs(self.readback_value - self.written_value) <= self.tolerance
        )
