"""OPC UA client against real asyncua servers on loopback: security, data, reconnect, writes."""

from __future__ import annotations

import asyncio
import shutil
from datetime import UTC, datetime
from pathlib import Path

import pytest
from asyncua import ua

from connectors import (
    ConnectionState,
    ConnectorAuthFailed,
    ConnectorNotReady,
    MemoryDeadLetters,
    PointBinding,
    Sample,
    SampleQuality,
    UnknownPoint,
    WriteTarget,
)
from connectors.opcua import OpcUaClient, OpcUaSourceConfig
from tests.support.approved import approved
from tests.support.opcuaserver import field_server
from tests.support.pki import opcua_app_cert
from tests.support.waiting import until

pytestmark = pytest.mark.integration

POINTS = [
    PointBinding(point="bat1.soc_pct", node_id="ns=2;s=bat1.soc_pct", unit=""),
    PointBinding(point="bat1.p_kw", node_id="/Objects/2:Field/2:bat1/2:p_kw", unit="kW"),
]


def now() -> datetime:
    return datetime.now(UTC)


def insecure(endpoint: str, **extra: object) -> OpcUaSourceConfig:
    return OpcUaSourceConfig.model_validate(
        {"id": "ua", "endpoint": endpoint, "allow_insecure": True, "publishing_interval_ms": 20}
        | extra
    )


class Pki:
    def __init__(self, root: Path) -> None:
        self.server = opcua_app_cert(
            root / "server", "server", "urn:gridaios:test-server", server=True
        )
        self.client = opcua_app_cert(root / "client", "client", "urn:gridaios:client", server=False)
        self.client_trust = root / "client-trusts"  # what the client trusts (server certs)
        self.server_trust = root / "server-trusts"  # what the server trusts (client certs)
        for d, cert in ((self.client_trust, self.server), (self.server_trust, self.client)):
            d.mkdir()
            shutil.copy(cert.der, d / "trusted.der")

    def config(self, endpoint: str, policy: str, **extra: object) -> OpcUaSourceConfig:
        return OpcUaSourceConfig.model_validate(
            {
                "id": "ua",
                "endpoint": endpoint,
                "security": policy,
                "certificate": str(self.client.der),
                "private_key": str(self.client.key),
                "trust_dir": str(self.client_trust),
                "username": "operator",
                "password": "s3cret",
                "publishing_interval_ms": 20,
            }
            | extra
        )


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    return Pki(tmp_path_factory.mktemp("pki"))


def test_insecure_needs_explicit_consent() -> None:
    with pytest.raises(ValueError, match="allow_insecure"):
        OpcUaSourceConfig(id="x", endpoint="opc.tcp://127.0.0.1:4840")
    with pytest.raises(ValueError, match="certificate, private_key, trust_dir"):
        OpcUaSourceConfig(id="x", endpoint="opc.tcp://127.0.0.1:4840", security="Basic256Sha256")


def test_samples_units_ranges_and_timestamps_without_security() -> None:
    got: list[Sample] = []

    async def main() -> None:
        async with field_server() as fs:
            client = OpcUaClient(insecure(fs.endpoint), POINTS, got.append, now)
            await client.connect()
            try:
                # newer than the initial values the subscription delivered first (an older
                # stamp would rightly be flagged out of order and not applied)
                stamp = now()
                await fs.set("soc_pct", 81.5, ts=stamp)
                await until(lambda: any(s.value == 81.5 for s in got), what="soc 81.5 arrives")
                sample = next(s for s in got if s.value == 81.5)
                assert sample.point == "bat1.soc_pct"
                assert sample.unit == "%"  # from the server's EngineeringUnits
                assert sample.quality is SampleQuality.GOOD
                assert abs((sample.source_ts - stamp).total_seconds()) < 0.001
                assert sample.server_ts is not None
                assert client.eu_ranges["bat1.p_kw"] == (-250.0, 250.0)
                await fs.set("p_kw", 400.0)  # beyond the server's EURange of -250..250 kW
                await until(lambda: any(s.value == 400.0 for s in got), what="400 kW arrives")
                odd = next(s for s in got if s.value == 400.0)
                assert odd.quality is SampleQuality.UNCERTAIN and client.out_of_range == 1
                assert client.node_ids["bat1.p_kw"] == "ns=2;s=bat1.p_kw"  # from the browse path
            finally:
                await client.close()

    asyncio.run(main())


