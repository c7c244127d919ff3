"""fvcore's ``FlopCountAnalysis``: one handle per traced ATen operator; it calls one
multiply-add a "flop".

Verified against fvcore 0.1.5.post20221221: ``fvcore/nn/flop_count.py``
(``_DEFAULT_SUPPORTED_OPS``) and ``fvcore/nn/jit_handles.py`` (``conv_flop_count``,
``linear_flop_jit``, ``batchnorm_flop_jit`` in eval mode, ``norm_flop_counter``,
``elementwise_flop_counter``). Operators without a handle (relu, max and average pooling, add,
cat, flatten, dropout, softmax…) count 0. Parameters: ``fvcore.nn.parameter_count``, every one.
Tracing sees operators, so a function counts as the module would.
"""

from __future__ import annotations

from convcalc.conventions.rules import Convention, Functions, Rule, has, input_numel, own_macs
from convcalc.report import Row


def batchnorm_flops(row: Row, batch: int) -> int:
    """Input elements × 2 with γ, β (× 1 without): aten::batch_norm, eval mode."""
    return input_numel(row, batch) * (2 if has(row, "affine") else 1)


def norm_flops(row: Row, batch: int) -> int:
    """Input elements × 5 with γ, β (× 4 without): aten::group_norm, layer_norm, instance_norm."""
    return input_numel(row, batch) * (5 if has(row, "affine") else 4)


POOL = Rule("input elements (aten::adaptive_avg_pool2d)", input_numel)
NORM = Rule("input elements × 5 with γ, β, × 4 without", norm_flops)

RULES = {
    "conv": Rule("N·weights·H_out·W_out, no bias (aten::_convolution)", own_macs),
    "deconv": Rule("N·weights·H_in·W_in, no bias (aten::_convolution, transposed)", own_macs),
    "fc": Rule("input elements × out, no bias (aten::linear)", own_macs),
    "batchnorm": Rule("input elements × 2 with γ, β, × 1 without (eval)", batchnorm_flops),
    "layernorm": NORM,
    "groupnorm": NORM,
    "instancenorm": NORM,
    "adaptiveavgpool": POOL,
    "globalavgpool": POOL,
}

FVCORE = Convention(
    name="fvcore",
    tool="fvcore",
    version="0.1.5.post20221221",
    ops_label="flops",
    rules=RULES,
    other=Rule("0 (no handle for its operators)"),
    functions=Functions.TRACED,
)
