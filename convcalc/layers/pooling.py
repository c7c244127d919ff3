"""Pooling: max and average windows, adaptive pooling and global pooling.

Pooling has no weights and works on each channel separately (filters = C). Max pooling's
backward pass routes each output gradient to the input position that held the maximum, so
training keeps that position (the "max id") for every output value.
"""

from __future__ import annotations

import math
from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar

from convcalc.errors import OptionError
from convcalc.layers.base import (
    GLOBAL_STEP,
    MAX_PERIOD,
    SAVES_INPUT,
    SAVES_NOTHING,
    AxisStep,
    Derivation,
    Extra,
    IntPair,
    Layer,
    Outcome,
    Padding,
    RFStep,
    Saved,
    Shape,
    derive,
    elements,
    format_shape,
    pair,
    require_at_least,
)
from convcalc.layers.conv import axis_derivations, window_warnings
from convcalc.layers.window import Window, floor_sum, windows

INDEX_BYTES = 8
"""Max pooling's argmax indices are int64 whatever the dtype."""


class Pooling(Layer):
    """What every pool shares: no weights, C in = C out, and a choice of reduction.

    Backward keeps, per PyTorch: for a max pool its input and an int64 argmax index per output;
    for an average pool its input (none when it is computed as a plain mean, see
    :meth:`is_plain_mean`). The Jacobian of an average pool has one entry per window cell that
    is real input; a max pool's realised Jacobian has one per output (the stored argmax), the
    window count being its structural count.
    """

    needs_image = True
    description = "a pool"
    takes_max: ClassVar[bool] = False
    """Max (each output is its window's largest value) rather than average pooling."""

    @abstractmethod
    def window_cells(self, shape_in: Shape, shape_out: Shape) -> int:
        """Σ over one sample's outputs of the real input cells in their window."""

    def is_plain_mean(self) -> bool:
        """Whether PyTorch computes this average pool as a mean over each whole map, whose
        backward keeps nothing (global, or adaptive to 1×1)."""
        return False

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """Max: the input and N·|output| int64 indices; average: the input, or nothing for a
        plain mean."""
        if self.takes_max:
            indices = Extra(elements(shape_out) * batch, "int64 argmax indices", INDEX_BYTES)
            return Saved(input=True, extra=indices)
        return SAVES_NOTHING if self.is_plain_mean() else SAVES_INPUT

    def jacobian_nonzeros(self, shape_in: Shape, shape_out: Shape) -> int:
        """Average: the window cells; max: one per output (the argmax backward routes to)."""
        if self.takes_max:
            return elements(shape_out)
        return self.window_cells(shape_in, shape_out)

    def window_nonzeros(self, shape_in: Shape, shape_out: Shape) -> int | None:
        """Max pooling's structural count: every window cell could be the max."""
        return self.window_cells(shape_in, shape_out) if self.takes_max else None


def pooled(
    channels: int,
    size: tuple[int, int],
    rf: RFStep,
    *,
    pools: str = "",
    axes: tuple[Derivation, ...] = (),
    warnings: tuple[str, ...] = (),
) -> Outcome:
    """A pool's outcome: C × ``size``, no params or MACs; ``pools`` notes what one output pools."""
    out = (channels, *size)
    formula = f"{channels} channels × {size[0]}×{size[1]}{pools}"
    return Outcome(
        output=out,
        rf=rf,
        warnings=warnings,
        derivations=(*axes, derive("output", formula, format_shape(out))),
    )


@dataclass(frozen=True, kw_only=True, repr=False)
class Pool(Pooling):
    """A sliding-window pool over each channel: out = ⌊(W + 2P − K_eff)/S⌋ + 1 per axis
    (with ``ceil_mode``, rounded up unless that window would start beyond the input plus the
    leading padding, as PyTorch does). Stride defaults to the kernel. Padding may be at most half
    the kernel (PyTorch checks K, not the dilated K_eff). No params, no MACs."""

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

    def windows_of(self, shape: Shape) -> tuple[Window, Window]:
        """The height and width windows of this pool on a C×H×W input (padding resolved once)."""
        stride = pair(self.stride if self.stride is not None else self.kernel)
        return windows(
            (shape[1], shape[2]),
            pair(self.kernel),
            stride,
            self.pad,
            self.dilation_pair,
            self.ceil_mode,
        )

    def output_of(self, shape: Shape) -> Outcome:
        rows, cols = self.windows_of(shape)
        for window in (rows, cols):
            # PyTorch checks the kernel itself (pool2d_shape_check: K/2 ≥ P), not the dilated
            # kernel, which is the stricter of its two padding checks.
            widest = max(window.pad_before, window.pad_after)
            if 2 * widest > window.kernel:
                raise OptionError(
                    "pad",
                    f"{widest} on the {window.axis} is more than half the kernel "
                    f"({window.kernel}); PyTorch refuses that",
                )
        return pooled(
            shape[0],
            (rows.output, cols.output),
            RFStep((rows.rf_step, cols.rf_step)),
            axes=axis_derivations(rows, cols),
            warnings=window_warnings(rows, cols),
        )

    def window_cells(self, shape_in: Shape, shape_out: Shape) -> int:
        """C·Σ taps_h·Σ taps_w: padded cells are no input (see :attr:`Window.real_taps`)."""
        rows, cols = self.windows_of(shape_in)
        return shape_in[0] * rows.real_taps * cols.real_taps


