"""The table views: the layer-by-layer table of ``analyze`` (totals as its footer, then BN
folding, memory and warnings) and the single-layer view of ``layer``, as a :class:`Block` of
tables and styled text (see :mod:`convcalc.render.layout` for how they are laid out)."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from convcalc.jacobian import JacobianView
from convcalc.render import units
from convcalc.render.columns import (
    Line,
    ReportColumn,
    absorbs_column,
    core_columns,
    table_lines,
    warnings_column,
)
from convcalc.render.conventions import convention_summary, title_suffix
from convcalc.render.layout import TITLE_STYLE, Block, Cell, Column, Grid, Styled
from convcalc.render.view_columns import jacobian_cells, memory_columns, memory_summary
from convcalc.report import Report
from convcalc.tensors import dtype_bytes


def network_table(
    report: Report,
    width: int | None = None,
    *,
    columns: Sequence[str] | None = None,
    depth: int | None = None,
    wide: bool = False,
) -> Block:
    """The layer table of ``analyze``, with totals as its footer, then folding and memory.

    At a terminal ``width`` cells wide, layer names form an indented tree under a line per
    container, and the table keeps only the columns that fit, whole (by rank: numbers before
    bars), saying which it hid; piped or written (``width`` None), ``wide`` or with ``columns``
    named, every column is there, names as full paths. ``depth`` collapses the containers
    nested that deep into one line with their totals."""
    title = (
        f"{units.printable(report.name or 'network')} — input {units.shape(report.input)}, "
        f"batch {report.batch}, {report.dtype}"
    )
    if report.before is not None:
        title += " — inference view, batchnorms folded"
    title += title_suffix(report)
    tree = width is not None
    lines = table_lines(report.rows, headings=tree, depth=depth)
    candidates = [
        column
        for column in report_columns(report, layer_names(report, tree))
        if column.in_table and (column.name in columns if columns else column.default)
    ]
    if columns:
        candidates.sort(key=lambda column: columns.index(column.name))
    grid_columns = [grid_column(column, lines) for column in candidates]
    hidden: list[str] = []
    fit = tree and not wide and not columns
    if fit:
        assert width is not None
        grid_columns, hidden = fitted(grid_columns, candidates, width)
    styles = [line_style(report, line) for line in lines]
    # The title is a line of its own, not the grid's: a table narrowed by --columns would
    # wrap it at its own width.
    parts: list[Grid | Styled] = [Styled(title, TITLE_STYLE), Grid(grid_columns, row_styles=styles)]
    if hidden:
        parts.append(
            Styled(
                f"hidden to fit {width} columns: {', '.join(hidden)} (--wide or --columns all "
                f"shows them; --columns picks, e.g. --columns layer,{hidden[0]},params)",
                "dim",
            )
        )
    parts.append(summary(report))
    unsupported = units.unsupported_line(report)
    if unsupported:
        parts.append(Styled(unsupported, "yellow"))
    counted = convention_summary(report)
    if counted is not None:
        parts.append(counted)
    memory = memory_summary(report)
    if memory is not None:
        parts.append(memory)
    warned = [row.path for row in report.rows if row.warnings]
    if warned:
        # The warnings themselves go to stderr, located; the table only points at them.
        rows = "row" if len(warned) == 1 else "rows"
        parts.append(Styled(f"⚠ warnings on {len(warned)} {rows}, printed on stderr", "yellow"))
    return Block(parts, fit=fit)


def report_columns(report: Report, names: Callable[[Line], Cell]) -> list[ReportColumn]:
    """Every column of ``report``'s table, in order: the core ones (``names`` naming the
    lines), the views' columns, what folding absorbed, and the CSV-only warnings."""
    columns = core_columns(report, names) + memory_columns(report)
    absorbs = absorbs_column(report)
    if absorbs is not None:
        columns.append(absorbs)
    columns.append(warnings_column(report))
    return columns


