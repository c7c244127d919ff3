"""``sweep``: every combination of ``--set`` values, each variant analysed, one summary each.

What does not change between variants is done once: the spec text is parsed once and each
variant only re-applies its settings to the value tree; validated layers are shared by every
variant (the loader's cache, keyed by options), and so are layer outcomes (keyed by layer and
input shape), so identical blocks on identical shapes are worked out once in a whole sweep. The
variants are spread over every core (``fork``: the workers inherit the parsed spec).
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar

from convcalc.errors import ConvcalcError, SpecErrors, UsageError
from convcalc.layers.base import Shape
from convcalc.loader import TOP_LEVEL_KEYS
from convcalc.overrides import Setting, apply_settings, parse_path, split_setting

if TYPE_CHECKING:
    from convcalc.report import Report
    from convcalc.spec import Network

ItemT = TypeVar("ItemT")
ResultT = TypeVar("ResultT")
SharedT = TypeVar("SharedT")

MAX_VARIANTS = 100_000
"""The largest grid swept."""

METRICS = ("params", "macs", "flops", "memory", "rf")
"""The totals a variant has, for ``--where``, ``--sort`` and ``--pareto``."""

MAXIMISED = frozenset({"rf"})
"""Metrics where more is better on the Pareto front (the rest are costs)."""

DEFAULT_PARETO = ("params", "macs", "memory", "rf")


class Axis(NamedTuple):
    """One ``--set NAME=v1,v2,…``: the path, its steps, the values and their texts."""

    path: str
    steps: tuple[str | int, ...]
    values: tuple[Any, ...]
    texts: tuple[str, ...]


class Variant(NamedTuple):
    """One combination: its values' texts and its totals, or its first error. ``rf`` is the
    receptive field of the last row before the network pools globally (of the last row when it
    never does); ``rf_global`` says whether the output's field is the whole input."""

    number: int
    values: tuple[str, ...]
    params: int = 0
    macs: int = 0
    memory: int = 0
    rf: tuple[float, float] | None = None
    rf_global: bool = False
    outputs: tuple[Shape, ...] = ()
    error: str = ""

    @property
    def valid(self) -> bool:
        """Whether the variant analysed without an error."""
        return not self.error

    def metrics(self) -> dict[str, float]:
        """The values ``--where``, ``--sort`` and ``--pareto`` see; ``rf`` is the smaller side
        of the field."""
        return {
            "params": self.params,
            "macs": self.macs,
            "flops": 2 * self.macs,
            "memory": self.memory,
            "rf": min(self.rf) if self.rf else 0.0,
        }


def parse_axis(text: str) -> Axis:
    """``NAME=v1,v2,…`` with values and ranges (``32..256:*2``) → an :class:`Axis`."""
    from convcalc.ranges import parse_values

    path, values_text = split_setting(
        text, "NAME=v1,v2,… (or a range such as 32..256:*2)", "no values"
    )
    values = parse_values(values_text, f"--set {path}")
    texts = tuple(value_text(value) for value in values)
    return Axis(path, parse_path(path, text), tuple(values), texts)


def value_text(value: Any) -> str:
    """A set value as the user would write it."""
    if isinstance(value, list):
        return "[" + ", ".join(map(value_text, value)) + "]"
    if isinstance(value, bool):
        return str(value).lower()
    if value is None:
        return "null"
    return str(value)


def grid(axes: Sequence[Axis]) -> list[tuple[int, ...]]:
    """Every combination of value indices, the last axis varying fastest."""
    count = 1
    for axis in axes:
        count *= len(axis.values)
    if count > MAX_VARIANTS:
        raise UsageError(f"--set: the grid has {count:,} variants, more than {MAX_VARIANTS:,}")
    return list(itertools.product(*(range(len(axis.values)) for axis in axes)))


class Counting(NamedTuple):
    """A convention the variants' params and MACs are counted by (``--convention``), and the
    rows the PyTorch code computes otherwise than with modules (a ``zoo:`` model's forms)."""

    convention: str
    forms: tuple[tuple[str, Any], ...] = ()


