"""``convcalc layer`` through typer's CliRunner: every flag, every output format, every error path.

Conventions checked throughout: exit 0 on success; exit 1 with exactly one line on stderr and
nothing on stdout for a bad value, a bad shape or an option that does not apply to the type;
exit 2 for command-line usage errors; never a traceback.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from convcalc.cli import app
from convcalc.errors import ConvcalcError

runner = CliRunner()

NOTES = ("--in", "3x32x32", "--filters", "10x5x5", "--stride", "1", "--pad", "2")
"""The course notes' worked example: 10 filters 3×5×5, stride 1, pad 2 on 3×32×32."""


def run(*args: str, stdin: str | None = None) -> Result:
    """``convcalc layer ARGS``; fails the test on any traceback or unexpected exception."""
    result = runner.invoke(app, ["layer", *args], input=stdin)
    assert "Traceback" not in result.output
    if result.exception is not None:
        assert isinstance(result.exception, SystemExit), repr(result.exception)
    return result


def ok(*args: str, stdin: str | None = None) -> Result:
    """A run that must succeed."""
    result = run(*args, stdin=stdin)
    assert result.exit_code == 0, result.stderr
    return result


def document(*args: str, stdin: str | None = None) -> dict[str, Any]:
    """The JSON document of a successful run."""
    parsed: dict[str, Any] = json.loads(ok(*args, "--json", stdin=stdin).stdout)
    return parsed


def row(*args: str, stdin: str | None = None) -> dict[str, Any]:
    """The one layer row of a successful run's JSON document."""
    layers = document(*args, stdin=stdin)["layers"]
    assert len(layers) == 1
    only: dict[str, Any] = layers[0]
    return only


def error(*args: str, stdin: str | None = None) -> str:
    """The one-line message of a run that must fail with exit 1 and print nothing on stdout."""
    result = run(*args, stdin=stdin)
    assert result.exit_code == 1, (result.stdout, result.stderr)
    assert result.stdout == ""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    return lines[0]


def usage(*args: str) -> str:
    """The stderr of a run that must fail as a usage error (exit 2, nothing on stdout)."""
    result = run(*args)
    assert result.exit_code == 2, (result.stdout, result.stderr)
    assert result.stdout == ""
    assert "Usage:" in result.stderr
    return result.stderr


# --- the notes' worked example in all four formats ------------------------------------------


def test_table_shows_the_notes_formulas_filled_in() -> None:
    out = ok(*NOTES).stdout
    lines = out.splitlines()
    assert lines[0].strip() == "conv: 3×32×32 → 10×32×32"
    height = next(line for line in lines if line.strip().startswith("height"))
    assert "(32 − 5 + 2·2)/1 + 1" in height
    assert height.split()[-1] == "32"
    params = next(line for line in lines if line.strip().startswith("params"))
    assert "10 × (3·5·5 + 1)" in params
    assert params.split()[-1] == "760"
    output = next(line for line in lines if line.strip().startswith("output"))
    assert output.split()[-1] == "10×32×32"
    macs = next(line for line in lines if line.strip().startswith("MACs"))
    assert macs.split()[-1] == "768,000"
    assert "receptive field" in out
    assert "5×5" in out
    assert "activations" in out
    assert "40.0 KiB" in out


def spec_keys_only(value: Any, expected: Any) -> Any:
    """``value`` restricted to the keys ``expected`` has: docs/spec.md §3 allows keys to be
    added."""
    if isinstance(expected, dict) and isinstance(value, dict):
        return {key: spec_keys_only(value.get(key), item) for key, item in expected.items()}
    if isinstance(expected, list) and isinstance(value, list) and len(value) == len(expected):
        return [spec_keys_only(v, e) for v, e in zip(value, expected, strict=True)]
    return value


def test_json_is_the_spec_document_with_one_layer() -> None:
    parsed = document(*NOTES)
    expected = {
        "name": None,
        "input": [3, 32, 32],
        "batch": 1,
        "dtype": "float32",
        "layers": [
            {
                "index": 0,
                "path": "conv1",
                "type": "conv",
                "input": [3, 32, 32],
                "output": [10, 32, 32],
                "params": 760,
                "buffers": 0,
                "macs": 768000,
                "rf": {"size": [5, 5], "jump": [1, 1], "start": [0.0, 0.0]},
                "activation_bytes": 40960,
                "warnings": [],
            }
        ],
        "totals": {
            "params": 760,
            "trainable_params": 760,
            "buffers": 0,
            "macs": 768000,
            "flops": 1536000,
            "activation_bytes": 40960,
            "param_bytes": 3040,
            "rf": {"size": [5, 5], "jump": [1, 1], "start": [0.0, 0.0]},
        },
        "bn_folding": {"folded": [], "not_folded": [], "params_after": 760, "macs_after": 768000},
    }
    assert list(parsed) == list(expected)
    assert spec_keys_only(parsed, expected) == expected


@pytest.mark.parametrize("flag", [("--json",), ("--format", "json"), ("-f", "JSON")])
def test_every_spelling_of_json_gives_the_same_text(flag: tuple[str, ...]) -> None:
    assert ok(*NOTES, *flag).stdout == ok(*NOTES, "--json").stdout


