"""Elementwise layers: activations, PReLU and dropout. Shape in = shape out, no MACs."""

from __future__ import annotations

from dataclasses import dataclass

from convcalc.errors import OptionError
from convcalc.layers.base import Layer, Outcome, Shape, derive


@dataclass(frozen=True, kw_only=True)
class Elementwise(Layer):
    """A layer applied to each value on its own: output shape = input shape, no params."""

    def output_of(self, shape: Shape) -> Outcome:
        return Outcome(output=shape)


@dataclass(frozen=True, kw_only=True)
class ReLU(Elementwise):
    """max(0, x)."""

    type_name = "relu"


@dataclass(frozen=True, kw_only=True)
class ReLU6(Elementwise):
    """min(max(0, x), 6)."""

    type_name = "relu6"


@dataclass(frozen=True, kw_only=True)
class LeakyReLU(Elementwise):
    """x if x > 0 else negative_slope·x."""

    type_name = "leakyrelu"

    negative_slope: float = 0.01


@dataclass(frozen=True, kw_only=True)
class ELU(Elementwise):
    """x if x > 0 else alpha·(eˣ − 1)."""

    type_name = "elu"

    alpha: float = 1.0


@dataclass(frozen=True, kw_only=True)
class GELU(Elementwise):
    """x·Φ(x)."""

    type_name = "gelu"


@dataclass(frozen=True, kw_only=True)
class SiLU(Elementwise):
    """x·σ(x) (swish)."""

    type_name = "silu"
    aliases = ("swish",)


@dataclass(frozen=True, kw_only=True)
class Sigmoid(Elementwise):
    """1/(1 + e⁻ˣ)."""

    type_name = "sigmoid"


@dataclass(frozen=True, kw_only=True)
class Tanh(Elementwise):
    """tanh(x)."""

    type_name = "tanh"


@dataclass(frozen=True, kw_only=True)
class Hardswish(Elementwise):
    """x·relu6(x + 3)/6."""

    type_name = "hardswish"


@dataclass(frozen=True, kw_only=True)
class Softmax(Elementwise):
    """eˣⁱ/Σⱼ eˣʲ over the channels (or the features of a vector)."""

    type_name = "softmax"


@dataclass(frozen=True, kw_only=True)
class PReLU(Layer):
    """x if x > 0 else a·x with a learned slope a: one shared, or one per channel.
    Params: 1 when shared, C otherwise."""

    type_name = "prelu"

    shared: bool = True

    def output_of(self, shape: Shape) -> Outcome:
        params = 1 if self.shared else shape[0]
        return Outcome(
            output=shape,
            params=params,
            derivations=(
                derive(
                    "params",
                    "1 (shared slope)" if self.shared else f"{shape[0]} (one per channel)",
                    params,
                ),
            ),
        )


@dataclass(frozen=True, kw_only=True)
class Dropout(Elementwise):
    """Zeroes each value with probability p while training (scaling the rest by 1/(1 − p));
    the identity at test time."""

    type_name = "dropout"
    aliases = ("dropout2d",)

    p: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.p <= 1:
            raise OptionError("p", f"must be between 0 and 1, got {self.p}")
