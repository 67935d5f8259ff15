"""Site configuration: YAML -> validated pydantic models, refused with field, value and rule."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from connectors.credentials import check_common
from connectors.mqtt import MqttSourceConfig, MqttTlsConfig
from connectors.opcua import OpcUaSourceConfig
from connectors.opcua.nodeids import node_id_problem
from runtime.config import sensitivities
from runtime.config.openadr import OpenAdrConfig, openadr_issues
from runtime.config.safety_config import AssetLimitsConfig, SafetyConfig, safety_issues
from runtime.core.errors import ConfigError, ConfigIssue


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


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


class _AssetBase(_Model):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    name: str = ""
    aliases: tuple[str, ...] = Field(default=(), description="what operators call it (ask)")
    points: dict[str, PointConfig]
    limits: AssetLimitsConfig = AssetLimitsConfig()

    REQUIRED_POINTS: Any = ()

    @model_validator(mode="after")
    def _has_required_points(self) -> _AssetBase:
        missing = [role for role in self.REQUIRED_POINTS if role not in self.points]
        if missing:
            raise ValueError(f"points {', '.join(missing)} are required for a {self.type_name()}")
        return self

    @classmethod
    def type_name(cls) -> str:
        return str(cls.model_fields["type"].default)


class MeterAsset(_AssetBase):
    type: Literal["meter"] = "meter"
    REQUIRED_POINTS: Any = ("p_kw",)


class BatteryAsset(_AssetBase):
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


class PvAsset(_AssetBase):
    type: Literal["pv"] = "pv"
    rated_kw: float = Field(gt=0)
    REQUIRED_POINTS: Any = ("p_kw",)


class CurtailableLoadAsset(_AssetBase):
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


# --- hierarchy: a conductor per site, one controller across sites (docs/hierarchy.md) ---

_TOPIC_ID = r"^[A-Za-z0-9_.-]+$"


class BrokerConfig(_Model):
    """The MQTT broker the conductors and the controller share (TLS unless allow_insecure)."""

    host: str = Field(min_length=1)
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    password_env: str | None = Field(default=None, description="read the password from this env")
    tls: MqttTlsConfig | None = None
    allow_insecure: bool = False
    keepalive_s: int = Field(default=30, ge=5)
    reconnect_min_s: float = Field(default=0.5, gt=0)
    reconnect_max_s: float = Field(default=30.0, gt=0)

    @model_validator(mode="after")
    def _secure_is_default(self) -> BrokerConfig:
        if self.tls is None and not self.allow_insecure:
            raise ValueError(
                "plain MQTT carries caps and policy pushes in clear text; configure tls "
                "(ca_file, cert_file, key_file) or set allow_insecure: true to accept that"
            )
        check_common(
            password=self.password,
            password_env=self.password_env,
            reconnect_min_s=self.reconnect_min_s,
            reconnect_max_s=self.reconnect_max_s,
        )
        return self


class PolicyPushConfig(_Model):
    """A policy version (and the model versions it uses) the controller pushes to a site."""

    policy: str = Field(min_length=1)
    params: dict[str, float] = Field(default_factory=dict)
    models: dict[str, str] = Field(default_factory=dict)


class HierarchyConfig(_Model):
    """A site's link to the controller. Without this block the conductor runs alone."""

    role: Literal["conductor"] = Field(
        default="conductor",
        description="a site config is always a conductor; the controller has its own file",
    )
    broker: BrokerConfig
    site: str | None = Field(
        default=None, pattern=_TOPIC_ID, description="site id in topics; defaults to site.id"
    )
    controller: str = Field(
        default="controller", pattern=_TOPIC_ID, description="the only controller id obeyed"
    )
    controller_timeout_s: float = Field(
        default=30.0, gt=0, description="no heartbeat for this long: back to the local config"
    )
    min_threshold_kw: float = Field(
        default=0.0, ge=0, description="a cap below this is applied as this (floor)"
    )
    summary_every_s: float = Field(
        default=30.0,
        gt=0,
        description="a summary at least this often (and every decision cycle); keep it "
        "below the controller's summary_max_age_s",
    )
    known_policies: list[str] = Field(default_factory=lambda: ["peak_shaving"], min_length=1)
    known_models: dict[str, list[str]] = Field(default_factory=dict)


