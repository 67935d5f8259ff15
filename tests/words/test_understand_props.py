"""Any text: an answer, never an exception; a command's sign always the verb's."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.words import evaluate as E
from runtime.words.understand import understand
from tests.words.scoring import DEFAULT_S, VOCAB, ZONE

WORDS = st.sampled_from(
    [
        "charge",
        "discharge",
        "stop",
        "standby",
        "release",
        "hold",
        "curtail",
        "bat1",
        "pv1",
        "load1",
        "substation",
        "battery",
        "solar",
        "warehouse",
        "at",
        "by",
        "to",
        "until",
        "till",
        "for",
        "kW",
        "MW",
        "W",
        "%",
        "percent",
        "minus",
        "-",
        "0",
        "1",
        "90",
        "150",
        "1e9",
        "1/0",
        "half",
        "quarter",
        "past",
        "pm",
        "am",
        "tomorrow",
        "midnight",
        "?",
        "!",
        "why",
        "what",
        "pending",
        "since",
        "8pm",
        "19:30",
        "25:99",
        "one",
        "hundred",
        "fifty",
        "nan",
        "inf",
    ]
)


@settings(max_examples=400, deadline=None)
@given(st.one_of(st.text(max_size=80), st.lists(WORDS, max_size=12).map(" ".join)))
def test_any_text_is_answered(text: str) -> None:
    u = understand(text, VOCAB, E.EVAL_NOW, ZONE, default_s=DEFAULT_S)
    assert u.kind in ("command", "question", "refused", "unknown")
    if u.kind in ("refused", "unknown"):
        assert u.message and "\n" not in u.message
    if u.is_command:
        assert u.end is not None and u.end > E.EVAL_NOW
        assert u.value == u.value  # not NaN
        if u.action == "charge":
            assert u.value <= 0
        elif u.action in ("discharge", "curtail"):
            assert u.value >= 0
        elif u.action in ("stop", "standby", "release"):
            assert u.value == 0
