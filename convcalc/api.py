"""convcalc's Python API: ``convcalc.load`` and ``convcalc.analyze`` (see the README).

:mod:`convcalc` itself imports nothing: these functions are looked up here on first use, so that
``import convcalc`` costs nothing until one is called.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from convcalc.errors import ConvcalcError, SpecError
from convcalc.spec import Network
from convcalc.tensors import DTYPE_BYTES, MAX_DIMENSION, parse_shape

if TYPE_CHECKING:
    from convcalc.overrides import Setting
    from convcalc.render.notebook import NotebookReport

Settings = Mapping[str, Any] | Iterable[tuple[str, Any]]
"""Values to change in a spec before it is checked: ``{PATH: VALUE}``, or ``(PATH, VALUE)``
pairs applied in order (a later one wins), each ``PATH`` as for ``--set``."""

OVERRIDES = ("input", "batch", "dtype", "name")
"""What :func:`analyze` may change in a network before analyzing it."""


def load(source: str | Path, *, settings: Settings = (), strict: bool = False) -> Network:
    """The validated network a spec describes: a path (a spec or an ONNX model), ``"-"`` for
    stdin, or ``"zoo:NAME"``.

    ``settings`` change values of the spec before it is checked, as ``--set PATH=VALUE`` does:
    ``{"width": 96, "layers[3].stride": 1, "input": "3x512x512"}``; a value is a Python value
    as YAML would give it (numbers, text, lists, dicts). A path the spec does not have raises
    :class:`convcalc.errors.UsageError` listing what is there. Raises
    :class:`convcalc.errors.ConvcalcError` (``SpecErrors`` with every problem, each located)
    when the spec is wrong; with ``strict``, also for each op of an ONNX model that convcalc
    does not compute."""
    return load_network(source, python_settings(settings), strict=strict)


def python_settings(settings: Settings) -> list[Setting]:
    """``settings`` as :class:`~convcalc.overrides.Setting` s, in order."""
    from convcalc.overrides import setting

    pairs = settings.items() if isinstance(settings, Mapping) else settings
    return [setting(path, value) for path, value in pairs]


def load_network(
    source: str | Path,
    settings: Sequence[Setting] = (),
    input_shape: tuple[int, ...] | None = None,
    strict: bool = False,
    **overrides: Any,
) -> Network:
    """The network at ``source`` with ``settings`` applied, then ``overrides`` (checked network
    fields); ``input_shape`` also fixes an ONNX model's symbolic sizes, ``strict`` refuses its
    unsupported ops. Every command and :func:`load` read a spec through here. When the spec
    could be read in part, the problems the analysis finds in that part are raised with the
    spec's own, all at once."""
    from convcalc.sources import load as load_source

    try:
        network = load_source(str(source), settings, input_shape, strict)
    except ConvcalcError as error:
        if error.partial is None:
            raise
        from convcalc.analysis import with_analysis_problems

        raise with_analysis_problems(error, replace(error.partial, **overrides)) from None
    return replace(network, **overrides) if overrides else network


def analyze(
    source_or_network: str | Path | Network,
    *,
    settings: Settings = (),
    strict: bool = False,
    fold_bn: bool = False,
    train: bool = False,
    optimizer: str = "sgd",
    **overrides: Any,
) -> NotebookReport:
    """The report of a network, given as a source (as for :func:`load`, with its ``settings``)
    or a loaded network.

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

    given = checked_overrides(
        {name: value for name, value in overrides.items() if value is not None}
    )
    chosen = python_settings(settings)
    if isinstance(source_or_network, Network):
        if chosen:
            raise TypeError("analyze() takes settings with a source, not a loaded network")
        network = replace(source_or_network, **given)
    else:
        network = load_network(source_or_network, chosen, given.get("input"), strict, **given)
    report = run_analysis(network, strict=strict)
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
