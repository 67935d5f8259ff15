"""Shadow runs on the demo feeder: same decision code, each side on its own simulated batteries."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from runtime.cli import main
from runtime.config.load import load_config, parse_config
from runtime.config.model import SiteConfig
from runtime.core.errors import ConfigError
from runtime.decide.candidates import UnknownCandidate, resolve_policy
from runtime.decide.step import DecisionContext
from runtime.demo.feeder import DEFAULT_CONFIG, SCENARIO_DIR
from runtime.shadow import ShadowInputs, from_scenario, run_shadow, run_side
from runtime.shadow.engine import ForecastModelError
from runtime.shadow.report import shadow_html
from simulator import load_scenario
from tests.runtime.shadow.conftest import site_config


def test_production_against_itself_differs_nowhere(
    demo_config: SiteConfig, evening_peak: ShadowInputs
) -> None:
    production = resolve_policy(demo_config, "production")
    result = run_shadow(demo_config, evening_peak, production, production)
    assert result.production.kpis.dispatches > 0  # the evening peak makes production act
    assert result.decisions_differ == 0
    assert result.production.kpis == result.candidate.kpis
    assert result.production.series.meter_kw == result.candidate.series.meter_kw


def test_a_lower_threshold_gives_a_lower_peak_and_more_dispatches(tmp_path: Path) -> None:
    path = site_config(
        tmp_path, threshold_kw=1200, candidates="    lower:\n      threshold_kw: 1100\n"
    )
    config = load_config(path)
    inputs = from_scenario(config, load_scenario("evening-peak", SCENARIO_DIR))
    result = run_shadow(
        config, inputs, resolve_policy(config, "production"), resolve_policy(config, "lower")
    )
    prod, cand = result.production.kpis, result.candidate.kpis
    assert cand.peak_kw < prod.peak_kw - 20
    assert cand.dispatches > prod.dispatches
    assert cand.energy_shifted_kwh > prod.energy_shifted_kwh
    assert result.decisions_differ > 0
    # the no-action load is the same on both sides: only the batteries differ
    assert max(inputs.uncontrolled_kw()) > prod.peak_kw


def test_cli_json_last_line_and_self_contained_report(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "out" / "shadow.html"
    code = main(
        [
            "shadow",
            "--scenario",
            "evening-peak",
            "--candidate",
            "low-threshold",
            "--report",
            str(report),
            "--json",
        ]
    )
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert set(summary) == {"production", "candidate", "decisions_differ"}
    for side in ("production", "candidate"):
        for kpi in (
            "peak_kw",
            "energy_shifted_kwh",
            "violations",
            "human_interventions",
            "cost",
            "dispatches",
        ):
            assert isinstance(summary[side][kpi], int | float)
    assert summary["candidate"]["policy"] == "low-threshold"
    assert summary["decisions_differ"] > 0
    html = report.read_text(encoding="utf-8")
    assert html.count('src="data:image/png;base64,') >= 1
    assert "<table id=kpis>" in html and "<table id=differences>" in html
    assert "http://" not in html and "https://" not in html  # nothing fetched when opened


def test_cli_production_reports_zero_differences(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    report = tmp_path / "same.html"
    argv = ["shadow", "--scenario", "cloud-transient", "--candidate", "production"]
    assert main([*argv, "--report", str(report), "--json"]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["decisions_differ"] == 0
    assert {k: v for k, v in summary["production"].items()} == summary["candidate"]
    assert "id=no-differences" in report.read_text(encoding="utf-8")


def test_unknown_candidate_exits_2_naming_the_known_ones(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["shadow", "--scenario", "evening-peak", "--candidate", "nope", "--json"])
    assert code == 2
    err = capsys.readouterr().err
    assert "nope" in err
    for name in ("production", "low-threshold", "seasonal-forecast"):
        assert name in err
    with pytest.raises(UnknownCandidate):
        resolve_policy(load_config(DEFAULT_CONFIG), "nope")


def test_report_degrades_without_matplotlib(
    demo_config: SiteConfig, evening_peak: ShadowInputs, monkeypatch: pytest.MonkeyPatch
) -> None:
    production = resolve_policy(demo_config, "production")
    result = run_shadow(demo_config, evening_peak, production, production)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import matplotlib -> ImportError
    html = shadow_html(result)
    assert "data:image/png" not in html
    assert "plots need matplotlib" in html and "<table id=kpis>" in html


def test_seasonal_forecast_candidate_uses_yesterday(
    demo_config: SiteConfig, evening_peak: ShadowInputs
) -> None:
    candidate = resolve_policy(demo_config, "seasonal-forecast")
    assert candidate.forecast == "seasonal_naive"
    assert candidate.peak_shaving == demo_config.policy.peak_shaving
    result = run_shadow(
        demo_config, evening_peak, resolve_policy(demo_config, "production"), candidate
    )
    assert result.candidate.forecast_fallbacks == 0  # the scenario's day before covers all
    assert result.candidate.forecast_model == "seasonal naive (same time yesterday) v1"
    assert result.candidate.kpis.proposals > 0


def test_candidate_config_is_validated() -> None:
    text = DEFAULT_CONFIG.read_text(encoding="utf-8")
    bad = text.replace("    low-threshold:\n", "    production:\n", 1)
    with pytest.raises(ConfigError, match=r"policy\.candidates\.production"):
        parse_config(bad)
    bad = text.replace(
        "      threshold_kw: 1000\n", "      threshold_kw: 1000\n      battery: pv1\n", 1
    )
    with pytest.raises(ConfigError, match=r"policy.candidates.low-threshold.battery = pv1"):
        parse_config(bad)
    bad = text.replace("      threshold_kw: 1000\n", "      threshold_kw: -5\n", 1)
    with pytest.raises(ConfigError, match=r"threshold_kw = -5: must be > 0"):
        parse_config(bad)


def test_onnx_forecast_candidate_runs_the_versioned_model(
    demo_config: SiteConfig, evening_peak: ShadowInputs
) -> None:
    pytest.importorskip("onnxruntime")
    candidate = resolve_policy(demo_config, "onnx-forecast")
    ctx = DecisionContext.from_config(demo_config)
    side = run_side(demo_config, ctx, evening_peak, candidate)
    assert side.forecast_model == "onnx short-term forecaster 2.0.0 (int8)"
    assert side.forecast_fallbacks == 0  # the day before the scenario fills the lookback
    assert side.kpis.proposals > 0
    checked = [d.validation for ds in side.decisions.values() for d in ds if d.validation]
    assert checked and all(v.steps == 3 for v in checked)


def test_a_pinned_model_version_that_is_not_installed_is_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    pytest.importorskip("onnxruntime")
    candidates = '    next-model:\n      forecast: onnx\n      model_version: "9.9.9"\n'
    path = site_config(tmp_path, threshold_kw=1100, candidates=candidates)
    argv = ["shadow", "--scenario", "evening-peak", "--candidate", "next-model"]
    assert main([*argv, "--config", str(path), "--report", str(tmp_path / "r.html")]) == 2
    err = capsys.readouterr().err
    assert "policy.candidates.next-model.model_version = 9.9.9" in err and "2.0.0" in err
    with pytest.raises(ForecastModelError):
        config = load_config(path)
        run_side(
            config,
            DecisionContext.from_config(config, with_grid=False),
            from_scenario(config, load_scenario("evening-peak", SCENARIO_DIR)),
            resolve_policy(config, "next-model"),
        )
