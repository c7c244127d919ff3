"""Inference and training memory and the Jacobian view, on small nets computed by hand."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from convcalc.analysis import analyze
from convcalc.cli import app
from convcalc.errors import SpecError
from convcalc.jacobian import jacobian, jacobians
from convcalc.layer_command import analyze_layer
from convcalc.layers.conv import Conv, Deconv
from convcalc.layers.pooling import AvgPool, MaxPool
from convcalc.loader import parse_spec
from convcalc.memory import inference_memory, largest_batch, parse_size, training_memory
from convcalc.report import Report
from convcalc.views import with_views

CHAIN = """
input: 3x4x4
batch: 2
layers:
  - conv: {filters: 8, kernel: 3, pad: 1}
  - relu
  - maxpool: {kernel: 2}
  - flatten
  - fc: {out: 5}
"""

RESIDUAL = """
input: 4x4x4
layers:
  - residual:
      body:
        - conv: {filters: 4, kernel: 3, pad: 1}
        - relu
  - relu
"""


def report_of(text: str) -> Report:
    """The analysis of a spec given as text."""
    return analyze(parse_spec(text))


def test_chain_live_bytes_and_peak() -> None:
    """Input 384 B, conv and relu outputs 1024 B, pool 256 B, fc 40 B; the flatten is a view.
    Each row holds its inputs and output; the peak is conv + relu outputs, not the sum."""
    memory = inference_memory(report_of(CHAIN))
    assert memory.live_bytes == (384 + 1024, 1024 + 1024, 1024 + 256, 256, 256 + 40)
    assert memory.peak_bytes == 2048
    assert memory.peak_row == 1
    assert memory.param_bytes == (8 * 27 + 8 + 32 * 5 + 5) * 4


def test_residual_skip_stays_alive() -> None:
    """The network input waits for the add: while the body's relu runs, three tensors live."""
    report = report_of(RESIDUAL)
    assert [row.type for row in report.rows] == ["conv", "relu", "add", "relu"]
    memory = inference_memory(report)
    assert memory.live_bytes == (512, 768, 768, 512)
    assert memory.peak_bytes == 768 < report.totals.activation_bytes


def test_concat_branches_stay_alive() -> None:
    """Two 1×1 conv branches and a pass-through: the first branch's output waits for the
    concat while the second runs, with the input."""
    text = """
input: 2x2x2
layers:
  - concat:
      branches:
        - [{conv: {filters: 2, kernel: 1}}]
        - [{conv: {filters: 2, kernel: 1}}]
        - []
"""
    memory = inference_memory(report_of(text))
    # 32 B per 2×2×2 tensor; the concat makes 6×2×2 = 96 B.
    assert memory.live_bytes == (64, 96, 32 * 3 + 96)


def test_chain_saved_bytes() -> None:
    """conv keeps the input (384), relu its output (1024), maxpool its input (already kept) and
    int64 indices (8·2·2·2·8 = 512), flatten nothing, fc the flattened pool output (256)."""
    memory = training_memory(report_of(CHAIN), "adam")
    assert memory.saved_bytes == (384, 1024, 512, 0, 256)
    assert memory.saved_total == 2176
    params = (8 * 27 + 8 + 32 * 5 + 5) * 4
    assert memory.breakdown() == {
        "params": params,
        "buffers": 0,
        "gradients": params,
        "optimizer_state": 2 * params,
        "saved_activations": 2176,
    }
    assert memory.total == 4 * params + 2176


@pytest.mark.parametrize(("optimizer", "copies"), [("sgd", 0), ("momentum", 1), ("adamw", 2)])
def test_optimizer_state(optimizer: str, copies: int) -> None:
    """SGD keeps no state, momentum one copy of the params, Adam(W) two."""
    memory = training_memory(report_of(CHAIN), optimizer)
    assert memory.optimizer_bytes == copies * memory.param_bytes