def test_json_wins_over_another_format() -> None:
    assert json.loads(ok(*NOTES, "--format", "csv", "--json").stdout)["totals"]["params"] == 760


def test_csv_holds_the_notes_numbers() -> None:
    records = list(csv.DictReader(io.StringIO(ok(*NOTES, "--format", "csv").stdout)))
    assert records[0]["path"] == "conv1"
    assert records[0]["input"] == "3x32x32"
    assert records[0]["output"] == "10x32x32"
    assert records[0]["params"] == "760"
    assert records[0]["macs"] == "768000"
    assert records[0]["rf_size"] == "5x5"
    assert records[-1]["path"] == "total"
    assert records[-1]["params"] == "760"


def test_markdown_holds_the_notes_numbers() -> None:
    out = ok(*NOTES, "--format", "markdown").stdout
    line = next(line for line in out.splitlines() if "`conv1`" in line)
    cells = [cell.strip() for cell in line.strip("|").split("|")]
    assert cells[3:6] == ["3×32×32", "10×32×32", "760"]
    assert "768,000" in cells
    assert "- **params**: 760" in out


def test_unknown_format_is_a_usage_error() -> None:
    assert "'xml' is not one of" in usage(*NOTES, "--format", "xml")


# --- --in ---------------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["3x32x32", "3X32X32", "3×32×32", "3*32*32", " 3 x 32 x 32 "])
def test_in_accepts_every_separator(shape: str) -> None:
    assert row("--in", shape, "--filters", "10x5x5", "--pad", "2")["input"] == [3, 32, 32]


def test_in_takes_a_vector() -> None:
    fc = row("--in", "4096", "--type", "fc", "--out", "10")
    assert (fc["input"], fc["output"], fc["params"]) == ([4096], [10], 40970)


@pytest.mark.parametrize(
    ("shape", "message"),
    [
        ("3x32", "--in: expected C×H×W (an image) or D (a vector), got 2 sizes in '3x32'"),
        ("3xAx32", "--in: 'A' in '3xAx32' is not a whole number"),
        ("0x32x32", "--in: sizes must be ≥ 1, got 0 in '0x32x32'"),
        ("3x-32x32", "--in: sizes must be ≥ 1, got -32 in '3x-32x32'"),
        (
            "3x32x32x1",
            "--in: expected C×H×W (an image) or D (a vector), got 4 sizes in '3x32x32x1'",
        ),
    ],
)
def test_malformed_in_is_one_line(shape: str, message: str) -> None:
    assert error("--in", shape, "--filters", "10x5x5") == message


def test_missing_in_is_a_usage_error() -> None:
    assert "Missing option '--in'" in usage("--filters", "10x5x5")


def test_unknown_flag_is_a_usage_error() -> None:
    assert "No such option: --bogus" in usage(*NOTES, "--bogus")


def test_help_lists_the_flags() -> None:
    out = ok("--help").stdout
    for flag in ("--in", "--filters", "--type", "--pad", "--strict", "--format", "--json"):
        assert flag in out


# --- --filters ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "filters",
    [
        ("--filters", "10", "--kernel", "5"),
        ("--filters", "10x5"),
        ("--filters", "10x5x5"),
        ("--filters", "10x3x5x5"),
    ],
)
def test_all_four_filter_forms_agree(filters: tuple[str, ...]) -> None:
    conv = row("--in", "3x32x32", *filters, "--pad", "2")
    assert (conv["output"], conv["params"], conv["macs"]) == ([10, 32, 32], 760, 768000)


def test_rectangular_filters() -> None:
    conv = row("--in", "3x32x32", "--filters", "10x3x5")
    assert conv["output"] == [10, 30, 28]
    assert conv["params"] == 10 * (3 * 3 * 5 + 1)
    assert conv["rf"]["size"] == [3, 5]


def test_filter_channels_must_equal_input_channels() -> None:
    assert error("--in", "3x32x32", "--filters", "10x6x5x5") == (
        'conv "conv1": in_channels: the filters have 6 channels but the input has 3; '
        "a filter has as many channels as its input"
    )


def test_grouped_filters_may_give_their_per_group_depth() -> None:
    """PyTorch's weight of a grouped conv is F × C/groups × K × K: that depth is accepted too."""
    per_group = row("--in", "4x8x8", "--filters", "8x2x3x3", "--groups", "2")
    whole = row("--in", "4x8x8", "--filters", "8x4x3x3", "--groups", "2")
    assert per_group["params"] == whole["params"] == 8 * (2 * 9 + 1)
    assert error("--in", "4x8x8", "--filters", "8x3x3x3", "--groups", "2") == (
        'conv "conv1": in_channels: the filters have 3 channels but the input has 4 '
        "(2 per group); a filter has as many channels as its input"
    )


@pytest.mark.parametrize(
    ("filters", "message"),
    [
        ("10x5x5x5x5", "--filters: expected F, FxK, FxKxK or FxCxKxK, got '10x5x5x5x5'"),
        ("10xA", "--filters: expected whole numbers like 3 or 3x5, got '10xA'"),
        ("0x5x5", "--filters: must be ≥ 1, got 0"),
        ("10x0", "--kernel: must be ≥ 1, got 0"),
    ],
)
def test_bad_filters(filters: str, message: str) -> None:
    assert error("--in", "3x32x32", "--filters", filters) == message


