"""The arithmetic run backwards: which layer settings map one size to another, and which input
sizes a whole network accepts.

One layer: every (kernel, stride, pad, dilation) — and output_padding for a transposed conv —
within bounds is run forward through the same window arithmetic the layers use
(:class:`~convcalc.layers.window.Window`, the transposed-conv formula), and those that give the
wanted size are kept. A setting that leaves real input rows unread (the stride does not fit and
the remainder is more than the padding) is marked. The search is exhaustive, so nothing is
missed and nothing is guessed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, NamedTuple

from convcalc.errors import ConvcalcError, ShapeError, SpecErrors, UsageError
from convcalc.layers.base import Shape
from convcalc.layers.window import Window

if TYPE_CHECKING:
    from convcalc.spec import Network

SOLVE_TYPES = ("conv", "deconv", "maxpool", "avgpool")
"""The layer types ``solve`` searches."""

MAX_KERNEL = 11
MAX_STRIDE = 11
MAX_DILATION = 4


class Solution(NamedTuple):
    """One setting that maps the input size to the output size along an axis; ``dropped``
    real input cells are never read (0: every cell is)."""

    kernel: int
    stride: int
    pad: int
    dilation: int
    output_padding: int
    dropped: int

    @property
    def simplicity(self) -> tuple[int, ...]:
        """Sort key, simplest first: no dilation, less padding, smaller kernel and stride."""
        return (self.dilation, self.pad, self.kernel, self.stride, self.output_padding)


class Bounds(NamedTuple):
    """The values searched: each option fixed (a one-value tuple) or a range."""

    kernels: tuple[int, ...]
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads: tuple[int, ...] | None  # None: every padding the layer type allows


def bounds(
    kind: str,
    kernel: int | None = None,
    stride: int | None = None,
    pad: int | None = None,
    dilation: int | None = None,
) -> Bounds:
    """What to search for ``kind``: a given value alone, else kernel ≤ 11, stride ≤ 11,
    dilation ≤ 4 (1 for avgpool, which has none)."""
    if kind == "avgpool" and dilation not in (None, 1):
        raise UsageError("--dilation: avgpool has no dilation")
    for flag, value in (("--kernel", kernel), ("--stride", stride), ("--dilation", dilation)):
        if value is not None and value < 1:
            raise UsageError(f"{flag}: must be ≥ 1, got {value}")
    if pad is not None and pad < 0:
        raise UsageError(f"--pad: must be ≥ 0, got {pad}")
    return Bounds(
        kernels=(kernel,) if kernel is not None else tuple(range(1, MAX_KERNEL + 1)),
        strides=(stride,) if stride is not None else tuple(range(1, MAX_STRIDE + 1)),
        dilations=(
            (dilation,)
            if dilation is not None
            else (1,)
            if kind == "avgpool"
            else tuple(range(1, MAX_DILATION + 1))
        ),
        pads=(pad,) if pad is not None else None,
    )


def pads_allowed(kind: str, kernel: int, dilation: int) -> range:
    """The paddings searched: a conv or pool up to half its kernel (⌊K_eff/2⌋ for a conv, so
    the first window is centred on a real cell; ⌊K/2⌋ for a pool, beyond which PyTorch refuses),
    a transposed conv up to D(K − 1) (beyond it the output would lose every cell the kernel
    writes)."""
    effective = dilation * (kernel - 1) + 1
    if kind == "conv":
        return range(effective // 2 + 1)
    if kind in ("maxpool", "avgpool"):
        return range(kernel // 2 + 1)
    return range(effective)


def solve_axis(kind: str, size_in: int, size_out: int, limits: Bounds) -> list[Solution]:
    """Every setting within ``limits`` that takes ``size_in`` cells to exactly ``size_out``,
    simplest first (those that drop input included, marked)."""
    if kind not in SOLVE_TYPES:
        raise UsageError(f"--type: expected one of {', '.join(SOLVE_TYPES)}, got {kind!r}")
    found: list[Solution] = []
    for kernel in limits.kernels:
        for dilation in limits.dilations:
            if kernel == 1 and dilation > 1 and len(limits.dilations) > 1:
                continue  # a 1×1 kernel reads the same cell at any dilation
            pads = limits.pads if limits.pads is not None else pads_allowed(kind, kernel, dilation)
            for stride in limits.strides:
                for pad in pads:
                    found.extend(candidates(kind, size_in, size_out, kernel, stride, pad, dilation))
    return sorted(found, key=lambda solution: solution.simplicity)


def candidates(
    kind: str, size_in: int, size_out: int, kernel: int, stride: int, pad: int, dilation: int
) -> Iterable[Solution]:
    """The solutions with these options (several output paddings for a transposed conv)."""
    if kind == "deconv":
        for extra in range(max(stride, dilation)):
            if transposed_size(size_in, kernel, stride, pad, extra, dilation) == size_out:
                yield Solution(kernel, stride, pad, dilation, extra, 0)
        return
    if kind != "conv" and 2 * pad > kernel:
        return
    window = Window("height", size_in, kernel, dilation, stride, pad, pad)
    try:
        output = window.output
    except ShapeError:
        return
    if output == size_out:
        dropped = window.dropped if window.dropped_warning() is not None else 0
        yield Solution(kernel, stride, pad, dilation, 0, dropped)


def transposed_size(
    size: int, kernel: int, stride: int, pad: int, extra: int, dilation: int
) -> int:
    """A transposed conv's output: (W − 1)·S − 2P + D(K − 1) + output_padding + 1."""
    return (size - 1) * stride - 2 * pad + dilation * (kernel - 1) + extra + 1


# --- a whole network -----------------------------------------------------------------------------


class SizeResult(NamedTuple):
    """One input size: the output shapes when the network accepts it, else the first problem
    (``where``: the layer, ``problem``: the message)."""

    size: tuple[int, int]
    outputs: tuple[Shape, ...] = ()
    where: str = ""
    problem: str = ""

    @property
    def accepted(self) -> bool:
        """Whether the whole network runs on this size without an error or unread rows."""
        return not self.problem


def solve_size(network: Network, size: tuple[int, int]) -> SizeResult:
    """Run ``network`` on an input of ``size`` (its channels kept), unread rows counting as a
    failure (``--strict``); the shapes of every tensor it returns (``outputs:``)."""
    from convcalc.analysis import Analyzer

    analyzer = Analyzer(replace(network, input=(network.input[0], *size)), strict=True)
    try:
        analyzer.run()
    except ConvcalcError as error:
        # The analysis reports every problem; the first is where the size fails.
        first = error.errors[0] if isinstance(error, SpecErrors) else error
        return SizeResult(size, where=first.location.path or "", problem=first.message)
    return SizeResult(size, outputs=tuple(output.shape for output in analyzer.returned()))


def check_image(network: Network) -> None:
    """Sizes are tried on an image input only."""
    if len(network.input) != 3:
        raise UsageError("--sizes: the network's input is a vector, not an image")


def solve_sizes(network: Network, sizes: Sequence[tuple[int, int]]) -> list[SizeResult]:
    """:func:`solve_size` for every size, in order."""
    check_image(network)
    return [solve_size(network, size) for size in sizes]
