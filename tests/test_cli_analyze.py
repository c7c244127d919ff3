"""``convcalc analyze`` and ``convcalc schema`` as a user sees them: exit codes, stdout, stderr.

Golden JSON documents of the examples live in tests/goldens/. They are compared, never written,
unless CONVCALC_UPDATE_GOLDENS=1 is set: then they are rewritten and the test fails so that the
run that changed them cannot pass silently.
"""

from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner, Result

from convcalc import zoo
from convcalc.cli import app

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
GOLDENS = Path(__file__).resolve().parent / "goldens"
UPDATE_GOLDENS = os.environ.get("CONVCALC_UPDATE_GOLDENS") == "1"

runner = CliRunner()

LAYER_KEYS = [
    "index",
    "path",
    "type",
    "input",
    "output",
    "params",
    "buffers",
    "macs",
    "rf",
    "activation_bytes",
    "warnings",
]
TOTAL_KEYS = [
    "params",
    "trainable_params",
    "buffers",
    "macs",
    "flops",
    "activation_bytes",
    "param_bytes",
    "rf",
]


def invoke(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=stdin)


def document(*args: str, stdin: str | None = None) -> dict[str, Any]:
    result = invoke("analyze", *args, "--json", stdin=stdin)
    assert result.exit_code == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_examples_analyze_cleanly(example: Path) -> None:
    result = invoke("analyze", str(example))
    assert result.exit_code == 0
    assert result.stderr == ""
    assert "total" in result.stdout


