"""The gate: ``evaluate(commands, state, envelope, now) -> verdicts``.

Pure and deterministic: no I/O, no clock, no randomness. It fails closed:
missing, stale or bad-quality state rejects the command. A plan is evaluated
jointly in one canonical order (start, asset, kind, key), whatever order the
commands came in, so the verdicts are bit-identical under any permutation.

Each command is first tested at its own value with numbers only (``_admits``: the
common case, accepted without building a bound or a reason); anything that test
does not pass is weighed in full (``_weigh``: every constraint that fired, with its
numbers and reason, then clamp or reject). Both read the same numbers and compare
them the same way; a property test holds them to the same verdicts.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import datetime, timedelta

from safety.approved import _claim_minter
from safety.bounds import TOLERANCE, Bound, ramp_bound, ramp_reference, soc_bounds, soc_window
from safety.envelope import CLAMPABLE, AssetLimits, Envelope, Policy, family
from safety.freshness import interlock_errors, points_needed, state_errors
from safety.grid import NetworkTimeline, Reach, admits, apply
from safety.inputs import duplicate_keys, input_errors, is_utc_aware, overlaps
from safety.schedule import min_on_off_hits, rate_limit_hits, time_window_hits
from safety.track import Track, new_track
from safety.types import Command, CommandKind, ConstraintHit, Dispatch, Forecast, StateSnapshot
from safety.verdict import Accepted, Clamped, Rejected, Verdict
from safety.view import AssetView, asset_view, max_ages

_mint = _claim_minter()


def evaluate(
    commands: Sequence[Command],
    state: StateSnapshot,
    envelope: Envelope,
    now: datetime,
    *,
    history: Sequence[Dispatch] = (),
    forecast: Forecast | None = None,
) -> list[Verdict]:
    """One verdict per command, in the order given. No exception escapes.

    ``history``: dispatches already sent (for ramp references, rate limits and
    minimum on/off times). ``forecast``: per-step feeder load and bus voltage for
    the plan-level checks; without it the measured values are held flat.
    """
    try:
        return _evaluate(commands, state, envelope, now, history, forecast)
    except Exception as err:  # fail closed: a gate fault rejects everything, with the cause
        hit = ConstraintHit(
            constraint="gate.fault",
            reason=f"the gate could not evaluate this plan ({type(err).__name__}: {err})",
        )
        return [Rejected(command=c, hits=(hit,)) for c in commands]


def _evaluate(
    commands: Sequence[Command],
    state: StateSnapshot,
    envelope: Envelope,
    now: datetime,
    history: Sequence[Dispatch],
    forecast: Forecast | None,
) -> list[Verdict]:
    verdicts: list[Verdict | None] = [None] * len(commands)
    if not is_utc_aware(now):
        hit = ConstraintHit(constraint="input.now", reason="now must be a timezone-aware datetime")
        return [Rejected(command=c, hits=(hit,)) for c in commands]
    if len(commands) > envelope.max_plan_commands:
        hit = ConstraintHit(
            constraint="plan.size",
            reason=f"the plan has {len(commands)} commands, more than the "
            f"{envelope.max_plan_commands} one plan may have; split it",
            limit=float(envelope.max_plan_commands),
            observed=float(len(commands)),
        )
        return [Rejected(command=c, hits=(hit,)) for c in commands]
    if len(commands) == 1:  # nothing to duplicate, overlap or order: straight to the checks
        (command,) = commands
        errors = input_errors(command, envelope, now, duplicate=False)
        if errors:
            return [Rejected(command=command, hits=tuple(errors))]
        return [_Plan(state, envelope, now, history, (command,), forecast).judge(command)]
    dupes = duplicate_keys(commands) if len(commands) > 1 else set()
    valid: list[int] = []
    for i, command in enumerate(commands):
        key = getattr(command, "key", None)
        errors = input_errors(
            command, envelope, now, duplicate=isinstance(key, str) and key in dupes
        )
        if errors:
            verdicts[i] = Rejected(command=command, hits=tuple(errors))
        else:
            valid.append(i)
    order = sorted(valid, key=lambda i: _canonical(commands[i]))
    ordered = [commands[i] for i in order]
    for j, hit in overlaps(ordered).items():
        verdicts[order[j]] = Rejected(command=ordered[j], hits=(hit,))
    live = [i for i in order if verdicts[i] is None]
    plan = _Plan(state, envelope, now, history, [commands[i] for i in live], forecast)
    for i in live:
        verdicts[i] = plan.judge(commands[i])
    return [v for v in verdicts if v is not None]


def _canonical(command: Command) -> tuple[datetime, str, str, str]:
    return (command.start, command.asset, command.kind, command.key)  # a StrEnum sorts as str


class _Plan:
    """The walk over one plan: per-asset tracks and the network timeline, advanced as it goes."""

    def __init__(
        self,
        state: StateSnapshot,
        envelope: Envelope,
        now: datetime,
        history: Sequence[Dispatch],
        commands: Sequence[Command],
        forecast: Forecast | None,
    ) -> None:
        self.state = state
        self.envelope = envelope
        self.now = now
        self.tracks: dict[str, Track] = {}
        self.history: dict[str, list[Dispatch]] = {}
        if history:
            for dispatch in sorted(history, key=lambda d: (d.at, d.asset, d.kind.value, d.value)):
                self.history.setdefault(dispatch.asset, []).append(dispatch)
        self.network = NetworkTimeline(commands, state, envelope, now, forecast)
        self.freshness: dict[str, tuple[ConstraintHit, ...]] = {}
        self.asset_state: dict[str, list[ConstraintHit]] = {}
        # Per asset, once its state is fresh: limits, view, track and active interlocks.
        self.ready: dict[str, tuple[AssetLimits, AssetView, Track, tuple[ConstraintHit, ...]]] = {}
        self.forecast = forecast
        self.left = len(commands)  # commands still to judge: the last one moves nothing later
        self.windows_clear: dict[tuple[object, ...], bool] = {}

    def track(self, limits: AssetLimits) -> Track:
        track = self.tracks.get(limits.asset)
        if track is None:
            history = self.history.get(limits.asset, [])
            track = new_track(limits, history, self.state, self.now)
            self.tracks[limits.asset] = track
        return track

    def judge(self, command: Command) -> Verdict:
        self.left -= 1
        envelope = self.envelope
        ready = self.ready.get(command.asset)
        if ready is None:
            limits = envelope.assets[command.asset]
            view = asset_view(envelope, command.asset, limits)
            stale = self.asset_state.get(limits.asset)
            if stale is None:
                points = view.points if self.forecast is None else self._forecast_points(limits)
                stale = state_errors(points, self.state, envelope, self.now, self.freshness)
                self.asset_state[limits.asset] = stale
            if stale:
                return Rejected(command=command, hits=tuple(stale))
            # Interlocks read only the state: the same for every command of the asset.
            locks = tuple(interlock_errors(limits, self.state)) if limits.interlocks else ()
            ready = self.ready[command.asset] = (limits, view, self.track(limits), locks)
        limits, view, track, locks = ready
        reach = self.network.reach(command, limits)
        if not locks and self._admits(command, limits, view, track, reach):
            return self._accept(command, command.value, track, limits, reach, ())
        return self._weigh(command, limits, view, track, locks, reach)

    def _admits(
        self,
        command: Command,
        limits: AssetLimits,
        view: AssetView,
        track: Track,
        reach: Reach | None,
    ) -> bool:
        """Every check passes at the command's own value: the common case, tested with the
        same numbers and comparisons as ``_weigh`` but without building a bound or a reason.
        False sends the command to ``_weigh``, which finds what fired and why."""
        windows = limits.time_windows
        if windows:  # a pure function of the windows and the times: memoised for the plan
            key = (windows, command.kind, command.start, command.end)
            clear = self.windows_clear.get(key)
            if clear is None:
                clear = not time_window_hits(command, limits, self.envelope.timezone)
                self.windows_clear[key] = clear
            if not clear:
                return False
        if limits.rate_limit is not None and rate_limit_hits(command, limits, track):
            return False
        if limits.switch is not None and min_on_off_hits(command, limits, track):
            return False
        kind, value = command.kind, command.value
        low, high = view.ranges[kind]  # value is finite: the min and max bounds in one test
        if not low - TOLERANCE <= value <= high + TOLERANCE:
            return False
        ramp = view.ramps.get(kind)
        if ramp is not None:
            reference = ramp_reference(command, ramp, track, self.state)
            if reference is None:
                return False
            ref, step = reference[0], ramp.step
            if not ref - step - TOLERANCE <= value <= ref + step + TOLERANCE:
                return False
        if limits.battery is not None:
            window = soc_window(command, limits, track)
            if window is not None and not window[0] - TOLERANCE <= value <= window[1] + TOLERANCE:
                return False
        return reach is None or admits(reach, value)

    def _weigh(
        self,
        command: Command,
        limits: AssetLimits,
        view: AssetView,
        track: Track,
        locks: tuple[ConstraintHit, ...],
        reach: Reach | None,
    ) -> Verdict:
        """Every check with its reasons: which constraints fired, and clamp or reject."""
        envelope = self.envelope
        kind = command.kind
        hard: list[ConstraintHit] = list(locks)  # constraints no value can satisfy
        if limits.time_windows:
            hard.extend(time_window_hits(command, limits, envelope.timezone))
        if limits.rate_limit is not None:
            hard.extend(rate_limit_hits(command, limits, track))
        if limits.switch is not None:
            hard.extend(min_on_off_hits(command, limits, track))
        bounds = list(view.range_bounds[kind])
        ramp = view.ramps.get(kind)
        if ramp is not None:
            bounds.append(ramp_bound(command, ramp, track, self.state))
        if limits.battery is not None:
            bounds.extend(soc_bounds(command, limits, track))
        if reach is not None:
            bounds.extend(self.network.bounds(command, reach))
        value = command.value
        fired = [b for b in bounds if not b.lo - TOLERANCE <= value <= b.hi + TOLERANCE]
        if not fired and not hard:
            return self._accept(command, value, track, limits, reach, ())
        hits = hard + [b.explain(value) for b in fired]
        can_clamp = (
            not hard
            and kind is not CommandKind.SWITCH
            and all(_clampable(b.constraint, envelope) for b in fired)
        )
        if not can_clamp:
            return Rejected(command=command, hits=tuple(hits))
        clamped = _project(value, bounds)
        if clamped is None:
            infeasible = ConstraintHit(
                constraint="plan.infeasible",
                reason=(
                    f"no {kind.value} value satisfies "
                    f"{', '.join(sorted({b.constraint for b in bounds}))} together"
                ),
            )
            return Rejected(command=command, hits=(*hits, infeasible))
        return self._accept(command, clamped, track, limits, reach, tuple(hits))

    def _forecast_points(self, limits: AssetLimits) -> tuple[tuple[str, timedelta], ...]:
        return max_ages(self.envelope, self._points(limits))

    def _points(self, limits: AssetLimits) -> tuple[str, ...]:
        points = list(points_needed(limits, self.envelope))
        if limits.feeder is not None and self.forecast is not None:
            # A forecast excludes storage: the base adds the storage output held now.
            points.extend(self.network.storage_points(limits.feeder))
        return tuple(dict.fromkeys(points))

    def _accept(
        self,
        command: Command,
        value: float,
        track: Track,
        limits: AssetLimits,
        reach: Reach | None,
        hits: tuple[ConstraintHit, ...],
    ) -> Verdict:
        if self.left:  # only later commands read the track and the network: none after the last
            track.accept(command, value, limits.battery)
            if reach is not None:
                apply(reach, value)
        approved = _mint(command, value)
        if hits:
            return Clamped(command=command, value=value, approved=approved, hits=hits)
        return Accepted(command=command, approved=approved)


def _clampable(constraint: str, envelope: Envelope) -> bool:
    return family(constraint) in CLAMPABLE and envelope.policy(constraint) is Policy.CLAMP


def _project(value: float, bounds: list[Bound]) -> float | None:
    """The admissible value nearest to ``value``, or None if the bounds do not intersect."""
    lo = max((b.lo for b in bounds), default=-math.inf)
    hi = min((b.hi for b in bounds), default=math.inf)
    if not lo <= hi or math.isnan(lo) or math.isnan(hi):
        return None
    return min(max(value, lo), hi)
