import threading
from pathlib import Path

import pytest

from forecasting.frames import ForecastError
from forecasting.router import (
    Router,
    RouterConfig,
    TierAnswer,
    TierCall,
    load_router_config,
)

REPO = Path(__file__).resolve().parents[2]


class FakeClock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


def _config(**llm: object) -> RouterConfig:
    return RouterConfig.model_validate(
        {
            "tiers": {
                "rules": {"timeout_s": 1},
                "llm": {"timeout_s": 0.5, "breaker": {"failures": 2, "reset_s": 30}, **llm},
            },
            "tasks": {"intent": ["rules", "llm"]},
        }
    )


def test_first_tier_that_answers_wins_and_metrics_count() -> None:
    router = Router(_config())
    result = router.call(
        "intent",
        {
            "rules": lambda c: TierAnswer(value=None),
            "llm": lambda c: TierAnswer(value="x", tokens=7),
        },
        fallback=lambda: "fb",
    )
    assert (result.value, result.tier, result.fallback) == ("x", "llm", False)
    assert result.attempts == ("rules: declined", "llm: answered")
    snap = router.snapshot()
    assert snap["tiers"]["llm"]["tokens"] == 7 and snap["tiers"]["rules"]["declined"] == 1
    assert snap["tasks"]["intent"]["fallback_rate"] == 0.0
    router.close()


def test_timeout_and_errors_open_the_breaker_then_it_recovers() -> None:
    clock = FakeClock()
    router = Router(_config(), clock=clock)
    release = threading.Event()

    def hang(call: TierCall) -> TierAnswer[str]:
        release.wait(5)
        return TierAnswer(value="late")

    def boom(call: TierCall) -> TierAnswer[str]:
        raise RuntimeError("model crashed")

    tiers = {"rules": lambda c: TierAnswer(value=None), "llm": hang}
    r1 = router.call("intent", tiers, fallback=lambda: "fb")
    release.set()
    assert r1.fallback and r1.value == "fb" and "timeout" in r1.attempts[1]
    r2 = router.call("intent", {"llm": boom}, fallback=lambda: "fb")
    assert "failed: RuntimeError: model crashed" in r2.attempts[1]
    r3 = router.call("intent", {"llm": lambda c: TierAnswer(value="ok")}, fallback=lambda: "fb")
    assert r3.fallback and "circuit breaker open" in r3.attempts[1]
    clock.t += 31
    r4 = router.call("intent", {"llm": lambda c: TierAnswer(value="ok")}, fallback=lambda: "fb")
    assert r4.value == "ok" and not r4.fallback
    snap = router.snapshot()
    assert snap["tiers"]["llm"]["timeouts"] == 1 and snap["tiers"]["llm"]["failures"] == 1
    assert snap["tiers"]["llm"]["skipped_breaker_open"] == 1
    assert snap["tasks"]["intent"]["fallback_rate"] == pytest.approx(3 / 4)
    router.close()


def test_token_budget_skips_the_tier_and_caps_reach_the_call() -> None:
    router = Router(_config(token_budget_per_hour=10, max_tokens_per_call=5))
    seen: list[int | None] = []

    def llm(call: TierCall) -> TierAnswer[str]:
        seen.append(call.max_tokens)
        return TierAnswer(value="ok", tokens=12)

    assert router.call("intent", {"llm": llm}, fallback=lambda: "fb").value == "ok"
    again = router.call("intent", {"llm": llm}, fallback=lambda: "fb")
    assert again.fallback and "token budget" in again.attempts[1]
    assert seen == [5]
    router.close()


def test_shipped_router_yaml_loads_and_bad_yaml_is_refused(tmp_path: Path) -> None:
    cfg = load_router_config(REPO / "configs" / "router.yaml")
    assert {"intent", "explain", "forecast_short"} <= set(cfg.tasks)
    bad = tmp_path / "r.yaml"
    bad.write_text("tiers: {}\ntasks: {intent: [llm]}\n", encoding="utf-8")
    with pytest.raises(ForecastError, match="tier 'llm' is not defined"):
        load_router_config(bad)
    with pytest.raises(ForecastError, match="not configured"):
        Router(cfg).call("nope", {}, fallback=lambda: None)


def test_short_term_task_uses_onnx_then_falls_back_deterministically(tmp_path: Path) -> None:
    from forecasting import clean
    from forecasting.onnx_models import ShortTermForecaster
    from forecasting.short_term import seasonal_naive, short_term_forecast
    from forecasting.synth import make_frame

    data = clean(make_frame(3, 3, seed=4))
    router = Router(load_router_config(REPO / "configs" / "router.yaml"))
    first = short_term_forecast(router, data)
    assert first.tier == "onnx" and first.value.height == 3 * 16
    assert first.value["yhat"].is_finite().all()

    def missing() -> ShortTermForecaster:
        return ShortTermForecaster(tmp_path / "gone.onnx")

    second = short_term_forecast(router, data, onnx=missing)
    assert second.tier == "stats" and "ModelUnavailable" in second.attempts[0]
    fb = seasonal_naive(data)
    assert second.value.sort("unique_id", "ds")["yhat"].to_list() == pytest.approx(
        fb.sort("unique_id", "ds")["yhat"].to_list()
    )
    assert router.snapshot()["tiers"]["onnx"]["failures"] == 1
    router.close()
