"""Invariants of the single-layer arithmetic, checked by hypothesis on random geometries.

Each property is stated independently of convcalc's own code path (direct enumeration of window
positions, PyTorch's pooling rule written out, the notes' closed forms), so a wrong formula in
convcalc/layers cannot agree with it by construction.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from convcalc.errors import OptionError, ShapeError
from convcalc.layers.conv import Conv, Deconv
from convcalc.layers.dense import FC
from convcalc.layers.pooling import AvgPool, MaxPool
from convcalc.receptive import ReceptiveField

# Few examples each: the whole suite shares two cores; the generators cover small edge cases.
FAST = settings(max_examples=60, deadline=None)

sizes = st.integers(min_value=1, max_value=40)
kernels = st.integers(min_value=1, max_value=7)
strides = st.integers(min_value=1, max_value=5)
dilations = st.integers(min_value=1, max_value=3)
pads = st.integers(min_value=0, max_value=4)


def window_starts(width: int, kernel: int, stride: int, pad: int, dilation: int) -> list[int]:
    """Every start 0, S, 2S, … (in padded coordinates) whose window K_eff fits in W + 2P."""
    k_eff = dilation * (kernel - 1) + 1
    return [
        start for start in range(0, width + 2 * pad, stride) if start + k_eff <= width + 2 * pad
    ]


def torch_pool_size(
    width: int, kernel: int, stride: int, pad: int, dilation: int, ceil: bool
) -> int:
    """PyTorch's ``pooling_output_shape`` (aten/src/ATen/native/Pool.h), written out.

    out = ⌊(W + 2P − D(K−1) − 1 + (S − 1 if ceil))/S⌋ + 1, and with ceil_mode a last window
    that would start at or beyond W + P (the input plus the left padding) is dropped.
    """
    out = (
        width + 2 * pad - dilation * (kernel - 1) - 1 + (stride - 1 if ceil else 0)
    ) // stride + 1
    if ceil and (out - 1) * stride >= width + pad:
        out -= 1
    return out


@FAST
@given(
    height=sizes,
    width=sizes,
    kh=kernels,
    kw=kernels,
    dilation=dilations,
    channels=st.integers(1, 4),
)
def test_same_with_stride_one_keeps_the_size(
    height: int, width: int, kh: int, kw: int, dilation: int, channels: int
) -> None:
    outcome = Conv(filters=2, kernel=(kh, kw), pad="same", dilation=dilation).apply(
        (channels, height, width)
    )
    assert outcome.output == (2, height, width)
    assert outcome.warnings == ()


@FAST
@given(height=sizes, width=sizes, kernel=kernels, sh=strides, sw=strides, dilation=dilations)
def test_same_with_stride_gives_ceil(
    height: int, width: int, kernel: int, sh: int, sw: int, dilation: int
) -> None:
    outcome = Conv(filters=1, kernel=kernel, stride=(sh, sw), pad="same", dilation=dilation).apply(
        (1, height, width)
    )
    assert outcome.output == (1, math.ceil(height / sh), math.ceil(width / sw))


@FAST
@given(width=sizes, kernel=kernels, stride=strides, pad=pads, dilation=dilations)
def test_conv_output_is_the_number_of_window_positions(
    width: int, kernel: int, stride: int, pad: int, dilation: int
) -> None:
    """Rows and columns both: a rectangular input keeps the other axis trivially valid."""
    starts = window_starts(width, kernel, stride, pad, dilation)
    conv = Conv(
        filters=1, kernel=(kernel, 1), stride=(stride, 1), pad=(pad, 0), dilation=(dilation, 1)
    )
    if not starts:
        with pytest.raises(ShapeError, match="the kernel covers"):
            conv.apply((1, width, 1))
        return
    assert conv.apply((1, width, 1)).output == (1, len(starts), 1)
    transposed = Conv(
        filters=1, kernel=(1, kernel), stride=(1, stride), pad=(0, pad), dilation=(1, dilation)
    )
    assert transposed.apply((1, 1, width)).output == (1, 1, len(starts))


@FAST
@given(positions=st.integers(1, 8), kernel=kernels, stride=strides, pad=pads, dilation=dilations)
def test_a_stride_that_fits_never_warns(
    positions: int, kernel: int, stride: int, pad: int, dilation: int
) -> None:
    """W + 2P = K_eff + (n − 1)·S exactly: every row is read, so no warning, n outputs."""
    k_eff = dilation * (kernel - 1) + 1
    width = k_eff + (positions - 1) * stride - 2 * pad
    assume(width >= 1)
    outcome = Conv(filters=1, kernel=kernel, stride=stride, pad=pad, dilation=dilation).apply(
        (1, width, width)
    )
    assert outcome.output == (1, positions, positions)
    assert outcome.warnings == ()


@FAST
@given(
    width=sizes,
    kernel=kernels,
    stride=strides,
    pad=pads,
    dilation=dilations,
    ceil=st.booleans(),
)
def test_maxpool_matches_pytorchs_rule(
    width: int, kernel: int, stride: int, pad: int, dilation: int, ceil: bool
) -> None:
    pool = MaxPool(kernel=kernel, stride=stride, pad=pad, dilation=dilation, ceil_mode=ceil)
    # PyTorch's pool2d_shape_check: "pad should be smaller than or equal to half of kernel size"
    # (the kernel, not the dilated one).
    if pad > kernel // 2:
        with pytest.raises(OptionError, match="more than half the kernel"):
            pool.apply((1, width, width))
        return
    expected = torch_pool_size(width, kernel, stride, pad, dilation, ceil)
    if expected < 1:
        with pytest.raises(ShapeError, match="the kernel covers"):
            pool.apply((1, width, width))
        return
    assert pool.apply((3, width, width)).output == (3, expected, expected)


@FAST
@given(width=sizes, kernel=kernels, stride=strides, pad=pads, ceil=st.booleans())
def test_avgpool_matches_pytorchs_rule(
    width: int, kernel: int, stride: int, pad: int, ceil: bool
) -> None:
    assume(pad <= kernel // 2 and torch_pool_size(width, kernel, stride, pad, 1, ceil) >= 1)
    outcome = AvgPool(kernel=(kernel, 1), stride=(stride, 1), pad=(pad, 0), ceil_mode=ceil).apply(
        (2, width, 5)
    )
    assert outcome.output[1] == torch_pool_size(width, kernel, stride, pad, 1, ceil)


@FAST
@given(width=sizes, kernel=kernels, stride=strides, pad=pads)
def test_ceil_mode_adds_at_most_one_window_that_starts_in_the_input(
    width: int, kernel: int, stride: int, pad: int
) -> None:
    assume(pad <= kernel // 2 and width + 2 * pad >= kernel)
    floor = MaxPool(kernel=kernel, stride=stride, pad=pad).apply((1, width, width)).output[1]
    ceil = MaxPool(kernel=kernel, stride=stride, pad=pad, ceil_mode=True)
    rounded = ceil.apply((1, width, width)).output[1]
    assert floor <= rounded <= floor + 1
    # the last window starts inside the input or its left padding
    assert (rounded - 1) * stride < width + pad


@FAST
@given(width=sizes, kernel=kernels, stride=strides, pad=pads, dilation=dilations)
def test_deconv_inverts_conv_sizes(
    width: int, kernel: int, stride: int, pad: int, dilation: int
) -> None:
    """ConvTranspose with the conv's geometry and output_padding = the conv's floored remainder
    maps the conv's output size back to its input size."""
    k_eff = dilation * (kernel - 1) + 1
    assume(width + 2 * pad >= k_eff)
    remainder = (width + 2 * pad - k_eff) % stride
    assume(remainder < max(stride, dilation))
    conv = Conv(filters=3, kernel=kernel, stride=stride, pad=pad, dilation=dilation)
    down = conv.apply((2, width, width)).output
    deconv = Deconv(
        filters=2,
        kernel=kernel,
        stride=stride,
        pad=pad,
        dilation=dilation,
        output_padding=remainder,
    )
    assert deconv.apply(down).output == (2, width, width)


