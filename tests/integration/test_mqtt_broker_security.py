"""The MQTT client against mosquitto with TLS (CA and client certificates), passwords and an ACL."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from connectors import ConnectorAuthFailed, PointBinding, Sample, WriteFailed, WriteTarget
from connectors.mqtt import MqttClient, MqttSourceConfig, MqttTlsConfig
from tests.support.approved import approved
from tests.support.mosquitto import Broker, running_broker
from tests.support.mqttdevice import Device
from tests.support.pki import TlsPki, tls_pki
from tests.support.waiting import until

pytestmark = pytest.mark.integration

SITE = "demo-feeder"
POINTS = [PointBinding(point="bat1.p_kw", node_id="bat1.p_kw", unit="kW")]
USERS = {"runtime": "rt-pass", "bat1": "dev-pass"}
ACL = f"""
user runtime
topic read gridaios/v1/{SITE}/+/telemetry
topic read gridaios/v1/{SITE}/+/ack
topic read gridaios/v1/{SITE}/+/status
topic write gridaios/v1/{SITE}/+/cmd
topic readwrite gridaios/v1/{SITE}/runtime/#

user bat1
topic write gridaios/v1/{SITE}/bat1/#
topic read gridaios/v1/{SITE}/bat1/cmd
"""


def now() -> datetime:
    return datetime.now(UTC)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> TlsPki:
    return tls_pki(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def secured_broker(tmp_path: Path, pki: TlsPki) -> Iterator[Broker]:
    passwd = tmp_path / "passwd"
    passwd.write_text("".join(f"{u}:{p}\n" for u, p in USERS.items()))
    subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True)
    acl = tmp_path / "acl"
    acl.write_text(ACL)
    # Run as root, mosquitto switches to the "mosquitto" user, which cannot read pytest's
    # private tmp dirs; keep the test's own user instead.
    conf = (
        ("user root\n" if os.geteuid() == 0 else "")
        + f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
        f"cafile {pki.ca.cert}\ncertfile {pki.server.cert}\nkeyfile {pki.server.key}\n"
        "require_certificate true\n"
    )
    with running_broker(tmp_path / "broker", conf) as broker:
        yield broker


def config(broker: Broker, pki: TlsPki, **extra: object) -> MqttSourceConfig:
    return MqttSourceConfig.model_validate(
        {
            "id": "mq",
            "type": "mqtt",
            "host": "127.0.0.1",
            "port": broker.port,
            "site": SITE,
            "username": "runtime",
            "password": "rt-pass",
            "tls": {
                "ca_file": str(pki.ca.cert),
                "cert_file": str(pki.client.cert),
                "key_file": str(pki.client.key),
            },
        }
        | extra
    )


@pytest.mark.parametrize("protocol", ["5", "3.1.1"])
def test_tls_password_and_acl_telemetry_flows(
    secured_broker: Broker, pki: TlsPki, protocol: str
) -> None:
    got: list[Sample] = []

    async def main() -> None:
        client = MqttClient(config(secured_broker, pki, protocol=protocol), POINTS, got.append, now)
        await client.connect()
        device = Device(
            "127.0.0.1",
            secured_broker.port,
            username="bat1",
            password="dev-pass",
            tls={
                "ca_certs": str(pki.ca.cert),
                "certfile": str(pki.client.cert),
                "keyfile": str(pki.client.key),
            },
        )
        try:
            body = {
                "v": 1,
                "device": "bat1",
                "seq": 1,
                "samples": [{"point": "bat1.p_kw", "value": 3.5, "ts": now().isoformat()}],
            }
            device.publish(f"gridaios/v1/{SITE}/bat1/telemetry", json.dumps(body))
            await until(lambda: len(got) == 1, what="telemetry over TLS")
        finally:
            device.close()
            await client.close()

    asyncio.run(main())
    assert got[0].value == 3.5


def test_wrong_password_is_an_auth_failure(secured_broker: Broker, pki: TlsPki) -> None:
    async def main() -> None:
        client = MqttClient(config(secured_broker, pki, password="nope"), POINTS, None, now)
        with pytest.raises(ConnectorAuthFailed, match=r"bad user name or password|not authorized"):
            await client.connect()

    asyncio.run(main())


def test_untrusted_broker_certificate_is_an_auth_failure(
    secured_broker: Broker, pki: TlsPki, tmp_path: Path
) -> None:
    other = tls_pki(tmp_path / "other")

    async def main() -> None:
        cfg = config(secured_broker, pki)
        cfg = cfg.model_copy(update={"tls": cfg.tls.model_copy(update={"ca_file": other.ca.cert})})  # type: ignore[union-attr]
        client = MqttClient(cfg, POINTS, None, now)
        with pytest.raises(ConnectorAuthFailed, match="TLS handshake"):
            await client.connect()

    asyncio.run(main())


def test_acl_keeps_devices_to_their_own_topics_and_refused_commands_fail(
    secured_broker: Broker, pki: TlsPki
) -> None:
    got: list[Sample] = []
    points = [*POINTS, PointBinding(point="bat2.p_kw", node_id="bat2.p_kw", unit="kW")]

    async def main() -> None:
        client = MqttClient(config(secured_broker, pki), points, got.append, now)
        await client.connect()
        device = Device(
            "127.0.0.1",
            secured_broker.port,
            username="bat1",
            password="dev-pass",
            tls={
                "ca_certs": str(pki.ca.cert),
                "certfile": str(pki.client.cert),
                "keyfile": str(pki.client.key),
            },
        )
        try:
            for seq, dev in enumerate(("bat2", "bat1")):  # bat1 may not speak for bat2
                body = {
                    "v": 1,
                    "device": dev,
                    "seq": seq,
                    "samples": [{"point": f"{dev}.p_kw", "value": 1.0, "ts": now().isoformat()}],
                }
                device.publish(f"gridaios/v1/{SITE}/{dev}/telemetry", json.dumps(body))
            await until(lambda: len(got) >= 1, what="bat1's own telemetry")
            assert [s.point for s in got] == ["bat1.p_kw"]
        finally:
            device.close()
            await client.close()

    asyncio.run(main())


def test_command_the_acl_refuses_fails_fast(tmp_path: Path, pki: TlsPki) -> None:
    passwd = tmp_path / "passwd"
    passwd.write_text("runtime:rt-pass\n")
    subprocess.run(["mosquitto_passwd", "-U", str(passwd)], check=True)
    acl = tmp_path / "acl"
    acl.write_text(f"user runtime\ntopic read gridaios/v1/{SITE}/#\n")
    conf = ("user root\n" if os.geteuid() == 0 else "") + (
        f"allow_anonymous false\npassword_file {passwd}\nacl_file {acl}\n"
        f"cafile {pki.ca.cert}\ncertfile {pki.server.cert}\nkeyfile {pki.server.key}\n"
    )

    async def main(broker: Broker) -> None:
        cfg = config(broker, pki).model_copy(update={"tls": MqttTlsConfig(ca_file=pki.ca.cert)})
        client = MqttClient(cfg, POINTS, None, now)
        await client.connect()
        target = WriteTarget(value_node="bat1.p_setpoint_kw", key_node="", applied_key_node="")
        try:
            with pytest.raises(WriteFailed, match="ACL"):
                await client.write(approved("k-1", "bat1", 10.0, now()), target)
        finally:
            await client.close()

    with running_broker(tmp_path / "broker", conf) as broker:
        asyncio.run(main(broker))
