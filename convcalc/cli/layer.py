"""``convcalc layer``: one layer, every number with its formula filled in.

Besides the options declared here, the command has one flag per option of every layer kind
(``--kernel``, ``--eps``, ``--count-include-pad``…), generated from the kinds' options by
:class:`LayerCommand`: a new option of a kind is a new flag with no edit here.
"""

import inspect
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from typer.core import TyperCommand

from convcalc.cli.common import (
    BatchOption,
    ConventionName,
    ConventionOption,
    DtypeOption,
    FormatOption,
    JsonOption,
    OutputOption,
    StrictOption,
    TracebackOption,
    app,
    emit,
    lazy_table,
    reported,
    warn,
    warn_channels_last,
    with_convention,
    with_flag,
)
from convcalc.cli.output import reason
from convcalc.errors import SpecError, UsageError, shorten

if TYPE_CHECKING:
    from typer._click import Context, HelpFormatter, Parameter

    from convcalc.layer_command import Flag
    from convcalc.layers.base import Layer
    from convcalc.receptive import ReceptiveField
    from convcalc.report import Report

DEFAULT_TYPE = "conv"
GENERATED = "convcalc.layer_flags"
GIVEN = "convcalc.layer_values"
OWN_OPTIONS_ONLY = "convcalc.own_options_only"


class LayerCommand(TyperCommand):
    """The typer command plus one flag per option of the layer kinds, generated from them.

    A run defines the flags of the ``--type`` it asks for only, so that only that kind's family
    of layers is imported (their dataclasses cost start-up time); ``--help`` defines every
    kind's. A flag of another kind is then left over, and the command says it does not apply.
    The generated flags reach the command as one mapping, flag → value."""

    def parse_args(self, ctx: "Context", args: list[str]) -> list[str]:
        from convcalc.layer_command import layer_flags
        from convcalc.layers import all_kinds, kind_named

        if "--help" in options_part(args):
            kinds = list(dict.fromkeys(all_kinds().values()))
        else:
            kind = kind_named(type_asked(args).lower())
            kinds = [] if kind is None else [kind]
        ctx.meta[GENERATED] = flag_parameters(layer_flags(kinds, reserved=self.own_flags()))
        return super().parse_args(ctx, args)

    def own_flags(self) -> set[str]:
        """The names of the command's declared options (``in``, ``type``, ``t``…)."""
        return {
            spelling.lstrip("-")
            for param in self.params
            for spelling in (*param.opts, *param.secondary_opts)
        }

    def get_params(self, ctx: "Context") -> "list[Parameter]":
        params = super().get_params(ctx)
        if ctx.meta.get(OWN_OPTIONS_ONLY):
            return params
        return [*params, *ctx.meta.get(GENERATED, ())]

    def invoke(self, ctx: "Context") -> Any:
        given = {}
        for param in ctx.meta.get(GENERATED, ()):
            value = ctx.params.pop(param.name, None)
            if value is not None:
                given[param.name.removeprefix("layer_").replace("_", "-")] = value
        ctx.meta[GIVEN] = given
        return super().invoke(ctx)

    def format_options(self, ctx: "Context", formatter: "HelpFormatter") -> None:
        ctx.meta[OWN_OPTIONS_ONLY] = True
        try:
            super().format_options(ctx, formatter)
        finally:
            ctx.meta[OWN_OPTIONS_ONLY] = False
        records = [param.get_help_record(ctx) for param in ctx.meta.get(GENERATED, ())]
        with formatter.section("Layer options (each names the types it applies to)"):
            formatter.write_dl([record for record in records if record is not None])


def flag_parameters(flags: "dict[str, Flag]") -> "list[Parameter]":
    """The command-line parameters of generated flags, built by typer from a function whose
    signature declares them (typer's public way to make parameters)."""
    from convcalc.layer_command import describe_flag, flag_forms

    parameters = []
    for flag in flags.values():
        if flag.form == "switch":
            declared: Any = Annotated[
                bool | None,
                typer.Option(f"--{flag.name}/--{flag.off}", help=describe_flag(flag)),
            ]
        else:
            value_type: Any = float | None if flag.form == "number" else str | None
            declared = Annotated[
                value_type,
                typer.Option(
                    f"--{flag.name}",
                    metavar="X" if flag.form == "number" else flag_forms(flag),
                    help=describe_flag(flag),
                ),
            ]
        parameters.append(
            inspect.Parameter(
                f"layer_{flag.name.replace('-', '_')}",
                inspect.Parameter.KEYWORD_ONLY,
                default=None,
                annotation=declared,
            )
        )

    def flags_only(**values: Any) -> None:
        """The generated flags, for typer to read."""

    flags_only.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    flags_only.__annotations__ = {param.name: param.annotation for param in parameters}
    builder = typer.Typer(add_completion=False)
    builder.command()(flags_only)
    return list(typer.main.get_command(builder).params)


