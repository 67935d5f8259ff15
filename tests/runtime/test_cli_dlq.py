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


def test_dlq_finds_the_store_of_a_run_by_its_db_or_the_default(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "site"
    run_dir.mkdir()
    DeadLetterStore(run_dir / "deadletters.db").put("dispatch", "field", "refused", b"{}", T0)
    assert main(["dlq", "--db", str(run_dir / "events.db"), "list"]) == 0
    assert "refused" in capsys.readouterr().out
    monkeypatch.chdir(tmp_path)
    # the default lives in the state dir (the checkout's var/gridaios unless told): point it
    # at an empty directory so no store of a real run is found
    monkeypatch.setenv("GRIDAIOS_STATE_DIR", str(tmp_path / "var" / "gridaios"))
    monkeypatch.setenv("GRIDAIOS_DLQ", str(run_dir / "deadletters.db"))
    assert main(["dlq", "list"]) == 0
    monkeypatch.delenv("GRIDAIOS_DLQ")
    assert main(["dlq", "list"]) == 2
    err = capsys.readouterr().err
    assert "var/gridaios/deadletters.db (the default of gridaios run)" in err
    default = tmp_path / "var" / "gridaios"
    default.mkdir(parents=True)
    DeadLetterStore(default / "deadletters.db").put("dispatch", "f", "in the default", b"", T0)
    assert main(["dlq", "list"]) == 0
    assert "in the default" in capsys.readouterr().out
