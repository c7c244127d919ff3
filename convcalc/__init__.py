"""convcalc: closed-form arithmetic of convolutional networks from a spec, without a framework.

In Python (a notebook)::

    import convcalc
    report = convcalc.analyze("zoo:resnet18")   # shows its table in Jupyter
    report.draw()                               # the network as SVG
    report.to_pandas()                          # a DataFrame, one row per layer (needs pandas)

Everything is imported when first used: ``import convcalc`` stays as fast as the command line.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from convcalc.report import Report

__version__ = "0.1.0"

__all__ = ["analyze"]


def analyze(
    spec: str,
    *,
    input: str | list[int] | tuple[int, ...] | None = None,
    batch: int | None = None,
    dtype: str | None = None,
    strict: bool = False,
    fold_bn: bool = False,
    train: bool = False,
    optimizer: str = "sgd",
) -> Report:
    """The report of the spec ``spec`` (a path, ``zoo:NAME`` or ``-``), with its inference memory
    and, with ``train``, its training memory. ``input`` (``"3x224x224"`` or a tuple), ``batch``
    and ``dtype`` override the spec's; ``fold_bn`` gives the inference-time network."""
    from dataclasses import replace

    from convcalc.analysis import analyze as run_analysis
    from convcalc.loader import load
    from convcalc.tensors import parse_shape
    from convcalc.views import with_views

    network = load(spec)
    overrides: dict[str, Any] = {}
    if input is not None:
        overrides["input"] = parse_shape(input)
    if batch is not None:
        overrides["batch"] = batch
    if dtype is not None:
        overrides["dtype"] = dtype
    report = run_analysis(replace(network, **overrides), strict=strict)
    if fold_bn:
        from convcalc.folding import fold_network

        report = fold_network(report)
    return with_views(report, train=train, optimizer=optimizer)
