"""``--where``: what expressions keep, and where a malformed one goes wrong."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from convcalc.where import GrammarError, parse_where

NAMES = ("params", "macs", "rf", "width")


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("params < 5M", True),
        ("params < 4.5M", False),
        ("params <= 4.6e6 and rf >= 200", True),
        ("params > 5M or rf == 212", True),
        ("not (rf > 100)", False),
        ("macs >= 1.2G", True),
        ("macs > 1.2G", False),
        ("width != 64 and (params < 1k or rf > 2e2)", True),
        ("2k < params", True),
    ],
)
def test_expressions(expression: str, expected: bool) -> None:
    values = {"params": 4.6e6, "macs": 1.2e9, "rf": 212, "width": 32}
    assert parse_where(expression, NAMES)(values) is expected


@pytest.mark.parametrize(
    ("expression", "message", "caret"),
    [
        ("params 5e6", "--where: expected a comparison (<, <=, >, >=, ==, !=), got `5e6`", 7),
        ("params < 5e6 and", "--where: expected a name or a number, got the end", 16),
        (
            "parms < 5",
            "--where: unknown name `parms` (did you mean `params`?); names: params, "
            "macs, rf, width",
            0,
        ),
        ("params < 5 rf > 2", "--where: expected `and`, `or` or the end, got `rf`", 11),
        ("(params < 5", "--where: `(` at column 1 is never closed", 11),
        ("params < 5 ; rf", "--where: unexpected `;`", 11),
        ("params = 5", "--where: unexpected `=`", 7),
        ("", "--where: the expression is empty", 0),
    ],
)
def test_errors_point_at_the_token(expression: str, message: str, caret: int) -> None:
    with pytest.raises(GrammarError) as caught:
        parse_where(expression, NAMES)
    assert str(caught.value) == message
    assert caught.value.detail() == f"  {expression}\n  {' ' * caret}^"


@given(
    left=st.integers(0, 10**9),
    right=st.integers(0, 10**9),
    op=st.sampled_from(["<", "<=", ">", ">=", "==", "!="]),
)
def test_comparisons_agree_with_python(left: int, right: int, op: str) -> None:
    expected = {
        "<": left < right,
        "<=": left <= right,
        ">": left > right,
        ">=": left >= right,
        "==": left == right,
        "!=": left != right,
    }[op]
    assert parse_where(f"params {op} {right}", NAMES)({"params": left}) is expected
