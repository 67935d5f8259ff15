"""Only the gate can mint an ApprovedCommand; it cannot be forged, changed or copied."""

from __future__ import annotations

import copy
import pickle

import pytest

from safety import Accepted, ApprovedCommand, evaluate
from safety.approved import _claim_minter
from tests.safety.harness import T0, cmd, site, snapshot


def _approved() -> ApprovedCommand:
    (verdict,) = evaluate([cmd("a", value=42.0)], snapshot(), site(), T0)
    assert isinstance(verdict, Accepted)
    return verdict.approved


@pytest.mark.parametrize("token", [None, object(), "mint"])
def test_direct_construction_is_refused(token: object) -> None:
    with pytest.raises(TypeError, match=r"only be created by safety.evaluate"):
        ApprovedCommand(command=cmd("x"), value=1.0, _mint=token)


def test_the_minter_is_claimed_once_by_the_gate() -> None:
    with pytest.raises(RuntimeError, match=r"belongs to safety\.gate"):
        _claim_minter()


def test_approved_is_immutable_and_not_copyable() -> None:
    approved = _approved()
    assert (approved.key, approved.asset, approved.value) == ("a", "bat1", 42.0)
    with pytest.raises(AttributeError):
        approved._value = 1e6  # type: ignore[misc]
    with pytest.raises(TypeError):
        pickle.dumps(approved)
    with pytest.raises(TypeError):
        copy.copy(approved)
