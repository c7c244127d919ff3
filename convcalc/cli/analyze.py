"""``convcalc analyze``: a network spec layer by layer."""

from typing import Annotated, Any

import typer

from convcalc.cli.common import (
    BatchOption,
    DtypeOption,
    FormatOption,
    JsonOption,
    Optimizer,
    OutputOption,
    SetOption,
    StrictOption,
    TracebackOption,
    app,
    emit,
    lazy_table,
    load_spec,
    reported,
    warn,
    with_flag,
)
from convcalc.cli.output import same_file
from convcalc.errors import OutputError
from convcalc.render import OutputFormat


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
    settings: SetOption = None,
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
    traceback: TracebackOption = False,
) -> None:
    """Analyze a network spec layer by layer: shapes, params, MACs, receptive field, memory."""
    from dataclasses import replace
    from functools import partial

    from convcalc.analysis import analyze as run_analysis
    from convcalc.tensors import parse_shape

    with reported(traceback):
        network = load_spec(spec, settings)
        overrides: dict[str, Any] = {}
        if input_shape is not None:
            overrides["input"] = with_flag("--input", parse_shape, input_shape)
        if batch is not None:
            overrides["batch"] = batch
        if dtype is not None:
            overrides["dtype"] = dtype.value
        if output is not None and same_file(output, spec):
            raise OutputError(f"--output {output} would overwrite the spec it reads")
        report = run_analysis(replace(network, **overrides), strict=strict)
        warn(report)
        if fold_bn:
            from convcalc.folding import fold_network

            report = fold_network(report)
        from convcalc.memory import parse_size
        from convcalc.views import with_views

        budget = None if memory is None else with_flag("--memory", parse_size, memory)
        report = with_views(
            report, train=train, optimizer=optimizer.value, budget=budget, jacobian=jacobian
        )
        table = lazy_table("network_table")
        if fmt is OutputFormat.TREE:
            from convcalc.render.tree import network_tree

            table = partial(network_tree, depth=depth)
        emit(report, fmt, as_json, output, table)
