"""Training memory and Jacobians against PyTorch: saved tensors and autograd's own Jacobians."""

from __future__ import annotations

import random
from typing import Any

import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
nn = torch.nn

from convcalc.analysis import analyze  # noqa: E402
from convcalc.jacobian import jacobian  # noqa: E402
from convcalc.layer_command import analyze_layer  # noqa: E402
from convcalc.layers import dense  # noqa: E402
from convcalc.loader import parse_spec  # noqa: E402
from convcalc.memory import training_memory  # noqa: E402
from convcalc.report import Report  # noqa: E402
from tests.torch_build import Graph, module_of  # noqa: E402

pytestmark = pytest.mark.oracle


def saved_bytes(model: Any, x: Any) -> int:
    """Bytes of the distinct tensors autograd saves in one training forward pass, not counting
    the model's params and buffers. Tensors are the same when they start at the same address and
    span the same bytes (a flatten's view of its input is the same tensor)."""
    state = {t.data_ptr() for t in (*model.parameters(), *model.buffers())}
    seen: dict[tuple[int, int], int] = {}

    def pack(tensor: Any) -> Any:
        if tensor.data_ptr() not in state:
            nbytes = tensor.numel() * tensor.element_size()
            seen[(tensor.data_ptr(), nbytes)] = nbytes
        return tensor

    model.train()
    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        model(x)
    return sum(seen.values())


def measured_and_modelled(report: Report) -> tuple[int, int]:
    """(PyTorch's saved bytes, convcalc's) for the report's network at its batch."""
    torch.manual_seed(0)
    model = Graph(report)
    x = torch.randn(report.batch, *report.input)
    return saved_bytes(model, x), training_memory(report).saved_total


SINGLE_LAYERS = [
    "conv: {filters: 6, kernel: 3, pad: 1}",
    "deconv: {filters: 6, kernel: 3, stride: 2}",
    "batchnorm",
    "relu",
    "relu6",
    "leakyrelu",
    "elu",
    "gelu",
    "silu",
    "sigmoid",
    "tanh",
    "hardswish",
    "softmax",
    "prelu",
    "dropout",
    "maxpool: {kernel: 3, stride: 2, pad: 1}",
    "avgpool: {kernel: 2}",
    "adaptiveavgpool: {output: 2}",
    "adaptivemaxpool: {output: 2}",
    "globalavgpool",
    "globalmaxpool",
    "groupnorm: {groups: 2}",
]


@pytest.mark.parametrize("layer", SINGLE_LAYERS)
def test_single_layer_after_a_conv(layer: str) -> None:
    """Each layer kind, placed after a conv so that its input needs a gradient, keeps exactly
    what convcalc says (plus the conv's own input)."""
    text = f"input: 4x8x8\nbatch: 2\nlayers:\n  - conv: {{filters: 4, kernel: 1}}\n  - {layer}\n"
    measured, modelled = measured_and_modelled(analyze(parse_spec(text)))
    assert modelled == measured


@pytest.mark.parametrize("layer", ["relu", "maxpool: {kernel: 2}", "batchnorm: {affine: false}"])
def test_parameter_free_layer_on_the_input_keeps_nothing(layer: str) -> None:
    """Autograd does not record a layer whose input needs no gradient and that has no params."""
    text = f"input: 4x8x8\nbatch: 2\nlayers:\n  - {layer}\n  - conv: {{filters: 4, kernel: 1}}\n"
    measured, modelled = measured_and_modelled(analyze(parse_spec(text)))
    assert modelled == measured


