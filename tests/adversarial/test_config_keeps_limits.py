"""Invariant: a site config cannot silently remove a limit.

Attacker: anyone who can edit the YAML (or a tool that writes it badly). Infinite,
NaN, astronomically large or physically impossible ratings, a duplicated key whose
last value wins, non-UTF-8 bytes, a deeply nested or alias-bomb document: each is a
one-line refusal with exit 2, never OK and never a traceback.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.config.load import parse_config
from runtime.core.errors import ConfigError
from tests.adversarial.rig import REPO, gridaios, no_traceback

DEMO = (REPO / "configs" / "demo-feeder.yaml").read_text()
FIELDS = ("max_discharge_kw: 250", "max_charge_kw: 250")


def _with(old: str, new: str) -> str:
    assert old in DEMO
    return DEMO.replace(f"    {old}", f"    {new}", 1)


def _check(tmp: Path, text: str | bytes) -> tuple[int, str]:
    path = tmp / "site.yaml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    proc = gridaios("check-config", str(path))
    no_traceback(proc)
    return proc.returncode, proc.stderr


@pytest.mark.parametrize(
    "value", [".inf", "-.inf", ".nan", "1.0e308", "'1e308'", "'inf'", "99999", "1.0e10"]
)
def test_a_limit_that_limits_nothing_is_refused(tmp_path: Path, value: str) -> None:
    code, err = _check(tmp_path, _with(FIELDS[0], f"max_discharge_kw: {value}"))
    assert code == 2, err
    assert "max_discharge_kw" in err


def test_a_duplicated_key_is_refused_not_overwritten(tmp_path: Path) -> None:
    code, err = _check(tmp_path, _with(FIELDS[1], "max_charge_kw: 250\n    max_charge_kw: 99999"))
    assert code == 2 and "appears twice" in err and "max_charge_kw" in err


def test_non_utf8_and_hostile_documents_are_bad_input(tmp_path: Path) -> None:
    code, err = _check(tmp_path, DEMO.encode().replace(b"Demo feeder", b"Demo \xff\xfe feeder"))
    assert code == 2 and "UTF-8" in err
    code, err = _check(tmp_path, "site: " + "[" * 20000 + "]" * 20000 + "\n")
    assert code == 2 and "nested deeper" in err
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{n}: &{n} [{', '.join(['*' + p] * 9)}]\n"
        for p, n in zip("abcdefgh", "bcdefghi", strict=True)
    )
    code, err = _check(tmp_path, bomb)
    assert code == 2 and "too many values" in err


@settings(max_examples=80, deadline=None)
@given(
    field=st.sampled_from(
        ["max_discharge_kw", "max_charge_kw", "rated_kw", "transformer_rating_kw"]
    ),
    value=st.one_of(
        st.sampled_from([float("inf"), float("-inf"), float("nan")]),
        st.floats(min_value=1.5e6, max_value=1.7e308),
    ),
)
def test_no_non_finite_or_huge_rating_loads(field: str, value: float) -> None:
    text = DEMO
    for line in text.splitlines():
        if line.strip().startswith(f"{field}:"):
            text = text.replace(line, f"{line.split(':')[0]}: {value!r}", 1)
            break
    text = text.replace("network: networks/", f"network: {REPO / 'configs' / 'networks'}/")
    text = text.replace("inf", ".inf").replace("nan", ".nan").replace("..", ".")
    with pytest.raises(ConfigError) as raised:
        parse_config(text, "site.yaml")
    assert field in str(raised.value)
