"""The exported PyTorch module against convcalc's analysis, and against torchvision.

Every zoo model, every example and 200 seeded random specs (tests/export_specs.py) are exported,
the module is imported and built on the ``meta`` device (shapes without memory or compute), and
its params, buffers (without BatchNorm's ``num_batches_tracked``, which convcalc does not count),
MACs (``FlopCounterMode`` FLOPs / 2, whole batch) and output shape must equal convcalc's.
Where the zoo's layout is torchvision's, torchvision's ``state_dict`` must load strictly into the
exported model, which then computes exactly torchvision's outputs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import analyze
from convcalc.loader import parse_spec
from convcalc.render.pytorch import to_pytorch
from convcalc.render.torch_layers import UnsupportedLayer
from convcalc.sources import load
from convcalc.spec import Network
from convcalc.zoo import names
from tests.export_specs import random_spec

torch = pytest.importorskip(
    "torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
torchvision = pytest.importorskip(
    "torchvision", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

pytestmark = [pytest.mark.oracle, pytest.mark.usefixtures("one_torch_thread")]

ROOT = Path(__file__).resolve().parent.parent
SOURCES = [f"zoo:{name}" for name in names()] + [
    str(path)
    for path in [*sorted((ROOT / "examples").glob("*.yaml")), ROOT / "tests" / "every-kind.yaml"]
]
LOADS_STRICT = [
    "alexnet",
    "googlenet",
    "resnet18",
    "resnet34",
    "resnet50",
    "resnet101",
    "resnet152",
    "squeezenet1_0",
    "squeezenet1_1",
]
"""The zoo models whose exported module takes torchvision's weights (the README lists them)."""


def exported_class(network: Network) -> Any:
    """The network's class from its exported module (imported without running its main)."""
    module = to_pytorch(network, analyze(network))
    namespace: dict[str, Any] = {"__name__": "exported"}
    exec(compile(module.text, f"<export of {network.name}>", "exec"), namespace)
    return namespace[module.class_name]


def torchvision_model(name: str) -> Any:
    """torchvision's model ``name`` with random weights (GoogLeNet without the auxiliary heads,
    which only run in training, and without scipy's slow truncated-normal init)."""
    options: dict[str, Any] = {"weights": None}
    if name == "googlenet":
        options |= {"aux_logits": False, "init_weights": False}
    return getattr(torchvision.models, name)(**options)


def assert_exact(network: Network) -> None:
    """The exported module's params, buffers, MACs and output shape are convcalc's."""
    report = analyze(network)
    with torch.device("meta"):
        model = exported_class(network)().eval()
    buffers = sum(
        buffer.numel()
        for name, buffer in model.named_buffers()
        if not name.endswith("num_batches_tracked")
    )
    x = torch.zeros(report.batch, *report.input, device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        output = model(x)
    assert sum(parameter.numel() for parameter in model.parameters()) == report.totals.params
    assert buffers == report.totals.buffers
    assert counter.get_total_flops() == 2 * report.totals.macs
    assert tuple(output.shape) == (report.batch, *report.rows[-1].output)


@pytest.mark.parametrize("source", SOURCES, ids=lambda source: Path(source).stem)
def test_zoo_models_and_examples_export_exactly(source: str) -> None:
    try:
        assert_exact(load(source))
    except UnsupportedLayer as error:
        pytest.skip(f"{error} (the newest kinds)")


def test_a_vector_network_with_awkward_names_exports_exactly() -> None:
    """A vector input, names that are keywords or ``nn.Module`` members, a name that starts
    with a digit: all become valid attributes and classes, and the numbers stay exact."""
    assert_exact(
        parse_spec(
            "name: 2mlp\n"
            "input: 100\n"
            "batch: 4\n"
            "blocks:\n"
            "  forward:\n"
            "    params: {width: 32}\n"
            "    layers:\n"
            "      - {name: class, fc: {out: $width}}\n"
            "      - {name: forward, type: bn}\n"
            "      - relu\n"
            "layers:\n"
            "  - {use: forward, name: train}\n"
            "  - {use: forward, with: {width: 16}}\n"
            "  - layernorm\n"
            "  - fc: {out: 3}\n"
            "  - softmax\n",
            "mlp.yaml",
        )
    )


@pytest.mark.parametrize("chunk", range(4))
def test_random_specs_export_exactly(chunk: int) -> None:
    for seed in range(chunk * 50, chunk * 50 + 50):
        text, network = random_spec(seed)
        try:
            assert_exact(network)
        except AssertionError as error:
            raise AssertionError(f"seed {seed}:\n{text}") from error


@pytest.mark.parametrize("name", LOADS_STRICT)
def test_torchvision_weights_load_strictly(name: str) -> None:
    with torch.device("meta"):
        model = exported_class(load(f"zoo:{name}"))()
        reference = torchvision_model(name)
    model.load_state_dict(reference.state_dict(), strict=True, assign=True)


@pytest.mark.parametrize("name", ["alexnet", "googlenet", "resnet18", "squeezenet1_1"])
def test_with_torchvision_weights_the_outputs_are_torchvisions(name: str) -> None:
    torch.manual_seed(0)
    model = exported_class(load(f"zoo:{name}"))().eval()
    reference = torchvision_model(name).eval()
    model.load_state_dict(reference.state_dict(), strict=True)
    x = torch.randn(2, 3, 96, 96)
    with torch.no_grad():
        assert torch.equal(model(x), reference(x))


def test_the_exported_resnet50_runs_as_a_script(tmp_path: Path) -> None:
    path = tmp_path / "r50.py"
    command = [sys.executable, "-m", "convcalc", "export", "zoo:resnet50", "--to", "pytorch"]
    subprocess.run([*command, "-o", str(path)], check=True, cwd=ROOT, timeout=120)
    result = subprocess.run(
        [sys.executable, str(path)], capture_output=True, text=True, check=True, timeout=300
    )
    assert result.stdout == "torch.Size([1, 1000])\n25,557,032 params\n"


def test_check_finds_no_difference(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "convcalc", "export", "examples/resnet-blocks.yaml", "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == "check: PyTorch's params, buffers, MACs and output shape match\n"
    assert result.stdout.startswith('"""tiny-resnet, exported by convcalc')