@FAST
@given(
    channels=st.integers(1, 6),
    filters=st.integers(1, 6),
    groups=st.integers(1, 3),
    kh=kernels,
    kw=kernels,
    bias=st.booleans(),
    scale=st.integers(2, 5),
)
def test_params_and_macs_are_linear_in_filters(
    channels: int, filters: int, groups: int, kh: int, kw: int, bias: bool, scale: int
) -> None:
    """params(n·F) = n·params(F) for conv and deconv (groups fixed), MACs too."""
    shape = (channels * groups, 9, 9)
    for kind in (Conv, Deconv):
        one = kind(filters=filters * groups, kernel=(kh, kw), groups=groups, bias=bias)
        many = kind(filters=filters * groups * scale, kernel=(kh, kw), groups=groups, bias=bias)
        a, b = one.apply(shape), many.apply(shape)
        assert b.params == scale * a.params
        assert b.macs == scale * a.macs


@FAST
@given(
    channels=st.integers(1, 6),
    filters=st.integers(1, 8),
    groups=st.integers(1, 3),
    kernel=kernels,
    stride=strides,
    pad=pads,
    bias=st.booleans(),
)
def test_conv_macs_are_weights_times_output_positions(
    channels: int, filters: int, groups: int, kernel: int, stride: int, pad: int, bias: bool
) -> None:
    """Conv: MACs = weights·H_out·W_out (bias not counted)."""
    shape = (channels * groups, 12, 10)
    assume(10 + 2 * pad >= kernel)
    conv = Conv(
        filters=filters * groups, kernel=kernel, stride=stride, pad=pad, groups=groups, bias=bias
    ).apply(shape)
    weights = conv.params - filters * groups * int(bias)
    assert weights == filters * groups * channels * kernel * kernel
    assert conv.macs == weights * conv.output[1] * conv.output[2]


