"""Health, live feeder state, history for sparklines, forecasts, Prometheus metrics."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import polars as pl
from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response

from runtime.api.context import Resources, resources
from runtime.api.schemas import (
    ForecastPoint,
    ForecastSeries,
    ForecastsOut,
    Health,
    HistoryOut,
    HistorySample,
    PointState,
    StateOut,
)
from runtime.ingest.historian import Historian

router = APIRouter(tags=["state"])
R = Depends(resources)
STALE_AFTER_S = 60.0  # live state older than this makes /api/health "degraded"


@router.get("/api/health", response_model=Health)
def health(res: Resources = R) -> Health:
    """Public liveness: one word per component, nothing else."""
    components: dict[str, str] = {}
    try:
        res.queries.count()
        components["event_log"] = "ok"
    except Exception:  # any failure to read is "degraded"; the body stays minimal
        components["event_log"] = "error"
    provider = res.ctx.state_provider
    if provider is None:
        components["conductor"] = "absent"
    else:
        now = res.ctx.clock()
        readings = provider().readings.values()
        fresh = any((now - r.ts).total_seconds() <= STALE_AFTER_S for r in readings)
        components["conductor"] = "ok" if fresh else "stale"
    bad = {"error", "stale"} & set(components.values())
    return Health(status="degraded" if bad else "ok", components=components)


@router.get("/api/state", response_model=StateOut)
def state(res: Resources = R) -> StateOut:
    """The latest value of every point: live from the conductor, else the historian's last hour."""
    now = res.ctx.clock()
    provider = res.ctx.state_provider
    if provider is not None:
        readings = sorted(provider().readings.values(), key=lambda r: r.point)
        points = [
            PointState(
                point=r.point,
                value=r.value,
                unit=res.units.get(r.point, ""),
                ts=r.ts,
                quality=r.quality.value,
                age_s=(now - r.ts).total_seconds(),
            )
            for r in readings
        ]
        return StateOut(now=now, source="live", points=points)
    history = res.ctx.history_dir
    if history is None or not history.exists():
        return StateOut(now=now, source="none", points=[])
    frame = Historian(history).read(
        since=now - timedelta(hours=1), until=now + timedelta(seconds=1)
    )
    last = frame.group_by("point").agg(pl.all().sort_by("ts").last()).sort("point")
    points = [
        PointState(
            point=row["point"],
            value=row["value"],
            unit=res.units.get(row["point"], ""),
            ts=row["ts"],
            quality=row["quality"],
            age_s=(now - row["ts"]).total_seconds(),
        )
        for row in last.iter_rows(named=True)
    ]
    return StateOut(now=now, source="historian" if points else "none", points=points)


@router.get("/api/state/history", response_model=HistoryOut, responses={404: {}})
def state_history(
    point: str = Query(min_length=1, max_length=200),
    minutes: int = Query(60, ge=1, le=7 * 24 * 60),
    res: Resources = R,
) -> HistoryOut:
    """Samples of one point from the historian (for sparklines)."""
    if res.units and point not in res.units:
        raise HTTPException(404, f"no point {point!r} in the site config; see GET /api/state")
    history = res.ctx.history_dir
    if history is None or not history.exists():
        return HistoryOut(point=point, samples=[])
    now = res.ctx.clock()
    frame = Historian(history).read(
        point=point, since=now - timedelta(minutes=minutes), until=now + timedelta(seconds=1)
    )
    samples = [
        HistorySample(ts=ts, value=v) for ts, v in zip(frame["ts"], frame["value"], strict=True)
    ]
    return HistoryOut(point=point, samples=samples)


@router.get("/api/forecasts", response_model=ForecastsOut)
def forecasts(res: Resources = R) -> ForecastsOut:
    provider = res.ctx.forecast_provider
    return ForecastsOut(series=provider() if provider is not None else [])


@router.get(
    "/metrics",
    response_class=Response,
    responses={200: {"content": {"text/plain": {}}, "description": "Prometheus text format"}},
)
def metrics(request: Request) -> Response:
    body = request.app.state.metrics.render()
    return Response(body, media_type="text/plain; version=0.0.4; charset=utf-8")


def forecast_file(path: Path) -> list[ForecastSeries]:
    """Series from the Parquet file ``gridaios forecast run`` writes (empty when absent)."""
    if not path.exists():
        return []
    frame = pl.read_parquet(path)
    out = []
    for (uid,), part in frame.sort("ds").group_by("unique_id", maintain_order=True):
        out.append(
            ForecastSeries(
                unique_id=str(uid),
                model=str(part["model"][0]) if "model" in part.columns else "",
                points=[
                    ForecastPoint(
                        ds=r["ds"], yhat=r["yhat"], lo80=r.get("lo_80"), hi80=r.get("hi_80")
                    )
                    for r in part.iter_rows(named=True)
                ],
            )
        )
    return sorted(out, key=lambda s: s.unique_id)
