"""Which policy decides: production's, or a candidate of ``policy.candidates`` laid over it.

Shadow runs, canaries and the conductor (a promoted canary) resolve a name to an
``ActivePolicy``: the peak-shaving parameters and the twin's forecast model.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from runtime.config.model import PeakShavingConfig, SiteConfig
from runtime.core.errors import GridaiosError

PRODUCTION = "production"
PRODUCTION_MODELS = {"policy": "peak_shaving rule v1", "forecast": "persistence (current load)"}
FORECAST_MODELS = {
    "persistence": "persistence (current load)",
    "seasonal_naive": "seasonal naive (same time yesterday) v1",
    "onnx": "onnx short-term forecaster (forecasting/models/forecaster.int8.onnx)",
}


class UnknownCandidate(GridaiosError):
    """A candidate name the config does not declare: fix the name (the known ones are listed)."""

    def __init__(self, name: str, known: Sequence[str]) -> None:
        self.name = name
        self.known = list(known)
        super().__init__(
            f"--candidate {name}: unknown candidate; known: {', '.join(self.known)} "
            "(declare more under policy.candidates in the site config)"
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class ActivePolicy:
    """What decides on one side: the peak-shaving parameters and the twin's forecast model."""

    name: str
    peak_shaving: PeakShavingConfig
    forecast: str = "persistence"
    model_version: str | None = None
    models: Mapping[str, str] = field(default_factory=lambda: dict(PRODUCTION_MODELS))


def known_policies(config: SiteConfig) -> list[str]:
    return [PRODUCTION, *sorted(config.policy.candidates)]


def resolve_policy(
    config: SiteConfig, name: str, *, base: ActivePolicy | None = None
) -> ActivePolicy:
    """``production`` or a candidate of ``policy.candidates`` laid over production's values."""
    production = base or ActivePolicy(name=PRODUCTION, peak_shaving=config.policy.peak_shaving)
    if name == PRODUCTION:
        return production
    candidate = config.policy.candidates.get(name)
    if candidate is None:
        raise UnknownCandidate(name, known_policies(config))
    overrides = {
        k: v
        for k, v in candidate.model_dump(
            include={"battery", "threshold_kw", "cadence_s", "deadband_kw", "command_duration_s"}
        ).items()
        if v is not None
    }
    forecast = candidate.forecast or production.forecast
    version = f" {candidate.model_version}" if candidate.model_version else ""
    return ActivePolicy(
        name=name,
        peak_shaving=production.peak_shaving.model_copy(update=overrides),
        forecast=forecast,
        model_version=candidate.model_version,
        models={
            "policy": f"peak_shaving rule v1 ({name}{version})",
            "forecast": FORECAST_MODELS[forecast],
        },
    )