def test_unknown_optimizer() -> None:
    """An optimizer convcalc does not know is an error naming the choices."""
    with pytest.raises(SpecError, match="choose one of sgd, momentum, adam, adamw"):
        training_memory(report_of(CHAIN), "lion")


def test_batchnorm_statistics_and_parameter_free_start() -> None:
    """A pool on the network input keeps nothing; BN keeps its input and 2·C values per batch
    (not per sample); dropout keeps a mask as large as its input."""
    text = """
input: 4x4x4
batch: 3
layers:
  - maxpool: {kernel: 2}
  - conv: {filters: 4, kernel: 1}
  - bn
  - dropout
"""
    memory = training_memory(report_of(text))
    per_tensor = 4 * 2 * 2 * 3 * 4
    assert memory.saved_bytes == (0, per_tensor, per_tensor + 2 * 4 * 4, per_tensor)
    assert (
        training_memory(report_of(text.replace("dropout", "dropout: {p: 0}"))).saved_bytes[-1] == 0
    )


def test_residual_saved_bytes_count_shared_tensors_once() -> None:
    """conv keeps the input, relu its output, add nothing, the last relu its output."""
    memory = training_memory(report_of(RESIDUAL))
    assert memory.saved_bytes == (256, 256, 0, 256)


def test_largest_batch_is_exact() -> None:
    """The answer fits and one more does not; BN's per-batch constant is handled."""
    report = report_of(CHAIN.replace("  - relu", "  - bn\n  - relu"))
    budget = training_memory(report, "adam", 37).total
    assert largest_batch(report, "adam", budget) == 37
    assert largest_batch(report, "adam", budget - 1) == 36
    assert largest_batch(report, "adam", 10) == 0


@pytest.mark.parametrize(
    ("text", "size"),
    [("16GiB", 16 * 2**30), ("512MB", 512 * 10**6), ("1.5 KiB", 1536), ("1000", 1000), ("2g", 2e9)],
)
def test_parse_size(text: str, size: int) -> None:
    """Binary units with i, decimal without; a bare number is bytes."""
    assert parse_size(text) == size


def test_parse_size_rejects_nonsense() -> None:
    """A size that is not a number and a unit is a spec error."""
    with pytest.raises(SpecError, match="expected a size like 16GiB"):
        parse_size("lots")


def test_conv_jacobian_counts_padded_borders() -> None:
    """3×3 conv, pad 1, on 1×3×3: corners see 4 inputs, edges 6, the centre 9 → 49."""
    row = analyze_layer(Conv(filters=1, kernel=3, pad=1), (1, 3, 3)).rows[0]
    matrix = jacobian(row, 1, 4)
    assert (matrix.rows, matrix.cols, matrix.bytes, matrix.nonzeros) == (9, 9, 324, 49)
    assert matrix.density == pytest.approx(49 / 81)


def test_jacobian_scales_with_the_batch_block_diagonally() -> None:
    """N samples: N² times the entries, N times the non-zeros."""
    row = analyze_layer(Conv(filters=2, kernel=3, stride=2, dilation=2, pad=2), (3, 5, 5)).rows[0]
    one, four = jacobian(row, 1, 4), jacobian(row, 4, 4)
    assert four.entries == 16 * one.entries
    assert four.nonzeros == 4 * one.nonzeros


def test_pool_jacobians() -> None:
    """Max pooling: one entry per output (4), its windows 16 cells; average pooling with
    padding counts only real cells."""
    row = analyze_layer(MaxPool(kernel=2), (1, 4, 4)).rows[0]
    matrix = jacobian(row, 1, 4)
    assert (matrix.nonzeros, matrix.window_nonzeros) == (4, 16)
    row = analyze_layer(AvgPool(kernel=3, stride=1, pad=1), (1, 3, 3)).rows[0]
    assert jacobian(row, 1, 4).nonzeros == 49


