"""Hierarchy messages on MQTT (JSON, ``"v": 1``): topics and the pydantic payloads.

``gridaios/v1/<site>/summary``            conductor -> controller, each cycle
``gridaios/v1/<site>/cap``                controller -> conductor, each allocation
``gridaios/v1/<site>/policy``             controller -> conductor, retained
``gridaios/v1/<site>/conductor/status``   conductor online/offline (retained, last will)
``gridaios/v1/controller/heartbeat``      controller online/offline (retained, last will)
"""

from __future__ import annotations

from typing import Literal, TypeVar

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, ValidationError

ROOT = "gridaios/v1"
HEARTBEAT_TOPIC = f"{ROOT}/controller/heartbeat"
SUMMARY_FILTER = f"{ROOT}/+/summary"
STATUS_FILTER = f"{ROOT}/+/conductor/status"


def summary_topic(site: str) -> str:
    return f"{ROOT}/{site}/summary"


def cap_topic(site: str) -> str:
    return f"{ROOT}/{site}/cap"


def policy_topic(site: str) -> str:
    return f"{ROOT}/{site}/policy"


def status_topic(site: str) -> str:
    return f"{ROOT}/{site}/conductor/status"


def site_of(topic: str) -> str | None:
    """``gridaios/v1/<site>/...`` -> ``<site>``."""
    parts = topic.split("/")
    return parts[2] if len(parts) >= 4 and f"{parts[0]}/{parts[1]}" == ROOT else None


class _Wire(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    def encode(self) -> bytes:
        return self.model_dump_json().encode()


class SiteSummary(_Wire):
    """What a conductor tells the controller about its site, once per decision cycle."""

    v: Literal[1] = 1
    site: str = Field(min_length=1)
    ts: AwareDatetime
    seq: int = Field(ge=0)
    load_kw: float = Field(description="demand without storage: metered import + discharge")
    net_kw: float = Field(description="metered import at the site's meter")
    flexible_kw: float = Field(ge=0, description="how far storage can lower the import now")
    soc_pct: float | None = None
    health: Literal["ok", "degraded"]
    mode: Literal["starting", "coordinated", "local"]
    cap_kw: float | None = None
    threshold_kw: float
    policy: str
    models: dict[str, str] = Field(default_factory=dict)


class Cap(_Wire):
    """A site's import cap from the controller: obeyed only while fresh."""

    v: Literal[1] = 1
    cap_kw: float
    valid_until: AwareDatetime
    issued_at: AwareDatetime
    seq: int = Field(ge=0)
    controller: str = Field(min_length=1)


class PolicyPush(_Wire):
    v: Literal[1] = 1
    policy: str = Field(min_length=1)
    params: dict[str, float] = Field(default_factory=dict)
    models: dict[str, str] = Field(default_factory=dict)


class Heartbeat(_Wire):
    """The controller's liveness; its last will is the same message with ``offline``."""

    v: Literal[1] = 1
    controller: str = Field(min_length=1)
    state: Literal["online", "offline"]
    seq: int = Field(ge=0)
    ts: AwareDatetime


class Status(_Wire):
    v: Literal[1] = 1
    state: Literal["online", "offline"]
    ts: AwareDatetime


M = TypeVar("M", bound=_Wire)


def decode(model: type[M], payload: bytes) -> M | str:
    """The payload as ``model``, or a one-line reason it is refused (never raises)."""
    try:
        return model.model_validate_json(payload)
    except ValidationError as err:
        first = err.errors()[0]
        where = ".".join(str(p) for p in first["loc"]) or "(payload)"
        more = f" (+{err.error_count() - 1} more)" if err.error_count() > 1 else ""
        return f"{model.__name__} v1: {where}: {first['msg']}{more}"
