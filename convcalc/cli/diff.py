"""``convcalc diff``: two networks compared row by row, and their totals."""

from typing import TYPE_CHECKING, Annotated, Any, NamedTuple

import typer

from convcalc.cli.common import (
    ConventionName,
    ConventionOption,
    FormatOption,
    JsonOption,
    OutputOption,
    SetOption,
    StrictOption,
    TracebackOption,
    app,
    chosen_format,
    load_spec,
    reported,
    with_convention,
)
from convcalc.errors import ExitCode

if TYPE_CHECKING:
    from collections.abc import Callable

    from convcalc.diff import Diff, RowChange, TotalChange
    from convcalc.report import Report, Row

MARKS = {"same": " ", "changed": "~", "inserted": "+", "deleted": "-"}


class Counting(NamedTuple):
    """Whose numbers the diff shows: convcalc's, or a convention's (its name, the tool and
    version, and its word for the operation count)."""

    name: str = "convcalc"
    label: str = ""
    ops_label: str = "MACs"

    @classmethod
    def of(cls, report: "Report") -> "Counting":
        """The counting of a report counted by a convention."""
        from convcalc.conventions.view import ConventionView

        view = report.extra(ConventionView)
        assert view is not None, "counted by a convention"
        convention = view.totals.convention
        return cls(convention.name, convention.label, convention.ops_label or "MACs")


@app.command()
def diff(
    spec_a: Annotated[str, typer.Argument(metavar="A", help="A spec file, - or zoo:NAME.")],
    spec_b: Annotated[str, typer.Argument(metavar="B", help="The spec to compare it with.")],
    settings: SetOption = None,
    show_all: Annotated[
        bool, typer.Option("--all", help="Also list the rows that did not change.")
    ] = False,
    exit_code: Annotated[
        bool, typer.Option("--exit-code", help="Exit with status 1 when A and B differ.")
    ] = False,
    convention: ConventionOption = ConventionName.CONVCALC,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
    strict: StrictOption = False,
    traceback: TracebackOption = False,
) -> None:
    """Compare two networks (--set changes B): rows matched by path, then by type and position;
    changed shapes, params, MACs, receptive fields and memory per row, and the totals' deltas
    (with --convention, the tool's params, operation count and figures)."""
    from convcalc.analysis import analyze
    from convcalc.cli.records import emit_records
    from convcalc.diff import diff_reports

    fmt = chosen_format(fmt, as_json)
    with reported(traceback):
        first = analyze(load_spec(spec_a, None, strict=strict), strict=strict)
        second = analyze(load_spec(spec_b, settings, strict=strict), strict=strict)
        first = with_convention(first, convention, spec_a)
        second = with_convention(second, convention, spec_b)
        if convention is ConventionName.CONVCALC:
            counting, result = Counting(), diff_reports(first, second)
        else:
            from convcalc.conventions.view import convention_figures

            counting = Counting.of(first)
            result = diff_reports(first, second, convention_figures)
        shown = [row for row in result.rows if show_all or row.change != "same"]
        emit_records(
            fmt,
            as_json,
            output,
            diff_document(spec_a, spec_b, result, counting),
            sections(spec_a, spec_b, result, shown, counting),
            csv_table(result, shown),
            notes=[] if result.differs else ["A and B are the same network"],
        )
    if exit_code and result.differs:
        raise typer.Exit(ExitCode.ERROR)


def sections(
    a: str, b: str, result: "Diff", shown: "list[RowChange]", counting: Counting
) -> list[Any]:
    """The rows table and the totals table (a convention's numbers under its own names)."""
    from convcalc.render.records import Column

    counts = {kind: sum(row.change == kind for row in result.rows) for kind in MARKS}
    title = (
        f"{a} → {b}: {counts['changed']} changed, {counts['inserted']} inserted, "
        f"{counts['deleted']} deleted, {counts['same']} unchanged rows"
    )
    if counting.label:
        title += f" — counted as {counting.label}"
    row_columns = [
        Column("mark", ""),
        Column("path", "layer"),
        Column("type", "type", hide_rank=1),
        Column("output", "output", hide_rank=4),
        Column("params", "params", True, hide_rank=6),
        Column("macs", counting.ops_label, True, hide_rank=5),
        Column("rf", "RF", True, hide_rank=3),
        Column("memory", "memory", True, hide_rank=2),
    ]
    total_columns = [
        Column("total", "total"),
        Column("a", "A", True),
        Column("b", "B", True),
        Column("delta", "Δ", True),
        Column("percent", "%", True),
    ]
    totals = [total_record(total) for total in result.totals]
    return [
        (title, row_columns, [row_record(row) for row in shown]),
        ("totals", total_columns, totals),
    ]


