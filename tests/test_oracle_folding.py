"""BN folding against PyTorch: ``torch.nn.utils.fusion`` fuses random conv→bn and fc→bn pairs;
their parameter counts must equal convcalc's ``params_after``, the fused layer must compute what
conv→bn computes in eval mode, and the formula convcalc prints must give torch's fused weights.
Forward folding (BN → conv), which torch does not offer, is checked by hand the same way."""

from __future__ import annotations

import random
from typing import Any

import pytest

from convcalc.analysis import analyze
from convcalc.folding import FOLDED_BIAS, FOLDED_WEIGHT
from convcalc.loader import parse_spec
from convcalc.report import Folding

torch = pytest.importorskip(
    "torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
fusion = pytest.importorskip("torch.nn.utils.fusion")

pytestmark = pytest.mark.oracle


def folding_of(input_shape: str, layers: str) -> Folding:
    """convcalc's folding of a small spec."""
    return analyze(parse_spec(f"input: {input_shape}\nlayers:\n{layers}")).folding


def random_bn(kind: Any, channels: int, rng: random.Random) -> Any:
    """A batchnorm in eval mode with random running statistics, γ, β and ε (float64)."""
    bn = kind(channels, eps=rng.choice([1e-5, 1e-3, 0.1])).double().eval()
    with torch.no_grad():
        bn.running_mean.copy_(torch.randn(channels, dtype=torch.float64))
        bn.running_var.copy_(torch.rand(channels, dtype=torch.float64) + 0.5)
        bn.weight.copy_(torch.randn(channels, dtype=torch.float64))
        bn.bias.copy_(torch.randn(channels, dtype=torch.float64))
    return bn


def hand_folded(weight: Any, bias: Any | None, bn: Any, axis: int) -> tuple[Any, Any]:
    """convcalc's printed formula, computed by hand: W' = W·γ/√(σ²+ε) along the output-channel
    ``axis``, b' = (b − μ)·γ/√(σ²+ε) + β with b = 0 when there is no bias."""
    assert FOLDED_WEIGHT == "W' = W·γ/√(σ²+ε)"
    assert FOLDED_BIAS == "b' = (b − μ)·γ/√(σ²+ε) + β"
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    shape = [1] * weight.dim()
    shape[axis] = -1
    b = bias if bias is not None else torch.zeros_like(bn.running_mean)
    return weight * scale.reshape(shape), (b - bn.running_mean) * scale + bn.bias


def count(module: Any) -> int:
    """Parameters of a torch module."""
    return sum(parameter.numel() for parameter in module.parameters())


@pytest.mark.parametrize("seed", range(6))
def test_random_conv_bn_pairs(seed: int) -> None:
    rng = random.Random(seed)
    torch.manual_seed(seed)
    channels, filters = rng.randint(1, 4), rng.randint(1, 6)
    groups = rng.choice([g for g in (1, 2) if channels % g == 0 and filters % g == 0])
    kernel, stride, pad = rng.randint(1, 3), rng.randint(1, 2), rng.randint(0, 1)
    bias = rng.random() < 0.5
    size = rng.randint(kernel + 2, 8)
    folding = folding_of(
        f"{channels}x{size}x{size}",
        f"  - conv: {{filters: {filters}, kernel: {kernel}, stride: {stride}, pad: {pad}, "
        f"groups: {groups}, bias: {str(bias).lower()}}}\n  - bn",
    )
    conv = (
        torch.nn.Conv2d(channels, filters, kernel, stride, pad, groups=groups, bias=bias)
        .double()
        .eval()
    )
    bn = random_bn(torch.nn.BatchNorm2d, filters, rng)
    fused = fusion.fuse_conv_bn_eval(conv, bn)
    assert len(folding.folded) == 1
    assert folding.params_after == count(fused)
    assert folding.buffers_after == sum(buffer.numel() for buffer in fused.buffers()) == 0

    x = torch.randn(2, channels, size, size, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), bn(conv(x)))
        weight, shift = hand_folded(conv.weight, conv.bias, bn, axis=0)
    torch.testing.assert_close(weight, fused.weight.detach())
    torch.testing.assert_close(shift, fused.bias.detach())


