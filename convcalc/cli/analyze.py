"""``convcalc analyze``: a network spec layer by layer."""

from collections.abc import Callable
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
    SetOption,
    StrictOption,
    TracebackOption,
    app,
    chosen_format,
    emit,
    lazy_table,
    load_spec,
    note,
    reported,
    warn,
    warn_channels_last,
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
    fmt: FormatOption = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
    input_shape: Annotated[
        str | None,
        typer.Option(
            "--input", "--in", metavar="CxHxW", help="Override the input shape, e.g. 3x224x224."
        ),
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
        Optimizer | None,
        typer.Option(help="Optimizer state for --train [default: sgd].", case_sensitive=False),
    ] = None,
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
    columns: Annotated[
        str | None,
        typer.Option(
            "--columns",
            metavar="LIST",
            help="The table's columns (also CSV's and Markdown's): all, or names such as "
            "layer,output,params,macs.",
        ),
    ] = None,
    wide: Annotated[
        bool,
        typer.Option("--wide", help="At a terminal: every column, however wide the table."),
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
    from functools import partial

    from convcalc.analysis import analyze as run_analysis
    from convcalc.tensors import parse_shape

    fmt = chosen_format(fmt, as_json)
    refuse_idle_options(
        fmt,
        optimizer=optimizer is not None and not train and memory is None,
        wide=wide and (output is not None or fmt is not OutputFormat.TABLE),
        written=output is not None,
        columns=columns is not None,
        depth=depth is not None,
    )
    with reported(traceback):
        shape = None if input_shape is None else with_flag("--input", parse_shape, input_shape)
        network = load_spec(
            spec, settings, shape, strict, input=shape, batch=batch, dtype=dtype and dtype.value
        )
        if output is not None and same_file(output, spec):
            raise OutputError(f"--output {output} would overwrite the spec it reads")
        note(spec, network.notes)
        warn_channels_last(
            network.input,
            "--input" if input_shape is not None else "<stdin>" if spec == "-" else spec,
        )
        report = run_analysis(network, strict=strict)
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
            report,
            train=train,
            optimizer=(optimizer or Optimizer.SGD).value,
            budget=budget,
            jacobian=jacobian,
        )
        report = with_convention(report, convention, spec)
        chosen = None if columns is None else chosen_columns(report, columns)
        table = lazy_table("network_table", columns=chosen, depth=depth, wide=wide)
        if fmt is OutputFormat.TREE:
            from convcalc.render.tree import network_tree

            table = partial(tree_of, network_tree, depth=depth)
        emit(report, fmt, False, output, table, chosen, depth)


def tree_of(
    tree: "Callable[..., Any]", report: "Report", width: int | None, depth: int | None
) -> Any:
    """``--format tree``: ``tree`` (the renderer) of ``report``'s rows, at any ``width``."""
    return tree(report, depth=depth)


def refuse_idle_options(
    fmt: OutputFormat, *, optimizer: bool, wide: bool, written: bool, columns: bool, depth: bool
) -> None:
    """An option that would do nothing is a usage error naming what makes it idle: an
    ``optimizer`` without training, ``wide`` for a file or another format, ``columns`` for
    JSON or the tree, ``depth`` for JSON."""
    if optimizer:
        raise typer.BadParameter(
            "--optimizer only matters with --train (or --memory): add --train",
            param_hint="'--optimizer'",
        )
    if wide:
        other = "--output" if written else f"--format {fmt.value}"
        raise typer.BadParameter(
            f"--wide widens a table at a terminal; {other} already has every column",
            param_hint="'--wide'",
        )
    if fmt is OutputFormat.JSON and (columns or depth):
        shaping = "--columns" if columns else "--depth"
        raise typer.BadParameter(
            f"the JSON document always has every layer and every key; {shaping} shapes tables, "
            "CSV and Markdown",
            param_hint=f"'{shaping}'",
        )
    if fmt is OutputFormat.TREE and columns:
        raise typer.BadParameter(
            "the tree has no columns; --columns shapes tables, CSV and Markdown",
            param_hint="'--columns'",
        )


def chosen_columns(report: "Report", asked: str) -> list[str]:
    """The column names of ``--columns``: ``all``, or a comma-separated list of columns, each by
    its name or by its header as the table shows it (``#``, ``MACs``), in any case."""
    from convcalc.errors import suggestion
    from convcalc.render.table import column_lookup, column_names

    known = column_names(report)
    if asked.strip() == "all":
        return known
    lookup = column_lookup(report)
    names = [name.strip() for name in asked.split(",") if name.strip()]
    for name in names:
        if name.lower() not in lookup:
            raise typer.BadParameter(
                f"no column `{name}`{suggestion(name, known)}; the columns are "
                f"{', '.join(known)} (or all)",
                param_hint="'--columns'",
            )
    if not names:
        raise typer.BadParameter("name at least one column, or all", param_hint="'--columns'")
    return [lookup[name.lower()] for name in names]


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
    from convcalc.conventions.counting import compare, explanations, zoo_forms

    comparison = compare(report, zoo_forms(source)) if every else None
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

    def table(_report: "Report", _width: int | None) -> Any:
        from convcalc.render.conventions import conventions_block

        return conventions_block(_report, comparison, explained)

    emit(report, OutputFormat.TABLE, False, output, table)
