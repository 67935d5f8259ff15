from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from runtime.cli import main
from runtime.log.deadletter import DeadLetterStore, Status

T0 = datetime(2026, 7, 15, 17, 0, tzinfo=UTC)


def test_dlq_list_show_retry_drop(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "dlq.db"
    store = DeadLetterStore(path)
    a = store.put("mqtt.payload", "site/bat1", "field p_kw: not a number", b'{"p_kw": "x"}', T0)
    b = store.put("dispatch", "field", "5 attempts failed", b"{}", T0)
    assert main(["dlq", "--dlq", str(path), "list"]) == 0
    out = capsys.readouterr().out
    assert "field p_kw: not a number" in out and "2 entries" in out
    assert main(["dlq", "--dlq", str(path), "show", str(a)]) == 0
    assert '{"p_kw": "x"}' in capsys.readouterr().out
    assert main(["dlq", "--dlq", str(path), "retry", str(a)]) == 0
    assert main(["dlq", "--dlq", str(path), "drop", str(b)]) == 0
    assert store.get(a).status is Status.RETRY and store.get(b).status is Status.DROPPED
    assert main(["dlq", "--dlq", str(path), "retry", str(b)]) == 1
    assert "dropped" in capsys.readouterr().err
    assert main(["dlq", "--dlq", str(path), "drop", "999"]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_dlq_without_a_store_says_where_it_looked(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dlq", "--dlq", str(tmp_path / "none.db"), "list"]) == 2
    assert "none.db" in capsys.readouterr().err
