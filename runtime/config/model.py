"""Site configuration: the validated pydantic models of a site's YAML (``config.load`` reads it)."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any, Literal

from pydantic import Field, model_validator

from connectors.mqtt import MqttSourceConfig
from connectors.opcua import OpcUaSourceConfig
from runtime.config.agents import (
    AgentsConfig,
    ObserveConfig,
)
from runtime.config.base import ConfigModel as _Model
from runtime.config.hierarchy import HierarchyConfig
from runtime.config.openadr import OpenAdrConfig
from runtime.config.safety_config import AssetLimitsConfig, SafetyConfig

WireType = Literal[
    "Boolean",
    "SByte",
    "Byte",
    "Int16",
    "UInt16",
    "Int32",
    "UInt32",
    "Int64",
    "UInt64",
    "Float",
    "Double",
]


class PointConfig(_Model):
    source: str = Field(min_length=1)
    node: str = Field(
        min_length=1,
        description="OPC UA node id (ns=2;s=bat1.soc_pct) or browse path "
        "(/Objects/2:Field/2:bat1/2:soc_pct); on MQTT the point name on the wire (bat1.soc_pct)",
    )
    unit: str = ""
    writable: bool = False
    max_age_s: float | None = Field(default=None, gt=0, description="overrides safety.max_age_s")
    data_type: WireType | None = Field(
        default=None,
        description="the value's type on the wire; OPC UA: None writes in the node's own "
        "DataType, read from the server",
    )
    scale: float = Field(default=1.0, description="engineering = raw * scale + offset")
    offset: float = 0.0

    @model_validator(mode="after")
    def _scale_not_zero(self) -> PointConfig:
        if self.scale == 0 or self.scale != self.scale:
            raise ValueError(
                "scale must be a finite number other than 0 (engineering = raw * scale + offset)"
            )
        return self


class AssetBase(_Model):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = ""
    aliases: tuple[str, ...] = Field(default=(), description="what operators call it (ask)")
    points: dict[str, PointConfig]
    limits: AssetLimitsConfig = AssetLimitsConfig()

    REQUIRED_POINTS: Any = ()

    @model_validator(mode="after")
    def _has_required_points(self) -> AssetBase:
        missing = [role for role in self.REQUIRED_POINTS if role not in self.points]
        if missing:
            raise ValueError(f"points {', '.join(missing)} are required for a {self.type_name()}")
        return self

    @classmethod
    def type_name(cls) -> str:
        return str(cls.model_fields["type"].default)


class MeterAsset(AssetBase):
    type: Literal["meter"] = "meter"
    REQUIRED_POINTS: Any = ("p_kw",)


class BatteryAsset(AssetBase):
    type: Literal["battery"] = "battery"
    capacity_kwh: float = Field(gt=0)
    max_charge_kw: float = Field(ge=0)
    max_discharge_kw: float = Field(ge=0)
    soc_min_pct: float = Field(ge=0, le=100)
    soc_max_pct: float = Field(ge=0, le=100)
    efficiency: float = Field(default=0.95, gt=0, le=1)
    initial_soc_pct: float = Field(default=80.0, ge=0, le=100)
    # cmd_key / cmd_key_applied (OPC UA, Sparkplug B) or setpoint_readback_kw (MQTT JSON)
    # depend on the setpoint's source: checked in _command_point_issues.
    REQUIRED_POINTS: Any = ("soc_pct", "p_kw", "p_setpoint_kw")

    @model_validator(mode="after")
    def _soc_window(self) -> BatteryAsset:
        if self.soc_min_pct >= self.soc_max_pct:
            raise ValueError(
                f"soc_min_pct ({self.soc_min_pct:g}) must be below "
                f"soc_max_pct ({self.soc_max_pct:g})"
            )
        return self


class PvAsset(AssetBase):
    type: Literal["pv"] = "pv"
    rated_kw: float = Field(gt=0)
    REQUIRED_POINTS: Any = ("p_kw",)


class CurtailableLoadAsset(AssetBase):
    type: Literal["curtailable_load"] = "curtailable_load"
    max_curtail_pct: float = Field(ge=0, le=100)
    critical: bool = False
    rebound_pct: float = Field(default=0.0, ge=0, le=100)
    REQUIRED_POINTS: Any = ("p_kw",)


Asset = Annotated[
    MeterAsset | BatteryAsset | PvAsset | CurtailableLoadAsset, Field(discriminator="type")
]


Source = Annotated[OpcUaSourceConfig | MqttSourceConfig, Field(discriminator="type")]


class SiteInfo(_Model):
    id: str = Field(min_length=1)
    name: str = ""


class FeederConfig(_Model):
    meter: str = Field(description="id of the substation meter asset")
    transformer_rating_kw: float = Field(gt=0)
    network: str | None = Field(
        default=None,
        description="the feeder's network (.m or .yaml), relative to this file: every plan "
        "is then run through a power flow before dispatch",
    )


class PeakShavingConfig(_Model):
    battery: str
    threshold_kw: float = Field(gt=0)
    cadence_s: float = Field(default=300, gt=0)
    deadband_kw: float = Field(default=10, ge=0)
    command_duration_s: float = Field(default=900, gt=0)


class CandidateConfig(_Model):
    """A named candidate for shadow and canary runs: peak-shaving parameters that differ
    from production (unset: as production) and the forecast model the twin uses."""

    description: str = ""
    battery: str | None = None
    threshold_kw: float | None = Field(default=None, gt=0)
    cadence_s: float | None = Field(default=None, gt=0)
    deadband_kw: float | None = Field(default=None, ge=0)
    command_duration_s: float | None = Field(default=None, gt=0)
    forecast: Literal["persistence", "seasonal_naive", "onnx"] | None = Field(
        default=None,
        description="the twin's load forecast: persistence (production's), seasonal_naive "
        "(the same time yesterday) or onnx (the int8 short-term forecaster of forecasting/)",
    )
    model_version: str | None = Field(
        default=None,
        description="with forecast: onnx, the model version required (its metadata 'version'); "
        "otherwise a tag recorded with the decisions",
    )


class TariffPeriodConfig(_Model):
    start: str = Field(pattern=r"^([01][0-9]|2[0-3]):[0-5][0-9]$", description="local HH:MM")
    end: str = Field(pattern=r"^([01][0-9]|2[0-4]):[0-5][0-9]$", description="24:00 = midnight")
    price_per_kwh: float = Field(ge=0)


def _default_tou() -> list[TariffPeriodConfig]:
    return [
        TariffPeriodConfig(start="00:00", end="07:00", price_per_kwh=0.08),
        TariffPeriodConfig(start="07:00", end="17:00", price_per_kwh=0.15),
        TariffPeriodConfig(start="17:00", end="21:00", price_per_kwh=0.32),
        TariffPeriodConfig(start="21:00", end="24:00", price_per_kwh=0.15),
    ]


class TariffConfig(_Model):
    """Energy price for shadow KPIs (time of use in safety.timezone); export earns nothing."""

    currency: str = "EUR"
    periods: list[TariffPeriodConfig] = Field(default_factory=_default_tou, min_length=1)
    default_price_per_kwh: float = Field(default=0.15, ge=0, description="outside every period")


class PolicyConfig(_Model):
    peak_shaving: PeakShavingConfig
    candidates: dict[str, CandidateConfig] = Field(default_factory=dict)
    tariff: TariffConfig = TariffConfig()


class ApprovalsConfig(_Model):
    auto_approve_max_kw: float = Field(ge=0)
    two_person_min_kw: float = Field(ge=0)
    expiry_s: float = Field(default=900, gt=0)
    # unanswered this long: one ``approval.escalated`` event and a WARNING naming who to call
    escalate_after_s: float = Field(default=300, gt=0)
    escalate_to: list[Annotated[str, Field(min_length=1)]] = Field(
        default_factory=lambda: ["duty engineer"], min_length=1
    )

    @model_validator(mode="after")
    def _ordered(self) -> ApprovalsConfig:
        if self.two_person_min_kw < self.auto_approve_max_kw:
            raise ValueError(
                f"two_person_min_kw ({self.two_person_min_kw:g}) must be >= "
                f"auto_approve_max_kw ({self.auto_approve_max_kw:g})"
            )
        if self.escalate_after_s >= self.expiry_s:
            raise ValueError(
                f"escalate_after_s ({self.escalate_after_s:g}) must be < expiry_s "
                f"({self.expiry_s:g}): escalate while the request can still be answered"
            )
        return self


class ForecastCalendarConfig(_Model):
    """The site's public holidays (the `holidays` package; checked when forecasts run) and
    local zone: a holiday is forecast like the site's Sunday (docs/forecasting.md)."""

    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, e.g. DE")
    subdivision: str | None = Field(default=None, description="e.g. BY for Bavaria")
    tz: str = Field(default="UTC", description="IANA zone of the site's clock, e.g. Europe/Berlin")
    extra_holidays: list[date] = Field(default_factory=list, description="bridge days etc.")

    @model_validator(mode="after")
    def _zone(self) -> ForecastCalendarConfig:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        try:
            ZoneInfo(self.tz)
        except (ZoneInfoNotFoundError, ValueError) as err:
            raise ValueError(
                f"tz {self.tz!r} is not an IANA time zone (e.g. Europe/Berlin)"
            ) from err
        return self


