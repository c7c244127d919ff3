"""Counting a report as a tool counts: :func:`counted` (rows and totals in the tool's numbers),
:func:`compare` (every convention's totals), :func:`explanations` (what each counts per layer
kind)."""

from __future__ import annotations

from dataclasses import replace
from fnmatch import fnmatchcase
from math import prod

from convcalc.conventions.fvcore import FVCORE
from convcalc.conventions.keras import KERAS
from convcalc.conventions.ptflops import PTFLOPS
from convcalc.conventions.rules import Convention, Rule, own_macs
from convcalc.conventions.thop import THOP
from convcalc.conventions.torchinfo import TORCHINFO
from convcalc.conventions.view import ConventionTotals, ConventionView
from convcalc.report import Report, Row, Totals
from convcalc.tensors import dtype_bytes

CONVCALC = Convention(
    name="convcalc",
    tool="convcalc",
    version="",
    ops_label="MACs",
    rules={
        "conv": Rule("N·F·(C/groups)·KH·KW·H_out·W_out, no bias", own_macs),
        "deconv": Rule("N·C·(F/groups)·KH·KW·H_in·W_in, no bias", own_macs),
        "fc": Rule("N·in·out, no bias", own_macs),
        "batchnorm": Rule("0 MACs; params 2C (+ 2C buffers, not params)", own_macs),
    },
    other=Rule("0 MACs; params as PyTorch's", own_macs),
)

CONVENTIONS: dict[str, Convention] = {
    convention.name: convention
    for convention in (CONVCALC, TORCHINFO, FVCORE, PTFLOPS, THOP, KERAS)
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


MERGE_SAYS = {
    "convcalc": "0 MACs",
    "torchinfo": "0 (x + y and torch.cat are not modules)",
    "fvcore": "0 (aten::add and aten::cat have no handle)",
    "ptflops": "0 (x + y and torch.cat are not wrapped)",
    "thop": "0 (functions are not hooked)",
    "keras": "no parameters",
}
"""What each convention counts for a merge (``add``, ``concat``): computed by a function."""


def functional_rows(report: Report, functions: tuple[str, ...]) -> frozenset[int]:
    """The indices of the rows whose paths match one of the ``functions`` patterns; merges
    (``x + y``, ``torch.cat``) always."""
    return frozenset(
        row.index
        for row in report.rows
        if row.layer is None or any(fnmatchcase(row.path, pattern) for pattern in functions)
    )


def tally(
    report: Report, convention: Convention, functions: tuple[str, ...] = ()
) -> tuple[tuple[Row, ...], ConventionTotals]:
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
            pass_bytes += 2 * batch * prod(row.output) * value_bytes
        macs = row.macs if convention.ops_label is None else row_ops
        rows.append(replace(row, params=row_params, macs=macs))
    totals = ConventionTotals(convention, params, params - frozen, ops)
    if convention.memory:
        totals.input_bytes = batch * prod(report.input) * value_bytes + STORAGE_OBJECT
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
        unsupported=report.totals.unsupported,
    )
    # The inference view (--fold-bn) compares with the unfolded network: count both alike.
    before = None if report.before is None else counted(report.before, name, functions)
    return replace(
        report,
        rows=rows,
        totals=new_totals,
        before=before,
        extras=(*report.extras, ConventionView(totals)),
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