@dataclass(frozen=True, kw_only=True, repr=False)
class MaxPool(Pool):
    """Max pooling: each output is the largest value in its window (see :class:`Pool`)."""

    type_name = "maxpool"
    aliases = ("maxpool2d",)
    takes_max = True

    dilation: IntPair = 1

    @property
    def dilation_pair(self) -> tuple[int, int]:
        """Max pooling may read every D-th cell, like a dilated conv."""
        return pair(self.dilation)

    def __post_init__(self) -> None:
        super().__post_init__()
        require_at_least("dilation", self.dilation, 1)


@dataclass(frozen=True, kw_only=True, repr=False)
class AvgPool(Pool):
    """Average (mean) pooling: each output is the mean of its window (see :class:`Pool`)."""

    type_name = "avgpool"
    aliases = ("meanpool", "avgpool2d")

    count_include_pad: bool = True


def adaptive_cells(size: int, out: int) -> int:
    """Σ of PyTorch's adaptive window lengths along one axis: output i reads
    [⌊i·W/out⌋, ⌈(i+1)·W/out⌉), so the sum is Σ⌊((i+1)·W + out − 1)/out⌋ − Σ⌊i·W/out⌋
    (closed form: a huge ``output`` builds no list of windows)."""
    return floor_sum(out, out, size, size + out - 1) - floor_sum(out, out, size, 0)


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
    common = math.gcd(size, out)
    period = out // common
    cells = (
        tuple((unit * size // out, -(-(unit + 1) * size // out) - 1) for unit in range(period))
        if period <= MAX_PERIOD
        else ()
    )
    return AxisStep(
        span=float(widest - 1),
        stride=size / out,
        offset=(first_end - 1) / 2,
        cells=cells,
        advance=size // common if cells else 0,
    )


@dataclass(frozen=True, kw_only=True, repr=False)
class AdaptivePool(Pooling):
    """Adaptive pooling to a fixed C×h×w output whatever the input's H×W: output i along an axis
    pools input cells ⌊i·W/w⌋ … ⌈(i+1)·W/w⌉ − 1. An output of 1×1 is global pooling."""

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
        return pooled(channels, (out_h, out_w), step)

    def window_cells(self, shape_in: Shape, shape_out: Shape) -> int:
        """C·Π over the axes of Σ window lengths (adaptive windows may overlap)."""
        cells = shape_in[0]
        for size, out in zip(shape_in[1:], shape_out[1:], strict=True):
            cells *= adaptive_cells(size, out)
        return cells


class AdaptiveAvgPool(AdaptivePool):
    """Adaptive average pooling (see :class:`AdaptivePool`)."""

    type_name = "adaptiveavgpool"
    aliases = ("adaptiveavgpool2d",)

    def is_plain_mean(self) -> bool:
        """PyTorch computes a 1×1 adaptive average as a mean, which keeps nothing."""
        return pair(self.output) == (1, 1)


class AdaptiveMaxPool(AdaptivePool):
    """Adaptive max pooling (see :class:`AdaptivePool`)."""

    type_name = "adaptivemaxpool"
    aliases = ("adaptivemaxpool2d",)
    takes_max = True


class GlobalPool(Pooling):
    """Global pooling: C×H×W → C×1×1; each output sees the whole input."""

    def output_of(self, shape: Shape) -> Outcome:
        channels, height, width = shape
        return pooled(channels, (1, 1), GLOBAL_STEP, pools=f" (pools {height}×{width})")

    def window_cells(self, shape_in: Shape, shape_out: Shape) -> int:
        """Every input value: each channel's output reads the whole channel."""
        return elements(shape_in)


class GlobalAvgPool(GlobalPool):
    """Global average pooling (see :class:`GlobalPool`)."""

    type_name = "globalavgpool"
    aliases = ("gap",)

    def is_plain_mean(self) -> bool:
        """PyTorch computes a global average as a mean, which keeps nothing."""
        return True


class GlobalMaxPool(GlobalPool):
    """Global max pooling (see :class:`GlobalPool`)."""

    type_name = "globalmaxpool"
    aliases = ("gmp",)
    takes_max = True
