"""Checks of free text operators send to the API."""

from __future__ import annotations


def printable_text(value: str) -> str:
    """Free text an operator typed: no lone surrogates, no control characters but tab and
    newline (either would corrupt or spoof the audit record)."""
    for i, ch in enumerate(value):
        code = ord(ch)
        if 0xD800 <= code <= 0xDFFF:
            raise ValueError(f"character {i} is a lone UTF-16 surrogate; send valid Unicode")
        if (code < 0x20 and ch not in "\t\n") or 0x7F <= code < 0xA0:
            raise ValueError(f"character {i} is a control character (U+{code:04X}); remove it")
    return value
