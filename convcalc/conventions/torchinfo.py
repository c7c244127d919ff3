"""torchinfo's ``summary()``: its params, "Mult-Adds" and memory estimate.

Verified against torchinfo 1.8.0: ``torchinfo/layer_info.py`` (``LayerInfo.calculate_macs``:
a leaf module's parameters named ``weight`` or ``bias`` × the output positions for a class named
``*Conv*``, × ``output_size[0]`` — the batch — for any other class; parameters with other names,
such as a layer scale's γ, count no Mult-Adds) and ``torchinfo/model_statistics.py`` (totals:
only leaf modules' Mult-Adds; "Forward/backward pass size" is 2 × the output bytes of the leaf
modules *that have parameters*, each call counted; "Params size" the parameters' bytes;
"Estimated Total Size" input + both, all in MB of 10⁶ bytes). Functions (``F.relu``, ``x + y``)
are not modules: they count nothing. Parameters a module holds beside its children (ConvNeXt's
``layer_scale``) are counted, without Mult-Adds or pass size.
"""

from __future__ import annotations

from convcalc.conventions.rules import (
    ACTIVATIONS,
    MERGES,
    PASS_THROUGH,
    POOLS,
    REARRANGEMENTS,
    Convention,
    Rule,
    positions,
)
from convcalc.report import Row


def params_per_position(row: Row, batch: int) -> int:
    """Weights and bias × N × H_out × W_out."""
    return row.params * positions(row, batch)


def params_per_sample(row: Row, batch: int) -> int:
    """Every parameter × N (output_size[0])."""
    return row.params * batch


CONV = Rule("weights + bias × output positions (N·H·W)", params_per_position)
WITH_PARAMS = Rule("params × N", params_per_sample)
NO_PARAMS = Rule("0 (no parameters)")

RULES = {
    **dict.fromkeys(ACTIVATIONS, NO_PARAMS),
    "prelu": WITH_PARAMS,
    **dict.fromkeys(PASS_THROUGH, NO_PARAMS),
    "layerscale": Rule("0; γ counted as params (named neither weight nor bias)"),
    "conv": CONV,
    # "ConvTranspose2d" contains "Conv": the output positions, not the input's.
    "deconv": CONV,
    "fc": WITH_PARAMS,
    "batchnorm": WITH_PARAMS,
    "layernorm": WITH_PARAMS,
    "groupnorm": WITH_PARAMS,
    "instancenorm": WITH_PARAMS,
    **dict.fromkeys(POOLS, NO_PARAMS),
    "upsample": NO_PARAMS,
    **dict.fromkeys(REARRANGEMENTS, NO_PARAMS),
    **dict.fromkeys(MERGES, Rule("0 (x + y, x * y and torch.cat are not modules)")),
}

TORCHINFO = Convention(
    name="torchinfo",
    tool="torchinfo",
    version="1.8.0",
    ops_label="Mult-Adds",
    rules=RULES,
    unknown=Rule("weight and bias × N", params_per_sample),
    # nn.Linear's output_size[0] is the batch even on an N×H×W×C map: not × H·W.
    linear=Rule("1×1 conv as nn.Linear: weights + bias × N", params_per_sample),
    memory=True,
)
