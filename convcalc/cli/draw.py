"""``convcalc draw``: the network as a graph (SVG, PNG or DOT), laid out by Graphviz's dot."""

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from convcalc.cli.common import (
    BatchOption,
    DtypeOption,
    OutputOption,
    SetOption,
    StrictOption,
    TracebackOption,
    app,
    load_spec,
    reported,
    warn,
    with_flag,
)
from convcalc.cli.output import (
    refuse_terminal,
    same_file,
    write_binary,
    write_output,
    write_stdout,
)
from convcalc.errors import OutputError

if TYPE_CHECKING:
    from convcalc.report import Report


class DrawFormat(StrEnum):
    """The ``draw --format`` choices."""

    SVG = "svg"
    PNG = "png"
    DOT = "dot"


TERMINAL_REFUSALS = {
    DrawFormat.SVG: "an SVG drawing is XML text for a browser (--format dot prints the graph)",
    DrawFormat.PNG: "a PNG is binary",
}
SUFFIXES = {".svg": DrawFormat.SVG, ".png": DrawFormat.PNG, ".dot": DrawFormat.DOT}
SUFFIXES[".gv"] = DrawFormat.DOT

DepthOption = Annotated[
    int | None,
    typer.Option(
        "--depth",
        min=1,
        metavar="N",
        help="Collapse the blocks nested N deep into one box with their totals.",
    ),
]
InputOption = Annotated[
    str | None,
    typer.Option(
        "--input", "--in", metavar="CxHxW", help="Override the input shape, e.g. 3x224x224."
    ),
]
FoldOption = Annotated[
    bool,
    typer.Option("--fold-bn", help="The inference-time network: batchnorms folded into convs."),
]
SpecArgument = Annotated[
    str, typer.Argument(metavar="SPEC", help="A spec file, - for stdin, or zoo:NAME.")
]


def analyzed(
    spec: str,
    settings: list[str] | None,
    output: Path | None,
    input_shape: str | None,
    batch: int | None,
    dtype: str | None,
    strict: bool,
    fold_bn: bool,
    train: bool = False,
    optimizer: str = "sgd",
) -> "Report":
    """The report to draw of the spec with its ``--set`` ``settings``, its warnings printed on
    stderr; an ``output`` that is the spec itself is refused before anything is analyzed."""
    import convcalc
    from convcalc.tensors import parse_shape

    if output is not None and same_file(output, spec):
        raise OutputError(f"--output {output} would overwrite the spec it reads")
    shape = None if input_shape is None else with_flag("--input", parse_shape, input_shape)
    report = convcalc.analyze(
        load_spec(spec, settings, shape, strict, input=shape, batch=batch, dtype=dtype),
        strict=strict,
        fold_bn=fold_bn,
        train=train,
        optimizer=optimizer,
    )
    warn(report)
    return report


def write_text(output: Path | None, text: str) -> None:
    """``text`` to ``output``, or to stdout without one."""
    if output is None:
        write_stdout([text])
    else:
        write_output(output, [text])


def chosen_format(fmt: DrawFormat | None, output: Path | None) -> DrawFormat:
    """``--format``, else the one ``-o``'s suffix names, else SVG."""
    if fmt is not None:
        return fmt
    if output is None:
        return DrawFormat.SVG
    chosen = SUFFIXES.get(output.suffix.lower())
    if chosen is None:
        raise typer.BadParameter(
            f"cannot tell the format from {output.name!r}: name it .svg, .png or .dot, or give "
            "--format",
            param_hint="'--output'",
        )
    return chosen


@app.command()
def draw(
    spec: SpecArgument,
    output: OutputOption = None,
    fmt: Annotated[
        DrawFormat | None,
        typer.Option(
            "--format",
            "-f",
            case_sensitive=False,
            help="svg, png or dot [default: from the -o suffix, else svg].",
        ),
    ] = None,
    depth: DepthOption = None,
    fold_bn: FoldOption = False,
    input_shape: InputOption = None,
    batch: BatchOption = None,
    dtype: DtypeOption = None,
    settings: SetOption = None,
    strict: StrictOption = False,
    traceback: TracebackOption = False,
) -> None:
    """Draw the network as a graph: a box per layer, containers as nested boxes with totals."""
    fmt = chosen_format(fmt, output)
    with reported(traceback):
        if fmt is not DrawFormat.DOT:
            refuse_terminal(output, TERMINAL_REFUSALS[fmt])
        report = analyzed(
            spec, settings, output, input_shape, batch, dtype and dtype.value, strict, fold_bn
        )
        from convcalc.render.dot import to_dot

        dot = to_dot(report, depth)
        if fmt is DrawFormat.DOT:
            write_text(output, dot)
            return
        from convcalc.render.graphviz import layout

        drawing = layout(dot, fmt.value)
        if fmt is DrawFormat.PNG:
            write_binary(output, drawing)
        else:
            write_text(output, drawing.decode())
