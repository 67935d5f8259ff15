"""The bridge's SunSpec device against a pymodbus server serving a SunSpec layout that
pysunspec2 built from its model definitions (tests/firmware_bridge/sunspec_inverter.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from gridaios_bridge.config import SunSpecConfig
from gridaios_bridge.modbus import ModbusClient, ModbusError
from gridaios_bridge.sunspec import SunSpecDevice, discover

from tests.firmware_bridge.sunspec_inverter import ALL_MODELS, BASE, SunSpecInverter


@pytest.fixture
def inverter() -> Iterator[SunSpecInverter]:
    dev = SunSpecInverter(rated_w=100_000, available_w=80_000).start()
    yield dev
    dev.stop()


def client_for(dev: SunSpecInverter, unit: int = 1) -> ModbusClient:
    return ModbusClient("127.0.0.1", dev.port, unit=unit, timeout_s=2.0)


def test_discovery_finds_the_marker_and_walks_the_model_chain(inverter: SunSpecInverter) -> None:
    client = client_for(inverter)
    try:
        chain = discover(client)  # no base given: 40000 is tried first
    finally:
        client.close()
    assert [m.model_id for m in chain] == list(ALL_MODELS)
    assert chain[0].address == BASE + 2
    for model in chain:
        assert inverter.addresses[model.model_id] == model.address
        assert model.length == inverter.model(model.model_id).model_len


def test_reads_telemetry_with_scale_factors_and_rated_power_from_702(
    inverter: SunSpecInverter,
) -> None:
    device = SunSpecDevice(client_for(inverter), SunSpecConfig())
    try:
        reading = device.read()
    finally:
        device.close()
    assert device.rated_kw == 100.0  # WMaxRtg 10000 x 10^1 W
    assert reading.measured_kw == 80.0  # W 8000 x 10^1 W, the available PV power
    assert reading.setpoint_kw == 100.0  # no limit enabled: the rated power
    assert reading.soc_pct == 65.5  # model 713 SoC 655 x 10^-1
    assert not reading.safe_mode
    assert ("sunspec_model_705", 1.0, "") in reading.extra
    extra = {name: (value, unit) for name, value, unit in reading.extra}
    assert extra["q_kvar"] == (-12.5, "kvar")  # 701 Var -1250 x 10^1 var
    assert extra["v_ln_v"] == (230.1, "V")
    assert extra["enter_service"] == (1.0, "") and extra["volt_var_enabled"] == (1.0, "")
    assert "f_hz" not in extra  # not implemented by this inverter: not published


@pytest.mark.parametrize("control", ["704", "123"])
def test_writes_a_power_limit_and_confirms_it_by_read_back(
    control: str, inverter: SunSpecInverter
) -> None:
    device = SunSpecDevice(client_for(inverter), SunSpecConfig(control=control))  # type: ignore[arg-type]
    try:
        device.read()
        assert device.quantize(42.04) == 42.0  # WMaxLimPct_SF -1: 0.1 % of 100 kW
        device.write(42.0, False, 0.0)
        # The device's own view, decoded by pysunspec2: the limit and its enable flag.
        model = inverter.model(int(control))
        assert model.points["WMaxLimPct"].cvalue == 42.0
        enabled = "WMaxLimPctEna" if control == "704" else "WMaxLim_Ena"
        assert model.points[enabled].value == 1
        other = 123 if control == "704" else 704
        assert inverter.model(other).points["WMaxLimPct"].cvalue == 100.0  # untouched
        reading = device.read()
        assert reading.setpoint_kw == 42.0  # read back
        assert reading.measured_kw == 42.0  # the inverter responds: 80 kW capped at 42
        # fail-safe on a device without a safe mode: the safe default as the limit
        device.write(42.0, True, 10.0)
        assert device.read().setpoint_kw == 10.0
    finally:
        device.close()


def test_a_device_without_a_control_model_is_refused_with_the_reason() -> None:
    inv = SunSpecInverter(models=(1, 701, 702)).start()
    device = SunSpecDevice(client_for(inv), SunSpecConfig())
    try:
        with pytest.raises(ModbusError, match=r"no power limit control \(model 704 or 123\)"):
            device.read()
    finally:
        device.close()
        inv.stop()


def test_a_device_without_the_marker_is_not_sunspec() -> None:
    inv = SunSpecInverter().start()
    client = client_for(inv)
    try:
        with pytest.raises(ModbusError, match="exception code 2"):
            discover(client, base_address=100)
        with pytest.raises(ModbusError, match="no SunSpec marker 'SunS' at register 40002"):
            discover(client, base_address=BASE + 2)
    finally:
        client.close()
        inv.stop()


def test_rated_power_from_the_config_when_the_device_has_no_702() -> None:
    inv = SunSpecInverter(rated_w=50_000, models=(1, 103, 123)).start()
    device = SunSpecDevice(client_for(inv), SunSpecConfig(rated_kw=50.0))
    try:
        assert device.read().setpoint_kw == 50.0
        device.write(25.0, False, 0.0)
        assert inv.model(123).points["WMaxLimPct"].cvalue == 50.0  # 25 of 50 kW
        assert device.read().measured_kw == 25.0  # model 103's W
    finally:
        device.close()
        inv.stop()


def test_the_inverter_answers_only_its_unit_id(inverter: SunSpecInverter) -> None:
    client = client_for(inverter, unit=9)
    try:
        with pytest.raises(ModbusError):
            discover(client, base_address=BASE)
    finally:
        client.close()
