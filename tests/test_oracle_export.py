"""The exported PyTorch module against convcalc's analysis, and against torchvision.

Every zoo model, every example, every layer kind's samples, 200 seeded random specs and 200
random graphs (tests/export_specs.py) are exported, the module is imported and built on the
``meta`` device (shapes without memory or compute), and its params, buffers (without
BatchNorm's ``num_batches_tracked``, which convcalc does not count), MACs (``FlopCounterMode``
FLOPs / 2, whole batch) and output shape(s) must equal convcalc's. MACs compare exactly because
both count only conv, deconv and fc (matrix products): FlopCounterMode counts no interpolation,
elementwise op (add, mul, activations) or norm, and convcalc counts those as 0 MACs.

The graphs are also run on values: the exported ``forward`` must compute what the analysis's rows
compute when each row's module reads the rows it names (``Row.sources``), with the same
parameter values (filled by shape), which checks the wiring of named tensors. Where the zoo's
layout is torchvision's, torchvision's ``state_dict`` must load strictly into the exported model,
which then computes exactly torchvision's outputs.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import analyze
from convcalc.errors import ConvcalcError
from convcalc.layers import all_kinds
from convcalc.loader import parse_spec
from convcalc.render.code import flat
from convcalc.render.pytorch import to_pytorch
from convcalc.render.torch_helpers import HELPERS
from convcalc.render.torch_layers import Linear, Site, torch_modules
from convcalc.report import NETWORK_INPUT, Report
from convcalc.sources import load
from convcalc.spec import Network
from convcalc.zoo import names
from tests.export_specs import SAMPLES, random_graph, random_spec
from tests.test_export import TOP_LEVEL_PARAMS

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
    outputs = output if isinstance(output, tuple) else (output,)
    assert sum(parameter.numel() for parameter in model.parameters()) == report.totals.params
    assert buffers == report.totals.buffers
    assert counter.get_total_flops() == 2 * report.totals.macs
    assert [tuple(tensor.shape) for tensor in outputs] == [
        (report.batch, *tensor.shape) for tensor in report.outputs
    ]


def helper_namespace() -> dict[str, Any]:
    """torch, nn and the exporter's helper classes, to build modules from their code."""
    namespace: dict[str, Any] = {"torch": torch, "nn": torch.nn}
    for source in HELPERS.values():
        exec(source, namespace)
    return namespace


Module: Any = torch.nn.Module


class Rows(Module):  # type: ignore[misc]
    """The analysis's rows in torch: each leaf row's module (as the exporter writes that one
    layer) run on the rows it reads, merges as the sum, product or concatenation of theirs."""

    def __init__(self, report: Report) -> None:
        super().__init__()
        self.report = report
        namespace = helper_namespace()
        modules = []
        for row in report.rows:
            if row.layer is None:
                modules.append(torch.nn.Identity())
                continue
            site = Site(row.layer, row.input, row.output, Linear.of(row.input[0]), {})
            code = ", ".join(flat(module) for module in torch_modules(site).modules)
            modules.append(eval(f"nn.Sequential({code})", namespace))
        self.layers = torch.nn.ModuleList(modules)

    def forward(self, x: Any) -> tuple[Any, ...]:
        values: dict[int, Any] = {NETWORK_INPUT: x}
        for row, module in zip(self.report.rows, self.layers, strict=True):
            inputs = [values[source] for source in row.sources]
            if row.type == "add":
                values[row.index] = sum(inputs[1:], inputs[0])
            elif row.type == "mul":
                values[row.index] = inputs[0]
                for factor in inputs[1:]:
                    values[row.index] = values[row.index] * factor
            elif row.type == "concat":
                values[row.index] = torch.cat(inputs, 1)
            else:
                values[row.index] = module(inputs[0])
        return tuple(values[output.row] for output in self.report.outputs)


