"""``solve``, ``diff``, ``sweep`` and ``--set`` as a user sees them: exit codes, stdout, stderr."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner, Result

from convcalc.cli import app
from tests.test_solve import UNET_LIKE

runner = CliRunner()

FAMILY = """\
name: family
input: 3x32x32
params: {width: 16}
layers:
  - conv: {filters: $width, kernel: 3, pad: 1}
  - relu
  - maxpool: {kernel: 2}
  - conv: {filters: 8, kernel: 3, stride: 2, pad: 1}
  - globalavgpool
  - flatten
  - fc: {out: 10}
"""


def invoke(*args: str, stdin: str | None = None) -> Result:
    return runner.invoke(app, list(args), input=stdin)


def as_json(*args: str, stdin: str | None = None) -> Any:
    result = invoke(*args, "--json", stdin=stdin)
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


@pytest.fixture
def family(tmp_path: Path) -> str:
    path = tmp_path / "family.yaml"
    path.write_text(FAMILY)
    return str(path)


# --- --set on analyze -----------------------------------------------------------------------


def test_analyze_with_settings(family: str) -> None:
    document = as_json("analyze", family, "--set", "width=32", "--set", "layers[3].stride=1")
    assert document["layers"][0]["output"] == [32, 32, 32]
    assert document["layers"][3]["output"] == [8, 16, 16]


def test_analyze_with_an_unknown_path_is_a_usage_error(family: str) -> None:
    result = invoke("analyze", family, "--set", "layers[3].strde=1")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == (
        "--set layers[3].strde: layers[3] (conv) has no option `strde` (did you mean "
        "`stride`?); it takes filters, kernel, stride, pad, dilation, groups, bias, in_channels, "
        "name\n"
    )


# --- --set on every command that reads a spec --------------------------------------------------

UNKNOWN_PATH = (
    "--set widht: the spec has no `widht` (did you mean `width`?); at the top level: name, "
    "input, batch, dtype, layers, blocks, outputs, width, conv1, relu1, maxpool1, conv2, "
    "globalavgpool1, flatten1, fc1\n"
)

READERS = {
    "analyze": ["SPEC"],
    "draw": ["SPEC", "--format", "dot"],
    "report": ["SPEC"],
    "export": ["SPEC"],
    "diff": ["zoo:lenet5", "SPEC"],
    "solve": ["SPEC", "--sizes", "32"],
    "sweep": ["SPEC"],
}
"""Every command that reads a spec, with what it needs besides it (SPEC stands for it)."""


def refused_setting(command: str, spec: str, setting: str) -> str:
    """What ``command`` on ``spec`` with ``--set setting`` prints, a usage error."""
    args = [spec if arg == "SPEC" else arg for arg in READERS[command]]
    result = invoke(command, *args, "--set", setting)
    assert result.exit_code == 2
    assert result.stdout == ""
    return result.stderr


@pytest.mark.parametrize("command", READERS)
def test_an_unknown_path_is_a_usage_error_on_every_command(command: str, family: str) -> None:
    assert refused_setting(command, family, "widht=3") == UNKNOWN_PATH


@pytest.mark.parametrize("command", READERS)
def test_a_path_that_does_not_parse_is_pointed_at(command: str, family: str) -> None:
    assert refused_setting(command, family, "layers[3]stride=1") == (
        "--set layers[3]stride=1: cannot read the path at `stride`\n"
        "  layers[3]stride=1\n"
        "           ^\n"
    )


def test_draw_draws_the_set_network(family: str) -> None:
    plain = invoke("draw", family, "--format", "dot")
    wider = invoke("draw", family, "--format", "dot", "--set", "width=32", "--set", "batch=2")
    assert plain.exit_code == wider.exit_code == 0
    assert 'tooltip="conv1\\n448 params, 442.37 K MACs"' in plain.stdout
    assert 'tooltip="conv1\\n896 params, 1.77 M MACs"' in wider.stdout
    assert "conv1 → 32×32×32" in wider.stdout


def test_report_reports_the_set_network(family: str, tmp_path: Path) -> None:
    page = tmp_path / "page.html"
    result = invoke("report", family, "-o", str(page), "--set", "fc1.out=7")
    assert result.exit_code == 0, result.stderr
    text = page.read_text()
    # 448 + 1,160 + (8·7 + 7) params instead of 448 + 1,160 + (8·10 + 10)
    assert "<dt>params</dt><dd>1,671</dd>" in text
    assert "fc1 → 7</text>" in text
    assert "<dt>params</dt><dd>1,698</dd>" in invoke("report", family).stdout


def test_export_writes_the_set_network(family: str) -> None:
    result = invoke("export", family, "--set", "layers[3].filters=12", "--set", "input=3x64x64")
    assert result.exit_code == 0, result.stderr
    assert "            nn.Conv2d(width, 12, 3, stride=2, padding=1),  # 12×16×16\n" in (
        result.stdout
    )
    assert "nn.Linear(12, 10),  # 10\n" in result.stdout
    assert "Input 3×64×64, batch 1:" in result.stdout


@pytest.mark.parametrize(
    ("setting", "problem"),
    [
        ("layers[3].kernel=0", "layers[3] conv: kernel: must be ≥ 1, got 0"),
        ("input=3x32", "input: expected C×H×W (an image) or D (a vector), got 2 sizes in '3x32'"),
        ("layers[1]=relux", "layers[1]: unknown layer type `relux` (did you mean `relu`?)"),
    ],
)
def test_a_set_value_is_located_at_the_setting(family: str, setting: str, problem: str) -> None:
    result = invoke("draw", family, "--set", setting)
    assert result.exit_code == 1
    assert result.stderr == f"--set {setting}: {problem}\n"


# --- solve ------------------------------------------------------------------------------------


def test_solve_one_layer() -> None:
    result = invoke("solve", "--in", "32", "--out", "16", "--dilation", "1", "--kernel", "3")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == (
        "conv height and width: 32 → 16: 1 settings\n"
        "kernel  stride  pad  dilation  input read\n"
        "------  ------  ---  --------  ----------\n"
        "     3       2    1         1  all\n"
    )


def test_solve_lists_the_classic_answers() -> None:
    document = as_json("solve", "--in", "32", "--out", "16")
    found = [
        (s["kernel"], s["stride"], s["pad"], s["dilation"])
        for s in document["axes"][0]["solutions"]
    ]
    assert (2, 2, 0, 1) in found
    assert (3, 2, 1, 1) in found


def test_solve_hides_dropping_settings_unless_asked() -> None:
    hidden = invoke("solve", "--in", "33", "--out", "16", "--kernel", "2", "--dilation", "1")
    assert hidden.stdout == (
        "conv height and width: 33 → 16: 0 settings (1 that leave input rows unread hidden; "
        "--allow-drop shows them)\n"
        "kernel  stride  pad  dilation  input read\n"
        "------  ------  ---  --------  ----------\n"
        "\n"
        "no conv within the bounds takes 33 to 16\n"
    )
    shown = invoke(
        "solve", "--in", "33", "--out", "16", "--kernel", "2", "--dilation", "1", "--allow-drop"
    )
    assert shown.stdout.splitlines()[-1] == "     2       2    0         1  drops 1"


def test_solve_per_axis() -> None:
    document = as_json(
        "solve", "--in", "32x24", "--out", "16x24", "--type", "maxpool", "--dilation", "1"
    )
    assert [axis["axis"] for axis in document["axes"]] == ["height", "width"]
    # Keeping 24: stride 1 and "same" padding, which pools allow up to half the kernel.
    assert [(s["kernel"], s["pad"]) for s in document["axes"][1]["solutions"]] == [
        (1, 0),
        (3, 1),
        (5, 2),
        (7, 3),
        (9, 4),
        (11, 5),
    ]


def test_solve_a_network(tmp_path: Path) -> None:
    spec = tmp_path / "unet.yaml"
    spec.write_text(UNET_LIKE)
    result = invoke("solve", str(spec), "--sizes", "568..574")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "unet-like: 1 of 7 input sizes accepted",
        "input size  output / first failing layer",
    ]
    assert lines[3:] == [
        f"{size}×{size}     fails at {where}: stride 2 does not fit the height: ({rows} + 0 − 2) "
        "is not a multiple of 2, so the last 1 input row is never read (--strict)"
        if where
        else "572×572     2×388×388"
        for size, where, rows in [
            (568, 'layers[5] maxpool "maxpool3"', 135),
            (569, 'layers[1] maxpool "maxpool1"', 565),
            (570, 'layers[3] maxpool "maxpool2"', 279),
            (571, 'layers[1] maxpool "maxpool1"', 567),
            (572, "", 0),
            (573, 'layers[1] maxpool "maxpool1"', 569),
            (574, 'layers[3] maxpool "maxpool2"', 281),
        ]
    ]


def test_solve_the_unet_example() -> None:
    result = invoke("solve", "examples/unet.yaml", "--sizes", "500..600")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    # Its skips are cropped to fixed sizes (56, 104, 200, 392): only 572 meets them all.
    assert lines[0] == "unet: 1 of 101 input sizes accepted"
    assert [line for line in lines if not line.startswith(("5", "6"))][1:] == [
        "input size  output / first failing layer",
        "-" * 10 + "  " + "-" * 159,
    ]
    by_size = {line.split()[0]: line for line in lines[3:]}
    assert len(by_size) == 101
    assert by_size["572×572"] == "572×572     2×388×388"
    assert by_size["571×571"] == (
        '571×571     fails at layers[1] maxpool "maxpool1": stride 2 does not fit the height: '
        "(567 + 0 − 2) is not a multiple of 2, so the last 1 input row is never read (--strict)"
    )
    assert by_size["556×556"] == (
        '556×556     fails at blocks.up.layers[2] concat "dec4.concat1": concat: the inputs\' '
        "H×W differ (512×56×56, 512×54×54)"
    )
    assert by_size["500×500"].startswith('500×500     fails at layers[7] maxpool "maxpool4"')


def test_solve_lists_every_output_of_a_network() -> None:
    result = invoke("solve", "examples/fpn.yaml", "--sizes", "252..257")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines()[:4] == [
        "small-fpn: 4 of 6 input sizes accepted",
        "input size  output / first failing layer",
        "-" * 10 + "  " + "-" * 127,
        '252×252     fails at layers[9] add "p3": add: the inputs\' shapes 64×63×63, 64×64×64 do '
        "not broadcast (each axis must have equal sizes or 1)",
    ]
    assert result.stdout.splitlines()[4:8] == [
        f"{size}×{size}     18×64×64, 18×32×32" for size in range(253, 257)
    ]
    document = as_json("sweep", "examples/fpn.yaml", "--set", "c2.filters=16,32")
    assert [variant["outputs"] for variant in document["variants"]] == [
        [[18, 64, 64], [18, 32, 32]]
    ] * 2


def test_solve_a_network_groups_failures_at_one_layer(tmp_path: Path) -> None:
    spec = tmp_path / "unet.yaml"
    spec.write_text(UNET_LIKE)
    lines = invoke("solve", str(spec), "--sizes", "573..575:2").stdout.splitlines()
    assert lines[3] == (
        '573×573 … 575×575 (2 sizes)  fails at layers[1] maxpool "maxpool1" (at 573×573: stride 2 '
        "does not fit the height: (569 + 0 − 2) is not a multiple of 2, so the last 1 input row "
        "is never read (--strict))"
    )


def test_solve_a_network_with_rectangles_and_settings(tmp_path: Path) -> None:
    spec = tmp_path / "unet.yaml"
    spec.write_text(UNET_LIKE)
    document = as_json("solve", str(spec), "--sizes", "572x556..588:16", "--set", "batch=2")
    assert document["accepted"] == [
        {"size": [572, 556], "accepted": True, "outputs": [[2, 388, 372]]},
        {"size": [572, 572], "accepted": True, "outputs": [[2, 388, 388]]},
        {"size": [572, 588], "accepted": True, "outputs": [[2, 388, 404]]},
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--in", "32"], "give --in and --out (one layer), or a SPEC and --sizes"),
        (["--in", "3x", "--out", "1"], "--in: expected a size N or HxW, got `3x`"),
        (["--in", "0", "--out", "1"], "--in: sizes must be ≥ 1, got `0`"),
        (
            ["--in", "8", "--out", "4", "--type", "pool"],
            "--type: expected one of conv, deconv, maxpool, avgpool, got 'pool'",
        ),
        (["zoo:lenet5"], "SPEC: give the input sizes to try, e.g. --sizes 256..1024"),
        (
            ["zoo:lenet5", "--sizes", "64..32"],
            "--sizes: the range `64..32` is empty (64 > 32)",
        ),
        (
            ["zoo:lenet5", "--sizes", "32..64:0"],
            "--sizes: `32..64:0` has step 0; the step must be ≥ 1",
        ),
        (
            ["zoo:lenet5", "--sizes", "a..b"],
            "--sizes: cannot read the range `a..b`; write A..B, A..B:STEP or A..B:*F",
        ),
        (
            ["zoo:lenet5", "--sizes", "32", "--in", "3"],
            "--in/--out solve one layer; with SPEC, give --sizes",
        ),
        (["--in", "8", "--out", "4", "--sizes", "3"], "--sizes and --set need a SPEC"),
        (["zoo:lenet5", "--sizes", ""], "--sizes: `` is not a size or a range A..B[:STEP]"),
        (
            ["zoo:lenet5", "--sizes", "32", "--set", "input=400"],
            "--sizes: the network's input is a vector, not an image",
        ),
    ],
)
def test_solve_bad_usage(args: list[str], message: str) -> None:
    result = invoke("solve", *args)
    assert result.exit_code == 2
    assert result.stderr == message + "\n"


# --- diff -------------------------------------------------------------------------------------


def test_diff_resnet18_resnet34_shows_the_added_blocks_as_insertions() -> None:
    document = as_json("diff", "zoo:resnet18", "zoo:resnet34")
    inserted = [row["b"]["path"] for row in document["rows"] if row["change"] == "inserted"]
    deleted = [row for row in document["rows"] if row["change"] == "deleted"]
    # ResNet-34 has 3, 4, 6, 3 basic blocks where ResNet-18 has 2 in each stage: 8 more, of
    # 7 rows each (conv, bn, relu, conv, bn, add, relu).
    assert len(inserted) == 8 * 7
    assert deleted == []
    blocks = sorted({path.split(".residual1")[0].rsplit(".relu1", 1)[0] for path in inserted})
    assert blocks == [
        "layer1.repeat1.basic2",
        "layer2.repeat1.basic2",
        "layer2.repeat1.basic3",
        "layer3.repeat1.basic2",
        "layer3.repeat1.basic3",
        "layer3.repeat1.basic4",
        "layer3.repeat1.basic5",
        "layer4.repeat1.basic2",
    ]
    params = document["totals"]["params"]
    assert (params["a"], params["b"], params["delta"]) == (11_689_512, 21_797_672, 10_108_160)
    assert params["percent"] == round(100 * 10_108_160 / 11_689_512, 4)


def test_diff_of_a_setting(family: str) -> None:
    result = invoke("diff", family, family, "--set", "width=32")
    assert result.exit_code == 0, result.stderr
    widths = "-  --------  -------  -------------------  -------------  -------------------  ---  "
    assert result.stdout.splitlines()[:7] == [
        f"{family} → {family}: 4 changed, 0 inserted, 0 deleted, 3 unchanged rows",
        "   layer     type     output                      params                 MACs   RF  "
        "              memory",
        widths + "--------------------",
        "~  conv1     conv     16×32×32 → 32×32×32      448 → 896  442.37 K → 884.74 K  3×3  "
        "64.0 KiB → 128.0 KiB",
        "~  relu1     relu     16×32×32 → 32×32×32              0                    0  3×3  "
        "64.0 KiB → 128.0 KiB",
        "~  maxpool1  maxpool  16×16×16 → 32×16×16              0                    0  4×4  "
        " 16.0 KiB → 32.0 KiB",
        "~  conv2     conv     8×8×8                1,160 → 2,312   73.73 K → 147.46 K  8×8  "
        "             2.0 KiB",
    ]
    assert "params                     1,698      3,298      +1,600   +94.2%" in result.stdout
    assert "buffers                        0          0           0\n" in result.stdout


def test_diff_exit_code(family: str) -> None:
    assert invoke("diff", family, family, "--exit-code").exit_code == 0
    assert invoke("diff", family, family, "--set", "width=8", "--exit-code").exit_code == 1
    assert invoke("diff", family, family, "--set", "width=8").exit_code == 0
    same = invoke("diff", family, family)
    assert same.stdout.endswith("\nA and B are the same network\n")


def test_diff_inserted_layer_is_one_insertion(tmp_path: Path) -> None:
    a = tmp_path / "a.yaml"
    b = tmp_path / "b.yaml"
    a.write_text("input: 3x8x8\nlayers: [{conv: {filters: 4, kernel: 3, pad: 1}}, relu, flatten]\n")
    b.write_text(
        "input: 3x8x8\nlayers: [{conv: {filters: 4, kernel: 3, pad: 1}}, bn, relu, flatten]\n"
    )
    document = as_json("diff", str(a), str(b))
    assert [row["change"] for row in document["rows"]] == ["same", "inserted", "same", "same"]


def test_diff_csv_has_plain_numbers(family: str) -> None:
    result = invoke("diff", family, family, "--set", "width=32", "--format", "csv")
    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[:2] == [
        "change,path_a,path_b,type_a,type_b,output_a,output_b,params_a,params_b,macs_a,macs_b,"
        "rf_a,rf_b,memory_a,memory_b,value_a,value_b",
        "changed,conv1,conv1,conv,conv,16x32x32,32x32x32,448,896,442368,884736,3x3,3x3,65536,"
        "131072,,",
    ]
    assert "total,params,,,,,,,,,,,,,,1698,3298" in lines


def test_diff_markdown(family: str) -> None:
    result = invoke("diff", family, family, "--set", "width=32", "--format", "markdown")
    assert result.exit_code == 0
    assert result.stdout.startswith(f"**{family} → {family}: 4 changed")
    assert "| ~ | conv1 | conv | 16×32×32 → 32×32×32 | 448 → 896 |" in result.stdout
    assert "| params | 1,698 | 3,298 | +1,600 | +94.2% |" in result.stdout


def test_diff_of_a_missing_file_is_a_spec_error(tmp_path: Path) -> None:
    result = invoke("diff", str(tmp_path / "none.yaml"), "zoo:lenet5")
    assert result.exit_code == 1
    assert "cannot read the spec" in result.stderr


# --- sweep ------------------------------------------------------------------------------------


def test_sweep_grid_with_pareto_and_invalid_variants(family: str) -> None:
    result = invoke("sweep", family, "--set", "width=8,16", "--set", "layers[3].kernel=3,5,40")
    assert result.exit_code == 0, result.stderr
    error = "height: the kernel covers 40 but the padded input is only 18"
    assert result.stdout == (
        "4 of 6 variants; 2 on the Pareto front (params, macs, memory, rf)\n"
        "#  width  layers[3].kernel  params      MACs  peak memory     RF  output  pareto\n"
        "-  -----  ----------------  ------  --------  -----------  -----  ------  ------\n"
        "0  8      3                    898  258.13 K     64.0 KiB    8×8  10      *\n"
        "1  8      5                  1,922  299.66 K     64.0 KiB  12×12  10      *\n"
        "3  16     3                  1,698  516.18 K    128.0 KiB    8×8  10\n"
        "4  16     5                  3,746  599.25 K    128.0 KiB  12×12  10\n"
        "\n"
        "2 invalid variants\n"
        "#  width  layers[3].kernel  first error\n"
        "-  -----  ----------------  "
        + "-"
        * len(f'{family}:8:5: layers[3] conv "conv2": {error}')
        + "\n"
        f'2  8      40                {family}:8:5: layers[3] conv "conv2": {error}\n'
        f'5  16     40                {family}:8:5: layers[3] conv "conv2": {error}\n'
    )


def test_sweep_where_sort_and_json(family: str) -> None:
    document = as_json(
        "sweep",
        family,
        "--set",
        "width=4..64:*2",
        "--where",
        "params < 2k and width >= 8",
        "--sort",
        "-params",
    )
    assert [variant["values"]["width"] for variant in document["variants"]] == ["16", "8"]
    assert [variant["params"] for variant in document["variants"]] == [1698, 898]
    assert document["invalid"] == []


def test_sweep_pareto_keys_and_train(family: str) -> None:
    document = as_json("sweep", family, "--set", "width=8,16", "--pareto", "params", "--train")
    assert [variant["pareto"] for variant in document["variants"]] == [True, False]
    assert document["memory"] == "training"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "--set: give at least one PATH=V1,V2,… to sweep"),
        (["--set", "width="], "--set width=: no values after `=`"),
        (["--set", "width=8..4"], "--set width: the range `8..4` is empty (8 > 4)"),
        (
            ["--set", "width=8..64:*1"],
            "--set width: `8..64:*1` never grows; a multiplying range needs a start ≥ 1 "
            "and a factor ≥ 2",
        ),
        (["--set", "width=8,,16"], "--set width: an empty value in `8,,16`"),
        (
            ["--set", "widht=8"],
            "--set widht: the spec has no `widht` (did you mean `width`?); at the top "
            "level: name, input, batch, dtype, layers, blocks, outputs, width, conv1, relu1, "
            "maxpool1, conv2, globalavgpool1, flatten1, fc1",
        ),
        (["--set", "width=8", "--set", "width=16"], "--set: width is set more than once"),
        (
            ["--set", "width=8", "--sort", "parms"],
            "--sort: unknown key `parms` (did you mean `params`?); keys: params, macs, "
            "flops, memory, rf, width",
        ),
        (
            ["--set", "width=8", "--pareto", "params,speed"],
            "--pareto: unknown key `speed`; keys: params, macs, flops, memory, rf",
        ),
        (
            ["--set", "width=8", "--where", "params <= 5M and"],
            "--where: expected a name or a number, got the end\n"
            "  params <= 5M and\n"
            "                  ^",
        ),
        (
            ["--set", "width=8", "--where", "params < 5X"],
            "--where: `5X` is not a number (suffixes: k, M, G)\n  params < 5X\n           ^",
        ),
    ],
)
def test_sweep_bad_usage(family: str, args: list[str], message: str) -> None:
    result = invoke("sweep", family, *args)
    assert result.exit_code == 2
    assert result.stdout == ""
    assert result.stderr == message + "\n"


def test_a_terminal_table_hides_columns_by_rank_and_names_them() -> None:
    from convcalc.render.records import Column, to_text

    columns = [
        Column("name", "name"),
        Column("size", "size", True, hide_rank=2),
        Column("note", "note", hide_rank=1),
    ]
    records = [{"name": "conv1", "size": "1,024", "note": "a long note here"}]
    assert to_text(columns, records, width=40) == to_text(columns, records)
    assert to_text(columns, records, width=20) == (
        "name    size\n"
        "-----  -----\n"
        "conv1  1,024\n"
        "hidden to fit 20\ncolumns: note (pipe\nit or -o FILE for\nevery column)\n"
    )


@pytest.mark.parametrize(
    ("arguments", "hidden"),
    [
        (["diff", "zoo:resnet18", "zoo:resnet34"], "type, memory, RF"),
        # A changed fc's `513.00 K → 5,130` widens params and MACs: MACs go too.
        (
            ["diff", "zoo:resnet18", "zoo:resnet34", "--set", "fc.out=10"],
            "type, memory, RF, output, MACs",
        ),
        (
            [
                "sweep",
                "zoo:resnet18",
                "--set",
                "layer4.width=256,512",
                "--set",
                "input=3x160x160,3x224x224",
            ],
            "output",
        ),
    ],
)
def test_design_tables_fit_an_80_column_terminal(arguments: list[str], hidden: str) -> None:
    import os

    from tests.terminal import run_in_terminal

    shown = run_in_terminal(arguments, 80, dict(os.environ)).splitlines()
    assert max(len(line) for line in shown) <= 80
    text = "\n".join(shown)
    note = f"hidden to fit 80 columns: {hidden} (pipe it or -o FILE for every column)"
    assert textwrap.fill(note, 80, break_on_hyphens=False) in text
