"""The rich terminal rendering: the layer-by-layer table, totals, warnings and BN folding."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from convcalc.jacobian import JacobianView
from convcalc.render import units
from convcalc.render.memory import Column, jacobian_cells, memory_columns, memory_summary
from convcalc.report import Report, Row
from convcalc.tensors import dtype_bytes

PATH_WIDTH = 40
"""Layer paths longer than this lose their outer scopes on the left (``…body.conv1``)."""


RICH_ROW_LIMIT = 500
"""Beyond this many rows the table is laid out as plain aligned text: rich takes milliseconds
per row, which would make a 100,000-layer table take minutes."""


def network_table(report: Report) -> RenderableType:
    """The layer table of ``analyze``, with totals as its footer, then folding and memory."""
    title = (
        f"{report.name or 'network'} — input {units.shape(report.input)}, "
        f"batch {report.batch}, {report.dtype}"
    )
    if report.before is not None:
        title += " — inference view, batchnorms folded"
    columns = layer_columns(report) + memory_columns(report)
    merges = [row.type in ("add", "concat") for row in report.rows]
    if len(report.rows) <= RICH_ROW_LIMIT:
        grid: RenderableType = rich_grid(title, columns, merges)
    else:
        grid = plain_grid(title, columns)
    parts: list[RenderableType] = [grid, summary(report)]
    memory = memory_summary(report)
    if memory is not None:
        parts.append(memory)
    warned = [row.path for row in report.rows if row.warnings]
    if warned:
        # The warnings themselves go to stderr, located; the table only points at them.
        rows = "row" if len(warned) == 1 else "rows"
        parts.append(Text(f"⚠ warnings on {len(warned)} {rows}, printed on stderr", style="yellow"))
    return Group(*parts)


def layer_columns(report: Report) -> list[Column]:
    """The core columns: index, path (⚠ for warnings, ⊕ for absorbed batchnorms), type,
    shapes, params, MACs, receptive field, output memory."""
    received: dict[str, tuple[str, ...]] = {}
    before_params: dict[str, int] = {}
    if report.before is not None:
        received = report.folding.receivers(report.before.rows)
        before_params = {row.path: row.params for row in report.before.rows}
    totals = report.totals
    rows = report.rows
    names: list[Text | str] = []
    for row in rows:
        name = Text(units.short_path(row.path, PATH_WIDTH))
        if row.warnings:
            name.append(" ⚠", style="bold yellow")
        if row.path in received:
            name.append(absorbed(row, received[row.path], before_params), style="green")
        names.append(name)
    return [
        Column("#", "", [str(row.index) for row in rows]),
        Column("layer", "total", names, justify="left"),
        Column("type", "", [Text(row.type, style="cyan") for row in rows], justify="left"),
        Column("input", "", [units.row_input(row) for row in rows], justify="left"),
        Column(
            "output",
            units.shape(rows[-1].output) if rows else "",
            [units.shape(row.output) for row in rows],
            justify="left",
        ),
        Column("params", f"{totals.params:,}", [f"{r.params:,}" if r.params else "" for r in rows]),
        Column(
            "MACs", units.count(totals.macs), [units.count(r.macs) if r.macs else "" for r in rows]
        ),
        Column("RF", units.field(totals.rf), [units.field(row.rf) for row in rows]),
        Column(
            "memory",
            units.size(totals.activation_bytes),
            [units.size(row.activation_bytes) for row in rows],
        ),
    ]


def rich_grid(title: str, columns: list[Column], dim: list[bool]) -> Table:
    """``columns`` as a rich table; ``dim`` rows (merges) are drawn faint."""
    table = Table(
        title=title,
        show_edge=False,
        title_justify="left",
        show_footer=True,
        header_style="bold",
        footer_style="bold",
    )
    for column in columns:
        widest = max((len(str(cell)) for cell in column.cells), default=0)
        table.add_column(
            column.header,
            footer=column.footer,
            justify=column.justify,  # type: ignore[arg-type]
            no_wrap=column.no_wrap,
            min_width=min(widest, PATH_WIDTH) if column.header == "layer" else None,
        )
    for index, faint in enumerate(dim):
        table.add_row(*(column.cells[index] for column in columns), style="dim" if faint else None)
    return table


def plain_grid(title: str, columns: list[Column]) -> Text:
    """``columns`` as aligned plain text, header and footer included (for very long tables)."""
    texts = [
        [column.header, *(str(cell) for cell in column.cells), column.footer] for column in columns
    ]
    widths = [max(len(cell) for cell in cells) for cells in texts]
    lines = [title]
    for line in range(len(texts[0])):
        cells = [
            cells[line].ljust(width) if column.justify == "left" else cells[line].rjust(width)
            for cells, width, column in zip(texts, widths, columns, strict=True)
        ]
        lines.append("  ".join(cells).rstrip())
        if line in (0, len(texts[0]) - 2):
            lines.append("  ".join("─" * width for width in widths))
    return Text("\n".join(lines), no_wrap=True, overflow="ignore")


def absorbed(row: Row, batchnorms: tuple[str, ...], before_params: dict[str, int]) -> str:
    """`` ⊕ bn1, bias +64``: the batchnorms a layer absorbed (named relative to the layer's own
    scope) and the bias it gained, if any."""
    scope = row.path.rpartition(".")[0]
    names = [
        bn.removeprefix(f"{scope}.") if scope and bn.startswith(f"{scope}.") else bn
        for bn in batchnorms
    ]
    gained = row.params - before_params.get(row.path, row.params)
    return " ⊕ " + ", ".join(names) + (f", bias +{gained:,}" if gained else "")


def summary(report: Report) -> Text:
    """Totals in words, with the BN folding line."""
    totals = report.totals
    text = Text()
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
    text.append_text(folding_lines(report))
    return text


def folding_lines(report: Report) -> Text:
    """The BN folding line: how many fold which way; then, for the inference view, before →
    after totals; then each norm that stays, with its reason."""
    folding = report.folding
    original = report.before or report
    rows = original.rows
    batchnorms = len(folding.folded) + sum(
        1 for n in folding.not_folded if rows[n.bn].type == "batchnorm"
    )
    text = Text()
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
        text.append(f"\n  {rows[stays.bn].path} stays: {stays.reason}", style="dim")
    return text


def layer_table(report: Report) -> RenderableType:
    """The single-layer view of ``convcalc layer``: each number with its formula filled in."""
    row = report.rows[0]
    table = Table(
        title=f"{row.type}: {units.shape(row.input)} → {units.shape(row.output)}",
        title_justify="left",
        show_header=False,
        box=None,
        padding=(0, 2),
    )
    table.add_column("quantity", style="bold")
    table.add_column("formula")
    table.add_column("value", justify="right", style="green")
    for step in row.derivations:
        table.add_row(step.quantity, step.formula, step.value)
    if report.batch > 1 and row.macs:
        # The derivation counts one sample; the row (like the JSON) counts the whole batch.
        table.add_row(
            "MACs per batch",
            f"{row.macs // report.batch:,} × batch {report.batch}",
            f"{row.macs:,}",
        )
    table.add_row("receptive field", units.field_detail(row.rf), units.field(row.rf))
    table.add_row(
        "activations",
        f"{units.shape(row.output)} × batch {report.batch} × {dtype_bytes(report.dtype)} B",
        units.size(row.activation_bytes),
    )
    view = report.extra(JacobianView)
    if view is not None:
        matrix = view.jacobians[0]
        size, nonzeros = jacobian_cells(matrix, full=True)
        table.add_row(
            "Jacobian",
            f"(N·{units.shape(row.output)}) × (N·{units.shape(row.input)}) × "
            f"{dtype_bytes(report.dtype)} B, never formed",
            size,
        )
        table.add_row("non-zeros", "structural, block-diagonal over the batch", nonzeros)
        if matrix.window_nonzeros is not None:
            table.add_row(
                "window non-zeros",
                "every window cell could be the max; backward uses the argmax",
                units.count(matrix.window_nonzeros),
            )
    # The warnings themselves go to stderr, like every warning; the table only points at them.
    if row.warnings:
        return Group(table, Text("⚠ see the warnings on stderr", style="yellow"))
    return table


def print_renderable(renderable: RenderableType, console: Console | None = None) -> None:
    """Print to stdout (plain text when it is not a terminal or NO_COLOR is set)."""
    (console or Console()).print(renderable)
