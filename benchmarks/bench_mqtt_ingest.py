"""MQTT JSON ingest: samples/s decoded, normalized and applied to latest-value state.

Same broker, same payloads, same run, three readings:
- ``MqttClient`` (gridaios): paho -> bounded queue -> msgspec decode -> normalize -> latest;
- a bare paho subscriber that only counts messages (the transport ceiling);
- bare ``json.loads`` of the same payloads in a loop (the parse ceiling, no network).
The broker holds a backlog for a persistent session; each reader connects and drains it,
so the publisher's speed is not measured. Plus: decode cost per sample without the network,
and the memory of the connector state with 10,000 points live.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import tracemalloc
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory
from typing import Any

import paho.mqtt.client as paho
from paho.mqtt.enums import CallbackAPIVersion

from connectors import Batch, PointBinding
from connectors.mqtt import MqttClient, MqttSourceConfig
from connectors.mqtt.codec import TelemetryCodec
from connectors.normalize import Normalizer
from tests.support.mosquitto import Broker, running_broker

SITE = "bench"
DEVICES = 100
POINTS_PER_DEVICE = 100  # 10,000 points live
MESSAGES = 4000
BATCH = 100


def _bindings() -> list[PointBinding]:
    return [
        PointBinding(point=f"d{d}.p{p}", node_id=f"d{d}.p{p}", unit="kW")
        for d in range(DEVICES)
        for p in range(POINTS_PER_DEVICE)
    ]


def _payloads(start: datetime) -> list[tuple[str, bytes]]:
    out = []
    for m in range(MESSAGES):
        d = m % DEVICES
        seq = m // DEVICES
        ts = (start + timedelta(milliseconds=seq)).isoformat().replace("+00:00", "Z")
        body = {
            "v": 1,
            "device": f"d{d}",
            "seq": seq,
            "samples": [
                {"point": f"d{d}.p{p}", "value": m + p * 0.5, "unit": "kW", "ts": ts}
                for p in range(BATCH)
            ],
        }
        out.append((f"gridaios/v1/{SITE}/d{d}/telemetry", json.dumps(body).encode()))
    return out


def _paho(client_id: str, broker: Broker) -> paho.Client:
    c = paho.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=paho.MQTTv5, clean_session=None
    )
    return c


def _register_session(client_id: str, broker: Broker) -> None:
    """Create a persistent session with the subscription, then leave."""
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    c = _paho(client_id, broker)
    done = threading.Event()
    c.on_subscribe = lambda *a: done.set()
    c.connect(broker.host, broker.port, clean_start=False, properties=props)
    c.loop_start()
    c.subscribe(f"gridaios/v1/{SITE}/+/telemetry", qos=1)
    done.wait(10)
    c.disconnect()
    c.loop_stop()


def _publish_backlog(broker: Broker, payloads: list[tuple[str, bytes]]) -> None:
    c = paho.Client(CallbackAPIVersion.VERSION2, client_id="bench-pub", protocol=paho.MQTTv5)
    c.max_inflight_messages_set(500)
    c.max_queued_messages_set(0)
    c.connect(broker.host, broker.port)
    c.loop_start()
    infos = [c.publish(topic, body, qos=1) for topic, body in payloads]
    for info in infos:
        info.wait_for_publish(60)
    c.disconnect()
    c.loop_stop()


def _bare_paho(broker: Broker, payloads: list[tuple[str, bytes]]) -> float:
    client_id = "bench-bare"
    _register_session(client_id, broker)
    _publish_backlog(broker, payloads)
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    props = Properties(PacketTypes.CONNECT)
    props.SessionExpiryInterval = 3600
    count = 0
    done = threading.Event()

    def on_message(client: Any, userdata: Any, msg: Any) -> None:
        nonlocal count
        count += 1
        if count == len(payloads):
            done.set()

    c = _paho(client_id, broker)
    c.on_message = on_message
    t0 = time.perf_counter()
    c.connect(broker.host, broker.port, clean_start=False, properties=props)
    c.loop_start()
    done.wait(120)
    elapsed = time.perf_counter() - t0
    c.disconnect()
    c.loop_stop()
    return count / elapsed


def _gridaios(broker: Broker, payloads: list[tuple[str, bytes]]) -> tuple[float, int]:
    client_id = "bench-gridaios"
    config = MqttSourceConfig(
        id="bench",
        host=broker.host,
        port=broker.port,
        site=SITE,
        client_id=client_id,
        allow_insecure=True,
        queue_messages=1000,
    )
    _register_session(client_id, broker)
    _publish_backlog(broker, payloads)
    total = len(payloads) * BATCH
    applied = 0
    done = asyncio.Event()

    def on_batch(batch: Batch) -> None:
        nonlocal applied
        applied += len(batch)
        if applied >= total:
            done.set()

    async def main() -> tuple[float, int]:
        client = MqttClient(config, _bindings(), None, lambda: datetime.now(UTC), on_batch=on_batch)
        t0 = time.perf_counter()
        await client.connect()
        async with asyncio.timeout(120):
            await done.wait()
        elapsed = time.perf_counter() - t0
        live = len(client.normalizer)
        await client.close()
        return applied / elapsed, live

    return asyncio.run(main())


def _decode_only(payloads: list[tuple[str, bytes]]) -> tuple[float, float]:
    codec = TelemetryCodec("bench", _bindings(), 1000)
    normalizer = Normalizer("bench")
    now = datetime.now(UTC)
    t0 = time.perf_counter()
    for topic, body in payloads:
        decoded = codec.decode(topic.split("/")[3], body, now)
        batch = decoded.batch
        assert batch is not None and not decoded.problems
        if normalizer.admit(batch.stream, batch.sequence):
            normalizer.apply(batch)
    per_sample_us = (time.perf_counter() - t0) / (len(payloads) * BATCH) * 1e6
    t0 = time.perf_counter()
    for _, body in payloads:
        json.loads(body)
    json_us = (time.perf_counter() - t0) / (len(payloads) * BATCH) * 1e6
    return per_sample_us, json_us


def _sparkplug() -> tuple[float, float]:
    """Sparkplug B DDATA (100 aliased doubles) decode + normalize vs bare protobuf parsing."""
    from connectors.mqtt import sparkplug_b_pb2 as pb
    from connectors.mqtt.sparkplug import SparkplugWire

    points = [PointBinding(point=f"p{i}", node_id=f"e/d/m{i}", unit="kW") for i in range(BATCH)]
    wire = SparkplugWire("bench", "g", "host", points)
    normalizer = Normalizer("bench-sp")
    now = datetime.now(UTC)
    ms = int(now.timestamp() * 1000)

    def message(seq: int, birth: bool) -> bytes:
        out = pb.Payload(timestamp=ms, seq=seq % 256)
        if birth:
            metric = out.metrics.add()
            metric.name, metric.datatype, metric.long_value = "bdSeq", pb.UInt64, 0
        for i in range(BATCH):
            metric = out.metrics.add()
            if birth:
                metric.name = f"m{i}"
            metric.alias, metric.datatype, metric.double_value = i, pb.Double, seq + i * 0.5
        return out.SerializeToString()

    wire.decode("spBv1.0/g/NBIRTH/e", pb.Payload(seq=0).SerializeToString(), now)
    wire.decode("spBv1.0/g/DBIRTH/e/d", message(1, True), now)
    bodies = [message(seq, False) for seq in range(2, 2002)]
    t0 = time.perf_counter()
    for body in bodies:
        outcome = wire.decode("spBv1.0/g/DDATA/e/d", body, now)
        batch = outcome.event.batch  # type: ignore[union-attr]
        assert batch is not None and len(batch) == BATCH
        if normalizer.admit(batch.stream, batch.sequence):
            normalizer.apply(batch)
    ours_us = (time.perf_counter() - t0) / (len(bodies) * BATCH) * 1e6
    t0 = time.perf_counter()
    for body in bodies:
        pb.Payload().ParseFromString(body)
    bare_us = (time.perf_counter() - t0) / (len(bodies) * BATCH) * 1e6
    return ours_us, bare_us


def _memory(payloads: list[tuple[str, bytes]]) -> tuple[float, int]:
    tracemalloc.start()
    before = tracemalloc.take_snapshot()
    codec = TelemetryCodec("bench-mem", _bindings(), 1000)
    normalizer = Normalizer("bench-mem")
    now = datetime.now(UTC)
    for topic, body in payloads[:DEVICES]:  # one message per device: every point live
        batch = codec.decode(topic.split("/")[3], body, now).batch
        assert batch is not None
        normalizer.admit(batch.stream, batch.sequence)
        normalizer.apply(batch)
    after = tracemalloc.take_snapshot()
    tracemalloc.stop()
    used = sum(s.size_diff for s in after.compare_to(before, "filename"))
    return used / 1e6, len(normalizer)


_RSS_PROBE = """
import json, sys
from datetime import UTC, datetime
def rss_mb():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
import runtime.cli, runtime.conductor.loop  # the whole runtime, as gridaios run loads it
from benchmarks.bench_mqtt_ingest import _bindings, _payloads, DEVICES
from connectors.mqtt.codec import TelemetryCodec
from connectors.normalize import Normalizer
from runtime.ingest.state import LatestState
payloads = _payloads(datetime.now(UTC))[:DEVICES]
before = rss_mb()
codec, normalizer, state = TelemetryCodec("m", _bindings(), 1000), Normalizer("m"), LatestState()
now = datetime.now(UTC)
for topic, body in payloads:
    batch = codec.decode(topic.split("/")[3], body, now).batch
    normalizer.admit(batch.stream, batch.sequence)
    normalizer.apply(batch)
    for sample in batch.samples():
        state.apply(sample)
