"""``convcalc layer``: one layer, every number with its formula filled in."""

import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer

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
    with_convention,
    with_flag,
)
from convcalc.errors import SpecError
from convcalc.render import OutputFormat

if TYPE_CHECKING:
    from convcalc.layers.base import Layer
    from convcalc.receptive import ReceptiveField
    from convcalc.report import Report


LAYER_FLAGS = {
    "filters": "filters",
    "kernel": "kernel",
    "stride": "stride",
    "pad": "pad",
    "dilation": "dilation",
    "groups": "groups",
    "bias": "bias",
    "output_padding": "output-padding",
    "ceil_mode": "ceil-mode",
    "out": "out",
    "output": "out",
    "eps": "eps",
    "affine": "affine",
    "p": "p",
    "shared": "shared",
    "in_channels": "filters",
}


@app.command()
def layer(
    input_shape: Annotated[
        str,
        typer.Option(
            "--in",
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
    kernel: Annotated[str | None, typer.Option(metavar="K", help="Kernel K or KHxKW.")] = None,
    stride: Annotated[str | None, typer.Option(metavar="S", help="Stride S or SHxSW.")] = None,
    pad: Annotated[
        str | None, typer.Option(metavar="P", help="Padding P, PHxPW, same or valid.")
    ] = None,
    dilation: Annotated[str | None, typer.Option(metavar="D", help="Dilation D or DHxDW.")] = None,
    groups: Annotated[str | None, typer.Option(metavar="G", help="Groups (or depthwise).")] = None,
    bias: Annotated[bool | None, typer.Option("--bias/--no-bias", help="Learned bias.")] = None,
    output_padding: Annotated[
        str | None, typer.Option(metavar="P", help="Deconv output padding.")
    ] = None,
    ceil_mode: Annotated[
        bool | None, typer.Option("--ceil-mode", help="Pooling rounds up.")
    ] = None,
    out: Annotated[
        str | None, typer.Option(metavar="N", help="fc outputs, or adaptive pool output size.")
    ] = None,
    eps: Annotated[float | None, typer.Option(help="Norm epsilon.")] = None,
    affine: Annotated[bool | None, typer.Option("--affine/--no-affine", help="Norm γ, β.")] = None,
    p: Annotated[float | None, typer.Option("--p", help="Dropout probability.")] = None,
    shared: Annotated[
        bool | None, typer.Option("--shared/--per-channel", help="PReLU slope.")
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
    fmt: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
    output: OutputOption = None,
    traceback: TracebackOption = False,
) -> None:
    """One layer: output volume, params (formula filled in), MACs, receptive-field growth."""
    from convcalc import single

    given = {
        "kernel": kernel,
        "stride": stride,
        "pad": pad,
        "dilation": dilation,
        "groups": groups,
        "bias": bias,
        "output_padding": output_padding,
        "ceil_mode": ceil_mode,
        "out": out,
        "eps": eps,
        "affine": affine,
        "p": p,
        "shared": shared,
    }
    with reported(traceback):
        dtype_name = None if dtype is None else dtype.value
        start: ReceptiveField | None = None
        origin: tuple[int, ...] | None = None
        if input_shape == "-":
            shape, start, origin, batch, dtype_name = chained_input(batch, dtype_name)
        else:
            shape = with_flag("--in", single.parse_input, input_shape)
        chosen = build_layer(layer_type, filters, given, shape)
        report = single.analyze_layer(
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


def with_folded_form(report: "Report") -> "Report":
    """``layer --fold``: the batchnorm's row with the folded form appended to its derivations,
    and the form as a report extra (the JSON key ``bn_fold``)."""
    from dataclasses import replace

    from convcalc.folding import folded_form
    from convcalc.tensors import dtype_bytes

    row = report.rows[0]
    form = folded_form(row, report.batch, dtype_bytes(report.dtype))
    if form is None:
        raise SpecError(f"--fold applies to --type bn only, not {row.type}")
    row = replace(row, derivations=row.derivations + form.derivations())
    return replace(report, rows=(row,), extras=(*report.extras, form))


def with_counted_form(report: "Report") -> "Report":
    """A report counted by a convention: its row's derivations end with what the tool counts
    for this layer type and the numbers that gives."""
    from dataclasses import replace

    from convcalc.conventions.view import ConventionView
    from convcalc.layers.base import Derivation

    view = report.extra(ConventionView)
    if view is None:
        return report
    convention = view.totals.convention
    row = report.rows[0]
    rule = convention.rule(row.type)
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
    layer_type: str | None, filters: str | None, given: dict[str, Any], shape: tuple[int, ...]
) -> "Layer":
    """The layer the flags describe; a flag that does not apply to the type is an error."""
    from convcalc import single

    kind_name = (layer_type or "conv").lower()
    options = {name: value for name, value in given.items() if value is not None}
    if filters is not None:
        from_filters = with_flag("--filters", single.parse_filters, filters)
        if "kernel" in from_filters and "kernel" in options:
            # Two kernels for one layer: refuse rather than silently keep one of them.
            raise SpecError(f"--kernel conflicts with the kernel in --filters {filters}; give one")
        options.update(from_filters)
    return single.build(kind_name, options, shape, LAYER_FLAGS)


def chained_input(
    batch: int | None, dtype: str | None
) -> "tuple[tuple[int, ...], ReceptiveField | None, tuple[int, ...], int | None, str | None]":
    """Continue from a convcalc JSON document on stdin: its final shape, field, network input,
    batch and dtype."""
    import json

    from convcalc import single

    text = sys.stdin.read()
    try:
        document = json.loads(text)
    except json.JSONDecodeError as error:
        raise SpecError(
            f"--in -: stdin is not a convcalc JSON document ({error.msg} at line {error.lineno})"
        ) from None
    return single.continue_from(document, batch, dtype)
