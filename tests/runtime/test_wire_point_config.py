"""A point's scale, offset and data_type are applied by the OPC UA connector only; on an
MQTT source (JSON or Sparkplug B) they would be accepted and silently ignored, so a
Sparkplug Int16 setpoint in 0.1 kW with ``scale: 0.1`` would get 10x the command and
report 10x the power. check-config names them instead."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from runtime.config.load import parse_config
from runtime.core.errors import ConfigError
from tests.runtime.agents.support import demo_raw


def _with_sparkplug_pv(**point: Any) -> dict[str, Any]:
    raw = demo_raw()
    raw["sources"].append(
        {
            "id": "bus",
            "type": "mqtt",
            "host": "127.0.0.1",
            "port": 1883,
            "site": "demo-feeder",
            "format": "sparkplug_b",
            "allow_insecure": True,
        }
    )
    raw["assets"][2]["points"]["p_kw"] = {
        "source": "bus",
        "node": "edge1/pv1/ActivePower",
        "unit": "kW",
        **point,
    }
    return raw


@pytest.mark.parametrize(
    "extra", [{"scale": 0.1}, {"offset": 5.0}, {"data_type": "Int16"}], ids=str
)
def test_scale_offset_or_data_type_on_an_mqtt_point_is_refused(extra: dict[str, Any]) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(yaml.safe_dump(_with_sparkplug_pv(**extra)), "configs/x.yaml")
    (issue,) = info.value.issues
    rendered = issue.render("configs/x.yaml")
    assert f"assets[2].points.p_kw.{next(iter(extra))}" in rendered
    assert "OPC UA" in rendered


def test_an_mqtt_point_without_them_is_fine() -> None:
    parse_config(yaml.safe_dump(_with_sparkplug_pv()), "configs/x.yaml")
