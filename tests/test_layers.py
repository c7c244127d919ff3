"""The layer arithmetic, checked on the course notes' worked examples and hand-computed cases."""

from __future__ import annotations

import pytest

from convcalc.errors import OptionError, ShapeError
from convcalc.layers.activation import PReLU, ReLU
from convcalc.layers.conv import Conv, Deconv
from convcalc.layers.dense import FC, Flatten
from convcalc.layers.norm import BatchNorm, GroupNorm, InstanceNorm, LayerNorm
from convcalc.layers.pooling import AdaptiveAvgPool, AvgPool, GlobalAvgPool, MaxPool


def test_notes_worked_example() -> None:
    """3×32×32, 10 filters 3×5×5, stride 1, pad 2 → 10×32×32 and 760 params."""
    outcome = Conv(filters=10, kernel=5, stride=1, pad=2).apply((3, 32, 32))
    assert outcome.output == (10, 32, 32)
    assert outcome.params == 760
    assert outcome.macs == 10 * 3 * 5 * 5 * 32 * 32
    formulas = {d.quantity: f"{d.formula} = {d.value}" for d in outcome.derivations}
    assert formulas["height"] == "(32 − 5 + 2·2)/1 + 1 = 32"
    assert formulas["params"] == "10 × (3·5·5 + 1) = 760"


def test_one_by_one_conv() -> None:
    """32×6×6 with 16 1×1 filters → 16×6×6, 16·(32 + 1) = 528 params."""
    outcome = Conv(filters=16, kernel=1).apply((32, 6, 6))
    assert outcome.output == (16, 6, 6)
    assert outcome.params == 528


def test_stride_that_does_not_fit_floors_and_warns() -> None:
    """(7 − 3)/3 + 1 = 2.33 → 2; the last input row and column are never read."""
    outcome = Conv(filters=1, kernel=3, stride=3).apply((1, 7, 7))
    assert outcome.output == (1, 2, 2)
    assert outcome.derivations[0].formula == "⌊(7 − 3 + 2·0)/3 + 1⌋ = ⌊7/3⌋"
    assert len(outcome.warnings) == 2
    assert "last 1 input row is never read" in outcome.warnings[0]


def test_padding_only_slack_is_not_a_warning() -> None:
    """ResNet's stem, 7×7/2 pad 3 on 224: the unused cell is padding."""
    outcome = Conv(filters=64, kernel=7, stride=2, pad=3).apply((3, 224, 224))
    assert outcome.output == (64, 112, 112)
    assert outcome.warnings == ()


def test_one_by_one_stride_two_skips_rows_by_design() -> None:
    outcome = Conv(filters=8, kernel=1, stride=2).apply((4, 16, 16))
    assert outcome.output == (8, 8, 8)
    assert outcome.warnings == ()


def test_dilation_widens_the_kernel() -> None:
    """K_eff = 2·(3 − 1) + 1 = 5: 32 → 28 without padding; RF grows by 4."""
    outcome = Conv(filters=4, kernel=3, dilation=2).apply((3, 32, 32))
    assert outcome.output == (4, 28, 28)
    assert outcome.rf.axes[0].span == 4


def test_groups_and_depthwise() -> None:
    grouped = Conv(filters=64, kernel=3, pad=1, groups=4).apply((32, 8, 8))
    assert grouped.params == 64 * (8 * 9 + 1)
    depthwise = Conv(filters=32, kernel=3, pad=1, groups="depthwise", bias=False).apply((32, 8, 8))
    assert depthwise.params == 32 * 9
    with pytest.raises(ShapeError, match="do not split into 3 groups"):
        Conv(filters=6, kernel=3, groups=3).apply((4, 8, 8))


def test_same_padding_with_stride_two_on_odd_sizes() -> None:
    """TensorFlow's `same`: out = ⌈W/S⌉, the odd padding cell at the bottom/right."""
    outcome = Conv(filters=1, kernel=3, stride=2, pad="same").apply((1, 7, 7))
    assert outcome.output == (1, 4, 4)
    outcome = Conv(filters=1, kernel=4, stride=2, pad="same").apply((1, 9, 9))
    assert outcome.output == (1, 5, 5)


def test_rectangular_everything() -> None:
    outcome = Conv(filters=2, kernel=(3, 5), stride=(1, 2), pad=(1, 2)).apply((1, 10, 20))
    assert outcome.output == (2, 10, 10)
    assert outcome.params == 2 * (15 + 1)


def test_kernel_larger_than_padded_input() -> None:
    with pytest.raises(ShapeError, match="kernel covers 7 but the padded input is only 5"):
        Conv(filters=1, kernel=7, pad=1).apply((1, 3, 3))


def test_filter_channels_must_match_input() -> None:
    with pytest.raises(ShapeError, match="filters have 6 channels but the input has 3"):
        Conv(filters=10, kernel=5, in_channels=6).apply((3, 32, 32))


def test_invalid_option_values() -> None:
    with pytest.raises(OptionError, match="kernel: must be ≥ 1"):
        Conv(filters=1, kernel=0)
    with pytest.raises(OptionError, match="output_padding"):
        Deconv(filters=1, kernel=3, stride=2, output_padding=2)


def test_deconv_doubles() -> None:
    """(W − 1)·S − 2P + D(K − 1) + output_padding + 1: 16 → 32 with K 4, S 2, P 1."""
    outcome = Deconv(filters=8, kernel=4, stride=2, pad=1).apply((16, 16, 16))
    assert outcome.output == (8, 32, 32)
    assert outcome.params == 16 * 8 * 16 + 8
    assert outcome.macs == 16 * 8 * 16 * 16 * 16
    assert outcome.rf.axes[0].stride == 0.5


