"""What every command shares: the typer app, the common options, error reporting and output.

No ``from __future__ import annotations`` in the command modules: typer reads every command's
signature at each run, and string annotations it would evaluate, twice per command, for every
option. The library's types that are only imported for type checking are written as strings.
"""

import os
import sys
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer
from typer.core import TyperCommand
from typer.models import CommandFunctionType

from convcalc import fastcoerce
from convcalc.cli.output import StdoutClosed, write_output, write_stderr, write_stdout
from convcalc.errors import ConvcalcError, ExitCode, SpecErrors, UsageError, one_line
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
    from convcalc.spec import Network


class Command(TyperCommand):
    """A command whose usage line names a required argument plainly, ``SPEC`` (typer writes
    ``{SPEC}``, which reads like a set of choices)."""

    def collect_usage_pieces(self, ctx: Any) -> list[str]:
        pieces: list[str] = super().collect_usage_pieces(ctx)
        return [
            piece[1:-1] if piece.startswith("{") and piece.endswith("}") else piece
            for piece in pieces
        ]


class App(typer.Typer):
    """The typer app whose commands are :class:`Command` unless they name their own class."""

    def command(
        self, name: str | None = None, *, cls: type[TyperCommand] | None = None, **options: Any
    ) -> Callable[[CommandFunctionType], CommandFunctionType]:
        return super().command(name, cls=cls or Command, **options)


app = App(
    name="convcalc",
    help="Shapes, parameters, MACs, receptive fields and BN folding of CNNs, from a YAML spec.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def show_version(asked: bool) -> None:
    """``--version``: print convcalc's version and stop."""
    if asked:
        from importlib.metadata import version

        sys.stdout.write(f"convcalc {version('convcalc')}\n")
        raise typer.Exit()


@app.callback()
def options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=show_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Shapes, parameters, MACs, receptive fields and BN folding of CNNs, from a YAML spec."""


FormatOption = Annotated[
    OutputFormat | None,
    typer.Option("--format", "-f", help="Output format (default: table).", case_sensitive=False),
]
JsonOption = Annotated[bool, typer.Option("--json", help="Same as --format json.")]
OutputOption = Annotated[
    Path | None,
    typer.Option(
        "--output", "-o", metavar="FILE", help="Write to this file instead of stdout (- is stdout)."
    ),
]
BatchOption = Annotated[
    int | None,
    typer.Option("--batch", "-n", min=1, max=2**31 - 1, metavar="N", help="Batch size N."),
]
DtypeOption = Annotated[
    Dtype | None, typer.Option("--dtype", help="Bytes per value.", case_sensitive=False)
]
StrictOption = Annotated[
    bool,
    typer.Option(
        "--strict",
        help="Treat warnings (a stride that drops input, an unsupported ONNX op) as errors.",
    ),
]
SetOption = Annotated[
    list[str] | None,
    typer.Option(
        "--set",
        metavar="PATH=VALUE",
        help="Change a value of the spec first (repeatable): width=96, input=3x512x512, "
        "layers[3].stride=1, stage2.conv1.filters=64, blocks.NAME.params.P=V.",
    ),
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
    """Print each problem as one line on stderr and exit with status 1 (2 for a usage error,
    with its detail, such as a caret under the bad input, on the lines below)."""
    lines = error.lines if isinstance(error, SpecErrors) else [str(error)]
    text = "".join(f"{one_line(line)}\n" for line in lines)
    if isinstance(error, UsageError) and error.detail():
        text += "\n".join(map(one_line, error.detail().split("\n"))) + "\n"
    write_stderr(text)
    raise typer.Exit(ExitCode.USAGE if isinstance(error, UsageError) else ExitCode.ERROR)


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
    """Each row's warnings on stderr, located like errors (dropped if stderr cannot take them:
    the results matter more)."""
    lines = [
        one_line(f"{row.location}: warning: {warning}") + "\n"
        for row in report.rows
        for warning in row.warnings
    ]
    if lines:
        write_stderr("".join(lines))


def note(source: str, notes: Sequence[str]) -> None:
    """Each of a source's notes on stderr, located at the source."""
    if notes:
        write_stderr("".join(one_line(f"{source}: note: {text}") + "\n" for text in notes))


def warn_channels_last(shape: tuple[int, ...], source: str) -> None:
    """Warn on stderr when the input shape given by ``source`` looks channels-last."""
    from convcalc.tensors import channels_last_warning

    warning = channels_last_warning(shape)
    if warning is not None:
        sys.stderr.write(one_line(f"{source}: warning: {warning}") + "\n")