def random_spec(seed: int) -> str:
    """A small random network with residuals and a concat, in spec YAML."""
    rng = random.Random(seed)
    channels = rng.choice([4, 8])
    lines = [f"input: 3x{rng.choice([16, 20])}x16", f"batch: {rng.choice([1, 3])}", "layers:"]
    lines.append(f"  - conv: {{filters: {channels}, kernel: 3, pad: 1}}")
    for _ in range(rng.randint(2, 4)):
        kind = rng.choice(["plain", "residual", "concat", "pool"])
        act = rng.choice(["relu", "sigmoid", "gelu", "tanh", "leakyrelu"])
        if kind == "plain":
            lines += [
                f"  - conv: {{filters: {channels}, kernel: 3, pad: 1}}",
                "  - bn",
                f"  - {act}",
            ]
        elif kind == "residual":
            lines += [
                "  - residual:",
                "      body:",
                f"        - conv: {{filters: {channels}, kernel: 3, pad: 1, bias: false}}",
                "        - bn",
                f"        - {act}",
                f"        - conv: {{filters: {channels}, kernel: 3, pad: 1}}",
                f"  - {act}",
            ]
        elif kind == "concat":
            lines += [
                "  - concat:",
                "      branches:",
                f"        - [{{conv: {{filters: {channels}, kernel: 1}}}}, {act}]",
                "        - []",
                f"  - conv: {{filters: {channels}, kernel: 1}}",
            ]
        else:
            pool = rng.choice(["maxpool", "avgpool"])
            lines.append(f"  - {pool}: {{kernel: 2, stride: 2}}")
    lines += ["  - dropout: {p: 0.3}", "  - gap", "  - flatten", "  - fc: {out: 5}"]
    return "\n".join(lines) + "\n"


@pytest.mark.parametrize("seed", range(4))
def test_random_networks(seed: int) -> None:
    """Random nets with residuals, concats, pools, BN and dropout keep what PyTorch keeps."""
    measured, modelled = measured_and_modelled(analyze(parse_spec(random_spec(seed))))
    assert modelled == measured


RESNET18 = """
input: 3x64x64
batch: 2
blocks:
  basic:
    params: {filters: 64, stride: 1}
    layers:
      - residual:
          body:
            - conv: {filters: $filters, kernel: 3, stride: $stride, pad: 1, bias: false}
            - bn
            - relu
            - conv: {filters: $filters, kernel: 3, pad: 1, bias: false}
            - bn
      - relu
  down:
    params: {filters: 128}
    layers:
      - residual:
          body:
            - conv: {filters: $filters, kernel: 3, stride: 2, pad: 1, bias: false}
            - bn
            - relu
            - conv: {filters: $filters, kernel: 3, pad: 1, bias: false}
            - bn
          shortcut: project
      - relu
layers:
  - conv: {filters: 64, kernel: 7, stride: 2, pad: 3, bias: false}
  - bn
  - relu
  - maxpool: {kernel: 3, stride: 2, pad: 1}
  - use: basic
  - use: basic
  - use: down
    with: {filters: 128}
  - use: basic
    with: {filters: 128}
  - use: down
    with: {filters: 256}
  - use: basic
    with: {filters: 256}
  - use: down
    with: {filters: 512}
  - use: basic
    with: {filters: 512}
  - gap
  - flatten
  - fc: {out: 1000}
"""


def test_torchvision_resnet18() -> None:
    """torchvision's own resnet18 (in-place ReLUs and adds) at 3×64×64, batch 2."""
    torchvision = pytest.importorskip("torchvision")
    report = analyze(parse_spec(RESNET18))
    assert report.totals.params == 11_689_512
    model = torchvision.models.resnet18()
    measured = saved_bytes(model, torch.randn(2, 3, 64, 64))
    modelled = training_memory(report).saved_total
    assert modelled == measured


def realised_nonzeros(model: Any, shape: tuple[int, ...], positive: bool = False) -> int:
    """Non-zero entries of the Jacobian autograd computes for ``model`` at a random input."""
    torch.manual_seed(1)
    x = torch.randn(*shape, dtype=torch.float64)
    if positive:
        x = x.abs() + 0.1
    model = model.double().eval()
    matrix = torch.autograd.functional.jacobian(model, x, vectorize=True)
    return int((matrix != 0).sum())


