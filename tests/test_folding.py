"""BN folding: which norms fold, which way and why not; the inference network; the CLI views."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from convcalc import zoo
from convcalc.analysis import analyze
from convcalc.cli import app
from convcalc.folding import FOLDED_BIAS, FOLDED_WEIGHT, fold_network
from convcalc.layers.conv import Conv
from convcalc.loader import parse_spec
from convcalc.report import NETWORK_INPUT, Report
from convcalc.sources import load

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "resnet-blocks.yaml"


def report_of(layers: str, input_shape: str = "3x8x8") -> Report:
    """The report of a spec with ``layers`` (YAML flow or block text) on ``input_shape``."""
    return analyze(parse_spec(f"input: {input_shape}\nlayers:\n{layers}"))


def folding_of(layers: str, input_shape: str = "3x8x8") -> dict[str, Any]:
    """The ``bn_folding`` JSON object of such a spec."""
    document: dict[str, Any] = report_of(layers, input_shape).to_document()["bn_folding"]
    return document


def reasons(folding: dict[str, Any]) -> dict[str, str]:
    """Each non-folded norm's path → its reason."""
    return {entry["bn"]: entry["reason"] for entry in folding["not_folded"]}


# --- decisions: backward ---------------------------------------------------------------------


def test_conv_bn_folds_and_the_parameter_arithmetic() -> None:
    """conv 3→8 3×3 without bias (216) + BN (2·8 params, 2·8 buffers): folded = 216 + 8 bias."""
    report = report_of("  - conv: {filters: 8, kernel: 3, bias: false}\n  - bn\n  - relu")
    folding = report.to_document()["bn_folding"]
    assert folding["folded"] == [{"bn": "batchnorm1", "into": "conv1"}]
    assert folding["not_folded"] == []
    assert folding["forward"] == []
    assert report.totals.params == 216 + 16
    assert report.totals.buffers == 16
    assert folding["params_after"] == 216 + 8
    assert folding["buffers_after"] == 0
    assert folding["macs_after"] == report.totals.macs == 8 * 3 * 9 * 6 * 6
    bn_bytes = 8 * 6 * 6 * 4
    assert folding["activation_bytes_after"] == report.totals.activation_bytes - bn_bytes


def test_conv_with_bias_gains_nothing() -> None:
    """A conv that has a bias keeps its count: only the BN's 2C vanish."""
    folding = folding_of("  - conv: {filters: 8, kernel: 3}\n  - bn")
    assert folding["params_after"] == 8 * (27 + 1)


def test_bn_without_affine_removes_only_buffers() -> None:
    """affine: false has no γ, β (0 params) but still 2C running statistics."""
    report = report_of("  - conv: {filters: 4, kernel: 1}\n  - bn: {affine: false}")
    assert report.rows[1].params == 0
    assert report.folding.params_after == 4 * (3 + 1)
    assert report.folding.buffers_after == 0


def test_fc_bn_folds() -> None:
    folding = folding_of("  - flatten\n  - fc: {out: 10, bias: false}\n  - bn", "4x2x2")
    assert folding["folded"] == [{"bn": "batchnorm1", "into": "fc1"}]
    assert folding["params_after"] == 16 * 10 + 10


def test_deconv_bn_folds() -> None:
    """A deconv's F output channels take the scale and shift as a conv's do."""
    folding = folding_of("  - deconv: {filters: 4, kernel: 2, stride: 2, bias: false}\n  - bn")
    assert folding["folded"] == [{"bn": "batchnorm1", "into": "deconv1"}]
    assert folding["params_after"] == 3 * 4 * 2 * 2 + 4


def test_dropout_between_conv_and_bn_does_not_prevent_folding() -> None:
    folding = folding_of("  - conv: {filters: 8, kernel: 3}\n  - dropout\n  - bn")
    assert folding["folded"] == [{"bn": "batchnorm1", "into": "conv1"}]


