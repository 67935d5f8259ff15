"""The validation report: what an operator needs to approve or refuse a plan.

Violations carry when (first and last step), where (bus, branch or device), how
bad (worst value against its limit) and a sentence; KPIs are given for the plan
and for the no-action baseline side by side. ``plot_png`` draws both.
"""

from __future__ import annotations

import io
from dataclasses import asdict, dataclass
from datetime import datetime, timedelta
from typing import Any


@dataclass(frozen=True, slots=True, kw_only=True)
class GridViolation:
    # voltage_low | voltage_high | thermal | soc_low | soc_high | limit | powerflow
    # | unknown_asset | unsupported | deenergized
    kind: str
    element: str  # bus, branch or device id
    start: datetime
    end: datetime  # start of the last violating step
    steps: int
    worst: float
    limit: float
    unit: str
    message: str

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["start"] = self.start.isoformat()
        out["end"] = self.end.isoformat()
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Kpis:
    peak_import_kw: float
    peak_at: datetime
    energy_import_kwh: float
    losses_kwh: float
    vmin_pu: float
    vmin_bus: str
    vmax_pu: float
    vmax_bus: str
    max_loading_pct: float | None
    max_loading_branch: str | None
    energy_shifted_kwh: float  # battery discharge plus curtailed demand
    pv_curtailed_kwh: float

    def as_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["peak_at"] = self.peak_at.isoformat()
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    """Per-step curves for plots and for a console."""

    times: tuple[datetime, ...]
    import_kw: tuple[float, ...]
    vmin_pu: tuple[float, ...]
    max_loading_pct: tuple[float, ...]  # the most loaded rated branch; NaN if none is rated
    soc_pct: dict[str, tuple[float, ...]]


@dataclass(frozen=True, slots=True, kw_only=True)
class GridReport:
    network: str
    start: datetime
    step_s: float
    steps: int
    seed: int
    plan_keys: tuple[str, ...]
    converged: bool  # every step of plan and baseline
    violations: tuple[GridViolation, ...]
    baseline_violations: tuple[GridViolation, ...]
    plan: Kpis
    baseline: Kpis
    plan_series: Series
    baseline_series: Series
    vmin_limit_pu: float
    vmax_limit_pu: float
    deenergized_buses: tuple[str, ...] = ()  # islanded by out-of-service branches

    @property
    def ok(self) -> bool:
        """Safe to dispatch: every step converged and the plan violates nothing."""
        return self.converged and not self.violations

    def worsened(self) -> tuple[GridViolation, ...]:
        """Plan violations the no-action baseline does not have, or has less badly."""
        base = {(v.kind, v.element): v for v in self.baseline_violations}
        out = []
        for v in self.violations:
            b = base.get((v.kind, v.element))
            if b is None or _worse(v, b):
                out.append(v)
        return tuple(out)

    def summary(self) -> str:
        if not self.converged:
            first = next((v for v in self.violations if v.kind == "powerflow"), None)
            return "NOT SAFE: " + (first.message if first else "power flow did not converge")
        dark = (
            f"; de-energized: {', '.join(self.deenergized_buses)}" if self.deenergized_buses else ""
        )
        if self.ok:
            return (
                f"no violations over {self.steps} steps; peak {self.plan.peak_import_kw:.0f} kW "
                f"(baseline {self.baseline.peak_import_kw:.0f} kW), vmin "
                f"{self.plan.vmin_pu:.3f} pu at {self.plan.vmin_bus}{dark}"
            )
        more = f" (+{len(self.violations) - 3} more)" if len(self.violations) > 3 else ""
        return "; ".join(v.message for v in self.violations[:3]) + more + dark

    def as_json(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "converged": self.converged,
            "summary": self.summary(),
            "network": self.network,
            "start": self.start.isoformat(),
            "step_s": self.step_s,
            "steps": self.steps,
            "seed": self.seed,
            "plan_keys": list(self.plan_keys),
            "deenergized_buses": list(self.deenergized_buses),
            "violations": [v.as_json() for v in self.violations],
            "worsened": [v.as_json() for v in self.worsened()],
            "baseline_violations": [v.as_json() for v in self.baseline_violations],
            "kpis": {"plan": self.plan.as_json(), "baseline": self.baseline.as_json()},
        }


def _worse(v: GridViolation, b: GridViolation) -> bool:
    low = v.kind in ("voltage_low", "soc_low") or (v.kind == "limit" and v.worst < v.limit)
    return v.worst < b.worst - 1e-9 if low else v.worst > b.worst + 1e-9


def plot_png(report: GridReport) -> bytes:
    """Substation import, minimum voltage and SoC, plan against baseline, as a PNG.

    Needs matplotlib (the ``plots`` extra); raises ``RuntimeError`` saying so if absent.
    """
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError as err:
        raise RuntimeError(
            "plots need matplotlib: pip install 'gridaios[plots]'; the report itself is complete"
        ) from err
    fig = Figure(figsize=(9, 9), dpi=80)
    axes = fig.subplots(4, 1, sharex=True)
    t = report.plan_series.times
    axes[0].plot(t, report.baseline_series.import_kw, label="no action", color="0.5")
    axes[0].plot(t, report.plan_series.import_kw, label="plan", color="tab:blue")
    axes[0].set_ylabel("import kW")
    axes[0].legend(loc="upper left")
    axes[1].plot(t, report.baseline_series.vmin_pu, color="0.5")
    axes[1].plot(t, report.plan_series.vmin_pu, color="tab:blue")
    axes[1].axhline(report.vmin_limit_pu, color="tab:red", linestyle="--", linewidth=1)
    axes[1].set_ylabel("min voltage pu")
    axes[2].plot(t, report.baseline_series.max_loading_pct, color="0.5")
    axes[2].plot(t, report.plan_series.max_loading_pct, color="tab:blue")
    axes[2].axhline(100.0, color="tab:red", linestyle="--", linewidth=1)
    axes[2].set_ylabel("max loading %")
    for battery, soc in report.plan_series.soc_pct.items():
        axes[3].plot(t, soc, label=battery)
    if report.plan_series.soc_pct:
        axes[3].legend(loc="upper left")
    axes[3].set_ylabel("SoC %")
    step = timedelta(seconds=report.step_s)
    for v in report.violations:
        for ax in axes:
            ax.axvspan(v.start, v.end + step, color="tab:red", alpha=0.15)
    verdict = "OK" if report.ok else f"{len(report.violations)} violation(s)"
    fig.suptitle(f"{report.network}: plan validation ({verdict})")
    fig.autofmt_xdate()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
