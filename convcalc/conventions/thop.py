"""thop's ``profile()``: forward hooks on the module types it registers.

Verified against thop 0.1.1.post2209072238: ``thop/profile.py`` (``register_hooks``, looked up
by exact type; params are counted only for registered modules) and
``thop/vision/basic_hooks.py`` with ``thop/vision/calc_func.py`` (the counts). Unregistered
modules (GroupNorm, ELU, GELU, SiLU, Sigmoid, Tanh, Hardswish, Hardsigmoid, Mish, Identity,
Flatten, PixelUnshuffle, ChannelShuffle, a subclass such as torchvision's LayerNorm2d, any module
of one's own) and every function (``F.relu``, ``torch.flatten``, ``x + y``, ``torch.cat``)
count nothing, their parameters included.
"""

from __future__ import annotations

from convcalc.conventions.rules import (
    ACTIVATIONS,
    MERGES,
    PASS_THROUGH,
    REARRANGEMENTS,
    Convention,
    Rule,
    bias_count,
    has,
    input_area_ratio,
    input_numel,
    nothing,
    output_numel,
    own_macs,
    positions,
)
from convcalc.report import Row


def norm_ops(row: Row, batch: int) -> int:
    """2 × input elements, doubled with affine (``elementwise_affine`` for LayerNorm)."""
    return 2 * input_numel(row, batch) * (2 if has(row, "affine") else 1)


def deconv_ops(row: Row, batch: int) -> int:
    """Output elements × C_in/groups × KH·KW — the conv formula applied to the output — which
    is output positions × the weights (C_in·(F/groups)·KH·KW)."""
    return positions(row, batch) * (row.params - bias_count(row))


def adaptive_ops(row: Row, batch: int) -> int:
    """⌊(H_in/H_out · W_in/W_out + 1) × output elements⌋, in float64 as thop's tensors."""
    return int((input_area_ratio(row) + 1) * output_numel(row, batch))


def softmax_ops(row: Row, batch: int) -> int:
    """(elements / C) × (3C − 1): an exp, an add and a divide per element, less one add."""
    channels = row.input[0]
    return input_numel(row, batch) // channels * (3 * channels - 1)


UPSAMPLE_OPS = {"nearest": 1, "bilinear": 11, "bicubic": 224 + 35}
"""``calculate_upsample``: operations per output element for each mode."""


def upsample_ops(row: Row, batch: int) -> int:
    """Output elements × 1 (nearest), × 11 (bilinear), × 259 (bicubic)."""
    return output_numel(row, batch) * UPSAMPLE_OPS[getattr(row.layer, "mode", "nearest")]


ZERO = Rule("0 (registered as zero ops)")
UNREGISTERED = Rule("0 and 0 params (not registered)", params=nothing)
ADAPTIVE = Rule("(input/output area + 1) × output elements", adaptive_ops)
NORM = Rule("2 × input elements, × 2 again with affine", norm_ops)

RULES = {
    **dict.fromkeys(ACTIVATIONS, UNREGISTERED),
    "prelu": Rule("input elements (eval mode)", input_numel),
    "softmax": Rule("(elements / C) × (3C − 1)", softmax_ops),
    "relu": ZERO,
    "relu6": ZERO,
    "leakyrelu": ZERO,
    **dict.fromkeys(PASS_THROUGH, UNREGISTERED),
    "dropout": ZERO,
    "layerscale": UNREGISTERED,
    "conv": Rule("N·F·H_out·W_out × C_in/groups × KH·KW, no bias", own_macs),
    "deconv": Rule("output elements × C_in/groups × KH·KW (conv formula), no bias", deconv_ops),
    "fc": Rule("in × output elements, no bias", own_macs),
    "batchnorm": NORM,
    "layernorm": NORM,
    "instancenorm": NORM,
    "groupnorm": UNREGISTERED,
    "maxpool": ZERO,
    "adaptivemaxpool": ZERO,
    "globalmaxpool": ZERO,
    "avgpool": Rule("output elements", output_numel),
    "adaptiveavgpool": ADAPTIVE,
    "globalavgpool": ADAPTIVE,
    "upsample": Rule("output elements × 1 nearest, × 11 bilinear, × 259 bicubic", upsample_ops),
    **dict.fromkeys(REARRANGEMENTS, UNREGISTERED),
    "pixelshuffle": ZERO,
    "pad": Rule("0 (nn.ZeroPad2d registered as zero ops; other modes not registered)"),
    **dict.fromkeys(MERGES, Rule("0 (functions are not hooked)")),
}

THOP = Convention(
    name="thop",
    tool="thop",
    version="0.1.1.post2209072238",
    ops_label="MACs",
    rules=RULES,
    unknown=UNREGISTERED,
    exact_types=True,
    module_parameters_only=True,
)