def test_two_batchnorms_in_a_row_both_fold_into_the_conv() -> None:
    """conv → BN → BN: two affine maps compose, and both land in the conv."""
    report = report_of("  - conv: {filters: 8, kernel: 3, bias: false}\n  - bn\n  - bn")
    folding = report.to_document()["bn_folding"]
    assert [f["into"] for f in folding["folded"]] == ["conv1", "conv1"]
    assert folding["params_after"] == 216 + 8  # one bias, gained once


def test_bn_after_relu_does_not_fold() -> None:
    folding = folding_of("  - conv: {filters: 8, kernel: 3}\n  - relu\n  - bn")
    assert folding["folded"] == folding["forward"] == []
    reason = reasons(folding)["batchnorm1"]
    assert reason.startswith("it follows relu1, a nonlinearity, not a conv, deconv or fc")
    assert "nothing reads the output of batchnorm1" in reason


def test_bn_after_a_pool_does_not_fold() -> None:
    folding = folding_of("  - conv: {filters: 8, kernel: 3}\n  - maxpool: {kernel: 2}\n  - bn")
    assert reasons(folding)["batchnorm1"].startswith("it follows maxpool1, a pool,")


def test_bn_after_an_add_does_not_fold() -> None:
    folding = folding_of(
        "  - conv: {filters: 8, kernel: 3, pad: 1}\n"
        "  - residual: {body: [{conv: {filters: 8, kernel: 3, pad: 1}}]}\n"
        "  - bn"
    )
    assert reasons(folding)["batchnorm1"].startswith(
        "it follows residual1.add, a residual add (the sum of two branches"
    )


def test_bn_first_in_a_residual_body_sees_a_producer_that_feeds_the_shortcut() -> None:
    """conv → residual(body: bn, relu, conv): the conv's output is also the identity shortcut."""
    folding = folding_of(
        "  - conv: {filters: 8, kernel: 3, pad: 1}\n"
        "  - residual: {body: [bn, relu, {conv: {filters: 8, kernel: 3, pad: 1}}]}"
    )
    reason = reasons(folding)["residual1.body.batchnorm1"]
    assert reason.startswith(
        "its producer conv1 also feeds residual1.add (the residual's identity shortcut), "
        "so folding would change that branch's input too"
    )
    assert "it feeds residual1.body.relu1, a nonlinearity, not a conv or fc" in reason


def test_conv_feeding_two_concat_branches_does_not_fold() -> None:
    folding = folding_of(
        "  - conv: {filters: 8, kernel: 3}\n"
        "  - concat: {branches: [[bn], [{conv: {filters: 4, kernel: 1}}]]}"
    )
    assert reasons(folding)["concat1.branch1.batchnorm1"].startswith(
        "its producer conv1 also feeds concat1.branch2.conv1"
    )


def test_a_pass_through_branch_is_named() -> None:
    folding = folding_of("  - conv: {filters: 8, kernel: 3}\n  - concat: {branches: [[bn], []]}")
    assert (
        "also feeds concat1.concat (a pass-through branch)"
        in (reasons(folding)["concat1.branch1.batchnorm1"])
    )


# --- decisions: forward ----------------------------------------------------------------------


def test_bn_into_an_unpadded_conv_folds_forward() -> None:
    """relu → BN → conv (pad 0): the BN folds into the conv's input channels; the conv gains F."""
    report = report_of("  - relu\n  - bn\n  - conv: {filters: 5, kernel: 3, bias: false}")
    folding = report.to_document()["bn_folding"]
    assert folding["folded"] == []
    assert folding["forward"] == [{"bn": "batchnorm1", "into": "conv1"}]
    # docs/spec.md §4: a BN after a nonlinearity does not fold (backward); the reason names the
    # way out.
    assert reasons(folding)["batchnorm1"] == (
        "it follows relu1, a nonlinearity, not a conv, deconv or fc; it can fold forward into "
        "conv1 instead, which does not zero-pad (see `forward`)"
    )
    assert folding["params_after"] == report.totals.params == 5 * 3 * 9 + 2 * 3
    assert folding["buffers_after"] == report.totals.buffers == 2 * 3
    assert folding["params_after_forward"] == 5 * 3 * 9 + 5