def test_kernel_given_twice_is_refused() -> None:
    assert error("--in", "3x8x8", "--filters", "2x3", "--kernel", "5") == (
        "--kernel conflicts with the kernel in --filters 2x3; give one"
    )


def test_conv_needs_filters_and_kernel() -> None:
    assert error("--in", "3x32x32") == "conv needs --filters and --kernel"
    assert error("--in", "3x32x32", "--filters", "10") == (
        "conv needs --kernel (or give F×K to --filters)"
    )


def test_kernel_larger_than_the_padded_input() -> None:
    assert error("--in", "3x3x3", "--filters", "10x7x7", "--pad", "1") == (
        'conv "conv1": height: the kernel covers 7 but the padded input is only 5'
    )


# --- --type: one case per layer family ------------------------------------------------------

FAMILIES = [
    # args, output, params, buffers, macs
    (("--type", "conv", "--filters", "8x3x3"), [8, 6, 6], 8 * (4 * 9 + 1), 0, 8 * 4 * 9 * 36),
    (("--type", "conv2d", "--filters", "8x3"), [8, 6, 6], 296, 0, 10368),
    (
        ("--type", "deconv", "--filters", "2x4", "--stride", "2", "--pad", "1"),
        [2, 16, 16],
        4 * 2 * 16 + 2,
        0,
        4 * 2 * 16 * 64,
    ),
    (
        ("--type", "convtranspose", "--filters", "2x3"),
        [2, 10, 10],
        4 * 2 * 9 + 2,
        0,
        4 * 2 * 9 * 64,
    ),
    (("--type", "maxpool", "--kernel", "2"), [4, 4, 4], 0, 0, 0),
    (("--type", "avgpool", "--kernel", "3", "--stride", "1", "--pad", "1"), [4, 8, 8], 0, 0, 0),
    (("--type", "meanpool", "--kernel", "2"), [4, 4, 4], 0, 0, 0),
    (("--type", "adaptiveavgpool", "--out", "3"), [4, 3, 3], 0, 0, 0),
    (("--type", "adaptivemaxpool", "--out", "2x5"), [4, 2, 5], 0, 0, 0),
    (("--type", "globalavgpool"), [4, 1, 1], 0, 0, 0),
    (("--type", "gap"), [4, 1, 1], 0, 0, 0),
    (("--type", "globalmaxpool"), [4, 1, 1], 0, 0, 0),
    (("--type", "flatten"), [256], 0, 0, 0),
    (("--type", "batchnorm"), [4, 8, 8], 8, 8, 0),
    (("--type", "bn"), [4, 8, 8], 8, 8, 0),
    (("--type", "layernorm"), [4, 8, 8], 2 * 256, 0, 0),
    (("--type", "groupnorm", "--groups", "2"), [4, 8, 8], 8, 0, 0),
    (("--type", "instancenorm"), [4, 8, 8], 0, 0, 0),
    (("--type", "relu"), [4, 8, 8], 0, 0, 0),
    (("--type", "relu6"), [4, 8, 8], 0, 0, 0),
    (("--type", "leakyrelu"), [4, 8, 8], 0, 0, 0),
    (("--type", "elu"), [4, 8, 8], 0, 0, 0),
    (("--type", "gelu"), [4, 8, 8], 0, 0, 0),
    (("--type", "silu"), [4, 8, 8], 0, 0, 0),
    (("--type", "sigmoid"), [4, 8, 8], 0, 0, 0),
    (("--type", "tanh"), [4, 8, 8], 0, 0, 0),
    (("--type", "hardswish"), [4, 8, 8], 0, 0, 0),
    (("--type", "softmax"), [4, 8, 8], 0, 0, 0),
    (("--type", "prelu"), [4, 8, 8], 1, 0, 0),
    (("--type", "dropout"), [4, 8, 8], 0, 0, 0),
    (("-t", "MaxPool", "--kernel", "2"), [4, 4, 4], 0, 0, 0),
]


@pytest.mark.parametrize(("args", "output", "params", "buffers", "macs"), FAMILIES)
def test_each_layer_family(
    args: tuple[str, ...], output: list[int], params: int, buffers: int, macs: int
) -> None:
    layer = row("--in", "4x8x8", *args)
    assert (layer["output"], layer["params"], layer["buffers"], layer["macs"]) == (
        output,
        params,
        buffers,
        macs,
    )


@pytest.mark.parametrize("alias", ["fc", "linear", "dense"])
def test_fc_and_its_aliases(alias: str) -> None:
    fc = row("--in", "256", "--type", alias, "--out", "10")
    assert (fc["type"], fc["output"], fc["params"], fc["macs"]) == ("fc", [10], 2570, 2560)


def test_unknown_type_suggests_the_closest() -> None:
    message = error("--in", "3x8x8", "--type", "convv", "--filters", "2x3")
    assert message.startswith(
        "--type: unknown layer type 'convv' (did you mean `conv`?); choose one of "
    )
    assert "maxpool" in message