def filled(model: Any) -> Any:
    """``model`` in double precision with every parameter a fixed function of its shape."""
    model = model.double().eval()
    with torch.no_grad():
        for parameter in model.parameters():
            ramp = torch.arange(parameter.numel(), dtype=torch.float64)
            parameter.copy_((ramp * 0.7 + parameter.numel()).sin().reshape(parameter.shape))
    return model


def assert_same_values(network: Network) -> None:
    """The exported module computes what the rows compute, output by output."""
    report = analyze(network)
    exported = filled(exported_class(network)())
    rows = filled(Rows(report))
    x = torch.randn(report.batch, *report.input, dtype=torch.float64)
    with torch.no_grad():
        output = exported(x)
        expected = rows(x)
    outputs = output if isinstance(output, tuple) else (output,)
    assert len(outputs) == len(expected)
    for ours, theirs in zip(outputs, expected, strict=True):
        torch.testing.assert_close(ours, theirs, rtol=1e-9, atol=1e-9)


def test_every_kind_has_samples() -> None:
    """Every kind convcalc computes (an unsupported op is refused: see the ONNX tests)."""
    assert set(SAMPLES) == {kind.type_name for kind in all_kinds().values() if kind.supported}


IMAGE_AND_VECTOR = (
    "3x12x12\nlayers:\n  - conv: {filters: 4, kernel: 1}",
    "3\nlayers:\n  - fc: {out: 4}",
)
"""The starts of a kind's two specs: an image of 4×12×12 and a vector of 4."""


@pytest.mark.parametrize("kind", sorted(SAMPLES))
def test_every_kind_exports_exactly(kind: str) -> None:
    """Each sample of the kind after a conv (on a 4×12×12 image) and after an fc (on a vector of
    4), wherever the kind takes that input (at least one of the two)."""
    for sample in SAMPLES[kind]:
        networks = []
        for first in (
            "3x12x12\nlayers:\n  - conv: {filters: 4, kernel: 1}",
            "3\nlayers:\n  - fc: {out: 4}",
        ):
            try:
                network = parse_spec(f"input: {first}\n  - {sample}\nbatch: 2\n", "kind.yaml")
                analyze(network)
            except ConvcalcError:
                continue
            networks.append(network)
        assert networks, sample
        for network in networks:
            assert_exact(network)
            assert_same_values(network)


@pytest.mark.parametrize("source", SOURCES, ids=lambda source: Path(source).stem)
def test_zoo_models_and_examples_export_exactly(source: str) -> None:
    assert_exact(load(source))


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


def test_top_level_parameters_export_exactly() -> None:
    assert_exact(parse_spec(TOP_LEVEL_PARAMS, "params.yaml"))


@pytest.mark.parametrize("chunk", range(4))
def test_random_specs_export_exactly(chunk: int) -> None:
    for seed in range(chunk * 50, chunk * 50 + 50):
        text, network = random_spec(seed)
        try:
            assert_exact(network)
        except AssertionError as error:
            raise AssertionError(f"seed {seed}:\n{text}") from error


@pytest.mark.parametrize("chunk", range(4))
def test_random_graphs_export_exactly_and_compute_the_rows_values(chunk: int) -> None:
    for seed in range(chunk * 50, chunk * 50 + 50):
        text, network = random_graph(seed)
        try:
            assert_exact(network)
            assert_same_values(network)
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


@pytest.mark.parametrize(
    ("source", "name", "shapes"),
    [
        ("examples/resnet-blocks.yaml", "tiny-resnet", "shape"),
        ("zoo:small_fpn", "small_fpn", "shapes"),
    ],
)
def test_check_finds_no_difference(source: str, name: str, shapes: str) -> None:
    """A network, and a graph with two outputs whose shapes are compared one by one."""
    result = subprocess.run(
        [sys.executable, "-m", "convcalc", "export", source, "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == f"check: PyTorch's params, buffers, MACs and output {shapes} match\n"
    assert result.stdout.startswith(f'"""{name}, exported by convcalc')