class ControllerHierarchyConfig(_Model):
    role: Literal["controller"]
    id: str = Field(default="controller", pattern=_TOPIC_ID)
    broker: BrokerConfig
    sites: list[str] = Field(min_length=1)
    feeder_cap_kw: float = Field(gt=0, description="import limit shared by all sites")
    cadence_s: float = Field(default=60.0, gt=0, description="one allocation per cadence")
    cap_valid_s: float = Field(default=180.0, gt=0, description="a cap's lifetime")
    heartbeat_s: float = Field(default=5.0, gt=0)
    summary_max_age_s: float = Field(
        default=180.0, gt=0, description="an older site summary no longer counts as fresh"
    )
    policy: PolicyPushConfig | None = Field(default=None, description="pushed to every site")
    site_policies: dict[str, PolicyPushConfig] = Field(
        default_factory=dict, description="per-site pushes (override policy)"
    )

    @model_validator(mode="after")
    def _consistent(self) -> ControllerHierarchyConfig:
        for site_id in self.sites:
            if not re.fullmatch(_TOPIC_ID, site_id) or site_id == "controller":
                raise ValueError(
                    f"sites: {site_id!r} cannot be a topic segment; use letters, digits, "
                    "'_', '.', '-' (and not 'controller')"
                )
        dupes = sorted({s for s in self.sites if self.sites.count(s) > 1})
        if dupes:
            raise ValueError(f"sites: {', '.join(dupes)} listed more than once")
        unknown = sorted(set(self.site_policies) - set(self.sites))
        if unknown:
            raise ValueError(f"site_policies: {', '.join(unknown)} not in sites")
        if self.cap_valid_s <= self.cadence_s:
            raise ValueError(
                f"cap_valid_s ({self.cap_valid_s:g}) must be > cadence_s ({self.cadence_s:g}), "
                "or every cap expires before the next one arrives"
            )
        return self


class ControllerConfig(_Model):
    """``gridaios run --role controller --config CONTROLLER.yaml``."""

    hierarchy: ControllerHierarchyConfig


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


def load_config(path: str | Path) -> SiteConfig:
    """Read and validate a site config; raise ConfigError naming every bad field."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(
            file, [ConfigIssue("(file)", "", f"cannot read: {err.strerror}")]
        ) from err
    config = parse_config(text, file)
    if config.feeder.network is not None:
        network = Path(path).parent / config.feeder.network
        if not network.is_file():
            raise ConfigError(
                file,
                [
                    ConfigIssue(
                        "feeder.network",
                        config.feeder.network,
                        f"no such file ({network}); give a .m or .yaml network relative "
                        "to this config",
                    )
                ],
            )
        feeder = config.feeder.model_copy(update={"network": str(network.resolve())})
        config = config.model_copy(update={"feeder": feeder})
    return sensitivities.resolve(config, file)


def _read_yaml(text: str, file: str) -> dict[str, Any]:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else "(yaml)"
        problem = getattr(err, "problem", None) or str(err)
        raise ConfigError(file, [ConfigIssue(where, "", f"YAML syntax error: {problem}")]) from err
    if not isinstance(raw, dict):
        raise ConfigError(file, [ConfigIssue("(top level)", "", "must be a mapping of sections")])
    return raw


def is_controller_config(text: str) -> bool:
    """The file declares ``hierarchy: {role: controller}`` (a controller, not a site)."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError:
        return False
    block = raw.get("hierarchy") if isinstance(raw, dict) else None
    return isinstance(block, dict) and block.get("role") == "controller"