def test_fc_on_an_image_says_to_flatten() -> None:
    assert error("--in", "4x8x8", "--type", "fc", "--out", "10") == (
        'fc "fc1": fc needs a vector, but receives 4×8×8; '
        "add `flatten` (or a global pool) before it"
    )


def test_conv_on_a_vector() -> None:
    assert error("--in", "256", "--filters", "2x3") == (
        'conv "conv1": conv needs a C×H×W input, but receives a vector of 256'
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--type", "maxpool", "--kernel", "2", "--filters", "10"),
            "--filters does not apply to maxpool "
            "(it takes --kernel, --stride, --pad, --ceil-mode, --dilation)",
        ),
        (
            ("--type", "maxpool", "--kernel", "2", "--groups", "2"),
            "--groups does not apply to maxpool "
            "(it takes --kernel, --stride, --pad, --ceil-mode, --dilation)",
        ),
        (
            ("--type", "avgpool", "--kernel", "2", "--dilation", "2"),
            "--dilation does not apply to avgpool "
            "(it takes --kernel, --stride, --pad, --ceil-mode, --count-include-pad)",
        ),
        (
            ("--filters", "2x3", "--ceil-mode"),
            "--ceil-mode does not apply to conv (it takes --filters, --kernel, --stride, --pad, "
            "--dilation, --groups, --bias)",
        ),
        (("--type", "relu", "--p", "0.5"), "--p does not apply to relu (it takes no options)"),
        (
            ("--type", "gap", "--kernel", "3"),
            "--kernel does not apply to globalavgpool (it takes no options)",
        ),
        (
            ("--type", "maxpool", "--kernel", "2", "--no-bias"),
            "--bias does not apply to maxpool "
            "(it takes --kernel, --stride, --pad, --ceil-mode, --dilation)",
        ),
        (
            ("--filters", "2x3", "--output-padding", "1"),
            "--output-padding does not apply to conv (it takes --filters, --kernel, --stride, "
            "--pad, --dilation, --groups, --bias)",
        ),
        (
            ("--filters", "2x3", "--eps", "0.1"),
            "--eps does not apply to conv (it takes --filters, --kernel, --stride, --pad, "
            "--dilation, --groups, --bias)",
        ),
        (
            ("--type", "bn", "--per-channel"),
            "--shared does not apply to batchnorm (it takes --eps, --momentum, --affine)",
        ),
        (
            ("--type", "dropout", "--no-affine"),
            "--affine does not apply to dropout (it takes --p)",
        ),
        (
            ("--type", "flatten", "--out", "3"),
            "--out does not apply to flatten (it takes no options)",
        ),
    ],
)
def test_option_that_does_not_apply_to_the_type(args: tuple[str, ...], message: str) -> None:
    assert error("--in", "4x8x8", *args) == message


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--type", "maxpool"), "maxpool needs --kernel"),
        (("--type", "fc"), "fc needs --out"),
        (("--type", "adaptiveavgpool"), "adaptiveavgpool needs --out"),
        (("--type", "groupnorm"), "groupnorm needs --groups"),
    ],
)
def test_required_option_missing(args: tuple[str, ...], message: str) -> None:
    assert error("--in", "4x8x8", *args) == message


# --- --kernel, --stride, --pad, --dilation --------------------------------------------------


def test_kernel_int_and_rectangular() -> None:
    assert row("--in", "1x8x8", "--filters", "1", "--kernel", "3")["output"] == [1, 6, 6]
    assert row("--in", "1x8x8", "--filters", "1", "--kernel", "3x5")["output"] == [1, 6, 4]
    assert row("--in", "1x8x8", "-t", "maxpool", "--kernel", "2x4")["output"] == [1, 4, 2]


def test_stride_int_and_rectangular() -> None:
    assert row("--in", "1x9x9", "--filters", "1x3", "--stride", "2")["output"] == [1, 4, 4]
    conv = row("--in", "1x9x9", "--filters", "1x3", "--stride", "2x3")
    assert conv["output"] == [1, 4, 3]
    assert conv["rf"]["jump"] == [2, 3]


@pytest.mark.parametrize(
    ("pad", "output"),
    [
        ("0", [2, 6, 8]),
        ("1", [2, 8, 10]),
        ("1x2", [2, 8, 12]),
        ("valid", [2, 6, 8]),
        ("same", [2, 8, 10]),
        ("SAME", [2, 8, 10]),
    ],
)
def test_pad_forms(pad: str, output: list[int]) -> None:
    assert row("--in", "3x8x10", "--filters", "2x3x3", "--pad", pad)["output"] == output


