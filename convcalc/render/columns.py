"""The columns of the layer table, declared once: name, header, cells, footer and CSV fields.

The table, Markdown and CSV all read these declarations, so a column (or a view's column: live
memory, saved tensors, Jacobians) shows up in every format at once. A column's cells are worked
out per :class:`Line`: one row, or a container's rows with their totals (``--depth``, and the
headings of the tree a terminal shows).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from convcalc.render import units
from convcalc.render.layout import Cell, Styled
from convcalc.report import Report, Row, number

Value = str | int
"""A CSV value."""


@dataclass(frozen=True, slots=True)
class Line:
    """One line of the layer table: the rows ``start:stop`` under ``path`` — one row, or
    (``group``) a container's rows, shown as one line with their totals."""

    start: int
    stop: int
    path: str
    group: bool = False

    @property
    def level(self) -> int:
        """How deeply the line is nested: the number of dots in its path."""
        return self.path.count(".")

    @property
    def name(self) -> str:
        """The line's own name: the last part of its path."""
        return self.path.rpartition(".")[2]


@dataclass(frozen=True, slots=True)
class Field:
    """One CSV field of a column: its name, its value on a line and on the total line."""

    name: str
    value: Callable[[Line], Value]
    total: Value = ""


@dataclass(frozen=True, slots=True)
class ReportColumn:
    """A column of the layer table.

    ``name`` is what ``--columns`` calls it; ``header`` and ``footer`` head and close it in the
    table and Markdown; ``cell`` is its text on a line; ``fields`` are its CSV fields (none for a
    bar, which only draws a number another column has). ``rank`` orders the columns for a
    narrow terminal: lower ranks are kept first. ``default`` columns are in the table unless
    others are asked for; a column with no ``header`` is written to CSV only."""

    name: str
    header: str
    cell: Callable[[Line], Cell]
    rank: int
    footer: str = ""
    fields: tuple[Field, ...] = ()
    justify: str = "right"
    default: bool = True

    @property
    def in_table(self) -> bool:
        """Whether the column can be shown in the table and Markdown (not CSV-only)."""
        return bool(self.header)


def summed(values: Sequence[int]) -> Callable[[Line], int]:
    """A line's value: the sum of ``values`` over its rows."""
    return lambda line: (
        values[line.start] if line.stop - line.start == 1 else sum(values[line.start : line.stop])
    )


def table_lines(rows: Sequence[Row], *, headings: bool, depth: int | None) -> list[Line]:
    """The lines of the layer table: each row; with ``headings``, a line with totals before the
    rows of each container (a tree, as a terminal shows it); containers nested ``depth`` deep
    collapsed into their line."""
    lines: list[Line] = []
    opened: list[str] = []
    index = 0
    while index < len(rows):
        path = rows[index].path
        parts = path.split(".")
        scopes = [".".join(parts[:level]) for level in range(1, len(parts))]
        kept = 0
        while kept < min(len(opened), len(scopes)) and opened[kept] == scopes[kept]:
            kept += 1
        del opened[kept:]
        for level in range(kept, len(scopes)):
            scope = scopes[level]
            collapsed = depth is not None and level + 1 >= depth
            if headings or collapsed:
                stop = index + 1
                while stop < len(rows) and rows[stop].path.startswith(scope + "."):
                    stop += 1
                lines.append(Line(index, stop, scope, group=True))
                if collapsed:
                    index = stop
                    break
            opened.append(scope)
        else:
            lines.append(Line(index, index + 1, path))
            index += 1
    return lines


