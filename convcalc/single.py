"""One layer on its own, as ``convcalc layer`` describes it: from flags to a one-row report.

The arithmetic is the same as in ``analyze``: this module only turns command-line values into a
layer and a one-layer network, and reads a previous document to continue a chain.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import MISSING, fields, replace
from typing import Any, get_type_hints

from convcalc.analysis import analyze
from convcalc.errors import OptionError, SpecError, shorten, suggestion
from convcalc.layers import Layer, all_kinds, kind_named
from convcalc.layers.base import Derivation, RFStep, Shape
from convcalc.receptive import ReceptiveField
from convcalc.report import Report
from convcalc.spec import LayerNode, Network
from convcalc.tensors import DTYPE_BYTES, MAX_DIMENSION, check_magnitude, magnitude, parse_shape

_NUMBERS = re.compile(r"\s*[xX×*,]\s*")


def parse_input(text: str) -> Shape:
    """``--in``: a shape string."""
    return parse_shape(text)


MAX_DIGITS = 30
"""A number on the command line with more digits is refused before it is converted."""


def parse_ints(text: str) -> list[int]:
    """``3x5`` → ``[3, 5]``; anything else is an error naming the bad part."""
    parts = _NUMBERS.split(text.strip())
    if not all(re.fullmatch(r"[+-]?[0-9]+", part) for part in parts):
        raise SpecError(f"expected whole numbers like 3 or 3x5, got {shorten(text)!r}")
    for part in parts:
        digits = len(part.lstrip("+-"))
        if digits > MAX_DIGITS:
            # Not worth converting (and past Python's 4,300-digit limit): worded as the option
            # checks word a number too large.
            raise SpecError(
                f"a {digits}-digit number is larger than any real tensor dimension "
                f"(at most {MAX_DIMENSION:,})"
            )
    return [int(part) for part in parts]


def parse_pair(text: str) -> int | tuple[int, int]:
    """An int or ``HxW``."""
    numbers = parse_ints(text)
    if len(numbers) == 1:
        return numbers[0]
    if len(numbers) == 2:
        return (numbers[0], numbers[1])
    raise SpecError(f"expected N or HxW, got {shorten(text)!r}")


def parse_filters(text: str) -> dict[str, Any]:
    """``--filters``: F, F×K, F×KH×KW or F×C×KH×KW (C is the filters' channel count)."""
    numbers = parse_ints(text)
    if len(numbers) == 1:
        return {"filters": numbers[0]}
    if len(numbers) == 2:
        return {"filters": numbers[0], "kernel": numbers[1]}
    if len(numbers) == 3:
        return {"filters": numbers[0], "kernel": (numbers[1], numbers[2])}
    if len(numbers) == 4:
        return {
            "filters": numbers[0],
            "in_channels": numbers[1],
            "kernel": (numbers[2], numbers[3]),
        }
    raise SpecError(f"expected F, FxK, FxKxK or FxCxKxK, got {shorten(text)!r}")


def coerce(option: str, value: Any, annotation: str) -> Any:
    """A command-line string for ``option`` as the value its annotation asks for.

    ``annotation`` is the option's resolved type as text (e.g. ``int | tuple[int, int] |
    Literal['same', 'valid']``): words such as ``same`` or ``depthwise`` are accepted only where
    the type lists them, and ``HxW`` only where it takes a pair.
    """
    if not isinstance(value, str):
        return value
    word = value.strip().lower()
    if word in ("same", "valid", "depthwise") and repr(word) in annotation:
        return word
    words = [w for w in ("same", "valid", "depthwise") if repr(w) in annotation]
    if words and not re.fullmatch(r"[\s0-9xX×*,+-]+", value):
        raise SpecError(
            f"expected whole numbers like 3 or 3x5, or {' or '.join(words)}, got {shorten(value)!r}"
        )
    if "tuple" in annotation:
        return parse_pair(value)
    numbers = parse_ints(value)
    if len(numbers) != 1:
        raise SpecError(f"expected one whole number, got {shorten(value)!r}")
    return numbers[0]


def build(kind_name: str, options: dict[str, Any], shape: Shape, flags: dict[str, str]) -> Layer:
    """The layer of ``kind_name`` with ``options`` (command-line values), checked for the type.

    ``flags`` names the flag each option comes from, for messages.
    """
    kind = kind_named(kind_name)
    if kind is None:
        known = all_kinds()
        raise SpecError(
            f"--type: unknown layer type {shorten(kind_name)!r}{suggestion(kind_name, known)}; "
            f"choose one of {', '.join(sorted(known))}"
        )
    declared = {field.name: field for field in fields(kind)}
    # The layer modules use postponed annotations: resolve them, so that `IntPair` reads as
    # `int | tuple[int, int]` and `coerce` can tell which options take a pair or a word.
    types = get_type_hints(kind)
    if "out" in options and "output" in declared:
        options["output"] = options.pop("out")
    values = {}
    for option, value in options.items():
        flag = f"--{flags.get(option, option)}"
        if option not in declared:
            # Options without a command-line flag (e.g. avgpool's count_include_pad) are not
            # offered; in_channels comes from --filters, which is listed once.
            offered = dict.fromkeys(f"--{flags[name]}" for name in declared if name in flags)
            takes = ", ".join(offered) or "no options"
            raise SpecError(f"{flag} does not apply to {kind.type_name} (it takes {takes})")
        try:
            values[option] = coerce(option, value, str(types[option]))
        except SpecError as error:
            raise SpecError(f"{flag}: {error.message}") from None
    missing = [
        name
        for name, field in declared.items()
        if name not in values and field.default is MISSING and field.default_factory is MISSING
    ]
    if missing:
        needs = " and ".join(f"--{flags.get(name, name)}" for name in missing)
        hint = (
            " (or give F×K to --filters)" if missing == ["kernel"] and "filters" in values else ""
        )
        raise SpecError(f"{kind.type_name} needs {needs}{hint}")
    try:
        for option, value in values.items():
            check_magnitude(option, value)
        return kind(**values)
    except OptionError as error:
        raise SpecError(
            f"--{flags.get(error.option, error.option)}: {error.message.split(': ', 1)[1]}"
        ) from None


def analyze_layer(
    layer: Layer,
    shape: Shape,
    *,
    batch: int = 1,
    dtype: str = "float32",
    strict: bool = False,
    start: ReceptiveField | None = None,
    origin: Shape | None = None,
) -> Report:
    """The one-row report of ``layer`` applied to ``shape``.

    When continuing a chain, ``start`` is the previous document's final field and ``origin`` the
    input of the network the chain started from: the field is measured in that input's pixels (a
    global field spans its H×W), so the document names it as its ``input`` and the next link in the
    chain keeps measuring against it.
    """
    network = Network(
        input=shape,
        layers=(LayerNode(name=None, spec_path="", layer=layer),),
        batch=batch,
        dtype=dtype,
    )
    extent = (origin[1], origin[2]) if origin is not None and len(origin) == 3 else None
    report = analyze(network, strict=strict, start=start, extent=extent)
    if origin is not None:
        report = replace(report, input=origin)
    row = report.rows[0]
    if row.rf is None:
        return report
    before = start if start is not None else ReceptiveField()
    growth = rf_growth(before, layer.apply(shape).rf, row.rf)
    return replace(report, rows=(replace(row, derivations=(*row.derivations, growth)),))


def rf_growth(before: ReceptiveField, step: RFStep, after: ReceptiveField) -> Derivation:
    """r = r_prev + (K_eff − 1)·j_prev per axis, with this layer's numbers."""
    if after.is_global:
        return Derivation("RF size", "every output sees the whole input", units_pair(after.size))
    terms = [
        f"{r:g} + {axis.span:g}·{j:g}"
        for r, j, axis in zip(before.size, before.jump, step.axes, strict=True)
    ]
    formula = terms[0] if terms[0] == terms[1] else " , ".join(terms)
    return Derivation("RF size", formula, units_pair(after.size))


def units_pair(values: tuple[float, float]) -> str:
    """``(5.0, 5.0)`` → ``5×5``."""
    return "×".join(f"{value:g}" for value in values)


def continue_from(
    document: Any, batch: int | None, dtype: str | None
) -> tuple[Shape, ReceptiveField | None, Shape, int | None, str | None]:
    """The final output shape, field, network input, batch and dtype of a convcalc document,
    each checked as a spec's value would be (a message names the field it read from stdin)."""
    try:
        output = document["layers"][-1]["output"]
        network_input = document["input"]
        rf = document["totals"]["rf"]
        given_batch = document["batch"] if batch is None else batch
        given_dtype = document["dtype"] if dtype is None else dtype
    except (KeyError, IndexError, TypeError):
        raise SpecError(
            "--in -: stdin is not a convcalc JSON document (no layers, totals or input)"
        ) from None
    field = None
    if rf is not None:
        try:
            field = ReceptiveField(
                size=stdin_pair("totals.rf.size", rf["size"]),
                jump=stdin_pair("totals.rf.jump", rf["jump"]),
                start=stdin_pair("totals.rf.start", rf["start"]),
                is_global=rf.get("global", False) is True,
            )
        except (KeyError, TypeError):
            raise SpecError("--in -: totals.rf from stdin: expected size, jump and start") from None
    if isinstance(given_batch, bool) or not isinstance(given_batch, int):
        shown = json.dumps(given_batch) if isinstance(given_batch, bool | float) else given_batch
        raise from_stdin("batch", f"expected a whole number, got {shorten(shown)}")
    if not 1 <= given_batch <= MAX_DIMENSION:
        raise from_stdin("batch", f"expected 1 to {MAX_DIMENSION:,}, got {magnitude(given_batch)}")
    if not isinstance(given_dtype, str) or given_dtype not in DTYPE_BYTES:
        raise from_stdin(
            "dtype", f"choose one of {', '.join(DTYPE_BYTES)}, got {shorten(given_dtype)}"
        )
    return (
        stdin_shape("layers[-1].output", output),
        field,
        stdin_shape("input", network_input),
        given_batch,
        given_dtype,
    )


def from_stdin(name: str, message: str) -> SpecError:
    """An error in the field ``name`` of the document on stdin."""
    return SpecError(f"--in -: {name} from stdin: {message}")


def stdin_shape(name: str, value: Any) -> Shape:
    """A shape from the document on stdin, checked as a spec's."""
    try:
        return parse_shape(value)
    except SpecError as error:
        raise from_stdin(name, error.message) from None


def stdin_pair(name: str, value: Any) -> tuple[float, float]:
    """Two finite numbers (a field's per-axis values) from the document on stdin."""
    if not isinstance(value, list) or len(value) != 2:
        raise from_stdin(name, f"expected two numbers, got {shorten(value)}")
    numbers = []
    for item in value:
        if isinstance(item, bool) or not isinstance(item, int | float):
            raise from_stdin(name, f"expected a number, got {shorten(item)}")
        try:
            number = float(item)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise from_stdin(name, f"expected a finite number, got {shorten(item)}")
        numbers.append(number)
    return numbers[0], numbers[1]
