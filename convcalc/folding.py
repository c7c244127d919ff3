"""Which batchnorms fold into a neighbouring conv or fc at inference, and the network once they do.

At test time a batchnorm is the per-channel affine map y = a·x + c with a = γ/√(σ² + ε) and
c = β − μ·a: its running statistics are constants, so it can be multiplied into a linear layer.

*Backward* (docs/spec.md §4): a BN that directly follows a conv, deconv or fc whose output feeds
nothing else folds into it: W' = W·γ/√(σ² + ε), b' = (b − μ)·γ/√(σ² + ε) + β, scaling each output
channel. Dropout in between is the identity at test time, and a second BN right after a folded
one folds into the same layer (two affine maps compose into one).

*Forward* (pre-activation nets, BN → conv): a BN whose output feeds nothing but a conv or fc
folds into that layer's input channels: W'[f, c] = W[f, c]·a[c], b'[f] = b[f] + Σ W[f, c]·c[c].
That is exact only when the conv does not zero-pad: its padded zeros are zeros *after* the BN,
which no W' applied to the un-normalised input can reproduce at the border. Dropout and flatten
in between are allowed (identity and reshape at test time). A transposed conv never takes a
forward fold: its border outputs receive fewer taps, so the BN's shift is not one bias per channel.

Either way the BN's 2C params and 2C buffers disappear, its output is never materialised, and the
receiving layer gains a bias (C backward, its F outputs forward) if it had none. A BN that can fold
backward does; forward is only tried for the others. LayerNorm, GroupNorm and InstanceNorm
normalise with each sample's own statistics at test time too, so they are no fixed map and never
fold.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from convcalc.layers.base import Derivation, derive, format_shape
from convcalc.layers.norm import BatchNorm, PerSampleNorm
from convcalc.report import (
    NETWORK_INPUT,
    FoldedBN,
    Folding,
    Report,
    Row,
    UnfoldedBN,
    totals_of,
)

FOLDED_WEIGHT = "W' = W·γ/√(σ²+ε)"
"""The backward-folded weight, as convcalc prints it (one scale per output channel)."""
FOLDED_BIAS = "b' = (b − μ)·γ/√(σ²+ε) + β"
"""The backward-folded bias, as convcalc prints it (b = 0 when the layer had no bias)."""


NETWORK_OUTPUT = -2
"""The reader that stands for the network's outputs in :func:`consumers_of`: a tensor the
network returns is read after the last row, so a fold may not change it."""


def consumers_of(
    rows: tuple[Row, ...], outputs: tuple[int, ...] = ()
) -> dict[int, tuple[int, ...]]:
    """Each row index → the rows that read its output, in execution order (the inverse of
    :attr:`Row.sources`), then :data:`NETWORK_OUTPUT` for the rows in ``outputs``."""
    readers: dict[int, list[int]] = {}
    for row in rows:
        for source in row.sources:
            readers.setdefault(source, []).append(row.index)
    for index in outputs:
        readers.setdefault(index, []).append(NETWORK_OUTPUT)
    return {source: tuple(indices) for source, indices in readers.items()}


def fold_batchnorms(rows: tuple[Row, ...], outputs: tuple[int, ...] = ()) -> Folding:
    """Decide, for every normalisation row, whether it folds, which way and into which row.

    Backward folds are preferred; forward folds are tried only for batchnorms that cannot fold
    backward, and the reason of a batchnorm that folds neither way names both obstacles.

    The ``*_after`` totals are the inference network's (what :func:`fold_network` builds), with
    the backward folds removed as docs/spec.md §4 defines them; a batchnorm that could fold forward
    stays in ``not_folded`` (its reason says so) and is listed in ``forward``; params_after_forward
    counts those too. params_after = params − the removed BNs' 2C (0 without affine) + the bias
    each receiving layer gains if it had none;
    buffers_after = buffers − their 2C running statistics; activation_bytes_after =
    activation_bytes − their outputs; macs_after = MACs (a BN adds none, and bias adds are not
    counted).
    """
    readers = consumers_of(rows, outputs)
    folded_bns: set[int] = set()
    folded: list[FoldedBN] = []
    forward: list[FoldedBN] = []
    not_folded: list[UnfoldedBN] = []
    for row in rows:
        if row.layer is None or not row.layer.normalizes:
            continue
        if isinstance(row.layer, PerSampleNorm):
            not_folded.append(UnfoldedBN(row.index, row.layer.fold_refusal))
        elif isinstance(row.layer, BatchNorm):
            into, reason = fold_target(row, rows, readers, folded_bns)
            if into is not None:
                folded.append(FoldedBN(row.index, into))
                folded_bns.add(row.index)
                continue
            ahead, blocked = forward_target(row, rows, readers)
            if ahead is not None:
                forward.append(FoldedBN(row.index, ahead))
                blocked = (
                    f"it can fold forward into {rows[ahead].path} instead, which does not "
                    "zero-pad (see `forward`)"
                )
            else:
                blocked = f"nor can it fold forward: {blocked}"
            not_folded.append(UnfoldedBN(row.index, f"{reason}; {blocked}"))
    removed = [rows[fold.bn] for fold in folded]
    return Folding(
        folded=tuple(folded),
        not_folded=tuple(not_folded),
        params_after=params_without(rows, folded),
        params_after_forward=params_without(rows, folded + forward),
        macs_after=sum(row.macs for row in rows),
        buffers_after=sum(row.buffers for row in rows) - sum(row.buffers for row in removed),
        activation_bytes_after=sum(row.activation_bytes for row in rows)
        - sum(row.activation_bytes for row in removed),
        forward=tuple(forward),
    )


def params_without(rows: tuple[Row, ...], folds: list[FoldedBN]) -> int:
    """The params once ``folds`` are applied: minus each BN's 2C (0 without affine), plus the
    bias each receiving layer gains if it had none."""
    return (
        sum(row.params for row in rows)
        - sum(rows[fold.bn].params for fold in folds)
        + sum(bias_gained(rows[into]) for into in {fold.into for fold in folds})
    )


def bias_gained(row: Row) -> int:
    """The bias a receiving conv, deconv or fc gains: one per output channel if it had none."""
    if row.layer is None or not row.layer.gains_folded_bias:
        return 0
    return row.output[0]


def kind_of(row: Row) -> str:
    """What a row is, in words, for reasons: ``a nonlinearity``, ``a pool``, ``a residual add``…"""
    if row.merge is not None:
        return merge_words(row)[0]
    return row.kind.description


def reader_name(row: Row) -> str:
    """A row that reads a tensor, named for a reason; merges say which path the tensor takes."""
    if row.merge is not None:
        return f"{row.path} ({merge_words(row)[1]})"
    return row.path


def merge_words(row: Row) -> tuple[str, str]:
    """What a merge row is and what path a tensor it reads takes: its container's words (a
    residual's add reads the identity shortcut), or those of its kind (a merge written with
    ``from``)."""
    assert row.merge is not None
    if row.node is not None and row.node.container_word:
        return row.node.merge_words
    return row.merge.description, row.merge.reader_role


def is_identity(row: Row) -> bool:
    """Whether ``row`` passes its input on unchanged at test time (dropout)."""
    return row.layer is not None and row.layer.is_identity(training=False)


def is_reshape(row: Row) -> bool:
    """Whether ``row`` only rearranges its input's values (flatten)."""
    return row.layer is not None and row.layer.is_reshape


