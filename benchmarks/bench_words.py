"""The operator's words on the evaluation set's test split, per tier, with latency.

Tiers: ``rules`` (runtime.words), ``rules+llm`` (the grammar-constrained SmolLM2
slot filler on what the rules do not understand). Baseline measured in the same
run: the previous rule parser (``forecasting.intent.parse_rules``) on the same
cases, its intents turned into setpoints the way ``ask`` used to. Accuracy is
issue #20's: commands exactly right (action, asset, signed value, end), wrong
signs, unsafe requests the gate accepted as asked, questions answered with the
right figures (from a real SQLite log). Process start: ``gridaios ask`` alone
to a rules answer; baseline: importing every subcommand as ``ask`` used to.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.util import percentile, row, size

REPO = Path(__file__).resolve().parents[1]


def _old_rules(text: str, now: Any, zone: Any, default_s: float) -> Any:
    from datetime import timedelta

    from forecasting.intent import parse_rules
    from runtime.words.sign import signed_value
    from runtime.words.times import Found
    from runtime.words.understand import Understood

    intent = parse_rules(text)
    if intent is None:
        return Understood(kind="unknown", text=text)
    if intent.until:
        hh, mm = (int(x) for x in intent.until.split(":"))
        end = Found(start=0, stop=0, clock=(hh, mm)).resolve(now, zone)
    else:
        end = now + timedelta(seconds=default_s)
    value = (
        float(intent.value)
        if intent.action == "hold"
        else signed_value(intent.action, intent.value)
    )
    return Understood(
        kind="command",
        text=text,
        action=intent.action,
        asset=intent.asset,
        value=value,
        unit="%" if intent.action == "curtail" else "kW",
        end=end,
        end_said=intent.until,
    )


def _process_start(argv: list[str], runs: int = size(3, 1)) -> tuple[float, float]:
    """(median wall s, median CPU s of the child): CPU shows the cost on a busy box."""
    import resource

    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "firmware-bridge")])}
    took, cpu = [], []
    for _ in range(runs):
        r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        subprocess.run([sys.executable, *argv], cwd=REPO, env=env, capture_output=True, check=True)
        took.append(time.perf_counter() - t0)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append(r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime)
    return sorted(took)[len(took) // 2], sorted(cpu)[len(cpu) // 2]


def run() -> list[dict[str, object]]:
    from runtime.words import evaluate as E
    from runtime.words.understand import understand
    from tests.words import fixture as F
    from tests.words.scoring import ACCEPTED_AS_ASKED, DEFAULT_S, EVAL, VOCAB, ZONE, make_answered

    cases = E.load(EVAL / "test.txt")
    with tempfile.TemporaryDirectory() as tmp:
        log = F.build(Path(tmp) / "events.db")
        answered = make_answered(log)
        common: dict[str, Any] = dict(
            now=E.EVAL_NOW,
            zone=ZONE,
            default_s=DEFAULT_S,
            accepted_as_asked=ACCEPTED_AS_ASKED,
            answered=answered,
        )
        old = E.score(cases, lambda t: _old_rules(t, E.EVAL_NOW, ZONE, DEFAULT_S), **common)
        rules = E.score(
            cases, lambda t: understand(t, VOCAB, E.EVAL_NOW, ZONE, default_s=DEFAULT_S), **common
        )
        rows: list[dict[str, object]] = [
            row(
                "words_rules_commands_exact",
                rules.command_rate,
                "rate",
                old.command_rate,
                higher_is_better=True,
                cases=rules.commands,
                note="test split; baseline: the previous rule parser",
            ),
            {
                "name": "words_rules_wrong_sign",
                "value": rules.wrong_sign,
                "unit": "count",
                "baseline": old.wrong_sign,
                "ratio": None,
                "note": "must be 0",
            },
            {
                "name": "words_rules_unsafe_accepted_as_asked",
                "value": rules.unsafe_accepted,
                "unit": "count",
                "baseline": old.unsafe_accepted,
                "ratio": None,
                "cases": rules.unsafe,
                "note": "through the real gate; must be 0",
            },
            row(
                "words_rules_questions_right",
                rules.question_rate,
                "rate",
                old.question_rate,
                higher_is_better=True,
                cases=rules.questions,
                note="answers carry the fixture's figure; baseline answers no question",
            ),
            row(
                "words_rules_latency_p95",
                percentile(rules.seconds, 95),
                "s/request",
                percentile(old.seconds, 95),
                higher_is_better=False,
                note="in process, understanding only; baseline: previous rule parser",
            ),
        ]
        try:
            from runtime.words.slots import SlotFiller, SlotsUnavailable

            t0 = time.perf_counter()
            filler = SlotFiller(VOCAB)
            load_s = time.perf_counter() - t0

            def tiered(text: str) -> Any:
                u = understand(text, VOCAB, E.EVAL_NOW, ZONE, default_s=DEFAULT_S)
                return filler.fill(u, E.EVAL_NOW, ZONE, DEFAULT_S) if u.kind == "unknown" else u

            both = E.score(cases, tiered, **common)
            # the LLM alone on the first 30 commands (the rules' verb withheld): what it adds
            from dataclasses import replace

            def alone(text: str) -> Any:
                u = understand(text, VOCAB, E.EVAL_NOW, ZONE, default_s=DEFAULT_S)
                blind = replace(u, kind="unknown", action="unknown", message="")
                return filler.fill(blind, E.EVAL_NOW, ZONE, DEFAULT_S)

            sample = [c for c in cases if c.kind == "cmd"][: size(30, 3)]
            llm = E.score(sample, alone, **common)
            rows += [
                row(
                    "words_rules_llm_commands_exact",
                    both.command_rate,
                    "rate",
                    rules.command_rate,
                    higher_is_better=True,
                    wrong_sign=both.wrong_sign,
                    unsafe_accepted=both.unsafe_accepted,
                    out_proposed=both.out_proposed,
                    questions_right=both.question_rate,
                    llm_load_s=round(load_s, 3),
                    note="rules then the grounded LLM slot filler; baseline: rules alone",
                ),
                row(
                    "words_llm_alone_commands_exact",
                    llm.command_rate,
                    "rate",
                    rules.command_rate,
                    higher_is_better=True,
                    cases=llm.commands,
                    wrong_sign=llm.wrong_sign,
                    p50_s=round(percentile(llm.seconds, 50), 3),
                    p95_s=round(percentile(llm.seconds, 95), 3),
                    note="the slot filler alone on 30 test commands (the rules' result "
                    "withheld; slots grounded against the text, ungrounded ones become "
                    "answers); baseline: rules",
                ),
                row(
                    "words_rules_llm_latency_p95",
                    percentile(both.seconds, 95),
                    "s/request",
                    percentile(rules.seconds, 95),
                    higher_is_better=False,
                    p50=round(percentile(both.seconds, 50), 4),
                    note="model loaded once (as in the runtime); baseline: rules alone",
                ),
            ]
        except SlotsUnavailable as err:
            rows.append({"name": "words_rules_llm_commands_exact", "skipped": str(err)})
        log.close()
    cfg = str(REPO / "configs" / "demo-feeder.yaml")
    start, start_cpu = _process_start(
        ["-m", "runtime.cli", "ask", "stop battery one", "--no-llm", "--config", cfg]
    )
    every, every_cpu = _process_start(["-c", "import runtime.cli as c; c.build_parser()"])
    load = os.getloadavg()[0]
    rows.append(
        row(
            "words_ask_process_start",
            start,
            "s",
            every,
            higher_is_better=False,
            cpu_s=round(start_cpu, 3),
            baseline_cpu_s=round(every_cpu, 3),
            loadavg_1m=round(load, 2),
            note="gridaios ask alone to a rules answer (median of 3); baseline: "
            "importing every subcommand, as ask did before",
        )
    )
    return rows
