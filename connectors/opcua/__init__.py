"""OPC UA connector (asyncua): client, config, mapping, errors."""

from connectors.opcua.client import OpcUaClient
from connectors.opcua.config import OpcUaSourceConfig
from connectors.points import PointBinding, WriteResult, WriteTarget
from connectors.state import ConnectionState

__all__ = [
    "ConnectionState",
    "OpcUaClient",
    "OpcUaSourceConfig",
    "PointBinding",
    "WriteResult",
    "WriteTarget",
]
