"""The console's own logic in the real browser: stale and bad readings, trends with gaps.

The static files are served as the runtime serves them (no build step); the modules
are imported by the page itself, so this is the code operators run.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import needs_chromium

pytestmark = [needs_chromium, pytest.mark.browser]

STATIC = Path(__file__).resolve().parents[2] / "runtime" / "api" / "static"


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:
        """No access log: the test's output shows only what failed."""


@pytest.fixture
def static_url() -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(STATIC))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_stale_and_bad_readings_are_flagged(static_url: str, page: Any) -> None:
    page.goto(static_url + "/dom.js")  # any same-origin page; the module is imported below
    status = page.evaluate(
        """async () => {
            const m = await import("/views/state.js");
            const ts = "2026-07-15T18:30:00Z";
            return [
                m.pointStatus({ quality: "good", age_s: 3, ts }),
                m.pointStatus({ quality: "good", age_s: m.STALE_AFTER_S + 1, ts }),
                m.pointStatus({ quality: "bad", age_s: 1, ts }),
                m.pointStatus({ quality: "uncertain", age_s: 1, ts }),
            ];
        }"""
    )
    assert status[0] == {"bad": False, "text": "good"}
    assert status[1]["bad"] and status[1]["text"].startswith("STALE")
    assert status[2] == {"bad": True, "text": "BAD: bad"}
    assert status[3] == {"bad": True, "text": "BAD: uncertain"}


def test_a_trend_breaks_at_gaps_and_marks_bad_samples(static_url: str, page: Any) -> None:
    page.goto(static_url + "/dom.js")
    drawn = page.evaluate(
        """async () => {
            const { sparkline } = await import("/sparkline.js");
            const at = (s) => new Date(Date.UTC(2026, 6, 15, 18, 0, s)).toISOString();
            const samples = [
                { ts: at(0), value: 100, quality: "good" },
                { ts: at(10), value: 110, quality: "good" },
                { ts: at(20), value: 120, quality: "bad" },
                { ts: at(30), value: 115, quality: "good" },
                // two minutes without data
                { ts: at(150), value: 90, quality: "good" },
                { ts: at(160), value: 95, quality: "good" },
            ];
            const svg = sparkline(samples, { label: "substation.p_kw (kW)" });
            const d = svg.querySelector("path").getAttribute("d");
            return {
                moves: (d.match(/M/g) || []).length,
                bad: svg.querySelectorAll("circle.spark-bad").length,
                title: svg.querySelector("title").textContent,
                empty: sparkline([], { label: "x" }).textContent,
                staleLast: sparkline(samples, { stale: true })
                    .querySelectorAll("circle.spark-bad").length,
            };
        }"""
    )
    assert drawn["moves"] == 2  # the line is broken at the two-minute gap
    assert drawn["bad"] == 1  # the one bad-quality sample
    assert "1 gap(s)" in drawn["title"] and "1 sample(s) not good quality" in drawn["title"]
    assert "min 90.0, max 120.0" in drawn["title"]
    assert "no history" in drawn["empty"]
    assert drawn["staleLast"] == 2  # a stale point: its last reading is marked bad too


def test_a_trend_chart_has_axes_units_limits_and_setpoints(static_url: str, page: Any) -> None:
    page.goto(static_url + "/dom.js")
    drawn = page.evaluate(
        """async () => {
            const { chart, ticks } = await import("/views/trends.js");
            const t0 = Date.UTC(2026, 6, 15, 18, 0, 0);
            const at = (min) => new Date(t0 + min * 60e3).toISOString();
            const samples = [0, 10, 20, 30, 40, 50, 60].map((m, i) => ({
                ts: at(m), value: [1000, 1080, 1150, 1210, 1120, 1050, 990][i] }));
            const svg = chart({
                samples, unit: "kW", label: "substation.p_kw",
                lines: [{ value: 1100, label: "peak-shaving target", kind: "threshold" },
                        { value: 1600, label: "transformer rating", kind: "limit" }],
                steps: [{ ts: at(15), value: 120 }, { ts: at(45), value: 0 }],
                fromMs: t0, toMs: t0 + 3600e3,
            });
            document.body.append(svg);
            return {
                ticks: ticks(0, 100),
                unit: svg.querySelector("text.unit").textContent,
                limits: [...svg.querySelectorAll("text.limit-label")].map((t) => t.textContent),
                axis: [...svg.querySelectorAll("text.axis")].map((t) => t.textContent),
                over: svg.dataset.over,
                setpoint: svg.querySelectorAll("path.setpoint").length,
                actual: svg.querySelector("path.actual").getAttribute("d").split("L").length,
            };
        }"""
    )
    assert drawn["ticks"] == [0, 20, 40, 60, 80, 100]
    assert drawn["unit"] == "kW"
    assert drawn["limits"] == ["peak-shaving target 1,100 kW", "transformer rating 1,600 kW"]
    assert "18:00" in drawn["axis"] and "19:00" in drawn["axis"] and "UTC" in drawn["axis"]
    assert drawn["over"] == "3"  # 1150, 1210 and 1120 kW are above the target
    assert drawn["setpoint"] == 1
    assert drawn["actual"] == 7  # one unbroken line through 7 samples