def test_json_has_the_spec_keys() -> None:
    doc = document("zoo:cs231n")
    assert list(doc) == ["name", "input", "batch", "dtype", "layers", "totals", "bn_folding"]
    assert (doc["name"], doc["input"], doc["batch"], doc["dtype"]) == (
        "cs231n-example",
        [3, 32, 32],
        1,
        "float32",
    )
    first = doc["layers"][0]
    # docs/spec.md §3: these keys, in this order, then any added views' keys.
    assert list(first)[: len(LAYER_KEYS)] == LAYER_KEYS
    assert {key: first[key] for key in LAYER_KEYS} == {
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
    assert list(doc["totals"])[: len(TOTAL_KEYS)] == TOTAL_KEYS
    assert doc["layers"][-1]["rf"]["global"] is True
    assert doc["layers"][-1]["output"] == [10]
    spec_folding_keys = ["folded", "not_folded", "params_after", "macs_after"]
    assert list(doc["bn_folding"])[:4] == spec_folding_keys
    assert doc["bn_folding"]["folded"] == [{"bn": "batchnorm1", "into": "conv1"}]


def test_format_json_equals_json_flag() -> None:
    flag = invoke("analyze", "zoo:cs231n", "--json")
    long = invoke("analyze", "zoo:cs231n", "--format", "json")
    assert flag.stdout == long.stdout


def test_table_format() -> None:
    result = invoke("analyze", str(ROOT / "examples" / "resnet-blocks.yaml"))
    assert result.exit_code == 0
    out = result.stdout
    assert "tiny-resnet — input 3×64×64, batch 8, float32" in out
    assert "stage2.residual1.body.conv1" in out
    assert "397,386" in out  # thousands separators
    assert "64×32×32" in out
    assert "MiB" in out


def test_csv_format() -> None:
    result = invoke("analyze", "zoo:cs231n", "--format", "csv")
    assert result.exit_code == 0
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [row["path"] for row in rows] == [
        "conv1",
        "batchnorm1",
        "relu1",
        "maxpool1",
        "flatten1",
        "fc1",
        "total",
    ]
    assert rows[0]["output"] == "10x32x32" and rows[0]["rf_size"] == "5x5"
    assert rows[-1]["params"] == "26390"
    assert sum(int(row["macs"]) for row in rows[:-1]) == int(rows[-1]["macs"])


def test_markdown_format() -> None:
    result = invoke("analyze", "zoo:cs231n", "--format", "markdown")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "## cs231n-example"
    assert (
        "| # | layer | type | input | output | params | MACs | RF | memory | live | peak |" in lines
    )
    assert (
        "| 0 | `conv1` | conv | 3×32×32 | 10×32×32 | 760 | 768.00 K | 5×5 | 40.0 KiB | 52.0 KiB "
        "| ███████▊ |"
    ) in lines
    assert "- **params**: 26,390 (103.1 KiB)" in lines


def test_output_file(tmp_path: Path) -> None:
    target = tmp_path / "report.json"
    result = invoke("analyze", "zoo:cs231n", "--json", "-o", str(target))
    assert result.exit_code == 0
    assert result.stdout == ""
    assert json.loads(target.read_text(encoding="utf-8"))["totals"]["params"] == 26_390
    table = tmp_path / "report.txt"
    assert invoke("analyze", "zoo:cs231n", "-o", str(table)).exit_code == 0
    assert "conv1" in table.read_text(encoding="utf-8")


def test_output_refuses_to_overwrite_its_spec(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text("input: 3\nlayers: [relu]\n", encoding="utf-8")
    result = invoke("analyze", str(spec), "-o", str(spec))
    assert result.exit_code == 1
    assert spec.read_text(encoding="utf-8") == "input: 3\nlayers: [relu]\n"


def test_overrides() -> None:
    base = document("zoo:cs231n")
    doc = document("zoo:cs231n", "--input", "3x64x64", "--batch", "4", "--dtype", "float16")
    assert (doc["input"], doc["batch"], doc["dtype"]) == ([3, 64, 64], 4, "float16")
    conv = doc["layers"][0]
    assert conv["output"] == [10, 64, 64]
    assert conv["macs"] == 4 * 4 * base["layers"][0]["macs"]  # 4× the pixels, 4 samples
    assert conv["activation_bytes"] == 10 * 64 * 64 * 4 * 2
    assert doc["layers"][-1]["params"] == (10 * 32 * 32) * 10 + 10  # fc after a 2×2 pool


def test_bad_overrides() -> None:
    result = invoke("analyze", "zoo:cs231n", "--dtype", "float7")
    # A wrong choice on the command line is usage (docs/spec.md §2).
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "Invalid value for '--dtype'" in result.stderr
    assert invoke("analyze", "zoo:cs231n", "--batch", "0").exit_code == 2


def test_stdin() -> None:
    doc = document("-", stdin="input: 3x8x8\nlayers:\n  - conv: {filters: 2, kernel: 3}\n")
    assert doc["layers"][0]["output"] == [2, 6, 6]
    result = invoke("analyze", "-", "--json", stdin="input: 3x8x8\nlayers: [fc]\n")
    assert result.exit_code == 1
    assert result.stderr == "<stdin>:2:10: layers[0] fc: missing option `out`\n"


def test_spec_errors_one_line_each_nothing_on_stdout(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text(
        "input: 3x32x32\nlayers:\n  - conv: {filters: 10, kernel: 5, strid: 2}\n  - rleu\n",
        encoding="utf-8",
    )
    for fmt in ("table", "json", "csv", "markdown"):
        result = invoke("analyze", str(spec), "--format", fmt)
        assert result.exit_code == 1
        assert result.stdout == ""
        assert result.stderr.splitlines() == [
            f"{spec}:3:36: layers[0] conv: unknown option `strid` for conv (did you mean "
            "`stride`?); it takes filters, kernel, stride, pad, dilation, groups, bias, "
            "in_channels",
            f"{spec}:4:5: layers[1]: unknown layer type `rleu` (did you mean `relu`?)",
        ]


def test_shape_error_and_strict(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text("input: 3x7x7\nlayers:\n  - conv: {filters: 4, kernel: 3, stride: 3}\n")
    loose = invoke("analyze", str(spec), "--json")
    assert loose.exit_code == 0
    assert json.loads(loose.stdout)["layers"][0]["output"] == [4, 2, 2]
    assert loose.stderr.count("warning: stride 3 does not fit") == 2
    strict = invoke("analyze", str(spec), "--strict")
    assert strict.exit_code == 1
    assert strict.stdout == ""
    assert strict.stderr.startswith(f'{spec}:3:5: layers[0] conv "conv1": stride 3 does not fit')
    spec.write_text("input: 3x8x8\nlayers:\n  - fc: {out: 2}\n")
    result = invoke("analyze", str(spec))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == (
        f'{spec}:3:5: layers[0] fc "fc1": fc needs a vector, but receives 3×8×8; '
        "add `flatten` (or a global pool) before it\n"
    )


def test_unreadable_and_unknown_sources(tmp_path: Path) -> None:
    missing = invoke("analyze", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 1
    assert (
        missing.stderr
        == f"{tmp_path / 'nope.yaml'}: cannot read the spec: No such file or directory\n"
    )
    zoo = invoke("analyze", "zoo:cs231")
    assert zoo.exit_code == 1
    assert zoo.stderr.startswith("no zoo model named 'cs231' (did you mean `cs231n`?)")
    binary = tmp_path / "net.bin"
    binary.write_bytes(b"\xff\xfe\x00\x01")
    result = invoke("analyze", str(binary))
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == f"{binary}: the spec is not UTF-8 text (byte 0)\n"


def test_missing_argument_is_usage() -> None:
    assert invoke("analyze").exit_code == 2


# --- schema ---------------------------------------------------------------------------------------


def test_schema_is_valid_and_accepts_every_example() -> None:
    jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")
    result = invoke("schema")
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    validator_class = jsonschema.Draft202012Validator
    validator_class.check_schema(schema)
    validator = validator_class(schema)
    for example in EXAMPLES:
        spec = yaml.safe_load(example.read_text(encoding="utf-8"))
        errors = [error.message for error in validator.iter_errors(spec)]
        assert errors == [], example.name
    for model in zoo.names():
        spec = yaml.safe_load(zoo.zoo_text(model))
        errors = [error.message for error in validator.iter_errors(spec)]
        assert errors == [], model
    bad = {"input": "3x8x8", "layers": [{"conv": {"filters": 2, "kernel": 3, "strid": 1}}]}
    assert not validator.is_valid(bad)
    assert not validator.is_valid({"layers": ["relu"]})


# --- goldens --------------------------------------------------------------------------------------


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda path: path.stem)
def test_golden_json(example: Path) -> None:
    result = invoke("analyze", str(example), "--json")
    assert result.exit_code == 0
    actual = json.loads(result.stdout)
    # The document names the spec by what it says, not where it was read from.
    golden = GOLDENS / f"{example.stem}.json"
    if UPDATE_GOLDENS:
        golden.write_text(result.stdout, encoding="utf-8")
        pytest.fail(f"rewrote {golden.name}; run again without CONVCALC_UPDATE_GOLDENS")
    assert golden.exists(), f"no golden {golden.name}: run with CONVCALC_UPDATE_GOLDENS=1"
    assert actual == json.loads(golden.read_text(encoding="utf-8"))
    # The totals invariant holds in every golden: rows sum to the totals.
    totals = actual["totals"]
    for key in ("params", "buffers", "macs", "activation_bytes"):
        assert totals[key] == sum(layer[key] for layer in actual["layers"]), key


def test_long_tables_are_laid_out_like_short_ones() -> None:
    """Thousands of rows get the same table as a handful: header, rules, rows, footer."""
    rows = 1200
    layers = "\n".join("  - relu" for _ in range(rows - 1))
    result = invoke(
        "analyze",
        "-",
        stdin=f"input: 2x4x4\nlayers:\n  - conv: {{filters: 2, kernel: 1}}\n{layers}\n",
    )
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    header = [cell.strip() for cell in lines[1].split("┃")]
    assert header[:6] == ["#", "layer", "type", "input", "output", "params"]
    assert set(lines[2]) == {"━", "╇"}
    first = [cell.strip() for cell in lines[3].split("│")]
    assert first[:5] == ["0", "conv1", "conv", "2×4×4", "2×4×4"]
    assert lines[3 + rows - 1].split("│")[1].strip() == f"relu{rows - 1}"
    assert set(lines[3 + rows]) == {"─", "┼"}
    footer = [cell.strip() for cell in lines[4 + rows].split("│")]
    assert footer[1:6] == ["total", "", "", "2×4×4", "6"]
    # The columns line up from the header to the footer.
    crossings = [index for index, char in enumerate(lines[2]) if char == "╇"]
    for line in lines[1 : 5 + rows]:
        assert [index for index, char in enumerate(line) if char in "┃╇│┼"] == crossings


def test_names_with_control_characters_stay_on_one_line() -> None:
    result = invoke(
        "analyze",
        "-",
        stdin='name: "net\\tone"\ninput: 2x4x4\nlayers:\n'
        '  - conv: {filters: 2, kernel: 1}\n    name: "a\\nb\\e[31m"\n',
    )
    assert result.exit_code == 0, result.stderr
    assert "\x1b" not in result.stdout
    assert result.stdout.startswith("net\\tone — input 2×4×4")
    assert "│ a\\nb\\x1b[31m │ conv" in result.stdout


def test_columns_are_chosen_by_their_names_or_their_headers() -> None:
    by_header = runner.invoke(app, ["analyze", "zoo:lenet5", "--columns", "#,Layer,MACs,rf"])
    by_name = runner.invoke(app, ["analyze", "zoo:lenet5", "--columns", "index,layer,macs,RF"])
    assert by_header.exit_code == by_name.exit_code == 0, by_header.stderr
    assert by_header.stdout == by_name.stdout
    assert "  # ┃ layer    ┃     MACs ┃     RF\n" in by_header.stdout
    jacobian = ["analyze", "zoo:lenet5", "--jacobian", "--format", "csv", "--columns"]
    result = runner.invoke(app, [*jacobian, "layer,non-zeros"])
    assert result.stdout.startswith("path,jacobian_nonzeros,warnings\nc1,117600,\n")