def test_same_padding_with_stride_is_ceil_and_puts_the_odd_cell_last() -> None:
    """TensorFlow's rule on 7×7, K 4, S 2: out ⌈7/2⌉ = 4, total padding 3 = 1 before + 2 after,
    so the first window's centre sits at (4 − 1)/2 − 1 = 0.5."""
    conv = row("--in", "1x7x7", "--filters", "1x4", "--stride", "2", "--pad", "same")
    assert conv["output"] == [1, 4, 4]
    assert conv["rf"]["start"] == [0.5, 0.5]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--filters", "2x3", "--pad", "-1"), "--pad: must be ≥ 0, got -1"),
        (
            ("--filters", "2x3", "--pad", "foo"),
            "--pad: expected whole numbers like 3 or 3x5, or same or valid, got 'foo'",
        ),
        (("--filters", "2x3", "--pad", "1x2x3"), "--pad: expected N or HxW, got '1x2x3'"),
        (
            ("-t", "deconv", "--filters", "2x3", "--pad", "same"),
            "--pad: expected whole numbers like 3 or 3x5, got 'same'",
        ),
        (("--filters", "2x3", "--stride", "0"), "--stride: must be ≥ 1, got 0"),
        (("--filters", "2x3", "--stride", "1x0"), "--stride: must be ≥ 1, got [1, 0]"),
        (("--filters", "2x3", "--dilation", "0"), "--dilation: must be ≥ 1, got 0"),
        (
            ("-t", "maxpool", "--kernel", "2", "--pad", "2"),
            'maxpool "maxpool1": pad: 2 on the height is more than half the kernel (2); '
            "PyTorch refuses that",
        ),
    ],
)
def test_bad_geometry_values(args: tuple[str, ...], message: str) -> None:
    assert error("--in", "3x8x8", *args) == message


def test_dilation_int_and_rectangular() -> None:
    conv = row("--in", "1x16x16", "--filters", "1x3", "--dilation", "2")
    assert conv["output"] == [1, 12, 12]
    assert conv["rf"]["size"] == [5, 5]
    conv = row("--in", "1x16x16", "--filters", "1x3", "--dilation", "2x3")
    assert conv["output"] == [1, 12, 10]
    assert conv["rf"]["size"] == [5, 7]
    pool = row("--in", "1x16x16", "-t", "maxpool", "--kernel", "3", "--dilation", "2")
    assert pool["output"] == [1, 4, 4]


# --- --groups, --no-bias, --output-padding, --ceil-mode ------------------------------------


def test_groups_and_depthwise() -> None:
    grouped = row("--in", "8x6x6", "--filters", "16x3", "--groups", "4", "--pad", "1")
    assert grouped["params"] == 16 * (2 * 9 + 1)
    assert grouped["macs"] == 16 * 2 * 9 * 36
    depthwise = row("--in", "8x6x6", "--filters", "8x3", "--groups", "depthwise", "--pad", "1")
    assert depthwise["params"] == 8 * (9 + 1)
    multiplier = row("--in", "8x6x6", "--filters", "16x3", "--groups", "depthwise")
    assert multiplier["params"] == 16 * (9 + 1)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--filters", "4x3", "--groups", "3"),
            'conv "conv1": groups: 8 input channels do not split into 3 groups',
        ),
        (
            ("--filters", "6x3", "--groups", "4"),
            'conv "conv1": groups: 6 filters do not split into 4 groups',
        ),
        (("--filters", "4x3", "--groups", "0"), "--groups: must be ≥ 1, got 0"),
        (("--filters", "4x3", "--groups", "2x2"), "--groups: expected one whole number, got '2x2'"),
        (
            ("-t", "groupnorm", "--groups", "depthwise"),
            "--groups: expected whole numbers like 3 or 3x5, got 'depthwise'",
        ),
        (
            ("-t", "groupnorm", "--groups", "3"),
            'groupnorm "groupnorm1": groups: 8 channels do not split into 3 groups',
        ),
    ],
)
def test_bad_groups(args: tuple[str, ...], message: str) -> None:
    assert error("--in", "8x6x6", *args) == message


def test_no_bias() -> None:
    assert row("--in", "3x32x32", "--filters", "10x5x5", "--no-bias")["params"] == 750
    assert row("--in", "3x32x32", "--filters", "10x5x5", "--bias")["params"] == 760
    assert row("--in", "256", "-t", "fc", "--out", "10", "--no-bias")["params"] == 2560
    assert row("--in", "4x8x8", "-t", "deconv", "--filters", "2x3", "--no-bias")["params"] == 72


def test_output_padding() -> None:
    base = ("--in", "16x8x8", "-t", "deconv", "--filters", "8x3", "--stride", "2", "--pad", "1")
    assert row(*base)["output"] == [8, 15, 15]
    assert row(*base, "--output-padding", "1")["output"] == [8, 16, 16]
    assert row(*base, "--output-padding", "1x0")["output"] == [8, 16, 15]
    assert error(*base, "--output-padding", "2") == (
        "--output-padding: must be smaller than the stride or the dilation, got 2"
    )


def test_ceil_mode() -> None:
    pool = ("--in", "1x6x6", "-t", "maxpool", "--kernel", "3", "--stride", "2")
    assert row(*pool)["output"] == [1, 2, 2]
    assert row(*pool, "--ceil-mode")["output"] == [1, 3, 3]
    avg = ("--in", "1x5x5", "-t", "avgpool", "--kernel", "2", "--pad", "1", "--ceil-mode")
    # ⌈(5 + 2 − 2)/2⌉ + 1 = 4, but the 4th window would start in the right padding: 3
    assert row(*avg)["output"] == [1, 3, 3]
    table = ok(*avg).stdout
    assert "⌈(5 − 2 + 2·1)/2 + 1⌉ = ⌈7/2⌉ − 1 (a last window would start in the padding)" in table


