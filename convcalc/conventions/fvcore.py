"""fvcore's ``FlopCountAnalysis``: one handle per traced ATen operator; it calls one
multiply-add a "flop".

Verified against fvcore 0.1.5.post20221221: ``fvcore/nn/flop_count.py``
(``_DEFAULT_SUPPORTED_OPS``) and ``fvcore/nn/jit_handles.py`` (``conv_flop_count``,
``linear_flop_jit``, ``batchnorm_flop_jit`` in eval mode, ``norm_flop_counter``,
``elementwise_flop_counter``). Operators without a handle (relu and every other activation, max
and average pooling, add, mul, cat, flatten, dropout, softmax, pad, pixel shuffle, bicubic
upsampling…) count 0. Parameters: ``fvcore.nn.parameter_count``, every one. Tracing sees
operators, so a function counts as the module would; ``x.mean((2, 3))`` is ``aten::mean``,
which has no handle.
"""

from __future__ import annotations

from convcalc.conventions.rules import (
    ACTIVATIONS,
    MERGES,
    PASS_THROUGH,
    POOLS,
    REARRANGEMENTS,
    Convention,
    Functions,
    Rule,
    has,
    input_numel,
    output_numel,
    own_macs,
)
from convcalc.report import Row


def batchnorm_flops(row: Row, batch: int) -> int:
    """Input elements × 2 with γ, β (× 1 without): aten::batch_norm, eval mode."""
    return input_numel(row, batch) * (2 if has(row, "affine") else 1)


def norm_flops(row: Row, batch: int) -> int:
    """Input elements × 5 with γ, β (× 4 without): aten::group_norm, layer_norm, instance_norm."""
    return input_numel(row, batch) * (5 if has(row, "affine") else 4)


UPSAMPLE_FLOPS = {"nearest": 1, "bilinear": 4}
"""Flops per output element of ``aten::upsample_nearest2d`` and ``upsample_bilinear2d``;
``aten::upsample_bicubic2d`` has no handle."""


def upsample_flops(row: Row, batch: int) -> int:
    """Output elements × 1 (nearest), × 4 (bilinear), × 0 (bicubic)."""
    return output_numel(row, batch) * UPSAMPLE_FLOPS.get(getattr(row.layer, "mode", ""), 0)


NO_HANDLE = Rule("0 (no handle for its operators)")
POOL = Rule("input elements (aten::adaptive_avg_pool2d)", input_numel)
NORM = Rule("input elements × 5 with γ, β, × 4 without", norm_flops)

RULES = {
    **dict.fromkeys(ACTIVATIONS, NO_HANDLE),
    **dict.fromkeys(PASS_THROUGH, NO_HANDLE),
    "layerscale": Rule("0 (aten::mul has no handle)"),
    "conv": Rule("N·weights·H_out·W_out, no bias (aten::_convolution)", own_macs),
    "deconv": Rule("N·weights·H_in·W_in, no bias (aten::_convolution, transposed)", own_macs),
    "fc": Rule("input elements × out, no bias (aten::linear)", own_macs),
    "batchnorm": Rule("input elements × 2 with γ, β, × 1 without (eval)", batchnorm_flops),
    "layernorm": NORM,
    "groupnorm": NORM,
    "instancenorm": NORM,
    **dict.fromkeys(POOLS, NO_HANDLE),
    "adaptiveavgpool": POOL,
    "globalavgpool": POOL,
    "upsample": Rule("output elements × 1 nearest, × 4 bilinear, 0 bicubic", upsample_flops),
    **dict.fromkeys(REARRANGEMENTS, NO_HANDLE),
    **dict.fromkeys(MERGES, Rule("0 (aten::add, aten::mul and aten::cat have no handle)")),
}

FVCORE = Convention(
    name="fvcore",
    tool="fvcore",
    version="0.1.5.post20221221",
    ops_label="flops",
    rules=RULES,
    unknown=NO_HANDLE,
    functions=Functions.TRACED,
)
