"""Normalisation layers: batch, layer, group and instance norm.

BatchNorm normalises each channel with statistics of the whole batch while training and with the
running mean and variance it kept (its buffers) at test time, where it is a per-channel affine map
that can fold into the conv or fc before it. LayerNorm, GroupNorm and InstanceNorm normalise with
each sample's own statistics, at test time too, so they never fold.
"""

from __future__ import annotations

from dataclasses import dataclass

from convcalc.errors import OptionError, ShapeError
from convcalc.layers.base import Layer, Outcome, Shape, derive, elements, require_at_least


def check_eps(eps: float) -> None:
    """ε keeps the division finite, so it must be positive."""
    if eps <= 0:
        raise OptionError("eps", f"must be > 0, got {eps}")


@dataclass(frozen=True, kw_only=True)
class BatchNorm(Layer):
    """Batch normalisation over the C channels (or the D features of a vector).

    Params: 2C (γ, β) when affine. Buffers: 2C (running mean μ and variance σ²).
    Train: y = γ(x − mean_batch)/√(var_batch + ε) + β, and μ, σ² move towards the batch's
    statistics by ``momentum``. Test: y = γ(x − μ)/√(σ² + ε) + β, a per-channel affine map.
    """

    type_name = "batchnorm"
    aliases = ("bn", "batchnorm2d", "batchnorm1d")

    eps: float = 1e-5
    momentum: float = 0.1
    affine: bool = True

    def __post_init__(self) -> None:
        check_eps(self.eps)

    def output_of(self, shape: Shape) -> Outcome:
        channels = shape[0]
        params = 2 * channels if self.affine else 0
        scale, shift = ("y = γ·", " + β") if self.affine else ("y = ", "")
        # Training statistics are per channel over every value of the batch in that channel.
        over = "the batch's N×H×W per channel" if len(shape) == 3 else "the batch, per feature"
        return Outcome(
            output=shape,
            params=params,
            buffers=2 * channels,
            derivations=(
                derive(
                    "params",
                    f"2 × {channels} (γ, β)" if self.affine else "0 (affine: false)",
                    params,
                ),
                derive("buffers", f"2 × {channels} (running μ, σ²)", 2 * channels),
                derive("train", f"{scale}(x − mean)/√(var + ε){shift}, over {over}", "batch stats"),
                derive(
                    "",
                    f"μ ← {1 - self.momentum:g}·μ + {self.momentum:g}·mean, "
                    f"σ² ← {1 - self.momentum:g}·σ² + {self.momentum:g}·var",
                    "",
                ),
                derive("eval", f"{scale}(x − μ)/√(σ² + ε){shift}, ε = {self.eps:g}", "fixed"),
                derive("", "one affine map per channel: it can fold into a conv or fc", ""),
            ),
        )


@dataclass(frozen=True, kw_only=True)
class LayerNorm(Layer):
    """Layer normalisation over all C×H×W values of each sample. Params: 2·C·H·W when affine
    (elementwise γ and β, as ``torch.nn.LayerNorm(normalized_shape=[C, H, W])``)."""

    type_name = "layernorm"
    aliases = ("ln",)

    eps: float = 1e-5
    affine: bool = True

    def __post_init__(self) -> None:
        check_eps(self.eps)

    def output_of(self, shape: Shape) -> Outcome:
        size = elements(shape)
        params = 2 * size if self.affine else 0
        return Outcome(
            output=shape,
            params=params,
            derivations=(derive("params", f"2 × {size} (γ, β per value)", params),),
        )


@dataclass(frozen=True, kw_only=True)
class GroupNorm(Layer):
    """Group normalisation: the C channels split into ``groups``, each normalised per sample.
    C must divide by groups. Params: 2C when affine."""

    type_name = "groupnorm"
    aliases = ("gn",)

    groups: int
    eps: float = 1e-5
    affine: bool = True

    def __post_init__(self) -> None:
        require_at_least("groups", self.groups, 1)
        check_eps(self.eps)

    def output_of(self, shape: Shape) -> Outcome:
        channels = shape[0]
        if channels % self.groups:
            raise ShapeError(f"groups: {channels} channels do not split into {self.groups} groups")
        params = 2 * channels if self.affine else 0
        return Outcome(
            output=shape,
            params=params,
            derivations=(derive("params", f"2 × {channels} (γ, β)", params),),
        )


@dataclass(frozen=True, kw_only=True)
class InstanceNorm(Layer):
    """Instance normalisation: each channel of each sample over its own H×W. Params: 2C when
    affine (off by default, as in PyTorch). Needs more than one value per channel."""

    type_name = "instancenorm"
    aliases = ("instancenorm2d",)
    needs_image = True

    eps: float = 1e-5
    affine: bool = False

    def __post_init__(self) -> None:
        check_eps(self.eps)

    def output_of(self, shape: Shape) -> Outcome:
        channels, height, width = shape
        if height * width == 1:
            raise ShapeError("instancenorm on a 1×1 map: each channel has one value to normalise")
        params = 2 * channels if self.affine else 0
        return Outcome(
            output=shape,
            params=params,
            derivations=(
                derive("params", f"2 × {channels} (γ, β)" if self.affine else "0", params),
            ),
        )