# --- --out, --eps, --affine, --p, --shared ---------------------------------------------------


def test_out() -> None:
    assert row("--in", "4x13x13", "-t", "adaptiveavgpool", "--out", "6")["output"] == [4, 6, 6]
    assert row("--in", "4x13x13", "-t", "adaptivemaxpool", "--out", "6x2")["output"] == [4, 6, 2]
    assert error("--in", "100", "-t", "fc", "--out", "3x3") == (
        "--out: expected one whole number, got '3x3'"
    )
    assert error("--in", "100", "-t", "fc", "--out", "0") == "--out: must be ≥ 1, got 0"


@pytest.mark.parametrize("kind", ["batchnorm", "layernorm", "groupnorm", "instancenorm"])
def test_eps_is_accepted_by_every_norm(kind: str) -> None:
    groups = ("--groups", "2") if kind == "groupnorm" else ()
    assert row("--in", "4x8x8", "-t", kind, *groups, "--eps", "1e-3")["output"] == [4, 8, 8]
    assert error("--in", "4x8x8", "-t", kind, *groups, "--eps", "0") == (
        "--eps: must be > 0, got 0.0"
    )


def test_eps_that_is_not_a_number_is_a_usage_error() -> None:
    assert "Invalid value for '--eps'" in usage("--in", "4x8x8", "-t", "bn", "--eps", "abc")


@pytest.mark.parametrize(
    ("kind", "with_affine", "without"),
    [("batchnorm", 8, 0), ("layernorm", 512, 0), ("instancenorm", 8, 0)],
)
def test_affine(kind: str, with_affine: int, without: int) -> None:
    assert row("--in", "4x8x8", "-t", kind, "--affine")["params"] == with_affine
    assert row("--in", "4x8x8", "-t", kind, "--no-affine")["params"] == without


def test_batchnorm_keeps_its_buffers_without_affine() -> None:
    bn = row("--in", "4x8x8", "-t", "bn", "--no-affine")
    assert (bn["params"], bn["buffers"]) == (0, 8)
    totals = document("--in", "4x8x8", "-t", "bn", "--no-affine")["totals"]
    assert (totals["params"], totals["trainable_params"], totals["buffers"]) == (0, 0, 8)


def test_groupnorm_no_affine() -> None:
    assert row("--in", "4x8x8", "-t", "groupnorm", "--groups", "4", "--no-affine")["params"] == 0


def test_dropout_p() -> None:
    assert row("--in", "4x8x8", "-t", "dropout", "--p", "0.3")["output"] == [4, 8, 8]
    assert row("--in", "4x8x8", "-t", "dropout", "--p", "1")["params"] == 0
    assert error("--in", "4x8x8", "-t", "dropout", "--p", "1.5") == (
        "--p: must be between 0 and 1, got 1.5"
    )


def test_prelu_shared_or_per_channel() -> None:
    assert row("--in", "16x4x4", "-t", "prelu", "--shared")["params"] == 1
    assert row("--in", "16x4x4", "-t", "prelu", "--per-channel")["params"] == 16


# --- --batch, --dtype ------------------------------------------------------------------------


def test_batch_scales_activations_and_macs() -> None:
    parsed = document(*NOTES, "--batch", "4")
    assert parsed["batch"] == 4
    assert parsed["layers"][0]["activation_bytes"] == 4 * 40960
    assert parsed["layers"][0]["macs"] == 4 * 768000
    assert parsed["totals"]["params"] == 760
    assert document(*NOTES, "-n", "4") == parsed
    table = ok(*NOTES, "--batch", "4").stdout
    assert "768,000 × batch 4" in table
    assert "3,072,000" in table


def test_batch_must_be_positive() -> None:
    assert "Invalid value for '--batch'" in usage(*NOTES, "--batch", "0")


@pytest.mark.parametrize(
    ("dtype", "size"), [("float64", 8), ("float16", 2), ("bfloat16", 2), ("int8", 1)]
)
def test_dtype_sets_bytes_per_value(dtype: str, size: int) -> None:
    parsed = document(*NOTES, "--dtype", dtype)
    assert parsed["dtype"] == dtype
    assert parsed["totals"]["activation_bytes"] == 10 * 32 * 32 * size
    assert parsed["totals"]["param_bytes"] == 760 * size


def test_unknown_dtype_is_a_usage_error() -> None:
    result = run(*NOTES, "--dtype", "float8")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Invalid value for '--dtype'" in result.stderr
    assert "'float8' is not one of 'float32', 'float16', 'bfloat16', 'int8', 'float64'" in (
        result.stderr
    )


# --- --strict and the stride that does not fit ----------------------------------------------

MISFIT = ("--in", "1x7x7", "--filters", "1x3x3", "--stride", "3")
ROW_WARNING = (
    "stride 3 does not fit the height: (7 + 0 − 3) is not a multiple of 3, "
    "so the last 1 input row is never read"
)
COLUMN_WARNING = (
    "stride 3 does not fit the width: (7 + 0 − 3) is not a multiple of 3, "
    "so the last 1 input column is never read"
)


