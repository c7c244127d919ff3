"""Memory for batch N: the tensors alive while the network runs, and what training keeps.

Pure functions over a :class:`~convcalc.report.Report`'s rows and their dataflow graph
(``Row.sources``). Sizes are in bytes at the report's dtype, for the whole batch.

Inference (``inference_memory``): running the rows in order, a tensor is created by its row and
stays alive until its last consumer has run; the network input is alive from the start until its
last consumer, and the final output to the end. A row's *live bytes* are the bytes of every tensor
alive while it runs (its inputs, its output, and everything still waiting for a later consumer:
a residual's skip tensor, the other branches of a concat). The peak is their maximum, not the sum
of all outputs. ``flatten`` (a view) and, at inference, ``dropout`` (the identity) create no tensor.
Layers are taken to run out of place.

Training (``training_memory``): what each layer's backward keeps, as PyTorch 2.x keeps it on the
CPU (measured layer by layer with ``torch.autograd.graph.saved_tensors_hooks``). Each layer kind
states its own rule (:meth:`Layer.saved_tensors`: its input, its output, and at most one extra
tensor such as batchnorm's statistics or max pooling's int64 indices); this module applies them:

- merges state their own rule (:meth:`Merge.saved_tensors`): add and concat keep nothing
  (they route gradients without a saved value), mul keeps the inputs the other inputs'
  gradients need;
- a layer without learnable params whose input does not need a gradient (no layer with params
  before it, e.g. a pool straight on the network input) keeps nothing.

A tensor kept by several layers (a relu's output that the next conv also needs) counts once, at
the first row that keeps it. Training memory = params + buffers + gradients (one per param) +
optimizer state (``OPTIMIZER_STATES`` copies of the params) + the kept tensors.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from convcalc.errors import SpecError
from convcalc.layers.base import Extra, Shape, elements
from convcalc.report import NETWORK_INPUT, Report, Row
from convcalc.tensors import dtype_bytes

OPTIMIZER_STATES = {"sgd": 0, "momentum": 1, "adam": 2, "adamw": 2}
"""Copies of the params each optimizer keeps: SGD none, SGD with momentum the velocity, Adam and
AdamW the first and second moments (their per-tensor step counters are negligible)."""

_SIZE = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(?:([kmgt])(i?))?b?\s*", re.IGNORECASE)


def parse_size(text: str) -> int:
    """``16GiB`` → 17179869184. Binary units with ``i`` (KiB, MiB, GiB, TiB), decimal without
    (KB, MB, GB, TB); a bare number is bytes."""
    match = _SIZE.fullmatch(text)
    if match is None:
        raise SpecError(f"expected a size like 16GiB, 512MB or 1000000, got {text!r}")
    value, prefix, binary = match.groups()
    power = " kmgt".index(prefix.lower()) if prefix else 0
    scale = (1024 if binary else 1000) ** power
    return int(float(value) * scale)


def is_alias(row: Row, training: bool) -> bool:
    """Whether ``row``'s output is its input's storage: a reshape (``flatten``, a view) or a layer
    that is the identity (``dropout`` at inference, and with p = 0 in training too)."""
    layer = row.layer
    return layer is not None and (layer.is_reshape or layer.is_identity(training))


def storage_of(rows: tuple[Row, ...], training: bool) -> list[int]:
    """For each row, the row whose output tensor its output really is (``NETWORK_INPUT`` for the
    input): itself, or through aliases (flatten, inference dropout) the tensor they pass on."""
    storage: list[int] = []
    for row in rows:
        if is_alias(row, training):
            source = row.sources[0]
            storage.append(source if source == NETWORK_INPUT else storage[source])
        else:
            storage.append(row.index)
    return storage


def tensor_bytes(shape: Shape, batch: int, bytes_per_value: int) -> int:
    """Elements × batch × bytes per value."""
    return elements(shape) * batch * bytes_per_value


@dataclass(eq=False)
class InferenceMemory:
    """Live bytes while each row runs (``live_bytes[i]``), their peak and where it is, and the
    weights: params and buffers at the dtype."""

    live_bytes: tuple[int, ...]
    peak_bytes: int
    peak_row: int
    param_bytes: int
    buffer_bytes: int

    def annotate_layer(self, index: int, layer: dict[str, Any]) -> None:
        """Add ``live_bytes`` to each layer."""
        layer["live_bytes"] = self.live_bytes[index]

    def annotate(self, document: dict[str, Any]) -> None:
        """Add ``peak_activation_bytes`` (with the row's index, ``peak_index``) and
        ``buffer_bytes`` to the totals."""
        document["totals"]["peak_activation_bytes"] = self.peak_bytes
        document["totals"]["peak_index"] = self.peak_row
        document["totals"]["buffer_bytes"] = self.buffer_bytes


def inference_memory(report: Report, batch: int | None = None) -> InferenceMemory:
    """The tensors alive while each row runs, in row order, for ``batch`` (default: the report's).

    A tensor made by row j (or the network input, j = −1) is alive while row i runs when
    j ≤ i ≤ last(j), last(j) being its last consumer (the final row for the network's outputs).
    live(i) = Σ bytes of those tensors; peak = max over i.
    """
    rows = report.rows
    batch = report.batch if batch is None else batch
    width = dtype_bytes(report.dtype)
    storage = storage_of(rows, training=False)
    size = {NETWORK_INPUT: tensor_bytes(report.input, batch, width)}
    last = {NETWORK_INPUT: 0}
    # At the report's own batch each row already knows its output's bytes.
    own_batch = batch == report.batch
    for row in rows:
        if storage[row.index] == row.index:
            size[row.index] = (
                row.activation_bytes if own_batch else tensor_bytes(row.output, batch, width)
            )
            last[row.index] = row.index
        for source in row.sources:
            tensor = source if source == NETWORK_INPUT else storage[source]
            last[tensor] = max(last[tensor], row.index)
    # Every output the network returns stays alive to the end (by default the last row's).
    outputs = [output.row for output in report.outputs] or [len(rows) - 1]
    for index in outputs if rows else ():
        tensor = index if index == NETWORK_INPUT else storage[index]
        last[tensor] = len(rows) - 1
    # A sweep: each tensor adds its bytes at the row that makes it (the input at row 0) and
    # removes them after its last consumer.
    change = [0] * (len(rows) + 1)
    for tensor, nbytes in size.items():
        change[max(tensor, 0)] += nbytes
        change[last[tensor] + 1] -= nbytes
    running = 0
    sweep = []
    for delta in change[:-1]:
        running += delta
        sweep.append(running)
    live = tuple(sweep)
    peak = max(live, default=0)
    return InferenceMemory(
        live_bytes=live,
        peak_bytes=peak,
        peak_row=live.index(peak) if live else 0,
        param_bytes=report.totals.params * width,
        buffer_bytes=report.totals.buffers * width,
    )


@dataclass(eq=False)
class Kept:
    """One tensor a row's backward keeps: ``key`` identifies it across rows (the same activation
    kept by two layers has the same key), ``what`` says what it is."""

    key: tuple[str, int]
    bytes: int
    what: str


def needs_gradient(rows: tuple[Row, ...]) -> list[bool]:
    """Whether each row's output needs a gradient: the row has learnable params or one of its
    inputs does (the network input does not)."""
    needs: list[bool] = []
    for row in rows:
        upstream = any(source != NETWORK_INPUT and needs[source] for source in row.sources)
        needs.append(row.params > 0 or upstream)
    return needs


def kept_by(
    row: Row, batch: int, bytes_per_value: int, inputs_need_grad: tuple[bool, ...]
) -> list[Kept]:
    """The tensors ``row``'s backward keeps (see the module docstring for the rules), given
    which of its inputs need a gradient, with inputs and outputs as keys ``("tensor", row
    index)`` so that rows can share them."""
    if row.merge is not None:
        positions, extra = row.merge.saved_tensors(row.merged, inputs_need_grad, batch)
        kept = [
            Kept(
                ("tensor", row.sources[position]),
                tensor_bytes(row.merged[position], batch, bytes_per_value),
                "input",
            )
            for position in positions
        ]
        return kept + extra_kept(row, extra, bytes_per_value)
    layer = row.layer
    if layer is None or (row.params == 0 and not any(inputs_need_grad)):
        # A parameter-free layer whose input needs no gradient is not recorded by autograd.
        return []
    saved = layer.saved_tensors(row.input, row.output, batch)
    kept = []
    if saved.input:
        values_in = tensor_bytes(row.input, batch, bytes_per_value)
        kept.append(Kept(("tensor", row.sources[0]), values_in, "input"))
    if saved.output:
        values_out = tensor_bytes(row.output, batch, bytes_per_value)
        kept.append(Kept(("tensor", row.index), values_out, "output"))
    return kept + extra_kept(row, saved.extra, bytes_per_value)


def extra_kept(row: Row, extra: Extra | None, bytes_per_value: int) -> list[Kept]:
    """A row's own extra tensor (statistics, indices, a mask, partial products), if it keeps
    one."""
    if extra is None:
        return []
    width = bytes_per_value if extra.width is None else extra.width
    return [Kept(("extra", row.index), extra.values * width, extra.what)]


@dataclass(eq=False)
class TrainingMemory:
    """Training memory for one batch size: per row the bytes of the tensors it is the first to
    keep (``saved_bytes[i]``, so that they sum to ``saved_total``), and the totals."""

    batch: int
    optimizer: str
    saved_bytes: tuple[int, ...]
    kept: tuple[tuple[str, ...], ...]
    saved_total: int
    param_bytes: int
    buffer_bytes: int
    gradient_bytes: int
    optimizer_bytes: int

    @property
    def total(self) -> int:
        """params + buffers + gradients + optimizer state + kept tensors."""
        return (
            self.param_bytes
            + self.buffer_bytes
            + self.gradient_bytes
            + self.optimizer_bytes
            + self.saved_total
        )

    def breakdown(self) -> dict[str, int]:
        """The parts of the total, by name."""
        return {
            "params": self.param_bytes,
            "buffers": self.buffer_bytes,
            "gradients": self.gradient_bytes,
            "optimizer_state": self.optimizer_bytes,
            "saved_activations": self.saved_total,
        }


@dataclass(eq=False)
class TrainingView:
    """``--train``: the training memory at the report's batch, and optionally the largest batch
    that fits a memory budget."""

    memory: TrainingMemory
    budget: int | None = None
    largest_batch: int | None = None

    def annotate_layer(self, index: int, layer: dict[str, Any]) -> None:
        """Add ``saved_bytes`` (and ``saved`` — what the row keeps) to each layer."""
        layer["saved_bytes"] = self.memory.saved_bytes[index]
        layer["saved"] = list(self.memory.kept[index])

    def annotate(self, document: dict[str, Any]) -> None:
        """Add a top-level ``training`` object with the breakdown, total and ``--memory``
        answer."""
        memory = self.memory
        training: dict[str, Any] = {
            "batch": memory.batch,
            "optimizer": memory.optimizer,
            "optimizer_copies": OPTIMIZER_STATES[memory.optimizer],
            **{f"{name}_bytes": value for name, value in memory.breakdown().items()},
            "total_bytes": memory.total,
        }
        if self.budget is not None:
            training["memory_budget_bytes"] = self.budget
            training["largest_batch"] = self.largest_batch
        document["training"] = training


def training_memory(
    report: Report, optimizer: str = "sgd", batch: int | None = None
) -> TrainingMemory:
    """What training one step of ``report``'s network needs at ``batch`` (default: the report's).

    Kept tensors follow the rules of the module docstring, each distinct tensor counted once at
    the first row that keeps it. Gradients = params; optimizer state =
    ``OPTIMIZER_STATES[optimizer]`` × params; buffers are counted once.
    """
    if optimizer not in OPTIMIZER_STATES:
        raise SpecError(
            f"unknown optimizer {optimizer!r}; choose one of {', '.join(OPTIMIZER_STATES)}"
        )
    rows = report.rows
    batch = report.batch if batch is None else batch
    width = dtype_bytes(report.dtype)
    storage = storage_of(rows, training=True)
    needs = needs_gradient(rows)
    seen: set[tuple[str, int]] = set()
    saved: list[int] = []
    kept: list[tuple[str, ...]] = []
    for row in rows:
        input_needs = tuple(source != NETWORK_INPUT and needs[source] for source in row.sources)
        new_bytes = 0
        names: list[str] = []
        for item in kept_by(row, batch, width, input_needs):
            kind, index = item.key
            if kind == "tensor" and index != NETWORK_INPUT:
                # A flatten's output is its input's storage: key both by the real tensor.
                item = Kept((kind, storage[index]), item.bytes, item.what)
            names.append(item.what)
            if item.key not in seen:
                seen.add(item.key)
                new_bytes += item.bytes
        saved.append(new_bytes)
        kept.append(tuple(names))
    params = report.totals.params * width
    return TrainingMemory(
        batch=batch,
        optimizer=optimizer,
        saved_bytes=tuple(saved),
        kept=tuple(kept),
        saved_total=sum(saved),
        param_bytes=params,
        buffer_bytes=report.totals.buffers * width,
        gradient_bytes=report.totals.trainable_params * width,
        optimizer_bytes=OPTIMIZER_STATES[optimizer] * report.totals.trainable_params * width,
    )


def largest_batch(report: Report, optimizer: str, budget: int) -> int | None:
    """The largest N whose training memory fits ``budget`` bytes (0 if not even N = 1 fits,
    ``None`` if nothing depends on N so that any batch fits).

    Memory is affine in N — total(N) = fixed + per_sample·N, the per-batch BN statistics being
    part of ``fixed`` — so N = ⌊(budget − fixed)/per_sample⌋ from two evaluations; the answer is
    then checked (total(N) ≤ budget < total(N + 1)) and corrected by stepping if it were off.
    """
    one = training_memory(report, optimizer, 1).total
    two = training_memory(report, optimizer, 2).total
    per_sample = two - one
    fixed = one - per_sample
    if per_sample <= 0:
        # Nothing grows with the batch: either nothing fits or every batch does (no limit).
        return 0 if fixed > budget else None
    batch = max(0, (budget - fixed) // per_sample)
    while batch > 0 and training_memory(report, optimizer, batch).total > budget:
        batch -= 1
    while training_memory(report, optimizer, batch + 1).total <= budget:
        batch += 1
    return batch


def training_view(
    report: Report, optimizer: str = "sgd", budget: int | None = None
) -> TrainingView:
    """The training memory at the report's batch, and the largest batch for ``budget``."""
    memory = training_memory(report, optimizer)
    fits = None if budget is None else largest_batch(report, optimizer, budget)
    return TrainingView(memory=memory, budget=budget, largest_batch=fits)
