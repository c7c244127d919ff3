"""The counting conventions without the tools: each rule's arithmetic worked out by hand on the
notes' small net, the CLI's ``--convention``, ``--convention all`` and ``--explain``. The real
tools are the oracle in test_oracle_conventions.py."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from typer.testing import CliRunner, Result

from convcalc.analysis import analyze
from convcalc.cli import app
from convcalc.cli.common import ConventionName
from convcalc.conventions.counting import (
    CONVENTIONS,
    compare,
    counted,
    explanations,
    zoo_forms,
)
from convcalc.conventions.view import ConventionView
from convcalc.layers import LAYER_KINDS, MERGE_KINDS
from convcalc.report import Report
from convcalc.sources import load

runner = CliRunner()


def invoke(*args: str) -> Result:
    return runner.invoke(app, list(args))


def cs231n(batch: int = 1) -> Report:
    """conv 10×5×5 pad 2 (3×32×32 → 10×32×32), bn, relu, maxpool 2, flatten, fc 2560 → 10."""
    network = load("zoo:cs231n")
    return analyze(replace(network, batch=batch))


# Worked out by hand: conv 760 params, 768,000 MACs, 10,240 output elements; bn 20 params on
# 10,240 elements; relu 10,240; the max pool reads 10,240; fc 25,610 params, 25,600 MACs.
BY_HAND = {
    "convcalc": (26_390, 26_390, 768_000 + 25_600),
    # conv (760 weights and biases × 1,024 positions) + bn 20 + fc 25,610 (each × batch 1)
    "torchinfo": (26_390, 26_390, 760 * 1024 + 20 + 25_610),
    # conv, bn × 2 (affine), fc without bias
    "fvcore": (26_390, 26_390, 768_000 + 2 * 10_240 + 25_600),
    # conv + bias, bn × 2, relu twice, max pool twice, fc + bias
    "ptflops": (26_390, 26_390, 778_240 + 20_480 + 20_480 + 20_480 + 25_610),
    # conv, bn 2 × 2 (affine), relu and max pool 0, fc without bias
    "thop": (26_390, 26_390, 768_000 + 4 * 10_240 + 25_600),
    # bn's moving mean and variance are non-trainable params; MACs are convcalc's
    "keras": (26_410, 26_390, 793_600),
}


@pytest.mark.parametrize("name", list(BY_HAND))
def test_each_convention_counts_the_small_net_as_worked_out_by_hand(name: str) -> None:
    totals = next(t for t in compare(cs231n()) if t.convention.name == name)
    assert (totals.params, totals.trainable_params, totals.ops) == BY_HAND[name]


def test_torchinfo_memory_as_worked_out_by_hand() -> None:
    totals = next(t for t in compare(cs231n()) if t.convention.name == "torchinfo")
    # Only the outputs of layers with params (conv, bn, fc), × 2 for the gradients, × 4 bytes.
    assert totals.pass_bytes == 2 * 4 * (10_240 + 10_240 + 10)
    assert totals.param_bytes == 4 * 26_390
    assert totals.input_bytes == 4 * 3 * 32 * 32 + 64  # the storage object's own 64 bytes
    assert totals.total_bytes == totals.pass_bytes + totals.param_bytes + totals.input_bytes


@given(batch=st.integers(min_value=1, max_value=64))
def test_ptflops_divides_its_hooks_by_the_batch_but_not_its_wrapped_functions(
    batch: int,
) -> None:
    # ptflops: the relu and max pool modules call F.relu and F.max_pool2d, whose wrapped counts
    # (10,240 elements each per image) are not divided by the batch as the hooks' are.
    one, many = compare(cs231n()), compare(cs231n(batch))
    for single, batched in zip(one, many, strict=True):
        if single.convention.per_sample_hooks:
            assert batched.ops == single.ops + (batch - 1) * 2 * 10_240
        else:
            assert batched.ops == single.ops * batch, single.convention.name


def test_functions_are_seen_as_each_tool_sees_them() -> None:
    # DenseNet's last relu and its pool are functions in torchvision: thop and torchinfo do not
    # see them, ptflops counts only the wrapped function, fvcore traces them as the module.
    report = analyze(load("zoo:densenet121"))
    relu, pool = (row for row in report.rows if row.path in ("relu1", "globalavgpool1"))
    functions = zoo_forms("zoo:densenet121")
    assert functions and not zoo_forms("densenet121.yaml")
    for name, relu_ops, pool_ops in [
        ("thop", 0, 0),
        ("ptflops", 1024 * 7 * 7, 1024 * 7 * 7),
        ("fvcore", 0, 1024 * 7 * 7),
    ]:
        rows = counted(report, name, functions).rows
        assert (rows[relu.index].macs, rows[pool.index].macs) == (relu_ops, pool_ops), name
    modules = counted(report, "ptflops").rows
    assert modules[relu.index].macs == 2 * 1024 * 7 * 7


def test_the_default_convention_changes_nothing() -> None:
    report = cs231n()
    assert counted(report, "convcalc") is report


def test_counted_rows_add_up_to_the_totals() -> None:
    report = analyze(load("zoo:resnet18"))
    for name in CONVENTIONS:
        result = counted(report, name)
        assert sum(row.params for row in result.rows) == result.totals.params, name
        assert sum(row.macs for row in result.rows) == result.totals.macs, name


def test_every_layer_kind_has_an_explanation_in_every_convention() -> None:
    explained = dict(explanations(analyze(load("zoo:resnet18"))))
    assert list(explained) == [
        "conv",
        "batchnorm",
        "relu",
        "maxpool",
        "globalavgpool",
        "flatten",
        "fc",
        "add",
    ]
    for says in explained.values():
        assert list(says) == list(CONVENTIONS)
        assert all(says.values())


def every_kind() -> set[str]:
    """Every layer and merge kind of the vocabulary, by canonical name."""
    kinds = {kind.type_name for kind in LAYER_KINDS.values()}
    return kinds | {kind.type_name for kind in MERGE_KINDS.values()}


SPECS = Path(__file__).resolve().parent
CHECKED_BY_THE_TOOLS = [SPECS / "every-kind.yaml", SPECS / "more-kinds.yaml"]
"""The specs the oracle runs every tool on, rebuilt in torch.nn (test_oracle_conventions)."""


@pytest.mark.parametrize("name", list(CONVENTIONS))
def test_every_kind_has_a_rule_in_every_convention(name: str) -> None:
    assert set(CONVENTIONS[name].rules) == every_kind()


def test_every_kind_is_in_a_spec_the_tools_are_run_on() -> None:
    checked = {row.type for spec in CHECKED_BY_THE_TOOLS for row in analyze(load(str(spec))).rows}
    assert checked == every_kind()


def test_command_line_choices_match_the_library() -> None:
    assert [choice.value for choice in ConventionName] == [*CONVENTIONS, "all"]


# --- the command line -------------------------------------------------------------------------


def test_the_table_title_names_the_convention_and_prints_the_tools_figures() -> None:
    result = invoke("analyze", "zoo:cs231n", "--convention", "torchinfo")
    assert result.exit_code == 0, result.output
    first = result.output.splitlines()[0]
    assert first == (
        "cs231n-example — input 3×32×32, batch 1, float32 — counted as torchinfo 1.8.0"
    )
    assert (
        "torchinfo 1.8.0 Total params: 26,390   Trainable params: 26,390   "
        "Total mult-adds (M): 0.80\n"
        "  Input size (MB): 0.01   Forward/backward pass size (MB): 0.16   "
        "Params size (MB): 0.11   Estimated Total Size (MB): 0.28\n"
    ) in result.output


def test_json_names_the_convention_and_carries_its_numbers() -> None:
    result = invoke("analyze", "zoo:cs231n", "--convention", "THOP", "--json")
    document = json.loads(result.output)
    assert document["convention"] == "thop"
    assert document["totals"]["macs"] == BY_HAND["thop"][2]
    assert document["convention_totals"] == {
        "tool": "thop",
        "version": "0.1.1.post2209072238",
        "params": 26_390,
        "trainable_params": 26_390,
        "non_trainable_params": 0,
        "ops_label": "MACs",
        "ops": BY_HAND["thop"][2],
    }
    assert [layer["macs"] for layer in document["layers"]] == [768_000, 40_960, 0, 0, 0, 25_600]


def test_the_default_json_has_no_convention_key() -> None:
    document = json.loads(invoke("analyze", "zoo:cs231n", "--json").output)
    assert "convention" not in document


def test_convention_all_lists_every_convention() -> None:
    result = invoke("analyze", "zoo:cs231n", "--convention", "all", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)["conventions"]
    assert [row["convention"] for row in rows] == list(CONVENTIONS)
    assert [row.get("ops") for row in rows] == [*[BY_HAND[name][2] for name in BY_HAND][:5], None]
    table = invoke("analyze", "zoo:cs231n", "--convention", "all").output
    assert table.splitlines()[0] == (
        "cs231n-example — input 3×32×32, batch 1, float32 — every convention"
    )
    assert (
        " fvcore 0.1.5.post20221221 │ 26,390 │    26,390 │ flops     │ 814,080 │ 814.08 K │ —\n"
        in (table)
    )


def test_explain_lists_what_each_convention_counts_per_layer_type() -> None:
    result = invoke("analyze", "zoo:cs231n", "--explain")
    assert result.exit_code == 0, result.output
    assert (
        " batchnorm  │ convcalc   │ 0 MACs; params 2C (+ 2C buffers, not params)" in result.output
    )
    assert "            │ thop       │ 2 × input elements, × 2 again with affine" in result.output
    document = json.loads(invoke("analyze", "zoo:cs231n", "--explain", "--json").output)
    assert [entry["type"] for entry in document["explain"]] == [
        "conv",
        "batchnorm",
        "relu",
        "maxpool",
        "flatten",
        "fc",
    ]


def test_the_comparison_prints_a_table_or_json_only() -> None:
    result = invoke("analyze", "zoo:cs231n", "--convention", "all", "--format", "csv")
    assert result.exit_code == 2
    assert "--convention all and --explain print a table or JSON" in result.output


def test_layer_counts_by_a_convention_and_says_how() -> None:
    result = invoke(
        "layer", "--in", "3x32x32", "--filters", "10x5x5", "--pad", "2", "--convention", "ptflops"
    )
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == "conv: 3×32×32 → 10×32×32 — counted as ptflops 0.7.5"
    assert "  MACs (ptflops 0.7.5)      MACs + bias: N·F·H_out·W_out per bias" in result.output
    document = json.loads(
        invoke("layer", "--in", "10x8x8", "-t", "bn", "--convention", "keras", "--json").output
    )
    assert document["layers"][0]["params"] == 40
    assert document["convention_totals"]["non_trainable_params"] == 20


def test_markdown_and_the_folded_view_are_counted_alike() -> None:
    markdown = invoke("analyze", "zoo:cs231n", "--convention", "fvcore", "-f", "markdown").output
    assert "Input 3×32×32, batch 1, float32. Counted as fvcore 0.1.5.post20221221.\n" in markdown
    folded = counted(cs231n(), "thop")
    assert folded.totals.macs == BY_HAND["thop"][2]
    from convcalc.folding import fold_network

    inference = counted(fold_network(cs231n()), "thop")
    assert inference.before is not None
    assert inference.before.totals.macs == BY_HAND["thop"][2]
    assert inference.totals.macs == BY_HAND["thop"][2] - 4 * 10_240  # the folded bn's


ALL_REFUSED = (
    "Invalid value for --convention: all is for analyze (every convention side by side); name "
    "one here: convcalc, torchinfo, fvcore, ptflops, thop, keras"
)


@pytest.mark.parametrize(
    "command",
    [
        ["layer", "--in", "3x32x32", "--filters", "10x5x5"],
        ["diff", "zoo:cs231n", "zoo:lenet5"],
        ["sweep", "zoo:cs231n", "--set", "input=3x32x32"],
    ],
)
def test_only_analyze_takes_all(command: list[str]) -> None:
    result = invoke(*command, "--convention", "all")
    assert result.exit_code == 2
    assert ALL_REFUSED in " ".join(line.strip("│ ") for line in result.output.splitlines())


def test_diff_compares_a_conventions_numbers_under_its_names() -> None:
    result = invoke(
        "diff",
        "zoo:cs231n",
        "zoo:cs231n",
        "--set",
        "layers[0].filters=16",
        "--convention",
        "fvcore",
    )
    assert result.exit_code == 0, result.output
    assert result.output == (
        "zoo:cs231n → zoo:cs231n: 6 changed, 0 inserted, 0 deleted, 0 unchanged rows — counted "
        "as fvcore 0.1.5.post20221221\n"
        "   layer       type       output                          params              flops"
        "      RF               memory\n"
        "-  ----------  ---------  -------------------  -----------------  -----------------"
        "  ------  -------------------\n"
        "~  conv1       conv       10×32×32 → 16×32×32        760 → 1,216  768.00 K → 1.23 M"
        "     5×5  40.0 KiB → 64.0 KiB\n"
        "~  batchnorm1  batchnorm  10×32×32 → 16×32×32            20 → 32  20.48 K → 32.77 K"
        "     5×5  40.0 KiB → 64.0 KiB\n"
        "~  relu1       relu       10×32×32 → 16×32×32                  0                  0"
        "     5×5  40.0 KiB → 64.0 KiB\n"
        "~  maxpool1    maxpool    10×16×16 → 16×16×16                  0                  0"
        "     6×6  10.0 KiB → 16.0 KiB\n"
        "~  flatten1    flatten    2560 → 4096                          0                  0"
        "  global  10.0 KiB → 16.0 KiB\n"
        "~  fc1         fc         10                   25.61 K → 40.97 K  25.60 K → 40.96 K"
        "  global                 40 B\n"
        "\n"
        "totals\n"
        "total                       A          B         Δ       %\n"
        "--------------------  -------  ---------  --------  ------\n"
        "params                 26,390     42,218   +15,828  +60.0%\n"
        "trainable_params       26,390     42,218   +15,828  +60.0%\n"
        "non_trainable_params        0          0         0\n"
        "flops                 814,080  1,302,528  +488,448  +60.0%\n"
    )


def test_diff_json_names_the_convention_and_has_the_tools_totals() -> None:
    result = invoke("diff", "zoo:cs231n", "zoo:cs231n", "--convention", "torchinfo", "--json")
    document = json.loads(result.output)
    assert (document["convention"], document["ops_label"]) == ("torchinfo", "Mult-Adds")
    totals = {key: value["a"] for key, value in document["totals"].items()}
    assert totals == {
        "params": 26_390,
        "trainable_params": 26_390,
        "non_trainable_params": 0,
        "Mult-Adds": BY_HAND["torchinfo"][2],
        "input_bytes": 4 * 3 * 32 * 32 + 64,
        "forward_backward_pass_bytes": 2 * 4 * (10_240 + 10_240 + 10),
        "params_bytes": 4 * 26_390,
        "estimated_total_bytes": 12_352 + 163_920 + 105_560,
    }
    assert "convention" not in json.loads(
        invoke("diff", "zoo:cs231n", "zoo:cs231n", "--json").output
    )


def test_sweep_counts_params_and_macs_by_the_convention() -> None:
    result = invoke(
        "sweep",
        "zoo:cs231n",
        "--set",
        "layers[0].filters=8,16",
        "--convention",
        "torchinfo",
        "--where",
        "macs < 1M",
    )
    assert result.exit_code == 0, result.output
    assert result.output == (
        "1 of 2 variants match --where; 1 on the Pareto front (params, macs, memory, rf) — "
        "counted as torchinfo 1.8.0\n"
        "#  layers[0].filters   params  Mult-Adds  peak memory   RF  output  pareto\n"
        "-  -----------------  -------  ---------  -----------  ---  ------  ------\n"
        "0  8                  21.11 K   643.10 K     64.0 KiB  6×6  10      *\n"
    )
    document = json.loads(
        invoke(
            "sweep",
            "zoo:cs231n",
            "--set",
            "layers[0].filters=10",
            "--convention",
            "keras",
            "--json",
        ).output
    )
    assert document["convention"] == "keras" and "ops_label" not in document
    # Keras's params include the batchnorm's moving mean and variance; its MACs are convcalc's.
    variant = document["variants"][0]
    assert (variant["params"], variant["macs"]) == BY_HAND["keras"][::2]


def test_an_unknown_convention_is_a_usage_error() -> None:
    result = invoke("analyze", "zoo:cs231n", "--convention", "flopco")
    assert result.exit_code == 2


def test_the_view_is_a_report_extra() -> None:
    report = counted(cs231n(), "fvcore")
    view = report.extra(ConventionView)
    assert view is not None
    assert report.to_document()["convention"] == "fvcore"


def test_the_readme_table_is_the_rules_in_the_code() -> None:
    """The README's per-layer-type table says what the rule tables say, kind for kind."""
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    section = readme.split("### What each tool counts", 1)[1].split("\n## ", 1)[0]
    tools = ["torchinfo", "fvcore", "ptflops", "thop"]
    rows = {
        cells[0]: cells[1:]
        for line in section.splitlines()
        if line.startswith("| ") and (cells := [c.strip() for c in line.strip("|").split("|")])
    }
    header = [CONVENTIONS[name].label for name in tools]
    assert rows["layer type"] == header
    # Every kind some tool has a rule for; a kind none has one for counts as each one's fallback.
    assert set(rows) - {"layer type", "---"} == every_kind()
    for kind in set(rows) - {"layer type", "---"}:
        assert rows[kind] == [CONVENTIONS[name].rule(kind).says for name in tools], kind