def test_stride_that_does_not_fit_floors_and_warns() -> None:
    result = ok(*MISFIT, "--json")
    assert result.stderr.splitlines() == [
        f'conv "conv1": warning: {ROW_WARNING}',
        f'conv "conv1": warning: {COLUMN_WARNING}',
    ]
    parsed = json.loads(result.stdout)
    assert parsed["layers"][0]["output"] == [1, 2, 2]
    assert parsed["layers"][0]["warnings"] == [ROW_WARNING, COLUMN_WARNING]


def test_table_shows_the_exact_fraction() -> None:
    table = ok(*MISFIT).stdout
    assert "⌊(7 − 3 + 2·0)/3 + 1⌋ = ⌊7/3⌋" in table


def test_strict_turns_the_warning_into_exit_1() -> None:
    assert error(*MISFIT, "--strict") == f'conv "conv1": {ROW_WARNING} (--strict)'


def test_strict_passes_padding_only_slack() -> None:
    """ResNet's stem, 7×7/2 pad 3 on 224: the one unused cell is padding, not input."""
    result = ok("--in", "3x224x224", "--filters", "64x7", "--stride", "2", "--pad", "3", "--strict")
    assert result.stderr == ""
    assert "64×112×112" in result.stdout


# --- -o FILE -----------------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", ["json", "csv", "markdown"])
def test_output_file_holds_what_stdout_would(tmp_path: Path, fmt: str) -> None:
    target = tmp_path / f"layer.{fmt}"
    result = ok(*NOTES, "--format", fmt, "-o", str(target))
    assert result.stdout == ""
    assert target.read_text(encoding="utf-8") == ok(*NOTES, "--format", fmt).stdout
    assert list(tmp_path.iterdir()) == [target]


def test_output_file_table_is_plain_text(tmp_path: Path) -> None:
    target = tmp_path / "layer.txt"
    assert ok(*NOTES, "--output", str(target)).stdout == ""
    text = target.read_text(encoding="utf-8")
    assert "\x1b[" not in text
    assert "10 × (3·5·5 + 1)" in text
    assert "10×32×32" in text


def test_output_into_a_missing_directory(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "layer.json"
    assert error(*NOTES, "--json", "-o", str(target)) == (
        f"cannot write {target}: No such file or directory"
    )


# --- --in - : chaining ---------------------------------------------------------------------------


def test_chain_continues_shape_and_receptive_field() -> None:
    first = ok(*NOTES, "--json").stdout
    pool = document("--in", "-", "--type", "maxpool", "--kernel", "2", stdin=first)
    layer = pool["layers"][0]
    assert (layer["input"], layer["output"]) == ([10, 32, 32], [10, 16, 16])
    # 5×5 conv then 2×2/2 pool: r = 5 + (2 − 1)·1 = 6, j = 2, start = 0 + 0.5
    assert layer["rf"] == {"size": [6, 6], "jump": [2, 2], "start": [0.5, 0.5]}
    assert pool["input"] == [3, 32, 32]


def test_chain_keeps_batch_and_dtype_unless_overridden() -> None:
    first = ok(*NOTES, "--batch", "4", "--dtype", "float16", "--json").stdout
    relu = document("--in", "-", "--type", "relu", stdin=first)
    assert (relu["batch"], relu["dtype"]) == (4, "float16")
    assert relu["totals"]["activation_bytes"] == 10 * 32 * 32 * 4 * 2
    relu = document("--in", "-", "--type", "relu", "--batch", "2", "--dtype", "int8", stdin=first)
    assert (relu["batch"], relu["dtype"]) == (2, "int8")
    assert relu["totals"]["activation_bytes"] == 10 * 32 * 32 * 2


def test_three_link_chain_measures_the_field_in_the_first_input() -> None:
    """After a stride-2 conv, a global field still spans the original 32×32 input."""
    first = ok("--in", "3x32x32", "--filters", "8x3", "--stride", "2", "--pad", "1", "--json")
    second = ok("--in", "-", "--filters", "8x3", "--pad", "1", "--json", stdin=first.stdout)
    assert json.loads(second.stdout)["layers"][0]["rf"]["size"] == [7, 7]
    third = document("--in", "-", "--type", "flatten", stdin=second.stdout)
    assert third["input"] == [3, 32, 32]
    assert third["layers"][0]["input"] == [8, 16, 16]
    assert third["totals"]["rf"] == {
        "size": [32, 32],
        "jump": [2, 2],
        "start": [15.5, 15.5],
        "global": True,
    }
    fc = document("--in", "-", "--type", "fc", "--out", "10", stdin=json.dumps(third))
    assert fc["layers"][0]["params"] == 8 * 16 * 16 * 10 + 10


@pytest.mark.parametrize("kind", ["relu", "conv"])
def test_chain_from_an_overflowed_field_is_refused(kind: str) -> None:
    """A layer that passes its input's field on unchanged still checks the field it was given."""
    first = document(*NOTES)
    first["totals"]["rf"]["size"] = [float("inf"), 3]
    options = ["--filters", "8x1"] if kind == "conv" else []
    message = error("--in", "-", "--type", kind, *options, stdin=json.dumps(first))
    assert message.endswith(
        "the receptive field overflows: the strides multiply beyond any real input"
    )


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("nope", "--in -: stdin is not a convcalc JSON document (Expecting value at line 1)"),
        ("", "--in -: stdin is not a convcalc JSON document (Expecting value at line 1)"),
        (
            '{"a": 1}',
            "--in -: stdin is not a convcalc JSON document (no layers, totals or input)",
        ),
        (
            '{"input": [3, 8, 8], "layers": [], "totals": {"rf": null}, "batch": 1, "dtype": "x"}',
            "--in -: stdin is not a convcalc JSON document (no layers, totals or input)",
        ),
    ],
)
def test_chain_from_something_else(stdin: str, message: str) -> None:
    assert error("--in", "-", "--type", "relu", stdin=stdin) == message