def test_deconv_jacobian() -> None:
    """A stride-2 2×2 deconv on 1×2×2: every input reaches its own 2×2 block → 16."""
    row = analyze_layer(Deconv(filters=1, kernel=2, stride=2), (1, 2, 2)).rows[0]
    assert row.output == (1, 4, 4)
    assert jacobian(row, 1, 4).nonzeros == 16


def test_merge_jacobians() -> None:
    """add: one entry per output per input; the report's views put them in the document."""
    report = with_views(report_of(RESIDUAL), jacobian=True)
    document = report.to_document()
    add = document["layers"][2]["jacobian"]
    assert (add["rows"], add["cols"], add["nonzeros"]) == (64, 128, 128)
    assert jacobians(report).jacobians[2].nonzeros == 128


runner = CliRunner()


def test_cli_train_json_is_additive(tmp_path: object) -> None:
    """--train --json keeps every key of docs/spec.md §3 and adds the memory keys; saved bytes
    add up."""
    result = runner.invoke(
        app, ["analyze", "zoo:cs231n", "--train", "--optimizer", "adam", "--json", "-n", "4"]
    )
    assert result.exit_code == 0, result.output
    document = json.loads(result.stdout)
    assert set(document) >= {"name", "input", "batch", "dtype", "layers", "totals", "bn_folding"}
    assert set(document["totals"]) >= {"params", "activation_bytes", "peak_activation_bytes"}
    training = document["training"]
    assert training["batch"] == 4 and training["optimizer_copies"] == 2
    assert (
        sum(layer["saved_bytes"] for layer in document["layers"])
        == training["saved_activations_bytes"]
    )
    assert (
        max(layer["live_bytes"] for layer in document["layers"])
        == document["totals"]["peak_activation_bytes"]
    )


def test_cli_memory_budget() -> None:
    """--memory answers the largest batch, which the report's own arithmetic confirms."""
    result = runner.invoke(app, ["analyze", "zoo:cs231n", "--memory", "1MiB", "--json"])
    assert result.exit_code == 0, result.output
    fits = json.loads(result.stdout)["training"]["largest_batch"]
    report = analyze(parse_spec(CS231N))
    assert training_memory(report, "sgd", fits).total <= 2**20
    assert training_memory(report, "sgd", fits + 1).total > 2**20


CS231N = """
input: 3x32x32
layers:
  - conv: {filters: 10, kernel: 5, stride: 1, pad: 2}
  - batchnorm
  - relu
  - maxpool: {kernel: 2, stride: 2}
  - flatten
  - fc: {out: 10}
"""


def test_cli_table_shows_peak_and_training() -> None:
    """The table names the peak row and the training breakdown."""
    result = runner.invoke(app, ["analyze", "zoo:cs231n", "--train", "--jacobian", "-n", "8"])
    assert result.exit_code == 0, result.output
    assert "peak activations 640.0 KiB at #1 batchnorm1" in result.stdout
    assert "training batch 8, sgd" in result.stdout
    assert "Jacobian" in result.stdout


def test_cli_bad_memory_and_optimizer() -> None:
    """A bad size is a one-line error (exit 1); a bad optimizer is a usage error (exit 2)."""
    result = runner.invoke(app, ["analyze", "zoo:cs231n", "--memory", "lots"])
    assert result.exit_code == 1
    assert "--memory: expected a size like 16GiB" in result.stderr
    result = runner.invoke(app, ["analyze", "zoo:cs231n", "--train", "--optimizer", "lion"])
    assert result.exit_code == 2


def test_cli_layer_shows_the_jacobian() -> None:
    """`convcalc layer` prints the Jacobian in its table and its JSON."""
    args = ["layer", "--in", "1x3x3", "--filters", "1x3", "--pad", "1"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "9×9 = 324 B" in result.stdout
    document = json.loads(runner.invoke(app, [*args, "--json"]).stdout)
    assert document["layers"][0]["jacobian"]["nonzeros"] == 49
