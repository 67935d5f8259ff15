"""Text normalisation for operator requests: case, punctuation, number words, units.

Pure functions over strings; the result keeps the words the later steps look for.
"""

from __future__ import annotations

import re

_UNITS = {
    "zero": 0,
    "one": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
    "eleven": 11,
    "twelve": 12,
    "thirteen": 13,
    "fourteen": 14,
    "fifteen": 15,
    "sixteen": 16,
    "seventeen": 17,
    "eighteen": 18,
    "nineteen": 19,
}
_TENS = {
    "twenty": 20,
    "thirty": 30,
    "forty": 40,
    "fifty": 50,
    "sixty": 60,
    "seventy": 70,
    "eighty": 80,
    "ninety": 90,
}
_SCALES = {"hundred": 100, "thousand": 1000}
NUMBER_WORDS = frozenset(_UNITS) | frozenset(_TENS) | frozenset(_SCALES)


def _words_to_number(words: list[str]) -> int | None:
    total, current = 0, 0
    seen = False
    for w in words:
        if w == "and":
            continue
        if w in _UNITS:
            current += _UNITS[w]
        elif w in _TENS:
            current += _TENS[w]
        elif w == "hundred":
            current = max(current, 1) * 100
        elif w == "thousand":
            total += max(current, 1) * 1000
            current = 0
        else:
            return None
        seen = True
    return total + current if seen else None


def number_words_to_digits(text: str) -> str:
    """'one hundred and fifty kw' -> '150 kw'; 'sixty five' -> '65'; 'a hundred' -> '100'."""
    tokens = text.split(" ")
    out: list[str] = []
    i = 0
    while i < len(tokens):
        j = i
        run: list[str] = []
        while j < len(tokens) and (
            tokens[j] in NUMBER_WORDS
            or (
                tokens[j] == "and" and run and j + 1 < len(tokens) and tokens[j + 1] in NUMBER_WORDS
            )
        ):
            run.append(tokens[j])
            j += 1
        if run and tokens[i] != "and":
            if i > 0 and tokens[i - 1] == "a" and run[0] in _SCALES and out:
                out.pop()  # 'a hundred' -> '100'
            value = _words_to_number(run)
            out.append(str(value) if value is not None else " ".join(run))
            i = j
        else:
            out.append(tokens[i])
            i += 1
    return " ".join(out)


def normalise(text: str) -> str:
    """Lower case, one space, punctuation that carries meaning kept, units and ids joined."""
    t = text.lower().replace("\u2013", "-").replace("\u2014", "-").replace("\u2019", "'")
    t = re.sub(r"\bp\.\s?m\.?", "pm", t)
    t = re.sub(r"\ba\.\s?m\.?", "am", t)
    t = re.sub(r"(\d),(\d)", r"\1.\2", t)  # decimal comma
    t = re.sub(r"(\d)\s*%", r"\1 percent", t)
    t = re.sub(r"->|=>|[!?;\"()\[\]{}]", " ", t)
    t = re.sub(r"[,:](?!\d)", " ", t)  # keep 19:30
    t = re.sub(r"(?<!\d)\.(?!\d)", " ", t)  # keep 0.15 and 19.30
    t = t.replace("@", " at ")
    t = re.sub(r"\bdis-\s?charg", "discharg", t)
    t = re.sub(r"\b([a-z]+)-\s?(\d+)\b", r"\1 \2", t)  # bat-1 -> bat 1
    t = re.sub(r"(\d)([a-z])", r"\1 \2", t)  # 60kw -> 60 kw, 8pm -> 8 pm
    t = re.sub(r"\b(\d+(?:\.\d+)?) e(\d+)\b", r"\1e\2", t)  # 1e2 split by the rule above
    t = " ".join(t.split())
    return number_words_to_digits(t)
