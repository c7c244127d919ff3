"""The explicit Jacobian of each layer: how big it would be, and how few of its entries are not 0.

For a batch of N, a layer maps N·D_in values to N·D_out, so its Jacobian ∂y/∂x is an
(N·D_out) × (N·D_in) matrix — for a 64×56×56 conv at batch 32, about 4·10¹⁵ entries. It is block
diagonal across samples (a sample's outputs never depend on another sample's inputs), and inside a
block each output depends on a few inputs only, so backward never forms it: it applies the local
rule (the weights, a mask, the argmax) instead. The counts here are exact; each layer kind
states its own per-sample count (:meth:`Layer.jacobian_nonzeros`, by default one per output: the
diagonal of an elementwise map or a reshape's permutation; conv and pooling count the kernel taps
that land on real input cells, so borders see fewer). Max pooling's realised Jacobian has one
entry per output — it routes each gradient to the stored argmax, which is what backward uses — and
its structural count (every window cell could be the max) is reported as ``window_nonzeros``
(:meth:`Layer.window_nonzeros`). Merge kinds state theirs too (:meth:`Merge.jacobian_nonzeros`:
an add or mul has one entry per output per input, a concat one per output).

The per-sample count is multiplied by N (the blocks on the diagonal). Merges count their
inputs together as the columns. Training-mode batchnorm, which mixes the samples of a batch
through the batch statistics, is not what is counted: the inference map is.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from convcalc.layers.base import elements
from convcalc.report import Report, Row
from convcalc.tensors import dtype_bytes


class Jacobian(NamedTuple):
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


def jacobian(row: Row, batch: int, bytes_per_value: int) -> Jacobian:
    """The Jacobian of ``row`` for ``batch`` samples: (N·D_out) × (N·D_in), N × the per-sample
    non-zeros. A merge's columns are all its inputs: an add has one entry per output per input,
    a concat one per output."""
    outputs = elements(row.output)
    inputs = sum(map(elements, row.inputs))
    if row.merge is not None:
        per_sample, window = row.merge.jacobian_nonzeros(row.merged, row.output), None
    elif row.layer is not None:
        per_sample = row.layer.jacobian_nonzeros(row.input, row.output)
        window = row.layer.window_nonzeros(row.input, row.output)
    rows, cols = batch * outputs, batch * inputs
    return Jacobian(
        rows=rows,
        cols=cols,
        bytes=rows * cols * bytes_per_value,
        nonzeros=batch * per_sample,
        window_nonzeros=None if window is None else batch * window,
    )


class JacobianView(NamedTuple):
    """``--jacobian``: one :class:`Jacobian` per row."""

    jacobians: tuple[Jacobian, ...]

    def annotate_layer(self, index: int, layer: dict[str, Any]) -> None:
        """Add a ``jacobian`` object to each layer."""
        layer["jacobian"] = self.jacobians[index].to_document()

    def annotate(self, document: dict[str, Any]) -> None:
        """The Jacobian view adds nothing outside the layers."""


def jacobians(report: Report) -> JacobianView:
    """The Jacobian of every row at the report's batch and dtype."""
    width = dtype_bytes(report.dtype)
    return JacobianView(tuple(jacobian(row, report.batch, width) for row in report.rows))
