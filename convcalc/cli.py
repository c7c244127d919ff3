"""The ``convcalc`` command line: parse options, call the library, render, map errors to exit codes.

Heavy modules (pydantic, YAML, rich) are imported inside the commands that need them, so that
``convcalc layer … --json`` starts about as fast as Python itself.

No ``from __future__ import annotations`` here: typer reads every command's signature at each run,
and string annotations it would evaluate, twice per command, for every option. The library's types
that are only imported for type checking are written as strings instead.
"""

import gc
import os
import sys
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, NoReturn

import typer

from convcalc import fastcoerce
from convcalc.errors import ConvcalcError, ExitCode, OutputError, SpecError, SpecErrors, one_line
from convcalc.render import OutputFormat

# Parse options without pydantic (typer would import it for every command): see fastcoerce.
fastcoerce.install()


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


if TYPE_CHECKING:
    from convcalc.layers.base import Layer
    from convcalc.receptive import ReceptiveField
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
    if fmt is OutputFormat.TABLE:
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


def write_stdout(chunks: Iterable[str]) -> None:
    """Write results to stdout. A reader that stopped early (`| head`) ends the run quietly
    (click would make a closed pipe exit 1); a closed or full stdout is one clear error."""
    try:
        if sys.stdout is None:
            raise OSError("stdout is closed")
        sys.stdout.writelines(chunks)
        sys.stdout.flush()
    except BrokenPipeError as error:
        raise StdoutClosed from error
    except OSError as error:
        raise OutputError(f"cannot write to stdout: {error.strerror or error}") from None


class StdoutClosed(Exception):
    """The reader of stdout went away before the output was written."""


def lazy_table(name: str) -> "Callable[[Report], Any]":
    """The table renderer ``convcalc.render.table.<name>``, imported only when a table is
    printed."""

    def render(report: "Report") -> Any:
        from convcalc.render import table

        return getattr(table, name)(report)

    return render


def write_output(path: Path, chunks: Iterable[str]) -> None:
    """Write ``chunks`` to ``path`` atomically: a failed or interrupted run never leaves half a
    file. The text goes to a fresh temporary file beside the target (through a symlink, beside
    the file it points to), which then replaces the target in one rename; a new file gets the
    usual permissions (0666 minus the umask), a replaced one keeps its own."""
    import stat
    import tempfile

    try:
        status = path.stat()
        if not stat.S_ISREG(status.st_mode):
            # A device, FIFO or /dev/stdout is written to, never replaced by a regular file.
            write_special(path, chunks)
            return
    except OSError:
        pass
    target = Path(os.path.realpath(path))
    try:
        mode = target.stat().st_mode & 0o7777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        mode = 0o666 & ~umask
    temporary: Path | None = None
    try:
        handle, name = tempfile.mkstemp(
            prefix=f".{target.name}.", suffix=".convcalc-tmp", dir=target.parent
        )
        temporary = Path(name)
        with os.fdopen(handle, "w", encoding="utf-8") as stream:
            stream.writelines(chunks)
        temporary.chmod(mode)
        temporary.replace(target)
        temporary = None
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None
    finally:
        # Also on Ctrl-C: the half-written temporary file must not stay behind.
        if temporary is not None:
            temporary.unlink(missing_ok=True)


def write_special(path: Path, chunks: Iterable[str]) -> None:
    """Write ``chunks`` into an existing file that is not a regular file (a device or a FIFO)."""
    try:
        with path.open("w", encoding="utf-8") as stream:
            stream.writelines(chunks)
    except OSError as error:
        raise OutputError(f"cannot write {path}: {error.strerror or error}") from None


def same_file(output: Path, spec: str) -> bool:
    """Whether ``output`` names the spec file ``spec`` (by another relative path, a symlink or a
    hard link too)."""
    if spec == "-" or spec.startswith("zoo:"):
        return False
    if output.resolve() == Path(spec).resolve():
        return True
    try:
        return output.samefile(spec)
    except OSError:
        return False


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
    traceback: TracebackOption = False,
) -> None:
    """Analyze a network spec layer by layer: shapes, params, MACs, receptive field, memory."""
    from dataclasses import replace

    from convcalc.analysis import analyze as run_analysis
    from convcalc.loader import load
    from convcalc.tensors import parse_shape

    with reported(traceback):
        network = load(spec)
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
        emit(report, fmt, as_json, output, lazy_table("network_table"))


def with_flag(flag: str, parse: Callable[[str], Any], value: str) -> Any:
    """``parse(value)``, with errors prefixed by the flag they came from."""
    try:
        return parse(value)
    except ConvcalcError as error:
        raise SpecError(f"{flag}: {error.message}") from None


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


@app.command()
def zoo(
    name: Annotated[str | None, typer.Argument(help="A model to print as YAML.")] = None,
    fmt: FormatOption = OutputFormat.TABLE,
    as_json: JsonOption = False,
    traceback: TracebackOption = False,
) -> None:
    """List the built-in architectures, or print one's spec as YAML (JSON with --json) to
    start from."""
    from convcalc import zoo as models

    if as_json:
        fmt = OutputFormat.JSON
    with reported(traceback):
        if name is None:
            from convcalc.render.plain import zoo_listing

            write_stdout([zoo_listing(models.entries(), fmt.value)])
        elif fmt is OutputFormat.JSON:
            import json

            import yaml

            spec = yaml.safe_load(models.zoo_text(name))
            write_stdout([json.dumps(spec, indent=2, ensure_ascii=False) + "\n"])
        else:
            write_stdout([models.zoo_text(name)])


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec format (for editors)."""
    import json

    from convcalc.schema import spec_schema

    with reported(traceback=False):
        write_stdout([json.dumps(spec_schema(), indent=2) + "\n"])


def main() -> None:
    """Console-script entry point."""
    # One short run builds a large tree of objects that all live until the end (the spec, the
    # rows): the cyclic collector would re-scan it again and again as it grows (a third of the
    # time of a 100,000-layer spec) and find nothing to free. Reference counting still frees.
    gc.disable()
    try:
        try:
            app()
        finally:
            # Flush here, where a closed pipe is caught, not at exit where Python would
            # print "Exception ignored … BrokenPipeError".
            if sys.stdout is not None:
                sys.stdout.flush()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(ExitCode.INTERRUPTED)
    except (BrokenPipeError, StdoutClosed):
        # The reader went away (`convcalc … | head`); say nothing and don't let Python complain.
        if sys.stdout is not None:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        sys.exit(ExitCode.OK)
    finally:
        gc.enable()
