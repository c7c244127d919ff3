"""A layer convcalc cannot compute: an op of an imported model outside the vocabulary.

Its row keeps the analysis going (what comes after it is still analysed) with what the model
itself says: its output shape. It counts no params and no MACs, and is marked unsupported in
every output; ``--strict`` makes it an error.
"""

from __future__ import annotations

from dataclasses import dataclass

from convcalc.errors import ConvcalcError, OptionError
from convcalc.layers.base import Layer, Outcome, Shape, derive, format_shape


@dataclass(frozen=True, kw_only=True, repr=False)
class Opaque(Layer):
    """An op convcalc has no arithmetic for (``op``, e.g. ``onnx:Einsum``) whose output per
    sample is ``shape`` (``C×H×W`` or ``D``), as the model states it. Its row's type is the op.

    0 params, 0 MACs, whatever the op really does. Receptive field: taken as passing through
    unchanged, since nothing says how the op mixes positions (the fields after it are lower
    bounds). Backward is assumed to keep its input, and its Jacobian one entry per output, as
    for an elementwise op: both unknown too.
    """

    type_name = "opaque"
    description = "an unsupported op"
    supported = False

    op: str
    shape: str | int

    def __post_init__(self) -> None:
        from convcalc.tensors import parse_shape

        if not self.op.strip():
            raise OptionError("op", "give the op's name, e.g. onnx:Einsum")
        try:
            parse_shape(self.shape)
        except ConvcalcError as error:
            raise OptionError("shape", error.message) from None
        # The row is the op's: its type in tables, JSON and messages (the kind stays `opaque`
        # in specs and the registry).
        object.__setattr__(self, "type_name", self.op)

    @property
    def output_shape(self) -> Shape:
        from convcalc.tensors import parse_shape

        return parse_shape(self.shape)

    def output_of(self, shape: Shape) -> Outcome:
        output = self.output_shape
        return Outcome(
            output=output,
            warnings=(
                f"unsupported op {self.op}: counted as 0 params and 0 MACs, its output shape "
                f"{format_shape(output)} as the model gives it, its receptive field as unchanged",
            ),
            derivations=(derive("output", "as the model gives it", format_shape(output)),),
        )