@pytest.mark.parametrize("policy", ["Basic256Sha256", "Aes256_Sha256_RsaPss"])
def test_sign_and_encrypt_with_trusted_certificates_and_a_user(pki: Pki, policy: str) -> None:
    got: list[Sample] = []

    async def main() -> None:
        async with field_server(
            cert=pki.server, trusted_clients=pki.server_trust, users={"operator": "s3cret"}
        ) as fs:
            client = OpcUaClient(pki.config(fs.endpoint, policy), POINTS, got.append, now)
            await client.connect()
            try:
                await fs.set("p_kw", 42.0)
                await until(lambda: any(s.value == 42.0 for s in got), what="p_kw 42 arrives")
                target = WriteTarget(
                    value_node="ns=2;s=bat1.p_setpoint_kw",
                    key_node="ns=2;s=bat1.cmd_key",
                    applied_key_node="ns=2;s=bat1.cmd_key",
                )
                result = await client.write(approved("k-1", "bat1", 55.0, now()), target)
                assert result.verified, result
            finally:
                await client.close()

    asyncio.run(main())


def _refused(pki: Pki, config_change: dict[str, object], server_kwargs: dict[str, object]) -> str:
    async def main() -> str:
        async with field_server(
            cert=pki.server,
            users={"operator": "s3cret"},
            **server_kwargs,  # type: ignore[arg-type]
        ) as fs:
            config = pki.config(fs.endpoint, "Basic256Sha256", **config_change)
            client = OpcUaClient(config, POINTS, None, now)
            with pytest.raises(ConnectorAuthFailed) as info:
                await client.connect()
            assert client.state is ConnectionState.FAILED
            await client.close()
            return str(info.value)

    return asyncio.run(main())


def test_server_certificate_not_in_the_trust_list_is_refused(pki: Pki, tmp_path: Path) -> None:
    other = opcua_app_cert(tmp_path / "other", "other", "urn:other", server=True)
    trust = tmp_path / "trust"
    trust.mkdir()
    shutil.copy(other.der, trust / "other.der")
    message = _refused(pki, {"trust_dir": str(trust)}, {"trusted_clients": pki.server_trust})
    assert "BadCertificateUntrusted" in message


def test_client_certificate_the_server_does_not_trust_is_refused(pki: Pki, tmp_path: Path) -> None:
    empty = tmp_path / "nobody"
    empty.mkdir()
    _refused(pki, {}, {"trusted_clients": empty})


def test_wrong_password_is_refused(pki: Pki) -> None:
    message = _refused(pki, {"password": "guess"}, {"trusted_clients": pki.server_trust})
    assert "username/password" in message


def test_unknown_node_and_unreachable_server() -> None:
    async def main() -> None:
        async with field_server() as fs:
            bad = [PointBinding(point="x.y", node_id="ns=2;s=nope", unit="")]
            client = OpcUaClient(insecure(fs.endpoint), bad, None, now)
            with pytest.raises(UnknownPoint, match="ns=2;s=nope"):
                await client.connect()
            await client.close()
            path = [PointBinding(point="x.y", node_id="/Objects/2:Field/2:bat9/2:p_kw", unit="")]
            client = OpcUaClient(insecure(fs.endpoint), path, None, now)
            with pytest.raises(UnknownPoint, match="bat9"):
                await client.connect()
            await client.close()
            port = fs.port
        client = OpcUaClient(
            insecure(f"opc.tcp://127.0.0.1:{port}/x", timeout_s=1), POINTS, None, now
        )
        with pytest.raises(ConnectorNotReady):
            await client.connect()

    asyncio.run(main())


def test_non_numeric_values_are_dead_lettered() -> None:
    dead = MemoryDeadLetters()
    points = [*POINTS, PointBinding(point="bat1.label", node_id="ns=2;s=bat1.label", unit="")]

    async def main() -> None:
        async with field_server() as fs:
            client = OpcUaClient(insecure(fs.endpoint), points, None, now, dead_letters=dead)
            await client.connect()
            try:
                await fs.nodes["label"].write_value("not a number")
                await until(lambda: client.bad.counts.get("wrong_type", 0) >= 1)
            finally:
                await client.close()

    asyncio.run(main())
    assert dead.items[0][0] == "opcua"
    assert b"not a number" in dead.items[-1][3]


def test_a_bad_status_without_a_value_is_a_missing_point_not_bad_input() -> None:
    """A server that has no value yet (BadWaitingForInitialData) is not sending garbage."""
    dead = MemoryDeadLetters()
    got: list[Sample] = []

    async def main() -> OpcUaClient:
        async with field_server() as fs:
            client = OpcUaClient(insecure(fs.endpoint), POINTS, got.append, now, dead_letters=dead)
            await client.connect()
            try:
                waiting = ua.StatusCode(ua.StatusCodes.BadWaitingForInitialData)
                await fs.nodes["soc_pct"].write_value(ua.DataValue(ua.Variant(), waiting))
                await until(lambda: client.no_value >= 1)
                await fs.set("soc_pct", 42.0)
                await until(lambda: any(s.value == 42.0 for s in got))
            finally:
                await client.close()
            return client

    client = asyncio.run(main())
    assert client.bad.counts == {} and dead.items == []


