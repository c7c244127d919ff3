"""Which batchnorms fold into the layer before them at inference, and what that saves.

At test time a batchnorm is the per-channel affine map y = γ(x − μ)/√(σ² + ε) + β. When it
directly follows a conv, deconv or fc whose output feeds nothing else, it folds into that layer:
W' = W·γ/√(σ² + ε), b' = (b − μ)·γ/√(σ² + ε) + β. Its 2C params and 2C buffers disappear and the
layer gains a bias of C if it had none. Dropout in between is the identity at test time.
LayerNorm, GroupNorm and InstanceNorm use each sample's own statistics, so they never fold.
"""

from __future__ import annotations

from collections import Counter

from convcalc.report import NETWORK_INPUT, FoldedBN, Folding, Row, UnfoldedBN

FOLD_TARGETS = frozenset({"conv", "deconv", "fc"})
PER_SAMPLE_NORMS = frozenset({"layernorm", "groupnorm", "instancenorm"})


def fold_batchnorms(rows: tuple[Row, ...]) -> Folding:
    """Decide, for every normalisation row, whether it folds and into which row."""
    consumers = Counter(source for row in rows for source in row.sources)
    folded: list[FoldedBN] = []
    not_folded: list[UnfoldedBN] = []
    for row in rows:
        if row.type in PER_SAMPLE_NORMS:
            not_folded.append(
                UnfoldedBN(
                    row.index, f"{row.type} uses each sample's own statistics at test time too"
                )
            )
        elif row.type == "batchnorm":
            into, reason = fold_target(row, rows, consumers)
            if into is None:
                not_folded.append(UnfoldedBN(row.index, reason))
            else:
                folded.append(FoldedBN(row.index, into))
    removed = sum(rows[f.bn].params for f in folded)
    gained = sum(
        rows[f.bn].output[0]
        for f in folded
        if rows[f.into].layer is not None and not getattr(rows[f.into].layer, "bias", True)
    )
    return Folding(
        folded=tuple(folded),
        not_folded=tuple(not_folded),
        params_after=sum(row.params for row in rows) - removed + gained,
        macs_after=sum(row.macs for row in rows),
    )


def fold_target(row: Row, rows: tuple[Row, ...], consumers: Counter[int]) -> tuple[int | None, str]:
    """The row a batchnorm folds into, or ``None`` and the reason it cannot."""
    source = row.sources[0]
    while source != NETWORK_INPUT and rows[source].type == "dropout":
        if consumers[source] > 1:
            return None, f"{rows[source].path} also feeds another layer"
        source = rows[source].sources[0]
    if source == NETWORK_INPUT:
        return None, "it normalises the network input; no layer precedes it"
    producer = rows[source]
    if producer.type not in FOLD_TARGETS:
        return None, f"it follows {producer.path} ({producer.type}), not a conv, deconv or fc"
    if consumers[source] > 1:
        return None, f"the output of {producer.path} also feeds another branch"
    return source, ""
