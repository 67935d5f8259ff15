"""Score the understanding tiers on an evaluation file (tests/words/eval/*.txt).

Used by the gating test and the benchmark. A case is ``KIND | TEXT | EXPECTED``
(see tests/words/eval/README.md). Commands are exactly right when the command
the request becomes (asset, kind, signed value, end instant) is the expected
one; an unsafe request fails when it ends as a command the gate accepts as
asked; a question passes when its answer, from a fixed record, carries the
expected figure.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from runtime.words.times import Found
from runtime.words.understand import Understood

#: The clock of the evaluation set: 17:10 in Berlin.
EVAL_NOW = datetime.fromisoformat("2026-06-15T15:10:00+00:00")
EVAL_ZONE = "Europe/Berlin"


@dataclass(frozen=True, slots=True)
class Case:
    kind: str
    text: str
    expected: str
    line: int


def load(path: Path) -> list[Case]:
    cases = []
    for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        kind, text, expected = (p.strip() for p in line.split(" | "))
        cases.append(Case(kind, text, expected, n))
    return cases


def expected_end(spec: str, now: datetime, zone: ZoneInfo, default_s: float) -> datetime:
    if spec == "-":
        return now + timedelta(seconds=default_s)
    if spec.startswith("+"):
        return now + timedelta(minutes=float(spec[1:-1]))
    tomorrow = spec.endswith("+1")
    hh, mm = (int(x) for x in spec.removesuffix("+1").split(":"))
    return Found(start=0, stop=0, clock=(hh, mm), tomorrow=tomorrow).resolve(now, zone)


def command_right(
    u: Understood, expected: str, now: datetime, zone: ZoneInfo, default_s: float
) -> tuple[bool, bool]:
    """(exactly right, wrong sign) of an understood request against ``ACTION ASSET VALUE END``."""
    if expected == "none":
        return (not u.is_command, False)
    action, asset, value, end = expected.split()
    if not u.is_command or u.end is None:
        return False, False
    want = float(value)
    wrong_sign = u.asset == asset and (want > 0 > u.value or want < 0 < u.value)
    same_action = u.action == action or {u.action, action} <= {"stop", "standby"}
    ok = (
        same_action
        and u.asset == asset
        and abs(u.value - want) <= 0.5
        and abs((u.end - expected_end(end, now, zone, default_s)).total_seconds()) < 1
    )
    return ok, wrong_sign


@dataclass
class Score:
    commands: int = 0
    commands_right: int = 0
    wrong_sign: int = 0
    unsafe: int = 0
    unsafe_accepted: int = 0
    out: int = 0
    out_proposed: int = 0
    questions: int = 0
    questions_right: int = 0
    seconds: list[float] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def command_rate(self) -> float:
        return self.commands_right / self.commands if self.commands else 1.0

    @property
    def question_rate(self) -> float:
        return self.questions_right / self.questions if self.questions else 1.0

    def p(self, q: float) -> float:
        s = sorted(self.seconds)
        return s[min(len(s) - 1, int(q * len(s)))] if s else 0.0


def score(
    cases: list[Case],
    understand: Callable[[str], Understood],
    *,
    now: datetime,
    zone: ZoneInfo,
    default_s: float,
    accepted_as_asked: Callable[[Understood], bool],
    answered: Callable[[Understood, str], bool],
) -> Score:
    s = Score()
    for c in cases:
        started = time.perf_counter()
        u = understand(c.text)
        s.seconds.append(time.perf_counter() - started)
        if c.kind == "cmd":
            s.commands += 1
            ok, wrong = command_right(u, c.expected, now, zone, default_s)
            s.commands_right += ok
            s.wrong_sign += wrong
            if not ok:
                s.failures.append(f"cmd:{c.line} {c.text!r} -> {_said(u)} (want {c.expected})")
        elif c.kind == "unsafe":
            s.unsafe += 1
            if u.is_command and accepted_as_asked(u):
                s.unsafe_accepted += 1
                s.failures.append(f"unsafe:{c.line} {c.text!r} accepted as asked: {_said(u)}")
            if c.expected != "none" and u.is_command:
                _, wrong = command_right(u, c.expected, now, zone, default_s)
                s.wrong_sign += wrong
        elif c.kind == "out":
            s.out += 1
            if u.is_command:
                s.out_proposed += 1
                s.failures.append(f"out:{c.line} {c.text!r} became {_said(u)}")
        else:
            s.questions += 1
            if answered(u, c.expected):
                s.questions_right += 1
            else:
                s.failures.append(f"q:{c.line} {c.text!r} -> {_said(u)} (want {c.expected})")
    return s


def _said(u: Understood) -> str:
    if u.is_command:
        return f"{u.action} {u.asset} {u.value:g} until {u.end:%d %H:%M}Z"
    if u.question is not None:
        q = u.question
        return f"question {q.topic} {q.asset} {q.point} {q.at and f'{q.at:%H:%M}Z'}"
    return f"{u.kind}: {u.message}"
