"""The memory and Jacobian views in the table: extra columns, a bar per row, totals."""

from __future__ import annotations

from convcalc.jacobian import Jacobian, JacobianView
from convcalc.memory import OPTIMIZER_STATES, InferenceMemory, TrainingView
from convcalc.render import units
from convcalc.render.columns import Field, Line, ReportColumn, summed
from convcalc.render.layout import Cell, Styled
from convcalc.report import Report

BAR_WIDTH = 12
_EIGHTHS = " ▏▎▍▌▋▊▉"


def bar(value: int, peak: int, width: int = BAR_WIDTH) -> str:
    """A horizontal bar of ``value`` / ``peak`` of ``width`` cells, in eighths of a cell."""
    if peak <= 0:
        return ""
    eighths = round(value / peak * width * 8)
    return ("█" * (eighths // 8) + _EIGHTHS[eighths % 8]).rstrip()


def jacobian_cells(matrix: Jacobian, full: bool = False) -> tuple[str, str]:
    """The Jacobian's size in bytes (``full``: with rows×cols) and ``nonzeros (density)``."""
    size = units.size(matrix.bytes)
    if full:
        size = f"{matrix.rows:,}×{matrix.cols:,} = {size}"
    return size, f"{units.count(matrix.nonzeros)} ({matrix.density:.1e})"


def memory_columns(report: Report) -> list[ReportColumn]:
    """The columns the report's views add: live bytes with a bar (peak highlighted), saved
    bytes when training, the Jacobian's size and non-zeros when asked for. A line of several
    rows shows the most that is live while they run, and the sum of what they save."""
    columns: list[ReportColumn] = []
    inference = report.extra(InferenceMemory)
    if inference is not None:
        live_bytes = inference.live_bytes
        peak, at = inference.peak_bytes, inference.peak_row

        def most(line: Line) -> int:
            return max(live_bytes[line.start : line.stop])

        def live(line: Line) -> Cell:
            return Styled(units.size(most(line)), "bold" if line.start <= at < line.stop else "")

        def graph(line: Line) -> Cell:
            style = "bold red" if line.start <= at < line.stop else "magenta"
            return Styled(bar(most(line), peak), style)

        columns += [
            ReportColumn(
                "live",
                "live",
                live,
                rank=9,
                footer=units.size(peak),
                fields=(Field("live_bytes", most, peak),),
            ),
            ReportColumn("peak", "peak", graph, rank=14, justify="left"),
        ]
    training = report.extra(TrainingView)
    if training is not None:
        saved = summed(training.memory.saved_bytes)
        columns.append(
            ReportColumn(
                "saved",
                "saved",
                lambda line: units.size(saved(line)) if saved(line) else "",
                rank=10,
                footer=units.size(training.memory.saved_total),
                fields=(Field("saved_bytes", saved, training.memory.saved_total),),
            )
        )
    view = report.extra(JacobianView)
    if view is not None:
        matrices = view.jacobians

        def one(line: Line) -> Jacobian | None:
            return matrices[line.start] if not line.group else None

        def size(line: Line) -> Cell:
            matrix = one(line)
            return "" if matrix is None else jacobian_cells(matrix)[0]

        def nonzeros(line: Line) -> Cell:
            matrix = one(line)
            return "" if matrix is None else jacobian_cells(matrix)[1]

        columns += [
            ReportColumn(
                "jacobian",
                "Jacobian",
                size,
                rank=11,
                fields=(Field("jacobian_bytes", lambda line: getattr(one(line), "bytes", "")),),
            ),
            ReportColumn(
                "nonzeros",
                "non-zeros",
                nonzeros,
                rank=12,
                fields=(
                    Field("jacobian_nonzeros", lambda line: getattr(one(line), "nonzeros", "")),
                ),
            ),
        ]
    return columns


Fact = tuple[str, str]
"""A labelled fact below the table: ``("peak activations", "9.2 MiB at #13 …")``."""


def memory_facts(report: Report) -> list[list[Fact]]:
    """Peak activation memory and, when training, the breakdown and the ``--memory`` answer:
    lines of labelled facts, for the table's summary and Markdown's list alike."""
    inference = report.extra(InferenceMemory)
    training = report.extra(TrainingView)
    lines: list[list[Fact]] = []
    if inference is not None:
        where = units.printable(report.rows[inference.peak_row].path) if report.rows else ""
        lines.append(
            [
                (
                    "peak activations",
                    f"{units.size(inference.peak_bytes)} at #{inference.peak_row} {where} "
                    f"(inference, batch {report.batch})",
                ),
                ("params + buffers", units.size(inference.param_bytes + inference.buffer_bytes)),
            ]
        )
    if training is not None:
        memory = training.memory
        copies = OPTIMIZER_STATES[memory.optimizer]
        lines.append(
            [
                (
                    "training",
                    f"batch {memory.batch}, {memory.optimizer}: params "
                    f"{units.size(memory.param_bytes)} + buffers {units.size(memory.buffer_bytes)}"
                    f" + gradients {units.size(memory.gradient_bytes)}"
                    f" + optimizer state {units.size(memory.optimizer_bytes)} ({copies}× params)"
                    f" + saved activations {units.size(memory.saved_total)} = "
                    f"{units.size(memory.total)}",
                )
            ]
        )
        if training.budget is not None:
            fits = training.largest_batch
            answer = "any (nothing grows with the batch)" if fits is None else f"{fits:,}"
            lines.append([("largest batch", f"{answer} within {units.size(training.budget)}")])
    return lines


def memory_summary(report: Report) -> Styled | None:
    """The memory facts as styled lines below the table (labels in bold)."""
    lines = memory_facts(report)
    if not lines:
        return None
    text = Styled()
    for number, line in enumerate(lines):
        if number:
            text.append("\n")
        for position, (label, fact) in enumerate(line):
            text.append(f"{'   ' if position else ''}{label} ", style="bold")
            text.append(fact)
    return text
