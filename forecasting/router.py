"""One interface for every model call: tiers, timeouts, budgets, a breaker, a fallback, metrics.

A task (``intent``, ``explain``, ``forecast_short`` ...) names an ordered list
of tiers from YAML (cheapest first: rules -> statsforecast/ONNX -> LLM). The
router tries each in turn; a tier answers with a value, or ``None`` for "not
mine", or fails (exception, timeout, over its latency budget). A tier whose
breaker is open, or whose hourly token budget is spent, is skipped. When no
tier answers, the task's deterministic fallback does, and the result says so.
"""

from __future__ import annotations

import concurrent.futures as cf
import logging
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from forecasting.frames import ForecastError

log = logging.getLogger(__name__)
T = TypeVar("T")


class BreakerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    failures: int = Field(default=3, ge=1)
    reset_s: float = Field(default=60, gt=0)


class TierConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    timeout_s: float = Field(gt=0)
    latency_budget_s: float | None = Field(default=None, gt=0)
    max_tokens_per_call: int | None = Field(default=None, ge=1)
    token_budget_per_hour: int | None = Field(default=None, ge=1)
    breaker: BreakerConfig = BreakerConfig()


class RouterConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    tiers: dict[str, TierConfig]
    tasks: dict[str, list[str]]

    def model_post_init(self, _ctx: Any) -> None:
        for task, tiers in self.tasks.items():
            for tier in tiers:
                if tier not in self.tiers:
                    raise ValueError(f"tasks.{task}: tier {tier!r} is not defined under tiers:")


def load_router_config(path: str | Path) -> RouterConfig:
    try:
        raw = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
        return RouterConfig.model_validate(raw)
    except OSError as err:
        raise ForecastError(f"{path}: cannot read router config: {err.strerror}") from err
    except (yaml.YAMLError, ValidationError, ValueError) as err:
        raise ForecastError(f"{path}: invalid router config: {err}") from err


@dataclass(frozen=True, slots=True, kw_only=True)
class TierCall:
    """What a tier function receives: its deadline (monotonic s) and token cap."""

    deadline: float
    max_tokens: int | None


@dataclass(frozen=True, slots=True, kw_only=True)
class TierAnswer(Generic[T]):
    value: T | None  # None: "not mine, ask the next tier"
    tokens: int = 0


TierFn = Callable[[TierCall], TierAnswer[T]]


@dataclass(frozen=True, slots=True, kw_only=True)
class RouteResult(Generic[T]):
    value: T
    tier: str  # the tier that answered, or "fallback"
    fallback: bool
    latency_s: float
    attempts: tuple[str, ...]  # "tier: outcome" for every tier tried or skipped