def core_columns(report: Report, names: Callable[[Line], Cell]) -> list[ReportColumn]:
    """The columns every report has: index, layer (``names`` gives its cells), type, shapes,
    params, buffers, MACs, receptive field, output memory."""
    rows = report.rows
    totals = report.totals
    macs = summed([row.macs for row in rows])
    memory = summed([row.activation_bytes for row in rows])

    def last(line: Line) -> Row:
        return rows[line.stop - 1]

    def kind(line: Line) -> Cell:
        if line.group:
            count = line.stop - line.start
            return Styled(f"{count} row{'s' if count > 1 else ''}", "dim")
        return Styled(rows[line.start].type, "cyan")

    def field(line: Line) -> str:
        return units.field(last(line).rf)

    def whole_field(line: Line) -> str:
        rf = last(line).rf
        return "true" if rf is not None and rf.is_global else "false"

    def axes(part: str) -> Callable[[Line], str]:
        def value(line: Line) -> str:
            rf = last(line).rf
            if rf is None:
                return ""
            return "x".join(str(number(axis)) for axis in getattr(rf, part))

        return value

    return [
        ReportColumn(
            "index",
            "#",
            lambda line: "" if line.group else str(line.start),
            rank=6,
            fields=(Field("index", lambda line: "" if line.group else line.start),),
        ),
        ReportColumn(
            "layer",
            "layer",
            names,
            rank=0,
            footer="total",
            fields=(Field("path", lambda line: line.path, "total"),),
            justify="left",
        ),
        ReportColumn(
            "type",
            "type",
            kind,
            rank=7,
            fields=(Field("type", lambda line: "" if line.group else rows[line.start].type),),
            justify="left",
        ),
        ReportColumn(
            "input",
            "input",
            lambda line: units.row_input(rows[line.start]),
            rank=8,
            fields=(Field("input", lambda line: csv_shape(rows[line.start].input)),),
            justify="left",
        ),
        ReportColumn(
            "output",
            "output",
            lambda line: units.shape(last(line).output),
            rank=1,
            footer=units.shape(rows[-1].output) if rows else "",
            fields=(Field("output", lambda line: csv_shape(last(line).output)),),
            justify="left",
        ),
        counted("params", [row.params for row in rows], totals.params, rank=2),
        counted("buffers", [row.buffers for row in rows], totals.buffers, rank=15, default=False),
        ReportColumn(
            "macs",
            "MACs",
            lambda line: units.count(macs(line)) if macs(line) else "",
            rank=3,
            footer=units.count(totals.macs),
            fields=(Field("macs", macs, totals.macs),),
        ),
        ReportColumn(
            "rf",
            "RF",
            field,
            rank=4,
            footer=units.field(totals.rf),
            fields=(
                Field("rf_size", axes("size")),
                Field("rf_jump", axes("jump")),
                Field("rf_start", axes("start")),
                Field("rf_global", whole_field),
            ),
        ),
        ReportColumn(
            "memory",
            "memory",
            lambda line: units.size(memory(line)),
            rank=5,
            footer=units.size(totals.activation_bytes),
            fields=(Field("activation_bytes", memory, totals.activation_bytes),),
        ),
    ]


def counted(
    name: str, values: Sequence[int], total: int, rank: int, default: bool = True
) -> ReportColumn:
    """A column of whole counts (params, buffers) shown in full with thousands separators,
    blank where zero, summed over a line's rows."""
    value = summed(values)
    return ReportColumn(
        name,
        name,
        lambda line: f"{value(line):,}" if value(line) else "",
        rank=rank,
        footer=f"{total:,}",
        fields=(Field(name, value, total),),
        default=default,
    )


def warnings_column(report: Report) -> ReportColumn:
    """The warnings of each row: CSV only (the table marks them ⚠ and prints them on stderr)."""
    rows = report.rows

    def warnings(line: Line) -> str:
        return "; ".join(w for row in rows[line.start : line.stop] for w in row.warnings)

    return ReportColumn(
        "warnings", "", lambda line: "", rank=99, fields=(Field("warnings", warnings),)
    )


def csv_shape(shape: Sequence[int]) -> str:
    """A shape as CSV writes it: ``3x32x32``."""
    return "x".join(map(str, shape))


def absorbs_column(report: Report) -> ReportColumn | None:
    """In the inference view (``--fold-bn``): the batchnorms each layer absorbed (named relative
    to the layer's own scope) and the bias it gained."""
    if report.before is None:
        return None
    received = report.folding.receivers(report.before.rows)
    before_params = {row.path: row.params for row in report.before.rows}
    rows = report.rows

    def absorbed(line: Line) -> list[str]:
        return [bn for row in rows[line.start : line.stop] for bn in received.get(row.path, ())]

    def cell(line: Line) -> Cell:
        batchnorms = absorbed(line)
        if not batchnorms or line.group:
            return Styled(f"⊕ {len(batchnorms)}", "green") if batchnorms else ""
        row = rows[line.start]
        scope = row.path.rpartition(".")[0]
        names = [bn.removeprefix(f"{scope}.") if scope else bn for bn in batchnorms]
        gained = row.params - before_params.get(row.path, row.params)
        text = "⊕ " + units.printable(", ".join(names)) + (f", bias +{gained:,}" if gained else "")
        return Styled(text, "green")

    return ReportColumn(
        "absorbs",
        "absorbs",
        cell,
        # Asked for with --fold-bn: kept before the shapes and memory views.
        rank=6,
        fields=(Field("absorbs", lambda line: "; ".join(absorbed(line))),),
        justify="left",
    )
