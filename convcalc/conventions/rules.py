"""What a convention is: one rule per layer and merge kind — what the tool counts for it — and
how the tool sees layers that PyTorch code computes otherwise than with the kind's own module (a
function, ``x.mean``, ``nn.Linear`` for a 1×1 conv, a subclass, a parameter of the parent).

A rule's ``says`` is the text ``--explain`` prints, so the table in the code and the explanation
cannot drift apart. Counts cover the whole batch, as the row's own numbers do.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from math import prod
from typing import NamedTuple

from convcalc.report import Row

Count = Callable[[Row, int], int]
"""A row and the batch size → a count for the whole batch."""


def nothing(row: Row, batch: int) -> int:
    """Counts 0."""
    return 0


def own_params(row: Row, batch: int) -> int:
    """The layer's learnable parameters, as convcalc counts them."""
    return row.params


def own_macs(row: Row, batch: int) -> int:
    """convcalc's multiply-accumulates."""
    return row.macs


def output_numel(row: Row, batch: int) -> int:
    """Output elements over the batch."""
    return batch * prod(row.output)


def input_numel(row: Row, batch: int) -> int:
    """Input elements over the batch."""
    return batch * prod(row.input)


def positions(row: Row, batch: int) -> int:
    """Output positions (batch × H × W; a vector has one per sample)."""
    return batch * prod(row.output[1:])


def input_area_ratio(row: Row) -> float:
    """H_in·W_in / (H_out·W_out), in floating point (an upsampling's is below 1)."""
    ratio = 1.0
    for size_in, size_out in zip(row.input[1:], row.output[1:], strict=True):
        ratio *= size_in / size_out
    return ratio


def kind_of(row: Row) -> str:
    """The registered kind of a row's layer (an imported op's row is typed by its op but is of
    the one kind for them all), or the merge's type."""
    return row.type if row.layer is None else type(row.layer).type_name


def has(row: Row, option: str) -> bool:
    """Whether the row's layer has the boolean option ``option`` (bias, affine) switched on."""
    return bool(getattr(row.layer, option, False))


def bias_count(row: Row) -> int:
    """The bias's length: the output channels (or features) when the layer has a bias."""
    return row.output[0] if has(row, "bias") else 0


ACTIVATIONS = (
    "relu",
    "relu6",
    "leakyrelu",
    "elu",
    "gelu",
    "silu",
    "sigmoid",
    "tanh",
    "hardswish",
    "hardsigmoid",
    "mish",
    "softmax",
    "prelu",
)
"""The activation kinds, in the vocabulary's order."""

REARRANGEMENTS = ("pixelshuffle", "pixelunshuffle", "crop", "pad", "slice", "channelshuffle")
"""Kinds that move values without arithmetic."""

PASS_THROUGH = ("identity", "dropout", "stochasticdepth", "flatten")
"""Kinds that are the identity at inference (or a view)."""

POOLS = (
    "maxpool",
    "avgpool",
    "adaptiveavgpool",
    "adaptivemaxpool",
    "globalavgpool",
    "globalmaxpool",
)
NORMS = ("batchnorm", "layernorm", "groupnorm", "instancenorm")
MERGES = ("add", "mul", "concat")
"""The merge kinds: ``x + y``, ``x * y`` and ``torch.cat`` in PyTorch code."""


class Rule(NamedTuple):
    """What one tool counts for one layer kind.

    ``ops`` is what the tool's module hook (or traced operator) adds; ``patched`` what a patched
    ``torch.nn.functional`` call adds on top (ptflops wraps some functions, and modules call
    them); ``params`` the parameters it counts and ``frozen`` how many of them are not trainable.
    """

    says: str
    ops: Count = nothing
    patched: Count = nothing
    params: Count = own_params
    frozen: Count = nothing


class Functions(StrEnum):
    """How a tool sees a layer that the PyTorch code computes with a function (``F.relu``,
    ``torch.flatten``) rather than a module."""

    TRACED = "traced"
    """It traces operators: a function counts as the module would (fvcore)."""
    PATCHED = "patched"
    """It hooks modules and wraps some functions: only the wrapped function counts (ptflops)."""
    UNSEEN = "unseen"
    """It hooks modules only: a function counts nothing (torchinfo, thop)."""


