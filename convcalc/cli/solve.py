"""``convcalc solve``: the layer settings that map one size to another, or the input sizes a
network accepts."""

from typing import TYPE_CHECKING, Annotated, Any

import typer

from convcalc.cli.common import (
    FormatOption,
    JsonOption,
    OutputOption,
    SetOption,
    TracebackOption,
    app,
    chosen_format,
    load_spec,
    reported,
)
from convcalc.errors import UsageError
from convcalc.render import OutputFormat

if TYPE_CHECKING:
    from convcalc.render.records import Column
    from convcalc.solve import SizeResult, Solution

Section = tuple[str, list["Column"], list[dict[str, str]]]


@app.command()
def solve(
    spec: Annotated[
        str | None,
        typer.Argument(
            metavar="SPEC",
            help="A network (file, - or zoo:NAME) whose accepted input sizes to list (--sizes).",
        ),
    ] = None,
    size_in: Annotated[
        str | None, typer.Option("--in", metavar="N|HxW", help="One layer's input size.")
    ] = None,
    size_out: Annotated[
        str | None, typer.Option("--out", metavar="N|HxW", help="The output size wanted.")
    ] = None,
    kind: Annotated[
        str, typer.Option("--type", metavar="TYPE", help="conv, deconv, maxpool or avgpool.")
    ] = "conv",
    kernel: Annotated[int | None, typer.Option(help="Only this kernel (default 1 to 11).")] = None,
    stride: Annotated[int | None, typer.Option(help="Only this stride (default 1 to 11).")] = None,
    pad: Annotated[int | None, typer.Option(help="Only this padding.")] = None,
    dilation: Annotated[
        int | None, typer.Option(help="Only this dilation (default 1 to 4).")
    ] = None,
    allow_drop: Annotated[
        bool,
        typer.Option("--allow-drop", help="Also list settings that leave input rows unread."),
    ] = False,
    sizes: Annotated[
        str | None,
        typer.Option(
            "--sizes",
            metavar="RANGE",
            help="Input sizes to try on SPEC: 256..1024[:STEP] (square) or HxW ranges "
            "(256..512x384).",
        ),
    ] = None,
    settings: SetOption = None,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
    traceback: TracebackOption = False,
) -> None:
    """The arithmetic backwards: every kernel, stride, pad and dilation that maps --in to --out
    (simplest first), or with SPEC every input size in --sizes that the network accepts."""
    fmt = chosen_format(fmt, as_json)
    with reported(traceback):
        if spec is not None:
            if size_in is not None or size_out is not None:
                raise UsageError("--in/--out solve one layer; with SPEC, give --sizes")
            if sizes is None:
                raise UsageError("SPEC: give the input sizes to try, e.g. --sizes 256..1024")
            solve_network(spec, sizes, settings, fmt, as_json, output)
            return
        if sizes is not None or settings:
            raise UsageError("--sizes and --set need a SPEC")
        if size_in is None or size_out is None:
            raise UsageError("give --in and --out (one layer), or a SPEC and --sizes")
        from convcalc.solve import bounds

        limits = bounds(kind, kernel, stride, pad, dilation)
        solve_layer(kind, size_in, size_out, limits, allow_drop, fmt, as_json, output)


def axis_sizes(text: str, flag: str) -> tuple[int, int]:
    """``N`` or ``HxW`` → (H, W)."""
    import re

    parts = re.split(r"[xX×*]", text.strip())
    if len(parts) not in (1, 2) or not all(part.strip().isdigit() for part in parts):
        raise UsageError(f"{flag}: expected a size N or HxW, got `{text}`")
    numbers = [int(part) for part in parts]
    if min(numbers) < 1:
        raise UsageError(f"{flag}: sizes must be ≥ 1, got `{text}`")
    return (numbers[0], numbers[-1])


