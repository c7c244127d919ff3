"""Resampling: interpolation (upsample) and pixel (un)shuffle. No params, no MACs (convcalc's
convention, as torchvision's and FlopCounterMode's: interpolation is not counted).

Interpolation reads, per axis, the input position ``src`` of each output ``o``: with
``align_corners`` src = o·(W_in − 1)/(W_out − 1); otherwise src = (o + ½)·scale − ½, where
scale = 1/scale_factor when a ``scale`` is given and W_in/W_out when a ``size`` is, as
PyTorch's kernels compute it. Nearest reads ⌊o·scale⌋; bilinear the 2 inputs around src (1 at
the border, or where src is whole); bicubic 4 (clamped to the border, where taps coincide).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Literal

from convcalc.errors import OptionError, ShapeError
from convcalc.layers.base import (
    MAX_PERIOD,
    SAVES_NOTHING,
    AxisStep,
    Layer,
    Outcome,
    RFStep,
    Saved,
    Shape,
    derive,
    format_option,
    pair,
    require_at_least,
)

CUBIC_A = -0.75
"""The cubic convolution's parameter, as PyTorch's bicubic."""

TAPS = {"nearest": 1, "bilinear": 2, "bicubic": 4}
"""Input cells each output reads along one axis, away from the border."""


@dataclass(frozen=True, kw_only=True, repr=False)
class Upsample(Layer):
    """Interpolation to ⌊H·s⌋×⌊W·s⌋ for a ``scale`` s (the product in double precision, as
    PyTorch: 100 × 0.29 gives 28), or to ``size``. Channels stay; no params, no MACs.

    Receptive field per axis: the jump is multiplied by the index scale (1/s, W_in/W_out, or
    (W_in − 1)/(W_out − 1) with ``align_corners``), the field grows by taps − 1 input cells
    (nearest 0, bilinear 1, bicubic 3), and the first output's centre sits at its ``src``.
    Backward keeps nothing (only sizes). Jacobian: per channel, the product over the two axes
    of Σ_o (input cells with a non-zero weight for output o) — exact, worked out in double
    precision.
    """

    type_name = "upsample"
    aliases = ("interpolate", "resize")
    needs_image = True
    description = "an upsample"

    scale: float | tuple[float, float] | None = None
    size: int | tuple[int, int] | None = None
    mode: Literal["nearest", "bilinear", "bicubic"] = "nearest"
    align_corners: bool = False

    def __post_init__(self) -> None:
        if (self.scale is None) == (self.size is None):
            raise OptionError(
                "scale" if self.scale is not None else "size",
                "give either `scale` or `size` (one of the two)",
            )
        if self.scale is not None and min(pair_float(self.scale)) <= 0:
            raise OptionError("scale", f"must be > 0, got {format_option(self.scale)}")
        require_at_least("size", self.size, 1)
        if self.align_corners and self.mode == "nearest":
            raise OptionError(
                "align_corners", "only applies to the interpolating modes bilinear and bicubic"
            )

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """Nothing: the gradient is spread back with the same weights, from sizes alone."""
        return SAVES_NOTHING

    def sizes(self, shape: Shape) -> tuple[int, int]:
        """The output H×W."""
        if self.size is not None:
            return pair(self.size)
        scales = pair_float(self.scale)  # type: ignore[arg-type]
        return math.floor(shape[1] * scales[0]), math.floor(shape[2] * scales[1])

    def index_scale(self, size_in: int, size_out: int, axis: int) -> float:
        """The step in input cells between neighbouring outputs, as PyTorch's kernels use it."""
        if self.align_corners:
            return (size_in - 1) / (size_out - 1) if size_out > 1 else 0.0
        if self.scale is not None:
            return 1.0 / pair_float(self.scale)[axis]
        return size_in / size_out

    def source(self, output: int, scale: float) -> float:
        """The input position output ``output`` is interpolated at, rounded as PyTorch's CPU
        backward kernels compute it: bilinear's scale·(o + ½) − ½ as one fused multiply-add,
        bicubic's as a product then a difference (a position that is whole in exact
        arithmetic may not be, which decides whether a weight is zero)."""
        if self.align_corners:
            return scale * output
        if self.mode == "bilinear":
            return float(Fraction(scale) * Fraction(output + 0.5) - Fraction(1, 2))
        return scale * (output + 0.5) - 0.5

    def output_of(self, shape: Shape) -> Outcome:
        channels, height, width = shape
        out_h, out_w = self.sizes(shape)
        if out_h < 1 or out_w < 1:
            raise ShapeError(
                f"upsample: {height}×{width} scaled by {format_option(self.scale)} gives "
                f"{out_h}×{out_w}, an empty map"
            )
        steps = tuple(
            self.axis_step(size_in, size_out, axis)
            for axis, (size_in, size_out) in enumerate(((height, out_h), (width, out_w)))
        )
        rule = (
            f"size {format_option(self.size)}"
            if self.size is not None
            else f"⌊{height}·{format_option(pair_float(self.scale)[0])}⌋ × "  # type: ignore[arg-type]
            f"⌊{width}·{format_option(pair_float(self.scale)[1])}⌋"  # type: ignore[arg-type]
        )
        return Outcome(
            output=(channels, out_h, out_w),
            rf=RFStep((steps[0], steps[1])),
            derivations=(
                derive("output", f"{channels} × {rule}", f"{channels}×{out_h}×{out_w}"),
                derive("params", f"0 ({self.mode} interpolation has no weights)", 0),
            ),
        )

    def axis_step(self, size_in: int, size_out: int, axis: int) -> AxisStep:
        """The receptive-field step along one axis (see the class docstring)."""
        scale = self.index_scale(size_in, size_out, axis)
        if self.mode == "nearest":
            cells, advance = nearest_cells(scale)
            return AxisStep(span=0.0, stride=scale, offset=0.0, cells=cells, advance=advance)
        return AxisStep(span=float(TAPS[self.mode] - 1), stride=scale, offset=self.source(0, scale))

    def jacobian_nonzeros(self, shape_in: Shape, shape_out: Shape) -> int:
        """C × Σ_h (cells read by row h) × Σ_w (cells read by column w)."""
        if self.mode == "nearest":
            return shape_out[0] * shape_out[1] * shape_out[2]
        rows = self.cells_read(shape_in[1], shape_out[1], 0)
        cols = self.cells_read(shape_in[2], shape_out[2], 1)
        return shape_out[0] * rows * cols

    def cells_read(self, size_in: int, size_out: int, axis: int) -> int:
        """Σ over the outputs along one axis of the input cells with a non-zero weight."""
        scale = self.index_scale(size_in, size_out, axis)
        total = 0
        for output in range(size_out):
            weights = (
                linear_weights(self.source(output, scale), size_in)
                if self.mode == "bilinear"
                else cubic_weights(self.source(output, scale), size_in)
            )
            total += sum(1 for weight in weights.values() if weight != 0)
        return total