class Sweep:
    """The parsed spec and the axes, shared by every variant (inherited by the workers); with
    ``counting``, each variant's params and MACs are that convention's (memory and the receptive
    field stay convcalc's)."""

    def __init__(
        self,
        document: Any,
        file: str | None,
        axes: Sequence[Axis],
        fixed: Sequence[Setting],
        train: bool,
        counting: Counting | None = None,
    ) -> None:
        self.document = apply_settings(document, fixed, TOP_LEVEL_KEYS)
        self.file = file
        self.axes = tuple(axes)
        self.train = train
        self.counting = counting
        self.layers: dict[tuple[Any, ...], Any] = {}
        self.outcomes: dict[Any, Any] = {}

    def check_paths(self) -> None:
        """Apply each axis's first value once, so that a path the spec does not have is a
        usage error before any variant runs."""
        apply_settings(
            self.document,
            [Setting(axis.path, axis.steps, axis.values[0]) for axis in self.axes],
            TOP_LEVEL_KEYS,
        )

    def variant(self, index: int, combination: tuple[int, ...]) -> Variant:
        """Analyse one combination."""
        texts = tuple(axis.texts[i] for axis, i in zip(self.axes, combination, strict=True))
        settings = [
            Setting(axis.path, axis.steps, axis.values[i])
            for axis, i in zip(self.axes, combination, strict=True)
        ]
        try:
            return self.summary(index, texts, settings)
        except ConvcalcError as error:
            first = error.errors[0] if isinstance(error, SpecErrors) else error
            return Variant(index, texts, error=str(first))

    def analyze(self, network: Network) -> Report:
        """:func:`convcalc.analysis.analyze` without BN folding, with the layer outcomes of
        every earlier variant at hand."""
        from convcalc.analysis import Analyzer
        from convcalc.report import Folding, Report, totals_of
        from convcalc.tensors import dtype_bytes

        analyzer = Analyzer(network)
        analyzer.outcomes = self.outcomes
        rows = tuple(analyzer.run())
        totals = totals_of(rows, dtype_bytes(network.dtype))
        # A variant's summary needs no BN folding (a seventh of an analysis): the report says
        # that nothing folds, which the memory views do not read.
        unfolded = Folding(
            (), (), totals.params, totals.macs, totals.buffers, totals.activation_bytes
        )
        return Report(
            name=network.name,
            input=network.input,
            batch=network.batch,
            dtype=network.dtype,
            rows=rows,
            totals=totals,
            folding=unfolded,
            outputs=analyzer.returned(),
        )

    def summary(self, index: int, texts: tuple[str, ...], settings: list[Setting]) -> Variant:
        """The totals of one variant."""
        from convcalc.loader import SpecParser
        from convcalc.memory import inference_memory, training_memory

        parser = SpecParser(self.file)
        parser.layer_cache = self.layers
        network = parser.network(apply_settings(self.document, settings, TOP_LEVEL_KEYS))
        report = self.analyze(network)
        totals = report.totals
        if self.counting is not None:
            from convcalc.conventions.counting import counted

            totals = counted(report, self.counting.convention, self.counting.forms).totals
        if self.train:
            memory = training_memory(report).total
        else:
            memory = inference_memory(report).peak_bytes
        # The first output's field, as `analyze` reports it, or the largest local one on the
        # way to it (a classifier's last field is the whole input).
        last = report.outputs[0].row if report.outputs else len(report.rows) - 1
        local = next(
            (
                row.rf
                for row in reversed(report.rows[: last + 1])
                if row.rf is not None and not row.rf.is_global
            ),
            None,
        )
        rf = report.totals.rf
        return Variant(
            index,
            texts,
            params=totals.params,
            macs=totals.macs,
            memory=memory,
            rf=None if local is None else (local.size[0], local.size[1]),
            rf_global=bool(rf is not None and rf.is_global),
            outputs=tuple(output.shape for output in report.outputs),
        )


def run_sweep(sweep: Sweep, progress: Callable[[int, int], None] | None = None) -> list[Variant]:
    """Every variant of the grid, in grid order."""
    combinations = grid(sweep.axes)
    return parallel_map(
        lambda shared, item: shared.variant(*item),
        sweep,
        list(enumerate(combinations)),
        progress,
    )


# --- over every core ----------------------------------------------------------------------------

_WORK: tuple[Callable[[Any, Any], Any], Any] | None = None
"""The function and shared value of the running :func:`parallel_map`, inherited by its workers."""