class Form(StrEnum):
    """How the PyTorch code computes a row: the tools see each form differently. A spec's
    layers are taken to be their kinds' own modules, and its merges operators; torchvision
    writes some layers in the other forms (see ``TORCHVISION_FORMS`` in counting.py)."""

    MODULE = "module"
    """The kind's own ``torch.nn`` module: ``nn.Conv2d``, ``nn.ReLU``, ``nn.Upsample``…"""
    FUNCTION = "function"
    """Its functional twin, the same operator: ``F.relu``, ``F.max_pool2d``, ``F.interpolate``,
    ``F.adaptive_avg_pool2d``; a merge's ``x + y``, ``x * y``, ``torch.cat``."""
    MEAN = "mean"
    """Global average pooling as ``x.mean((2, 3))``: no tool hooks, wraps or handles it."""
    LINEAR = "linear"
    """A 1×1 conv as ``nn.Linear`` on a channels-last map (ConvNeXt's blocks)."""
    SUBCLASS = "subclass"
    """A subclass of the kind's module (torchvision's ``LayerNorm2d``): the tools that look
    modules up by exact type treat it as a module they do not know."""
    PARAMETER = "parameter"
    """A learned scale held by the enclosing module as an ``nn.Parameter`` and applied with
    ``*`` (ConvNeXt's ``layer_scale``): parameters without a module of their own."""


class Tally(NamedTuple):
    """One row as a tool counts it: params, how many of them are not trainable, operations, and
    whether a module of its own holds its parameters (torchinfo's pass size counts those)."""

    params: int
    frozen: int
    ops: int
    module_params: bool


NOTHING = Tally(0, 0, 0, False)


@dataclass(frozen=True)
class Convention:
    """One tool's way of counting.

    ``rules`` has a rule for every layer and merge kind; ``unknown`` is what the tool counts for a
    module it does not know (a subclass, when ``exact_types``: it looks modules up by their exact
    type); ``linear`` what it counts for a 1×1 conv written as ``nn.Linear`` when that differs
    from the conv's rule. ``ops_label`` is the tool's own word for its operation count (``None``
    when it has none and convcalc's MACs stay); ``per_sample_hooks`` is ptflops's division of its
    module counts by the batch (its wrapped functions' counts are not divided);
    ``module_parameters_only`` that it counts only the parameters of the modules it knows.
    """

    name: str
    tool: str
    version: str
    ops_label: str | None
    rules: Mapping[str, Rule]
    unknown: Rule
    linear: Rule | None = None
    functions: Functions = Functions.UNSEEN
    per_sample_hooks: bool = False
    memory: bool = False
    exact_types: bool = False
    module_parameters_only: bool = False

    @property
    def label(self) -> str:
        """The tool and its version, ``torchinfo 1.8.0`` (convcalc's own: ``convcalc``)."""
        return f"{self.tool} {self.version}".strip()

    def rule(self, kind: str) -> Rule:
        """The rule for layer or merge kind ``kind`` (what the tool counts for a module it does
        not know, for a kind outside the vocabulary)."""
        return self.rules.get(kind, self.unknown)

    def counts(self, row: Row, batch: int, form: Form = Form.MODULE) -> Tally:
        """``row`` as this convention counts it when the PyTorch code computes it in ``form``."""
        rule = self.rule(kind_of(row))
        match form:
            case Form.MEAN:
                return NOTHING
            case Form.PARAMETER:
                params = 0 if self.module_parameters_only else row.params
                return Tally(params, 0, 0, False)
            case Form.FUNCTION if self.functions is not Functions.TRACED:
                patched = rule.patched(row, batch) if self.functions is Functions.PATCHED else 0
                return Tally(0, 0, patched, False)
            case Form.SUBCLASS if self.exact_types:
                rule = self.unknown
            case Form.LINEAR if self.linear is not None:
                rule = self.linear
        hooked = rule.ops(row, batch)
        if self.per_sample_hooks:
            hooked //= batch
        params = rule.params(row, batch)
        ops = hooked + rule.patched(row, batch)
        return Tally(params, rule.frozen(row, batch), ops, params > 0)
