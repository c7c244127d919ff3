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
from convcalc.conventions.rules import (
    ACTIVATIONS,
    MERGES,
    NORMS,
    PASS_THROUGH,
    POOLS,
    REARRANGEMENTS,
    Convention,
    Form,
    Rule,
    kind_of,
    own_macs,
)
from convcalc.conventions.thop import THOP
from convcalc.conventions.torchinfo import TORCHINFO
from convcalc.conventions.view import ConventionTotals, ConventionView
from convcalc.report import Report, Row, Totals
from convcalc.tensors import dtype_bytes

NO_MACS = Rule("0 MACs", own_macs)

CONVCALC = Convention(
    name="convcalc",
    tool="convcalc",
    version="",
    ops_label="MACs",
    rules={
        **dict.fromkeys((*ACTIVATIONS, *PASS_THROUGH, "layerscale", *NORMS, *POOLS), NO_MACS),
        **dict.fromkeys(("upsample", *REARRANGEMENTS, *MERGES), NO_MACS),
        "conv": Rule("N·F·(C/groups)·KH·KW·H_out·W_out, no bias", own_macs),
        "deconv": Rule("N·C·(F/groups)·KH·KW·H_in·W_in, no bias", own_macs),
        "fc": Rule("N·in·out, no bias", own_macs),
        "batchnorm": Rule("0 MACs; params 2C (+ 2C buffers, not params)", own_macs),
    },
    unknown=NO_MACS,
)

CONVENTIONS: dict[str, Convention] = {
    convention.name: convention
    for convention in (CONVCALC, TORCHINFO, FVCORE, PTFLOPS, THOP, KERAS)
}
"""Every convention by name, convcalc's own first."""

Forms = tuple[tuple[str, Form], ...]
"""Row path patterns (``fnmatch``) and the form the PyTorch code computes those rows in; the
first pattern that matches a row's path wins, and a row no pattern matches is a module."""

F_RELU: Forms = (("*relu*", Form.FUNCTION),)
MEAN_POOL: Forms = (("globalavgpool1", Form.MEAN),)
CONVNEXT: Forms = (
    ("*.body.conv[23]", Form.LINEAR),
    ("*.body.layernorm1", Form.MODULE),
    ("*layernorm1", Form.SUBCLASS),
    ("*.layerscale1", Form.PARAMETER),
)
INTERPOLATE: Forms = (("*upsample*", Form.FUNCTION),)

TORCHVISION_FORMS: dict[str, Forms] = {
    "mobilenet_v2": (("globalavgpool1", Form.FUNCTION),),
    "densenet121": (("relu1", Form.FUNCTION), ("globalavgpool1", Form.FUNCTION)),
    "googlenet": F_RELU,
    "inception_v3": (*F_RELU, ("Mixed_*pool*", Form.FUNCTION)),
    **dict.fromkeys(
        [f"shufflenet_v2_x{width}" for width in ("0_5", "1_0", "1_5", "2_0")], MEAN_POOL
    ),
    **dict.fromkeys([f"mnasnet{width}" for width in ("0_5", "0_75", "1_0", "1_3")], MEAN_POOL),
    **dict.fromkeys([f"convnext_{size}" for size in ("tiny", "small", "base", "large")], CONVNEXT),
    **{
        f"{head}_resnet{depth}": INTERPOLATE for head in ("fcn", "deeplabv3") for depth in (50, 101)
    },
    "deeplabv3_mobilenet_v3_large": INTERPOLATE,
    "lraspp_mobilenet_v3_large": (("up", Form.FUNCTION), *INTERPOLATE),
}
"""How torchvision computes the rows of its models that are not their kinds' own modules:
``F.adaptive_avg_pool2d`` in MobileNetV2's and DenseNet's ``forward``; DenseNet's last
``F.relu``, GoogLeNet's and Inception-v3's ``F.relu`` in every ``BasicConv2d``; Inception-v3's
``F.max_pool2d`` and ``F.avg_pool2d`` inside its blocks; ``x.mean((2, 3))`` in ShuffleNetV2 and
MNASNet; ConvNeXt's 1×1 convs as ``nn.Linear`` on channels-last maps, its ``LayerNorm2d``
(outside the blocks) and its ``layer_scale`` parameter; ``F.interpolate`` in the segmentation
heads. (ShuffleNet's channel shuffle and ``chunk``, ``torch.flatten``, ``x + y``, ``x * y`` and
``torch.cat`` everywhere are functions too, which no tool counts.)"""