def nearest_cells(scale: float) -> tuple[tuple[tuple[int, int], ...], int]:
    """The cell ⌊o·scale⌋ that nearest interpolation reads for each output o of one period
    (scale = p/q: q outputs, p cells on), as PyTorch computes it; no cells when the scale is
    no fraction with a small denominator."""
    fraction = Fraction(scale).limit_denominator(1024)
    if float(fraction) != scale or fraction <= 0:
        return (), 0
    cells = []
    for output in range(fraction.denominator):
        cell = math.floor(output * scale)
        cells.append((cell, cell))
    return tuple(cells), fraction.numerator


def linear_weights(source: float, size: int) -> dict[int, float]:
    """Input cell → weight of linear interpolation at ``source`` (clamped to ≥ 0), as
    PyTorch's bilinear kernel."""
    source = max(source, 0.0)
    low = int(source)
    fraction = source - low
    high = low + 1 if low < size - 1 else low
    weights = {low: 1.0 - fraction}
    weights[high] = weights.get(high, 0.0) + fraction
    return weights


def cubic_weights(source: float, size: int) -> dict[int, float]:
    """Input cell → weight of cubic convolution at ``source`` (A = −0.75), the four taps
    ⌊source⌋ − 1 … ⌊source⌋ + 2 clamped to the border (where coinciding taps add up)."""
    low = math.floor(source)
    t = source - low
    coefficients = (
        cubic_far(t + 1),
        cubic_near(t),
        cubic_near(1 - t),
        cubic_far(2 - t),
    )
    weights: dict[int, float] = {}
    for tap, coefficient in enumerate(coefficients):
        cell = min(max(low - 1 + tap, 0), size - 1)
        weights[cell] = weights.get(cell, 0.0) + coefficient
    return weights


