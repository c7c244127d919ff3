"""convcalc's Python API: ``convcalc.load`` and ``convcalc.analyze`` (see the README).

:mod:`convcalc` itself imports nothing: these functions are looked up here on first use, so that
``import convcalc`` costs nothing until one is called.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convcalc.errors import SpecError
from convcalc.spec import Network
from convcalc.tensors import DTYPE_BYTES, MAX_DIMENSION, parse_shape

if TYPE_CHECKING:
    from convcalc.render.notebook import NotebookReport

OVERRIDES = ("input", "batch", "dtype", "name")
"""What :func:`analyze` may change in a network before analyzing it."""


def load(source: str | Path, *, strict: bool = False) -> Network:
    """The validated network a spec describes: a path (a spec or an ONNX model), ``"-"`` for
    stdin, or ``"zoo:NAME"``.

    Raises :class:`convcalc.errors.ConvcalcError` (``SpecErrors`` with every problem, each
    located) when the spec is wrong; with ``strict``, also for each op of an ONNX model that
    convcalc does not compute."""
    from convcalc.sources import load as load_source

    return load_source(str(source), strict=strict)


def analyze(
    source_or_network: str | Path | Network,
    *,
    strict: bool = False,
    fold_bn: bool = False,
    train: bool = False,
    optimizer: str = "sgd",
    **overrides: Any,
) -> NotebookReport:
    """The report of a network, given as a source (as for :func:`load`) or a loaded network.

    ``overrides`` replace the network's ``input`` (``"3x64x64"``, ``[3, 64, 64]`` or ``4096``),
    ``batch``, ``dtype`` (``"float16"``…) or ``name`` before it is analyzed, as the command's
    ``--input``, ``--batch`` and ``--dtype`` do (``None`` keeps the spec's). ``strict`` makes
    warnings errors, ``fold_bn`` gives the inference-time network, ``train`` adds the training
    memory with ``optimizer``'s state. The report's ``rows`` are the layers in order, ``totals``
    their sums, and ``to_json()`` the JSON document of ``convcalc analyze --json`` (with its
    inference memory, and the same options); in a notebook it shows its table, and ``draw()``
    and ``to_pandas()`` give its diagram and a DataFrame."""
    from convcalc.analysis import analyze as run_analysis
    from convcalc.render.notebook import for_notebook
    from convcalc.views import with_views

    network = (
        source_or_network
        if isinstance(source_or_network, Network)
        else load(source_or_network, strict=strict)
    )
    given = {name: value for name, value in overrides.items() if value is not None}
    report = run_analysis(replace(network, **checked_overrides(given)), strict=strict)
    if fold_bn:
        from convcalc.folding import fold_network

        report = fold_network(report)
    return for_notebook(with_views(report, train=train, optimizer=optimizer))


def checked_overrides(overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` as network fields; a name that is none of :data:`OVERRIDES`, or a value
    the spec would refuse, raises (a ``TypeError``, or a :class:`SpecError` in words)."""
    unknown = sorted(set(overrides) - set(OVERRIDES))
    if unknown:
        raise TypeError(
            f"analyze() got unexpected override(s) {', '.join(unknown)}; "
            f"it takes {', '.join(OVERRIDES)}"
        )
    checked = dict(overrides)
    if "input" in checked:
        checked["input"] = parse_shape(checked["input"])
    batch = checked.get("batch", 1)
    if type(batch) is not int or not 1 <= batch <= MAX_DIMENSION:
        raise SpecError(f"batch: expected a whole number from 1 to {MAX_DIMENSION}, got {batch!r}")
    if checked.get("dtype", "float32") not in DTYPE_BYTES:
        raise SpecError(
            f"dtype: expected one of {', '.join(DTYPE_BYTES)}, got {checked['dtype']!r}"
        )
    name = checked.get("name")
    if name is not None and not isinstance(name, str):
        raise SpecError(f"name: expected text, got {name!r}")
    return checked
