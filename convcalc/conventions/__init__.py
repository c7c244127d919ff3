"""Counting conventions: each model-summary tool's own params, operation count and memory figure
for the same network, so that convcalc can show exactly where the tools part.

:func:`counted` turns a report into the same report counted as a tool counts (rows and totals),
with a :class:`ConventionView` that adds the tool's own figures to the JSON and the table;
:func:`compare` gives every convention's totals side by side; :func:`explanations` what each
counts per layer kind. Each tool's rules are one table in its own module.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from fnmatch import fnmatchcase
from typing import Any

from convcalc.conventions.fvcore import FVCORE
from convcalc.conventions.keras import KERAS
from convcalc.conventions.ptflops import PTFLOPS
from convcalc.conventions.rules import Convention, Rule, own_macs
from convcalc.conventions.thop import THOP
from convcalc.conventions.torchinfo import TORCHINFO
from convcalc.report import Report, Row, Totals
from convcalc.tensors import dtype_bytes

CONVCALC = Convention(
    name="convcalc",
    tool="convcalc",
    version="",
    ops_label="MACs",
    rules={},
    other=Rule("MACs of conv, deconv and fc; params as PyTorch's", own_macs),
)

CONVENTIONS: dict[str, Convention] = {
    convention.name: convention for convention in (CONVCALC, TORCHINFO, FVCORE, PTFLOPS, THOP, KERAS)
}
"""Every convention by name, convcalc's own first."""

TORCHVISION_FUNCTIONS: dict[str, tuple[str, ...]] = {
    "mobilenet_v2": ("globalavgpool1",),
    "densenet121": ("relu1", "globalavgpool1"),
    "googlenet": ("*relu*",),
}
"""Rows (path patterns) of zoo models that torchvision computes with a function instead of a
module — ``F.adaptive_avg_pool2d`` in MobileNetV2's and DenseNet's ``forward``, DenseNet's last
``F.relu``, GoogLeNet's ``F.relu`` in every ``BasicConv2d``. Module hooks do not see them.
(``torch.flatten``, ``x + y`` and ``torch.cat`` everywhere too: no tool counts those anyway.)"""


STORAGE_OBJECT = 64
"""torchinfo 1.8.0 sizes the input with ``sys.getsizeof(tensor.untyped_storage())``: the bytes
plus the storage's Python object, 64 bytes on CPython 3.11 with torch 2.x."""


def zoo_functions(source: str) -> tuple[str, ...]:
    """The path patterns of the rows torchvision computes with functions, for a ``zoo:NAME``
    source (none for any other source: a spec's layers are taken to be modules)."""
    if not source.startswith("zoo:"):
        return ()
    return TORCHVISION_FUNCTIONS.get(source.removeprefix("zoo:"), ())


@dataclass(eq=False)
class ConventionTotals:
    """A convention's totals, with the tool's memory figures when it has them (bytes)."""

    convention: Convention
    params: int
    trainable_params: int
    ops: int
    input_bytes: int = 0
    pass_bytes: int = 0
    param_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        """torchinfo's "Estimated Total Size": input + forward/backward pass + params."""
        return self.input_bytes + self.pass_bytes + self.param_bytes

    def to_document(self) -> dict[str, Any]:
        """The tool's figures under its own names (bytes, as everywhere in convcalc's JSON)."""
        convention = self.convention
        document: dict[str, Any] = {
            "tool": convention.tool,
            "version": convention.version,
            "params": self.params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.params - self.trainable_params,
        }
        if convention.ops_label is not None:
            document["ops_label"] = convention.ops_label
            document["ops"] = self.ops
        if convention.memory:
            document |= {
                "input_bytes": self.input_bytes,
                "forward_backward_pass_bytes": self.pass_bytes,
                "params_bytes": self.param_bytes,
                "estimated_total_bytes": self.total_bytes,
            }
        return document


@dataclass(eq=False)
class ConventionView:
    """The extra of a report counted by a convention: ``"convention"`` and the tool's totals."""

    totals: ConventionTotals

    def annotate_layer(self, index: int, layer: dict[str, Any]) -> None:
        """Rows carry the convention's params and MACs already: nothing to add."""

    def annotate(self, document: dict[str, Any]) -> None:
        """``"convention": name`` and ``"convention_totals"``, the tool's own figures."""
        document["convention"] = self.totals.convention.name
        document["convention_totals"] = self.totals.to_document()


