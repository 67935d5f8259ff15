"""A standard Sparkplug B edge node on pysparkplug (spec-strict), with one battery device.

Nothing of gridaios in it: the device announces ActivePowerSetpoint (Float), ActivePower
(Float) and StateOfCharge (Double) in its DBIRTH, takes DCMDs through pysparkplug (which
refuses a payload without a timestamp), applies the setpoint and reports it back in DDATA,
then ramps its power towards it and reports the power on change.

Usage: python edge.py HOST PORT GROUP EDGE DEVICE   (run with tests/interop/pysparkplug/site
first on PYTHONPATH: pysparkplug needs paho-mqtt 1.x). Prints "ready" once born, and
"cmd <metric> <value>" for every command it applied.
"""

from __future__ import annotations

import signal
import sys
import threading
import time

from pysparkplug import DataType, Device, EdgeNode, Metric, get_current_timestamp

RAMP_KW_PER_S = 500.0


def main() -> None:
    host, port, group, edge_id, device_id = sys.argv[1:6]
    lock = threading.Lock()
    state = {"setpoint": 0.0, "p": 0.0, "soc": 60.0}

    def metric(name: str, datatype: DataType, value: float) -> Metric:
        return Metric(timestamp=get_current_timestamp(), name=name, datatype=datatype, value=value)

    def on_dcmd(edge: EdgeNode, message: object) -> None:
        for m in message.payload.metrics:  # type: ignore[attr-defined]
            if m.name == "ActivePowerSetpoint" and m.value is not None:
                with lock:
                    state["setpoint"] = float(m.value)
                edge.update_device(
                    device_id, [metric("ActivePowerSetpoint", DataType.FLOAT, float(m.value))]
                )
                print(f"cmd {m.name} {m.value}", flush=True)

    device = Device(
        device_id,
        metrics=[
            metric("ActivePowerSetpoint", DataType.FLOAT, 0.0),
            metric("ActivePower", DataType.FLOAT, 0.0),
            metric("StateOfCharge", DataType.DOUBLE, 60.0),
        ],
        cmd_callback=on_dcmd,
    )
    edge = EdgeNode(group, edge_id, metrics=[metric("Uptime", DataType.DOUBLE, 0.0)])
    edge.register(device)
    edge.connect(host, port=int(port), blocking=False)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    deadline = time.monotonic() + 30
    while not edge._connected and time.monotonic() < deadline:
        time.sleep(0.05)
    print("ready", flush=True)
    tick_s = 0.1
    while not stop.is_set():
        time.sleep(tick_s)
        with lock:
            target, p = state["setpoint"], state["p"]
            step = RAMP_KW_PER_S * tick_s
            new_p = target if abs(target - p) <= step else p + step * (1 if target > p else -1)
            state["p"] = new_p
        if new_p != p:  # report on change
            try:
                edge.update_device(device_id, [metric("ActivePower", DataType.FLOAT, new_p)])
            except Exception as err:
                print(f"update failed: {err}", flush=True)
    edge.disconnect()


if __name__ == "__main__":
    main()
