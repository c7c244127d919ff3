"""``convcalc analyze``: a network spec layer by layer."""

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from convcalc.cli.common import (
    BatchOption,
    ConventionName,
    ConventionOption,
    DtypeOption,
    FormatOption,
    JsonOption,
    Optimizer,
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
from convcalc.cli.output import same_file, write_output, write_stdout
from convcalc.errors import OutputError
from convcalc.render import OutputFormat

if TYPE_CHECKING:
    from convcalc.report import Report


@app.command()
def analyze(
    spec: Annotated[
        str, typer.Argument(metavar="SPEC", help="A spec file, - for stdin, or zoo:NAME.")
    ],
    fmt: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
    output: OutputOption = None,
    input_shape: Annotated[
        str | None,
        typer.Option("--input", metavar="CxHxW", help="Override the input shape, e.g. 3x224x224."),
    ] = None,
    batch: BatchOption = None,
    dtype: DtypeOption = None,
    strict: StrictOption = False,
    fold_bn: Annotated[
        bool,
        typer.Option(
            "--fold-bn",
            help="Show the inference-time network: foldable batchnorms folded into their conv.",
        ),
    ] = False,
    train: Annotated[
        bool,
        typer.Option(
            "--train",
            help="Training memory: what backward keeps, gradients and optimizer state.",
        ),
    ] = False,
    optimizer: Annotated[
        Optimizer, typer.Option(help="Optimizer state for --train.", case_sensitive=False)
    ] = Optimizer.SGD,
    memory: Annotated[
        str | None,
        typer.Option(
            "--memory",
            metavar="SIZE",
            help="A memory budget such as 16GiB: the largest batch that trains in it.",
        ),
    ] = None,
    jacobian: Annotated[
        bool, typer.Option("--jacobian", help="Each layer's explicit Jacobian: size, non-zeros.")
    ] = False,
    depth: Annotated[
        int | None,
        typer.Option(
            "--depth",
            min=1,
            metavar="N",
            help="Collapse the blocks nested N deep into one line with their totals.",
        ),
    ] = None,
    convention: ConventionOption = ConventionName.CONVCALC,
    explain: Annotated[
        bool,
        typer.Option("--explain", help="What each convention counts, per layer type."),
    ] = False,
    traceback: TracebackOption = False,
) -> None:
    """Analyze a network spec layer by layer: shapes, params, MACs, receptive field, memory."""
    from dataclasses import replace
    from functools import partial

    from convcalc.analysis import analyze as run_analysis
    from convcalc.sources import load
    from convcalc.tensors import parse_shape

    with reported(traceback):
        shape = None if input_shape is None else with_flag("--input", parse_shape, input_shape)
        network = load(spec, shape)
        overrides: dict[str, Any] = {}
        if shape is not None:
            overrides["input"] = shape
        if batch is not None:
            overrides["batch"] = batch
        if dtype is not None:
            overrides["dtype"] = dtype.value
        if output is not None and same_file(output, spec):
            raise OutputError(f"--output {output} would overwrite the spec it reads")
        report = run_analysis(replace(network, **overrides), strict=strict)
        warn(report)
        every = convention is ConventionName.ALL
        if every or explain:
            emit_conventions(report, spec, every, explain, fmt, as_json, output)
            return
        if fold_bn:
            from convcalc.folding import fold_network

            report = fold_network(report)
        from convcalc.memory import parse_size
        from convcalc.views import with_views

        budget = None if memory is None else with_flag("--memory", parse_size, memory)
        report = with_views(
            report, train=train, optimizer=optimizer.value, budget=budget, jacobian=jacobian
        )
        report = with_convention(report, convention, spec)
        table = lazy_table("network_table")
        if fmt is OutputFormat.TREE:
            from convcalc.render.tree import network_tree

            table = partial(network_tree, depth=depth)
        emit(report, fmt, as_json, output, table)


def emit_conventions(
    report: "Report",
    source: str,
    every: bool,
    explain: bool,
    fmt: OutputFormat,
    as_json: bool,
    output: Path | None,
) -> None:
    """``--convention all`` (every convention's totals) and ``--explain`` (what each counts
    per layer type), as a table or JSON."""
    from convcalc.conventions.counting import compare, explanations, zoo_functions

    comparison = compare(report, zoo_functions(source)) if every else None
    explained = explanations(report) if explain else None
    if as_json or fmt is OutputFormat.JSON:
        from convcalc.render.conventions import conventions_json

        text = conventions_json(report, comparison, explained)
        if output is None:
            write_stdout([text])
        else:
            write_output(output, [text])
        return
    if fmt is not OutputFormat.TABLE:
        raise typer.BadParameter(
            "--convention all and --explain print a table or JSON", param_hint="--format"
        )

    def table(_report: "Report") -> Any:
        from convcalc.render.conventions import conventions_block

        return conventions_block(_report, comparison, explained)

    emit(report, OutputFormat.TABLE, False, output, table)
