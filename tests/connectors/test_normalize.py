"""Normalization table tests: duplicates, out-of-order, future-dated, frozen, restarts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connectors import Batch, NormalizeConfig, Normalizer, SampleFlag, SampleQuality

T0 = datetime(2026, 7, 15, 18, 0, tzinfo=UTC)


def batch(seq: int, rows: list[tuple[str, float, float]], received_s: float = 0.0) -> Batch:
    b = Batch(
        source="s", stream="dev", sequence=seq, received_ts=T0 + timedelta(seconds=received_s)
    )
    for point, value, ts_s in rows:
        b.append(point, value, "kW", SampleQuality.GOOD, T0 + timedelta(seconds=ts_s))
    return b


def test_duplicates_by_stream_and_sequence_are_dropped_and_restarts_accepted() -> None:
    n = Normalizer("s", NormalizeConfig(sequence_window=4))
    assert [n.admit("dev", s) for s in (1, 2, 2, 3, 1)] == [True, True, False, True, False]
    assert n.admit("other", 2)  # another stream has its own sequence
    assert n.admit("dev", 9) and n.counts["gap"] == 5
    assert n.admit("dev", 0)  # far below the window: the device restarted
    assert not n.admit("dev", 0)
    assert n.counts["duplicate"] == 3


def test_out_of_order_samples_are_flagged_and_not_applied() -> None:
    n = Normalizer("s")
    n.apply(batch(1, [("a", 1.0, 10.0), ("b", 2.0, 10.0)], received_s=10))
    late = batch(2, [("a", 9.0, 5.0), ("b", 3.0, 11.0)], received_s=11)
    n.apply(late)
    assert late.flags == [SampleFlag.OUT_OF_ORDER, 0]
    a, b = n.latest("a"), n.latest("b")
    assert a is not None and a.value == 1.0
    assert b is not None and b.value == 3.0
    assert n.counts["out_of_order"] == 1
    assert [s.point for s in late.samples()] == ["b"]


def test_future_dated_samples_become_bad_and_are_not_applied() -> None:
    n = Normalizer("s", NormalizeConfig(future_tolerance_s=5))
    b = batch(1, [("a", 1.0, 4.0), ("b", 1.0, 60.0)], received_s=0)
    n.apply(b)
    assert b.flags == [0, SampleFlag.FUTURE]
    assert b.qualities == [SampleQuality.GOOD, SampleQuality.BAD]
    assert n.latest("b") is None
    assert n.counts["future"] == 1


def test_frozen_values_are_flagged_once_unchanged_long_enough() -> None:
    n = Normalizer("s", NormalizeConfig(frozen_after_s=60))
    flags = []
    for i, (value, ts) in enumerate([(5.0, 0), (5.0, 30), (5.0, 61), (6.0, 90), (6.0, 120)]):
        b = batch(i, [("a", value, ts)], received_s=ts)
        n.apply(b)
        flags.append(b.flags[0])
    assert flags == [0, 0, SampleFlag.FROZEN, 0, 0]
    assert n.counts["frozen"] == 1


def test_a_point_twice_in_one_batch_is_taken_in_order() -> None:
    n = Normalizer("s")
    b = batch(1, [("a", 1.0, 2.0), ("a", 2.0, 1.0), ("a", 3.0, 3.0)], received_s=3)
    n.apply(b)
    assert b.flags == [0, SampleFlag.OUT_OF_ORDER, 0]
    latest = n.latest("a")
    assert latest is not None and latest.value == 3.0


def test_ten_thousand_points_grow_the_table() -> None:
    n = Normalizer("s")
    n.apply(batch(1, [(f"p{i}", float(i), 1.0) for i in range(10_000)], received_s=1))
    assert len(n) == 10_000
    last = n.latest("p9999")
    assert last is not None and last.value == 9999.0 and last.quality is SampleQuality.GOOD