del payloads
print(json.dumps({"before": before, "after": rss_mb(), "points": len(normalizer)}))
"""


def _runtime_rss() -> dict[str, float]:
    import subprocess
    import sys

    out = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    ).stdout
    result: dict[str, float] = json.loads(out.strip().splitlines()[-1])
    return result


def run() -> list[dict[str, Any]]:
    start = datetime.now(UTC)
    payloads = _payloads(start)
    samples_total = len(payloads) * BATCH
    rows: list[dict[str, Any]] = []
    with TemporaryDirectory() as tmp:
        conf = "allow_anonymous true\nmax_queued_messages 0\nmax_inflight_messages 0\n"
        with running_broker(Path(tmp) / "broker", conf) as broker:
            bare_msgs_s = _bare_paho(broker, payloads)
            ours_s, live = _gridaios(broker, payloads)
    decode_us, json_us = _decode_only(payloads)
    json_s = 1e6 / json_us
    rows.append(
        {
            "name": "mqtt_json_ingest_samples_per_s",
            "value": round(ours_s),
            "unit": "samples/s",
            "baseline": round(bare_msgs_s * BATCH),
            "ratio": round(ours_s / (bare_msgs_s * BATCH), 3),
            "note": f"{samples_total} samples in {len(payloads)} batches of {BATCH}; "
            f"baseline = bare paho subscriber counting messages x {BATCH} "
            f"({bare_msgs_s:,.0f} msg/s); {live} points live",
        }
    )
    rows.append(
        {
            "name": "mqtt_json_ingest_vs_bare_json_loads",
            "value": round(ours_s),
            "unit": "samples/s",
            "baseline": round(json_s),
            "ratio": round(ours_s / json_s, 3),
            "note": "baseline = json.loads of the same payloads, no network, no validation",
        }
    )
    rows.append(
        {
            "name": "mqtt_json_decode_normalize_cost_per_sample",
            "value": round(decode_us, 3),
            "unit": "us/sample",
            "baseline": round(json_us, 3),
            "ratio": round(decode_us / json_us, 3),
            "note": "msgspec decode + validation + mapping + normalization, vs json.loads only",
        }
    )
    sp_us, pb_us = _sparkplug()
    rows.append(
        {
            "name": "sparkplug_ddata_decode_normalize_cost_per_sample",
            "value": round(sp_us, 3),
            "unit": "us/sample",
            "baseline": round(pb_us, 3),
            "ratio": round(sp_us / pb_us, 3),
            "note": "DDATA of 100 aliased doubles: parse, alias lookup, mapping, seq tracking, "
            "normalization; baseline = protobuf ParseFromString only",
        }
    )
    mem_mb, points = _memory(payloads)
    rows.append(
        {
            "name": "connector_state_memory_10k_points",
            "value": round(mem_mb, 2),
            "unit": "MB",
            "baseline": points,
            "ratio": round(mem_mb * 1e6 / points, 1),
            "note": "tracemalloc of codec + normalizer with every point live; "
            "baseline = points, ratio = bytes per point",
        }
    )
    rss = _runtime_rss()
    rows.append(
        {
            "name": "runtime_rss_10k_points_live",
            "value": round(rss["after"], 1),
            "unit": "MB",
            "baseline": round(rss["before"], 1),
            "ratio": round(rss["after"] / rss["before"], 3),
            "note": f"RSS of a process with the whole runtime imported, after {rss['points']:.0f} "
            "points went through codec, normalizer and runtime.ingest.state.LatestState; "
            "baseline = the same process before any point",
        }
    )
    return rows


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
