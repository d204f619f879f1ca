"""The ROLLBACK literal's quick reading (JSON) gives exactly what ``ast.literal_eval`` gives,
and leaves to it every literal it could read otherwise or would refuse."""

from __future__ import annotations

import ast
import random
from typing import Any

import pytest

from krkn_airflow_provider.errors import CorruptRecord
from krkn_airflow_provider.rollback import versionfile

from .conftest import delete_record

# Characters a string in a record may hold: quotes, backslashes, control characters, words
# JSON spells otherwise, non-ASCII and line separators.
ALPHABET = ["a", "Z", "0", " ", "'", '"', "\\", "\n", "\t", "\x00", "\x7f", "é", "\u2028", "\U0001f600",
            "True", "None", "False", "{", "]", ":", ",", "#", "-1", "e5"]  # fmt: skip


def _value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(9 if depth < 4 else 6)
    if kind == 0:
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(6)))
    if kind == 1:
        return rng.randrange(-(10**20), 10**20)
    if kind == 2:
        return rng.choice([0.5, -2.25e-7, 1e300, 123456.789, -0.0, 0.0])
    if kind == 3:
        return rng.choice([True, False, None])
    if kind in (4, 5):
        return "".join(rng.choice("abc-./") for _ in range(rng.randrange(1, 8)))
    if kind == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {_value(rng, 4) if kind == 7 else "k": _value(rng, depth + 1) for _ in range(rng.randrange(4))}


def _read(literal: str) -> Any:
    """What the journal reads, or the refusal's class."""
    try:
        return versionfile._read_literal(literal, "test")
    except CorruptRecord:
        return CorruptRecord


def _reference(literal: str) -> Any:
    """What the journal read before the quick reading: ast, then the JSON check."""
    try:
        data = ast.literal_eval(literal)
        versionfile.canonical_json(data)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return CorruptRecord
    return data if isinstance(data, dict) else CorruptRecord


def test_every_literal_the_journal_writes_reads_back_the_same_either_way() -> None:
    rng = random.Random(17)
    quick = 0
    for _ in range(3000):
        data = {"key": _value(rng), "other": _value(rng)}
        for literal in (versionfile._literal(data), repr(data)):
            # repr: 1 and 1.0, 0.0 and -0.0 are equal but not the same value.
            expected = _reference(literal)
            assert repr(_read(literal)) == repr(expected), literal
            if expected is not CorruptRecord:
                assert repr(expected) == repr(data)
            quick += versionfile._plain_literal(literal) is not None
    assert quick > 1000  # most of them took the quick way


def test_a_written_record_takes_the_quick_way() -> None:
    data = delete_record().to_dict()
    literal = versionfile._literal(data)
    assert versionfile._plain_literal(literal) == data == ast.literal_eval(literal)


@pytest.mark.parametrize(
    "literal",
    [
        "{'a': 'x' 'y'}",  # strings side by side join in Python
        "{'a': (1, 2)}",  # a tuple
        "{'a': 1,}",  # a trailing comma
        "{'a': 00}",
        "{'a': 1_000}",
        "{'a': 0x10}",
        "{'a': .5}",
        "{'a': 5.}",
        "{'a': - 1}",
        "{'a': +1}",
        "{'a': 1e400}",  # infinite: no JSON value
        "{'a': NaN}",
        "{'a': Infinity}",
        "{'a': 'b\\n'}",  # an escape
        "{'a': 'it\"s'}",
        "{'a': # a comment\n 1}",
        "{'a':\t1}",
        "{'a': {1, 2}}",  # a set
        "{'a': b'x'}",
        "{'a': u'x'}",
        "{'a': f'x'}",
        "{1: 'int key'}",
        "{'a': 1j}",
        "{'a': True}",
        "{'True': None, 'x': 'None False', \"y\": False}",
        "{'a': TrueFalse}",
        "{'a': None1}",
        "{'a': '\ud800'}",  # a lone surrogate: Python cannot compile it
        "[1, 2]",
        "{'a': 1} {'b': 2}",
        "{'a': " + "[" * 150 + "]" * 150 + "}",  # nested deeper than the quick way reads
        "{'a': " + "[" * 300 + "]" * 300 + "}",  # deeper than Python reads
        "{'a': " + "1" * 5000 + "}",  # more digits than int() converts
        "{'a': __import__('os')}",
        "{'a': [" + "1, " * 2000 + "1]}",
        "{'a': 1111111111111111111111111111111111111111x}",
    ],
)
def test_odd_literals_read_exactly_as_python_reads_them(literal: str) -> None:
    expected = _reference(literal)
    assert repr(_read(literal)) == repr(expected)
    quick = versionfile._plain_literal(literal)
    assert quick is None or repr(quick) == repr(ast.literal_eval(literal))


def test_the_quick_way_refuses_in_linear_time() -> None:
    # Possessive matching: a long run that fails at its very end is not retried.
    for literal in ["1" * 200_000 + "x", " " * 200_000 + "x", "'a'" * 70_000 + "x"]:
        assert versionfile._plain_literal(literal) is None