def solve_layer(
    kind: str,
    size_in: str,
    size_out: str,
    limits: Any,
    allow_drop: bool,
    fmt: OutputFormat,
    as_json: bool,
    output: Any,
) -> None:
    """One layer, per axis (once when both axes ask the same)."""
    from convcalc.cli.records import emit_records
    from convcalc.render.records import Column
    from convcalc.solve import Solution, solve_axis

    ins, outs = axis_sizes(size_in, "--in"), axis_sizes(size_out, "--out")
    axes = [("height", 0), ("width", 1)]
    if ins[0] == ins[1] and outs[0] == outs[1]:
        axes = [("height and width", 0)]
    sections: list[Section] = []
    notes = []
    documents = []
    columns = [
        Column("kernel", "kernel", True),
        Column("stride", "stride", True),
        Column("pad", "pad", True),
        Column("dilation", "dilation", True),
    ]
    if kind == "deconv":
        columns.append(Column("output_padding", "output_padding", True))
    columns.append(Column("reads", "input read"))
    csv_records: list[dict[str, str]] = []
    for axis, index in axes:
        found = solve_axis(kind, ins[index], outs[index], limits)
        shown = [solution for solution in found if allow_drop or not solution.dropped]
        csv_records.extend(
            {"axis": axis, **{key: str(value) for key, value in solution_document(kind, s).items()}}
            for s in shown
        )
        hidden = len(found) - len(shown)
        title = f"{kind} {axis}: {ins[index]} → {outs[index]}: {len(shown)} settings"
        if hidden:
            title += f" ({hidden} that leave input rows unread hidden; --allow-drop shows them)"
        sections.append((title, columns, [solution_record(kind, s) for s in shown]))
        if not shown:
            notes.append(f"no {kind} within the bounds takes {ins[index]} to {outs[index]}")
        documents.append(
            {
                "axis": axis,
                "in": ins[index],
                "out": outs[index],
                "hidden": hidden,
                "solutions": [solution_document(kind, s) for s in shown],
            }
        )
    keys = ["axis", *solution_document(kind, Solution(1, 1, 0, 1, 0, 0))]
    emit_records(
        fmt,
        as_json,
        output,
        {"type": kind, "axes": documents},
        sections,
        ([Column(key, key) for key in keys], csv_records),
        notes,
    )


def solution_record(kind: str, solution: "Solution") -> dict[str, str]:
    """One setting's texts."""
    record = {
        "kernel": str(solution.kernel),
        "stride": str(solution.stride),
        "pad": str(solution.pad),
        "dilation": str(solution.dilation),
        "reads": "all" if not solution.dropped else f"drops {solution.dropped}",
    }
    if kind == "deconv":
        record["output_padding"] = str(solution.output_padding)
    return record


def solution_document(kind: str, solution: "Solution") -> dict[str, int]:
    """One setting as JSON."""
    document: dict[str, int] = solution._asdict()
    if kind != "deconv":
        del document["output_padding"]
    return document


def solve_network(
    spec: str,
    sizes_text: str,
    settings: list[str] | None,
    fmt: OutputFormat,
    as_json: bool,
    output: Any,
) -> None:
    """Every size of the range through the network; failures grouped by their layer."""
    from convcalc.cli.records import emit_records
    from convcalc.ranges import parse_sizes
    from convcalc.render import units
    from convcalc.render.records import Column
    from convcalc.solve import check_image, solve_size
    from convcalc.sweep import parallel_map

    network = load_spec(spec, settings)
    check_image(network)
    sizes = parse_sizes(sizes_text)
    results: list[SizeResult] = parallel_map(solve_size, network, sizes)
    accepted = [result for result in results if result.accepted]
    records = []
    for group in grouped(results):
        first, last = group[0], group[-1]
        label = size_text(first.size)
        if len(group) > 1:
            label += f" … {size_text(last.size)} ({len(group)} sizes)"
        if first.accepted:
            result = ", ".join(units.shape(shape) for shape in first.outputs)
        else:
            result = f"fails at {first.where}: {first.problem}"
            if len(group) > 1:
                result = f"fails at {first.where} (at {size_text(first.size)}: {first.problem})"
        records.append({"size": label, "result": result})
    name = network.name or spec
    title = f"{name}: {len(accepted)} of {len(results)} input sizes accepted"
    document = {
        "name": network.name,
        "channels": network.input[0],
        "accepted": [size_document(result) for result in accepted],
        "sizes": [size_document(result) for result in results],
    }
    columns = [Column("size", "input size"), Column("result", "output / first failing layer")]
    csv_columns = [
        Column(key, key) for key in ("height", "width", "accepted", "outputs", "where", "problem")
    ]
    csv_records = [
        {
            "height": str(result.size[0]),
            "width": str(result.size[1]),
            "accepted": str(result.accepted).lower(),
            "outputs": " ".join("x".join(map(str, shape)) for shape in result.outputs),
            "where": result.where,
            "problem": result.problem,
        }
        for result in results
    ]
    emit_records(
        fmt, as_json, output, document, [(title, columns, records)], (csv_columns, csv_records)
    )


def grouped(results: "list[SizeResult]") -> "list[list[SizeResult]]":
    """Accepted sizes one by one; consecutive failures at the same layer together."""
    groups: list[list[SizeResult]] = []
    for result in results:
        previous = groups[-1][-1] if groups else None
        if (
            previous is not None
            and not result.accepted
            and not previous.accepted
            and previous.where == result.where
        ):
            groups[-1].append(result)
        else:
            groups.append([result])
    return groups


def size_text(size: tuple[int, int]) -> str:
    """``572×572``."""
    return f"{size[0]}×{size[1]}"


def size_document(result: "SizeResult") -> dict[str, Any]:
    """One size as JSON."""
    document: dict[str, Any] = {"size": list(result.size), "accepted": result.accepted}
    if result.accepted:
        document["outputs"] = [list(shape) for shape in result.outputs]
    else:
        document["where"] = result.where
        document["problem"] = result.problem
    return document