def column_names(report: Report) -> list[str]:
    """The names of ``report``'s table columns, as ``--columns all`` lists them."""
    return [column.name for column in report_columns(report, str) if column.in_table]


def column_lookup(report: Report) -> dict[str, str]:
    """What ``--columns`` accepts for ``report``, folded to lower case: each column's name and
    its header as the table shows it (``#``, ``MACs``, ``non-zeros``), mapped to its name."""
    lookup: dict[str, str] = {}
    for column in report_columns(report, str):
        if column.in_table:
            lookup[column.header.lower()] = column.name
            lookup[column.name.lower()] = column.name
    return lookup


def layer_names(report: Report, tree: bool) -> Callable[[Line], Cell]:
    """A line's name: its own name indented by its nesting (``tree``) or its full path; ⚠
    after a row with warnings, a container's name in bold."""
    rows = report.rows

    def name(line: Line) -> Cell:
        text = units.printable(("  " * line.level + line.name) if tree else line.path)
        if line.group:
            return Styled(text, "bold") if tree else text
        if not rows[line.start].warnings:
            return text
        return Styled(text).append(" ⚠", "bold yellow")

    return name


def grid_column(column: ReportColumn, lines: list[Line]) -> Column:
    """``column``'s cells on ``lines``, as a table column."""
    return Column(
        column.header, column.footer, [column.cell(line) for line in lines], column.justify
    )


def fitted(
    columns: list[Column], declared: list[ReportColumn], width: int
) -> tuple[list[Column], list[str]]:
    """The columns that fit ``width`` cells, whole: taken by rank while they fit (a narrower
    column of a later rank may still fit where a wider one did not), in their own order; and
    the headers of those left out, as the user would see them (each one ``--columns`` takes).
    The layer column is always kept, its names cut short (``…``)
    only on a terminal too narrow for it alone."""
    grid = Grid(columns)
    widths = grid.widths(None)
    order = sorted(range(len(columns)), key=lambda index: declared[index].rank)
    room = width
    kept: set[int] = set()
    for index in order:
        needed = widths[index] + (1 if kept else 0)
        if needed <= room or declared[index].name == "layer":
            kept.add(index)
            room -= needed
    if room < 0:
        trim(columns, declared, widths, -room)
    chosen = sorted(kept)
    hidden = [declared[index].header for index in range(len(columns)) if index not in kept]
    return [columns[index] for index in chosen], hidden


def trim(
    columns: list[Column], declared: list[ReportColumn], widths: list[int], excess: int
) -> None:
    """Narrow the layer column by ``excess`` cells: its names lose their ends to ``…``."""
    index = next(i for i, column in enumerate(declared) if column.name == "layer")
    columns[index].max_width = max(widths[index] - 2 - excess, 4)


def line_style(report: Report, line: Line) -> str:
    """A line's style: merges (add, mul, concat) faint, as they hold no parameters and do no
    MACs."""
    if line.group:
        return ""
    return "dim" if report.rows[line.start].merge is not None else ""


def summary(report: Report) -> Styled:
    """Totals in words, with the BN folding line."""
    totals = report.totals
    text = Styled()
    text.append("params ", style="bold")
    text.append(f"{totals.params:,} ({units.size(totals.param_bytes)})   ")
    text.append("buffers ", style="bold")
    text.append(f"{totals.buffers:,}   ")
    text.append("MACs ", style="bold")
    short = units.count(totals.macs)
    short_macs = "" if short == f"{totals.macs:,}" else f"{short}; "
    text.append(f"{totals.macs:,} ({short_macs}FLOPs {units.count(totals.flops)})\n")
    text.append("activations ", style="bold")
    text.append(f"{units.size(totals.activation_bytes)}   ")
    text.append("receptive field ", style="bold")
    text.append(units.field_detail(totals.rf) + "\n")
    text.extend(folding_lines(report))
    return text


