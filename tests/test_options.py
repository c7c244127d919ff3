"""The plain option checks against the strict pydantic-core validator they stand in for."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic_core import ValidationError

from convcalc.layers import LAYER_KINDS, Layer
from convcalc.options import InvalidOptions, options_of, validated_options

KINDS = sorted(set(LAYER_KINDS.values()), key=lambda kind: kind.type_name)

scalars = st.one_of(
    st.integers(-3, 10),
    st.booleans(),
    st.floats(allow_nan=False) | st.sampled_from([0.0, 1.0, 2.5, float("inf")]),
    st.sampled_from(["same", "valid", "depthwise", "max", "", "x"]),
    st.none(),
)
values = st.one_of(scalars, st.lists(scalars, max_size=3).map(tuple))


def typed(value: Any) -> Any:
    """``value`` with the type of every part, so that ``1``, ``1.0`` and ``True`` differ."""
    if isinstance(value, tuple):
        return tuple(typed(item) for item in value)
    return (type(value), value)


@st.composite
def option_sets(draw: st.DrawFn) -> tuple[type[Layer], dict[str, Any]]:
    kind = draw(st.sampled_from(KINDS))
    names = [*options_of(kind).options, "bogus"]
    chosen = draw(st.lists(st.sampled_from(names), unique=True, max_size=len(names)))
    return kind, {name: draw(values) for name in chosen}


@settings(max_examples=400, deadline=None)
@given(option_sets())
def test_plain_checks_accept_only_what_the_validator_returns_unchanged(
    case: tuple[type[Layer], dict[str, Any]],
) -> None:
    kind, options = case
    plain = options_of(kind).plain(options)
    try:
        strict = options_of(kind).validator().validate_python(options)
    except ValidationError:
        assert plain is None, f"{kind.type_name}: plain checks accept {options}"
        return
    if plain is not None:
        assert {k: typed(v) for k, v in plain.items()} == {k: typed(v) for k, v in strict.items()}


def test_valid_specs_never_need_the_validator() -> None:
    """Every zoo model and example passes the plain checks: pydantic-core is not imported."""
    root = Path(__file__).resolve().parent.parent
    script = (
        "import sys\n"
        "from convcalc.analysis import analyze\n"
        "from convcalc.sources import load\n"
        "from convcalc.zoo import names\n"
        "for source in [*(f'zoo:{name}' for name in names()), *sys.argv[1:]]:\n"
        "    analyze(load(source))\n"
        "print('pydantic_core' in sys.modules)\n"
    )
    examples = [str(path) for path in sorted((root / "examples").glob("*.yaml"))]
    result = subprocess.run(
        [sys.executable, "-c", script, *examples],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(root)},
        check=True,
    )
    assert result.stdout.strip() == "False"


def test_invalid_options_carry_the_validators_problems() -> None:
    conv = LAYER_KINDS["conv"]
    with pytest.raises(InvalidOptions) as caught:
        validated_options(conv, {"filters": True, "kernel": 3, "strides": 2})
    assert {problem["type"] for problem in caught.value.problems} >= {"extra_forbidden"}
    assert {str(problem["loc"][0]) for problem in caught.value.problems} == {"filters", "strides"}


def test_a_whole_number_for_a_float_option_becomes_a_float() -> None:
    options = validated_options(LAYER_KINDS["dropout"], {"p": 0})
    assert options == {"p": 0.0} and type(options["p"]) is float


def test_a_whole_number_too_large_for_a_float_is_left_to_the_validator() -> None:
    dropout = LAYER_KINDS["dropout"]
    assert options_of(dropout).plain({"p": 10**400}) is None
    with pytest.raises(InvalidOptions) as caught:
        validated_options(dropout, {"p": 10**400})
    assert [str(problem["loc"][0]) for problem in caught.value.problems] == ["p"]
