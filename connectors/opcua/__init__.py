"""OPC UA connector (asyncua): client, config, mapping.

The client (and asyncua, about a second to import) loads on first use, so
commands that only read configs stay fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from connectors.opcua.config import OpcUaSourceConfig

if TYPE_CHECKING:
    from connectors.opcua.client import (
        ConnectionState,
        OpcUaClient,
        PointBinding,
        WriteResult,
        WriteTarget,
    )

__all__ = [
    "ConnectionState",
    "OpcUaClient",
    "OpcUaSourceConfig",
    "PointBinding",
    "WriteResult",
    "WriteTarget",
]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from connectors.opcua import client

        return getattr(client, name)
    raise AttributeError(name)
