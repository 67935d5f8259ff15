"""A real asyncua server on a loopback port, with security as a test asks for it."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from asyncua import Node, Server, ua
from asyncua.crypto.permission_rules import User, UserRole
from asyncua.crypto.truststore import TrustStore
from asyncua.crypto.validator import CertificateValidator, CertificateValidatorOptions
from asyncua.server.user_managers import UserManager

from tests.support.mosquitto import free_port
from tests.support.pki import CertFiles

SERVER_URI = "urn:gridaios:test-server"
log = logging.getLogger(__name__)


class _Users(UserManager):  # type: ignore[misc]
    def __init__(self, users: dict[str, str]) -> None:
        self.users = users

    def get_user(
        self, iserver: Any, username: Any = None, password: Any = None, certificate: Any = None
    ) -> Any:
        if username is not None and self.users.get(username) == password:
            return User(role=UserRole.User)
        return None


@dataclass
class FieldServer:
    server: Server
    endpoint: str
    port: int
    nodes: dict[str, Node] = field(default_factory=dict)

    async def set(self, name: str, value: Any, *, ts: datetime | None = None) -> None:
        variant = ua.Variant(value, ua.VariantType.Double if isinstance(value, float) else None)
        await self.nodes[name].write_value(
            ua.DataValue(variant, SourceTimestamp=ts or datetime.now(UTC))
        )


async def _populate(server: Server, fs: FieldServer) -> None:
    ns = await server.register_namespace("urn:gridaios:test-field")
    field_obj = await server.nodes.objects.add_object(
        ua.NodeId("Field", ns), ua.QualifiedName("Field", ns)
    )
    bat = await field_obj.add_object(ua.NodeId("bat1", ns), ua.QualifiedName("bat1", ns))
    for name, unit, low, high in (
        ("soc_pct", "%", 0.0, 100.0),
        ("p_kw", "kW", -250.0, 250.0),
        ("p_setpoint_kw", "kW", -250.0, 250.0),
    ):
        var = await bat.add_variable(
            ua.NodeId(f"bat1.{name}", ns),
            ua.QualifiedName(name, ns),
            ua.Variant(0.0, ua.VariantType.Double),
        )
        await var.set_writable()
        await var.add_property(
            0, "EngineeringUnits", ua.EUInformation(DisplayName=ua.LocalizedText(unit))
        )
        await var.add_property(0, "EURange", ua.Range(Low=low, High=high))
        fs.nodes[name] = var
    for name in ("cmd_key", "label"):
        var = await bat.add_variable(
            ua.NodeId(f"bat1.{name}", ns),
            ua.QualifiedName(name, ns),
            ua.Variant("", ua.VariantType.String),
        )
        await var.set_writable()
        fs.nodes[name] = var


@asynccontextmanager
async def field_server(
    *,
    port: int | None = None,
    cert: CertFiles | None = None,
    trusted_clients: Path | None = None,
    users: dict[str, str] | None = None,
) -> AsyncIterator[FieldServer]:
    """No security when ``cert`` is None; else SignAndEncrypt (Basic256Sha256, Aes256-RsaPss)."""
    port = port or free_port()
    endpoint = f"opc.tcp://127.0.0.1:{port}/gridaios/test"
    server = Server()
    await server.init()
    server.set_endpoint(endpoint)
    await server.set_application_uri(SERVER_URI)
    if cert is None:
        server.set_security_policy([ua.SecurityPolicyType.NoSecurity])
    else:
        server.set_security_policy(
            [
                ua.SecurityPolicyType.Basic256Sha256_SignAndEncrypt,
                ua.SecurityPolicyType.Aes256Sha256RsaPss_SignAndEncrypt,
            ]
        )
        await server.load_certificate(str(cert.der))
        await server.load_private_key(str(cert.key))
    if trusted_clients is not None:
        store = TrustStore([trusted_clients], [])
        await store.load()
        server.set_certificate_validator(
            CertificateValidator(
                CertificateValidatorOptions.TRUSTED | CertificateValidatorOptions.PEER_CLIENT, store
            )
        )
    if users is not None:
        server.iserver.set_user_manager(_Users(users))
        server.set_identity_tokens([ua.UserNameIdentityToken])
    fs = FieldServer(server, endpoint, port)
    await _populate(server, fs)
    await server.start()
    try:
        yield fs
    finally:
        await server.stop()


async def _serve_forever(port: int) -> None:
    """``python -m tests.support.opcuaserver PORT``: a field server in its own process."""
    import asyncio

    async with field_server(port=port) as fs:
        await fs.set("soc_pct", 64.5)
        print("ready", flush=True)
        await asyncio.Event().wait()


if __name__ == "__main__":
    import asyncio
    import sys

    asyncio.run(_serve_forever(int(sys.argv[1])))