def folding_lines(report: Report) -> Styled:
    """The BN folding line: how many fold which way; then, for the inference view, before →
    after totals; then each norm that stays, with its reason."""
    folding = report.folding
    original = report.before or report
    rows = original.rows
    batchnorms = len(folding.folded) + sum(
        1 for n in folding.not_folded if rows[n.bn].type == "batchnorm"
    )
    text = Styled()
    text.append("BN folding ", style="bold")
    forward = (
        f" ({len(folding.forward)} more could fold forward into the conv after them)"
        if folding.forward
        else ""
    )
    text.append(f"{len(folding.folded)} of {batchnorms} batchnorms fold{forward}; ")
    if report.before is None:
        text.append(
            f"params {report.totals.params:,} → {folding.params_after:,}, buffers "
            f"{report.totals.buffers:,} → {folding.buffers_after:,} (--fold-bn shows the "
            "inference network)"
        )
    else:
        before, after = original.totals, report.totals
        text.append("before → after:\n  ")
        text.append(
            f"params {before.params:,} → {after.params:,}   "
            f"buffers {before.buffers:,} → {after.buffers:,}   "
            f"MACs {units.count(before.macs)} → {units.count(after.macs)}   "
            f"memory {units.size(before.activation_bytes)} → "
            f"{units.size(after.activation_bytes)}"
        )
        if folding.removed:
            text.append(
                "\n  ⊕ marks a layer that absorbs folded batchnorms: "
                "W' = W·γ/√(σ²+ε), b' = (b − μ)·γ/√(σ²+ε) + β",
                style="green",
            )
    for stays in folding.not_folded:
        text.append(
            f"\n  {units.printable(rows[stays.bn].path)} stays: {stays.reason}", style="dim"
        )
    return text


def layer_table(report: Report, width: int | None = None) -> Block:
    """The single-layer view of ``convcalc layer``: each number with its formula filled in."""
    row = report.rows[0]
    quantities: list[Cell] = []
    formulas: list[Cell] = []
    values: list[Cell] = []

    def add(quantity: str, formula: str, value: str) -> None:
        quantities.append(quantity)
        formulas.append(formula)
        values.append(value)

    for step in row.derivations:
        add(step.quantity, step.formula, step.value)
    if report.batch > 1 and row.macs and not title_suffix(report):
        # The derivation counts one sample; the row (like the JSON) counts the whole batch (a
        # convention's count is in its own line, for the whole batch).
        add(
            "MACs per batch",
            f"{row.macs // report.batch:,} × batch {report.batch}",
            f"{row.macs:,}",
        )
    add("receptive field", units.field_detail(row.rf), units.field(row.rf))
    add(
        "activations",
        f"{units.shape(row.output)} × batch {report.batch} × {dtype_bytes(report.dtype)} B",
        units.size(row.activation_bytes),
    )
    view = report.extra(JacobianView)
    if view is not None:
        matrix = view.jacobians[0]
        size, nonzeros = jacobian_cells(matrix, full=True)
        add(
            "Jacobian",
            f"(N·{units.shape(row.output)}) × (N·{units.shape(row.input)}) × "
            f"{dtype_bytes(report.dtype)} B, never formed",
            size,
        )
        add("non-zeros", "structural, block-diagonal over the batch", nonzeros)
        if matrix.window_nonzeros is not None:
            add(
                "window non-zeros",
                "every window cell could be the max; backward uses the argmax",
                units.count(matrix.window_nonzeros),
            )
    table = Grid(
        [
            Column("quantity", "", quantities, justify="left", style="bold", wrap=True),
            Column("formula", "", formulas, justify="left", wrap=True),
            Column("value", "", values, style="green", wrap=True),
        ],
        title=f"{row.type}: {units.shape(row.input)} → {units.shape(row.output)}"
        + title_suffix(report),
        show_header=False,
        show_footer=False,
        boxed=False,
        padding=2,
    )
    # The warnings themselves go to stderr, like every warning; the table only points at them.
    if row.warnings:
        return Block([table, Styled("⚠ see the warnings on stderr", "yellow")])
    return Block([table])
