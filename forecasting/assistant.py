"""The language tasks behind the router: request -> intent, decision record -> explanation.

Tiers: ``rules`` (regex parser / none for explanations) then ``llm``. The
LLM is loaded on first use; if it cannot be, the tier fails and the router's
breaker and fallback take over. Fallbacks are deterministic: an ``unknown``
intent (nothing is proposed) and the decision-record template.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

from forecasting.explain import Explanation, Scalar, check_draft, record_text, template
from forecasting.intent import Intent, parse_rules, ungrounded
from forecasting.llm import LocalLLM
from forecasting.router import Router, RouteResult, TierAnswer, TierCall

UNKNOWN = Intent(action="unknown", asset="", value=0.0, until="")


@dataclass(frozen=True, slots=True, kw_only=True)
class IntentOutcome:
    intent: Intent
    note: str  # how it was obtained, or why the fallback was used


class Assistant:
    def __init__(self, router: Router, llm: Callable[[], LocalLLM] | None = LocalLLM) -> None:
        self.router = router
        self._factory = llm
        self._llm: LocalLLM | None = None

    def _model(self) -> LocalLLM:
        if self._factory is None:
            raise RuntimeError("the local LLM is disabled")
        if self._llm is None:
            self._llm = self._factory()
        return self._llm

    def intent(self, text: str) -> RouteResult[IntentOutcome]:
        rejected: list[str] = []

        def rules(call: TierCall) -> TierAnswer[IntentOutcome]:
            parsed = parse_rules(text)
            note = "parsed by the rule tier"
            return TierAnswer(
                value=None if parsed is None else IntentOutcome(intent=parsed, note=note)
            )

        def llm(call: TierCall) -> TierAnswer[IntentOutcome]:
            intent, done = self._model().intent(
                text, max_tokens=call.max_tokens or 64, deadline=call.deadline
            )
            problems = ungrounded(intent, text)
            if problems:
                rejected.append(f"LLM intent {intent.model_dump()} rejected: {'; '.join(problems)}")
                return TierAnswer(value=None, tokens=done.tokens)
            note = f"LLM, schema-constrained, validated ({done.completion_tokens} tokens)"
            return TierAnswer(value=IntentOutcome(intent=intent, note=note), tokens=done.tokens)

        return self.router.call(
            "intent",
            {"rules": rules, "llm": llm},
            fallback=lambda: IntentOutcome(
                intent=UNKNOWN,
                note="no tier understood the request; nothing is proposed"
                + (f" ({rejected[-1]})" if rejected else ""),
            ),
        )

    def explain(self, record: Mapping[str, Scalar]) -> RouteResult[Explanation]:
        rejected: list[str] = []

        def llm(call: TierCall) -> TierAnswer[Explanation]:
            done = self._model().draft(
                record_text(record), max_tokens=call.max_tokens or 80, deadline=call.deadline
            )
            checked = check_draft(done.text, record)
            if checked.source != "model":
                rejected.append(f"{checked.reason} (draft: {done.text!r})")
                return TierAnswer(value=None, tokens=done.tokens)
            return TierAnswer(value=checked, tokens=done.tokens)

        def fallback() -> Explanation:
            reason = rejected[-1] if rejected else "the model did not answer"
            return Explanation(text=template(record), source="template", reason=reason)

        return self.router.call("explain", {"llm": llm}, fallback=fallback)
