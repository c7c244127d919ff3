"""One layer on its own, as ``convcalc layer`` describes it: from flags to a one-row report.

The arithmetic is the same as in ``analyze``: this module turns command-line values into a layer
and a one-layer network, names the command's layer flags after the kinds' options (every option
of every kind has one, see :func:`layer_flags`), and reads a previous document to continue a
chain.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import replace
from typing import Any, Literal, NamedTuple

from convcalc.analysis import analyze
from convcalc.errors import OptionError, SpecError, suggestion
from convcalc.layers import Layer, all_kinds, kind_named
from convcalc.layers.base import Derivation, RFStep, Shape
from convcalc.options import OptionType, Scalar, options_of, parse_ints
from convcalc.receptive import ReceptiveField
from convcalc.report import Report
from convcalc.spec import LayerNode, Network
from convcalc.tensors import MAX_DIMENSION, check_magnitude, parse_shape

FLAG_NAMES = {"output": "out", "in_channels": "filters"}
"""Options whose flag is not their own name: an adaptive pool's output size is given by ``--out``
like fc's outputs (``--output`` names the output file), a conv's input channels by ``--filters
F×C×K×K``."""

OFF_FLAGS = {"shared": "per-channel"}
"""Switches whose off spelling is not ``--no-NAME``."""

COMPOSITE_FLAGS = frozenset({"filters"})
"""Flags the command declares itself, each read into several options (``--filters`` into the
filters, the kernel and the input channels): no flag is generated for the options they give."""

FlagForm = Literal["switch", "number", "text"]


class Flag(NamedTuple):
    """One generated flag of ``convcalc layer``: ``--NAME`` (and ``--OFF`` for a switch), how
    its value is read, and the options and kinds that take it."""

    name: str
    form: FlagForm
    off: str | None
    options: tuple[str, ...]
    kinds: tuple[str, ...]
    types: tuple[OptionType, ...]
    """The type of the option each of ``kinds`` gives with it."""


def flag_of(option: str) -> str:
    """The flag (without ``--``) that gives ``option``."""
    return FLAG_NAMES.get(option, option.replace("_", "-"))


def form_of(option_type: OptionType) -> FlagForm:
    """How a flag's value is read: a switch for true or false, a number, else text that the
    option's type reads (:meth:`OptionType.from_text`)."""
    if isinstance(option_type, Scalar) and option_type.python_type is bool:
        return "switch"
    if isinstance(option_type, Scalar) and option_type.python_type is float:
        return "number"
    return "text"


def layer_flags(kinds: Iterable[type[Layer]], reserved: Collection[str]) -> dict[str, Flag]:
    """The flags of every option of ``kinds``, in the order they first appear.

    Options of different kinds share a flag when they share a name (or a :data:`FLAG_NAMES`
    entry). A clash is an error here, when the flags are made, not a silent overwrite: two
    options read differently under one flag, or a flag that would take a name in ``reserved``
    (the command's own options)."""
    flags: dict[str, Flag] = {}
    for kind in kinds:
        for option in options_of(kind).options.values():
            name = flag_of(option.name)
            if name in COMPOSITE_FLAGS:
                continue
            if name in reserved:
                raise TypeError(
                    f"{kind.type_name}'s option {option.name} would be --{name}, which "
                    "convcalc layer already has; give it another flag in FLAG_NAMES"
                )
            form = form_of(option.type)
            off = (OFF_FLAGS.get(option.name) or f"no-{name}") if form == "switch" else None
            known = flags.get(name)
            if known is None:
                flags[name] = Flag(
                    name, form, off, (option.name,), (kind.type_name,), (option.type,)
                )
                continue
            if (known.form, known.off) != (form, off):
                raise TypeError(
                    f"--{name} is read as a {known.form} for {', '.join(known.kinds)} but as "
                    f"a {form} for {kind.type_name}'s option {option.name}"
                )
            flags[name] = known._replace(
                options=tuple(dict.fromkeys((*known.options, option.name))),
                kinds=(*known.kinds, kind.type_name),
                types=(*known.types, option.type),
            )
    return flags


