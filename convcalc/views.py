"""The optional views a report can carry: inference memory, training memory, Jacobians."""

from __future__ import annotations

from dataclasses import replace

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
    """``report`` with the views asked for attached as extras (a ``budget`` implies ``train``).

    Each view's module is imported only when it is asked for (``convcalc layer`` needs only the
    Jacobian, and start-up time counts)."""
    extras: list[Extra] = list(report.extras)
    if memory or train or budget is not None:
        from convcalc.memory import inference_memory, training_view

        if memory:
            extras.append(inference_memory(report))
        if train or budget is not None:
            extras.append(training_view(report, optimizer, budget))
    if jacobian:
        from convcalc.jacobian import jacobians

        extras.append(jacobians(report))
    return replace(report, extras=tuple(extras))
