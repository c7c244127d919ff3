"""Elementwise layers: activations, PReLU, layer scale, dropout and stochastic depth. Shape in =
shape out, no MACs."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

from convcalc.errors import OptionError
from convcalc.layers.base import (
    SAVES_INPUT,
    SAVES_NOTHING,
    Extra,
    Layer,
    Outcome,
    Saved,
    Shape,
    elements,
    shape_kept,
)


class Elementwise(Layer):
    """A layer applied to each value on its own: output shape = input shape, no params.

    Its Jacobian is diagonal (one entry per output). Backward keeps what the derivative is
    computed from: the output where it can be (:attr:`derivative_from_output`), else the input.
    """

    description = "a nonlinearity"
    derivative_from_output: ClassVar[bool] = False
    """Whether f′ is a function of y = f(x) (relu: 1[y > 0], sigmoid: y(1 − y), tanh: 1 − y²,
    softmax), so that PyTorch keeps the output instead of the input."""

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """The output when the derivative is a function of it, else the input."""
        return Saved(output=True) if self.derivative_from_output else SAVES_INPUT

    def output_of(self, shape: Shape) -> Outcome:
        return Outcome(output=shape)


class ReLU(Elementwise):
    """max(0, x)."""

    type_name = "relu"
    derivative_from_output = True


class ReLU6(Elementwise):
    """min(max(0, x), 6)."""

    type_name = "relu6"


@dataclass(frozen=True, kw_only=True, repr=False)
class LeakyReLU(Elementwise):
    """x if x > 0 else negative_slope·x."""

    type_name = "leakyrelu"

    negative_slope: float = 0.01


@dataclass(frozen=True, kw_only=True, repr=False)
class ELU(Elementwise):
    """x if x > 0 else alpha·(eˣ − 1)."""

    type_name = "elu"

    alpha: float = 1.0


class GELU(Elementwise):
    """x·Φ(x)."""

    type_name = "gelu"


class SiLU(Elementwise):
    """x·σ(x) (swish)."""

    type_name = "silu"
    aliases = ("swish",)


class Sigmoid(Elementwise):
    """1/(1 + e⁻ˣ)."""

    type_name = "sigmoid"
    derivative_from_output = True


class Tanh(Elementwise):
    """tanh(x)."""

    type_name = "tanh"
    derivative_from_output = True


class Hardswish(Elementwise):
    """x·relu6(x + 3)/6."""

    type_name = "hardswish"


class Hardsigmoid(Elementwise):
    """relu6(x + 3)/6 (MobileNetV3's gate)."""

    type_name = "hardsigmoid"


class Mish(Elementwise):
    """x·tanh(softplus(x))."""

    type_name = "mish"


class Identity(Elementwise):
    """y = x: the very input tensor (as ``torch.nn.Identity``), so it keeps nothing and
    allocates nothing."""

    type_name = "identity"
    description = "an identity"

    def is_identity(self, training: bool) -> bool:
        """Always."""
        return True

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """Nothing: the gradient passes through."""
        return SAVES_NOTHING


class Softmax(Elementwise):
    """eˣⁱ/Σⱼ eˣʲ over the channels (or the features of a vector). Each output depends on all C
    values at its position: C Jacobian entries per output."""

    type_name = "softmax"
    derivative_from_output = True

    def jacobian_nonzeros(self, shape_in: Shape, shape_out: Shape) -> int:
        """C per output."""
        return elements(shape_out) * shape_in[0]


@dataclass(frozen=True, kw_only=True, repr=False)
class PReLU(Layer):
    """x if x > 0 else a·x with a learned slope a: one shared, or one per channel.
    Params: 1 when shared, C otherwise."""

    type_name = "prelu"
    description = "a nonlinearity"

    shared: bool = True

    def output_of(self, shape: Shape) -> Outcome:
        if self.shared:
            return shape_kept(shape, 1, "1 (shared slope)")
        return shape_kept(shape, shape[0], f"{shape[0]} (one per channel)")


@dataclass(frozen=True, kw_only=True, repr=False)
class Dropout(Elementwise):
    """Zeroes each value with probability p while training (scaling the rest by 1/(1 − p));
    the identity at test time, and with p = 0 while training too."""

    type_name = "dropout"
    aliases = ("dropout2d",)
    description = "dropout"

    p: float = 0.5

    def __post_init__(self) -> None:
        if not 0 <= self.p <= 1:
            raise OptionError("p", f"must be between 0 and 1, got {self.p}")

    def is_identity(self, training: bool) -> bool:
        """At test time, and while training with p = 0."""
        return not training or self.p == 0

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """Its mask, one value at the dtype per element (PyTorch's CPU dropout multiplies by a
        mask of the input's dtype); nothing when p = 0."""
        if self.p == 0:
            return SAVES_NOTHING
        return Saved(extra=Extra(elements(shape_out) * batch, "dropout mask"))


@dataclass(frozen=True, kw_only=True, repr=False)
class LayerScale(Layer):
    """ConvNeXt's and CaiT's layer scale: y = γ·x with one learned γ per channel (initialised to
    ``init``). Params: C. Backward keeps the input (for γ's gradient); diagonal Jacobian."""

    type_name = "layerscale"
    description = "a layer scale"

    init: float = 1e-6

    def output_of(self, shape: Shape) -> Outcome:
        return shape_kept(shape, shape[0], f"{shape[0]} (γ per channel)")


@dataclass(frozen=True, kw_only=True, repr=False)
class StochasticDepth(Dropout):
    """Stochastic depth (drop path), as torchvision's: while training, each sample (``row``) or
    the whole batch (``batch``) is zeroed with probability p and the rest scaled by 1/(1 − p);
    the identity at test time, and with p = 0 while training too (as dropout).

    Backward keeps the random scale it multiplied by: N values (row) or 1 (batch)."""

    type_name = "stochasticdepth"
    aliases = ("droppath",)
    description = "stochastic depth"

    mode: Literal["row", "batch"] = "row"

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """The per-sample (or per-batch) scale; nothing when p = 0."""
        if self.p == 0:
            return SAVES_NOTHING
        return Saved(extra=Extra(batch if self.mode == "row" else 1, "drop-path scale"))