def options_part(args: list[str]) -> list[str]:
    """The arguments before ``--`` (after it, nothing is an option)."""
    return args[: args.index("--")] if "--" in args else args


def type_asked(args: list[str]) -> str:
    """The value of ``--type``/``-t`` in ``args`` (the last one given), else the default."""
    asked = DEFAULT_TYPE
    tokens = options_part(args)
    for index, token in enumerate(tokens):
        if token in ("--type", "-t") and index + 1 < len(tokens):
            asked = tokens[index + 1]
        elif token.startswith("--type="):
            asked = token.removeprefix("--type=")
        elif token.startswith("-t") and not token.startswith("--") and len(token) > 2:
            asked = token[2:]
    return asked


@app.command(
    cls=LayerCommand,
    context_settings={"ignore_unknown_options": True, "allow_extra_args": True},
)
def layer(
    ctx: typer.Context,
    input_shape: Annotated[
        str,
        typer.Option(
            "--in",
            "--input",
            metavar="CxHxW",
            help="Input shape CxHxW (or D for a vector); - reads a convcalc JSON document "
            "from stdin and continues from its output.",
        ),
    ],
    filters: Annotated[
        str | None,
        typer.Option(
            metavar="F[xC]xK[xK]",
            help="Filters as F, FxK, FxKxK or FxCxKxK (C must equal the input channels).",
        ),
    ] = None,
    layer_type: Annotated[
        str | None,
        typer.Option(
            "--type", "-t", metavar="TYPE", help="Layer type (default conv): maxpool, fc, bn…"
        ),
    ] = None,
    fold: Annotated[
        bool,
        typer.Option(
            "--fold", help="For --type bn: the folded form W', b' and what folding saves."
        ),
    ] = False,
    batch: BatchOption = None,
    dtype: DtypeOption = None,
    strict: StrictOption = False,
    convention: ConventionOption = ConventionName.CONVCALC,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
    traceback: TracebackOption = False,
) -> None:
    """One layer: output volume, params (formula filled in), MACs, receptive-field growth."""
    from convcalc import layer_command

    with reported(traceback):
        dtype_name = None if dtype is None else dtype.value
        start: ReceptiveField | None = None
        origin: tuple[int, ...] | None = None
        if input_shape == "-":
            shape, start, origin, batch, dtype_name = chained_input(batch, dtype_name)
        else:
            shape = with_flag("--in", layer_command.parse_input, input_shape)
            warn_channels_last(shape, "--in")
        try:
            # The type and its flags: a type or flag it cannot take is a usage error.
            kind = layer_command.kind_of((layer_type or DEFAULT_TYPE).lower())
            refuse_left_over(ctx, kind)
        except SpecError as error:
            raise UsageError(error.message) from None
        chosen = build_layer(kind, filters, ctx.meta[GIVEN], shape)
        report = layer_command.analyze_layer(
            chosen,
            shape,
            batch=batch or 1,
            dtype=dtype_name or "float32",
            strict=strict,
            start=start,
            origin=origin,
        )
        from convcalc.views import with_views

        report = with_views(report, memory=False, jacobian=True)
        warn(report)
        if fold:
            report = with_folded_form(report)
        report = with_counted_form(with_convention(report, convention, ""))
        emit(report, fmt, as_json, output, lazy_table("layer_table"))


def refuse_left_over(ctx: typer.Context, kind: "type[Layer]") -> None:
    """Arguments no option took: a flag of another kind does not apply to this one (an error in
    words); anything else is a usage error, as click would have said."""
    if not ctx.args:
        return
    from convcalc.layer_command import layer_flags, not_applicable
    from convcalc.layers import all_kinds

    first = ctx.args[0]
    if not first.startswith("-"):
        ctx.fail(f"Got unexpected extra argument ({first})")
    spelling = first.partition("=")[0]
    command = ctx.command
    assert isinstance(command, LayerCommand)
    flags = layer_flags(dict.fromkeys(all_kinds().values()), reserved=command.own_flags())
    for flag in flags.values():
        if spelling in (f"--{flag.name}", f"--{flag.off}"):
            raise not_applicable(flag.name, kind)
    ctx.fail(f"No such option: {spelling}")


