"""Interoperability: the OPC UA client against node-opcua, an independent implementation."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import ConnectorAuthFailed, PointBinding, Sample, SampleQuality, WriteTarget
from connectors.opcua import OpcUaClient, OpcUaSourceConfig
from tests.support.approved import approved
from tests.support.nodeopcua import SERVER_URI, node_opcua_server
from tests.support.pki import opcua_app_cert
from tests.support.waiting import until

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def points(ns: int) -> list[PointBinding]:
    return [
        PointBinding(point="bat1.soc_pct", node_id=f"ns={ns};s=bat1.soc_pct", unit=""),
        PointBinding(
            point="bat1.p_kw", node_id=f"/Objects/{ns}:Field/{ns}:bat1/{ns}:p_kw", unit="kW"
        ),
    ]


def target(ns: int) -> WriteTarget:
    return WriteTarget(
        value_node=f"ns={ns};s=bat1.p_setpoint_kw",
        key_node=f"ns={ns};s=bat1.cmd_key",
        applied_key_node=f"ns={ns};s=bat1.cmd_key",
    )


def now() -> datetime:
    return datetime.now(UTC)


def test_subscribe_units_ranges_and_write_without_security() -> None:
    got: list[Sample] = []

    async def main(endpoint: str, ns: int) -> None:
        config = OpcUaSourceConfig(
            id="node", endpoint=endpoint, allow_insecure=True, publishing_interval_ms=50
        )
        client = OpcUaClient(config, points(ns), got.append, now)
        await client.connect()
        try:
            await until(lambda: len({s.value for s in got if s.point == "bat1.soc_pct"}) >= 3)
            assert client.units["bat1.soc_pct"] == "%"
            assert client.eu_ranges["bat1.soc_pct"] == (0.0, 100.0)
            assert client.node_ids["bat1.p_kw"] == f"ns={ns};s=bat1.p_kw"
            soc = next(s for s in got if s.point == "bat1.soc_pct")
            assert soc.quality is SampleQuality.GOOD and soc.unit == "%"
            result = await client.write(approved("k-7", "bat1", -80.0, now()), target(ns))
            assert result.verified, result
        finally:
            await client.close()

    with node_opcua_server() as server:
        asyncio.run(main(server.endpoint, server.ns))


def _secure_config(endpoint: str, root: Path, trust: Path, policy: str) -> OpcUaSourceConfig:
    client = opcua_app_cert(root / "client", "client", "urn:gridaios:client", server=False)
    return OpcUaSourceConfig.model_validate(
        {
            "id": "node",
            "endpoint": endpoint,
            "security": policy,
            "certificate": str(client.der),
            "private_key": str(client.key),
            "trust_dir": str(trust),
            "username": "operator",
            "password": "s3cret",
            "publishing_interval_ms": 50,
        }
    )


@pytest.mark.parametrize("policy", ["Basic256Sha256", "Aes256_Sha256_RsaPss"])
def test_sign_and_encrypt_against_node_opcua(tmp_path: Path, policy: str) -> None:
    server_cert = opcua_app_cert(tmp_path / "srv", "server", SERVER_URI, server=True)
    trust = tmp_path / "trust"
    trust.mkdir()
    shutil.copy(server_cert.der, trust / "server.der")
    config = _secure_config("opc.tcp://placeholder:1", tmp_path, trust, policy)
    got: list[Sample] = []

    async def main(endpoint: str, ns: int) -> None:
        client = OpcUaClient(
            config.model_copy(update={"endpoint": endpoint}), points(ns), got.append, now
        )
        await client.connect()
        try:
            await until(lambda: any(s.point == "bat1.soc_pct" for s in got))
            result = await client.write(approved("k-8", "bat1", 12.5, now()), target(ns))
            assert result.verified, result
        finally:
            await client.close()

    pki = tmp_path / "pki"
    pki.mkdir()
    assert config.certificate is not None
    with node_opcua_server(pki=pki, cert=server_cert, trusted_clients=[config.certificate]) as s:
        asyncio.run(main(s.endpoint, s.ns))


def test_node_opcua_refuses_a_client_certificate_it_does_not_trust(tmp_path: Path) -> None:
    server_cert = opcua_app_cert(tmp_path / "srv", "server", SERVER_URI, server=True)
    trust = tmp_path / "trust"
    trust.mkdir()
    shutil.copy(server_cert.der, trust / "server.der")
    config = _secure_config("opc.tcp://placeholder:1", tmp_path, trust, "Basic256Sha256")

    async def main(endpoint: str, ns: int) -> None:
        client = OpcUaClient(
            config.model_copy(update={"endpoint": endpoint}), points(ns), None, now
        )
        with pytest.raises(ConnectorAuthFailed):
            await client.connect()
        await client.close()

    pki = tmp_path / "pki"
    pki.mkdir()
    with node_opcua_server(pki=pki, cert=server_cert, trusted_clients=[]) as s:
        asyncio.run(main(s.endpoint, s.ns))
