"""The kinds for any CNN, on hand-computed cases: resampling, rearranging and the small
elementwise layers."""

from __future__ import annotations

import pytest

from convcalc.errors import OptionError, ShapeError
from convcalc.layers import LAYER_KINDS
from convcalc.layers.activation import Identity, LayerScale, StochasticDepth
from convcalc.layers.norm import LayerNorm
from convcalc.layers.rearrange import ChannelShuffle, Crop, Pad, Slice
from convcalc.layers.resample import PixelShuffle, PixelUnshuffle, Upsample


def test_upsample_floors_the_double_product() -> None:
    """100 × 0.29 = 28.999999999999996 in double precision: PyTorch gives 28."""
    assert Upsample(scale=0.29).apply((3, 100, 100)).output == (3, 28, 28)
    assert Upsample(scale=2.0, mode="bilinear").apply((8, 7, 5)).output == (8, 14, 10)
    assert Upsample(scale=(2.0, 1.5)).apply((8, 7, 5)).output == (8, 14, 7)
    assert Upsample(size=(9, 4)).apply((8, 7, 5)).output == (8, 9, 4)


def test_upsample_options_are_checked() -> None:
    with pytest.raises(OptionError, match="give either `scale` or `size`"):
        Upsample()
    with pytest.raises(OptionError, match="give either"):
        Upsample(scale=2.0, size=4)
    with pytest.raises(OptionError, match="align_corners: only applies"):
        Upsample(scale=2.0, align_corners=True)
    with pytest.raises(ShapeError, match="an empty map"):
        Upsample(scale=0.1).apply((1, 5, 5))


def test_upsample_field_divides_the_jump() -> None:
    nearest = Upsample(scale=2.0).apply((1, 8, 8)).rf.axes[0]
    assert (nearest.span, nearest.stride, nearest.offset) == (0.0, 0.5, 0.0)
    bilinear = Upsample(scale=2.0, mode="bilinear").apply((1, 8, 8)).rf.axes[0]
    assert (bilinear.span, bilinear.stride, bilinear.offset) == (1.0, 0.5, -0.25)


def test_bilinear_jacobian_counts_the_border() -> None:
    """2× bilinear on 4 cells: the first and last outputs read one cell, the others two."""
    assert Upsample(scale=2.0, mode="bilinear").jacobian_nonzeros((1, 1, 4), (1, 1, 8)) == 14


def test_pixel_shuffle_and_unshuffle() -> None:
    assert PixelShuffle(factor=2).apply((16, 5, 5)).output == (4, 10, 10)
    assert PixelUnshuffle(factor=2).apply((4, 10, 10)).output == (16, 5, 5)
    with pytest.raises(ShapeError, match="do not divide by factor² = 4"):
        PixelShuffle(factor=2).apply((6, 5, 5))
    with pytest.raises(ShapeError, match="9×10 does not divide by factor 2"):
        PixelUnshuffle(factor=2).apply((4, 9, 10))


def test_center_crop_rounds_half_to_even_as_torchvision() -> None:
    """U-Net's first skip: 64×568×568 → 392×392, top = round(176/2) = 88."""
    outcome = Crop(size=392).apply((64, 568, 568))
    assert outcome.output == (64, 392, 392)
    assert outcome.rf.axes[0].offset == 88
    # (7 − 4)/2 = 1.5 rounds to 2, (5 − 4)/2 = 0.5 rounds to 0.
    assert [axis.offset for axis in Crop(size=4).apply((1, 7, 5)).rf.axes] == [2, 0]
    assert Crop(top=1, bottom=2, left=0, right=3).apply((2, 8, 8)).output == (2, 5, 5)
    with pytest.raises(ShapeError, match="crop: 9×9 does not fit in the 8×8 input"):
        Crop(size=9).apply((1, 8, 8))
    with pytest.raises(OptionError, match="either `size` or margins"):
        Crop(size=4, top=1)


def test_pad_grows_and_checks_reflect() -> None:
    assert Pad(pad=(1, 2, 3, 4)).apply((2, 5, 5)).output == (2, 8, 12)
    assert Pad(pad=(1, 2)).apply((2, 5, 5)).output == (2, 7, 9)
    assert Pad(pad=1).jacobian_nonzeros((2, 5, 5), (2, 7, 7)) == 50
    assert Pad(pad=1, mode="reflect").jacobian_nonzeros((2, 5, 5), (2, 7, 7)) == 98
    with pytest.raises(ShapeError, match="reflect padding must be smaller"):
        Pad(pad=5, mode="reflect").apply((2, 5, 5))


def test_slice_and_channel_shuffle() -> None:
    assert Slice(channels=(0, 58)).apply((116, 28, 28)).output == (58, 28, 28)
    with pytest.raises(ShapeError, match=r"channels \[50, 120\) go beyond the 116"):
        Slice(channels=(50, 120)).apply((116, 28, 28))
    with pytest.raises(OptionError, match="0 ≤ start < end"):
        Slice(channels=(4, 4))
    assert ChannelShuffle(groups=2).apply((116, 28, 28)).output == (116, 28, 28)
    with pytest.raises(ShapeError, match="do not split into 3 groups"):
        ChannelShuffle(groups=3).apply((116, 28, 28))


def test_layerscale_stochastic_depth_identity() -> None:
    assert LayerScale().apply((96, 56, 56)).params == 96
    assert StochasticDepth(p=0.1).is_identity(training=False)
    assert not StochasticDepth(p=0.1).is_identity(training=True)
    saved = StochasticDepth(p=0.1, mode="batch").saved_tensors((4, 2, 2), (4, 2, 2), 8)
    assert saved.extra is not None and saved.extra.values == 1
    assert Identity().is_identity(training=True)


def test_layernorm_over_channels_is_convnexts() -> None:
    outcome = LayerNorm(over="channels").apply((96, 56, 56))
    assert outcome.params == 192
    assert LayerNorm(over="channels").sets((96, 56, 56)) == 56 * 56
    assert "over the C channels at each position" in LayerNorm(over="channels").fold_refusal
    assert LayerNorm().apply((4, 2, 2)).params == 32


@pytest.mark.parametrize(
    "name",
    [
        "upsample", "interpolate", "resize", "pixelshuffle", "pixelunshuffle", "crop",
        "centercrop", "pad", "zeropad", "slice", "channelshuffle", "layerscale",
        "stochasticdepth", "droppath", "hardsigmoid", "mish", "identity",
    ],
)  # fmt: skip
def test_every_new_kind_is_registered(name: str) -> None:
    assert name in LAYER_KINDS