class ForecastConfig(_Model):
    """Where ``gridaios forecast run`` reads history and writes forecasts (paths are
    relative to the config file), and how often models are re-selected. ``history`` is
    a Parquet file (``unique_id, ds, y``) or the runtime's historian directory, read
    back ``history_days``."""

    history: str
    history_days: float = Field(default=28, gt=0, le=366)
    output: str = "var/forecast.parquet"
    freq: Literal["15m", "1h"] = "15m"
    horizon_h: float = Field(default=24, gt=0, le=48)
    backtest_windows: int = Field(default=2, ge=1, le=10)
    refit_every_h: float = Field(default=6, gt=0)
    n_jobs: int = Field(default=2, ge=1, le=8)
    router: str | None = None  # model-router YAML, e.g. configs/router.yaml
    calendar: ForecastCalendarConfig | None = None  # holidays: the DayType model


# --- hierarchy: a conductor per site, one controller across sites (docs/hierarchy.md) ---


def anomaly_points(config: SiteConfig) -> list[str]:
    """The points the anomaly agent watches (default: the feeder meter's p_kw)."""
    return config.agents.anomaly.points or [f"{config.feeder.meter}.p_kw"]


class SiteConfig(_Model):
    site: SiteInfo
    feeder: FeederConfig
    sources: list[Source] = Field(min_length=1)
    assets: list[Asset] = Field(min_length=1)
    policy: PolicyConfig
    approvals: ApprovalsConfig
    safety: SafetyConfig = SafetyConfig()
    forecast: ForecastConfig | None = None
    hierarchy: HierarchyConfig | None = None
    agents: AgentsConfig = AgentsConfig()
    observe: ObserveConfig = ObserveConfig()
    openadr: OpenAdrConfig | None = None  # DR programs over OpenADR (docs/dr.md)

    def asset(self, asset_id: str) -> MeterAsset | BatteryAsset | PvAsset | CurtailableLoadAsset:
        for asset in self.assets:
            if asset.id == asset_id:
                return asset
        raise KeyError(asset_id)

    def battery(self, asset_id: str) -> BatteryAsset:
        asset = self.asset(asset_id)
        if not isinstance(asset, BatteryAsset):
            raise KeyError(asset_id)
        return asset

    def source(self, source_id: str) -> OpcUaSourceConfig | MqttSourceConfig:
        for source in self.sources:
            if source.id == source_id:
                return source
        raise KeyError(source_id)
