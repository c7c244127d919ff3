"""What a newcomer runs into: hints that name the right form, usage errors for options that
conflict or do nothing, every problem of a spec at once, formats that agree."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from convcalc.cli import app

ROOT = Path(__file__).resolve().parent.parent
runner = CliRunner()


def invoke(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=stdin)


def spec_file(tmp_path: Path, text: str) -> str:
    path = tmp_path / "net.yaml"
    path.write_text(text, encoding="utf-8")
    return str(path)


# --- hints that name the right form ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "flag"),
    [(("analyze", "zoo:cs231n", "--in"), "--input"), (("layer", "--type", "relu", "--in"), "--in")],
)
def test_a_shape_with_commas_names_the_x_form(args: tuple[str, ...], flag: str) -> None:
    result = invoke(*args, "3,32,32")
    assert (result.exit_code, result.stdout) == (2, "")
    assert result.stderr == f"{flag}: '3,32,32': sizes are separated by x, as in 3x32x32\n"


def test_a_missing_file_named_like_a_zoo_model_suggests_it(tmp_path: Path) -> None:
    result = invoke("analyze", "resnet50")
    assert result.exit_code == 1
    assert result.stderr == (
        "resnet50: cannot read the spec: No such file or directory (did you mean "
        "`zoo:resnet50`, the built-in model?)\n"
    )
    # A path elsewhere is the user's own file: no guess.
    other = invoke("analyze", str(tmp_path / "resnet50.yaml"))
    assert "zoo:" not in other.stderr


def test_options_level_with_their_type_are_told_to_indent(tmp_path: Path) -> None:
    path = spec_file(tmp_path, "input: 3x8x8\nlayers:\n  - conv:\n    filters: 8\n    kernel: 3\n")
    result = invoke("analyze", path)
    assert result.stderr == (
        f"{path}:3:5: layers[0]: a layer mapping needs one type key (or `type:`), found `conv`, "
        "`filters`, `kernel`; indent `filters`, `kernel` under `conv:` (two more spaces) to make "
        "them its options\n"
    )


def test_a_tab_is_named(tmp_path: Path) -> None:
    path = spec_file(tmp_path, "input: 3x8x8\nlayers:\n\t- relu\n")
    assert invoke("analyze", path).stderr == (
        f"{path}:3:1: YAML syntax error: found character that cannot start any token (a tab: "
        "YAML indents with spaces only)\n"
    )


def test_an_unclosed_brace_is_named_where_it_was_opened(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path, "input: 3x8x8\nlayers:\n  - conv: {filters: 8, kernel: 3\n  - relu\n  - relu\n"
    )
    assert invoke("analyze", path).stderr == (
        f"{path}:6:1: YAML syntax error: did not find expected ',' or '}}' (the `{{` opened at "
        "3:11 is not closed)\n"
    )


def test_a_table_piped_into_in_suggests_json() -> None:
    table = invoke("layer", "--in", "3x32x32", "--filters", "8x3").stdout
    result = invoke("layer", "--in", "-", "--type", "relu", stdin=table)
    assert result.exit_code == 1
    assert result.stderr.endswith(
        "; this looks like a table: give the command before the pipe --json\n"
    )


# --- channels-last, --in / --input, kernel: 3x3 ---------------------------------------------------


def test_a_channels_last_input_is_warned_about(tmp_path: Path) -> None:
    path = spec_file(tmp_path, "input: 32x32x3\nlayers: [relu]\n")
    warning = (
        "warning: input 32×32×3 looks channels-last (H×W×C): convcalc reads C×H×W, 32 channels "
        "of 32×3; for 3 channels of 32×32 write 3x32x32\n"
    )
    spec = invoke("analyze", path, "--json")
    assert (spec.exit_code, spec.stderr) == (0, f"{path}: {warning}")
    assert invoke("analyze", "zoo:cs231n", "--in", "64x64x1", "--json").stderr.startswith(
        "--input: warning: input 64×64×1 looks channels-last"
    )
    assert invoke("layer", "--input", "32x32x3", "--type", "relu").stderr == f"--in: {warning}"
    # Channels first, or a small image, is not.
    assert invoke("analyze", "zoo:cs231n", "--json").stderr == ""
    assert invoke("layer", "--in", "4x4x3", "--type", "relu").stderr == ""


def test_in_and_input_are_both_accepted_by_both_commands() -> None:
    long = invoke("analyze", "zoo:cs231n", "--input", "3x64x64", "--json").stdout
    assert invoke("analyze", "zoo:cs231n", "--in", "3x64x64", "--json").stdout == long
    short = invoke("layer", "--in", "3x8x8", "--type", "relu", "--json").stdout
    assert invoke("layer", "--input", "3x8x8", "--type", "relu", "--json").stdout == short


def test_kernel_3x3_is_accepted_in_specs() -> None:
    written = "input: 3x8x8\nlayers:\n  - conv: {filters: 2, kernel: 3x3, stride: 1 x 2}\n"
    listed = "input: 3x8x8\nlayers:\n  - conv: {filters: 2, kernel: [3, 3], stride: [1, 2]}\n"
    first = invoke("analyze", "-", "--json", stdin=written)
    assert first.exit_code == 0, first.stderr
    assert first.stdout == invoke("analyze", "-", "--json", stdin=listed).stdout
    # Only where a pair is an option's value: groups takes one number.
    wrong = invoke(
        "analyze",
        "-",
        stdin="input: 4x8x8\nlayers:\n  - conv: {filters: 4, kernel: 1, groups: 2x2}\n",
    )
    assert "groups: expected a whole number or depthwise, got '2x2'" in wrong.stderr


def test_the_schema_accepts_3x3_where_a_pair_goes() -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")
    validator = jsonschema.Draft202012Validator(json.loads(invoke("schema").stdout))
    layer = {"conv": {"filters": 2, "kernel": "3x3", "stride": "1 x 2"}}
    assert validator.is_valid({"input": "3x8x8", "layers": [layer]})
    grouped = {"conv": {"filters": 2, "kernel": 1, "groups": "2x2"}}
    assert not validator.is_valid({"input": "4x8x8", "layers": [grouped]})


# --- usage errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ("--optimizer", "adam"),
            "Invalid value for '--optimizer': --optimizer only matters with --train",
        ),
        (
            ("--json", "--format", "csv"),
            "Invalid value for '--json' / '--format': --json asks for JSON, --format for csv",
        ),
        (("--wide", "--format", "csv"), "--wide widens a table at a terminal; --format csv"),
        (("--memory", "16"), "--memory: 16 needs a unit: 16GiB, 16GB or 16B (bytes)"),
        (("--input", "3xAx3"), "--input: 'A' in '3xAx3' is not a whole number"),
        (
            ("--format", "yaml"),
            "'yaml' is not one of 'table', 'json', 'csv', 'markdown', 'tree'.",
        ),
        (("--json", "--depth", "2"), "--depth shapes tables, CSV and Markdown"),
        (("--json", "--columns", "all"), "--columns shapes tables, CSV and Markdown"),
    ],
)
def test_conflicting_idle_and_bad_options_are_usage_errors(
    args: tuple[str, ...], message: str
) -> None:
    result = invoke("analyze", "zoo:cs231n", *args)
    assert (result.exit_code, result.stdout) == (2, "")
    assert message in result.stderr
    assert "Value error" not in result.stderr


def test_options_that_agree_are_fine() -> None:
    assert invoke("analyze", "zoo:cs231n", "--json", "--format", "json").exit_code == 0
    assert invoke("analyze", "zoo:cs231n", "--memory", "1GiB", "--optimizer", "adam").exit_code == 0


@pytest.mark.parametrize(
    "usage",
    [
        "analyze [OPTIONS] SPEC",
        "solve [OPTIONS] [SPEC]",
        "zoo [OPTIONS] [NAME]",
        "diff [OPTIONS] A B",
        "sweep [OPTIONS] SPEC",
        "draw [OPTIONS] SPEC",
        "report [OPTIONS] SPEC",
        "export [OPTIONS] SPEC",
        "import [OPTIONS] MODEL",
    ],
)
def test_the_usage_line_names_the_arguments_plainly(usage: str) -> None:
    result = invoke(usage.split()[0], "--help")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[0].endswith(f" {usage}")


def test_version() -> None:
    from importlib.metadata import version

    result = invoke("--version")
    assert (result.exit_code, result.stdout) == (0, f"convcalc {version('convcalc')}\n")


def test_zoo_writes_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "resnet18.yaml"
    assert invoke("zoo", "resnet18", "-o", str(target)).stdout == ""
    assert target.read_text(encoding="utf-8") == invoke("zoo", "resnet18").stdout
    listing = tmp_path / "zoo.csv"
    assert invoke("zoo", "--format", "csv", "-o", str(listing)).exit_code == 0
    assert listing.read_text(encoding="utf-8").startswith("family,name,input,params,macs,note\n")


# --- formats that agree ---------------------------------------------------------------------------


def test_csv_writes_every_per_axis_value_as_hxw() -> None:
    rows = list(csv.DictReader(io.StringIO(invoke("analyze", "zoo:cs231n", "-f", "csv").stdout)))
    pool = rows[3]
    assert (pool["rf_size"], pool["rf_jump"], pool["rf_start"]) == ("6x6", "2x2", "0.5x0.5")


def test_markdown_and_csv_carry_the_table_s_columns() -> None:
    table = invoke("analyze", "zoo:cs231n").stdout
    headers = [cell.strip() for cell in table.splitlines()[1].split("┃")]
    markdown = invoke("analyze", "zoo:cs231n", "-f", "markdown").stdout
    assert f"| {' | '.join(headers)} |" in markdown.splitlines()
    fields = invoke("analyze", "zoo:cs231n", "-f", "csv").stdout.splitlines()[0].split(",")
    # CSV names each column's fields for machines: the receptive field's size, jump, start.
    for field in ("index", "path", "type", "input", "output", "params", "macs", "rf_size"):
        assert field in fields
    assert {"activation_bytes", "live_bytes"} <= set(fields)


def test_depth_reaches_csv_with_totals() -> None:
    records = list(
        csv.DictReader(
            io.StringIO(invoke("analyze", "zoo:resnet50", "-f", "csv", "--depth", "1").stdout)
        )
    )
    layer1 = next(record for record in records if record["path"] == "layer1")
    document = json.loads(invoke("analyze", "zoo:resnet50", "--json").stdout)
    inside = [layer for layer in document["layers"] if layer["path"].startswith("layer1.")]
    assert int(layer1["params"]) == sum(layer["params"] for layer in inside)
    assert int(layer1["macs"]) == sum(layer["macs"] for layer in inside)
    assert layer1["index"] == "" and layer1["output"] == "x".join(map(str, inside[-1]["output"]))
    assert sum(int(record["params"]) for record in records[:-1]) == int(records[-1]["params"])


# --- every problem at once ------------------------------------------------------------------------


def test_spec_and_shape_errors_come_together() -> None:
    path = ROOT / "examples" / "errors" / "mistakes.yaml"
    result = invoke("analyze", str(path))
    assert result.exit_code == 1
    assert [line.split(": ", 1)[1] for line in result.stderr.splitlines()] == [
        "layers[0] conv: unknown option `strid` for conv (did you mean `stride`?); it takes "
        "filters, kernel, stride, pad, dilation, groups, bias, in_channels",
        "layers[1]: unknown layer type `rleu` (did you mean `relu`?)",
        'layers[2] maxpool "maxpool1": pad: 3 on the height is more than half the kernel (2); '
        "PyTorch refuses that",
    ]


def test_a_failed_layer_poisons_only_what_depends_on_it(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        "input: 3x8x8\nlayers:\n"
        "  - concat:\n"
        "      branches:\n"
        "        - - conv: {filters: 4, kernel: 9}\n"  # too large: fails
        "          - conv: {filters: 4, kernel: 3}\n"  # reads the failed one: not checked
        "        - - fc: {out: 3}\n"  # independent of the failure: its own error
        "  - conv: {filters: 4, kernel: 3}\n",  # after the concat: unknown input
    )
    result = invoke("analyze", path)
    assert result.exit_code == 1
    lines = result.stderr.splitlines()
    assert len(lines) == 2, lines
    assert lines[0].startswith(f"{path}:5:13: ") and "kernel" in lines[0]
    assert lines[1].startswith(f"{path}:7:13: ") and "fc needs a vector" in lines[1]


def test_strict_reports_every_warning() -> None:
    spec = "input: 3x8x8\nlayers:\n  - conv: {filters: 4, kernel: 3, stride: 2}\n  - relu\n"
    spec += "  - conv: {filters: 4, kernel: 2, stride: 2}\n"
    result = invoke("analyze", "-", "--strict", stdin=spec)
    assert result.exit_code == 1
    assert [line.endswith("(--strict)") for line in result.stderr.splitlines()] == [True, True]


def test_a_narrow_table_keeps_its_title_on_one_line() -> None:
    result = invoke("analyze", "zoo:cs231n", "--columns", "layer,output")
    assert result.exit_code == 0
    assert result.stdout.splitlines()[:3] == [
        "cs231n-example — input 3×32×32, batch 1, float32",
        " layer      ┃ output",
        "━━━━━━━━━━━━╇━━━━━━━━━━",
    ]


def problems(path: str) -> list[str]:
    """The lines ``analyze`` prints on stderr for the spec at ``path``, a wrong one."""
    result = invoke("analyze", path)
    assert result.exit_code == 1
    return result.stderr.splitlines()


def test_every_unknown_tensor_name_is_reported_at_once(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        "input: 3x8x8\nlayers:\n"
        "  - {conv: {filters: 4, kernel: 3, pad: 1}, name: a}\n"
        "  - {conv: {filters: 4, kernel: 3, pad: 1}, from: nope1}\n"
        "  - {conv: {filters: 4, kernel: 3, pad: 1}, from: nope2}\n"
        "  - {conv: {filters: 0, kernel: 3}}\n"  # after an unknown input: its own option error
        "  - add: {from: [a, nope3]}\n"
        "outputs: [a, nope4]\n",
    )
    # The spec's own problems first, then those the analysis finds.
    assert problems(path) == [
        f"{path}:6:22: layers[3] conv: filters: must be ≥ 1, got 0",
        f"{path}:4:5: layers[1] conv: from: no tensor named `nope1` here; in scope: input, a",
        f"{path}:5:5: layers[2] conv: from: no tensor named `nope2` here; in scope: input, "
        "conv2, a",
        f"{path}:7:5: layers[4] add: from: no tensor named `nope3` here; in scope: input, conv3, "
        "conv2, a",
        f"{path}:8:14: outputs[1]: no tensor named `nope4` here; in scope: input, add1, conv3, "
        "conv2, a",
    ]


def test_every_bad_name_is_reported_at_once(tmp_path: Path) -> None:
    path = spec_file(
        tmp_path,
        "input: 3x8x8\nlayers:\n"
        "  - {relu: {}, name: x.y}\n"
        "  - {relu: {}, name: 12}\n"
        "  - {relu: {}, name: ''}\n"
        "  - {relu: {}, name: a}\n"
        "  - {relu: {}, name: a}\n",
    )
    assert problems(path) == [
        f"{path}:3:22: layers[0]: name: expected a name without dots, got 'x.y'",
        f"{path}:4:22: layers[1]: name: expected a name (text), got 12",
        f"{path}:5:22: layers[2]: name: expected a name (text), got ''",
        f"{path}:7:5: layers[4]: name: `a` is already the name of layers[3] in this list; each "
        "name may be given once",
    ]


def test_a_block_written_as_a_layer_type_says_how_to_use_it() -> None:
    spec = (
        "input: 3x8x8\n"
        "blocks:\n"
        "  unit:\n"
        "    params: {stride: 1}\n"
        "    layers: [conv: {filters: 4, kernel: 3, pad: 1, stride: $stride}]\n"
        "layers:\n"
        "  - unit: {stride: 2}\n"
    )
    result = invoke("analyze", "-", stdin=spec)
    assert result.exit_code == 1
    assert result.stderr == (
        "<stdin>:7:5: layers[0]: `unit` is a block, not a layer type: write `- use: unit` (its "
        "parameters under `with:`)\n"
    )