def test_bn_into_a_padded_conv_does_not_fold_and_says_why() -> None:
    folding = folding_of("  - relu\n  - bn\n  - conv: {filters: 5, kernel: 3, pad: 1}")
    assert folding["forward"] == []
    reason = reasons(folding)["batchnorm1"]
    assert reason == (
        "it follows relu1, a nonlinearity, not a conv, deconv or fc; nor can it fold forward: "
        "it feeds conv1, which zero-pads its input (pad 1), and those padded zeros would not be "
        "normalised"
    )


def test_same_padding_counts_only_when_it_pads() -> None:
    """``pad: same`` is no padding for a 1×1 kernel, and padding for a 3×3 one."""
    one = folding_of("  - relu\n  - bn\n  - conv: {filters: 5, kernel: 1, pad: same}")
    assert one["forward"] == [{"bn": "batchnorm1", "into": "conv1"}]
    three = folding_of("  - relu\n  - bn\n  - conv: {filters: 5, kernel: 3, pad: same}")
    assert "(pad same = 1+1 × 1+1)" in reasons(three)["batchnorm1"]


def test_network_input_bn_folds_forward_through_dropout() -> None:
    report = report_of("  - bn\n  - dropout\n  - conv: {filters: 5, kernel: 3}")
    assert report.to_document()["bn_folding"]["forward"] == [{"bn": "batchnorm1", "into": "conv1"}]


def test_bn_folds_forward_into_fc_through_flatten() -> None:
    folding = folding_of("  - relu\n  - bn\n  - flatten\n  - fc: {out: 3}", "2x2x2")
    assert folding["forward"] == [{"bn": "batchnorm1", "into": "fc1"}]


def test_backward_is_preferred_to_forward() -> None:
    folding = folding_of(
        "  - conv: {filters: 8, kernel: 3}\n  - bn\n  - conv: {filters: 4, kernel: 1}"
    )
    assert folding["folded"] == [{"bn": "batchnorm1", "into": "conv1"}]
    assert folding["forward"] == []


def test_bn_into_a_deconv_or_two_readers_does_not_fold_forward() -> None:
    deconv = folding_of("  - relu\n  - bn\n  - deconv: {filters: 2, kernel: 2, stride: 2}")
    assert "it feeds deconv1, a transposed conv" in reasons(deconv)["batchnorm1"]
    split = folding_of(
        "  - relu\n  - bn\n  - concat: {branches: [[{conv: {filters: 2, kernel: 1}}], []]}"
    )
    assert (
        "the output of batchnorm1 feeds several layers (concat1.branch1.conv1, "
        "concat1.concat (a pass-through branch))"
    ) in reasons(split)["batchnorm1"]


# --- every norm kind ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("layer", "path", "words"),
    [
        ("layernorm", "layernorm1", "LayerNorm uses each sample's own statistics"),
        ("ln", "layernorm1", "LayerNorm uses each sample's own statistics"),
        ("{groupnorm: {groups: 2}}", "groupnorm1", "GroupNorm uses each sample's own statistics"),
        ("instancenorm", "instancenorm1", "InstanceNorm uses each sample's own statistics"),
        ("{instancenorm: {affine: true}}", "instancenorm1", "InstanceNorm uses each sample's"),
    ],
)
def test_per_sample_norms_never_fold(layer: str, path: str, words: str) -> None:
    """Even right after a conv whose output feeds nothing else."""
    folding = folding_of(f"  - conv: {{filters: 8, kernel: 3}}\n  - {layer}")
    assert folding["folded"] == folding["forward"] == []
    assert reasons(folding)[path].startswith(words)
    assert reasons(folding)[path].endswith("so it is no fixed affine map and cannot fold")