def load_controller_config(path: str | Path) -> ControllerConfig:
    """Read and validate a controller config; raise ConfigError naming every bad field."""
    file = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as err:
        raise ConfigError(
            file, [ConfigIssue("(file)", "", f"cannot read: {err.strerror}")]
        ) from err
    raw = _read_yaml(text, file)
    try:
        return ControllerConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(file, [_issue(e, raw) for e in err.errors()]) from err


def parse_config(text: str, file: str = "<config>") -> SiteConfig:
    raw = _read_yaml(text, file)
    if is_controller_config(text):
        raise ConfigError(
            file,
            [
                ConfigIssue(
                    "hierarchy.role",
                    "controller",
                    "this is a controller config: run it with `gridaios run --role controller`",
                )
            ],
        )
    try:
        config = SiteConfig.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(file, [_issue(e, raw) for e in err.errors()]) from err
    issues = (
        _reference_issues(config)
        + wire_point_issues(config)
        + safety_issues(config)
        + _hierarchy_issues(config)
        + _agent_issues(config)
        + openadr_issues(config, None if file.startswith("<") else Path(file).parent)
    )
    if not issues:
        issues = _command_point_issues(config) + node_id_issues(config)
    if issues:
        raise ConfigError(file, issues)
    return config


def wire_point_issues(config: SiteConfig) -> list[ConfigIssue]:
    """scale, offset and data_type are applied by the OPC UA connector only: on an MQTT
    source (JSON or Sparkplug B) they would be ignored, so they are refused (a Sparkplug
    Int16 metric in 0.1 kW with scale 0.1 would get ten times the command)."""
    mqtt = {s.id for s in config.sources if not isinstance(s, OpcUaSourceConfig)}
    issues: list[ConfigIssue] = []
    for i, asset in enumerate(config.assets):
        for role, point in asset.points.items():
            if point.source not in mqtt:
                continue
            for name, value, default in (
                ("scale", point.scale, 1.0),
                ("offset", point.offset, 0.0),
                ("data_type", point.data_type, None),
            ):
                if value != default:
                    issues.append(
                        ConfigIssue(
                            f"assets[{i}].points.{role}.{name}",
                            _fmt(value),
                            f"{name} is applied on OPC UA sources only; {point.source} is "
                            "MQTT, whose values are in engineering units and the datatype "
                            "the device announces: remove it (scale in the device or the "
                            "bridge's register map)",
                        )
                    )
    return issues


def _issue(error: Any, raw: Any) -> ConfigIssue:
    path, value, found = _walk(error["loc"], raw)
    kind = error["type"]
    ctx = error.get("ctx", {})
    if kind == "extra_forbidden":
        shown = _fmt(value) if found else ""
        return ConfigIssue(path, shown, "unknown key; remove it or check its spelling")
    if kind == "missing":
        return ConfigIssue(path, "", "required field is missing")
    rules = {
        "greater_than_equal": "must be >= {ge}",
        "greater_than": "must be > {gt}",
        "less_than_equal": "must be <= {le}",
        "less_than": "must be < {lt}",
    }
    if kind in rules:
        rule = rules[kind].format(**{k: _fmt(v) for k, v in ctx.items()})
    else:
        rule = str(error["msg"]).removeprefix("Value error, ")
    return ConfigIssue(path, _fmt(value) if found else "", rule)


def _walk(loc: tuple[Any, ...], raw: Any) -> tuple[str, Any, bool]:
    """Render a pydantic location as `a.b[2].c`, skipping union tags, and find the raw value."""
    parts: list[str] = []
    node: Any = raw
    found = True
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
            if isinstance(node, list) and 0 <= item < len(node):
                node = node[item]
            else:
                found = False
            continue
        if isinstance(node, dict) and item not in node and node.get("type") == item:
            continue  # discriminated-union tag, not a key the user wrote
        parts.append(f".{item}" if parts else str(item))
        if isinstance(node, dict) and item in node:
            node = node[item]
        else:
            found = False
    return "".join(parts) or "(top level)", node, found


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dict | list):
        return "{...}" if isinstance(value, dict) else "[...]"
    return str(value)


