"""The optional views a report can carry: inference memory, training memory, Jacobians."""

from __future__ import annotations

from dataclasses import replace

from convcalc.jacobian import jacobians
from convcalc.memory import inference_memory, training_view
from convcalc.report import Extra, Report


def with_views(
    report: Report,
    *,
    memory: bool = True,
    train: bool = False,
    optimizer: str = "sgd",
    budget: int | None = None,
    jacobian: bool = False,
) -> Report:
    """``report`` with the views asked for attached as extras (a ``budget`` implies ``train``)."""
    extras: list[Extra] = list(report.extras)
    if memory:
        extras.append(inference_memory(report))
    if train or budget is not None:
        extras.append(training_view(report, optimizer, budget))
    if jacobian:
        extras.append(jacobians(report))
    return replace(report, extras=tuple(extras))