def emit(
    report: "Report",
    fmt: OutputFormat | None,
    as_json: bool,
    output: Path | None,
    table: "Callable[[Report, int | None], Any]",
    columns: "Sequence[str] | None" = None,
    depth: int | None = None,
) -> None:
    """Render ``report`` in the chosen format to stdout or ``output``: a table (or tree) fitted
    to the terminal, or in full when piped or written; CSV and Markdown with the table's
    ``columns`` (None: all of them) and ``depth``."""
    fmt = chosen_format(fmt, as_json)
    if fmt in (OutputFormat.TABLE, OutputFormat.TREE):
        if output is None and sys.stdout is not None and sys.stdout.isatty():
            from rich.console import Console

            # NO_COLOR (https://no-color.org) or a dumb terminal get no escapes at all: rich
            # alone would still send bold and dim.
            colorless = bool(os.environ.get("NO_COLOR")) or os.environ.get("TERM") == "dumb"
            console = Console(markup=False, color_system=None if colorless else "auto")
            table(report, console.width).print(console)
            return
        # Piped or written tables are plain text in full, never squeezed to a width.
        block = table(report, None)
        if output is None:
            write_stdout([block.plain()])
        else:
            write_output(output, [block.plain()])
        return
    from convcalc.render import plain

    if fmt is OutputFormat.JSON:
        chunks: Iterable[str] = report.json_chunks()
    elif fmt is OutputFormat.CSV:
        chunks = [plain.to_csv(report, columns, depth)]
    else:
        chunks = [plain.to_markdown(report, columns, depth)]
    if output is None:
        write_stdout(chunks)
    else:
        write_output(output, chunks)


def chosen_format(fmt: OutputFormat | None, as_json: bool) -> OutputFormat:
    """The output format: ``--json`` or ``--format`` (a table by default); both at once are a
    usage error unless they agree."""
    if as_json and fmt not in (None, OutputFormat.JSON):
        raise typer.BadParameter(
            f"--json asks for JSON, --format for {fmt.value}: give one of them",
            param_hint="'--json' / '--format'",
        )
    if as_json:
        return OutputFormat.JSON
    return fmt or OutputFormat.TABLE


def lazy_table(name: str, **options: Any) -> "Callable[[Report, int | None], Any]":
    """The table renderer ``convcalc.render.table.<name>`` (given the terminal's width, or None
    when piped, and ``options``), imported only when a table is printed."""

    def render(report: "Report", width: int | None) -> Any:
        from convcalc.render import table

        return getattr(table, name)(report, width, **options)

    return render


def load_spec(
    source: str,
    settings: list[str] | None,
    input_shape: tuple[int, ...] | None = None,
    strict: bool = False,
    **overrides: Any,
) -> "Network":
    """The spec at ``source`` with each ``--set PATH=VALUE`` applied (a path it does not have is
    a usage error), then ``overrides`` (network fields from the command's own options);
    ``input_shape`` also fixes an ONNX model's symbolic sizes; ``strict`` refuses an ONNX
    model's unsupported ops. Every problem at once."""
    from convcalc.api import load_network
    from convcalc.overrides import parse_setting

    chosen = [parse_setting(text) for text in settings or ()]
    given = {name: value for name, value in overrides.items() if value is not None}
    return load_network(source, chosen, input_shape, strict, **given)


def refuse_all(convention: str) -> None:
    """``--convention all`` is a usage error outside ``analyze``: one set of numbers at a time."""
    if convention == ConventionName.ALL:
        names = ", ".join(name.value for name in ConventionName if name != ConventionName.ALL)
        raise typer.BadParameter(
            f"all is for analyze (every convention side by side); name one here: {names}",
            param_hint="--convention",
        )


def with_convention(report: "Report", convention: str, source: str) -> "Report":
    """``report`` counted by ``convention`` (``convcalc``: as it is); for a ``zoo:`` source, the
    layers torchvision computes with functions are counted as the tools see them."""
    if convention == ConventionName.CONVCALC:
        return report
    refuse_all(convention)
    from convcalc.conventions.counting import counted, zoo_forms

    return counted(report, convention, zoo_forms(source))


def with_flag(flag: str, parse: Callable[[str], Any], value: str) -> Any:
    """``parse(value)``; a value it refuses is a usage error (exit 2) prefixed by the flag."""
    try:
        return parse(value)
    except ConvcalcError as error:
        raise UsageError(f"{flag}: {error.message}") from None
