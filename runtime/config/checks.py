"""Cross-field checks of a validated site config, each issue naming the field and the fix."""

from __future__ import annotations

import re
import ssl
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from connectors.mqtt import MqttSourceConfig
from connectors.opcua import OpcUaSourceConfig
from connectors.opcua.nodeids import node_id_problem
from runtime.config.hierarchy import TOPIC_ID
from runtime.config.model import AssetBase, BatteryAsset, CurtailableLoadAsset, SiteConfig
from runtime.config.openadr import OpenAdrTls, insecure
from runtime.core.errors import ConfigIssue
from safety import CLAMPABLE, FAMILIES


def reference_issues(config: SiteConfig) -> list[ConfigIssue]:
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


def hierarchy_issues(config: SiteConfig) -> list[ConfigIssue]:
    h = config.hierarchy
    if h is None or h.site is not None:
        return []
    site_id = config.site.id
    if re.fullmatch(TOPIC_ID, site_id) and site_id != "controller":
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


def command_point_issues(config: SiteConfig) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = curtail_point_issues(config)
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
                    shown = (
                        str(int(value))
                        if isinstance(value, float) and value.is_integer()
                        else str(value)
                    )
                    issues.append(
                        ConfigIssue(
                            f"assets[{i}].points.{role}.{name}",
                            shown,
                            f"{name} is applied on OPC UA sources only; {point.source} is "
                            "MQTT, whose values are in engineering units and the datatype "
                            "the device announces: remove it (scale in the device or the "
                            "bridge's register map)",
                        )
                    )
    return issues


def curtail_point_issues(config: SiteConfig) -> list[ConfigIssue]:
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


def agent_issues(config: SiteConfig) -> list[ConfigIssue]:
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


def safety_issues(config: SiteConfig) -> list[ConfigIssue]:
    """Cross-reference checks of the safety declarations, each naming the field and the fix."""
    issues: list[ConfigIssue] = []
    safety = config.safety
    for constraint, policy in safety.policies.items():
        fam = constraint.split(".", 1)[0]
        where = f"safety.policies.{constraint}"
        if fam not in FAMILIES:
            known = ", ".join(sorted(FAMILIES))
            issues.append(ConfigIssue(where, policy, f"unknown constraint; known: {known}"))
        elif policy == "clamp" and fam not in CLAMPABLE:
            issues.append(
                ConfigIssue(
                    where,
                    policy,
                    f"a {fam} constraint cannot be clamped (no value satisfies it); use reject",
                )
            )
    try:
        ZoneInfo(safety.timezone)
    except (ZoneInfoNotFoundError, ValueError):
        issues.append(
            ConfigIssue("safety.timezone", safety.timezone, "unknown IANA time zone, e.g. UTC")
        )
    points = {f"{a.id}.{role}" for a in config.assets for role in a.points}
    bus_ids = [b.id for b in safety.buses]
    for i, bus in enumerate(safety.buses):
        if bus.point is not None and bus.point not in points:
            issues.append(
                ConfigIssue(f"safety.buses[{i}].point", bus.point, "unknown point; use asset.role")
            )
        if bus_ids.count(bus.id) > 1:
            issues.append(ConfigIssue(f"safety.buses[{i}].id", bus.id, "duplicate bus id"))
    for i, asset in enumerate(config.assets):
        issues.extend(_asset_issues(i, asset, set(bus_ids), config.feeder.network is not None))
    return issues


