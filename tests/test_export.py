"""``convcalc export --to pytorch`` without PyTorch: the code's layout and names, the CLI, and
``ruff check`` / ``ruff format --check`` (default settings) on every exported module.

The numbers of the exported modules are checked against PyTorch in tests/test_oracle_export.py.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from convcalc.analysis import analyze
from convcalc.cli import app
from convcalc.layers import all_kinds
from convcalc.loader import parse_spec
from convcalc.render import torch_probe
from convcalc.render.code import Arg, Call, Splat, layout, literal
from convcalc.render.pytorch import class_name, identifier, to_pytorch
from convcalc.render.torch_layers import TORCH_MODULES, Linear
from convcalc.sources import load
from convcalc.zoo import names
from tests.export_specs import random_graph, random_spec

ROOT = Path(__file__).resolve().parent.parent
GOLDEN = ROOT / "tests" / "goldens" / "export" / "resnet-blocks.py"
UPDATE_GOLDENS = os.environ.get("CONVCALC_UPDATE_GOLDENS") == "1"
SOURCES = [f"zoo:{name}" for name in names()] + [
    str(path) for path in sorted((ROOT / "examples").glob("*.yaml"))
]
runner = CliRunner()


def exported(text: str) -> str:
    """The module exported from spec text."""
    network = parse_spec(text, "net.yaml")
    return to_pytorch(network, analyze(network)).text


def test_every_layer_kind_has_a_torch_module() -> None:
    """Every kind convcalc computes (an unsupported op has no code: see the ONNX tests)."""
    kinds = {kind.type_name for kind in all_kinds().values() if kind.supported}
    assert kinds == set(TORCH_MODULES)


def test_a_kind_without_a_torch_module_is_one_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(TORCH_MODULES, "mish")
    result = runner.invoke(app, ["export", "-"], input="input: 3x8x8\nlayers: [mish]\n")
    assert result.exit_code == 1
    assert result.stderr == "export: no PyTorch module for `mish` layers\n"


def test_names_become_identifiers_and_class_names() -> None:
    assert identifier("3x3") == "_3x3"
    assert identifier("class") == "class_"
    assert identifier("forward") == "forward_"
    assert identifier("stage-2") == "stage_2"
    assert class_name("tiny-resnet") == "TinyResnet"
    assert class_name("resnet50") == "Resnet50"
    assert class_name("3d") == "Net3d"


def test_channel_expressions() -> None:
    total = Linear.of("c1") + Linear.of("c3") + Linear.of(64)
    assert str(total) == "c1 + c3 + 64"
    assert str(Linear.of("width").times(49)) == "width * 49"
    assert str(total.substitute({"c1": Linear.of(8), "c3": Linear.of("x")})) == "x + 72"


def test_literals_are_written_as_ruff_format_writes_them() -> None:
    assert [literal(value) for value in (True, None, "same", (3, 5), 0.001)] == [
        "True",
        "None",
        '"same"',
        "(3, 5)",
        "0.001",
    ]


def test_a_call_that_does_not_fit_gets_one_argument_per_line() -> None:
    call = Call("nn.Conv2d", tuple(Arg(f"argument{number}") for number in range(12)))
    lines = layout(call, 1, head="self.conv = ")
    assert lines[0] == "    self.conv = nn.Conv2d("
    assert lines[1] == "        argument0,"
    assert lines[-1] == "    )"
    assert layout(Splat("Block(8)", "blocks"), 0) == ["*[Block(8) for _ in range(blocks)]"]


def test_the_resnet_example_exports_as_the_golden_module() -> None:
    text = exported((ROOT / "examples" / "resnet-blocks.yaml").read_text())
    text = text.replace("from net.yaml", "from examples/resnet-blocks.yaml")
    if UPDATE_GOLDENS:
        GOLDEN.parent.mkdir(exist_ok=True)
        GOLDEN.write_text(text)
        pytest.fail(f"rewrote {GOLDEN.name}; run again without CONVCALC_UPDATE_GOLDENS")
    assert text == GOLDEN.read_text()


def test_block_parameters_become_typed_constructor_arguments() -> None:
    text = exported(
        "input: 3x32x32\n"
        "blocks:\n"
        "  unit:\n"
        "    params: {filters: 8, kernel: 3}\n"
        "    layers:\n"
        "      - conv: {filters: $filters, kernel: $kernel, pad: 1}\n"
        "      - relu\n"
        "layers:\n"
        "  - use: unit\n"
        "  - use: unit\n"
        "    with: {filters: 16}\n"
    )
    assert "class Unit(nn.Sequential):" in text
    assert "def __init__(self, in_channels: int, filters: int = 8, kernel: int = 3)" in text
    assert "nn.Conv2d(in_channels, filters, kernel, padding=1)" in text
    assert "Unit(3),  # 8×32×32" in text
    assert "Unit(8, filters=16),  # 16×32×32" in text


TOP_LEVEL_PARAMS = (
    "input: 3x32x32\n"
    "params: {width: 16, depth: 2}\n"
    "blocks:\n"
    "  unit:\n"
    "    params: {stride: 1}\n"
    "    layers:\n"
    "      - conv: {filters: $width, kernel: 3, pad: 1, stride: $stride}\n"
    "      - relu\n"
    "layers:\n"
    "  - {use: unit, with: {stride: 2}}\n"
    "  - repeat: {times: $depth, layers: [use: unit]}\n"
    "  - globalavgpool\n"
    "  - flatten\n"
    "  - fc: {out: $width}\n"
)
"""A spec whose top-level parameters are read at the top and inside a block."""


def test_top_level_parameters_become_the_networks_constructor_arguments() -> None:
    text = exported(TOP_LEVEL_PARAMS)
    assert "def __init__(self, in_channels: int, width: int = 16, stride: int = 1)" in text
    assert "nn.Conv2d(in_channels, width, 3, stride=stride, padding=1)" in text
    assert "def __init__(self, width: int = 16, depth: int = 2) -> None:" in text
    assert "*[Unit(width, width=width) for _ in range(depth)],  # 16×16×16" in text
    assert "Unit(3, width=width, stride=2),  # 16×16×16" in text
    assert "nn.Linear(width, width),  # 16" in text


def test_same_padding_is_torchs_only_where_torch_means_the_same() -> None:
    text = exported(
        "input: 3x8x8\n"
        "layers:\n"
        "  - conv: {filters: 4, kernel: 3, pad: same}\n"
        "  - conv: {filters: 4, kernel: 3, stride: 2, pad: same}\n"
        "  - maxpool: {kernel: 3, stride: 2, pad: same}\n"
    )
    assert 'nn.Conv2d(3, 4, 3, padding="same"),  # 4×8×8' in text
    assert "nn.ZeroPad2d((0, 1, 0, 1)),\n" in text  # TensorFlow's odd cell: right and bottom
    assert "nn.Conv2d(4, 4, 3, stride=2),  # 4×4×4" in text
    assert 'nn.ConstantPad2d((0, 1, 0, 1), float("-inf")),\n' in text


def test_residuals_and_concats_have_named_locals() -> None:
    text = exported(
        "input: 4x8x8\n"
        "layers:\n"
        "  - residual:\n"
        "      body: [{name: conv, conv: {filters: 4, kernel: 3, pad: 1}}]\n"
        "  - concat:\n"
        "      branches: [[{conv: {filters: 2, kernel: 1}}], []]\n"
    )
    assert "        shortcut = x\n        x = self.conv(x)  # 4×8×8\n" in text
    assert "        x = x + shortcut  # 4×8×8\n" in text
    assert "        branch1 = self.branch1(x)  # 2×8×8\n" in text
    assert "        x = torch.cat([branch1, x], dim=1)  # 6×8×8\n" in text


def test_export_writes_the_module_to_a_file(tmp_path: Path) -> None:
    target = tmp_path / "net.py"
    result = runner.invoke(app, ["export", "zoo:lenet5", "--to", "pytorch", "-o", str(target)])
    assert result.exit_code == 0, result.output
    assert result.output == ""
    assert "class Lenet5(nn.Module):" in target.read_text()


def test_export_refuses_another_target() -> None:
    result = runner.invoke(app, ["export", "zoo:lenet5", "--to", "onnx"])
    assert result.exit_code == 2


def test_check_says_when_torch_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name: None if name == "torch" else real(name)
    )
    result = runner.invoke(app, ["export", "zoo:cs231n", "--check"])
    assert result.exit_code == 1
    assert result.stderr == ("--check needs PyTorch, which is not installed (pip install torch)\n")


def test_check_writes_one_line_per_difference() -> None:
    report = analyze(load("zoo:cs231n"))
    measured = {"params": 26_391, "buffers": 20, "macs": 793_600, "outputs": [[1, 11]]}
    assert torch_probe.differences(measured, report) == [
        "check: params: convcalc 26,390, PyTorch 26,391",
        "check: output shape: convcalc (1, 10), PyTorch (1, 11)",
    ]


def test_check_compares_each_output_by_name() -> None:
    report = analyze(load("zoo:small_fpn"))
    measured = {
        "params": report.totals.params,
        "buffers": 0,
        "macs": report.totals.macs,
        "outputs": [[1, 18, 64, 64], [1, 18, 16, 16]],
    }
    assert torch_probe.differences(measured, report) == [
        "check: output `head4` shape: convcalc (1, 18, 32, 32), PyTorch (1, 18, 16, 16)"
    ]
    assert torch_probe.differences({**measured, "outputs": [[1, 18, 64, 64]]}, report) == [
        "check: outputs: convcalc 2, PyTorch 1"
    ]


def test_graphs_have_named_tensors_and_several_outputs() -> None:
    text = exported(
        "input: 3x16x16\n"
        "layers:\n"
        "  - {name: c2, conv: {filters: 4, kernel: 3, stride: 2, pad: 1}}\n"
        "  - {name: c3, conv: {filters: 8, kernel: 3, stride: 2, pad: 1}}\n"
        "  - {name: up, upsample: {scale: 2}}\n"
        "  - {name: lat, conv: {filters: 8, kernel: 1}, from: c2}\n"
        "  - {name: p2, add: {from: [lat, up]}}\n"
        "  - gate:\n"
        "      body: [gap, {conv: {filters: 8, kernel: 1}}, sigmoid]\n"
        "outputs: [gate1, c3]\n"
    )
    assert "    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:\n" in text
    assert "        c2 = self.c2(x)  # 4×8×8\n        c3 = self.c3(c2)  # 8×4×4\n" in text
    assert "        lat = self.lat(c2)  # 8×8×8\n        x = lat + up  # 8×8×8\n" in text
    assert "        scale = self.gate1(x)  # 8×1×1\n        gate1 = x * scale  # 8×8×8\n" in text
    assert "        return gate1, c3\n" in text
    assert "    for output in outputs:\n        print(output.shape)\n" in text


def test_a_block_reads_an_outside_tensor_as_an_argument_of_forward() -> None:
    text = exported(
        "input: 3x8x8\n"
        "blocks:\n"
        "  fuse:\n"
        "    params: {skip: input}\n"
        "    layers:\n"
        "      - {name: side, conv: {filters: 4, kernel: 1}, from: $skip}\n"
        "      - concat: {from: [input, side]}\n"
        "layers:\n"
        "  - {name: stem, conv: {filters: 4, kernel: 1}}\n"
        "  - relu\n"
        "  - {use: fuse, with: {skip: stem}}\n"
    )
    assert "def __init__(self, skip_channels: int) -> None:" in text
    assert "self.side = nn.Conv2d(skip_channels, 4, 1)" in text
    assert "def forward(self, x: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:" in text
    assert "        side = self.side(skip)  # 4×8×8\n" in text
    # `x` stays the block's input, which it reads again.
    assert "        out = torch.cat([x, side], dim=1)  # 8×8×8\n        return out\n" in text
    assert "        x = self.fuse1(x, stem)  # 8×8×8\n" in text
    assert "self.fuse1 = Fuse(4)" in text


def test_exported_modules_pass_ruff_with_default_settings(tmp_path: Path) -> None:
    """Every zoo model, every example, 40 random specs and 40 random graphs; ruff runs once on
    them all with ``--isolated`` (no project configuration: the defaults a user has)."""
    for number, source in enumerate(SOURCES):
        network = load(source)
        (tmp_path / f"source{number}.py").write_text(to_pytorch(network, analyze(network)).text)
    for seed in range(40):
        for kind, spec in (("random", random_spec), ("graph", random_graph)):
            _, network = spec(seed)
            text = to_pytorch(network, analyze(network)).text
            (tmp_path / f"{kind}{seed}.py").write_text(text)
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--isolated", "--quiet", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