def _reference_issues(config: SiteConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    source_ids = {s.id for s in config.sources}
    seen: set[str] = set()
    for i, asset in enumerate(config.assets):
        if asset.id in seen:
            issues.append(ConfigIssue(f"assets[{i}].id", asset.id, "duplicate asset id"))
        seen.add(asset.id)
        for role, point in asset.points.items():
            if point.source not in source_ids:
                issues.append(
                    ConfigIssue(
                        f"assets[{i}].points.{role}.source",
                        point.source,
                        f"unknown source; known: {', '.join(sorted(source_ids))}",
                    )
                )
    kinds = {a.id: a.type for a in config.assets}
    if kinds.get(config.feeder.meter) != "meter":
        issues.append(
            ConfigIssue("feeder.meter", config.feeder.meter, "must name an asset of type meter")
        )
    battery = config.policy.peak_shaving.battery
    if kinds.get(battery) != "battery":
        issues.append(
            ConfigIssue(
                "policy.peak_shaving.battery", battery, "must name an asset of type battery"
            )
        )
    for name, candidate in config.policy.candidates.items():
        where = f"policy.candidates.{name}"
        if name == "production":
            issues.append(
                ConfigIssue(where, name, "'production' is reserved for the production policy")
            )
        if candidate.battery is not None and kinds.get(candidate.battery) != "battery":
            issues.append(
                ConfigIssue(
                    f"{where}.battery", candidate.battery, "must name an asset of type battery"
                )
            )
    return issues


def _hierarchy_issues(config: SiteConfig) -> list[ConfigIssue]:
    h = config.hierarchy
    if h is None or h.site is not None:
        return []
    site_id = config.site.id
    if re.fullmatch(_TOPIC_ID, site_id) and site_id != "controller":
        return []
    return [
        ConfigIssue(
            "site.id",
            site_id,
            "cannot be a topic segment for the hierarchy; set hierarchy.site to letters, "
            "digits, '_', '.', '-'",
        )
    ]


# The points a battery's setpoint path needs, by the kind of its source: OPC UA and
# Sparkplug B confirm a command by the applied key the device reports; the JSON wire
# carries the key in the command and the ack, and verifies by the setpoint telemetry.
KEYED_POINTS = ("cmd_key", "cmd_key_applied")
READBACK_POINT = "setpoint_readback_kw"


def _command_point_issues(config: SiteConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = _curtail_point_issues(config)
    for i, asset in enumerate(config.assets):
        if not isinstance(asset, BatteryAsset):
            continue
        setpoint = asset.points["p_setpoint_kw"]
        source = config.source(setpoint.source)
        if isinstance(source, MqttSourceConfig) and source.format == "json":
            readback = asset.points.get(READBACK_POINT)
            if readback is None or readback.source != source.id:
                issues.append(
                    ConfigIssue(
                        f"assets[{i}].points",
                        "",
                        f"points {READBACK_POINT} are required for a battery whose "
                        f"p_setpoint_kw goes over MQTT (source {source.id}): the device's "
                        f"setpoint as telemetry on that source, e.g. {{source: {source.id}, "
                        f"node: {setpoint.node}}}, verifies every command",
                    )
                )
            continue
        missing = [role for role in KEYED_POINTS if role not in asset.points]
        if len(missing) == len(KEYED_POINTS):
            continue  # standard control (OPC UA, Sparkplug B DCMD), confirmed by read-back
        if missing:
            issues.append(
                ConfigIssue(
                    f"assets[{i}].points",
                    "",
                    f"points {', '.join(missing)} are required for a battery "
                    f"whose p_setpoint_kw goes over {source.type} (source {source.id})",
                )
            )
    return issues


def node_id_issues(config: SiteConfig) -> list[ConfigIssue]:
    """Every point on an OPC UA source names a node id or browse path that parses."""
    opcua = {s.id for s in config.sources if isinstance(s, OpcUaSourceConfig)}
    issues: list[ConfigIssue] = []
    for i, asset in enumerate(config.assets):
        for role, point in asset.points.items():
            if point.source in opcua and (problem := node_id_problem(point.node)) is not None:
                issues.append(ConfigIssue(f"assets[{i}].points.{role}.node", point.node, problem))
    return issues


def _curtail_point_issues(config: SiteConfig) -> list[ConfigIssue]:
    """A curtailable load is curtailed through a writable curtail_pct point, and
    curtailment is written over OPC UA (a keyless setpoint, confirmed by its read-back)."""
    issues: list[ConfigIssue] = []
    for i, asset in enumerate(config.assets):
        point = asset.points.get("curtail_pct")
        if point is None:
            continue
        where = f"assets[{i}].points.curtail_pct"
        if isinstance(asset, CurtailableLoadAsset) and not asset.critical and not point.writable:
            issues.append(
                ConfigIssue(
                    f"{where}.writable",
                    str(point.writable).lower(),
                    f"{asset.id} is a curtailable load: set writable: true so it can be "
                    "curtailed, or critical: true if it must never be",
                )
            )
        source = config.source(point.source)
        if point.writable and source.type != "opcua":
            issues.append(
                ConfigIssue(
                    f"{where}.source",
                    point.source,
                    f"curtailment is written over OPC UA only so far; {point.source} is "
                    f"{source.type}: serve {asset.id}.curtail_pct on an OPC UA source, "
                    "or set writable: false",
                )
            )
    return issues


def _agent_issues(config: SiteConfig) -> list[ConfigIssue]:
    """The agents block names assets, points and buses that exist, of the right type."""
    issues: list[ConfigIssue] = []
    kinds = {a.id: a.type for a in config.assets}
    agents = config.agents
    pv = agents.pv_curtailment
    if pv is not None and pv.enabled:
        asset = next((a for a in config.assets if a.id == pv.pv), None)
        if asset is None or asset.type != "pv":
            issues.append(
                ConfigIssue("agents.pv_curtailment.pv", pv.pv, "must name an asset of type pv")
            )
        elif "curtail_pct" not in asset.points or not asset.points["curtail_pct"].writable:
            issues.append(
                ConfigIssue(
                    "agents.pv_curtailment.pv",
                    pv.pv,
                    "the pv asset needs a writable curtail_pct point to be curtailed",
                )
            )
        buses = sorted(b.id for b in config.safety.buses)
        if pv.bus not in buses:
            issues.append(
                ConfigIssue(
                    "agents.pv_curtailment.bus",
                    pv.bus,
                    f"unknown bus; known (safety.buses): {', '.join(buses) or 'none'}",
                )
            )
    anomaly_points = agents.anomaly.points if agents.anomaly.enabled else []
    for i, point in enumerate(anomaly_points):
        asset_id, _, role = point.partition(".")
        asset = next((a for a in config.assets if a.id == asset_id), None)
        if asset is None or role not in asset.points:
            issues.append(
                ConfigIssue(f"agents.anomaly.points[{i}]", point, "no such point (asset.role)")
            )
    for i, held in enumerate(agents.anomaly.hold_assets if agents.anomaly.enabled else []):
        if held not in kinds:
            issues.append(ConfigIssue(f"agents.anomaly.hold_assets[{i}]", held, "unknown asset"))
    battery = agents.dr_events.battery
    if agents.dr_events.enabled and battery is not None and kinds.get(battery) != "battery":
        issues.append(
            ConfigIssue("agents.dr_events.battery", battery, "must name an asset of type battery")
        )
    return issues