def test_pools() -> None:
    assert MaxPool(kernel=2).apply((10, 32, 32)).output == (10, 16, 16)
    assert MaxPool(kernel=3, stride=2, ceil_mode=True).apply((1, 6, 6)).output == (1, 3, 3)
    # ceil_mode drops a last window that would start in the right padding
    assert MaxPool(kernel=2, stride=2, pad=1, ceil_mode=True).apply((1, 5, 5)).output == (1, 3, 3)
    assert AvgPool(kernel=3, stride=1, pad=1).apply((4, 9, 9)).output == (4, 9, 9)
    with pytest.raises(OptionError, match="more than half the kernel"):
        MaxPool(kernel=2, pad=2).apply((1, 8, 8))


def test_adaptive_and_global_pools() -> None:
    assert AdaptiveAvgPool(output=(6, 6)).apply((256, 13, 13)).output == (256, 6, 6)
    gap = GlobalAvgPool().apply((2048, 7, 7))
    assert gap.output == (2048, 1, 1)
    assert gap.rf.is_global


def test_flatten_and_fc() -> None:
    assert Flatten().apply((10, 16, 16)).output == (2560,)
    fc = FC(out=10).apply((2560,))
    assert fc.params == 25_610
    assert fc.macs == 25_600
    with pytest.raises(ShapeError, match="add `flatten`"):
        FC(out=10).apply((10, 16, 16))


def test_norms() -> None:
    bn = BatchNorm().apply((64, 56, 56))
    assert (bn.params, bn.buffers) == (128, 128)
    assert LayerNorm().apply((8, 4, 4)).params == 2 * 8 * 4 * 4
    assert GroupNorm(groups=32).apply((64, 8, 8)).params == 128
    assert InstanceNorm().apply((64, 8, 8)).params == 0
    with pytest.raises(ShapeError, match="1×1 map"):
        InstanceNorm().apply((64, 1, 1))
    with pytest.raises(ShapeError, match="do not split"):
        GroupNorm(groups=3).apply((64, 8, 8))


def test_elementwise() -> None:
    assert ReLU().apply((3, 4, 4)).output == (3, 4, 4)
    assert PReLU(shared=False).apply((16, 4, 4)).params == 16
    assert PReLU().apply((16, 4, 4)).params == 1


def test_pool_padding_limit_is_half_the_kernel_not_the_dilated_kernel() -> None:
    """PyTorch's pool2d_shape_check refuses P > K/2 even when the dilated kernel is wider."""
    with pytest.raises(OptionError, match=r"more than half the kernel \(3\)"):
        MaxPool(kernel=3, dilation=2, pad=2).apply((1, 11, 17))
    assert MaxPool(kernel=3, dilation=2, pad=1).apply((1, 11, 17)).output == (1, 3, 5)


def test_ceil_mode_window_may_overhang_a_small_input() -> None:
    """As PyTorch: ⌈(1 − 4)/4⌉ + 1 = 1 window over a 1-row input with ceil_mode, none without."""
    assert MaxPool(kernel=4, ceil_mode=True).apply((1, 1, 15)).output == (1, 1, 4)
    assert AvgPool(kernel=3, ceil_mode=True).apply((1, 2, 2)).output == (1, 1, 1)
    with pytest.raises(ShapeError, match="kernel covers 4 but the padded input is only 1"):
        MaxPool(kernel=4).apply((1, 1, 15))


def test_grouped_filter_depth_may_be_per_group() -> None:
    """F × C/groups × K × K is the weight shape of a grouped conv; C is accepted too."""
    assert Conv(filters=8, kernel=3, groups=2, in_channels=2).apply((4, 8, 8)).params == 152
    assert Conv(filters=8, kernel=3, groups=2, in_channels=4).apply((4, 8, 8)).params == 152
    with pytest.raises(ShapeError, match="filters have 3 channels"):
        Conv(filters=8, kernel=3, groups=2, in_channels=3).apply((4, 8, 8))


def test_layers_are_values_that_print_as_a_spec_writes_them() -> None:
    """Kinds compare and hash by their options (the analysis caches outcomes by layer) and
    cannot change; their repr lists the options that differ from the defaults."""
    conv = Conv(filters=10, kernel=5, pad=2)
    assert conv == Conv(filters=10, kernel=5, pad=2)
    assert hash(conv) == hash(Conv(filters=10, kernel=5, pad=2))
    assert conv != Conv(filters=10, kernel=5)
    with pytest.raises(AttributeError):
        conv.filters = 3  # type: ignore[misc]
    assert repr(conv) == "Conv(filters=10, kernel=5, pad=2)"
    assert repr(MaxPool(kernel=(2, 3))) == "MaxPool(kernel=(2, 3))"
    assert repr(ReLU()) == "ReLU()"


def test_a_kind_cannot_take_another_kinds_name() -> None:
    from convcalc.layers import LAYER_KINDS
    from convcalc.layers.base import Layer

    with pytest.raises(TypeError, match=r"layer type 'bn' of .*Clash is already BatchNorm's"):

        class Clash(Layer):
            type_name = "shortcut"
            aliases = ("bn",)

    assert LAYER_KINDS["bn"].__name__ == "BatchNorm"
    assert "shortcut" not in LAYER_KINDS