def test_chain_then_an_impossible_layer() -> None:
    first = ok(*NOTES, "--json").stdout
    assert error("--in", "-", "--type", "fc", "--out", "3", stdin=first) == (
        'fc "fc1": fc needs a vector, but receives 10×32×32; '
        "add `flatten` (or a global pool) before it"
    )


# --- --traceback -------------------------------------------------------------------------------


def test_traceback_flag_reraises_for_debugging() -> None:
    result = runner.invoke(app, ["layer", "--in", "3x3x3", "--filters", "1x7", "--traceback"])
    assert isinstance(result.exception, ConvcalcError)
    assert result.stdout == ""


# --- flags generated from the kinds' options ---------------------------------------------------


def test_every_option_of_every_kind_has_a_flag() -> None:
    from convcalc.layer_command import COMPOSITE_FLAGS, flag_of, layer_flags
    from convcalc.layers import LAYER_KINDS

    kinds = list(dict.fromkeys(LAYER_KINDS.values()))
    flags = layer_flags(kinds, reserved=())
    for kind in kinds:
        for option in kind.option_names():
            flag = flag_of(option)
            assert flag in COMPOSITE_FLAGS or option in flags[flag].options, (kind, option)
            assert f"--{flag}" in ok("--help").stdout


@pytest.mark.parametrize(
    ("args", "option", "value"),
    [
        (("-t", "leakyrelu", "--negative-slope", "0.2"), "negative_slope", 0.2),
        (("-t", "elu", "--alpha", "0.5"), "alpha", 0.5),
        (("-t", "bn", "--momentum", "0.3"), "momentum", 0.3),
        (("-t", "avgpool", "--kernel", "2", "--no-count-include-pad"), "count_include_pad", False),
        (("-t", "maxpool", "--kernel", "2", "--no-ceil-mode"), "ceil_mode", False),
    ],
)
def test_options_that_had_no_flag_reach_the_layer(
    args: tuple[str, ...], option: str, value: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    from convcalc import layer_command

    built = []
    original = layer_command.build

    def build(*arguments: Any) -> Any:
        built.append(original(*arguments))
        return built[-1]

    monkeypatch.setattr(layer_command, "build", build)
    assert row("--in", "4x8x8", *args)["output"]
    assert getattr(built[0], option) == value


def test_momentum_shows_in_the_running_statistics() -> None:
    assert "μ ← 0.7·μ + 0.3·mean" in ok("--in", "4x8x8", "-t", "bn", "--momentum", "0.3").stdout


def test_in_features_is_checked_against_the_input() -> None:
    assert error("--in", "100", "-t", "fc", "--out", "3", "--in-features", "50") == (
        'fc "fc1": in_features: the layer expects 50 inputs but receives 100'
    )
    assert row("--in", "100", "-t", "fc", "--out", "3", "--in-features", "100")["params"] == 303


def test_a_flag_clash_is_an_error_when_the_flags_are_made() -> None:
    from dataclasses import dataclass

    from convcalc.layer_command import layer_flags
    from convcalc.layers.base import Layer, Outcome, Shape

    @dataclass(frozen=True, kw_only=True, repr=False)
    class Probe(Layer):
        """Takes an option whose flag is the command's own --batch."""

        batch: int = 1

        def output_of(self, shape: Shape) -> Outcome:
            return Outcome(output=shape)

    @dataclass(frozen=True, kw_only=True, repr=False)
    class Shadow(Layer):
        """Reads --bias as a number where other kinds read it as a switch."""

        bias: float = 0.0

        def output_of(self, shape: Shape) -> Outcome:
            return Outcome(output=shape)

    from convcalc.layers.conv import Conv

    with pytest.raises(TypeError, match="--batch, which convcalc layer already has"):
        layer_flags([Probe], reserved={"batch"})
    with pytest.raises(TypeError, match=r"--bias is read as a switch .* but as a number"):
        layer_flags([Conv, Shadow], reserved=())


def test_layer_options_are_listed_in_their_own_section_of_the_help() -> None:
    out = ok("--help").stdout
    own, _, generated = out.partition("Layer options")
    assert "--kernel" not in own and "--in CxHxW" in own
    assert "--count-include-pad / --no-count-include-pad" in generated
