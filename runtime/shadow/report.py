"""Self-contained HTML reports: PNG plots embedded as base64, a KPI table, a difference table.

Plots need matplotlib (the ``plots`` extra, as ``simulator.report.plot_png``);
without it the report is complete apart from the figures and says so in their place.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from runtime.decide.step import Decision
from runtime.shadow.engine import ShadowResult
from runtime.shadow.kpis import Kpis

REPORTS_DIR = Path("var/gridaios/shadow")  # where reports go by default (the API lists it)
NO_PLOTS = "plots need matplotlib: pip install 'gridaios[plots]'; the tables below are complete"

KPI_ROWS: tuple[tuple[str, str], ...] = (
    ("peak_kw", "feeder peak (kW)"),
    ("energy_shifted_kwh", "energy shifted by storage (kWh)"),
    ("violations", "violations (total)"),
    ("gate_rejections", "  gate rejections"),
    ("validation_blocks", "  blocked by simulator / power flow"),
    ("field_violations", "  field limit episodes"),
    ("human_interventions", "human interventions (approvals needed)"),
    ("cost", "energy cost"),
    ("dispatches", "dispatches applied"),
    ("proposals", "proposals"),
    ("lost_commands", "commands lost (link down / device offline)"),
)

STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #bbb;padding:4px 10px}
th{background:#eee;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
tr.differ td{background:#fff4e0}.note{color:#a33}img{max-width:100%}
"""