def functional_rows(report: Report, functions: tuple[str, ...]) -> frozenset[int]:
    """The indices of the rows whose paths match one of the ``functions`` patterns; merges
    (``x + y``, ``torch.cat``) always."""
    return frozenset(
        row.index
        for row in report.rows
        if row.layer is None or any(fnmatchcase(row.path, pattern) for pattern in functions)
    )


def tally(report: Report, convention: Convention, functions: tuple[str, ...] = ()) -> tuple[
    tuple[Row, ...], ConventionTotals
]:
    """Each row counted by ``convention`` (params, and its operations as MACs unless it has
    none), and the totals; ``functions`` are path patterns of rows computed by functions."""
    functional = functional_rows(report, functions)
    value_bytes = dtype_bytes(report.dtype)
    batch = report.batch
    rows: list[Row] = []
    params = frozen = ops = pass_bytes = 0
    for row in report.rows:
        row_params, row_frozen, row_ops = convention.counts(row, batch, row.index in functional)
        params += row_params
        frozen += row_frozen
        ops += row_ops
        if row_params:
            # torchinfo: each call of a module with parameters keeps its output for backward.
            pass_bytes += 2 * batch * _elements(row) * value_bytes
        macs = row.macs if convention.ops_label is None else row_ops
        rows.append(replace(row, params=row_params, macs=macs))
    totals = ConventionTotals(convention, params, params - frozen, ops)
    if convention.memory:
        totals.input_bytes = batch * _elements_of(report.input) * value_bytes + STORAGE_OBJECT
        totals.pass_bytes = pass_bytes
        totals.param_bytes = params * value_bytes
    return tuple(rows), totals


def counted(report: Report, name: str, functions: tuple[str, ...] = ()) -> Report:
    """``report`` counted as convention ``name`` counts: rows and totals carry its params and
    its operation count in place of MACs, and a :class:`ConventionView` its own figures.
    ``convcalc`` returns the report as it is. ``functions`` are path patterns of the rows the
    PyTorch code computes with functions (see :func:`zoo_functions`)."""
    convention = CONVENTIONS[name]
    if convention is CONVCALC:
        return report
    rows, totals = tally(report, convention, functions)
    new_totals = Totals(
        params=totals.params,
        trainable_params=totals.trainable_params,
        buffers=report.totals.buffers,
        macs=sum(row.macs for row in rows),
        activation_bytes=report.totals.activation_bytes,
        param_bytes=totals.params * dtype_bytes(report.dtype),
        rf=report.totals.rf,
    )
    return replace(
        report, rows=rows, totals=new_totals, extras=(*report.extras, ConventionView(totals))
    )


def compare(report: Report, functions: tuple[str, ...] = ()) -> list[ConventionTotals]:
    """Every convention's totals for ``report``, convcalc's first."""
    return [tally(report, convention, functions)[1] for convention in CONVENTIONS.values()]


def explanations(report: Report) -> list[tuple[str, dict[str, str]]]:
    """For each layer kind in ``report`` (in order of first appearance, merges last): what each
    convention counts for it."""
    kinds = list(dict.fromkeys(row.type for row in report.rows if row.layer is not None))
    merges = list(dict.fromkeys(row.type for row in report.rows if row.layer is None))
    explained = [
        (kind, {name: c.rule(kind).says for name, c in CONVENTIONS.items()}) for kind in kinds
    ]
    for kind in merges:
        explained.append((kind, {name: MERGE_SAYS[name] for name in CONVENTIONS}))
    return explained


MERGE_SAYS = {
    "convcalc": "0",
    "torchinfo": "0 (x + y and torch.cat are not modules)",
    "fvcore": "0 (aten::add and aten::cat have no handle)",
    "ptflops": "0 (x + y and torch.cat are not wrapped)",
    "thop": "0 (functions are not hooked)",
    "keras": "no parameters",
}
"""What each convention counts for a merge (``add``, ``concat``): computed by a function."""


def _elements(row: Row) -> int:
    return _elements_of(row.output)


def _elements_of(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count
