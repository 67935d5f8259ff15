import json
from pathlib import Path

import polars as pl
import pytest

from forecasting.synth import make_frame
from runtime.cli import main

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fc") / "history.parquet"
    make_frame(3, 10, seed=11).write_parquet(path)
    return path


def test_backtest_json_last_line(history: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(
        [
            "forecast",
            "backtest",
            "--data",
            str(history),
            "--horizon",
            "24h",
            "--windows",
            "1",
            "--json",
        ]
    )
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    result = json.loads(last)
    assert set(result) == {"models", "baseline", "best"}
    assert result["baseline"] == "SeasonalNaive"
    names = {m["name"] for m in result["models"]}
    assert result["best"] in names
    for m in result["models"]:
        assert set(m) == {"name", "mase", "smape", "coverage_80", "seconds"}


def test_backtest_bad_input_is_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "bad.parquet"
    pl.DataFrame({"id": ["a"], "t": [1], "y": [1.0]}).write_parquet(bad)
    assert main(["forecast", "backtest", "--data", str(bad), "--horizon", "4"]) == 2
    assert "lacks column(s) unique_id, ds" in capsys.readouterr().err
    assert (
        main(["forecast", "backtest", "--data", str(tmp_path / "nope.parquet"), "--horizon", "4"])
        == 2
    )
    assert "cannot read" in capsys.readouterr().err


def test_run_uses_site_config_and_reuses_selection(
    history: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    site = (REPO / "configs" / "demo-feeder.yaml").read_text(encoding="utf-8")
    # the copy lives elsewhere: point its network at the repo's file
    site = site.replace("network: networks/", f"network: {REPO / 'configs' / 'networks'}/")
    config = tmp_path / "site.yaml"
    config.write_text(
        site + f"\nforecast:\n  history: {history}\n  output: out/fc.parquet\n  horizon_h: 12\n"
        "  backtest_windows: 1\n  n_jobs: 1\n",
        encoding="utf-8",
    )
    assert main(["forecast", "run", "--config", str(config), "--json"]) == 0
    out = capsys.readouterr().out
    assert "models re-selected" in out
    meta = json.loads(out.strip().splitlines()[-1])
    assert set(meta) == {"pv_000", "load_001", "load_002"}
    fc = pl.read_parquet(tmp_path / "out" / "fc.parquet")
    assert fc.height == 3 * 48
    assert main(["forecast", "run", "--config", str(config)]) == 0
    assert "selection from" in capsys.readouterr().out


def test_run_without_forecast_section_is_refused(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["forecast", "run", "--config", str(REPO / "configs" / "demo-feeder.yaml")]) == 2
    assert "no forecast: section" in capsys.readouterr().err


def test_run_reads_the_runtime_historian(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Minute telemetry in the historian -> 15-minute slot means -> a forecast per point."""
    from datetime import UTC, datetime, timedelta

    from runtime.ingest.historian import Historian

    now = datetime.now(UTC).replace(second=0, microsecond=0)
    start = now - timedelta(days=9)
    minutes = make_frame(2, 9, freq_min=1, seed=5, start=start)
    historian = Historian(tmp_path / "historian")
    for uid, ts, y in minutes.iter_rows():
        historian.add(f"feeder.{uid}", ts, y)
    historian.add("feeder.load_001", now - timedelta(minutes=3), float("nan"), "bad")
    historian.close()
    site = (REPO / "configs" / "demo-feeder.yaml").read_text(encoding="utf-8")
    site = site.replace("network: networks/", f"network: {REPO / 'configs' / 'networks'}/")
    config = tmp_path / "site.yaml"
    config.write_text(
        site + "\nforecast:\n  history: historian\n  history_days: 8\n  output: fc.parquet\n"
        "  horizon_h: 6\n  backtest_windows: 1\n  n_jobs: 1\n",
        encoding="utf-8",
    )
    assert main(["forecast", "run", "--config", str(config), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert set(meta) == {"feeder.load_000", "feeder.load_001"}
    fc = pl.read_parquet(tmp_path / "fc.parquet")
    assert fc.height == 2 * 24 and fc["yhat"].is_finite().all()
    assert (fc["ds"].dt.minute() % 15 == 0).all()

    empty = tmp_path / "empty.yaml"
    empty.write_text(config.read_text().replace("history: historian", "history: nothing"))
    (tmp_path / "nothing").mkdir()
    assert main(["forecast", "run", "--config", str(empty)]) == 2
    assert "no good samples in the last 8 days" in capsys.readouterr().err


def test_run_with_site_calendar_and_bad_calendar(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """forecast.calendar enables the DayType model; a bad country is one clear line."""
    path = tmp_path / "history.parquet"
    make_frame(2, 24, seed=12).write_parquet(path)
    site = (REPO / "configs" / "demo-feeder.yaml").read_text(encoding="utf-8")
    site = site.replace("network: networks/", f"network: {REPO / 'configs' / 'networks'}/")
    section = (
        f"\nforecast:\n  history: {path}\n  output: fc.parquet\n  backtest_windows: 1\n"
        "  n_jobs: 1\n  calendar:\n    country: {country}\n    tz: Europe/Berlin\n"
    )
    config = tmp_path / "site.yaml"
    config.write_text(site + section.replace("{country}", "DE"), encoding="utf-8")
    assert main(["forecast", "run", "--config", str(config), "--json"]) == 0
    meta = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert all("DayType" in m["backtest_mase"] for m in meta.values()), meta
    config.write_text(site + section.replace("{country}", "QQ"), encoding="utf-8")
    assert main(["forecast", "run", "--config", str(config)]) == 2
    err = capsys.readouterr().err.strip()
    assert "calendar country 'QQ'" in err and len(err.splitlines()) == 1
    assert "Traceback" not in err
