"""The rich terminal rendering: the layer-by-layer table, totals, warnings and BN folding."""

from __future__ import annotations

from rich.console import Console, Group, RenderableType
from rich.table import Table
from rich.text import Text

from convcalc.render import units
from convcalc.report import Report
from convcalc.tensors import dtype_bytes


def network_table(report: Report) -> RenderableType:
    """The layer table of ``analyze``, with totals as its footer, then warnings and folding."""
    title = (
        f"{report.name or 'network'} — input {units.shape(report.input)}, "
        f"batch {report.batch}, {report.dtype}"
    )
    table = Table(
        title=title,
        show_edge=False,
        title_justify="left",
        show_footer=True,
        header_style="bold",
        footer_style="bold",
    )
    totals = report.totals
    table.add_column("#", justify="right", style="dim")
    table.add_column("layer", footer="total")
    table.add_column("type", style="cyan")
    table.add_column("input")
    table.add_column("output", footer=units.shape(report.rows[-1].output) if report.rows else "")
    table.add_column("params", justify="right", footer=f"{totals.params:,}")
    table.add_column("MACs", justify="right", footer=units.count(totals.macs))
    table.add_column("RF", justify="right", footer=units.field(totals.rf))
    table.add_column("memory", justify="right", footer=units.size(totals.activation_bytes))
    for row in report.rows:
        name = Text("  " * row.depth + row.path)
        if row.warnings:
            name.append(" ⚠", style="bold yellow")
        style = "dim" if row.type in ("add", "concat") else None
        table.add_row(
            str(row.index),
            name,
            row.type,
            units.shape(row.input),
            units.shape(row.output),
            f"{row.params:,}" if row.params else "",
            units.count(row.macs) if row.macs else "",
            units.field(row.rf),
            units.size(row.activation_bytes),
            style=style,
        )
    parts: list[RenderableType] = [table, summary(report)]
    warnings = [(row.path, warning) for row in report.rows for warning in row.warnings]
    if warnings:
        parts.append(
            Text("\n".join(f"⚠ {path}: {warning}" for path, warning in warnings), style="yellow")
        )
    return Group(*parts)


def summary(report: Report) -> Text:
    """Totals in words, with the BN folding line."""
    totals = report.totals
    folding = report.folding
    text = Text()
    text.append("params ", style="bold")
    text.append(f"{totals.params:,} ({units.size(totals.param_bytes)})   ")
    text.append("buffers ", style="bold")
    text.append(f"{totals.buffers:,}   ")
    text.append("MACs ", style="bold")
    text.append(
        f"{totals.macs:,} ({units.count(totals.macs)}; FLOPs {units.count(totals.flops)})\n"
    )
    text.append("activations ", style="bold")
    text.append(f"{units.size(totals.activation_bytes)}   ")
    text.append("receptive field ", style="bold")
    text.append(units.field_detail(totals.rf) + "\n")
    batchnorms = len(folding.folded) + sum(
        1 for n in folding.not_folded if report.rows[n.bn].type == "batchnorm"
    )
    text.append("BN folding ", style="bold")
    text.append(
        f"{len(folding.folded)} of {batchnorms} batchnorms fold; params "
        f"{totals.params:,} → {folding.params_after:,}"
    )
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
    parts: list[RenderableType] = [table]
    for warning in row.warnings:
        parts.append(Text(f"⚠ {warning}", style="yellow"))
    return Group(*parts)


def print_renderable(renderable: RenderableType, console: Console | None = None) -> None:
    """Print to stdout (plain text when it is not a terminal or NO_COLOR is set)."""
    (console or Console()).print(renderable)