def test_reconnects_and_resubscribes_after_the_server_restarts() -> None:
    got: list[Sample] = []

    async def main() -> None:
        async with field_server() as fs:
            port = fs.port
            config = insecure(fs.endpoint, watchdog_s=0.2, reconnect_min_s=0.1, reconnect_max_s=0.5)
            client = OpcUaClient(config, POINTS, got.append, now)
            await client.connect()
            await fs.set("soc_pct", 10.0)
            await until(lambda: any(s.value == 10.0 for s in got))
        await until(lambda: client.state is ConnectionState.RECONNECTING, what="loss noticed")
        try:
            async with field_server(port=port) as fs2:
                await until(lambda: client.state is ConnectionState.CONNECTED, 20, "reconnected")
                await fs2.set("soc_pct", 20.0)
                await until(lambda: any(s.value == 20.0 for s in got), what="samples again")
        finally:
            await client.close()

    asyncio.run(main())


@pytest.mark.parametrize("gone", ["bad status, no value", "NaN"])
def test_link_freshness_stops_confirming_a_value_the_server_no_longer_has(gone: str) -> None:
    """A gateway server (Kepware-style) whose device behind it is gone keeps its own link
    and subscription alive but reports the node Bad with no value, or NaN. With freshness:
    link the last good value must not be re-stamped as current on every keep-alive after."""
    got: list[Sample] = []
    if gone == "NaN":
        lost = ua.DataValue(ua.Variant(float("nan"), ua.VariantType.Double), SourceTimestamp=now())
    else:
        lost = ua.DataValue(
            ua.Variant(),
            StatusCode_=ua.StatusCode(ua.StatusCodes.BadNoCommunication),
            SourceTimestamp=now(),
        )

    async def main() -> None:
        async with field_server() as fs:
            config = insecure(fs.endpoint, freshness="link", keepalive_s=0.2)
            client = OpcUaClient(config, POINTS[1:], got.append, now)
            await client.connect()
            try:
                await fs.set("p_kw", 42.0)
                await until(lambda: any(s.value == 42.0 for s in got), what="p_kw 42")
                await fs.nodes["p_kw"].write_value(lost)
                await until(
                    lambda: client.no_value + sum(client.bad.counts.values()) >= 1,
                    what="the loss arrives",
                )
                mark = len(got)
                await asyncio.sleep(1.0)  # several keep-alives
                good_after = [
                    s for s in got[mark:] if s.quality is SampleQuality.GOOD and s.value == 42.0
                ]
                assert good_after == [], f"{len(good_after)} keep-alives re-confirmed 42 kW"
            finally:
                await client.close()

    asyncio.run(main())


@pytest.mark.parametrize(
    "setpoint",
    [
        "/Objects/2:Field/2:bat1/2:p_setpoint_kw",  # a browse path, as check-config allows
        "nsu=urn:gridaios:test-field;s=bat1.p_setpoint_kw",  # survives renumbered namespaces
    ],
)
def test_a_setpoint_named_by_browse_path_or_namespace_uri_is_written(setpoint: str) -> None:
    """check-config accepts both forms for every point; a write used to parse them as a
    plain node id (a browse path raised UaStringParsingError out of the connector, an
    nsu= id was written to namespace 0: BadNodeIdUnknown, a permanent refusal)."""
    got: list[Sample] = []
    points = [
        PointBinding(
            point="bat1.soc_pct", node_id="nsu=urn:gridaios:test-field;s=bat1.soc_pct", unit="%"
        )
    ]

    async def main() -> None:
        async with field_server() as fs:
            client = OpcUaClient(insecure(fs.endpoint), points, got.append, now)
            await client.connect()
            try:
                await fs.set("soc_pct", 55.5)
                await until(lambda: any(s.value == 55.5 for s in got), what="soc by nsu=")
                target = WriteTarget(value_node=setpoint, unit="kW")
                assert await client.check_write_target(target) is None
                result = await client.write(approved("bp-1", "bat1", 12.5, now()), target)
                assert result.verified, result
                assert await fs.nodes["p_setpoint_kw"].read_value() == 12.5
            finally:
                await client.close()

    asyncio.run(main())
