"""``--set PATH=VALUE`` and the spec's top-level ``params``: the network each setting gives,
checked against the same network written out by hand, and the messages of paths that do not
exist."""

from __future__ import annotations

import pytest

from convcalc.analysis import analyze
from convcalc.errors import SpecError, UsageError
from convcalc.loader import parse_spec
from convcalc.overrides import parse_setting
from convcalc.report import Report

FAMILY = """\
input: 3x32x32
params: {width: 16}
blocks:
  stage:
    params: {filters: 8, stride: 1}
    layers:
      - conv: {filters: $filters, kernel: 3, stride: $stride, pad: 1}
      - relu
layers:
  - conv: {filters: $width, kernel: 3, pad: 1}
  - bn
  - relu
  - use: stage
    with: {filters: $width}
  - use: stage
    with: {stride: 2}
  - use: stage
  - maxpool: {kernel: 2}
"""


def report(text: str, *settings: str) -> Report:
    return analyze(parse_spec(text, "net.yaml", [parse_setting(s) for s in settings]))


def summary(result: Report) -> list[tuple[str, tuple[int, ...], tuple[int, ...], int]]:
    return [(row.path, row.input, row.output, row.params) for row in result.rows]


def written_out(width: int = 16, stage2_filters: int = 8, kernel: int = 3) -> str:
    """FAMILY with every parameter filled in by hand."""
    return f"""\
input: 3x32x32
layers:
  - conv: {{filters: {width}, kernel: {kernel}, pad: 1}}
  - bn
  - relu
  - name: stage1
    repeat: {{times: 1, layers: [{{conv: {{filters: {width}, kernel: 3, pad: 1}}}}, relu]}}
  - name: stage2
    repeat:
      times: 1
      layers: [{{conv: {{filters: {stage2_filters}, kernel: 3, stride: 2, pad: 1}}}}, relu]
  - name: stage3
    repeat: {{times: 1, layers: [{{conv: {{filters: 8, kernel: 3, pad: 1}}}}, relu]}}
  - maxpool: {{kernel: 2}}
"""


def test_top_level_params_reach_layers_and_blocks_uses() -> None:
    assert summary(report(FAMILY)) == summary(report(written_out()))


def test_setting_a_top_level_parameter() -> None:
    assert summary(report(FAMILY, "width=32")) == summary(report(written_out(width=32)))


def test_setting_a_layer_option_by_index() -> None:
    assert summary(report(FAMILY, "layers[0].kernel=5")) == summary(report(written_out(kernel=5)))


def test_setting_a_layer_inside_one_use_of_a_shared_block_changes_that_use_only() -> None:
    changed = report(FAMILY, "stage2.conv1.filters=64")
    assert summary(changed) == summary(report(written_out(stage2_filters=64)))
    assert [row.path for row in changed.rows] == [row.path for row in report(FAMILY).rows]


def test_setting_a_parameter_of_a_use_by_its_row_path() -> None:
    assert summary(report(FAMILY, "stage2.filters=64")) == summary(
        report(written_out(stage2_filters=64))
    )


def test_setting_a_block_default_and_top_level_keys() -> None:
    result = report(FAMILY, "blocks.stage.params.filters=96", "batch=4", "input=3x64x64")
    assert result.batch == 4
    assert result.input == (3, 64, 64)
    assert [row.output for row in result.rows][-1] == (96, 16, 16)


def test_values_are_read_as_in_a_spec() -> None:
    result = report(FAMILY, "layers[0].kernel=[3, 5]", "layers[0].pad=[1, 2]", "dtype=float16")
    assert result.rows[0].output == (16, 32, 32)
    assert result.dtype == "float16"


def test_an_option_a_bare_layer_does_not_write_yet() -> None:
    text = "input: 3x8x8\nlayers: [flatten, dropout, {fc: {out: 2}}]\n"
    assert report(text, "layers[1].p=0.1").rows[1].layer.p == 0.1  # type: ignore[union-attr]


def test_a_later_setting_wins() -> None:
    assert report(FAMILY, "width=32", "width=8").rows[0].output == (8, 32, 32)


