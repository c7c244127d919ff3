"""The analyzer on hand-computed networks: shapes, params, MACs, receptive fields, names, totals."""

from __future__ import annotations

from dataclasses import replace

import pytest

from convcalc.analysis import analyze
from convcalc.errors import ConvcalcError, ShapeError, SpecError, StrictError
from convcalc.layers.conv import Conv
from convcalc.loader import parse_spec
from convcalc.receptive import ReceptiveField
from convcalc.report import NETWORK_INPUT, Report, Row
from convcalc.sources import load


def run(text: str, strict: bool = False) -> Report:
    return analyze(parse_spec(text, "net.yaml"), strict=strict)


def by_path(report: Report) -> dict[str, Row]:
    return {row.path: row for row in report.rows}


def rf(row: Row) -> ReceptiveField:
    assert row.rf is not None
    return row.rf


def check_totals(report: Report) -> None:
    """The invariant every report keeps: its totals are the sums of its rows."""
    totals = report.totals
    assert totals.params == sum(row.params for row in report.rows)
    assert totals.buffers == sum(row.buffers for row in report.rows)
    assert totals.macs == sum(row.macs for row in report.rows)
    assert totals.flops == 2 * totals.macs
    assert totals.activation_bytes == sum(row.activation_bytes for row in report.rows)
    assert totals.rf == report.rows[-1].rf
    assert [row.index for row in report.rows] == list(range(len(report.rows)))


def test_the_notes_small_cnn() -> None:
    report = analyze(load("zoo:cs231n"))
    rows = report.rows
    assert [row.path for row in rows] == [
        "conv1",
        "batchnorm1",
        "relu1",
        "maxpool1",
        "flatten1",
        "fc1",
    ]
    assert [row.output for row in rows] == [
        (10, 32, 32),
        (10, 32, 32),
        (10, 32, 32),
        (10, 16, 16),
        (2560,),
        (10,),
    ]
    # conv: 10·(3·5·5 + 1) = 760; bn: 2·10 params + 2·10 running stats; fc: 2560·10 + 10.
    assert [row.params for row in rows] == [760, 20, 0, 0, 0, 25_610]
    assert [row.buffers for row in rows] == [0, 20, 0, 0, 0, 0]
    assert [row.macs for row in rows] == [10 * 75 * 32 * 32, 0, 0, 0, 0, 25_600]
    assert rf(rows[0]) == ReceptiveField((5, 5), (1, 1), (0, 0))
    # 2×2/2 pooling: r = 5 + 1·1 = 6, j = 2, start = 0 + (1/2 − 0)·1.
    assert rf(rows[3]) == ReceptiveField((6, 6), (2, 2), (0.5, 0.5))
    assert rf(rows[4]).is_global and rf(rows[4]).size == (32, 32)
    assert rows[0].activation_bytes == 10 * 32 * 32 * 4
    assert report.totals.params == 26_390
    assert report.totals.param_bytes == 26_390 * 4
    assert [row.sources for row in rows] == [(NETWORK_INPUT,), (0,), (1,), (2,), (3,), (4,)]
    check_totals(report)


@pytest.mark.parametrize(("depth", "kernel"), [(1, 3), (2, 3), (3, 3), (4, 5), (6, 7), (10, 3)])
def test_stacked_stride_one_convs_follow_the_notes_rule(depth: int, kernel: int) -> None:
    """L stacked K×K stride-1 convs: each adds K − 1, so the field is 1 + L(K − 1)."""
    text = "input: 1x64x64\nlayers:\n" + (
        f"  - conv: {{filters: 1, kernel: {kernel}, pad: {kernel // 2}}}\n" * depth
    )
    report = run(text)
    field = rf(report.rows[-1])
    assert field.size == (1 + depth * (kernel - 1),) * 2
    assert field.jump == (1, 1)
    assert field.start == (0, 0)


def test_strided_stack() -> None:
    """Three 3×3/2 pad-1 convs on 32: 16, 8, 4; r = 3, 3 + 2·2 = 7, 7 + 2·4 = 15; j = 2, 4, 8;
    start = 0 + (1 − 1)·j = 0 every time (pad 1 centres the first window on pixel 0)."""
    report = run(
        "input: 1x32x32\nlayers:\n" + "  - conv: {filters: 2, kernel: 3, stride: 2, pad: 1}\n" * 3
    )
    assert [row.output[1:] for row in report.rows] == [(16, 16), (8, 8), (4, 4)]
    assert [rf(row).size[0] for row in report.rows] == [3, 7, 15]
    assert [rf(row).jump[0] for row in report.rows] == [2, 4, 8]
    assert [rf(row).start[0] for row in report.rows] == [0, 0, 0]


