"""Convolution and transposed convolution (deconvolution).

Both are fold targets: a batchnorm right after one is a per-channel affine map of its outputs and
multiplies into its weights and bias. Only a conv takes a batchnorm *before* it (forward), and
only without zero padding; see convcalc/folding.py.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from convcalc.errors import OptionError, ShapeError
from convcalc.layers.base import (
    MAX_PERIOD,
    AxisStep,
    Derivation,
    IntPair,
    Layer,
    Outcome,
    Padding,
    RFStep,
    Shape,
    derive,
    format_option,
    format_shape,
    pair,
    require_at_least,
)
from convcalc.layers.window import Window, taps_in_range, windows

Groups = int | Literal["depthwise"]


def resolve_groups(groups: Groups, channels: int, filters: int) -> int:
    """``depthwise`` means one group per input channel; both channel counts must divide."""
    count = channels if groups == "depthwise" else groups
    if channels % count:
        raise ShapeError(f"groups: {channels} input channels do not split into {count} groups")
    if filters % count:
        raise ShapeError(f"groups: {filters} filters do not split into {count} groups")
    return count


def check_filter_channels(declared: int | None, channels: int, groups: int) -> None:
    """The channel rule: a filter has as many channels as its input.

    With groups, each filter sees only its group's C/groups channels (PyTorch's weight shape is
    F × C/groups × KH × KW), so either the input's C or the per-group C/groups is accepted.
    """
    if declared is None or declared == channels:
        return
    if groups > 1 and declared == channels // groups:
        return
    per_group = f" ({channels // groups} per group)" if groups > 1 else ""
    raise ShapeError(
        f"in_channels: the filters have {declared} channels but the input has {channels}"
        f"{per_group}; a filter has as many channels as its input"
    )


@dataclass(frozen=True, kw_only=True, repr=False)
class FilterBank(Layer):
    """What conv and deconv share: F filters of KH×KW moved over an image with a stride (their
    first options, in this order), and being fold targets for a batchnorm right after them."""

    needs_image = True
    folds_batchnorm = True

    filters: int
    kernel: IntPair
    stride: IntPair = 1


@dataclass(frozen=True, kw_only=True, repr=False)
class Conv(FilterBank):
    """2-D convolution with F filters of C/groups × KH × KW.

    Output, per axis: ⌊(W + 2P − D(K−1) − 1)/S⌋ + 1 (the notes' (W − K + 2P)/S + 1).
    Params: F·(C/groups)·KH·KW + F·bias. MACs: F·(C/groups)·KH·KW·H_out·W_out.
    Receptive field per axis: span K_eff − 1, stride S, offset (K_eff − 1)/2 − P.
    """

    type_name = "conv"
    aliases = ("conv2d",)
    description = "a conv"

    pad: Padding = 0
    dilation: IntPair = 1
    groups: Groups = 1
    bias: bool = True
    in_channels: int | None = None

    def __post_init__(self) -> None:
        check_filter_options(self)

    def windows_of(self, shape: Shape) -> tuple[Window, Window]:
        """The height and width windows of this conv on a C×H×W input (padding resolved once)."""
        return windows(
            (shape[1], shape[2]),
            pair(self.kernel),
            pair(self.stride),
            self.pad,
            pair(self.dilation),
        )

    def output_of(self, shape: Shape) -> Outcome:
        channels = shape[0]
        groups = grouping(self, channels)
        rows, cols = self.windows_of(shape)
        kh, kw = pair(self.kernel)
        per_filter = channels // groups * kh * kw
        bias = " + 1" if self.bias else ""
        return filter_outcome(
            self.filters,
            (rows.output, cols.output),
            axis_derivations(rows, cols),
            params=self.filters * (per_filter + int(self.bias)),
            params_formula=f"{self.filters} × ({channels // groups}·{kh}·{kw}{bias})",
            weights=(self.filters, channels // groups, kh, kw),
            positions=(rows.output, cols.output),
            rf=RFStep((rows.rf_step, cols.rf_step)),
            warnings=window_warnings(rows, cols),
        )

    def jacobian_nonzeros(self, shape_in: Shape, shape_out: Shape) -> int:
        """F·(C/groups)·Σ taps_h·Σ taps_w: each output reads C/groups channels through the
        kernel taps that land on real input cells (see :attr:`Window.real_taps`)."""
        rows, cols = self.windows_of(shape_in)
        groups = resolve_groups(self.groups, shape_in[0], self.filters)
        return self.filters * (shape_in[0] // groups) * rows.real_taps * cols.real_taps

    def zero_padding(self, shape: Shape) -> str:
        """How this conv pads a C×H×W input, e.g. ``pad 1`` or ``pad same = 0+1 × 0+1``; empty if
        it does not."""
        pads = [(window.pad_before, window.pad_after) for window in self.windows_of(shape)]
        if not any(before or after for before, after in pads):
            return ""
        if isinstance(self.pad, str):
            sides = " × ".join(f"{before}+{after}" for before, after in pads)
            return f"pad {self.pad} = {sides}"
        return f"pad {format_option(self.pad)}"

    def forward_fold_refusal(self, shape_in: Shape) -> str | None:
        """A BN before a conv folds into its input channels, W'[f, c] = W[f, c]·a[c], unless the
        conv zero-pads: its padded zeros come after the BN, which no W' can reproduce."""
        padding = self.zero_padding(shape_in)
        if padding:
            return (
                f"which zero-pads its input ({padding}), and those padded zeros would not be "
                "normalised"
            )
        return None


def check_filter_options(layer: Conv | Deconv) -> None:
    """The checks conv and deconv share: filters, kernel, stride, dilation and in_channels ≥ 1,
    a numeric pad ≥ 0, groups ≥ 1 unless ``depthwise``."""
    require_at_least("filters", layer.filters, 1)
    require_at_least("kernel", layer.kernel, 1)
    require_at_least("stride", layer.stride, 1)
    require_at_least("dilation", layer.dilation, 1)
    require_at_least("in_channels", layer.in_channels, 1)
    if not isinstance(layer.pad, str):
        require_at_least("pad", layer.pad, 0)
    if layer.groups != "depthwise":
        require_at_least("groups", layer.groups, 1)


def grouping(layer: Conv | Deconv, channels: int) -> int:
    """The number of groups on ``channels`` input channels, once the channel rule is checked."""
    groups = resolve_groups(layer.groups, channels, layer.filters)
    check_filter_channels(layer.in_channels, channels, groups)
    return groups


def filter_outcome(
    filters: int,
    sizes: tuple[int, int],
    axes: tuple[Derivation, ...],
    *,
    params: int,
    params_formula: str,
    weights: tuple[int, int, int, int],
    positions: tuple[int, int],
    rf: RFStep,
    warnings: tuple[str, ...] = (),
) -> Outcome:
    """The outcome of a conv or deconv with ``filters`` output channels of ``sizes``.

    MACs = the product of ``weights`` (the kernel elements one position meets) × the product of
    ``positions`` (the positions the kernel visits: outputs for a conv, inputs for a deconv).
    """
    out = (filters, *sizes)
    a, b, kh, kw = weights
    macs = a * b * kh * kw * positions[0] * positions[1]
    return Outcome(
        output=out,
        params=params,
        macs=macs,
        rf=rf,
        warnings=warnings,
        derivations=(
            *axes,
            derive("output", f"{filters_word(filters)} × {sizes[0]}×{sizes[1]}", format_shape(out)),
            derive("params", params_formula, params),
            derive("MACs", f"{a}·{b}·{kh}·{kw} × {positions[0]}·{positions[1]}", macs),
        ),
    )


def filters_word(count: int) -> str:
    """``1 filter``, ``10 filters``."""
    return f"{count} filter" if count == 1 else f"{count} filters"


def axis_derivations(rows: Window, cols: Window) -> tuple[Derivation, ...]:
    """The notes' output-size formula for each spatial axis."""
    return tuple(derive(window.axis, window.formula(), window.output) for window in (rows, cols))


def window_warnings(rows: Window, cols: Window) -> tuple[str, ...]:
    """Stride-does-not-fit warnings of both axes, where real input is dropped."""
    return tuple(warning for warning in (rows.dropped_warning(), cols.dropped_warning()) if warning)


def transposed_axis(
    size: int, kernel: int, stride: int, pad: int, extra: int, dilation: int
) -> int:
    """out = (W − 1)·S − 2P + D(K − 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * pad + dilation * (kernel - 1) + extra + 1


def transposed_rf_step(kernel: int, stride: int, pad: int, dilation: int) -> AxisStep:
    """A transposed conv's receptive-field step, in units of its input grid.

    Output o receives input i through kernel tap k when o = i·S − P + k·D. The field grows by the
    widest spread of inputs that reach one output (over the S output phases), the jump is divided
    by S, and the first output's centre is the middle of the inputs that reach output 0.
    """
    # Closed forms (no loop over the S phases, so a huge stride costs nothing): taps k and k'
    # reach one output phase when (k − k')·D is a multiple of S, i.e. k ≡ k' mod m with
    # m = S / gcd(D, S); the widest phase holds taps 0, m, 2m, … ≤ K − 1, whose inputs are
    # D / gcd(D, S) apart. Output 0 is reached by the taps with k·D ≡ P (mod S).
    common = math.gcd(dilation, stride)
    period = stride // common
    spread = (kernel - 1) // period * (dilation // common)
    if pad % common == 0:
        first_tap = (pad // common) * pow(dilation // common, -1, period) % period
    else:
        first_tap = kernel
    if first_tap < kernel:
        last_tap = first_tap + (kernel - 1 - first_tap) // period * period
        centre = ((pad - first_tap * dilation) / stride + (pad - last_tap * dilation) / stride) / 2
    else:
        centre = pad / stride
    return AxisStep(
        span=float(spread),
        stride=1 / stride,
        offset=centre,
        cells=transposed_cells(kernel, stride, pad, dilation),
        advance=1,
    )


def transposed_cells(
    kernel: int, stride: int, pad: int, dilation: int
) -> tuple[tuple[int, int], ...]:
    """The first and last input of each of the S output phases: output o receives input
    i = (o + P − k·D)/S through the taps k where that is whole, k ≡ k₀ (mod S/gcd(D, S)), the
    last input through the first such tap (closed form: a huge kernel costs no loop). Empty
    when some phase receives none (it sees only the bias), or S is too large to list."""
    if stride > MAX_PERIOD:
        return ()
    common = math.gcd(dilation, stride)
    period = stride // common
    cells = []
    for output in range(stride):
        if (output + pad) % common:
            return ()
        first_tap = (output + pad) // common * pow(dilation // common, -1, period) % period
        if first_tap >= kernel:
            return ()
        last_tap = first_tap + (kernel - 1 - first_tap) // period * period
        cells.append(
            (
                (output + pad - last_tap * dilation) // stride,
                (output + pad - first_tap * dilation) // stride,
            )
        )
    return tuple(cells)


@dataclass(frozen=True, kw_only=True, repr=False)
class Deconv(FilterBank):
    """2-D transposed convolution ("deconvolution") with F filters.

    Output, per axis: (W − 1)·S − 2P + D(K − 1) + output_padding + 1.
    Params: C·(F/groups)·KH·KW + F·bias. MACs: every input element meets every kernel element,
    C·(F/groups)·KH·KW·H_in·W_in. The receptive-field jump is divided by S.
    """

    type_name = "deconv"
    aliases = ("convtranspose", "convtranspose2d", "deconv2d")
    description = "a transposed conv"

    pad: IntPair = 0
    output_padding: IntPair = 0
    dilation: IntPair = 1
    groups: Groups = 1
    bias: bool = True
    in_channels: int | None = None

    def __post_init__(self) -> None:
        check_filter_options(self)
        require_at_least("output_padding", self.output_padding, 0)
        for extra, stride, dilation in zip(
            pair(self.output_padding), pair(self.stride), pair(self.dilation), strict=True
        ):
            if extra >= max(stride, dilation):
                raise OptionError(
                    "output_padding",
                    f"must be smaller than the stride or the dilation, got {extra}",
                )

    def output_of(self, shape: Shape) -> Outcome:
        channels, height, width = shape
        groups = grouping(self, channels)
        geometry = list(
            zip(
                ("height", "width"),
                (height, width),
                pair(self.kernel),
                pair(self.stride),
                pair(self.pad),
                pair(self.output_padding),
                pair(self.dilation),
                strict=True,
            )
        )
        sizes = []
        axes = []
        for axis, size, k, s, p, extra, d in geometry:
            out = transposed_axis(size, k, s, p, extra, d)
            if out < 1:
                raise ShapeError(f"{axis}: the output would have {out} cells; reduce pad")
            sizes.append(out)
            kernel = f"{d}·({k} − 1)" if d != 1 else f"({k} − 1)"
            axes.append(derive(axis, f"({size} − 1)·{s} − 2·{p} + {kernel} + {extra} + 1", out))
        kh, kw = pair(self.kernel)
        per_input = self.filters // groups * kh * kw
        bias = f" + {self.filters}" if self.bias else ""
        steps = tuple(transposed_rf_step(k, s, p, d) for _, _, k, s, p, _, d in geometry)
        return filter_outcome(
            self.filters,
            (sizes[0], sizes[1]),
            tuple(axes),
            params=channels * per_input + self.filters * int(self.bias),
            params_formula=f"{channels}·{self.filters // groups}·{kh}·{kw}{bias}",
            weights=(channels, self.filters // groups, kh, kw),
            positions=(height, width),
            rf=RFStep((steps[0], steps[1])),
        )

    def jacobian_nonzeros(self, shape_in: Shape, shape_out: Shape) -> int:
        """F·(C/groups) × per axis the (input i, tap k) pairs that reach an output (see
        :func:`transposed_taps`)."""
        groups = resolve_groups(self.groups, shape_in[0], self.filters)
        rows, cols = (
            transposed_taps(size, k, s, p, d, out)
            for size, k, s, p, d, out in zip(
                shape_in[1:],
                pair(self.kernel),
                pair(self.stride),
                pair(self.pad),
                pair(self.dilation),
                shape_out[1:],
                strict=True,
            )
        )
        return self.filters * (shape_in[0] // groups) * rows * cols

    def forward_fold_refusal(self, shape_in: Shape) -> str | None:
        """A transposed conv never takes a BN before it: its border outputs receive fewer taps,
        so the BN's shift is not one bias per channel."""
        return (
            f"{self.description}, whose border outputs receive fewer taps, so the BN's shift is "
            "not one bias per channel"
        )


def transposed_taps(size: int, kernel: int, stride: int, pad: int, dilation: int, out: int) -> int:
    """The (input i, tap k) pairs of a transposed conv axis that reach an output:
    0 ≤ i·S − P + k·D < W_out (each pair reaches exactly one output)."""
    return taps_in_range(size, stride, kernel, dilation, pad, out)
