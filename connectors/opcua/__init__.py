"""OPC UA connector (asyncua): client, config, mapping, errors.

The client (and asyncua, about a second to import) loads on first use, so
commands that only read configs stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.opcua.config import OpcUaSourceConfig
from connectors.points import PointBinding, WriteResult, WriteTarget
from connectors.state import ConnectionState

if TYPE_CHECKING:
    from connectors.opcua.client import OpcUaClient

__all__ = [
    "ConnectionState",
    "OpcUaClient",
    "OpcUaSourceConfig",
    "PointBinding",
    "WriteResult",
    "WriteTarget",
]


def __getattr__(name: str) -> Any:
    if name == "OpcUaClient":
        from connectors.opcua.client import OpcUaClient

        return OpcUaClient
    raise AttributeError(name)
