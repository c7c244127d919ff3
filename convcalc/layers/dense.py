"""Flatten and fully connected (linear, dense) layers."""

from __future__ import annotations

from dataclasses import dataclass

from convcalc.errors import ShapeError
from convcalc.layers.base import (
    GLOBAL_STEP,
    Layer,
    Outcome,
    Shape,
    derive,
    elements,
    format_shape,
    require_at_least,
)


@dataclass(frozen=True, kw_only=True)
class Flatten(Layer):
    """C×H×W → a vector of C·H·W values. No params; the field becomes the whole input."""

    type_name = "flatten"

    def output_of(self, shape: Shape) -> Outcome:
        size = elements(shape)
        return Outcome(
            output=(size,),
            rf=GLOBAL_STEP,
            derivations=(derive("output", " · ".join(map(str, shape)), size),),
        )


@dataclass(frozen=True, kw_only=True)
class FC(Layer):
    """Fully connected: a vector of D_in → ``out``. Params: D_in·out + out·bias. MACs: D_in·out.
    Every output sees the whole input."""

    type_name = "fc"
    aliases = ("linear", "dense")

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