def figure_png(draw: Callable[[Any], None], rows: int) -> str | None:
    """Draw on a fresh Agg figure and return it as base64 PNG, or None without matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        from matplotlib.figure import Figure
    except ImportError:
        return None
    fig = Figure(figsize=(10, 2.6 * rows), dpi=80)
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    draw(axes)
    fig.autofmt_xdate()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _times(start: datetime, step_s: float, n: int) -> list[datetime]:
    return [start + timedelta(seconds=i * step_s) for i in range(n)]


def shadow_plot(result: ShadowResult) -> str | None:
    inputs = result.inputs
    n = inputs.n
    t = _times(inputs.start, inputs.step_s, n)
    prod, cand = result.production, result.candidate

    def draw(axes: Any) -> None:
        axes[0].plot(t, inputs.uncontrolled_kw()[:n], color="0.6", label="no action")
        axes[0].plot(
            t, prod.series.meter_kw[:n], color="tab:blue", label=f"production ({prod.policy.name})"
        )
        axes[0].plot(
            t,
            cand.series.meter_kw[:n],
            color="tab:orange",
            label=f"candidate ({cand.policy.name})",
            linestyle="--",
        )
        for side, color in ((prod, "tab:blue"), (cand, "tab:orange")):
            axes[0].axhline(
                side.policy.peak_shaving.threshold_kw, color=color, linewidth=0.8, linestyle=":"
            )
        axes[0].set_ylabel("feeder load kW")
        axes[0].legend(loc="upper left")
        for side, color, style in ((prod, "tab:blue", "-"), (cand, "tab:orange", "--")):
            for battery, values in side.series.setpoint_kw.items():
                axes[1].step(
                    t,
                    values[:n],
                    where="post",
                    color=color,
                    linestyle=style,
                    label=f"{side.policy.name} {battery}",
                )
                axes[2].plot(
                    t,
                    side.series.soc_pct[battery][:n],
                    color=color,
                    linestyle=style,
                    label=f"{side.policy.name} {battery}",
                )
        axes[1].set_ylabel("battery setpoint kW")
        axes[1].legend(loc="upper left")
        axes[2].set_ylabel("SoC %")
        for d in result.differences:
            axes[1].axvline(d.at, color="tab:red", alpha=0.25, linewidth=1)

    return figure_png(draw, 3)


def kpi_table(production: Kpis, candidate: Kpis, names: tuple[str, str]) -> str:
    a, b = production.as_json(), candidate.as_json()
    rows = [
        f"<tr><th>KPI</th><th>production ({esc(names[0])})</th>"
        f"<th>candidate ({esc(names[1])})</th><th>difference</th></tr>"
    ]
    for key, label in KPI_ROWS:
        label = label if key != "cost" else f"{label} ({esc(production.currency)})"
        delta = b[key] - a[key]
        rows.append(
            f"<tr><td>{esc(label)}</td><td class=num>{_num(a[key])}</td>"
            f"<td class=num>{_num(b[key])}</td><td class=num>{_num(delta, signed=True)}</td></tr>"
        )
    return "<table id=kpis>" + "".join(rows) + "</table>"


def difference_table(rows: Sequence[tuple[datetime, str, str]], *, limit: int = 500) -> str:
    if not rows:
        return (
            "<p id=no-differences>No decision differs: both sides proposed and decided "
            "the same at every instant.</p>"
        )
    out = [
        "<table id=differences><tr><th>time (UTC)</th><th>production</th><th>candidate</th></tr>"
    ]
    for at, ours, theirs in rows[:limit]:
        out.append(
            f"<tr class=differ><td>{at:%Y-%m-%d %H:%M}</td>"
            f"<td>{esc(ours)}</td><td>{esc(theirs)}</td></tr>"
        )
    out.append("</table>")
    if len(rows) > limit:
        out.append(f"<p>{len(rows) - limit} more differences not shown.</p>")
    return "".join(out)


def describe(signatures: Sequence[tuple[object, ...]], tiers: Sequence[str] = ()) -> str:
    """``bat1 190 kW by peak_forecast -> Clamped 150 kW (needs_approval, one_operator)``;
    ``no proposal`` when empty. ``tiers``: the agent tier behind each proposal, in the same
    order. A signature is ``Decision.signature()``."""
    if not signatures:
        return "no proposal"
    parts = []
    for i, (asset, proposed, verdict, value, outcome, rule, _kw) in enumerate(signatures):
        after = f" {float(value):g} kW" if isinstance(value, int | float) else ""
        by = f" by {tiers[i]}" if i < len(tiers) else ""
        why = f"{outcome}, {rule}" if rule is not None and outcome != "auto" else f"{outcome}"
        parts.append(f"{asset} {float(proposed):g} kW{by} -> {verdict}{after} ({why})")  # type: ignore[arg-type]
    return "; ".join(parts)


def proposals_table(result: ShadowResult, *, limit: int = 500) -> str:
    """Every proposal of both sides: when, which agent tier made it, what became of it."""
    rows: list[tuple[datetime, str, Decision]] = [
        (at, side.policy.name, d)
        for side in (result.production, result.candidate)
        for at, ds in side.decisions.items()
        for d in ds
    ]
    if not rows:
        return "<p id=no-proposals>Neither side proposed anything.</p>"
    rows.sort(key=lambda r: (r[0], r[1] != result.production.policy.name))
    tiers: dict[tuple[str, str], int] = {}
    for _, name, d in rows:
        tiers[(name, d.tier)] = tiers.get((name, d.tier), 0) + 1
    counts = "".join(
        f"<tr><td>{esc(name)}</td><td>{esc(tier)}</td><td class=num>{n:,d}</td></tr>"
        for (name, tier), n in sorted(tiers.items())
    )
    out = [
        "<table id=tiers><tr><th>side</th><th>decided by (agent tier)</th>"
        f"<th>proposals</th></tr>{counts}</table>",
        "<details><summary>every proposal</summary><table id=proposals><tr><th>time (UTC)</th>"
        "<th>side</th><th>agent</th><th>tier</th><th>proposal</th><th>rationale</th></tr>",
    ]
    for at, name, d in rows[:limit]:
        out.append(
            f"<tr><td>{at:%Y-%m-%d %H:%M}</td><td>{esc(name)}</td><td>{esc(d.agent)}</td>"
            f"<td>{esc(d.tier)}</td><td>{esc(describe([d.signature()]))}</td>"
            f"<td>{esc(d.proposal.rationale)}</td></tr>"
        )
    out.append("</table></details>")
    if len(rows) > limit:
        out.append(f"<p>{len(rows) - limit} more proposals not shown.</p>")
    return "".join(out)


def page(title: str, sections: Sequence[str]) -> str:
    return (
        "<!doctype html><html><head><meta charset=utf-8>"
        f"<title>{esc(title)}</title><style>{STYLE}</style></head><body>"
        f"<h1>{esc(title)}</h1>" + "".join(sections) + "</body></html>"
    )


def image(png_b64: str | None, alt: str) -> str:
    if png_b64 is None:
        return f"<p class=note id=no-plots>{esc(NO_PLOTS)}</p>"
    return f'<img alt="{esc(alt)}" src="data:image/png;base64,{png_b64}">'


def shadow_html(result: ShadowResult, *, spread_rows: Sequence[Any] = ()) -> str:
    prod, cand = result.production, result.candidate
    intro = (
        f"<p>Inputs: {esc(result.inputs.label)}, {result.inputs.n} steps of "
        f"{result.inputs.step_s:g} s. Production: <b>{esc(prod.policy.name)}</b> "
        f"({esc(_models(prod.policy.models))}); candidate: "
        f"<b>{esc(cand.policy.name)}</b> ({esc(_models(cand.policy.models))}). "
        f"Both sides propose through the conductor's agents (DR events; peak shaving: forecast "
        f"tier, then the rule policy when unsure) and run its decision step (gate, twin "
        f"validation, power flow, approval rule) on their own simulated batteries; decisions "
        f"needing an operator are counted and treated as approved.</p>"
        f"<p><b>decisions differ at {result.decisions_differ} instant(s)</b> "
        f"({prod.cycles} production cycles, {cand.cycles} candidate cycles).</p>"
    )
    rows = [
        (d.at, describe(d.production, d.production_tiers), describe(d.candidate, d.candidate_tiers))
        for d in result.differences
    ]
    return page(
        f"gridaios shadow run: {prod.policy.name} vs {cand.policy.name} on {result.inputs.label}",
        [
            intro,
            verdict_section(result),
            spread_section(spread_rows),
            "<h2>Feeder load, battery setpoints and SoC</h2>",
            image(shadow_plot(result), "feeder load, setpoints and SoC, production vs candidate"),
            "<h2>KPIs</h2>",
            kpi_table(prod.kpis, cand.kpis, (prod.policy.name, cand.policy.name)),
            "<h2>Decisions that differ</h2>",
            difference_table(rows),
            "<h2>Proposals and the agent tier that decided them</h2>",
            proposals_table(result),
        ],
    )


def verdict_section(result: ShadowResult) -> str:
    """The verdict per KPI (better / worse / equal, with the size) and which forecast tier
    each side ran on: KPIs differ between installs with and without the forecast extras."""
    from runtime.shadow.verdict import fmt, overall, verdicts

    summary = result.as_json()
    prod, cand = summary["production"], summary["candidate"]
    assert isinstance(prod, dict) and isinstance(cand, dict)
    items = verdicts(prod, cand)
    rows = "".join(
        f"<tr class={v.verdict}><td>{esc(v.label)}</td><td class=num>{fmt(v.production)}</td>"
        f"<td class=num>{fmt(v.candidate)}</td>"
        f"<td class=num>{'+' if v.difference > 0 else ''}{fmt(v.difference)}</td>"
        f"<td>{esc(v.verdict)}</td></tr>"
        for v in items
    )
    return (
        f"<h2>Verdict</h2><p id=verdict><b>{esc(overall(items))}</b>.</p>"
        f"<p id=forecast-tier>Forecast tier: production {esc(prod.get('forecast'))}; "
        f"candidate {esc(cand.get('forecast'))}. (Without the forecast extras the rule tier "
        f"decides and the KPIs differ from an install with them.)</p>"
        "<table id=verdicts><tr><th>KPI</th><th>production</th><th>candidate</th>"
        f"<th>difference</th><th>verdict</th></tr>{rows}</table>"
    )


def spread_section(rows: Sequence[Any]) -> str:
    """KPIs over several seeds: mean (min..max) per side and how often the candidate won."""
    if not rows:
        return ""
    from runtime.shadow.verdict import fmt_stats

    body = "".join(
        f"<tr><td>{esc(r.label)}</td><td class=num>{esc(fmt_stats(r.production))}</td>"
        f"<td class=num>{esc(fmt_stats(r.candidate))}</td>"
        f"<td class=num>{esc(fmt_stats(r.difference))}</td><td>{esc(r.verdict())}</td></tr>"
        for r in rows
    )
    return (
        f"<h2>Spread over {rows[0].runs} seeds</h2><p>Mean (min..max) of each KPI over the "
        "scenario run with different random seeds; the plots and tables below are the first "
        "seed's.</p><table id=spread><tr><th>KPI</th><th>production</th><th>candidate</th>"
        f"<th>difference</th><th>verdict</th></tr>{body}</table>"
    )


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)  # readers (the API) never see a half-written report
    return path


def _models(models: Mapping[str, str]) -> str:
    return ", ".join(f"{k}: {v}" for k, v in models.items())


def esc(text: object) -> str:
    return html.escape(str(text))


def _num(value: Any, *, signed: bool = False) -> str:
    if isinstance(value, float) and not value.is_integer():
        return f"{value:+,.2f}" if signed else f"{value:,.2f}"
    return f"{int(value):+,d}" if signed else f"{int(value):,d}"
