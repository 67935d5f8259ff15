"""Which device answers settle a command key in ``MqttClient.write`` (its idempotency cache).

``applied`` / ``duplicate`` / ``expired`` are final for a key; ``rejected`` is the device's
answer for now (fail-safe hold, no heartbeat, device unreachable: the bridge does not record
the key), so a retry of the same key must reach the device again. Against a real mosquitto
and an emulated device that answers from a script.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from connectors import WriteExpired, WriteFailed, WriteTarget
from connectors.mqtt import MqttClient, MqttSourceConfig
from connectors.mqtt.spool import Spool
from tests.support.approved import approved
from tests.support.mosquitto import Broker
from tests.support.mqttdevice import Device
from tests.support.waiting import until

pytestmark = pytest.mark.integration

SITE = "demo-feeder"
CMD = f"gridaios/v1/{SITE}/bat1/cmd"
ACK = f"gridaios/v1/{SITE}/bat1/ack"
TARGET = WriteTarget(value_node="bat1.p_setpoint_kw", key_node="", applied_key_node="")
T0 = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)

# (status, reason) for the n-th command (0-based) the device receives; None: no answer
Script = Callable[[int, dict[str, object]], tuple[str, str] | None]


class ScriptedDevice:
    """A battery on the wire: records every command, answers as the script says."""

    def __init__(self, broker: Broker, script: Script) -> None:
        self.commands: list[dict[str, object]] = []
        self._script = script
        self.device = Device(broker.host, broker.port, client_id="bat1", subscribe=(CMD,))
        self.device.on_message = self._on_command

    def _on_command(self, dev: Device, _topic: str, payload: bytes) -> None:
        cmd = json.loads(payload)
        self.commands.append(cmd)
        answer = self._script(len(self.commands) - 1, cmd)
        if answer is not None:
            self.ack(str(cmd["key"]), *answer, value=float(str(cmd["value"])))

    def ack(self, key: str, status: str, reason: str, value: float | None = None) -> None:
        body = {"v": 1, "key": key, "status": status, "value": value, "reason": reason}
        self.device.client.publish(ACK, json.dumps(body), qos=1)

    def close(self) -> None:
        self.device.close()


def connector(broker: Broker, tmp_path: Path) -> MqttClient:
    config = MqttSourceConfig.model_validate(
        {
            "id": "mq",
            "type": "mqtt",
            "host": broker.host,
            "port": broker.port,
            "site": SITE,
            "allow_insecure": True,
            "spool_path": str(tmp_path / "spool.sqlite"),
        }
    )
    return MqttClient(config, [], None, lambda: datetime.now(UTC))


async def test_a_rejection_does_not_poison_the_key_and_a_final_ack_is_not_resent(
    mosquitto: Broker, tmp_path: Path
) -> None:
    def hold_then_apply(n: int, _cmd: dict[str, object]) -> tuple[str, str]:
        return ("rejected", "fail-safe: minimum hold, 4.0 s left") if n == 0 else ("applied", "")

    device = ScriptedDevice(mosquitto, hold_then_apply)
    client = connector(mosquitto, tmp_path)
    await client.connect()
    try:
        command = approved("k-held", "bat1", 120.0, datetime.now(UTC))
        with pytest.raises(WriteFailed, match="rejected to k-held: fail-safe: minimum hold"):
            await client.write(command, TARGET)

        retry = await client.write(command, TARGET)  # the outbox's retry, same key
        assert retry.verified and retry.readback_value == 120.0, retry
        assert [c["key"] for c in device.commands] == ["k-held", "k-held"]

        again = await client.write(command, TARGET)  # applied is final: answered, not sent
        assert again.verified and len(device.commands) == 2

        # A late redelivery of the old rejection does not undo the applied key. The marker
        # ack behind it (same publisher, same topic: delivered in order) says it was handled.
        device.ack("k-held", "rejected", "fail-safe: minimum hold, 4.0 s left")
        device.ack("k-marker", "applied", "")
        journal = Spool(tmp_path / "spool.sqlite")
        await until(lambda: journal.ack("k-marker") is not None, 10, "the late rejection")
        journal.close()
        late = await client.write(command, TARGET)
        assert late.verified and len(device.commands) == 2
    finally:
        await client.close()
        device.close()


async def test_expired_is_final_for_the_key(mosquitto: Broker, tmp_path: Path) -> None:
    device = ScriptedDevice(
        mosquitto, lambda _n, _c: ("expired", "valid_until passed 2.000 s ago; never applied")
    )
    client = connector(mosquitto, tmp_path)
    await client.connect()
    try:
        command = approved("k-late", "bat1", 50.0, datetime.now(UTC))
        for _ in range(2):
            with pytest.raises(WriteExpired, match="expired to k-late: valid_until passed"):
                await client.write(command, TARGET)
        assert [c["key"] for c in device.commands] == ["k-late"]  # not sent a second time
    finally:
        await client.close()
        device.close()


async def test_a_retry_of_an_unanswered_key_is_sent_again(
    mosquitto: Broker, tmp_path: Path
) -> None:
    """The device lost the first command (no ack); the retry must reach it, same key."""
    device = ScriptedDevice(mosquitto, lambda n, _c: None if n == 0 else ("applied", ""))
    client = connector(mosquitto, tmp_path)
    await client.connect()
    try:
        command = approved("k-lost", "bat1", -40.0, datetime.now(UTC))
        first = await client.write(command, TARGET, readback_timeout_s=0.5)
        assert not first.verified and first.applied_key == ""
        await asyncio.to_thread(device.device.wait_for, lambda r: len(r) == 1)
        second = await client.write(command, TARGET)
        assert second.verified, second
        assert [c["key"] for c in device.commands] == ["k-lost", "k-lost"]
    finally:
        await client.close()
        device.close()


def test_the_spool_keeps_a_rejected_command_out_of_the_resend_set_until_retried(
    tmp_path: Path,
) -> None:
    spool = Spool(tmp_path / "spool.sqlite")
    until_ = T0 + timedelta(minutes=15)
    assert spool.add("k", "t", b"p", until_, T0)
    assert [c.key for c in spool.pending(T0)] == ["k"]
    assert not spool.add("k", "t", b"p", until_, T0)  # pending already

    spool.record_ack("k", "rejected", 0.0, "no heartbeat for 3.0 s", b"{}", T0)
    assert spool.final_ack("k") is None
    assert spool.ack("k") is not None and spool.ack("k").status == "rejected"  # type: ignore[union-attr]
    assert spool.pending(T0) == []  # answered: not re-sent on reconnect by itself

    assert spool.add("k", "t", b"p", until_, T0)  # a retry re-arms it
    assert [c.key for c in spool.pending(T0)] == ["k"]
    spool.record_ack("k", "applied", 120.0, "", b"{}", T0)
    spool.record_ack("k", "rejected", 0.0, "late redelivery", b"{}", T0)
    final = spool.final_ack("k")
    assert final is not None and (final.status, final.value) == ("applied", 120.0)
    assert spool.pending(T0) == [] and not spool.add("k", "t", b"p", until_, T0)
    spool.close()
