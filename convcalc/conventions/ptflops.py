"""ptflops's ``get_model_complexity_info`` with its default pytorch backend.

Verified against ptflops 0.7.5: ``ptflops/pytorch_ops.py`` (``MODULES_MAPPING``, the module
hooks, looked up by exact type; ``FUNCTIONAL_MAPPING``, the functions it wraps) and
``ptflops/pytorch_engine.py`` (``patch_functional``: ``F.relu``, ``F.elu``, ``F.gelu``,
``F.prelu``, ``F.relu6``, ``F.silu``, ``F.softmax``, the ``F.*pool*`` functions and
``F.interpolate`` are wrapped while the model runs; ``patch_tensor_ops``: ``torch.add``,
``torch.mul`` and their methods, but not the ``+`` and ``*`` operators). Modules such as
``nn.ReLU``, ``nn.MaxPool2d`` and ``nn.Upsample`` call the wrapped functions, so their elements
are counted twice: once by the module hook, once by the function. ``nn.ReLU6`` calls
``F.hardtanh``, which is not wrapped. Module counts are divided by the batch (per image), wrapped
functions' are not. ``x + y``, ``x * y`` and ``torch.cat`` are not counted. Parameters: every one
that requires grad, whether its module is hooked or not.
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
    bias_count,
    has,
    input_numel,
    output_numel,
    positions,
)
from convcalc.report import Row


def with_bias(row: Row, batch: int) -> int:
    """convcalc's MACs + one add per output element when there is a bias."""
    return row.macs + bias_count(row) * positions(row, batch)


def norm_elements(row: Row, batch: int) -> int:
    """Input elements × 2 when the module has an ``affine`` attribute that is true."""
    return input_numel(row, batch) * (2 if has(row, "affine") else 1)


def interpolated(row: Row, batch: int) -> int:
    """The wrapped ``F.interpolate``: N·C·H_out·W_out for a ``size``; for a ``scale``, input
    elements × scale² (one number) or × ⌊scale_h·scale_w⌋ (a pair) — the given scale, not the
    output's. (ptflops adds the float products up and rounds the total down; convcalc rounds
    each row's down, the same for every whole scale.)"""
    scale = getattr(row.layer, "scale", None)
    if scale is None:
        return output_numel(row, batch)
    if isinstance(scale, tuple):
        return input_numel(row, batch) * int(scale[0] * scale[1])
    return int(input_numel(row, batch) * scale**2)


TWICE = "output elements twice (module hook + wrapped F function)"
POOL_TWICE = "input elements twice (module hook + wrapped F function)"
NOT_COUNTED = Rule("0 (no hook, no wrapped function)")
NORM = Rule("input elements × 2 with affine, × 1 without", norm_elements)

RULES = {
    **dict.fromkeys(ACTIVATIONS, NOT_COUNTED),
    "relu": Rule(TWICE, output_numel, output_numel),
    "elu": Rule(TWICE, output_numel, output_numel),
    "gelu": Rule(TWICE, output_numel, output_numel),
    "prelu": Rule(TWICE, output_numel, output_numel),
    "relu6": Rule("output elements (hook; F.hardtanh is not wrapped)", output_numel),
    "leakyrelu": Rule("output elements (hook; F.leaky_relu is not wrapped)", output_numel),
    "silu": Rule("input elements (wrapped F.silu; no module hook)", patched=input_numel),
    "softmax": Rule("input elements (wrapped F.softmax; no module hook)", patched=input_numel),
    **dict.fromkeys(PASS_THROUGH, NOT_COUNTED),
    "layerscale": Rule("0 (x * γ: the * operator is not wrapped)"),
    "conv": Rule("MACs + bias: N·F·H_out·W_out per bias", with_bias),
    "deconv": Rule("MACs over the input positions + bias over the output", with_bias),
    "fc": Rule("MACs + bias: N·out", with_bias),
    "batchnorm": NORM,
    "instancenorm": NORM,
    "groupnorm": NORM,
    # nn.LayerNorm names its switch elementwise_affine: the hook's `affine` test misses it.
    "layernorm": Rule("input elements × 1 (the hook misses elementwise_affine)", input_numel),
    **dict.fromkeys(POOLS, Rule(POOL_TWICE, input_numel, input_numel)),
    "upsample": Rule(
        "output elements (hook) + wrapped F.interpolate: output elements (size) or input "
        "elements × scale² (scale)",
        output_numel,
        interpolated,
    ),
    **dict.fromkeys(REARRANGEMENTS, NOT_COUNTED),
    **dict.fromkeys(
        MERGES, Rule("0 (+ and * are not the wrapped torch.add, torch.mul; cat not wrapped)")
    ),
}

PTFLOPS = Convention(
    name="ptflops",
    tool="ptflops",
    version="0.7.5",
    ops_label="MACs",
    rules=RULES,
    unknown=Rule("0 (no hook for its type); params counted"),
    functions=Functions.PATCHED,
    per_sample_hooks=True,
    exact_types=True,
)