@FAST
@given(
    inputs=st.integers(1, 5000), out=st.integers(1, 50), scale=st.integers(2, 5), bias=st.booleans()
)
def test_fc_params_are_linear_in_outputs(inputs: int, out: int, scale: int, bias: bool) -> None:
    one, many = (
        FC(out=out, bias=bias).apply((inputs,)),
        FC(out=out * scale, bias=bias).apply((inputs,)),
    )
    assert many.params == scale * one.params == scale * (inputs + int(bias)) * out
    assert many.macs == scale * one.macs == scale * inputs * out


@FAST
@given(layers=st.integers(1, 12), kernel=kernels, dilation=dilations, same=st.booleans())
def test_stacked_stride_one_convs_see_one_plus_l_times_k_minus_one(
    layers: int, kernel: int, dilation: int, same: bool
) -> None:
    """The notes' 1 + L(K − 1), with K_eff for dilated kernels; padding does not change it."""
    k_eff = dilation * (kernel - 1) + 1
    conv = Conv(filters=2, kernel=kernel, dilation=dilation, pad="same" if same else 0)
    size = 64 if same else layers * (k_eff - 1) + 1
    shape: tuple[int, ...] = (2, size, size)
    field = ReceptiveField()
    for _ in range(layers):
        outcome = conv.apply(shape)
        field = field.then(outcome.rf, (size, size))
        shape = outcome.output
    assert field.size == (1 + layers * (k_eff - 1), 1 + layers * (k_eff - 1))
    assert field.jump == (1, 1)
    assert not field.is_global


@FAST
@given(steps=st.lists(st.tuples(kernels, strides), min_size=1, max_size=4))
def test_jump_is_the_product_of_strides(steps: list[tuple[int, int]]) -> None:
    """j = ∏ S, and r = 1 + Σ (K_l − 1)·∏_{m<l} S_m (valid convs on a big enough input)."""
    size = 4000
    shape: tuple[int, ...] = (1, size, size)
    field = ReceptiveField()
    jump, expected = 1, 1
    for kernel, stride in steps:
        outcome = Conv(filters=1, kernel=kernel, stride=stride).apply(shape)
        field = field.then(outcome.rf, (size, size))
        shape = outcome.output
        expected += (kernel - 1) * jump
        jump *= stride
    assert field.jump == (jump, jump)
    assert field.size == (expected, expected)