def also_feeds(
    row: Row, rows: tuple[Row, ...], readers: dict[int, tuple[int, ...]], me: int
) -> str:
    """``row`` feeds more than ``me``: name the other readers."""
    others = ", ".join(
        "the network's outputs" if index == NETWORK_OUTPUT else reader_name(rows[index])
        for index in readers[row.index]
        if index != me
    )
    return (
        f"its producer {row.path} also feeds {others}, so folding would change that branch's "
        "input too"
    )


def fold_target(
    row: Row,
    rows: tuple[Row, ...],
    readers: dict[int, tuple[int, ...]],
    folded: frozenset[int] | set[int] = frozenset(),
) -> tuple[int | None, str]:
    """The row a batchnorm folds backward into, or ``None`` and the reason it cannot.

    The walk back passes dropout (the identity at test time) and the batchnorms in ``folded``
    (already folded backward: conv → BN → BN composes two affine maps into the same conv).
    """
    reader = row.index
    source = row.sources[0]
    while source != NETWORK_INPUT and (is_identity(rows[source]) or source in folded):
        if len(readers[source]) > 1:
            return None, also_feeds(rows[source], rows, readers, reader)
        reader, source = source, rows[source].sources[0]
    if source == NETWORK_INPUT:
        return None, "it normalises the network input, so no layer precedes it"
    producer = rows[source]
    if producer.layer is None or not producer.layer.folds_batchnorm:
        return None, f"it follows {producer.path}, {kind_of(producer)}, not a conv, deconv or fc"
    if len(readers[source]) > 1:
        return None, also_feeds(producer, rows, readers, reader)
    return source, ""


