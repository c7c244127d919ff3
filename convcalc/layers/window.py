"""Sliding-window geometry along one axis: the arithmetic shared by convolution and pooling."""

from __future__ import annotations

import math
from typing import NamedTuple

from convcalc.errors import ShapeError
from convcalc.layers.base import AxisStep, Padding, pair


class Window(NamedTuple):
    """One axis of a sliding window over an input of ``size`` cells.

    With K_eff = D(K−1) + 1 and padding P_before + P_after, the window fits
    ``(size + P_before + P_after − K_eff)/S + 1`` times — the notes' (W − K + 2P)/S + 1. Frameworks
    floor that (or, with ``ceil_mode``, round it up but drop a last window that would start beyond
    the input plus the leading padding). The ``remainder`` padded cells after the last window are
    unused; those beyond the trailing padding are real input cells that are never read.
    """

    axis: str
    size: int
    kernel: int
    dilation: int
    stride: int
    pad_before: int
    pad_after: int
    ceil_mode: bool = False

    @property
    def effective_kernel(self) -> int:
        """K_eff = D(K − 1) + 1: the extent a dilated kernel covers."""
        return self.dilation * (self.kernel - 1) + 1

    @property
    def span(self) -> int:
        """W + P_before + P_after − K_eff: how far the window can travel."""
        return self.size + self.pad_before + self.pad_after - self.effective_kernel

    @property
    def exact(self) -> tuple[int, int]:
        """The notes' formula unrounded, span/S + 1, as a reduced fraction (numerator,
        denominator): the denominator is 1 when the stride fits."""
        common = math.gcd(self.span + self.stride, self.stride)
        return (self.span + self.stride) // common, self.stride // common

    @property
    def output(self) -> int:
        """The number of window positions: ⌊span/S⌋ + 1, or the ceil_mode count.

        ceil_mode is PyTorch's ``pooling_output_shape``: ⌈span/S⌉ + 1, minus one if that last
        window would start at or beyond W + P_before. Its windows may run past the padded input,
        so (as in PyTorch) a kernel up to S − 1 cells larger than the padded input still gives
        one window there.
        """
        if self.ceil_mode:
            count = -(-self.span // self.stride) + 1
            if (count - 1) * self.stride >= self.size + self.pad_before:
                count -= 1
        else:
            count = self.span // self.stride + 1 if self.span >= 0 else 0
        if count < 1:
            raise ShapeError(
                f"{self.axis}: the kernel covers {self.effective_kernel} but the padded input is "
                f"only {self.size + self.pad_before + self.pad_after}"
            )
        return count

    @property
    def dropped(self) -> int:
        """Real input cells after the last window, never read (padding-only slack is not)."""
        last_covered = (self.output - 1) * self.stride + self.effective_kernel - 1
        last_real = self.pad_before + self.size - 1
        return max(0, last_real - last_covered)

    @property
    def real_taps(self) -> int:
        """Σ over output positions o of the kernel taps k ∈ [0, K) that land on a real input cell,
        0 ≤ o·S − P_before + k·D < W: padded taps read no input, so borders see fewer."""
        return taps_in_range(
            self.output, self.stride, self.kernel, self.dilation, self.pad_before, self.size
        )

    @property
    def rf_step(self) -> AxisStep:
        """span = K_eff − 1, stride = S, offset = (K_eff − 1)/2 − P_before."""
        return AxisStep(
            span=float(self.effective_kernel - 1),
            stride=float(self.stride),
            offset=(self.effective_kernel - 1) / 2 - self.pad_before,
        )

    def formula(self) -> str:
        """The notes' formula with this axis's numbers, exact fraction and rounding shown."""
        if self.pad_before == self.pad_after:
            padding = f"2·{self.pad_before}"
        else:
            padding = f"{self.pad_before} + {self.pad_after}"
        kernel = str(self.kernel)
        if self.dilation != 1:
            kernel = f"{self.effective_kernel}"
        text = f"({self.size} − {kernel} + {padding})/{self.stride} + 1"
        numerator, denominator = self.exact
        if denominator == 1:
            return text
        low, high = ("⌈", "⌉") if self.ceil_mode else ("⌊", "⌋")
        formula = f"{low}{text}{high} = {low}{numerator}/{denominator}{high}"
        if self.ceil_mode and self.output < -(-numerator // denominator):
            formula += " − 1 (a last window would start in the padding)"
        return formula

    def dropped_warning(self) -> str | None:
        """The stride-does-not-fit warning when real input cells go unread, else ``None``.

        A kernel smaller than its stride skips S − K_eff cells between windows by design (a 1×1
        stride-2 projection reads every other row); only a trailing gap wider than that is news.
        """
        if self.dropped <= max(0, self.stride - self.effective_kernel):
            return None
        cells = "row" if self.axis == "height" else "column"
        plural = "" if self.dropped == 1 else "s"
        return (
            f"stride {self.stride} does not fit the {self.axis}: "
            f"({self.size} + {self.pad_before + self.pad_after} − {self.effective_kernel}) "
            f"is not a multiple of {self.stride}, so the last {self.dropped} input "
            f"{cells}{plural} {'is' if self.dropped == 1 else 'are'} never read"
        )


def resolve_padding(
    padding: Padding,
    size: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding per axis as (before, after) pairs.

    ``same`` is TensorFlow's rule: output = ⌈W/S⌉, total padding
    max((out − 1)·S + K_eff − W, 0), the odd cell on the bottom/right. ``valid`` is no padding.
    """
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        pads = []
        for width, k, s, d in zip(size, kernel, stride, dilation, strict=True):
            out = -(-width // s)
            total = max((out - 1) * s + d * (k - 1) + 1 - width, 0)
            pads.append((total // 2, total - total // 2))
        return pads[0], pads[1]
    height, width = pair(padding)
    return (height, height), (width, width)


def windows(
    shape: tuple[int, int],
    kernel: tuple[int, int],
    stride: tuple[int, int],
    padding: Padding,
    dilation: tuple[int, int] = (1, 1),
    ceil_mode: bool = False,
) -> tuple[Window, Window]:
    """The two spatial windows (height, width) of a conv or pool over an H×W input."""
    pads = resolve_padding(padding, shape, kernel, stride, dilation)
    height, width = (
        Window(axis, size, k, d, s, before, after, ceil_mode)
        for axis, size, k, d, s, (before, after) in zip(
            ("height", "width"), shape, kernel, dilation, stride, pads, strict=True
        )
    )
    return height, width


def taps_in_range(
    positions: int, stride: int, kernel: int, dilation: int, offset: int, width: int
) -> int:
    """The pairs (position p < ``positions``, tap k < ``kernel``) with
    0 ≤ p·stride − offset + k·dilation < ``width``, counted without a loop over either.

    That is N(offset + width − 1) − N(offset − 1), where N(t) counts the pairs with
    p·S + k·D ≤ t: the first positions have all K taps at or below t, the last none, and the
    run between them has ⌊(t − p·S)/D⌋ + 1 taps each, a sum of floors of a linear function.
    """
    return _pairs_at_most(positions, stride, kernel, dilation, offset + width - 1) - (
        _pairs_at_most(positions, stride, kernel, dilation, offset - 1)
    )


def _pairs_at_most(positions: int, stride: int, kernel: int, dilation: int, limit: int) -> int:
    """N(t): the pairs p < ``positions``, k < ``kernel`` with p·S + k·D ≤ t."""
    full = min(max((limit - (kernel - 1) * dilation) // stride + 1, 0), positions)
    some = min(max(limit // stride + 1, 0), positions)
    partial = some - full
    if partial <= 0:
        return full * kernel
    # Counted from the last position of the run backwards: t − (some − 1)·S + j·S ≥ 0.
    start = limit - (some - 1) * stride
    return full * kernel + partial + floor_sum(partial, dilation, stride, start)


def floor_sum(count: int, divisor: int, slope: int, start: int) -> int:
    """Σ_{i < count} ⌊(slope·i + start)/divisor⌋ for slope, start ≥ 0, in Euclid's few steps
    (each swaps the roles of slope and divisor, so it takes O(log) of the numbers, never a loop
    over ``count``)."""
    total = 0
    while True:
        if slope >= divisor:
            total += count * (count - 1) // 2 * (slope // divisor)
            slope %= divisor
        if start >= divisor:
            total += count * (start // divisor)
            start %= divisor
        highest = slope * count + start
        if highest < divisor:
            return total
        count, start = divmod(highest, divisor)
        divisor, slope = slope, divisor
