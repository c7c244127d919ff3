"""``convcalc report``: one self-contained HTML page: totals, diagram, charts and table."""

from pathlib import Path
from typing import Annotated

import typer

from convcalc.cli.common import (
    BatchOption,
    DtypeOption,
    Optimizer,
    SetOption,
    StrictOption,
    TracebackOption,
    app,
    reported,
)
from convcalc.cli.draw import (
    DepthOption,
    FoldOption,
    InputOption,
    SpecArgument,
    analyzed,
    write_text,
)
from convcalc.cli.output import refuse_terminal


@app.command()
def report(
    spec: SpecArgument,
    output: Annotated[
        Path | None,
        typer.Option(
            "--output", "-o", metavar="FILE", help="Write the page to this file (report.html)."
        ),
    ] = None,
    depth: DepthOption = None,
    fold_bn: FoldOption = False,
    train: Annotated[
        bool, typer.Option("--train", help="Add training memory to the totals, table and charts.")
    ] = False,
    optimizer: Annotated[
        Optimizer, typer.Option(help="Optimizer state for --train.", case_sensitive=False)
    ] = Optimizer.SGD,
    input_shape: InputOption = None,
    batch: BatchOption = None,
    dtype: DtypeOption = None,
    settings: SetOption = None,
    strict: StrictOption = False,
    traceback: TracebackOption = False,
) -> None:
    """Write one HTML page that opens offline: totals, the diagram, charts per layer, the table."""
    with reported(traceback):
        refuse_terminal(output, "the report is an HTML page for a browser")
        analysis = analyzed(
            spec,
            settings,
            output,
            input_shape,
            batch,
            dtype and dtype.value,
            strict,
            fold_bn,
            train,
            optimizer.value,
        )
        from convcalc.render.html import build_page

        write_text(output, build_page(analysis, depth))
