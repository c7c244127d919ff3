"""Pooling: max and average windows, adaptive pooling and global pooling.

Pooling has no weights and works on each channel separately (filters = C). Max pooling's
backward pass routes each output gradient to the input position that held the maximum, so
training keeps that position (the "max id") for every output value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from convcalc.errors import OptionError
from convcalc.layers.base import (
    GLOBAL_STEP,
    AxisStep,
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
from convcalc.layers.conv import axis_derivations, window_warnings
from convcalc.layers.window import resolve_padding, windows


@dataclass(frozen=True, kw_only=True)
class Pool(Layer):
    """A sliding-window pool over each channel: out = ⌊(W + 2P − K_eff)/S⌋ + 1 per axis
    (with ``ceil_mode``, rounded up unless that window would start beyond the input plus the
    leading padding, as PyTorch does). Stride defaults to the kernel. Padding may be at most half
    the effective kernel. No params, no MACs."""

    needs_image = True

    kernel: IntPair
    stride: IntPair | None = None
    pad: Padding = 0
    ceil_mode: bool = False

    @property
    def dilation_pair(self) -> tuple[int, int]:
        """Pools without a dilation option read adjacent cells."""
        return (1, 1)

    def __post_init__(self) -> None:
        require_at_least("kernel", self.kernel, 1)
        require_at_least("stride", self.stride, 1)
        if not isinstance(self.pad, str):
            require_at_least("pad", self.pad, 0)

    def output_of(self, shape: Shape) -> Outcome:
        channels, height, width = shape
        kernel = pair(self.kernel)
        stride = pair(self.stride if self.stride is not None else self.kernel)
        dilation = self.dilation_pair
        pads = resolve_padding(self.pad, (height, width), kernel, stride, dilation)
        for axis, k, d, (before, after) in zip(
            ("height", "width"), kernel, dilation, pads, strict=True
        ):
            if 2 * max(before, after) > d * (k - 1) + 1:
                raise OptionError(
                    "pad",
                    f"{max(before, after)} on the {axis} is more than half the kernel "
                    f"({d * (k - 1) + 1}); PyTorch refuses that",
                )
        rows, cols = windows((height, width), kernel, stride, self.pad, dilation, self.ceil_mode)
        out = (channels, rows.output, cols.output)
        return Outcome(
            output=out,
            rf=RFStep((rows.rf_step, cols.rf_step)),
            warnings=window_warnings(rows, cols),
            derivations=(
                *axis_derivations(rows, cols),
                derive(
                    "output",
                    f"{channels} channels × {rows.output}×{cols.output}",
                    format_shape(out),
                ),
            ),
        )


@dataclass(frozen=True, kw_only=True)
class MaxPool(Pool):
    """Max pooling: each output is the largest value in its window (see :class:`Pool`)."""

    type_name = "maxpool"
    aliases = ("maxpool2d",)

    dilation: IntPair = 1

    @property
    def dilation_pair(self) -> tuple[int, int]:
        """Max pooling may read every D-th cell, like a dilated conv."""
        return pair(self.dilation)

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least("dilation", self.dilation, 1)


@dataclass(frozen=True, kw_only=True)
class AvgPool(Pool):
    """Average (mean) pooling: each output is the mean of its window (see :class:`Pool`)."""

    type_name = "avgpool"
    aliases = ("meanpool", "avgpool2d")

    count_include_pad: bool = True


def adaptive_windows(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's adaptive windows: output i reads [⌊i·W/out⌋, ⌈(i+1)·W/out⌉)."""
    return [(i * size // out, -(-(i + 1) * size // out)) for i in range(out)]


def adaptive_rf_step(size: int, out: int) -> AxisStep:
    """The widest adaptive window sets the span; windows start W/out apart.

    With W = q·out + r, window i is q + ⌈(t + r)/out⌉ wide, t = i·r mod out; t reaches
    out − gcd(r, out), so some window is q + 2 wide exactly when r does not divide out (closed
    form, so a huge ``output`` costs no loop).
    """
    quotient, remainder = divmod(size, out)
    if remainder == 0:
        widest = quotient
    else:
        widest = quotient + (2 if remainder > math.gcd(remainder, out) else 1)
    first_end = -(-size // out)
    return AxisStep(span=float(widest - 1), stride=size / out, offset=(first_end - 1) / 2)


@dataclass(frozen=True, kw_only=True)
class AdaptivePool(Layer):
    """Adaptive pooling to a fixed C×h×w output whatever the input's H×W: output i along an axis
    pools input cells ⌊i·W/w⌋ … ⌈(i+1)·W/w⌉ − 1. An output of 1×1 is global pooling."""

    needs_image = True

    output: IntPair

    def __post_init__(self) -> None:
        require_at_least("output", self.output, 1)

    def output_of(self, shape: Shape) -> Outcome:
        channels, height, width = shape
        out_h, out_w = pair(self.output)
        if (out_h, out_w) == (1, 1):
            step = GLOBAL_STEP
        else:
            step = RFStep((adaptive_rf_step(height, out_h), adaptive_rf_step(width, out_w)))
        out = (channels, out_h, out_w)
        return Outcome(
            output=out,
            rf=step,
            derivations=(
                derive("output", f"{channels} channels × {out_h}×{out_w}", format_shape(out)),
            ),
        )


@dataclass(frozen=True, kw_only=True)
class AdaptiveAvgPool(AdaptivePool):
    """Adaptive average pooling (see :class:`AdaptivePool`)."""

    type_name = "adaptiveavgpool"
    aliases = ("adaptiveavgpool2d",)


@dataclass(frozen=True, kw_only=True)
class AdaptiveMaxPool(AdaptivePool):
    """Adaptive max pooling (see :class:`AdaptivePool`)."""

    type_name = "adaptivemaxpool"
    aliases = ("adaptivemaxpool2d",)


@dataclass(frozen=True, kw_only=True)
class GlobalPool(Layer):
    """Global pooling: C×H×W → C×1×1; each output sees the whole input."""

    needs_image = True

    def output_of(self, shape: Shape) -> Outcome:
        channels, height, width = shape
        out = (channels, 1, 1)
        return Outcome(
            output=out,
            rf=GLOBAL_STEP,
            derivations=(
                derive(
                    "output",
                    f"{channels} channels × 1×1 (pools {height}×{width})",
                    format_shape(out),
                ),
            ),
        )


@dataclass(frozen=True, kw_only=True)
class GlobalAvgPool(GlobalPool):
    """Global average pooling (see :class:`GlobalPool`)."""

    type_name = "globalavgpool"
    aliases = ("gap",)


@dataclass(frozen=True, kw_only=True)
class GlobalMaxPool(GlobalPool):
    """Global max pooling (see :class:`GlobalPool`)."""

    type_name = "globalmaxpool"
    aliases = ("gmp",)
