"""The explicit Jacobian of each layer: how big it would be, and how few of its entries are not 0.

For a batch of N, a layer maps N·D_in values to N·D_out, so its Jacobian ∂y/∂x is an
(N·D_out) × (N·D_in) matrix — for a 64×56×56 conv at batch 32, about 4·10¹⁵ entries. It is block
diagonal across samples (a sample's outputs never depend on another sample's inputs), and inside a
block each output depends on a few inputs only, so backward never forms it: it applies the local
rule (the weights, a mask, the argmax) instead. The counts here are exact:

- elementwise layers (activations, prelu, dropout, batchnorm as the per-channel affine map it is
  at inference), flatten: one entry per output (the diagonal, or a permutation);
- softmax (over the channels): C entries per output; layernorm: D_in; groupnorm: its group's
  (C/G)·H·W; instancenorm: its channel's H·W;
- conv: (C/groups) · taps_h(o_h) · taps_w(o_w) per output, where taps(o) counts the kernel taps
  k with 0 ≤ o·S − P + k·D < W (padded taps read no input, so borders see fewer);
- deconv: per axis the (input i, tap k) pairs with 0 ≤ i·S − P + k·D < W_out, times C/groups;
- average pooling: the real (non-padding) cells of each window; adaptive: each window's cells;
  global: the whole channel;
- max pooling: one entry per output — the realised Jacobian routes each gradient to the stored
  argmax, which is what backward uses. The structural count (every window cell could be the max)
  is reported as ``window_nonzeros``;
- fc: D_in per output; add: one per output per input; concat: one per output.

The per-sample count is multiplied by N (the blocks on the diagonal). Merges count their
inputs together as the columns. Training-mode batchnorm, which mixes the samples of a batch
through the batch statistics, is not what is counted: the inference map is.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convcalc.layers.activation import Softmax
from convcalc.layers.base import Layer, Shape, elements, pair
from convcalc.layers.conv import Conv, Deconv, resolve_groups
from convcalc.layers.dense import FC
from convcalc.layers.norm import GroupNorm, InstanceNorm, LayerNorm
from convcalc.layers.pooling import (
    AdaptiveMaxPool,
    AdaptivePool,
    GlobalMaxPool,
    GlobalPool,
    MaxPool,
    Pool,
    adaptive_windows,
)
from convcalc.layers.window import Window, windows
from convcalc.report import Report, Row
from convcalc.tensors import dtype_bytes


@dataclass(frozen=True)
class Jacobian:
    """The explicit Jacobian of one row for the whole batch: ``rows`` × ``cols`` entries,
    ``bytes`` at the dtype, ``nonzeros`` structurally non-zero entries (``window_nonzeros``: the
    structural count of max pooling, where ``nonzeros`` is one per output)."""

    rows: int
    cols: int
    bytes: int
    nonzeros: int
    window_nonzeros: int | None = None

    @property
    def entries(self) -> int:
        """rows × cols."""
        return self.rows * self.cols

    @property
    def density(self) -> float:
        """nonzeros / (rows × cols)."""
        return self.nonzeros / self.entries if self.entries else 0.0

    def to_document(self) -> dict[str, Any]:
        """``{rows, cols, bytes, nonzeros, density}`` (and ``window_nonzeros`` for max pools)."""
        document: dict[str, Any] = {
            "rows": self.rows,
            "cols": self.cols,
            "bytes": self.bytes,
            "nonzeros": self.nonzeros,
            "density": self.density,
        }
        if self.window_nonzeros is not None:
            document["window_nonzeros"] = self.window_nonzeros
        return document


def taps(window: Window) -> int:
    """Σ over output positions o of the kernel taps k ∈ [0, K) that land on a real input cell:
    0 ≤ o·S − P_before + k·D < W."""
    total = 0
    for position in range(window.output):
        start = position * window.stride - window.pad_before
        total += sum(
            1 for k in range(window.kernel) if 0 <= start + k * window.dilation < window.size
        )
    return total


def transposed_taps(size: int, kernel: int, stride: int, pad: int, dilation: int, out: int) -> int:
    """The (input i, tap k) pairs of a transposed conv axis that reach an output:
    0 ≤ i·S − P + k·D < W_out (each pair reaches exactly one output)."""
    return sum(
        1 for i in range(size) for k in range(kernel) if 0 <= i * stride - pad + k * dilation < out
    )


def window_axes(layer: Conv | Pool, shape: Shape) -> tuple[Window, Window]:
    """The two spatial windows of a conv or pool on a C×H×W input."""
    _, height, width = shape
    kernel = pair(layer.kernel)
    if isinstance(layer, Conv):
        stride, dilation, ceil = pair(layer.stride), pair(layer.dilation), False
    else:
        stride = pair(layer.stride if layer.stride is not None else layer.kernel)
        dilation, ceil = layer.dilation_pair, layer.ceil_mode
    return windows((height, width), kernel, stride, layer.pad, dilation, ceil)


def sample_nonzeros(layer: Layer, shape_in: Shape, shape_out: Shape) -> tuple[int, int | None]:
    """Structurally non-zero entries of one sample's Jacobian block, and for max pooling the
    window count besides the one-per-output count (see the module docstring)."""
    outputs = elements(shape_out)
    match layer:
        case Conv():
            rows, cols = window_axes(layer, shape_in)
            groups = resolve_groups(layer.groups, shape_in[0], layer.filters)
            return layer.filters * (shape_in[0] // groups) * taps(rows) * taps(cols), None
        case Deconv():
            groups = resolve_groups(layer.groups, shape_in[0], layer.filters)
            per_axis = [
                transposed_taps(size, k, s, p, d, out)
                for size, k, s, p, d, out in zip(
                    shape_in[1:],
                    pair(layer.kernel),
                    pair(layer.stride),
                    pair(layer.pad),
                    pair(layer.dilation),
                    shape_out[1:],
                    strict=True,
                )
            ]
            return layer.filters * (shape_in[0] // groups) * per_axis[0] * per_axis[1], None
        case Pool():
            rows, cols = window_axes(layer, shape_in)
            window = shape_in[0] * taps(rows) * taps(cols)
            return (outputs, window) if isinstance(layer, MaxPool) else (window, None)
        case AdaptivePool():
            cells = shape_in[0]
            for size, out in zip(shape_in[1:], shape_out[1:], strict=True):
                cells *= sum(end - start for start, end in adaptive_windows(size, out))
            return (outputs, cells) if isinstance(layer, AdaptiveMaxPool) else (cells, None)
        case GlobalPool():
            cells = elements(shape_in)
            return (outputs, cells) if isinstance(layer, GlobalMaxPool) else (cells, None)
        case FC():
            return elements(shape_in) * outputs, None
        case Softmax():
            return outputs * shape_in[0], None
        case LayerNorm():
            return outputs * elements(shape_in), None
        case GroupNorm(groups=groups):
            return outputs * elements(shape_in) // groups, None
        case InstanceNorm():
            return outputs * elements(shape_in[1:]), None
    # Elementwise layers, batchnorm at inference and flatten: the diagonal (or a permutation).
    return outputs, None


def jacobian(row: Row, batch: int, bytes_per_value: int) -> Jacobian:
    """The Jacobian of ``row`` for ``batch`` samples: (N·D_out) × (N·D_in), N × the per-sample
    non-zeros. A merge's columns are all its inputs: an add has one entry per output per input,
    a concat one per output."""
    outputs = elements(row.output)
    if row.layer is None:
        inputs = outputs if row.type == "concat" else outputs * len(row.sources)
        per_sample, window = inputs, None
    else:
        inputs = elements(row.input)
        per_sample, window = sample_nonzeros(row.layer, row.input, row.output)
    rows, cols = batch * outputs, batch * inputs
    return Jacobian(
        rows=rows,
        cols=cols,
        bytes=rows * cols * bytes_per_value,
        nonzeros=batch * per_sample,
        window_nonzeros=None if window is None else batch * window,
    )


@dataclass(frozen=True)
class JacobianView:
    """``--jacobian``: one :class:`Jacobian` per row."""

    jacobians: tuple[Jacobian, ...]

    def annotate(self, document: dict[str, Any]) -> None:
        """Add a ``jacobian`` object to each layer."""
        for layer, matrix in zip(document["layers"], self.jacobians, strict=True):
            layer["jacobian"] = matrix.to_document()


def jacobians(report: Report) -> JacobianView:
    """The Jacobian of every row at the report's batch and dtype."""
    width = dtype_bytes(report.dtype)
    return JacobianView(tuple(jacobian(row, report.batch, width) for row in report.rows))
