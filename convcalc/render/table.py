"""The table views: the layer-by-layer table of ``analyze`` (totals as its footer, then BN
folding, memory and warnings) and the single-layer view of ``layer``, as a :class:`Block` of
tables and styled text (see :mod:`convcalc.render.layout` for how they are laid out)."""

from __future__ import annotations

from convcalc.jacobian import JacobianView
from convcalc.render import units
from convcalc.render.conventions import convention_summary, title_suffix
from convcalc.render.layout import Block, Cell, Column, Grid, Styled
from convcalc.render.view_columns import jacobian_cells, memory_columns, memory_summary
from convcalc.report import Report, Row
from convcalc.tensors import dtype_bytes

PATH_WIDTH = 40
"""Layer paths longer than this lose their outer scopes on the left (``…body.conv1``)."""


def network_table(report: Report) -> Block:
    """The layer table of ``analyze``, with totals as its footer, then folding and memory."""
    title = (
        f"{units.printable(report.name or 'network')} — input {units.shape(report.input)}, "
        f"batch {report.batch}, {report.dtype}"
    )
    if report.before is not None:
        title += " — inference view, batchnorms folded"
    title += title_suffix(report)
    columns = layer_columns(report) + memory_columns(report)
    # Merges (add, concat) are drawn faint: they hold no parameters and do no MACs.
    merges = ["dim" if row.merge is not None else "" for row in report.rows]
    parts: list[Grid | Styled] = [Grid(columns, title=title, row_styles=merges), summary(report)]
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
    return Block(parts)


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
    names: list[Cell] = []
    for row in rows:
        path = units.short_path(units.printable(row.path), PATH_WIDTH)
        if not row.warnings and row.path not in received:
            names.append(path)
            continue
        name = Styled(path)
        if row.warnings:
            name.append(" ⚠", "bold yellow")
        if row.path in received:
            name.append(absorbed(row, received[row.path], before_params), "green")
        names.append(name)
    # The layer column keeps the width of its longest path (up to PATH_WIDTH) on a narrow
    # terminal: the path tells rows apart.
    widest = min(max((len(str(name)) for name in names), default=0), PATH_WIDTH)
    return [
        Column("#", "", [str(row.index) for row in rows]),
        Column("layer", "total", names, justify="left", min_width=widest),
        Column("type", "", [Styled(row.type, "cyan") for row in rows], justify="left"),
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


def absorbed(row: Row, batchnorms: tuple[str, ...], before_params: dict[str, int]) -> str:
    """`` ⊕ bn1, bias +64``: the batchnorms a layer absorbed (named relative to the layer's own
    scope) and the bias it gained, if any."""
    scope = row.path.rpartition(".")[0]
    names = [
        bn.removeprefix(f"{scope}.") if scope and bn.startswith(f"{scope}.") else bn
        for bn in batchnorms
    ]
    gained = row.params - before_params.get(row.path, row.params)
    return " ⊕ " + units.printable(", ".join(names)) + (f", bias +{gained:,}" if gained else "")


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


def layer_table(report: Report) -> Block:
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
