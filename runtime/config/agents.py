"""The ``agents:`` and ``observe:`` sections of a site config."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from runtime.config.base import ConfigModel as _Model


class AgentConfig(_Model):
    """One agent's loop: on or off, how often it decides, how sure it must be."""

    enabled: bool = True
    cadence_s: float | None = Field(
        default=None, gt=0, description="seconds between decisions; default policy.peak_shaving"
    )
    min_confidence: float = Field(
        default=0.5, ge=0, le=1, description="below it, the conservative rule policy decides"
    )


class PeakAgentConfig(AgentConfig):
    forecast: bool = Field(
        default=True, description="try the forecast-aware tier first (falls back to the rule)"
    )
    lookahead_h: float = Field(default=4, gt=0, le=24)
    precharge_soc_pct: float = Field(
        default=90, ge=0, le=100, description="SoC to reach before a forecast peak or DR window"
    )


class PvCurtailConfig(AgentConfig):
    enabled: bool = False
    pv: str = Field(description="id of the pv asset to curtail")
    bus: str = Field(description="id of a safety.buses entry whose voltage is watched")
    max_pu: float | None = Field(default=None, gt=0, description="default: the bus's max_pu")
    release_margin_pu: float = Field(default=0.01, ge=0)
    step_pct: float = Field(default=20, gt=0, le=100)
    command_duration_s: float = Field(default=900, gt=0)


class AnomalyAgentConfig(AgentConfig):
    enabled: bool = False
    points: list[str] = Field(
        default_factory=list, description="asset.role points to watch; default the feeder meter"
    )
    hold_s: float = Field(default=900, gt=0, description="how long flagged assets are held")
    hold_assets: list[str] = Field(
        default_factory=list, description="assets held on an anomaly; default every battery"
    )
    int8: bool = True


class IntentAgentConfig(AgentConfig):
    command_duration_s: float = Field(default=900, gt=0)
    max_age_s: float = Field(
        default=300, gt=0, description="older requests (e.g. queued while stopped) are dropped"
    )


class DrMqttConfig(_Model):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    topic: str | None = Field(default=None, description="default gridaios/v1/<site>/dr/event")


class DrAgentConfig(AgentConfig):
    enabled: bool = False
    battery: str | None = Field(default=None, description="default policy.peak_shaving.battery")
    mqtt: DrMqttConfig | None = None
    max_events: int = Field(default=64, ge=1)


class AgentsConfig(_Model):
    peak_shaving: PeakAgentConfig = PeakAgentConfig()
    pv_curtailment: PvCurtailConfig | None = None
    anomaly: AnomalyAgentConfig = AnomalyAgentConfig()
    operator_intent: IntentAgentConfig = IntentAgentConfig()
    dr_events: DrAgentConfig = DrAgentConfig()
    escalate_after_rejections: int = Field(default=3, ge=1)


class ObserveConfig(_Model):
    """After a verified dispatch: did the feeder respond as the simulator predicted?"""

    enabled: bool = True
    after_s: float = Field(default=120, gt=0, description="wait this long after verification")
    tolerance_kw: float = Field(default=100, gt=0)
    curtail_tolerance_pct: float = Field(
        default=5,
        ge=0,
        le=100,
        description="a curtailed asset's p_kw may exceed uncurtailed x (1 - pct/100) by this "
        "share of its uncurtailed power",
    )
    on_mismatch: Literal["alert", "revert"] = "alert"
