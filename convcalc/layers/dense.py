"""Flatten and fully connected (linear, dense) layers."""

from __future__ import annotations

from dataclasses import dataclass

from convcalc.errors import ShapeError
from convcalc.layers.base import (
    GLOBAL_STEP,
    SAVES_NOTHING,
    Layer,
    Outcome,
    Saved,
    Shape,
    derive,
    elements,
    format_shape,
    require_at_least,
)


class Flatten(Layer):
    """C×H×W → a vector of C·H·W values. No params; the field becomes the whole input.

    A reshape: the output is a view of the input's storage, backward keeps nothing, and the
    Jacobian is a permutation (one entry per output).
    """

    type_name = "flatten"
    description = "a reshape"
    is_reshape = True

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """Nothing: the gradient is only reshaped back."""
        return SAVES_NOTHING

    def output_of(self, shape: Shape) -> Outcome:
        size = elements(shape)
        return Outcome(
            output=(size,),
            rf=GLOBAL_STEP,
            derivations=(derive("output", " · ".join(map(str, shape)), size),),
        )


@dataclass(frozen=True, kw_only=True, repr=False)
class FC(Layer):
    """Fully connected: a vector of D_in → ``out``. Params: D_in·out + out·bias. MACs: D_in·out.
    Every output sees the whole input. Backward keeps the input (for the weight gradient)."""

    type_name = "fc"
    aliases = ("linear", "dense")
    description = "an fc"
    folds_batchnorm = True

    out: int
    bias: bool = True
    in_features: int | None = None

    def __post_init__(self) -> None:
        require_at_least("out", self.out, 1)
        require_at_least("in_features", self.in_features, 1)

    def output_of(self, shape: Shape) -> Outcome:
        if len(shape) != 1:
            raise ShapeError(
                f"fc needs a vector, but receives {format_shape(shape)}; "
                "add `flatten` (or a global pool) before it"
            )
        (inputs,) = shape
        if self.in_features is not None and self.in_features != inputs:
            raise ShapeError(
                f"in_features: the layer expects {self.in_features} inputs but receives {inputs}"
            )
        params = inputs * self.out + self.out * int(self.bias)
        bias = f" + {self.out}" if self.bias else ""
        return Outcome(
            output=(self.out,),
            params=params,
            macs=inputs * self.out,
            rf=GLOBAL_STEP,
            derivations=(
                derive("params", f"{inputs}·{self.out}{bias}", params),
                derive("MACs", f"{inputs}·{self.out}", inputs * self.out),
            ),
        )

    def jacobian_nonzeros(self, shape_in: Shape, shape_out: Shape) -> int:
        """D_in per output: the Jacobian is the dense weight matrix."""
        return elements(shape_in) * elements(shape_out)

    def forward_fold_refusal(self, shape_in: Shape) -> str | None:
        """A BN before an fc always folds into its input features (an fc has no padding)."""
        return None