def test_dilated_and_unpadded_stack() -> None:
    """3×3 dilation 2 (K_eff 5), no pad: r = 5, start = 2; then 3×3/2 no pad: r = 5 + 2·1 = 7,
    j = 2, start = 2 + 1·1 = 3; then 2×2/2 max pool: r = 7 + 1·2 = 9, j = 4, start = 3 + 0.5·2."""
    report = run(
        "input: 1x33x33\n"
        "layers:\n"
        "  - conv: {filters: 2, kernel: 3, dilation: 2}\n"
        "  - conv: {filters: 2, kernel: 3, stride: 2}\n"
        "  - maxpool: {kernel: 2}\n"
    )
    fields = [rf(row) for row in report.rows]
    assert [f.size[0] for f in fields] == [5, 7, 9]
    assert [f.jump[0] for f in fields] == [1, 2, 4]
    assert [f.start[0] for f in fields] == [2, 3, 4]
    assert [row.output[1] for row in report.rows] == [29, 14, 7]


def test_asymmetric_kernels_keep_axes_apart() -> None:
    (row,) = run(
        "input: 1x20x30\nlayers:\n  - conv: {filters: 1, kernel: [3, 5], stride: [1, 2]}\n"
    ).rows
    assert row.output == (1, 18, 13)
    assert rf(row) == ReceptiveField((3, 5), (1, 2), (1, 2))


RESIDUALS = """\
input: 4x16x16
layers:
  - residual:
      body: [{conv: {filters: 4, kernel: 3, pad: 1}}, relu]
  - residual:
      body: [{conv: {filters: 4, kernel: 3, pad: 1}}]
      shortcut: [{conv: {filters: 4, kernel: 5, pad: 2}}]
  - residual:
      body:
        - conv: {filters: 8, kernel: 3, stride: 2, pad: 1}
        - conv: {filters: 8, kernel: 3, stride: 2, pad: 1}
      shortcut: project
"""


def test_residuals() -> None:
    report = run(RESIDUALS)
    rows = by_path(report)
    assert list(rows) == [
        "residual1.body.conv1",
        "residual1.body.relu1",
        "residual1.add",
        "residual2.body.conv1",
        "residual2.shortcut.conv1",
        "residual2.add",
        "residual3.body.conv1",
        "residual3.body.conv2",
        "residual3.shortcut.conv1",
        "residual3.shortcut.batchnorm1",
        "residual3.add",
    ]
    identity = rows["residual1.add"]
    assert identity.sources == (1, NETWORK_INPUT)
    assert (identity.params, identity.macs) == (0, 0)
    assert rf(identity).size == (3, 3)
    # The union of a 3×3 body field and a 5×5 shortcut field, both centred: 5 + the 3 before.
    assert rf(rows["residual2.add"]).size == (7, 7)
    assert rows["residual2.add"].sources == (3, 4)
    # project: a 1×1 conv, no bias, stride = 2·2 = 4, to 8 channels; then a batchnorm.
    projection = rows["residual3.shortcut.conv1"]
    assert projection.layer == Conv(filters=8, kernel=1, stride=(4, 4), bias=False)
    assert projection.input == (4, 16, 16) and projection.output == (8, 4, 4)
    assert projection.params == 4 * 8 and projection.macs == 4 * 8 * 4 * 4
    assert rows["residual3.shortcut.batchnorm1"].buffers == 16
    assert rows["residual3.add"].output == (8, 4, 4)
    assert rows["residual3.add"].sources == (7, 9)
    check_totals(report)


def test_project_falls_back_to_the_stride_that_fits() -> None:
    """A body of a 3×3/2 conv without pad takes 8 to 3; stride 2 on a 1×1 gives 4, so 3 it is."""
    report = run(
        "input: 2x8x8\nlayers:\n"
        "  - residual: {body: [{conv: {filters: 4, kernel: 3, stride: 2}}], shortcut: project}\n"
    )
    projection = by_path(report)["residual1.shortcut.conv1"]
    assert projection.layer == Conv(filters=4, kernel=1, stride=(3, 3), bias=False)
    assert projection.output == (4, 3, 3)


