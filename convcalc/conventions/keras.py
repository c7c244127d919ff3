"""Keras's ``model.summary()``: "Total params", "Trainable params", "Non-trainable params".

Verified against Keras 3.15.1 (torch backend): ``keras/src/layers/normalization/
batch_normalization.py`` makes the moving mean and variance non-trainable weights, which
``summary()`` (``keras/src/utils/summary_utils.py``, ``count_params``) counts as parameters.
Every other layer's weights are the same numbers as PyTorch's. Keras prints no operation count:
the MACs stay convcalc's.
"""

from __future__ import annotations

from convcalc.conventions.rules import (
    ACTIVATIONS,
    MERGES,
    NORMS,
    PASS_THROUGH,
    POOLS,
    REARRANGEMENTS,
    Convention,
    Rule,
    own_macs,
)
from convcalc.report import Row


def moving_statistics(row: Row, batch: int) -> int:
    """The moving mean and variance: 2C."""
    return 2 * row.output[0]


def with_moving_statistics(row: Row, batch: int) -> int:
    """γ, β (if any) and the moving mean and variance."""
    return row.params + moving_statistics(row, batch)


AS_PYTORCH = Rule("params as PyTorch's (Keras counts no MACs)", own_macs)

RULES = {
    **dict.fromkeys((*ACTIVATIONS, *PASS_THROUGH, "layerscale"), AS_PYTORCH),
    **dict.fromkeys(("conv", "deconv", "fc", *NORMS, *POOLS), AS_PYTORCH),
    **dict.fromkeys(("upsample", *REARRANGEMENTS), AS_PYTORCH),
    **dict.fromkeys(MERGES, Rule("no parameters")),
    "batchnorm": Rule(
        "γ, β trainable + moving mean, variance (2C) non-trainable",
        own_macs,
        params=with_moving_statistics,
        frozen=moving_statistics,
    ),
}

KERAS = Convention(
    name="keras",
    tool="Keras",
    version="3.15.1",
    ops_label=None,
    rules=RULES,
    unknown=AS_PYTORCH,
)
