"""Merges: kinds that join two or more tensors of one sample into one.

A residual's ``add``, a concat's ``concat`` and the merge forms of a graph (``add: {from: […]}``)
are all rows of these kinds. None has params or MACs (convcalc's convention, as torchvision's and
FlopCounterMode's); the receptive field of the output is the union of the inputs' fields.
"""

from __future__ import annotations

from convcalc.errors import ShapeError
from convcalc.layers.base import Extra, Merge, Shape, broadcast, elements, format_shape


def listing(shapes: tuple[Shape, ...]) -> str:
    """``64×8×8, 32×8×8``."""
    return ", ".join(map(format_shape, shapes))


class Elementwise(Merge):
    """An elementwise merge with PyTorch's broadcasting: the inputs have one rank and on each
    axis equal sizes or 1; the output takes the size that is not 1 (a C×1×1 gate stretches over
    H×W)."""

    def output_of(self, shapes: tuple[Shape, ...]) -> Shape:
        output = broadcast(shapes)
        if output is None:
            raise ShapeError(
                f"{self.type_name}: the inputs' shapes {listing(shapes)} do not broadcast "
                "(each axis must have equal sizes or 1)"
            )
        return output


class Add(Elementwise):
    """y = x₁ + x₂ + … (broadcasting). Backward keeps nothing: ∂y/∂xᵢ is the identity (summed
    over a broadcast axis). Jacobian: one non-zero per output per input."""

    type_name = "add"
    aliases = ("sum",)
    description = "an add (a sum of tensors, not one layer's output)"
    reader_role = "an input of the add"


class Concat(Merge):
    """Joined along the channels: C = C₁ + C₂ + …; H×W must match (vectors: D = D₁ + D₂ + …).
    Backward keeps nothing (it splits the gradient). Jacobian: one non-zero per output."""

    type_name = "concat"
    aliases = ("cat",)
    description = "a concat (several tensors side by side, not one layer's output)"
    reader_role = "an input of the concat"

    def output_of(self, shapes: tuple[Shape, ...]) -> Shape:
        if len({len(shape) for shape in shapes}) > 1:
            raise ShapeError(f"concat: the inputs mix images and vectors ({listing(shapes)})")
        channels = sum(shape[0] for shape in shapes)
        if len(shapes[0]) == 1:
            return (channels,)
        if len({shape[1:] for shape in shapes}) > 1:
            raise ShapeError(f"concat: the inputs' H×W differ ({listing(shapes)})")
        return (channels, *shapes[0][1:])

    def jacobian_nonzeros(self, shapes: tuple[Shape, ...], shape_out: Shape) -> int:
        """One per output: each output is one input value."""
        return elements(shape_out)


class Mul(Elementwise):
    """y = x₁ · x₂ · … (broadcasting), computed as PyTorch does, ((x₁·x₂)·x₃)·…: squeeze-and-
    excitation's gate. Jacobian: one non-zero per output per input (∂y/∂xᵢ is the product of
    the other inputs).

    Backward of each product a·b keeps b when a needs a gradient and a when b does (measured
    with ``saved_tensors_hooks``): so an input is kept when any other input needs a gradient,
    and with three or more inputs the partial products x₁·…·xₖ are kept as well when a later
    input needs one.
    """

    type_name = "mul"
    aliases = ("multiply",)
    description = "a multiply (a product of tensors, not one layer's output)"
    reader_role = "an input of the multiply"

    def saved_tensors(
        self, shapes: tuple[Shape, ...], needs_grad: tuple[bool, ...], batch: int
    ) -> tuple[tuple[int, ...], Extra | None]:
        kept = [False] * len(shapes)
        partial_values = 0
        for step in range(1, len(shapes)):
            left_needs = any(needs_grad[:step])
            if left_needs:
                kept[step] = True
            if needs_grad[step]:
                if step == 1:
                    kept[0] = True
                else:
                    partial = broadcast(shapes[:step])
                    partial_values += elements(partial or shapes[0]) * batch
        positions = tuple(position for position, keep in enumerate(kept) if keep)
        extra = Extra(partial_values, "partial products") if partial_values else None
        return positions, extra