def with_folded_form(report: "Report") -> "Report":
    """``layer --fold``: the batchnorm's row with the folded form appended to its derivations,
    and the form as a report extra (the JSON key ``bn_fold``)."""
    from dataclasses import replace

    from convcalc.folding import folded_form
    from convcalc.tensors import dtype_bytes

    row = report.rows[0]
    form = folded_form(row, report.batch, dtype_bytes(report.dtype))
    if form is None:
        raise UsageError(f"--fold applies to --type bn only, not {row.type}")
    row = replace(row, derivations=row.derivations + form.derivations())
    return replace(report, rows=(row,), extras=(*report.extras, form))


def with_counted_form(report: "Report") -> "Report":
    """A report counted by a convention: its row's derivations end with what the tool counts
    for this layer type and the numbers that gives."""
    from dataclasses import replace

    from convcalc.conventions.rules import kind_of
    from convcalc.conventions.view import ConventionView
    from convcalc.layers.base import Derivation

    view = report.extra(ConventionView)
    if view is None:
        return report
    convention = view.totals.convention
    row = report.rows[0]
    rule = convention.rule(kind_of(row))
    tool = convention.label
    batch = f", batch {report.batch}" if report.batch > 1 else ""
    counts = [Derivation(f"params ({tool})", "", f"{row.params:,}")]
    if convention.ops_label is not None:
        counts.append(
            Derivation(f"{convention.ops_label} ({tool}{batch})", rule.says, f"{row.macs:,}")
        )
    else:
        counts[0] = Derivation(f"params ({tool})", rule.says, f"{row.params:,}")
    return replace(report, rows=(replace(row, derivations=row.derivations + tuple(counts)),))


def build_layer(
    kind: "type[Layer]", filters: str | None, given: dict[str, Any], shape: tuple[int, ...]
) -> "Layer":
    """The layer the flags describe (``given``: generated flag → value)."""
    from convcalc import layer_command

    options = layer_command.options_given(kind, given)
    if filters is not None:
        from_filters = with_flag("--filters", layer_command.parse_filters, filters)
        if "kernel" in from_filters and "kernel" in options:
            # Two kernels for one layer: refuse rather than silently keep one of them.
            raise UsageError(f"--kernel conflicts with the kernel in --filters {filters}; give one")
        options.update(from_filters)
    try:
        return layer_command.build(kind, options, shape)
    except SpecError as error:
        # The layer is made of flags: a value it cannot take is a usage error.
        raise UsageError(error.message) from None


def chained_input(
    batch: int | None, dtype: str | None
) -> "tuple[tuple[int, ...], ReceptiveField | None, tuple[int, ...], int | None, str | None]":
    """Continue from a convcalc JSON document on stdin: its final shape, field, network input,
    batch and dtype."""
    import json

    from convcalc import layer_command

    try:
        if sys.stdin is None:  # started with stdin closed (`<&-`)
            raise OSError("stdin is closed")
        text = sys.stdin.read()
    except (OSError, UnicodeDecodeError) as error:
        raise SpecError(f"--in -: cannot read stdin: {reason(error)}") from None
    try:
        document = json.loads(
            text, parse_int=stdin_int, parse_float=stdin_float, parse_constant=stdin_constant
        )
    except json.JSONDecodeError as error:
        # A table piped in (`convcalc layer … | convcalc layer --in -`) is text with shapes.
        table = "×" in text and not text.lstrip().startswith(("{", "["))
        hint = "; this looks like a table: give the command before the pipe --json" if table else ""
        raise SpecError(
            f"--in -: stdin is not a convcalc JSON document ({error.msg} at line "
            f"{error.lineno}){hint}"
        ) from None
    return layer_command.continue_from(document, batch, dtype)


def stdin_int(text: str) -> int:
    """A whole number in the document on stdin; too many digits to be a size is an error (and
    past Python's 4,300-digit limit a crash)."""
    from convcalc.options import MAX_DIGITS

    if len(text.lstrip("-")) > MAX_DIGITS:
        raise SpecError(
            f"--in -: stdin holds a {len(text.lstrip('-'))}-digit number, far too large"
        )
    return int(text)


def stdin_float(text: str) -> float:
    """A number with a fraction or exponent in the document on stdin, refused if no float holds
    it (``1e400``)."""
    import math

    number = float(text)
    if not math.isfinite(number):
        raise SpecError(f"--in -: stdin holds {shorten(text)}, too large for any number")
    return number


def stdin_constant(text: str) -> float:
    """``Infinity``, ``-Infinity`` or ``NaN`` in the document on stdin: never a size or field."""
    raise SpecError(f"--in -: stdin holds {text}, which is no size or receptive field")