@dataclass(slots=True)
class TierMetrics:
    calls: int = 0
    answered: int = 0
    declined: int = 0
    failures: int = 0
    timeouts: int = 0
    over_budget: int = 0
    skipped_breaker: int = 0
    skipped_cost: int = 0
    tokens: int = 0
    latency_s: deque[float] = field(default_factory=lambda: deque(maxlen=1000))

    def as_dict(self) -> dict[str, float | int]:
        lat = sorted(self.latency_s)
        return {
            "calls": self.calls,
            "answered": self.answered,
            "declined": self.declined,
            "failures": self.failures,
            "timeouts": self.timeouts,
            "over_latency_budget": self.over_budget,
            "skipped_breaker_open": self.skipped_breaker,
            "skipped_cost_budget": self.skipped_cost,
            "tokens": self.tokens,
            "latency_p50_s": lat[len(lat) // 2] if lat else 0.0,
            "latency_p95_s": lat[int(0.95 * (len(lat) - 1))] if lat else 0.0,
        }


@dataclass(slots=True)
class _Breaker:
    failures: int = 0
    open_until: float = 0.0


class Router:
    def __init__(
        self, config: RouterConfig, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.config = config
        self.clock = clock
        self.metrics: dict[str, TierMetrics] = {t: TierMetrics() for t in config.tiers}
        self.task_calls: dict[str, int] = {}
        self.task_fallbacks: dict[str, int] = {}
        self._breakers: dict[str, _Breaker] = {t: _Breaker() for t in config.tiers}
        self._spent: dict[str, deque[tuple[float, int]]] = {t: deque() for t in config.tiers}
        self._pool = cf.ThreadPoolExecutor(max_workers=2, thread_name_prefix="router")

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)

    def call(
        self, task: str, tiers: Mapping[str, TierFn[T]], fallback: Callable[[], T]
    ) -> RouteResult[T]:
        if task not in self.config.tasks:
            raise ForecastError(f"task {task!r} is not configured under tasks: in the router YAML")
        started = self.clock()
        self.task_calls[task] = self.task_calls.get(task, 0) + 1
        attempts: list[str] = []
        for name in self.config.tasks[task]:
            fn = tiers.get(name)
            if fn is None:
                attempts.append(f"{name}: no implementation given")
                continue
            outcome = self._try(name, fn)
            attempts.append(f"{name}: {outcome[0]}")
            if outcome[1] is not None:
                return RouteResult(
                    value=outcome[1],
                    tier=name,
                    fallback=False,
                    latency_s=self.clock() - started,
                    attempts=tuple(attempts),
                )
        self.task_fallbacks[task] = self.task_fallbacks.get(task, 0) + 1
        return RouteResult(
            value=fallback(),
            tier="fallback",
            fallback=True,
            latency_s=self.clock() - started,
            attempts=tuple(attempts),
        )

    def _try(self, name: str, fn: TierFn[T]) -> tuple[str, T | None]:
        cfg = self.config.tiers[name]
        m = self.metrics[name]
        now = self.clock()
        breaker = self._breakers[name]
        if breaker.open_until > now:
            m.skipped_breaker += 1
            return "skipped (circuit breaker open)", None
        if cfg.token_budget_per_hour is not None and self._spent_last_hour(name, now) >= (
            cfg.token_budget_per_hour
        ):
            m.skipped_cost += 1
            return "skipped (hourly token budget spent)", None
        m.calls += 1
        call = TierCall(deadline=now + cfg.timeout_s, max_tokens=cfg.max_tokens_per_call)
        future = self._pool.submit(fn, call)
        try:
            answer = future.result(timeout=cfg.timeout_s)
        except cf.TimeoutError:
            m.timeouts += 1
            self._failed(name, cfg)
            return f"timeout after {cfg.timeout_s:g} s", None
        except Exception as err:
            m.failures += 1
            self._failed(name, cfg)
            return f"failed: {type(err).__name__}: {err}", None
        latency = self.clock() - now
        m.latency_s.append(latency)
        m.tokens += answer.tokens
        self._spent[name].append((now, answer.tokens))
        if cfg.latency_budget_s is not None and latency > cfg.latency_budget_s:
            m.over_budget += 1
            self._failed(name, cfg)  # slow answers still count against the breaker
        else:
            breaker.failures = 0
        if answer.value is None:
            m.declined += 1
            return "declined", None
        m.answered += 1
        return "answered", answer.value

    def _failed(self, name: str, cfg: TierConfig) -> None:
        breaker = self._breakers[name]
        breaker.failures += 1
        if breaker.failures >= cfg.breaker.failures and breaker.open_until <= self.clock():
            breaker.open_until = self.clock() + cfg.breaker.reset_s
            breaker.failures = 0
            log.warning("tier %s: circuit breaker open for %g s", name, cfg.breaker.reset_s)

    def _spent_last_hour(self, name: str, now: float) -> int:
        spent = self._spent[name]
        while spent and spent[0][0] < now - 3600:
            spent.popleft()
        return sum(t for _, t in spent)

    def snapshot(self) -> dict[str, Any]:
        """Metrics per tier and fallback rate per task, JSON-ready."""
        return {
            "tiers": {n: m.as_dict() for n, m in self.metrics.items()},
            "tasks": {
                t: {
                    "calls": c,
                    "fallbacks": self.task_fallbacks.get(t, 0),
                    "fallback_rate": self.task_fallbacks.get(t, 0) / c if c else 0.0,
                }
                for t, c in self.task_calls.items()
            },
        }