def csv_table(result: "Diff", shown: "list[RowChange]") -> Any:
    """The shown rows, both sides in plain numbers, then one row per total."""
    from convcalc.render.records import Column

    quantities = ("path", "type", "output", "params", "macs", "rf", "memory")
    keys = [
        "change",
        *(f"{key}_{side}" for key in quantities for side in "ab"),
        "value_a",
        "value_b",
    ]

    def values(row: "Row | None", side: str) -> dict[str, str]:
        if row is None:
            return {}
        rf = "" if row.rf is None else "x".join(str(size) for size in plain_sizes(row.rf.size))
        texts = {
            "path": row.path,
            "type": row.type,
            "output": "x".join(map(str, row.output)),
            "params": str(row.params),
            "macs": str(row.macs),
            "rf": rf,
            "memory": str(row.activation_bytes),
        }
        return {f"{key}_{side}": text for key, text in texts.items()}

    records = [
        {"change": change.change, **values(change.a, "a"), **values(change.b, "b")}
        for change in shown
    ]
    # The totals follow as rows of their own: the total's name and its value in A and B.
    records.extend(
        {
            "change": "total",
            "path_a": total.key,
            "value_a": plain(total.a),
            "value_b": plain(total.b),
        }
        for total in result.totals
    )
    return [Column(key, key) for key in keys], records


def plain(value: float) -> str:
    """A total as a plain number."""
    return str(int(value)) if float(value).is_integer() else str(value)


def plain_sizes(sizes: "tuple[float, ...]") -> "list[int | float]":
    """Field sizes, whole ones as ints."""
    return [int(size) if float(size).is_integer() else size for size in sizes]


def row_record(change: "RowChange") -> dict[str, str]:
    """One row of the diff: changed values as ``a → b``."""
    from convcalc.render import units
    from convcalc.report import Row

    texts: dict[str, Callable[[Row], str]] = {
        "path": lambda row: row.path,
        "type": lambda row: row.type,
        "output": lambda row: units.shape(row.output),
        "params": lambda row: units.count(row.params) if row.params else "0",
        "macs": lambda row: units.count(row.macs) if row.macs else "0",
        "rf": lambda row: units.field(row.rf),
        "memory": lambda row: units.size(row.activation_bytes),
    }

    def cell(key: str) -> str:
        a, b = change.a, change.b
        if a is None or b is None:
            row: Row = a or b  # type: ignore[assignment]
            return texts[key](row)
        before, after = texts[key](a), texts[key](b)
        return before if before == after else f"{before} → {after}"

    record = {key: cell(key) for key in texts}
    record["mark"] = MARKS[change.change]
    return record


def total_record(total: "TotalChange") -> dict[str, str]:
    """One total: A, B, the difference and its percentage."""
    percent = total.percent
    return {
        "total": total.key,
        "a": f"{total.a:,.0f}",
        "b": f"{total.b:,.0f}",
        "delta": f"{total.delta:+,.0f}" if total.delta else "0",
        "percent": "" if percent is None else f"{percent:+.1f}%" if total.delta else "0%",
    }


def diff_document(a: str, b: str, result: "Diff", counting: Counting) -> dict[str, Any]:
    """The diff as JSON: every row (``change``, both sides' values, ``fields`` that differ) and
    every total; counted by a convention, its name and its word for the rows' ``macs``."""
    import json

    from convcalc.report import field_json

    def side(row: "Row | None") -> dict[str, Any] | None:
        if row is None:
            return None
        return {
            "path": row.path,
            "type": row.type,
            "input": list(row.input),
            "output": list(row.output),
            "params": row.params,
            "macs": row.macs,
            "rf": json.loads(field_json(row.rf)),
            "activation_bytes": row.activation_bytes,
        }

    convention = {"convention": counting.name, "ops_label": counting.ops_label}
    return {
        "a": a,
        "b": b,
        **(convention if counting.label else {}),
        "differs": result.differs,
        "rows": [
            {"change": row.change, "a": side(row.a), "b": side(row.b), "fields": list(row.fields)}
            for row in result.rows
        ],
        "totals": {
            total.key: {
                "a": total.a,
                "b": total.b,
                "delta": total.delta,
                "percent": None if total.percent is None else round(total.percent, 4),
            }
            for total in result.totals
        },
    }
