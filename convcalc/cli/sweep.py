"""``convcalc sweep``: a grid of variants of one spec, one summary row each."""

import sys
import time
from typing import TYPE_CHECKING, Annotated, Any

import typer

from convcalc.cli.common import (
    ConventionName,
    ConventionOption,
    FormatOption,
    JsonOption,
    OutputOption,
    TracebackOption,
    app,
    chosen_format,
    refuse_all,
    reported,
)
from convcalc.errors import UsageError
from convcalc.render import OutputFormat

if TYPE_CHECKING:
    from collections.abc import Callable

    from convcalc.sweep import Axis, Counting, Variant


@app.command()
def sweep(
    spec: Annotated[
        str, typer.Argument(metavar="SPEC", help="A spec file, - for stdin, or zoo:NAME.")
    ],
    settings: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="PATH=V1,V2,…",
            help="Values to sweep (repeatable): width=32,64,96, width=32..256:*2, "
            "input=3x224x224,3x320x320; one value fixes it.",
        ),
    ] = None,
    where: Annotated[
        str | None,
        typer.Option(
            "--where",
            metavar="EXPR",
            help="Keep variants whose totals match, e.g. 'params < 5M and rf >= 200' "
            "(params, macs, flops, memory, rf and the swept names).",
        ),
    ] = None,
    sort: Annotated[
        str | None,
        typer.Option(
            "--sort", metavar="KEY", help="Sort by a total or swept name (-KEY: descending)."
        ),
    ] = None,
    pareto: Annotated[
        str,
        typer.Option(
            "--pareto",
            metavar="KEYS",
            help="The totals of the Pareto front (rf maximised, the others minimised).",
        ),
    ] = "params,macs,memory,rf",
    train: Annotated[
        bool,
        typer.Option("--train", help="Memory for training (SGD) instead of inference peak."),
    ] = False,
    convention: ConventionOption = ConventionName.CONVCALC,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
    traceback: TracebackOption = False,
) -> None:
    """Analyze every combination of the --set values: params, MACs, peak memory, receptive
    field and output of each variant, the Pareto front marked (*), invalid variants with their
    first error. With --convention, params and MACs (columns, --where, --sort, --pareto) are
    that tool's."""
    from convcalc.sources import spec_text
    from convcalc.sweep import Sweep, parse_axis, parse_keys, run_sweep
    from convcalc.yamlnodes import parse_yaml

    fmt = chosen_format(fmt, as_json)
    with reported(traceback):
        if not settings:
            raise UsageError("--set: give at least one PATH=V1,V2,… to sweep")
        axes = [parse_axis(text) for text in settings]
        paths = [axis.path for axis in axes]
        repeated = {path for path in paths if paths.count(path) > 1}
        if repeated:
            raise UsageError(f"--set: {', '.join(sorted(repeated))} is set more than once")
        keys = parse_keys(pareto, "--pareto")
        order = None
        if sort is not None:
            from convcalc.sweep import sort_key

            order = sort_key(sort, axes)
        accept = where_filter(where, axes)
        text, name = spec_text(spec)
        counting = sweep_counting(convention, spec)
        study = Sweep(parse_yaml(text, name), name, axes, [], train, counting)
        study.check_paths()
        variants = run_sweep(study, progress_bar())
        emit_sweep(variants, axes, accept, order, keys, train, counting, fmt, as_json, output)


def sweep_counting(convention: ConventionName, spec: str) -> "Counting | None":
    """The convention the variants are counted by (``None``: convcalc's own numbers)."""
    if convention is ConventionName.CONVCALC:
        return None
    refuse_all(convention)
    from convcalc.conventions.counting import zoo_forms
    from convcalc.sweep import Counting

    return Counting(convention.value, zoo_forms(spec))


def where_filter(where: str | None, axes: "list[Axis]") -> "Callable[[Variant], bool]":
    """The ``--where`` predicate over a variant's totals and numeric swept values."""
    from convcalc.sweep import METRICS, numeric_settings

    if where is None:
        return lambda variant: True
    from convcalc.where import parse_where

    predicate = parse_where(where, [*METRICS, *(axis.path for axis in axes)])

    def accept(variant: "Variant") -> bool:
        values = {**variant.metrics(), **numeric_settings(variant, axes)}
        missing = [name for name in (axis.path for axis in axes) if name not in values]
        values.update(dict.fromkeys(missing, float("nan")))
        return predicate(values)

    return accept


def progress_bar() -> "Callable[[int, int], None] | None":
    """A rich progress bar on stderr, shown on a terminal once the sweep has run a second."""
    if not sys.stderr.isatty():
        return None
    started = time.monotonic()
    bar: dict[str, Any] = {}

    def update(done: int, total: int) -> None:
        if "progress" not in bar:
            if time.monotonic() - started < 1.0:
                return
            from rich.console import Console
            from rich.progress import Progress

            progress = Progress(console=Console(stderr=True), transient=True)
            progress.start()
            bar["progress"] = progress
            bar["task"] = progress.add_task("variants", total=total)
        bar["progress"].update(bar["task"], completed=done)
        if done >= total:
            bar["progress"].stop()

    return update


