"""The memory and Jacobian views in the table: extra columns, a bar per row, totals."""

from __future__ import annotations

from convcalc.jacobian import Jacobian, JacobianView
from convcalc.memory import OPTIMIZER_STATES, InferenceMemory, TrainingView
from convcalc.render import units
from convcalc.render.layout import Column, Styled
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


def memory_columns(report: Report) -> list[Column]:
    """The columns the report's views add: live bytes with a bar (peak highlighted), saved
    bytes when training, the Jacobian's size and non-zeros when asked for."""
    columns: list[Column] = []
    inference = report.extra(InferenceMemory)
    if inference is not None:
        live = Column("live", units.size(inference.peak_bytes))
        graph = Column("peak", "", justify="left")
        for row, value in zip(report.rows, inference.live_bytes, strict=True):
            style = "bold red" if row.index == inference.peak_row else "magenta"
            live.cells.append(Styled(units.size(value), "bold" if style == "bold red" else ""))
            graph.cells.append(Styled(bar(value, inference.peak_bytes), style))
        columns += [live, graph]
    training = report.extra(TrainingView)
    if training is not None:
        saved = Column("saved", units.size(training.memory.saved_total))
        saved.cells.extend(units.size(v) if v else "" for v in training.memory.saved_bytes)
        columns.append(saved)
    view = report.extra(JacobianView)
    if view is not None:
        size = Column("Jacobian", "")
        nonzeros = Column("non-zeros", "")
        for matrix in view.jacobians:
            cells = jacobian_cells(matrix)
            size.cells.append(cells[0])
            nonzeros.cells.append(cells[1])
        columns += [size, nonzeros]
    return columns


def memory_summary(report: Report) -> Styled | None:
    """Peak activation memory and, when training, the breakdown and the ``--memory`` answer."""
    inference = report.extra(InferenceMemory)
    training = report.extra(TrainingView)
    if inference is None and training is None:
        return None
    text = Styled()
    if inference is not None:
        text.append("peak activations ", style="bold")
        text.append(
            f"{units.size(inference.peak_bytes)} at #{inference.peak_row} "
            f"{units.printable(report.rows[inference.peak_row].path) if report.rows else ''} "
            f"(inference, batch {report.batch})   "
        )
        text.append("params + buffers ", style="bold")
        text.append(units.size(inference.param_bytes + inference.buffer_bytes))
    if training is not None:
        memory = training.memory
        copies = OPTIMIZER_STATES[memory.optimizer]
        text.append("\ntraining ", style="bold")
        text.append(
            f"batch {memory.batch}, {memory.optimizer}: params {units.size(memory.param_bytes)}"
            f" + buffers {units.size(memory.buffer_bytes)}"
            f" + gradients {units.size(memory.gradient_bytes)}"
            f" + optimizer state {units.size(memory.optimizer_bytes)} ({copies}× params)"
            f" + saved activations {units.size(memory.saved_total)} = "
        )
        text.append(units.size(memory.total), style="bold")
        if training.budget is not None:
            text.append("\nlargest batch ", style="bold")
            fits = training.largest_batch
            answer = "any (nothing grows with the batch)" if fits is None else f"{fits:,}"
            text.append(f"{answer} within {units.size(training.budget)}")
    return text