def describe_flag(flag: Flag) -> str:
    """A generated flag's help: the kinds that take it, and what it takes."""
    kinds = ", ".join(flag.kinds)
    if flag.form == "switch":
        return f"{kinds}."
    words = " or ".join(dict.fromkeys(word for kind in flag.types for word in kind.words))
    return f"{kinds}: {words}."


def flag_forms(flag: Flag) -> str:
    """``N|HxW|same|valid``: the forms a text flag's value takes."""
    forms: list[str] = []
    for option_type in flag.types:
        forms += ["N"] if "a whole number" in option_type.words else []
        forms += ["HxW"] if option_type.takes_pair else []
        forms += option_type.choices
    return "|".join(dict.fromkeys(forms))


def options_given(kind: type[Layer], given: dict[str, Any]) -> dict[str, Any]:
    """The options of ``kind`` that generated flags give (``given``: flag → value)."""
    options = {}
    for name in options_of(kind).options:
        flag = flag_of(name)
        if flag in given:
            options[name] = given[flag]
    return options


def kind_of(kind_name: str) -> type[Layer]:
    """The layer kind ``--type`` names (canonical or alias)."""
    kind = kind_named(kind_name)
    if kind is None:
        known = all_kinds()
        raise SpecError(
            f"--type: unknown layer type {kind_name!r}{suggestion(kind_name, known)}; "
            f"choose one of {', '.join(sorted(known))}"
        )
    return kind


def not_applicable(flag: str, kind: type[Layer]) -> SpecError:
    """``--flag does not apply to KIND (it takes …)``."""
    offered = dict.fromkeys(f"--{flag_of(name)}" for name in options_of(kind).options)
    takes = ", ".join(offered) or "no options"
    return SpecError(f"--{flag} does not apply to {kind.type_name} (it takes {takes})")


def parse_input(text: str) -> Shape:
    """``--in``: a shape string."""
    return parse_shape(text)


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
    raise SpecError(f"expected F, FxK, FxKxK or FxCxKxK, got {text!r}")


def build(kind: type[Layer], options: dict[str, Any], shape: Shape) -> Layer:
    """The layer of ``kind`` with ``options`` (command-line values: text read by each option's
    type), checked for the type; messages name the flag each option comes from."""
    declared = options_of(kind).options
    values = {}
    for option, value in options.items():
        flag = f"--{flag_of(option)}"
        if option not in declared:
            raise not_applicable(flag_of(option), kind)
        try:
            values[option] = (
                declared[option].type.from_text(value) if isinstance(value, str) else value
            )
        except SpecError as error:
            raise SpecError(f"{flag}: {error.message}") from None
    missing = [name for name, option in declared.items() if option.required and name not in values]
    if missing:
        needs = " and ".join(f"--{flag_of(name)}" for name in missing)
        hint = (
            " (or give F×K to --filters)" if missing == ["kernel"] and "filters" in values else ""
        )
        raise SpecError(f"{kind.type_name} needs {needs}{hint}")
    try:
        for option, value in values.items():
            check_magnitude(option, value)
        return kind(**values)
    except OptionError as error:
        raise SpecError(f"--{flag_of(error.option)}: {error.message.split(': ', 1)[1]}") from None


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
    """The final output shape, field, network input, batch and dtype of a convcalc document."""
    try:
        shape = parse_shape(document["layers"][-1]["output"])
        network_input = parse_shape(document["input"])
        rf = document["totals"]["rf"]
        field = None
        if rf is not None:
            field = ReceptiveField(
                size=(float(rf["size"][0]), float(rf["size"][1])),
                jump=(float(rf["jump"][0]), float(rf["jump"][1])),
                start=(float(rf["start"][0]), float(rf["start"][1])),
                is_global=bool(rf.get("global", False)),
            )
        given_batch = batch or int(document["batch"])
        if not 1 <= given_batch <= MAX_DIMENSION:
            raise ValueError(given_batch)
        return (
            shape,
            field,
            network_input,
            given_batch,
            dtype or str(document["dtype"]),
        )
    except (KeyError, IndexError, TypeError, ValueError, SpecError):
        raise SpecError(
            "--in -: stdin is not a convcalc JSON document (no layers, totals or input)"
        ) from None
