"""Layers that move values without computing new ones: crop, pad, channel slice and channel
shuffle. No params, no MACs; each output is one input value (or a padded zero)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from convcalc.errors import OptionError, ShapeError
from convcalc.layers.base import (
    SAVES_INPUT,
    SAVES_NOTHING,
    AxisStep,
    IntPair,
    Layer,
    Outcome,
    RFStep,
    Saved,
    Shape,
    derive,
    elements,
    format_option,
    format_shape,
    pair,
    require_at_least,
)


@dataclass(frozen=True, kw_only=True, repr=False)
class Crop(Layer):
    """Cut a window out of each channel: ``size`` [h, w] centred as torchvision's
    ``center_crop`` (top = round((H − h)/2) with Python's half-to-even rounding; likewise
    left), or the margins ``top``, ``bottom``, ``left``, ``right`` cut off. C×H×W → C×h×w.

    A view of the input (backward keeps nothing, one Jacobian entry per output). Receptive
    field: the first output is input cell (top, left).
    """

    type_name = "crop"
    aliases = ("centercrop",)
    needs_image = True
    description = "a crop"
    is_reshape = True

    size: IntPair | None = None
    top: int = 0
    bottom: int = 0
    left: int = 0
    right: int = 0

    def __post_init__(self) -> None:
        margins = (self.top, self.bottom, self.left, self.right)
        for name, value in zip(("top", "bottom", "left", "right"), margins, strict=True):
            require_at_least(name, value, 0)
        require_at_least("size", self.size, 1)
        if self.size is not None and any(margins):
            raise OptionError("size", "give either `size` or margins, not both")
        if self.size is None and not any(margins):
            raise OptionError("size", "give `size` [h, w] or a margin (top, bottom, left, right)")

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """Nothing: the gradient is placed back into zeros."""
        return SAVES_NOTHING

    def window(self, height: int, width: int) -> tuple[int, int, int, int]:
        """(top, left, h, w) of the crop."""
        if self.size is None:
            return (
                self.top,
                self.left,
                height - self.top - self.bottom,
                width - self.left - self.right,
            )
        rows, cols = pair(self.size)
        return round((height - rows) / 2), round((width - cols) / 2), rows, cols

    def output_of(self, shape: Shape) -> Outcome:
        channels, height, width = shape
        top, left, rows, cols = self.window(height, width)
        if rows < 1 or cols < 1 or rows > height or cols > width:
            wanted = f"{rows}×{cols}" if self.size is not None else "the margins"
            raise ShapeError(f"crop: {wanted} does not fit in the {height}×{width} input")
        step = RFStep((AxisStep(0.0, 1.0, float(top)), AxisStep(0.0, 1.0, float(left))))
        how = (
            f"centred: top = round(({height} − {rows})/2) = {top}, "
            f"left = round(({width} − {cols})/2) = {left}"
            if self.size is not None
            else f"margins {self.top}, {self.bottom}, {self.left}, {self.right}"
        )
        return Outcome(
            output=(channels, rows, cols),
            rf=step,
            derivations=(derive("output", how, format_shape((channels, rows, cols))),),
        )


PadSides = int | tuple[int, int] | tuple[int, int, int, int]
"""Padding: one int, [h, w] or [top, bottom, left, right]."""


@dataclass(frozen=True, kw_only=True, repr=False)
class Pad(Layer):
    """Pad each channel: ``pad`` (int, [h, w] or [top, bottom, left, right]) with ``mode``
    zeros, reflect (mirror without the edge; padding < the size), replicate (the edge
    repeated) or circular (wrap around; padding ≤ the size). C×H×W → C×(H+t+b)×(W+l+r).

    Backward keeps the input for reflect and replicate, nothing for zeros and circular
    (measured). Jacobian: one entry per output, except zeros padding: one per input.
    Receptive field: the first output's centre is ``top`` cells before the input's.
    """

    type_name = "pad"
    aliases = ("zeropad",)
    needs_image = True
    description = "a pad"

    pad: PadSides
    mode: Literal["zeros", "reflect", "replicate", "circular"] = "zeros"

    def __post_init__(self) -> None:
        if min(self.sides()) < 0:
            raise OptionError("pad", f"must be ≥ 0, got {format_option(self.pad)}")

    def sides(self) -> tuple[int, int, int, int]:
        """(top, bottom, left, right)."""
        if isinstance(self.pad, int):
            return (self.pad,) * 4
        if len(self.pad) == 2:
            return self.pad[0], self.pad[0], self.pad[1], self.pad[1]
        return self.pad

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """The input for reflect and replicate; nothing for zeros and circular."""
        return SAVES_INPUT if self.mode in ("reflect", "replicate") else SAVES_NOTHING

    def jacobian_nonzeros(self, shape_in: Shape, shape_out: Shape) -> int:
        """Zeros: one per input (padded outputs are constants); otherwise one per output."""
        return elements(shape_in if self.mode == "zeros" else shape_out)

    def output_of(self, shape: Shape) -> Outcome:
        channels, height, width = shape
        top, bottom, left, right = self.sides()
        too_wide = max(top, bottom) >= height or max(left, right) >= width
        if self.mode == "reflect" and too_wide:
            raise ShapeError(
                f"pad: reflect padding must be smaller than the input ({height}×{width})"
            )
        if self.mode == "circular" and (max(top, bottom) > height or max(left, right) > width):
            raise ShapeError(f"pad: circular padding must not exceed the input ({height}×{width})")
        output = (channels, height + top + bottom, width + left + right)
        step = RFStep((AxisStep(0.0, 1.0, float(-top)), AxisStep(0.0, 1.0, float(-left))))
        return Outcome(
            output=output,
            rf=step,
            derivations=(
                derive(
                    "output",
                    f"{channels} × ({height} + {top} + {bottom}) × ({width} + {left} + {right})",
                    format_shape(output),
                ),
            ),
        )


@dataclass(frozen=True, kw_only=True, repr=False)
class Slice(Layer):
    """Channels [start, end) of the input (ShuffleNet's split): (end − start)×H×W, or features
    of a vector. A view (backward keeps nothing, one Jacobian entry per output)."""

    type_name = "slice"
    aliases = ("split",)
    description = "a slice"
    is_reshape = True

    channels: tuple[int, int]

    def __post_init__(self) -> None:
        start, end = self.channels
        if start < 0 or end <= start:
            raise OptionError(
                "channels", f"expected [start, end) with 0 ≤ start < end, got [{start}, {end}]"
            )

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """Nothing: the gradient is placed back into zeros."""
        return SAVES_NOTHING

    def output_of(self, shape: Shape) -> Outcome:
        start, end = self.channels
        if end > shape[0]:
            raise ShapeError(f"slice: channels [{start}, {end}) go beyond the {shape[0]} there are")
        output = (end - start, *shape[1:])
        return Outcome(
            output=output,
            derivations=(derive("output", f"({end} − {start}) channels", format_shape(output)),),
        )


@dataclass(frozen=True, kw_only=True, repr=False)
class ChannelShuffle(Layer):
    """ShuffleNet's channel shuffle: the C channels as ``groups`` × C/groups, transposed. Same
    shape (C must divide by groups); a copy, backward keeps nothing, one Jacobian entry per
    output."""

    type_name = "channelshuffle"
    needs_image = True
    description = "a channel shuffle"

    groups: int

    def __post_init__(self) -> None:
        require_at_least("groups", self.groups, 1)

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """Nothing: the gradient is shuffled back."""
        return SAVES_NOTHING

    def output_of(self, shape: Shape) -> Outcome:
        if shape[0] % self.groups:
            raise ShapeError(
                f"channelshuffle: {shape[0]} channels do not split into {self.groups} groups"
            )
        return Outcome(output=shape)
