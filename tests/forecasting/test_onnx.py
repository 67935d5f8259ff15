from pathlib import Path

import numpy as np
import pytest

from forecasting.frames import ForecastError
from forecasting.onnx_models import (
    MODEL_DIR,
    AnomalyDetector,
    ModelUnavailable,
    ShortTermForecaster,
)
from forecasting.train import build, load_split, windows


@pytest.fixture(scope="module")
def test_windows() -> np.ndarray:
    return windows(load_split(7, 4, 3), 32, 16)


@pytest.mark.parametrize("int8", [False, True])
def test_shipped_anomaly_model_flags_spikes_in_a_batch(
    int8: bool, test_windows: np.ndarray
) -> None:
    det = AnomalyDetector(int8=int8)
    assert det.model.metadata["version"] and det.model.metadata["training_range"]
    assert "true_positive_rate" in det.model.metadata["metrics"]
    normal = det.score(test_windows)
    assert normal.scores.shape == (len(test_windows),)
    assert normal.flagged.mean() < 0.05
    spiked = test_windows.copy()
    spiked[:, 10] += 10 * spiked.std(axis=1)
    assert det.score(spiked).flagged.mean() > 0.8


@pytest.mark.parametrize("int8", [False, True])
def test_shipped_anomaly_model_flags_level_steps_in_load(int8: bool) -> None:
    """A load that jumps by a few of its own standard deviations and stays there."""
    load = windows(load_split(11, 8, 3), 32, 16)[-40:]  # the last series are loads
    det = AnomalyDetector(int8=int8)
    assert det.score(load).flagged.mean() < 0.05
    stepped = load.copy()
    stepped[:, 16:] += 4 * load.std(axis=1, keepdims=True)
    assert det.score(stepped).flagged.mean() > 0.6
    metrics = det.model.metadata["metrics"]
    assert metrics["tpr_step"] > 0.6 and metrics["false_positive_rate"] < 0.01


def test_int8_and_fp32_forecasters_agree_and_beat_seasonal_naive() -> None:
    split = load_split(9, 3, 3)
    x = split.values[:, -96 - 16 : -16]
    y = split.values[:, -16:]
    origin = split.start + (split.values.shape[1] - 16) * split.step
    fp32 = ShortTermForecaster(int8=False)
    int8 = ShortTermForecaster(int8=True)
    assert int8.model.size_bytes < fp32.model.size_bytes
    p32 = fp32.predict(x, [origin] * 3)
    p8 = int8.predict(x, [origin] * 3)
    assert p32.shape == (3, 16)
    assert np.abs(p32 - p8).mean() < 0.05 * np.abs(y).mean()
    assert fp32.model.metadata["metrics"]["mae_ratio_vs_seasonal_naive"] < 1.0


def test_bad_inputs_and_missing_models_are_clear_errors(tmp_path: Path) -> None:
    det = AnomalyDetector()
    with pytest.raises(ForecastError, match="needs 32"):
        det.score(np.zeros((2, 10)))
    with pytest.raises(ForecastError, match="NaN"):
        det.score(np.full((1, 32), np.nan))
    with pytest.raises(ModelUnavailable, match=r"forecasting\.train"):
        AnomalyDetector(tmp_path / "nope.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelUnavailable, match="cannot be loaded"):
        AnomalyDetector(tmp_path / "junk.onnx")


def test_training_script_builds_quantized_models_with_metadata(tmp_path: Path) -> None:
    report = build(tmp_path)
    assert set(report) == {
        "anomaly.onnx",
        "anomaly.int8.onnx",
        "forecaster.onnx",
        "forecaster.int8.onnx",
    }
    f8 = ShortTermForecaster(tmp_path / "forecaster.int8.onnx")
    assert f8.model.metadata["quantization"].startswith("int8")
    assert (tmp_path / "forecaster.int8.onnx").stat().st_size < (
        tmp_path / "forecaster.onnx"
    ).stat().st_size
    # the shipped files came from the same script
    shipped = ShortTermForecaster()
    assert shipped.model.metadata["version"] == f8.model.metadata["version"]
    assert MODEL_DIR.is_dir()