@pytest.mark.parametrize("alias", ["bn", "batchnorm", "batchnorm2d"])
def test_batchnorm_aliases_fold(alias: str) -> None:
    folding = folding_of(f"  - conv: {{filters: 8, kernel: 3}}\n  - {alias}")
    assert folding["folded"] == [{"bn": "batchnorm1", "into": "conv1"}]


# --- the inference network -------------------------------------------------------------------


def test_fold_network_reindexes_and_remaps_sources() -> None:
    report = report_of(
        "  - bn\n"
        "  - conv: {filters: 4, kernel: 3, bias: false}\n"
        "  - bn\n"
        "  - relu\n"
        "  - residual: {body: [{conv: {filters: 4, kernel: 3, pad: 1}}, bn]}"
    )
    folded = fold_network(report)
    # batchnorm1 reads the network input: it could only fold forward, so it stays.
    assert [row.path for row in folded.rows] == [
        "batchnorm1",
        "conv1",
        "relu1",
        "residual1.body.conv1",
        "residual1.add",
    ]
    assert [row.index for row in folded.rows] == [0, 1, 2, 3, 4]
    assert [row.sources for row in folded.rows] == [(NETWORK_INPUT,), (0,), (1,), (2,), (3, 2)]
    conv = folded.rows[1]
    assert isinstance(conv.layer, Conv)
    assert conv.layer.bias
    assert conv.params == 4 * 27 + 4
    assert folded.totals.params == report.folding.params_after
    assert folded.totals.buffers == report.folding.buffers_after == 2 * 3
    assert folded.totals.activation_bytes == report.folding.activation_bytes_after
    assert folded.totals.macs == report.folding.macs_after == report.totals.macs
    assert folded.before is report
    assert fold_network(folded) is folded


def test_fold_network_document_keeps_the_shape_and_names_what_each_layer_absorbs() -> None:
    report = report_of("  - conv: {filters: 4, kernel: 3}\n  - bn\n  - relu\n  - bn")
    document = fold_network(report).to_document()
    assert document["bn_folded"] is True
    assert [layer["path"] for layer in document["layers"]] == ["conv1", "relu1", "batchnorm2"]
    assert document["layers"][0]["absorbs"] == ["batchnorm1"]
    assert "absorbs" not in document["layers"][1]
    assert document["bn_folding"]["folded"] == [{"bn": "batchnorm1", "into": "conv1"}]
    assert [n["bn"] for n in document["bn_folding"]["not_folded"]] == ["batchnorm2"]
    assert document["totals"]["params"] == document["bn_folding"]["params_after"]


def test_example_resnet_arithmetic() -> None:
    """All 10 BNs follow bias-free convs: their 2C + 2C vanish, each conv gains C."""
    report = analyze(load(str(EXAMPLE)))
    channels = [64] + [64] * 6 + [128] * 3  # stem, two 64-wide blocks ×3 BNs, one 128-wide ×3
    assert len(report.folding.folded) == len(channels)
    assert report.folding.params_after == report.totals.params - 2 * sum(channels) + sum(channels)
    assert report.totals.buffers == 2 * sum(channels)
    assert report.folding.buffers_after == 0
    assert fold_network(report).totals.params == report.folding.params_after == 396_554


@pytest.mark.parametrize("source", [str(EXAMPLE), *(f"zoo:{name}" for name in zoo.names())])
def test_every_bn_in_the_examples_and_zoo_gets_a_decision(source: str) -> None:
    report = analyze(load(source))
    norms = [row.index for row in report.rows if "norm" in row.type]
    folding = report.folding
    decided = [f.bn for f in folding.removed] + [n.bn for n in folding.not_folded]
    assert sorted(decided) == norms
    assert all(n.reason for n in folding.not_folded)


# --- the CLI ---------------------------------------------------------------------------------

runner = CliRunner()


