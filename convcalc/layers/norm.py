"""Normalisation layers: batch, layer, group and instance norm.

BatchNorm normalises each channel with statistics of the whole batch while training and with the
running mean and variance it kept (its buffers) at test time, where it is a per-channel affine map
that can fold into the conv or fc before it. LayerNorm, GroupNorm and InstanceNorm normalise with
each sample's own statistics, at test time too, so they never fold.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import ClassVar, Literal

from convcalc.errors import OptionError, ShapeError
from convcalc.layers.base import (
    Extra,
    Layer,
    Outcome,
    Saved,
    Shape,
    derive,
    elements,
    require_at_least,
    shape_kept,
)


def check_eps(eps: float) -> None:
    """ε keeps the division finite, so it must be positive."""
    if eps <= 0:
        raise OptionError("eps", f"must be > 0, got {eps}")


@dataclass(frozen=True, kw_only=True, repr=False)
class BatchNorm(Layer):
    """Batch normalisation over the C channels (or the D features of a vector).

    Params: 2C (γ, β) when affine. Buffers: 2C (running mean μ and variance σ²).
    Train: y = γ(x − mean_batch)/√(var_batch + ε) + β, and μ, σ² move towards the batch's
    statistics by ``momentum``. Test: y = γ(x − μ)/√(σ² + ε) + β, a per-channel affine map,
    which is what folding folds and what the Jacobian counts (its diagonal).
    """

    type_name = "batchnorm"
    aliases = ("bn", "batchnorm2d", "batchnorm1d")
    description = "another normalisation"
    normalizes = True

    eps: float = 1e-5
    momentum: float = 0.1
    affine: bool = True

    def __post_init__(self) -> None:
        check_eps(self.eps)

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """The input and 2·C values for the batch: its mean and inverse std per channel."""
        return Saved(input=True, extra=Extra(2 * shape_in[0], "batch mean and inverse std"))

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


class PerSampleNorm(Layer):
    """A normalisation with each sample's own statistics, at test time too: no fixed affine map,
    so it never folds. Each sample's values split into :meth:`sets` normalised sets.

    Backward keeps its input and, per set and sample, :meth:`kept_per_set` statistics (mean and
    inverse std). Each output depends on every input of its set: the Jacobian has (values per
    set) entries per output.
    """

    description = "another normalisation"
    normalizes = True
    title: ClassVar[str] = ""
    """The layer's usual name, e.g. ``LayerNorm``."""
    statistics_over: ClassVar[str] = ""
    """What one set of statistics covers, e.g. ``over its C×H×W values``."""
    kept_what: ClassVar[str] = ""
    """What backward's kept statistics are, in words."""

    @abstractmethod
    def sets(self, shape: Shape) -> int:
        """How many sets one sample of ``shape`` is normalised in."""

    def kept_per_set(self) -> int:
        """Statistics backward keeps per set: its mean and inverse std."""
        return 2

    def saved_tensors(self, shape_in: Shape, shape_out: Shape, batch: int) -> Saved:
        """The input and kept_per_set · N · sets statistics."""
        count = self.kept_per_set() * batch * self.sets(shape_in)
        return Saved(input=True, extra=Extra(count, self.kept_what))

    def jacobian_nonzeros(self, shape_in: Shape, shape_out: Shape) -> int:
        """The values of one set per output; none when a set is one value (normalised, it is
        always 0: the output is the constant β)."""
        per_set = elements(shape_in) // self.sets(shape_in)
        return elements(shape_out) * per_set if per_set > 1 else 0

    def statistics_words(self) -> str:
        """What one set of statistics covers, in words (:attr:`statistics_over` by default)."""
        return self.statistics_over

    @property
    def fold_refusal(self) -> str:
        """Why this normalisation does not fold, for BN folding's report."""
        return (
            f"{self.title} uses each sample's own statistics ({self.statistics_words()}) at "
            "test time too, so it is no fixed affine map and cannot fold"
        )


@dataclass(frozen=True, kw_only=True, repr=False)
class LayerNorm(PerSampleNorm):
    """Layer normalisation of each sample, ``over`` all its C×H×W values (params 2·C·H·W when
    affine: elementwise γ and β, as ``torch.nn.LayerNorm(normalized_shape=[C, H, W])``) or
    over the C channels at each position (ConvNeXt's LayerNorm2d: H·W sets, params 2C)."""

    type_name = "layernorm"
    aliases = ("ln",)
    title = "LayerNorm"
    statistics_over = "over its C×H×W values"
    kept_what = "per-sample mean and inverse std"

    eps: float = 1e-5
    affine: bool = True
    over: Literal["all", "channels"] = "all"

    def __post_init__(self) -> None:
        check_eps(self.eps)

    def statistics_words(self) -> str:
        """Over all values, or over the channels at each position."""
        return (
            "over the C channels at each position"
            if self.over == "channels"
            else (self.statistics_over)
        )

    def sets(self, shape: Shape) -> int:
        """One set (the whole sample), or one per position when ``over`` the channels."""
        return elements(shape[1:]) if self.over == "channels" else 1

    def output_of(self, shape: Shape) -> Outcome:
        if self.over == "channels":
            size, per = shape[0], "per channel"
        else:
            size, per = elements(shape), "per value"
        return shape_kept(shape, 2 * size if self.affine else 0, f"2 × {size} (γ, β {per})")


@dataclass(frozen=True, kw_only=True, repr=False)
class GroupNorm(PerSampleNorm):
    """Group normalisation: the C channels split into ``groups``, each normalised per sample.
    C must divide by groups. Params: 2C when affine."""

    type_name = "groupnorm"
    aliases = ("gn",)
    title = "GroupNorm"
    statistics_over = "over each group of channels"
    kept_what = "per-group mean and inverse std"

    groups: int
    eps: float = 1e-5
    affine: bool = True

    def __post_init__(self) -> None:
        require_at_least("groups", self.groups, 1)
        check_eps(self.eps)

    def sets(self, shape: Shape) -> int:
        """One set per group."""
        return self.groups

    def output_of(self, shape: Shape) -> Outcome:
        channels = shape[0]
        if channels % self.groups:
            raise ShapeError(f"groups: {channels} channels do not split into {self.groups} groups")
        return shape_kept(shape, 2 * channels if self.affine else 0, f"2 × {channels} (γ, β)")


@dataclass(frozen=True, kw_only=True, repr=False)
class InstanceNorm(PerSampleNorm):
    """Instance normalisation: each channel of each sample over its own H×W. Params: 2C when
    affine (off by default, as in PyTorch). Needs more than one value per channel."""

    type_name = "instancenorm"
    aliases = ("instancenorm2d",)
    needs_image = True
    title = "InstanceNorm"
    statistics_over = "over each channel's H×W"
    kept_what = "per-instance statistics"

    eps: float = 1e-5
    affine: bool = False

    def __post_init__(self) -> None:
        check_eps(self.eps)

    def sets(self, shape: Shape) -> int:
        """One set per channel."""
        return shape[0]

    def kept_per_set(self) -> int:
        """Mean and inverse std, and when affine the weight repeated per sample (as PyTorch
        keeps it)."""
        return 3 if self.affine else 2

    def output_of(self, shape: Shape) -> Outcome:
        channels, height, width = shape
        if height * width == 1:
            raise ShapeError("instancenorm on a 1×1 map: each channel has one value to normalise")
        if not self.affine:
            return shape_kept(shape, 0, "0")
        return shape_kept(shape, 2 * channels, f"2 × {channels} (γ, β)")