def emit_sweep(
    variants: "list[Variant]",
    axes: "list[Axis]",
    accept: "Callable[[Variant], bool]",
    order: "Callable[[Variant], Any] | None",
    keys: tuple[str, ...],
    train: bool,
    counting: "Counting | None",
    fmt: OutputFormat,
    as_json: bool,
    output: Any,
) -> None:
    """The valid variants (filtered, sorted, Pareto marked), then the invalid ones; counted by
    a convention, the MACs column has the tool's name for its count and the title names it."""
    from convcalc.cli.records import emit_records
    from convcalc.render import units
    from convcalc.render.records import Column
    from convcalc.sweep import pareto_front

    convention = None
    if counting is not None:
        from convcalc.conventions.counting import CONVENTIONS

        convention = CONVENTIONS[counting.convention]
    valid = [variant for variant in variants if variant.valid and accept(variant)]
    invalid = [variant for variant in variants if not variant.valid]
    if order is not None:
        valid.sort(key=order)
    front = pareto_front(valid, keys)
    memory_title = "training memory" if train else "peak memory"
    columns = [
        Column("index", "#", True),
        *(Column(axis.path, axis.path) for axis in axes),
        Column("params", "params", True),
        Column("macs", (convention and convention.ops_label) or "MACs", True),
        Column("memory", memory_title, True, hide_rank=3),
        Column("rf", "RF", True, hide_rank=2),
        Column("outputs", "output", hide_rank=1),
        Column("pareto", "pareto"),
    ]
    records = [
        {
            "index": str(variant.number),
            **dict(zip((axis.path for axis in axes), variant.values, strict=True)),
            "params": units.count(variant.params),
            "macs": units.count(variant.macs),
            "memory": units.size(variant.memory),
            "rf": rf_text(variant),
            "outputs": ", ".join(units.shape(shape) for shape in variant.outputs),
            "pareto": "*" if variant.number in front else "",
        }
        for variant in valid
    ]
    title = (
        f"{len(valid)} of {len(variants)} variants"
        + (" match --where" if len(valid) != len(variants) - len(invalid) else "")
        + f"; {len(front)} on the Pareto front ({', '.join(keys)})"
        + ("" if convention is None else f" — counted as {convention.label}")
    )
    sections = [(title, columns, records)]
    if invalid:
        error_columns = [
            Column("index", "#", True),
            *(Column(axis.path, axis.path) for axis in axes),
            Column("error", "first error"),
        ]
        error_records = [
            {
                "index": str(variant.number),
                **dict(zip((axis.path for axis in axes), variant.values, strict=True)),
                "error": variant.error,
            }
            for variant in invalid
        ]
        sections.append((f"{len(invalid)} invalid variants", error_columns, error_records))
    counted_by = {} if convention is None else {"convention": convention.name}
    if convention is not None and convention.ops_label is not None:
        counted_by["ops_label"] = convention.ops_label
    document = {
        **counted_by,
        "settings": [axis.path for axis in axes],
        "memory": "training" if train else "inference_peak",
        "pareto_keys": list(keys),
        "variants": [variant_document(variant, axes, front) for variant in valid],
        "invalid": [variant_document(variant, axes, front) for variant in invalid],
    }
    emit_records(fmt, as_json, output, document, sections, csv_table(valid, invalid, axes, front))


def csv_table(
    valid: "list[Variant]", invalid: "list[Variant]", axes: "list[Axis]", front: set[int]
) -> Any:
    """Every variant as plain numbers, the invalid ones with their error."""
    from convcalc.render.records import Column

    keys = [
        "index",
        *(axis.path for axis in axes),
        "params",
        "macs",
        "memory_bytes",
        "rf_height",
        "rf_width",
        "outputs",
        "pareto",
        "error",
    ]
    records = []
    for variant in [*valid, *invalid]:
        record = {
            "index": str(variant.number),
            **dict(zip((axis.path for axis in axes), variant.values, strict=True)),
            "error": variant.error,
        }
        if variant.valid:
            height, width = variant.rf or ("", "")
            record.update(
                params=str(variant.params),
                macs=str(variant.macs),
                memory_bytes=str(variant.memory),
                rf_height=plain_number(height),
                rf_width=plain_number(width),
                outputs=" ".join("x".join(map(str, shape)) for shape in variant.outputs),
                pareto=str(variant.number in front).lower(),
            )
        records.append(record)
    return [Column(key, key) for key in keys], records


def plain_number(value: Any) -> str:
    """A whole float as an int, others as they are, nothing as ``""``."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def rf_text(variant: "Variant") -> str:
    """``212×212``."""
    if variant.rf is None:
        return ""
    height, width = (int(size) if float(size).is_integer() else size for size in variant.rf)
    return f"{height}×{width}"


def variant_document(variant: "Variant", axes: "list[Axis]", front: set[int]) -> dict[str, Any]:
    """One variant as JSON: its values by path, and its totals or its error."""
    document: dict[str, Any] = {
        "index": variant.number,
        "values": dict(zip((axis.path for axis in axes), variant.values, strict=True)),
    }
    if not variant.valid:
        document["error"] = variant.error
        return document
    document.update(
        params=variant.params,
        macs=variant.macs,
        memory_bytes=variant.memory,
        rf={"size": list(variant.rf) if variant.rf else None, "global": variant.rf_global},
        outputs=[list(shape) for shape in variant.outputs],
        pareto=variant.number in front,
    )
    return document
