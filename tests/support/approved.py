"""Get a real ApprovedCommand the only way there is: through the safety gate."""

from __future__ import annotations

from datetime import datetime, timedelta

from safety import (
    Accepted,
    ApprovedCommand,
    AssetLimits,
    Command,
    CommandKind,
    Envelope,
    Origin,
    Range,
    StateSnapshot,
    evaluate,
)


def approved(key: str, asset: str, value: float, now: datetime) -> ApprovedCommand:
    envelope = Envelope(
        assets={
            asset: AssetLimits(
                asset=asset,
                ranges={CommandKind.ACTIVE_POWER_KW: Range(min_value=-500.0, max_value=500.0)},
            )
        }
    )
    command = Command(
        key=key,
        asset=asset,
        kind=CommandKind.ACTIVE_POWER_KW,
        value=value,
        start=now,
        end=now + timedelta(minutes=15),
        origin=Origin.OPERATOR,
    )
    (verdict,) = evaluate([command], StateSnapshot(), envelope, now)
    assert isinstance(verdict, Accepted), verdict
    return verdict.approved
