"""OPC UA connector (asyncua): client, config, mapping."""

from connectors.opcua.client import (
    ConnectionState,
    OpcUaClient,
    PointBinding,
    WriteResult,
    WriteTarget,
)
from connectors.opcua.config import OpcUaSourceConfig

__all__ = [
    "ConnectionState",
    "OpcUaClient",
    "OpcUaSourceConfig",
    "PointBinding",
    "WriteResult",
    "WriteTarget",
]
