"""Convolution and transposed convolution (deconvolution)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from convcalc.errors import OptionError, ShapeError
from convcalc.layers.base import (
    AxisStep,
    Derivation,
    IntPair,
    Layer,
    Outcome,
    Padding,
    RFStep,
    Shape,
    derive,
    format_shape,
    pair,
    require_at_least,
)
from convcalc.layers.window import Window, windows

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
    """The channel rule: a filter has as many channels as its input (per group)."""
    if declared is not None and declared != channels:
        per_group = f" ({channels // groups} per group)" if groups > 1 else ""
        raise ShapeError(
            f"in_channels: the filters have {declared} channels but the input has {channels}"
            f"{per_group}; a filter has as many channels as its input"
        )


@dataclass(frozen=True, kw_only=True)
class Conv(Layer):
    """2-D convolution with F filters of C/groups × KH × KW.

    Output, per axis: ⌊(W + 2P − D(K−1) − 1)/S⌋ + 1 (the notes' (W − K + 2P)/S + 1).
    Params: F·(C/groups)·KH·KW + F·bias. MACs: F·(C/groups)·KH·KW·H_out·W_out.
    Receptive field per axis: span K_eff − 1, stride S, offset (K_eff − 1)/2 − P.
    """

    type_name = "conv"
    aliases = ("conv2d",)
    needs_image = True

    filters: int
    kernel: IntPair
    stride: IntPair = 1
    pad: Padding = 0
    dilation: IntPair = 1
    groups: Groups = 1
    bias: bool = True
    in_channels: int | None = None

    def __post_init__(self) -> None:
        require_at_least("filters", self.filters, 1)
        require_at_least("kernel", self.kernel, 1)
        require_at_least("stride", self.stride, 1)
        require_at_least("dilation", self.dilation, 1)
        require_at_least("in_channels", self.in_channels, 1)
        if not isinstance(self.pad, str):
            require_at_least("pad", self.pad, 0)
        if self.groups != "depthwise":
            require_at_least("groups", self.groups, 1)

    def output_of(self, shape: Shape) -> Outcome:
        channels, height, width = shape
        groups = resolve_groups(self.groups, channels, self.filters)
        check_filter_channels(self.in_channels, channels, groups)
        rows, cols = windows(
            (height, width), pair(self.kernel), pair(self.stride), self.pad, pair(self.dilation)
        )
        out = (self.filters, rows.output, cols.output)
        kh, kw = pair(self.kernel)
        per_filter = channels // groups * kh * kw
        params = self.filters * (per_filter + int(self.bias))
        macs = self.filters * per_filter * rows.output * cols.output
        bias = " + 1" if self.bias else ""
        derivations = (
            *axis_derivations(rows, cols),
            derive(
                "output", f"{self.filters} filters × {rows.output}×{cols.output}", format_shape(out)
            ),
            derive("params", f"{self.filters} × ({channels // groups}·{kh}·{kw}{bias})", params),
            derive(
                "MACs",
                f"{self.filters}·{channels // groups}·{kh}·{kw} × {rows.output}·{cols.output}",
                macs,
            ),
        )
        return Outcome(
            output=out,
            params=params,
            macs=macs,
            rf=RFStep((rows.rf_step, cols.rf_step)),
            warnings=window_warnings(rows, cols),
            derivations=derivations,
        )


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
    return AxisStep(span=float(spread), stride=1 / stride, offset=centre)


@dataclass(frozen=True, kw_only=True)
class Deconv(Layer):
    """2-D transposed convolution ("deconvolution") with F filters.

    Output, per axis: (W − 1)·S − 2P + D(K − 1) + output_padding + 1.
    Params: C·(F/groups)·KH·KW + F·bias. MACs: every input element meets every kernel element,
    C·(F/groups)·KH·KW·H_in·W_in. The receptive-field jump is divided by S.
    """

    type_name = "deconv"
    aliases = ("convtranspose", "convtranspose2d", "deconv2d")
    needs_image = True

    filters: int
    kernel: IntPair
    stride: IntPair = 1
    pad: IntPair = 0
    output_padding: IntPair = 0
    dilation: IntPair = 1
    groups: Groups = 1
    bias: bool = True
    in_channels: int | None = None

    def __post_init__(self) -> None:
        require_at_least("filters", self.filters, 1)
        require_at_least("kernel", self.kernel, 1)
        require_at_least("stride", self.stride, 1)
        require_at_least("dilation", self.dilation, 1)
        require_at_least("pad", self.pad, 0)
        require_at_least("output_padding", self.output_padding, 0)
        require_at_least("in_channels", self.in_channels, 1)
        if self.groups != "depthwise":
            require_at_least("groups", self.groups, 1)
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
        groups = resolve_groups(self.groups, channels, self.filters)
        check_filter_channels(self.in_channels, channels, groups)
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
        derivations = []
        for axis, size, k, s, p, extra, d in geometry:
            out = transposed_axis(size, k, s, p, extra, d)
            if out < 1:
                raise ShapeError(f"{axis}: the output would have {out} cells; reduce pad")
            sizes.append(out)
            kernel = f"{d}·({k} − 1)" if d != 1 else f"({k} − 1)"
            derivations.append(
                derive(axis, f"({size} − 1)·{s} − 2·{p} + {kernel} + {extra} + 1", out)
            )
        kh, kw = pair(self.kernel)
        per_input = self.filters // groups * kh * kw
        params = channels * per_input + self.filters * int(self.bias)
        macs = channels * per_input * height * width
        bias = f" + {self.filters}" if self.bias else ""
        out_shape = (self.filters, sizes[0], sizes[1])
        derivations += [
            derive(
                "output", f"{self.filters} filters × {sizes[0]}×{sizes[1]}", format_shape(out_shape)
            ),
            derive("params", f"{channels}·{self.filters // groups}·{kh}·{kw}{bias}", params),
            derive(
                "MACs", f"{channels}·{self.filters // groups}·{kh}·{kw} × {height}·{width}", macs
            ),
        ]
        steps = tuple(transposed_rf_step(k, s, p, d) for _, _, k, s, p, _, d in geometry)
        return Outcome(
            output=out_shape,
            params=params,
            macs=macs,
            rf=RFStep((steps[0], steps[1])),
            derivations=tuple(derivations),
        )
