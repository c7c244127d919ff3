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
from convcalc.render.torch_layers import TORCH_MODULES, Linear, UnsupportedLayer
from convcalc.sources import load
from convcalc.zoo import names
from tests.export_specs import random_spec

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


NOT_YET_EXPORTED = {
    "channelshuffle",
    "crop",
    "hardsigmoid",
    "identity",
    "layerscale",
    "mish",
    "pad",
    "pixelshuffle",
    "pixelunshuffle",
    "slice",
    "stochasticdepth",
    "upsample",
}
"""The kinds that came with named tensors and have no torch module in the exporter yet: a spec
using one is refused with one clear line (see the test below)."""


def test_every_layer_kind_has_a_torch_module_but_the_newest() -> None:
    kinds = {kind.type_name for kind in all_kinds().values() if kind.supported}
    assert kinds - set(TORCH_MODULES) == NOT_YET_EXPORTED


def test_a_kind_without_a_torch_module_is_one_clear_error() -> None:
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
    measured = {"params": 26_391, "buffers": 20, "macs": 793_600, "output": [1, 11]}
    assert torch_probe.differences(measured, report) == [
        "check: params: convcalc 26,390, PyTorch 26,391",
        "check: output shape: convcalc (1, 10), PyTorch (1, 11)",
    ]


def test_exported_modules_pass_ruff_with_default_settings(tmp_path: Path) -> None:
    """Every zoo model, every example and 40 random specs; ruff runs once on them all with
    ``--isolated`` (no project configuration: the defaults a user has)."""
    for number, source in enumerate(SOURCES):
        network = load(source)
        try:
            text = to_pytorch(network, analyze(network)).text
        except UnsupportedLayer:  # a kind in NOT_YET_EXPORTED
            continue
        (tmp_path / f"source{number}.py").write_text(text)
    for seed in range(40):
        _, network = random_spec(seed)
        (tmp_path / f"random{seed}.py").write_text(to_pytorch(network, analyze(network)).text)
    for command in (["check"], ["format", "--check"]):
        result = subprocess.run(
            [sys.executable, "-m", "ruff", *command, "--isolated", "--quiet", str(tmp_path)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stdout + result.stderr
