"""The counting conventions on screen: the tool's own summary lines under a counted table, the
side-by-side table of every convention (``--convention all``) and what each counts per layer
kind (``--explain``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from convcalc.conventions.view import ConventionTotals, ConventionView
from convcalc.render import units
from convcalc.render.layout import Block, Cell, Column, Grid, Styled
from convcalc.report import Report


def megabytes(value: int) -> str:
    """torchinfo's MB: 10⁶ bytes, two decimals."""
    return f"{value / 1e6:0.2f}"


def torchinfo_lines(totals: ConventionTotals) -> str:
    """torchinfo's summary footer, figure for figure (``ModelStatistics.__repr__``)."""
    ops = totals.ops
    unit, scale = ("G", 1e9) if ops >= 1e9 else ("M", 1e6)
    return (
        f"Total params: {totals.params:,}   Trainable params: {totals.trainable_params:,}   "
        f"Total mult-adds ({unit}): {ops / scale:.2f}\n"
        f"  Input size (MB): {megabytes(totals.input_bytes)}   "
        f"Forward/backward pass size (MB): {megabytes(totals.pass_bytes)}   "
        f"Params size (MB): {megabytes(totals.param_bytes)}   "
        f"Estimated Total Size (MB): {megabytes(totals.total_bytes)}"
    )


def ptflops_lines(totals: ConventionTotals) -> str:
    """ptflops's strings (``flops_to_string``, ``params_to_string``) and the exact numbers."""
    return (
        f"Computational complexity: {scaled(totals.ops, ' GMac', ' MMac', ' KMac')} "
        f"({totals.ops:,} MACs)   Number of parameters: "
        f"{scaled(totals.params, ' M', ' M', ' k')} ({totals.params:,})"
    )


def scaled(value: int, giga: str, mega: str, kilo: str) -> str:
    """``round(value / 10ⁿ, 2)`` with ptflops's unit names (params stop at M)."""
    if value // 10**9 and giga != mega:
        return f"{round(value / 10.0**9, 2)}{giga}"
    if value // 10**6:
        return f"{round(value / 10.0**6, 2)}{mega}"
    if value // 10**3:
        return f"{round(value / 10.0**3, 2)}{kilo}"
    return str(value)


def keras_lines(totals: ConventionTotals) -> str:
    """Keras's "Total / Trainable / Non-trainable params"; it prints no operation count."""
    return (
        f"Total params: {totals.params:,}   Trainable params: {totals.trainable_params:,}   "
        f"Non-trainable params: {totals.params - totals.trainable_params:,}   "
        "(Keras counts no MACs: the MACs column is convcalc's)"
    )


def count_lines(totals: ConventionTotals) -> str:
    """The tool's total count under its own name, and the params."""
    return (
        f"{totals.convention.ops_label} {totals.ops:,} ({units.count(totals.ops)})   "
        f"params {totals.params:,}"
    )


TOOL_LINES: dict[str, Callable[[ConventionTotals], str]] = {
    "torchinfo": torchinfo_lines,
    "ptflops": ptflops_lines,
    "keras": keras_lines,
}


def title_suffix(report: Report) -> str:
    """`` — counted as torchinfo 1.8.0`` for a counted report, else nothing."""
    view = report.extra(ConventionView)
    if view is None:
        return ""
    return f" — counted as {view.totals.convention.label}"


def convention_summary(report: Report) -> Styled | None:
    """The tool's own figures, as it prints them, under a counted table."""
    view = report.extra(ConventionView)
    if view is None:
        return None
    totals = view.totals
    convention = totals.convention
    text = Styled(f"{convention.label} ", "bold")
    text.append(TOOL_LINES.get(convention.name, count_lines)(totals))
    if convention.ops_label not in (None, "MACs"):
        text.append(f"\n  the MACs column holds {convention.tool}'s {convention.ops_label}", "dim")
    return text


def conventions_json(
    report: Report,
    comparison: list[ConventionTotals] | None,
    explained: list[tuple[str, dict[str, str]]] | None,
) -> str:
    """``--convention all`` and/or ``--explain`` as a JSON document: the report's header keys,
    ``conventions`` (each one's name and the tool's figures) and ``explain`` (per layer type,
    what each convention counts)."""
    document: dict[str, Any] = report.header()
    if comparison is not None:
        document["conventions"] = [
            {"convention": totals.convention.name, **totals.to_document()} for totals in comparison
        ]
    if explained is not None:
        document["explain"] = [{"type": kind, "conventions": says} for kind, says in explained]
    return json.dumps(document, indent=2, ensure_ascii=False) + "\n"


def comparison_grid(report: Report, comparison: list[ConventionTotals]) -> Grid:
    """One row per convention: params (trainable), the operation count under the tool's own
    name, and its memory figure where it has one."""
    names: list[str] = []
    params: list[Cell] = []
    trainable: list[Cell] = []
    labels: list[Cell] = []
    counts: list[Cell] = []
    shorts: list[Cell] = []
    memory: list[Cell] = []
    for totals in comparison:
        convention = totals.convention
        names.append(convention.label)
        params.append(f"{totals.params:,}")
        trainable.append(f"{totals.trainable_params:,}")
        label = convention.ops_label
        labels.append("—" if label is None else label)
        counts.append("—" if label is None else f"{totals.ops:,}")
        shorts.append("—" if label is None else units.count(totals.ops))
        memory.append(memory_cell(report, totals))
    title = (
        f"{units.printable(report.name or 'network')} — input {units.shape(report.input)}, "
        f"batch {report.batch}, {report.dtype} — every convention"
    )
    return Grid(
        [
            Column("convention", "", [Styled(name, "cyan") for name in names], justify="left"),
            Column("params", "", params),
            Column("trainable", "", trainable),
            Column("counts", "", labels, justify="left"),
            Column("count", "", counts),
            Column("", "", shorts),
            Column("memory", "", memory, justify="left"),
        ],
        title=title,
        show_footer=False,
    )


def memory_cell(report: Report, totals: ConventionTotals) -> str:
    """convcalc's activation memory; torchinfo's "Estimated Total Size (MB)"; else a dash."""
    if totals.convention.memory:
        return f"Estimated Total Size (MB): {megabytes(totals.total_bytes)}"
    if totals.convention.name == "convcalc":
        return f"activations {units.size(report.totals.activation_bytes)}"
    return "—"


def explanation_grid(explained: list[tuple[str, dict[str, str]]]) -> Grid:
    """Per layer kind, what each convention counts."""
    kinds: list[str] = []
    names: list[Cell] = []
    says: list[Cell] = []
    for kind, by_convention in explained:
        for index, (name, text) in enumerate(by_convention.items()):
            kinds.append(kind if index == 0 else "")
            names.append(name)
            says.append(text)
    return Grid(
        [
            Column("layer type", "", [Styled(kind, "cyan") for kind in kinds], justify="left"),
            Column("convention", "", names, justify="left"),
            Column("counts", "", says, justify="left", wrap=True),
        ],
        title="What each convention counts, per layer type",
        show_footer=False,
    )


def conventions_block(
    report: Report,
    comparison: list[ConventionTotals] | None,
    explained: list[tuple[str, dict[str, str]]] | None,
) -> Block:
    """``--convention all`` and/or ``--explain`` as tables."""
    parts: list[Grid | Styled] = []
    if comparison is not None:
        parts.append(comparison_grid(report, comparison))
    if explained is not None:
        parts.append(explanation_grid(explained))
    return Block(parts)