STORAGE_OBJECT = 64
"""torchinfo 1.8.0 sizes the input with ``sys.getsizeof(tensor.untyped_storage())``: the bytes
plus the storage's Python object, 64 bytes on CPython 3.11 with torch 2.x."""


def zoo_forms(source: str) -> Forms:
    """How torchvision computes the rows of a ``zoo:NAME`` source that are not modules (none for
    any other source: a spec's layers are taken to be modules, its merges operators)."""
    if not source.startswith("zoo:"):
        return ()
    return TORCHVISION_FORMS.get(source.removeprefix("zoo:"), ())


def row_forms(report: Report, forms: Forms) -> list[Form]:
    """Each row's form: the first pattern of ``forms`` that matches its path; merges
    (``x + y``, ``x * y``, ``torch.cat``) are functions, other rows modules."""
    return [
        Form.FUNCTION
        if row.layer is None
        else next((form for pattern, form in forms if fnmatchcase(row.path, pattern)), Form.MODULE)
        for row in report.rows
    ]


def tally(
    report: Report, convention: Convention, forms: Forms = ()
) -> tuple[tuple[Row, ...], ConventionTotals]:
    """Each row counted by ``convention`` (params, and its operations as MACs unless it has
    none), and the totals; ``forms`` say which rows the PyTorch code computes otherwise than
    with their kinds' modules."""
    value_bytes = dtype_bytes(report.dtype)
    batch = report.batch
    rows: list[Row] = []
    params = frozen = ops = pass_bytes = module_params = 0
    for row, form in zip(report.rows, row_forms(report, forms), strict=True):
        counts = convention.counts(row, batch, form)
        params += counts.params
        frozen += counts.frozen
        ops += counts.ops
        if counts.module_params:
            # torchinfo: each call of a module with parameters keeps its output for backward;
            # its params size is the leaf modules' (not a parameter held beside its children).
            pass_bytes += 2 * batch * prod(row.output) * value_bytes
            module_params += counts.params
        macs = row.macs if convention.ops_label is None else counts.ops
        rows.append(replace(row, params=counts.params, macs=macs))
    totals = ConventionTotals(convention, params, params - frozen, ops)
    if convention.memory:
        totals.input_bytes = batch * prod(report.input) * value_bytes + STORAGE_OBJECT
        totals.pass_bytes = pass_bytes
        totals.param_bytes = module_params * value_bytes
    return tuple(rows), totals


def counted(report: Report, name: str, forms: Forms = ()) -> Report:
    """``report`` counted as convention ``name`` counts: rows and totals carry its params and
    its operation count in place of MACs, and a :class:`ConventionView` its own figures.
    ``convcalc`` returns the report as it is. ``forms`` say which rows the PyTorch code computes
    otherwise than with their kinds' modules (see :func:`zoo_forms`)."""
    convention = CONVENTIONS[name]
    if convention is CONVCALC:
        return report
    rows, totals = tally(report, convention, forms)
    new_totals = Totals(
        params=totals.params,
        trainable_params=totals.trainable_params,
        buffers=report.totals.buffers,
        macs=sum(row.macs for row in rows),
        activation_bytes=report.totals.activation_bytes,
        param_bytes=totals.params * dtype_bytes(report.dtype),
        rf=report.totals.rf,
    )
    # The inference view (--fold-bn) compares with the unfolded network: count both alike.
    before = None if report.before is None else counted(report.before, name, forms)
    return replace(
        report,
        rows=rows,
        totals=new_totals,
        before=before,
        extras=(*report.extras, ConventionView(totals)),
    )


def compare(report: Report, forms: Forms = ()) -> list[ConventionTotals]:
    """Every convention's totals for ``report``, convcalc's first."""
    return [tally(report, convention, forms)[1] for convention in CONVENTIONS.values()]


def explanations(report: Report) -> list[tuple[str, dict[str, str]]]:
    """For each layer kind in ``report`` (in order of first appearance, merges last): what each
    convention counts for it."""
    kinds = [kind_of(row) for row in report.rows if row.layer is not None]
    kinds += [row.type for row in report.rows if row.layer is None]
    return [
        (kind, {name: c.rule(kind).says for name, c in CONVENTIONS.items()})
        for kind in dict.fromkeys(kinds)
    ]
