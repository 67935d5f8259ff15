"""The devices part of a site config alone: what probe needs to reach every point.

A site that only monitors (no battery to shave peaks with, no policy, no approvals yet)
can still be probed: only ``sources`` and ``assets`` (their points) are validated here,
with the same messages as check-config; the rest of the file is ignored.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from runtime.config import guard as config_guard
from runtime.config.checks import node_id_issues, wire_point_issues
from runtime.config.load import _issue, _read_yaml
from runtime.config.model import (
    Asset,
    FeederConfig,
    PolicyConfig,
    SiteConfig,
    SiteInfo,
    Source,
)
from runtime.core.errors import ConfigError, ConfigIssue


class _Devices(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    site: SiteInfo = SiteInfo(id="site")
    sources: list[Source] = Field(min_length=1)
    assets: list[Asset] = Field(min_length=1)


def load_devices(path: str | Path) -> SiteConfig:
    """Sources and assets, validated; a SiteConfig whose other sections are not checked
    (placeholders: use it to reach devices, never to decide)."""
    file = str(path)
    try:
        text = config_guard.decode(Path(path).read_bytes(), file)
    except OSError as err:
        raise ConfigError(
            file, [ConfigIssue("(file)", "", f"cannot read: {err.strerror}")]
        ) from err
    raw = _read_yaml(text, file)
    try:
        devices = _Devices.model_validate(raw)
    except ValidationError as err:
        raise ConfigError(file, [_issue(e, raw) for e in err.errors()]) from err
    known = {s.id for s in devices.sources}
    issues = [
        ConfigIssue(f"assets[{i}].points.{role}.source", point.source, f"no source {point.source}")
        for i, asset in enumerate(devices.assets)
        for role, point in asset.points.items()
        if point.source not in known
    ]
    # not validated on purpose: the sections a device check does not need stay empty
    empty: dict[str, Any] = {}
    placeholders: dict[str, Any] = {
        "feeder": FeederConfig.model_construct(**empty),
        "policy": PolicyConfig.model_construct(**empty),
    }
    config = SiteConfig.model_construct(
        site=devices.site, sources=devices.sources, assets=devices.assets, **placeholders
    )
    issues += node_id_issues(config) + wire_point_issues(config)
    if issues:
        raise ConfigError(file, issues)
    return config