def test_cli_fold_bn_table() -> None:
    result = runner.invoke(app, ["analyze", str(EXAMPLE), "--fold-bn"])
    assert result.exit_code == 0, result.stderr
    assert "inference view, batchnorms folded" in result.stdout
    assert "conv1 ⊕ batchnorm1, bias +64" in result.stdout
    assert "BN folding 10 of 10 batchnorms fold; before → after:" in result.stdout
    assert "params 397,386 → 396,554   buffers 1,664 → 0" in result.stdout
    assert "memory 17.8 MiB → 12.0 MiB" in result.stdout
    assert "│ batchnorm " not in result.stdout  # no batchnorm row is left


def test_cli_fold_bn_json_is_the_folded_network() -> None:
    result = runner.invoke(app, ["analyze", "zoo:cs231n", "--fold-bn", "--json"])
    assert result.exit_code == 0, result.stderr
    document = json.loads(result.stdout)
    assert [layer["type"] for layer in document["layers"]] == [
        "conv",
        "relu",
        "maxpool",
        "flatten",
        "fc",
    ]
    assert document["totals"]["params"] == 760 + 25_610 == document["bn_folding"]["params_after"]
    assert document["totals"]["buffers"] == 0
    assert document["bn_folding"]["folded"] == [{"bn": "batchnorm1", "into": "conv1"}]


def test_cli_analyze_without_fold_bn_lists_what_stays(tmp_path: Path) -> None:
    spec = tmp_path / "net.yaml"
    spec.write_text("input: 3x8x8\nlayers:\n  - conv: {filters: 4, kernel: 3}\n  - relu\n  - bn\n")
    result = runner.invoke(app, ["analyze", str(spec)])
    assert result.exit_code == 0, result.stderr
    assert "BN folding 0 of 1 batchnorms fold" in result.stdout
    assert "batchnorm1 stays: it follows relu1, a nonlinearity" in result.stdout


def test_cli_layer_bn_explains_train_and_eval() -> None:
    result = runner.invoke(app, ["layer", "--type", "bn", "--in", "64x56x56"])
    assert result.exit_code == 0, result.stderr
    assert "2 × 64 (γ, β)" in result.stdout
    assert "2 × 64 (running μ, σ²)" in result.stdout
    assert "y = γ·(x − mean)/√(var + ε) + β, over the batch's N×H×W per channel" in result.stdout
    assert "y = γ·(x − μ)/√(σ² + ε) + β, ε = 1e-05" in result.stdout
    assert FOLDED_WEIGHT not in result.stdout


def test_cli_layer_bn_fold() -> None:
    result = runner.invoke(app, ["layer", "--type", "bn", "--in", "64x56x56", "--fold"])
    assert result.exit_code == 0, result.stderr
    assert f"{FOLDED_WEIGHT}, ε = 1e-05" in result.stdout
    assert FOLDED_BIAS in result.stdout
    assert FOLDED_WEIGHT == "W' = W·γ/√(σ²+ε)"
    assert FOLDED_BIAS == "b' = (b − μ)·γ/√(σ²+ε) + β"
    lines = {
        line.split("  ")[1].strip(): line for line in result.stdout.splitlines() if "  " in line
    }
    assert lines["params removed"].split()[-1] == "128"
    assert lines["buffers removed"].split()[-1] == "128"
    assert "802,816 B" in lines["memory saved"]


def test_cli_layer_bn_fold_json() -> None:
    result = runner.invoke(app, ["layer", "--type", "bn", "--in", "64x56x56", "--fold", "--json"])
    assert result.exit_code == 0, result.stderr
    fold = json.loads(result.stdout)["bn_fold"]
    assert fold["params_removed"] == fold["buffers_removed"] == 128
    assert fold["bias_gained_if_none"] == 64
    assert fold["activation_bytes_saved"] == 64 * 56 * 56 * 4


def test_cli_layer_fold_needs_a_batchnorm() -> None:
    result = runner.invoke(app, ["layer", "--in", "3x8x8", "--filters", "4x3", "--fold"])
    assert result.exit_code == 1
    assert result.stderr == "--fold applies to --type bn only, not conv\n"
    assert result.stdout == ""