def forward_target(
    row: Row, rows: tuple[Row, ...], readers: dict[int, tuple[int, ...]]
) -> tuple[int | None, str]:
    """The conv or fc a batchnorm folds forward into, or ``None`` and the reason it cannot.

    The BN's output must reach the layer through nothing but dropout or flatten, and feed nothing
    else; a conv must not zero-pad (see the module docstring).
    """
    current = row
    while True:
        following = readers.get(current.index, ())
        if following in ((), (NETWORK_OUTPUT,)):
            return None, f"nothing reads the output of {current.path}"
        if NETWORK_OUTPUT in following:
            return None, f"the output of {current.path} is one of the network's outputs"
        if len(following) > 1:
            names = ", ".join(reader_name(rows[index]) for index in following)
            return None, f"the output of {current.path} feeds several layers ({names})"
        current = rows[following[0]]
        if not (is_identity(current) or is_reshape(current)):
            break
    if current.layer is None:
        return None, f"it feeds {current.path}, {kind_of(current)}, not a conv or fc"
    refusal = current.layer.forward_fold_refusal(current.input)
    if refusal is not None:
        return None, f"it feeds {current.path}, {refusal}"
    return current.index, ""


def fold_network(report: Report) -> Report:
    """The inference-time network: ``report`` with its (backward) folded batchnorms removed.

    Rows are re-indexed in order; a source that was a removed BN becomes that BN's own source, so
    the dataflow graph stays connected. Each receiving conv, deconv or fc gets ``bias: true`` and
    its params recomputed (a bias of one per output channel if it had none; MACs are unchanged,
    bias adds are not counted). Totals are recomputed; ``folding`` stays the analysis of the
    original rows, which the result keeps as ``before``. A report that is already folded is
    returned as it is.
    """
    from convcalc.tensors import dtype_bytes

    if report.before is not None:
        return report
    removed = {fold.bn for fold in report.folding.removed}
    receivers = {fold.into for fold in report.folding.removed}
    renumbered: dict[int, int] = {}
    for row in report.rows:
        if row.index not in removed:
            renumbered[row.index] = len(renumbered)

    def remap(source: int) -> int:
        while source in removed:
            source = report.rows[source].sources[0]
        return renumbered.get(source, NETWORK_INPUT)

    rows = tuple(
        with_bias(
            replace(
                row,
                index=renumbered[row.index],
                sources=tuple(remap(source) for source in row.sources),
            ),
            row.index in receivers,
        )
        for row in report.rows
        if row.index not in removed
    )
    totals = totals_of(rows, dtype_bytes(report.dtype))
    outputs = tuple(output._replace(row=remap(output.row)) for output in report.outputs)
    if outputs:
        totals.rf = outputs[0].rf
    return replace(report, rows=rows, totals=totals, before=report, outputs=outputs)