@pytest.mark.parametrize("seed", range(4))
def test_random_fc_bn_pairs(seed: int) -> None:
    rng = random.Random(100 + seed)
    torch.manual_seed(100 + seed)
    inputs, outputs = rng.randint(1, 12), rng.randint(1, 8)
    bias = rng.random() < 0.5
    folding = folding_of(
        str(inputs), f"  - fc: {{out: {outputs}, bias: {str(bias).lower()}}}\n  - bn"
    )
    linear = torch.nn.Linear(inputs, outputs, bias=bias).double().eval()
    bn = random_bn(torch.nn.BatchNorm1d, outputs, rng)
    fused = fusion.fuse_linear_bn_eval(linear, bn)
    assert len(folding.folded) == 1
    assert folding.params_after == count(fused)

    x = torch.randn(3, inputs, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), bn(linear(x)))
        weight, shift = hand_folded(linear.weight, linear.bias, bn, axis=0)
    torch.testing.assert_close(weight, fused.weight.detach())
    torch.testing.assert_close(shift, fused.bias.detach())


@pytest.mark.parametrize("seed", range(2))
def test_random_deconv_bn_pairs(seed: int) -> None:
    """A transposed conv's weight is C×F×K×K: the scale goes along axis 1."""
    rng = random.Random(200 + seed)
    torch.manual_seed(200 + seed)
    channels, filters, kernel, stride = rng.randint(1, 3), rng.randint(1, 4), 2, 2
    folding = folding_of(
        f"{channels}x4x4",
        f"  - deconv: {{filters: {filters}, kernel: {kernel}, stride: {stride}, bias: false}}\n"
        "  - bn",
    )
    deconv = torch.nn.ConvTranspose2d(channels, filters, kernel, stride, bias=False).double()
    bn = random_bn(torch.nn.BatchNorm2d, filters, rng)
    fused = fusion.fuse_conv_bn_eval(deconv.eval(), bn, transpose=True)
    assert folding.params_after == count(fused)
    x = torch.randn(2, channels, 4, 4, dtype=torch.float64)
    with torch.no_grad():
        torch.testing.assert_close(fused(x), bn(deconv(x)))
        weight, shift = hand_folded(deconv.weight, None, bn, axis=1)
    torch.testing.assert_close(weight, fused.weight.detach())
    torch.testing.assert_close(shift, fused.bias.detach())


def forward_folded(bn: Any, conv: Any) -> Any:
    """BN → conv as one conv: W'[f, c] = W[f, c]·a[c], b'[f] = b[f] + Σ W[f, c]·s[c] with
    a = γ/√(σ²+ε), s = β − μ·a (the forward fold of folding.py's docstring)."""
    a = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    s = bn.bias - bn.running_mean * a
    fused = torch.nn.Conv2d(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding
    ).double()
    with torch.no_grad():
        fused.weight.copy_(conv.weight * a.reshape(1, -1, 1, 1))
        base = conv.bias if conv.bias is not None else torch.zeros(conv.out_channels)
        fused.bias.copy_(base + (conv.weight * s.reshape(1, -1, 1, 1)).sum(dim=(1, 2, 3)))
    return fused


@pytest.mark.parametrize(("seed", "pad"), [(0, 0), (1, 0), (2, 1), (3, 1)])
def test_forward_folding_is_exact_only_without_padding(seed: int, pad: int) -> None:
    """convcalc folds BN → conv forward exactly when the fused conv equals BN → conv."""
    rng = random.Random(300 + seed)
    torch.manual_seed(300 + seed)
    channels, filters = rng.randint(1, 4), rng.randint(1, 4)
    folding = folding_of(
        f"{channels}x6x6",
        f"  - relu\n  - bn\n  - conv: {{filters: {filters}, kernel: 3, pad: {pad}, bias: false}}",
    )
    bn = random_bn(torch.nn.BatchNorm2d, channels, rng)
    conv = torch.nn.Conv2d(channels, filters, 3, padding=pad, bias=False).double().eval()
    fused = forward_folded(bn, conv)
    x = torch.randn(2, channels, 6, 6, dtype=torch.float64)
    with torch.no_grad():
        exact = torch.allclose(fused(x), conv(bn(x)))
    assert exact == (pad == 0)
    assert (len(folding.forward) == 1) == exact
    if exact:
        assert folding.params_after_forward == count(fused)
        assert "fold forward into conv1 instead" in folding.not_folded[0].reason
    else:
        assert "zero-pads its input (pad 1)" in folding.not_folded[0].reason
