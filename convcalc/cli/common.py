"""What every command shares: the typer app, the common options, error reporting and output.

No ``from __future__ import annotations`` in the command modules: typer reads every command's
signature at each run, and string annotations it would evaluate, twice per command, for every
option. The library's types that are only imported for type checking are written as strings.
"""

import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from convcalc import fastcoerce
from convcalc.cli.output import StdoutClosed, write_output, write_stdout
from convcalc.errors import ConvcalcError, ExitCode, SpecError, SpecErrors, one_line
from convcalc.render import OutputFormat

# Parse options without pydantic (typer would import it for every command): see fastcoerce.
fastcoerce.install()

__all__ = ["StdoutClosed", "app"]


class Dtype(StrEnum):
    """The ``--dtype`` choices (the keys of :data:`convcalc.tensors.DTYPE_BYTES`)."""

    FLOAT32 = "float32"
    FLOAT16 = "float16"
    BFLOAT16 = "bfloat16"
    INT8 = "int8"
    FLOAT64 = "float64"


class Optimizer(StrEnum):
    """The ``--optimizer`` choices (the keys of :data:`convcalc.memory.OPTIMIZER_STATES`)."""

    SGD = "sgd"
    MOMENTUM = "momentum"
    ADAM = "adam"
    ADAMW = "adamw"


class ConventionName(StrEnum):
    """The ``--convention`` choices (the keys of :data:`convcalc.conventions.CONVENTIONS`)."""

    CONVCALC = "convcalc"
    TORCHINFO = "torchinfo"
    FVCORE = "fvcore"
    PTFLOPS = "ptflops"
    THOP = "thop"
    KERAS = "keras"
    ALL = "all"
    """Not a convention: every one side by side (``analyze`` only)."""


if TYPE_CHECKING:
    from convcalc.report import Report

app = typer.Typer(
    name="convcalc",
    help="Shapes, parameters, MACs, receptive fields and BN folding of CNNs, from a YAML spec.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

FormatOption = Annotated[
    OutputFormat, typer.Option("--format", "-f", help="Output format.", case_sensitive=False)
]
JsonOption = Annotated[bool, typer.Option("--json", help="Same as --format json.")]
OutputOption = Annotated[
    Path | None,
    typer.Option("--output", "-o", metavar="FILE", help="Write to this file instead of stdout."),
]
BatchOption = Annotated[
    int | None,
    typer.Option("--batch", "-n", min=1, max=2**31 - 1, metavar="N", help="Batch size N."),
]
DtypeOption = Annotated[
    Dtype | None, typer.Option("--dtype", help="Bytes per value.", case_sensitive=False)
]
StrictOption = Annotated[
    bool, typer.Option("--strict", help="Treat warnings (a stride that drops input) as errors.")
]
ConventionOption = Annotated[
    ConventionName,
    typer.Option(
        "--convention",
        help="Count params and MACs as a tool does: convcalc, torchinfo, fvcore, ptflops, thop, "
        "keras (all: every one side by side, analyze only).",
        case_sensitive=False,
    ),
]
TracebackOption = Annotated[
    bool, typer.Option("--traceback", help="Show the Python traceback of an error (debugging).")
]


def fail(error: ConvcalcError) -> NoReturn:
    """Print each problem as one line on stderr and exit with status 1."""
    problems = error.errors if isinstance(error, SpecErrors) else [error]
    for problem in problems:
        sys.stderr.write(f"{one_line(str(problem))}\n")
    raise typer.Exit(ExitCode.ERROR)


@contextmanager
def reported(traceback: bool) -> Iterator[None]:
    """Turn convcalc's errors into one-line messages (or re-raise them with ``--traceback``)."""
    try:
        yield
    except ConvcalcError as error:
        if traceback:
            raise
        fail(error)


def warn(report: "Report") -> None:
    """Each row's warnings on stderr, located like errors."""
    for row in report.rows:
        for warning in row.warnings:
            sys.stderr.write(one_line(f"{row.location}: warning: {warning}") + "\n")


def emit(
    report: "Report",
    fmt: OutputFormat,
    as_json: bool,
    output: Path | None,
    table: "Callable[[Report], Any]",
) -> None:
    """Render ``report`` in the chosen format to stdout or ``output``."""
    if as_json:
        fmt = OutputFormat.JSON
    if fmt in (OutputFormat.TABLE, OutputFormat.TREE):
        block = table(report)
        if output is None and sys.stdout.isatty():
            from rich.console import Console

            # NO_COLOR (https://no-color.org) or a dumb terminal get no escapes at all: rich
            # alone would still send bold and dim.
            colorless = bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"
            block.print(Console(markup=False, color_system=None if colorless else "auto"))
            return
        # Piped or written tables are plain text in full, never squeezed to a width.
        if output is None:
            write_stdout([block.plain()])
        else:
            write_output(output, [block.plain()])
        return
    from convcalc.render import plain

    if fmt is OutputFormat.JSON:
        chunks: Iterable[str] = plain.json_chunks(report)
    else:
        chunks = [plain.to_csv(report) if fmt is OutputFormat.CSV else plain.to_markdown(report)]
    if output is None:
        write_stdout(chunks)
    else:
        write_output(output, chunks)


def lazy_table(name: str) -> "Callable[[Report], Any]":
    """The table renderer ``convcalc.render.table.<name>``, imported only when a table is
    printed."""

    def render(report: "Report") -> Any:
        from convcalc.render import table

        return getattr(table, name)(report)

    return render


def with_convention(report: "Report", convention: str, source: str) -> "Report":
    """``report`` counted by ``convention`` (``convcalc``: as it is); for a ``zoo:`` source, the
    layers torchvision computes with functions are counted as the tools see them."""
    if convention == ConventionName.CONVCALC:
        return report
    if convention == ConventionName.ALL:
        raise typer.BadParameter(
            "all compares whole networks: use analyze --convention all", param_hint="--convention"
        )
    from convcalc.conventions.counting import counted, zoo_functions

    return counted(report, convention, zoo_functions(source))


def with_flag(flag: str, parse: Callable[[str], Any], value: str) -> Any:
    """``parse(value)``, with errors prefixed by the flag they came from."""
    try:
        return parse(value)
    except ConvcalcError as error:
        raise SpecError(f"{flag}: {error.message}") from None