JACOBIAN_LAYERS = [
    ("conv", {"filters": 3, "kernel": 3, "pad": 1}),
    ("conv", {"filters": 4, "kernel": 3, "stride": 2, "pad": 1}),
    ("conv", {"filters": 4, "kernel": 3, "stride": 2, "pad": 2, "dilation": 2}),
    ("conv", {"filters": 4, "kernel": (3, 2), "stride": (1, 3), "pad": (0, 1), "groups": 2}),
    ("conv", {"filters": 4, "kernel": 4, "stride": 3, "pad": 1}),
    ("deconv", {"filters": 2, "kernel": 3, "stride": 2, "pad": 1}),
    ("deconv", {"filters": 4, "kernel": 2, "stride": 3, "groups": 2, "output_padding": 1}),
    ("avgpool", {"kernel": 3, "stride": 2, "pad": 1}),
    ("avgpool", {"kernel": 2, "stride": 2, "ceil_mode": True}),
    ("maxpool", {"kernel": 3, "stride": 2, "pad": 1}),
    ("maxpool", {"kernel": 2, "stride": 1, "dilation": 2}),
    ("adaptiveavgpool", {"output": 3}),
    ("adaptivemaxpool", {"output": 2}),
    ("globalavgpool", {}),
    ("globalmaxpool", {}),
    ("batchnorm", {}),
    ("sigmoid", {}),
    ("tanh", {}),
    ("relu", {}),
    ("softmax", {}),
    ("groupnorm", {"groups": 2}),
    ("flatten", {}),
]


@pytest.mark.parametrize(("kind", "options"), JACOBIAN_LAYERS)
def test_jacobian_nonzeros_match_autograd(kind: str, options: dict[str, Any]) -> None:
    """The exact non-zero count of small layers' Jacobians, batch 2, against autograd's."""
    from convcalc.layers import LAYER_KINDS

    layer = LAYER_KINDS[kind](**options)
    # Small inputs keep autograd's row-by-row Jacobian fast; a deconv's output is the larger.
    shape = (4, 3, 3) if kind == "deconv" else (4, 6, 5)
    row = analyze_layer(layer, shape, batch=2).rows[0]
    model = module_of(layer, shape)
    if kind == "batchnorm":
        model = nn.BatchNorm2d(shape[0])
        with torch.no_grad():
            model.weight.uniform_(0.5, 1.5)
    # ReLU's derivative is 0 for negative inputs: the structural diagonal shows on positive ones.
    measured = realised_nonzeros(model, (2, *shape), positive=kind == "relu")
    assert jacobian(row, 2, 4).nonzeros == measured


def test_fc_jacobian_is_zero_across_samples() -> None:
    """fc: D_in entries per output within a sample, none across samples."""
    row = analyze_layer(dense.FC(out=3), (5,), batch=2).rows[0]
    model = nn.Linear(5, 3)
    assert jacobian(row, 2, 4).nonzeros == realised_nonzeros(model, (2, 5)) == 2 * 3 * 5


@pytest.mark.parametrize(
    ("model_name", "batch"),
    [("resnet50", 2), ("mobilenet_v2", 2), ("densenet121", 1), ("googlenet", 1)],
)
def test_zoo_models_saved_tensors(model_name: str, batch: int) -> None:
    """The zoo's specs at 224×224 keep what torchvision's models keep in a training forward."""
    torchvision = pytest.importorskip("torchvision")
    from dataclasses import replace

    from convcalc.sources import load

    report = analyze(replace(load(f"zoo:{model_name}"), batch=batch))
    options = {"aux_logits": False, "init_weights": False} if model_name == "googlenet" else {}
    model = getattr(torchvision.models, model_name)(weights=None, **options)
    measured = saved_bytes(model, torch.randn(batch, 3, 224, 224))
    modelled = training_memory(report).saved_total
    assert modelled == measured
