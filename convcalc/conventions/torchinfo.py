"""torchinfo's ``summary()``: its params, "Mult-Adds" and memory estimate.

Verified against torchinfo 1.8.0: ``torchinfo/layer_info.py`` (``LayerInfo.calculate_macs``:
a module's every weight and bias × the output positions for a class named ``*Conv*``, × the
batch for any other module with parameters; modules without parameters count nothing) and
``torchinfo/model_statistics.py`` (totals: "Forward/backward pass size" is 2 × the output bytes
of the leaf modules *that have parameters*, each call counted; "Params size" the parameters'
bytes; "Estimated Total Size" input + both, all in MB of 10⁶ bytes).
"""

from __future__ import annotations

from convcalc.conventions.rules import Convention, Rule, positions
from convcalc.report import Row


def params_per_position(row: Row, batch: int) -> int:
    """Weights and bias × N × H_out × W_out."""
    return row.params * positions(row, batch)


def params_per_sample(row: Row, batch: int) -> int:
    """Every parameter × N (output_size[0])."""
    return row.params * batch


CONV = Rule("weights + bias × output positions (N·H·W)", params_per_position)
WITH_PARAMS = Rule("params × N", params_per_sample)

RULES = {
    "conv": CONV,
    # "ConvTranspose2d" contains "Conv": the output positions, not the input's.
    "deconv": CONV,
    "fc": WITH_PARAMS,
    "batchnorm": WITH_PARAMS,
    "layernorm": WITH_PARAMS,
    "groupnorm": WITH_PARAMS,
    "instancenorm": WITH_PARAMS,
    "prelu": WITH_PARAMS,
}

TORCHINFO = Convention(
    name="torchinfo",
    tool="torchinfo",
    version="1.8.0",
    ops_label="Mult-Adds",
    rules=RULES,
    # Every other module: no parameters, so no Mult-Adds and no pass-size bytes.
    other=Rule("0 (no parameters)"),
    memory=True,
)