def test_concat() -> None:
    report = run(
        "input: 3x8x8\nlayers:\n"
        "  - concat:\n"
        "      branches:\n"
        "        - [{conv: {filters: 4, kernel: 3, pad: 1}}]\n"
        "        - [{conv: {filters: 2, kernel: 1}}, {conv: {filters: 5, kernel: 5, pad: 2}}]\n"
        "        - []\n"
    )
    rows = by_path(report)
    assert list(rows) == [
        "concat1.branch1.conv1",
        "concat1.branch2.conv1",
        "concat1.branch2.conv2",
        "concat1.concat",
    ]
    merge = rows["concat1.concat"]
    assert merge.output == (4 + 5 + 3, 8, 8)
    assert merge.sources == (0, 2, NETWORK_INPUT)
    assert rf(merge).size == (5, 5)
    check_totals(report)


def test_concat_of_vectors() -> None:
    report = run(
        "input: 16\nlayers:\n  - concat: {branches: [[{fc: {out: 3}}], [{fc: {out: 4}}]]}\n"
    )
    assert report.rows[-1].output == (7,)


def test_repeat_counters_continue_across_iterations() -> None:
    report = run(
        "input: 2x8x8\nlayers:\n"
        "  - conv: {filters: 2, kernel: 3, pad: 1}\n"
        "  - repeat: {times: 2, layers: [{conv: {filters: 2, kernel: 3, pad: 1}}, relu]}\n"
        "  - repeat: {times: 1, layers: [relu]}\n"
    )
    assert [row.path for row in report.rows] == [
        "conv1",
        "repeat1.conv1",
        "repeat1.relu1",
        "repeat1.conv2",
        "repeat1.relu2",
        "repeat2.relu1",
    ]
    assert rf(report.rows[-1]).size == (7, 7)


BLOCKS = """\
input: 8x16x16
blocks:
  basic:
    params: {filters: 8, stride: 1}
    layers:
      - residual:
          body:
            - conv: {filters: $filters, kernel: 3, stride: $stride, pad: 1, bias: false}
            - bn
          shortcut: project
      - relu
layers:
  - repeat:
      times: 2
      layers: [{use: basic}]
  - repeat:
      times: 1
      layers: [{use: basic, with: {filters: 16, stride: 2}}]
    name: stage2
  - use: basic
    name: last
"""


def test_block_paths() -> None:
    report = run(BLOCKS)
    paths = [row.path for row in report.rows]
    assert paths[:6] == [
        "repeat1.basic1.residual1.body.conv1",
        "repeat1.basic1.residual1.body.batchnorm1",
        "repeat1.basic1.residual1.shortcut.conv1",
        "repeat1.basic1.residual1.shortcut.batchnorm1",
        "repeat1.basic1.residual1.add",
        "repeat1.basic1.relu1",
    ]
    assert "repeat1.basic2.residual1.add" in paths
    conv = by_path(report)["stage2.basic1.residual1.body.conv1"]
    assert conv.output == (16, 8, 8) and conv.params == 16 * 8 * 9
    assert "last.residual1.body.conv1" in paths
    check_totals(report)


def test_explicit_names_and_duplicates() -> None:
    """An explicit name given twice in one list is an error (names must say which tensor they
    mean); a default name that meets an explicit one takes a suffix."""
    with pytest.raises(SpecError, match="`stem` is already the name of layers"):
        run(
            "input: 2x8x8\nlayers:\n"
            "  - {conv: {filters: 2, kernel: 1}, name: stem}\n"
            "  - {conv: {filters: 2, kernel: 1}, name: stem}\n"
        )
    report = run(
        "input: 2x8x8\nlayers:\n"
        "  - {conv: {filters: 2, kernel: 1}, name: conv2}\n"
        "  - conv: {filters: 2, kernel: 1}\n"
    )
    assert [row.path for row in report.rows] == ["conv2", "conv2_2"]


def test_batch_scales_macs_and_activations_not_params() -> None:
    network = parse_spec(RESIDUALS, "net.yaml")
    one = analyze(network)
    eight = analyze(replace(network, batch=8))
    for single, batch in zip(one.rows, eight.rows, strict=True):
        assert batch.macs == 8 * single.macs
        assert batch.activation_bytes == 8 * single.activation_bytes
        assert (batch.params, batch.buffers) == (single.params, single.buffers)
    assert eight.totals.macs == 8 * one.totals.macs
    assert eight.totals.params == one.totals.params