def with_bias(row: Row, receives: bool) -> Row:
    """``row`` with a bias added when it receives a folded BN and had none (params and the
    derivations recomputed by the layer itself)."""
    layer = row.layer.with_folded_bias() if receives and row.layer is not None else None
    if layer is None:
        return row
    outcome = layer.apply(row.input)
    return replace(row, layer=layer, params=outcome.params, derivations=outcome.derivations)


@dataclass(eq=False)
class FoldedForm:
    """What folding one batchnorm of ``channels`` channels into the conv or fc before it does.

    The layer's weight and bias become :data:`FOLDED_WEIGHT` and :data:`FOLDED_BIAS`; the BN's
    ``params_removed`` (2C γ, β; 0 without affine) and ``buffers_removed`` (2C running μ, σ²)
    vanish, as does its output (``activation_bytes_saved``); the layer gains ``bias_gained`` = C
    biases only if it had none. MACs do not change.
    """

    channels: int
    eps: float
    params_removed: int
    buffers_removed: int
    activation_bytes_saved: int
    output: tuple[int, ...]
    batch: int
    bytes_per_value: int

    @property
    def bias_gained(self) -> int:
        """The most biases the layer before can gain: C, when it had no bias."""
        return self.channels

    def derivations(self) -> tuple[Derivation, ...]:
        """The folded form and its savings, as lines of ``convcalc layer --fold``."""
        c = self.channels
        return (
            derive("folded weight", f"{FOLDED_WEIGHT}, ε = {self.eps:g}", f"{c} scales"),
            derive("folded bias", f"{FOLDED_BIAS}, b = 0 if there was none", f"{c} biases"),
            derive("params removed", f"2 × {c} (γ, β)", self.params_removed),
            derive("buffers removed", f"2 × {c} (running μ, σ²)", self.buffers_removed),
            derive("bias gained", f"{c} if the layer before had no bias, else 0", f"≤ {c:,}"),
            derive(
                "memory saved",
                f"the BN's output is never stored: {format_shape(self.output)} × batch "
                f"{self.batch} × {self.bytes_per_value} B",
                f"{self.activation_bytes_saved:,} B",
            ),
            derive("MACs", "unchanged (bias adds are not counted)", 0),
        )

    def to_document(self) -> dict[str, Any]:
        """The folded form as JSON (``bn_fold`` in ``convcalc layer --type bn --fold --json``)."""
        return {
            "weight": FOLDED_WEIGHT,
            "bias": FOLDED_BIAS,
            "eps": self.eps,
            "params_removed": self.params_removed,
            "buffers_removed": self.buffers_removed,
            "bias_gained_if_none": self.bias_gained,
            "activation_bytes_saved": self.activation_bytes_saved,
            "macs_saved": 0,
        }

    def annotate_layer(self, index: int, layer: dict[str, Any]) -> None:
        """The folded form adds nothing to the layer objects."""

    def annotate(self, document: dict[str, Any]) -> None:
        """As a report extra: add ``bn_fold`` to the JSON document."""
        document["bn_fold"] = self.to_document()


def folded_form(row: Row, batch: int, bytes_per_value: int) -> FoldedForm | None:
    """The folded form of a batchnorm row, or ``None`` if the row is not a batchnorm."""
    if not isinstance(row.layer, BatchNorm):
        return None
    return FoldedForm(
        channels=row.output[0],
        eps=row.layer.eps,
        params_removed=row.params,
        buffers_removed=row.buffers,
        activation_bytes_saved=row.activation_bytes,
        output=row.output,
        batch=batch,
        bytes_per_value=bytes_per_value,
    )
