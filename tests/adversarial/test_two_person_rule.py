"""Invariant: a two-person approval needs two *different, authenticated* people.

Attacker: someone with shell access to the box and one operator account (alice). They
try to be two people: approve from the shell with no proof, with another person's
name but their own token, and as alice under every respelling (spaces, case, Unicode
compatibility forms). Every grant must come from a proven principal, record how it
was proven, and one person counts once however their name is spelled.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.approvals import book as approvals
from runtime.log.eventlog import EventLog
from tests.adversarial.rig import PASSWORD, add_user, grants, gridaios, no_traceback, request


def _setup(tmp: Path) -> tuple[Path, Path, dict[str, str], str]:
    db, users = tmp / "events.db", tmp / "users.db"
    tokens = {name: add_user(users, db, name) for name in ("alice", "bob")}
    log = EventLog(db)
    request(log, "d2", requirement="two_operators", value=220.0)
    log.close()
    return db, users, tokens, "d2"


def test_the_shell_cannot_be_two_people(tmp_path: Path) -> None:
    db, _, tokens, did = _setup(tmp_path)
    cli = ["approvals", "--db", str(db), "approve", did]
    # no proof at all: refused, nothing recorded
    bare = gridaios(*cli, "--user", "alice")
    assert bare.returncode == 2, bare.stdout
    no_traceback(bare)
    assert "prove" in bare.stderr or "password" in bare.stderr
    # bob's name with alice's token: refused
    borrowed = gridaios(*cli, "--user", "bob", "--token", tokens["alice"])
    assert borrowed.returncode == 2 and "belongs to alice" in borrowed.stderr
    # a wrong password: refused (and counted toward alice's lockout)
    wrong = gridaios(*cli, "--user", "alice", "--password-stdin", stdin="guess\n")
    assert wrong.returncode == 2 and "wrong password" in wrong.stderr
    assert grants(db, did) == []
    # alice with her password: one grant, recorded with how she proved it
    ok = gridaios(*cli, "--user", "alice", "--password-stdin", stdin=PASSWORD + "\n")
    assert ok.returncode == 0, ok.stderr
    # alice again, respelled, with her own proof: still alice
    for spelled in ("alice ", "ALICE", " Alice", "\uff41lice"):
        again = gridaios(*cli, "--user", spelled, "--token", tokens["alice"])
        assert again.returncode != 0, (spelled, again.stdout)
        no_traceback(again)
    assert [(g["user"], g["auth"]) for g in grants(db, did)] == [("alice", "local:password")]
    log = EventLog(db)
    assert approvals.find_pending(log, did).approvers == ("alice",)
    log.close()
    # bob completes it
    assert gridaios(*cli, "--token", tokens["bob"]).returncode == 0
    assert [(g["user"], g["auth"]) for g in grants(db, did)][-1] == ("bob", "local:api-token")


def test_a_grant_forged_into_the_file_under_a_respelled_name_counts_once(tmp_path: Path) -> None:
    """Someone who writes the log directly (around ``approve``) under 'ALICE ' still does
    not make a second person: the book folds names canonically."""
    db, _, tokens, did = _setup(tmp_path)
    assert (
        gridaios(
            "approvals", "--db", str(db), "approve", did, "--token", tokens["alice"]
        ).returncode
        == 0
    )
    log = EventLog(db)
    p = approvals.find_pending(log, did)
    log.append(
        approvals.GRANTED,
        {"user": "ALICE ", "reason": "me again", "plan_hash": p.plan_hash},
        ts=p.requested_at,
        dispatch_id=did,
    )
    again = approvals.find_pending(log, did)
    log.close()
    assert again.approvers == ("alice",) and not again.complete
    with sqlite3.connect(db) as raw:  # and it really is in the file
        assert (
            raw.execute("select count(*) from events where kind='approval.granted'").fetchone()[0]
            == 2
        )


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.tuples(
        st.sampled_from(["", " ", "\t", "\u3000", "\u00a0"]),
        st.sampled_from(["alice", "ALICE", "Alice", "aLiCe", "\uff41\uff4c\uff49\uff43\uff45"]),
        st.sampled_from(["", " ", "  ", "\u2003"]),
    )
)
def test_no_spelling_of_the_same_name_is_a_second_approver(
    tmp_path_factory: object, parts: tuple[str, str, str]
) -> None:
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        log = EventLog(Path(tmp) / "events.db")
        digest = request(log, "d", requirement="two_operators", value=220.0)
        p = approvals.find_pending(log, "d")
        approvals.approve(log, "d", "alice", "ok", p.requested_at, plan_hash=digest)
        spelled = "".join(parts)
        try:
            approvals.approve(log, "d", spelled, "me again", p.requested_at, plan_hash=digest)
        except approvals.ApprovalError:
            pass
        else:
            raise AssertionError(f"{spelled!r} counted as a second person")
        assert len(approvals.find_pending(log, "d").approvers) == 1
        log.close()


def test_a_name_with_a_trailing_newline_is_not_a_second_account(tmp_path: Path) -> None:
    """``$`` matches before a final newline: ``alice\\n`` passed the name rule and became a
    second account whose canonical name is alice's (shown as two users, one person)."""
    from datetime import UTC, datetime

    import pytest

    from runtime.api.auth import AuthError, UserStore

    store = UserStore(tmp_path / "users.db")
    try:
        store.add("alice", PASSWORD, "operator", datetime.now(UTC))
        for name in ("alice\n", "bob\n"):
            with pytest.raises(AuthError):
                store.add(name, PASSWORD, "operator", datetime.now(UTC))
        assert [u.username for u in store.list()] == ["alice"]
    finally:
        store.close()