@pytest.mark.parametrize(("dtype", "size"), [("float32", 4), ("float16", 2), ("int8", 1)])
def test_dtype_sets_bytes_per_value(dtype: str, size: int) -> None:
    report = run(
        f"input: 3x4x4\nbatch: 2\ndtype: {dtype}\nlayers:\n  - conv: {{filters: 5, kernel: 1}}\n"
    )
    (row,) = report.rows
    assert row.activation_bytes == 5 * 4 * 4 * 2 * size
    assert report.totals.param_bytes == 20 * size
    assert report.to_document()["dtype"] == dtype


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "input: 3x8x8\nlayers:\n  - conv: {filters: 4, kernel: 3}\n  - fc: {out: 2}\n",
            'net.yaml:4:5: layers[1] fc "fc1": fc needs a vector, but receives 4×6×6; '
            "add `flatten` (or a global pool) before it",
        ),
        (
            "input: 3x8x8\nlayers:\n  - conv: {filters: 4, kernel: 3}\n"
            "  - conv: {filters: 4, kernel: 3, in_channels: 3}\n",
            'net.yaml:4:5: layers[1] conv "conv2": in_channels: the filters have 3 channels but '
            "the input has 4; a filter has as many channels as its input",
        ),
        (
            "input: 3x8x8\nlayers:\n  - residual:\n"
            "      body: [{conv: {filters: 4, kernel: 3, pad: 1}}]\n",
            'net.yaml:3:5: layers[0] residual "residual1": the body outputs 4×8×8 but the '
            "shortcut 3×8×8; they must match to be added; use `shortcut: project`",
        ),
        (
            "input: 3x8x8\nlayers:\n"
            "  - concat: {branches: [[{conv: {filters: 4, kernel: 3}}], []]}\n",
            'net.yaml:3:5: layers[0] concat "concat1": concat: the inputs\' H×W differ '
            "(4×6×6, 3×8×8)",
        ),
        (
            "input: 3x7x7\nlayers:\n  - relu\n  - conv: {filters: 4, kernel: 9}\n",
            'net.yaml:4:5: layers[1] conv "conv1": height: the kernel covers 9 but the padded '
            "input is only 7",
        ),
        (
            "input: 12\nlayers:\n  - maxpool: {kernel: 2}\n",
            'net.yaml:3:5: layers[0] maxpool "maxpool1": maxpool needs a C×H×W input, but '
            "receives a vector of 12",
        ),
        (
            "input: 6x8x8\nblocks:\n  b:\n    layers: [{groupnorm: {groups: 4}}]\n"
            "layers: [{use: b, name: head}]\n",
            'net.yaml:4:14: blocks.b.layers[0] groupnorm "head.groupnorm1": groups: 6 channels '
            "do not split into 4 groups",
        ),
    ],
    ids=["fc-on-image", "channels", "residual", "concat", "zero-size", "pool-on-vector", "block"],
)
def test_shape_errors_are_located(text: str, message: str) -> None:
    with pytest.raises(ShapeError) as caught:
        run(text)
    assert str(caught.value) == message


def test_stride_warnings_and_strict() -> None:
    text = "input: 3x7x7\nlayers:\n  - conv: {filters: 4, kernel: 3, stride: 3}\n"
    (row,) = run(text).rows
    assert row.output == (4, 2, 2)
    assert len(row.warnings) == 2
    with pytest.raises(StrictError) as caught:
        run(text, strict=True)
    assert str(caught.value) == (
        'net.yaml:3:5: layers[0] conv "conv1": stride 3 does not fit the height: (7 + 0 − 3) '
        "is not a multiple of 3, so the last 1 input row is never read (--strict)"
    )
    # Padding-only slack (ResNet's 7×7/2 pad 3 on 224) is no warning, strict or not.
    stem = "input: 3x224x224\nlayers:\n  - conv: {filters: 8, kernel: 7, stride: 2, pad: 3}\n"
    assert run(stem, strict=True).rows[0].warnings == ()


def test_every_error_is_a_convcalc_error() -> None:
    with pytest.raises(ConvcalcError):
        run("input: 3x2x2\nlayers: [{instancenorm: {}}, gap, instancenorm]\n")