def _asset_issues(
    i: int, asset: AssetBase, buses: set[str], has_network: bool
) -> list[ConfigIssue]:
    issues: list[ConfigIssue] = []
    limits = asset.limits
    here = f"assets[{i}].limits"
    for j, lock in enumerate(limits.interlocks):
        if lock.point not in asset.points:
            issues.append(
                ConfigIssue(
                    f"{here}.interlocks[{j}].point",
                    lock.point,
                    f"not a point of {asset.id}; known: {', '.join(sorted(asset.points))}",
                )
            )
    for field, table in (
        ("voltage_pu_per_kw", limits.voltage_pu_per_kw),
        ("voltage_pu_per_kvar", limits.voltage_pu_per_kvar),
    ):
        if table == "computed":
            if not has_network:
                issues.append(
                    ConfigIssue(
                        f"{here}.{field}",
                        table,
                        "needs feeder.network (the power flow it is computed from); "
                        "give the network or declare {bus: pu per unit} per bus",
                    )
                )
            continue
        for bus_id in table:
            if bus_id not in buses:
                known = ", ".join(sorted(buses)) or "none declared in safety.buses"
                issues.append(
                    ConfigIssue(f"{here}.{field}.{bus_id}", bus_id, f"unknown bus; known: {known}")
                )
    q = asset.points.get("q_setpoint_kvar")
    if q is not None and q.writable and limits.max_reactive_kvar is None:
        issues.append(
            ConfigIssue(
                f"{here}.max_reactive_kvar",
                "",
                "required when q_setpoint_kvar is writable: the gate needs the reactive range",
            )
        )
    ids = [w.id for w in limits.time_windows]
    for j, window in enumerate(limits.time_windows):
        if ids.count(window.id) > 1:
            issues.append(
                ConfigIssue(f"{here}.time_windows[{j}].id", window.id, "duplicate window id")
            )
    return issues


def openadr_issues(config: SiteConfig, base: Path | None = None) -> list[ConfigIssue]:
    """References to the rest of the site: temperature points, the DR agent, files."""
    oadr = config.openadr
    if oadr is None or not oadr.enabled:
        return []
    issues: list[ConfigIssue] = []
    if insecure(oadr) and not oadr.allow_insecure:
        issues.append(
            ConfigIssue(
                "openadr.allow_insecure",
                "false",
                "no vtn_fingerprint: the VTN's signatures are not checked and whoever answers "
                f"at {oadr.vtn_url} controls DR events; pin the VTN (https, tls, "
                "vtn_fingerprint) or set allow_insecure: true to accept that",
            )
        )
    if not config.agents.dr_events.enabled:
        issues.append(
            ConfigIssue(
                "agents.dr_events.enabled",
                "false",
                "openadr needs the DR agent to honour events: set agents.dr_events.enabled: true",
            )
        )
    for i, program in enumerate(oadr.programs):
        point = program.baseline.temperature_point
        if point is None:
            continue
        asset_id, _, role = point.partition(".")
        asset = next((a for a in config.assets if a.id == asset_id), None)
        if asset is None or role not in asset.points:
            issues.append(
                ConfigIssue(
                    f"openadr.programs[{i}].baseline.temperature_point",
                    point,
                    "no such point (asset.role) in assets",
                )
            )
    if oadr.tls is not None and base is not None:
        missing = False
        for name in ("ca_file", "cert", "key"):
            value = getattr(oadr.tls, name)
            if not (base / value).is_file():
                missing = True
                issues.append(
                    ConfigIssue(
                        f"openadr.tls.{name}",
                        value,
                        "no such file (relative paths: from the config's folder)",
                    )
                )
        if not missing:
            issues.extend(_tls_issues(oadr.tls, base))
    return issues


def _tls_issues(tls: OpenAdrTls, base: Path) -> list[ConfigIssue]:
    """The files load as the VEN will load them: the CA, the VEN's cert, its key."""
    issues: list[ConfigIssue] = []
    try:
        ssl.create_default_context().load_verify_locations(cafile=str(base / tls.ca_file))
    except (ssl.SSLError, ValueError, OSError) as err:
        issues.append(
            ConfigIssue("openadr.tls.ca_file", tls.ca_file, f"not a PEM CA certificate ({err})")
        )
    if "-----BEGIN CERTIFICATE-----" not in (base / tls.cert).read_text(errors="replace"):
        issues.append(ConfigIssue("openadr.tls.cert", tls.cert, "not a PEM certificate"))
        return issues
    try:
        ssl.create_default_context().load_cert_chain(str(base / tls.cert), str(base / tls.key))
    except (ssl.SSLError, ValueError, OSError) as err:
        issues.append(
            ConfigIssue(
                "openadr.tls.key", tls.key, f"not the PEM private key of {tls.cert} ({err})"
            )
        )
    return issues
