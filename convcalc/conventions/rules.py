"""What a convention is: one rule per layer kind — what the tool counts for it — and how the tool
sees layers that PyTorch code computes with a function instead of a module.

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


def has(row: Row, option: str) -> bool:
    """Whether the row's layer has the boolean option ``option`` (bias, affine) switched on."""
    return bool(getattr(row.layer, option, False))


def bias_count(row: Row) -> int:
    """The bias's length: the output channels (or features) when the layer has a bias."""
    return row.output[0] if has(row, "bias") else 0


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


@dataclass(frozen=True)
class Convention:
    """One tool's way of counting.

    ``ops_label`` is the tool's own word for its operation count (``None`` when it has none and
    convcalc's MACs stay); ``per_sample_hooks`` is ptflops's division of its module counts by the
    batch (its wrapped functions' counts are not divided).
    """

    name: str
    tool: str
    version: str
    ops_label: str | None
    rules: Mapping[str, Rule]
    other: Rule
    functions: Functions = Functions.UNSEEN
    per_sample_hooks: bool = False
    memory: bool = False

    @property
    def label(self) -> str:
        """The tool and its version, ``torchinfo 1.8.0`` (convcalc's own: ``convcalc``)."""
        return f"{self.tool} {self.version}".strip()

    def rule(self, kind: str) -> Rule:
        """The rule for layer kind ``kind`` (the convention's fallback for kinds it lacks)."""
        return self.rules.get(kind, self.other)

    def counts(self, row: Row, batch: int, functional: bool) -> tuple[int, int, int]:
        """``row``'s params, non-trainable params and operations under this convention;
        ``functional`` says the PyTorch code computes the row with a function."""
        rule = self.rule(row.type)
        if functional and self.functions is not Functions.TRACED:
            patched = rule.patched(row, batch) if self.functions is Functions.PATCHED else 0
            return 0, 0, patched
        hooked = rule.ops(row, batch)
        if self.per_sample_hooks:
            hooked //= batch
        return rule.params(row, batch), rule.frozen(row, batch), hooked + rule.patched(row, batch)