def _work_on(items: list[Any]) -> list[Any]:
    """In a worker: the function on a chunk of items."""
    assert _WORK is not None
    function, shared = _WORK
    return [function(shared, item) for item in items]


def parallel_map(
    function: Callable[[SharedT, ItemT], ResultT],
    shared: SharedT,
    items: Sequence[ItemT],
    progress: Callable[[int, int], None] | None = None,
) -> list[ResultT]:
    """``[function(shared, item) for item in items]``, in that order, spread over the cores in
    chunks (forked workers inherit ``shared``, so nothing large is sent to them). A few items,
    one core or no ``fork`` (not on every system): in this process."""
    import multiprocessing

    global _WORK
    cores = os.cpu_count() or 1
    forkable = "fork" in multiprocessing.get_all_start_methods()
    if cores == 1 or len(items) < 16 or not forkable:
        results = []
        for done, item in enumerate(items, start=1):
            results.append(function(shared, item))
            if progress is not None and done % 8 == 0:
                progress(done, len(items))
        return results
    size = max(1, min(64, len(items) // (cores * 8)))
    chunks = [list(items[start : start + size]) for start in range(0, len(items), size)]
    _WORK = (function, shared)
    out: list[ResultT] = []
    try:
        with multiprocessing.get_context("fork").Pool(cores) as pool:
            for chunk in pool.imap(_work_on, chunks):
                out.extend(chunk)
                if progress is not None:
                    progress(len(out), len(items))
    finally:
        _WORK = None
    return out


# --- choosing ------------------------------------------------------------------------------------


def pareto_front(variants: Iterable[Variant], keys: Sequence[str]) -> set[int]:
    """The indices of the valid variants no other valid variant dominates: as good on every key
    (``rf`` larger, the others smaller) and better on one."""
    points = [
        (
            variant.number,
            tuple(
                -metrics[key] if key in MAXIMISED else metrics[key]
                for key in keys
                for metrics in (variant.metrics(),)
            ),
        )
        for variant in variants
        if variant.valid
    ]
    points.sort(key=lambda point: point[1])
    front: list[tuple[int, tuple[float, ...]]] = []
    for index, point in points:
        dominated = any(
            all(a <= b for a, b in zip(other, point, strict=True)) and other != point
            for _, other in front
        )
        if not dominated:
            front.append((index, point))
    return {index for index, _ in front}


def parse_keys(text: str, flag: str) -> tuple[str, ...]:
    """A comma-separated list of metric names."""
    from convcalc.errors import suggestion

    keys = tuple(key.strip() for key in text.split(","))
    for key in keys:
        if key not in METRICS:
            raise UsageError(
                f"{flag}: unknown key `{key}`{suggestion(key, METRICS)}; keys: {', '.join(METRICS)}"
            )
    return keys


def sort_key(text: str, axes: Sequence[Axis]) -> Callable[[Variant], Any]:
    """``--sort KEY`` (``-KEY`` for largest first): a metric or a swept name."""
    from convcalc.errors import suggestion

    descending = text.startswith("-")
    key = text.lstrip("-+").strip()
    names = [axis.path for axis in axes]
    if key in METRICS:

        def by_metric(variant: Variant) -> Any:
            value = variant.metrics()[key]
            return -value if descending else value

        return by_metric
    if key in names:
        position = names.index(key)

        def by_value(variant: Variant) -> Any:
            value = axes[position].values[axes[position].texts.index(variant.values[position])]
            number = value if isinstance(value, int | float) and not isinstance(value, bool) else 0
            return -number if descending else number

        return by_value
    choices = [*METRICS, *names]
    raise UsageError(
        f"--sort: unknown key `{key}`{suggestion(key, choices)}; keys: {', '.join(choices)}"
    )


def numeric_settings(variant: Variant, axes: Sequence[Axis]) -> dict[str, float]:
    """The swept values that are numbers, by path, for ``--where``."""
    values: dict[str, float] = {}
    for axis, text in zip(axes, variant.values, strict=True):
        value = axis.values[axis.texts.index(text)]
        if isinstance(value, int | float) and not isinstance(value, bool):
            values[axis.path] = value
    return values