def cubic_near(x: float) -> float:
    """The cubic kernel for |x| ≤ 1: ((A + 2)x − (A + 3))x² + 1."""
    return ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1


def cubic_far(x: float) -> float:
    """The cubic kernel for 1 < |x| < 2: ((Ax − 5A)x + 8A)x − 4A."""
    return ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A


def pair_float(value: float | tuple[float, float]) -> tuple[float, float]:
    """``2.0`` → ``(2.0, 2.0)``; ``(2.0, 1.5)`` stays."""
    return (value, value) if isinstance(value, float | int) else (value[0], value[1])


@dataclass(frozen=True, kw_only=True, repr=False)
class PixelRearrangement(Layer):
    """Moves values between channels and positions by a ``factor`` r: each output is one
    input value, so no params, no MACs, backward keeps nothing (the gradient is moved back)
    and the Jacobian has one entry per output."""

    needs_image = True

    factor: int

    def __post_init__(self) -> None:
        require_at_least("factor", self.factor, 1)

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """Nothing: the gradient is rearranged back."""
        return SAVES_NOTHING


class PixelShuffle(PixelRearrangement):
    """Sub-pixel convolution's rearrangement: C×H×W → C/r²×rH×rW for ``factor`` r (C must
    divide by r²). Receptive field: the jump is divided by r."""

    type_name = "pixelshuffle"
    aliases = ("depthtospace",)
    description = "a pixel shuffle"

    def output_of(self, shape: Shape) -> Outcome:
        channels, height, width = shape
        r = self.factor
        if channels % (r * r):
            raise ShapeError(
                f"pixelshuffle: {channels} channels do not divide by factor² = {r * r}"
            )
        cells = ((0, 0),) * r if r <= MAX_PERIOD else ()
        step = AxisStep(span=0.0, stride=1 / r, offset=0.0, cells=cells, advance=1)
        output = (channels // (r * r), height * r, width * r)
        return Outcome(
            output=output,
            rf=RFStep((step, step)),
            derivations=(
                derive(
                    "output",
                    f"{channels}/{r}² × {r}·{height} × {r}·{width}",
                    "×".join(map(str, output)),
                ),
            ),
        )


class PixelUnshuffle(PixelRearrangement):
    """The inverse of pixel shuffle: C×H×W → C·r²×H/r×W/r for ``factor`` r (H and W must
    divide by r). Receptive field: an output position covers an r×r block (span r − 1,
    stride r, like an r×r window with stride r)."""

    type_name = "pixelunshuffle"
    aliases = ("spacetodepth",)
    description = "a pixel unshuffle"

    def output_of(self, shape: Shape) -> Outcome:
        channels, height, width = shape
        r = self.factor
        if height % r or width % r:
            raise ShapeError(f"pixelunshuffle: {height}×{width} does not divide by factor {r}")
        step = AxisStep(span=float(r - 1), stride=float(r), offset=(r - 1) / 2)
        output = (channels * r * r, height // r, width // r)
        return Outcome(
            output=output,
            rf=RFStep((step, step)),
            derivations=(
                derive(
                    "output",
                    f"{channels}·{r}² × {height}/{r} × {width}/{r}",
                    "×".join(map(str, output)),
                ),
            ),
        )