def test_a_set_value_is_checked_and_located_at_the_setting() -> None:
    with pytest.raises(SpecError) as caught:
        report(FAMILY, "layers[0].kernel=x")
    assert str(caught.value) == (
        "--set layers[0].kernel=x: layers[0] conv: kernel: expected a whole number or [h, w], "
        "got 'x'"
    )


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "widht=3",
            "--set widht: the spec has no `widht` (did you mean `width`?); at the top level: "
            "name, input, batch, dtype, layers, blocks, outputs, width, conv1, batchnorm1, relu1, "
            "stage1, stage2, stage3, maxpool1",
        ),
        (
            "layers[0].strid=1",
            "--set layers[0].strid: layers[0] (conv) has no option `strid` (did you mean "
            "`stride`?); it takes filters, kernel, stride, pad, dilation, groups, bias, "
            "in_channels, name",
        ),
        ("layers[9].stride=1", "--set layers[9].stride: layers has 7 layers (indices 0 to 6)"),
        (
            "stage2.conv2.filters=1",
            "--set stage2.conv2.filters: stage2 has no layer `conv2` (did you mean `conv1`?); "
            "it has conv1, relu1",
        ),
        (
            "blocks.stage.params.filter=1",
            "--set blocks.stage.params.filter: blocks.stage.params has no `filter` (did you "
            "mean `filters`?); it has filters, stride",
        ),
        (
            "stage2.filtres=1",
            "--set stage2.filtres: stage2 (a use of block `stage`) has no parameter `filtres` "
            "(did you mean `filters`?); its parameters: filters, stride; its layers: conv1, "
            "relu1",
        ),
        ("conv1=3", "--set conv1: conv1 is a layer: name one of its options, e.g. conv1.stride"),
    ],
)
def test_a_path_the_spec_does_not_have_lists_what_is_there(setting: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        report(FAMILY, setting)
    assert str(caught.value) == message


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("width", "--set width: expected PATH=VALUE, e.g. --set batch=32"),
        ("=3", "--set =3: expected PATH=VALUE, e.g. --set batch=32"),
        ("width=", "--set width=: no value after `=`"),
        ("[0].x=1", "--set [0].x=1: a path starts with a name, e.g. layers[3].stride"),
        ("layers[x]=1", "--set layers[x]=1: cannot read the path at `[x]`"),
    ],
)
def test_malformed_settings(text: str, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_setting(text)
    assert str(caught.value) == message


def test_a_repeat_of_several_copies_is_not_entered_by_row_path() -> None:
    text = (
        "input: 3x8x8\nlayers:\n  - repeat: {times: 2, layers: [{conv: {filters: 3, kernel: 1}}]}\n"
    )
    with pytest.raises(UsageError, match="repeat1 repeats its layers 2 times"):
        report(text, "repeat1.conv1.filters=4")
    assert report(text, "layers[0].layers[0].filters=4").rows[-1].output == (4, 8, 8)


def test_residual_and_concat_parts_by_row_path() -> None:
    text = """\
input: 4x8x8
layers:
  - residual: {body: [{conv: {filters: 4, kernel: 3, pad: 1}}]}
  - concat: {branches: [[{conv: {filters: 2, kernel: 1}}], []]}
"""
    result = report(text, "residual1.body.conv1.kernel=1", "residual1.body.conv1.pad=0")
    assert result.rows[0].params == 4 * 4 + 4
    assert report(text, "concat1.branch1.conv1.filters=5").rows[-1].output == (9, 8, 8)


def test_settings_leave_aliased_lists_alone() -> None:
    text = """\
input: 3x8x8
layers:
  - residual: {body: &body [{conv: {filters: 3, kernel: 3, pad: 1}}]}
  - residual: {body: *body}
"""
    result = report(text, "layers[0].body[0].kernel=1", "layers[0].body[0].pad=0")
    assert [row.params for row in result.rows if row.type == "conv"] == [12, 84]


def test_top_level_params_in_input_and_shadowed_by_a_block() -> None:
    text = """\
input: [3, $size, $size]
params: {size: 16, filters: 4}
blocks:
  b:
    params: {filters: 2}
    layers: [{conv: {filters: $filters, kernel: 1}}]
layers: [{use: b}, {conv: {filters: $filters, kernel: 1}}]
"""
    result = report(text)
    assert [row.output for row in result.rows] == [(2, 16, 16), (4, 16, 16)]
    assert report(text, "size=8").rows[0].output == (2, 8, 8)


def test_an_unknown_parameter_names_both_scopes() -> None:
    text = """\
input: 3x4x4
params: {width: 2}
blocks:
  b:
    params: {filters: 2}
    layers: [{conv: {filters: $widht, kernel: 1}}]
layers: [{use: b}]
"""
    with pytest.raises(SpecError) as caught:
        parse_spec(text, "net.yaml")
    assert str(caught.value) == (
        "net.yaml:6:31: blocks.b.layers[0]: unknown parameter $widht (did you mean `width`?) "
        "(the block declares filters; the spec's params are width)"
    )
