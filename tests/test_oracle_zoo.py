"""Every zoo spec against the real model: torchvision's (or, for LeNet-5 and the notes' small
net, the same layers in torch.nn).

Models are built on the ``meta`` device with ``weights=None``: no download, no memory for
weights, and FlopCounterMode still sees every conv and matmul of a forward pass, so one
forward of a batch-1 meta tensor gives the MACs (flops / 2) and, through forward hooks, the
shape after every stage. Buffers: torch keeps a 1-element ``num_batches_tracked`` per batchnorm
that convcalc does not count (it counts the running mean and variance, 2C, as docs/spec.md says).
"""

from __future__ import annotations

from functools import cache
from typing import Any

import pytest

from convcalc.analysis import analyze
from convcalc.report import Report
from convcalc.sources import load

torch = pytest.importorskip(
    "torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
torchvision = pytest.importorskip(
    "torchvision", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

pytestmark = pytest.mark.oracle


@pytest.fixture(autouse=True)
def one_thread() -> Any:
    """One intra-op thread: on the shared 2-core test machine, torch's default of one thread per
    core made the small CPU probes below 40× slower (contention), not faster."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def vgg_stages(convs: list[int], bn: bool) -> dict[str, str]:
    """torchvision's VGG ``features`` is flat: the index of each stage's max pool → block k."""
    stages, index = {}, -1
    for block, count in enumerate(convs, start=1):
        index += count * (3 if bn else 2) + 1
        stages[f"features.{index}"] = f"block{block}"
    return {**stages, "avgpool": "adaptiveavgpool1", "classifier": "fc3"}


RESNET = {name: name for name in ("conv1", "bn1", "maxpool", "avgpool", "fc")} | {
    f"layer{i}": f"layer{i}" for i in (1, 2, 3, 4)
}

# torch module name → convcalc path (the stage ends at the last row at or under that path).
STAGES: dict[str, dict[str, str]] = {
    "alexnet": {"features": "features", "avgpool": "adaptiveavgpool1", "classifier": "classifier"},
    "vgg11": vgg_stages([1, 1, 2, 2, 2], bn=False),
    "vgg16": vgg_stages([2, 2, 3, 3, 3], bn=False),
    "vgg19": vgg_stages([2, 2, 4, 4, 4], bn=False),
    "vgg11_bn": vgg_stages([1, 1, 2, 2, 2], bn=True),
    "vgg16_bn": vgg_stages([2, 2, 3, 3, 3], bn=True),
    "vgg19_bn": vgg_stages([2, 2, 4, 4, 4], bn=True),
    "resnet18": RESNET,
    "resnet34": RESNET,
    "resnet50": RESNET,
    "resnet101": RESNET,
    "resnet152": RESNET,
    "mobilenet_v2": {
        "features.0": "stem",
        "features.1": "stage1",
        "features.3": "stage2",
        "features.6": "stage3",
        "features.10": "stage4",
        "features.13": "stage5",
        "features.16": "stage6",
        "features.17": "stage7",
        "features.18": "last",
        "classifier": "fc1",
    },
    "squeezenet1_0": {
        "features.2": "features.maxpool1",
        "features.5": "features.fire3",
        "features.6": "features.maxpool2",
        "features.11": "features.maxpool3",
        "features": "features",
        "classifier": "classifier.globalavgpool1",  # torchvision flattens in forward()
    },
    "squeezenet1_1": {
        "features.2": "features.maxpool1",
        "features.5": "features.maxpool2",
        "features.8": "features.maxpool3",
        "features": "features",
        "classifier": "classifier.globalavgpool1",
    },
    "googlenet": {
        name: name
        for name in [
            "conv1",
            "maxpool1",
            "conv2",
            "conv3",
            "maxpool2",
            "inception3a",
            "inception3b",
            "maxpool3",
            "inception4a",
            "inception4b",
            "inception4c",
            "inception4d",
            "inception4e",
            "maxpool4",
            "inception5a",
            "inception5b",
            "avgpool",
            "fc",
        ]
    },
    "densenet121": {
        f"features.{name}": f"features.{name}"
        for name in [
            "conv0",
            "pool0",
            "denseblock1",
            "transition1",
            "denseblock2",
            "transition2",
            "denseblock3",
            "transition3",
            "denseblock4",
            "norm5",
        ]
    }
    | {"classifier": "classifier"},
}


def torch_lenet5() -> Any:
    """LeNet-5 as the spec describes it (no torchvision model exists)."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(1, 6, 5),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(6, 16, 5),
        nn.Tanh(),
        nn.AvgPool2d(2),
        nn.Conv2d(16, 120, 5),
        nn.Tanh(),
        nn.Flatten(),
        nn.Linear(120, 84),
        nn.Tanh(),
        nn.Linear(84, 10),
    )


def torch_cs231n() -> Any:
    """The notes' small example net."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(3, 10, 5, padding=2),
        nn.BatchNorm2d(10),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(10 * 16 * 16, 10),
    )


HAND_BUILT = {
    "lenet5": (torch_lenet5, {"0": "c1", "2": "s2", "5": "s4", "6": "c5", "9": "f6"}),
    "cs231n": (torch_cs231n, {"0": "conv1", "1": "batchnorm1", "3": "maxpool1"}),
}


def build(name: str) -> tuple[Any, dict[str, str]]:
    """The reference model on the meta device, and its stage map."""
    with torch.device("meta"):
        if name in HAND_BUILT:
            factory, stages = HAND_BUILT[name]
            return factory().eval(), stages
        options: dict[str, Any] = {"weights": None}
        if name == "googlenet":
            # No aux heads (they only run in training); init_weights=False skips scipy's
            # truncated-normal init, which meta tensors do not need.
            options |= {"aux_logits": False, "init_weights": False}
        model = getattr(torchvision.models, name)(**options)
    return model.eval(), STAGES[name]


@cache
def convcalc_report(name: str) -> Report:
    return analyze(load(f"zoo:{name}"))


def stage_shape(report: Report, path: str) -> tuple[int, ...]:
    """The output of the last row at or under ``path``."""
    rows = [row for row in report.rows if row.path == path or row.path.startswith(path + ".")]
    assert rows, f"convcalc has no row under {path!r}"
    return rows[-1].output


ALL = [*HAND_BUILT, *STAGES]


@pytest.mark.parametrize("name", ALL)
def test_zoo_model_equals_the_reference(name: str) -> None:
    report = convcalc_report(name)
    model, stages = build(name)

    params = sum(parameter.numel() for parameter in model.parameters())
    batchnorms = sum(isinstance(module, torch.nn.BatchNorm2d) for module in model.modules())
    buffers = sum(buffer.numel() for buffer in model.buffers()) - batchnorms
    assert report.totals.params == params
    assert report.totals.buffers == buffers

    seen: dict[str, tuple[int, ...]] = {}
    modules = dict(model.named_modules())
    handles = [
        modules[module_name].register_forward_hook(
            lambda _module, _inputs, output, module_name=module_name: seen.__setitem__(
                module_name, tuple(output.shape[1:])
            )
        )
        for module_name in stages
    ]
    x = torch.empty(1, *report.input, device="meta")
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        output = model(x)
    for handle in handles:
        handle.remove()

    assert report.totals.macs * 2 == counter.get_total_flops()
    assert report.rows[-1].output == tuple(output.shape[1:])
    expected = {module_name: stage_shape(report, path) for module_name, path in stages.items()}
    assert seen == expected


def linear_probe(model: Any) -> Any:
    """The model with every nonlinearity made the identity, max pools made average pools of the
    same windows, and every weight positive: a linear map whose input gradient is nonzero
    exactly on each output's receptive field (no ReLU or max can hide an input)."""
    nn = torch.nn
    for parent in model.modules():
        for child_name, child in parent.named_children():
            if isinstance(child, nn.ReLU | nn.ReLU6 | nn.Dropout):
                setattr(parent, child_name, nn.Identity())
            elif isinstance(child, nn.MaxPool2d):
                setattr(
                    parent,
                    child_name,
                    nn.AvgPool2d(child.kernel_size, child.stride, child.padding, child.ceil_mode),
                )
    with torch.no_grad():
        for parameter in model.parameters():
            # Weights average their inputs (1 / fan-in) and biases vanish, so values stay near
            # 1 through every layer: a product of tiny weights would underflow at the field's edge.
            fan_in = parameter[0].numel() if parameter.dim() > 1 else 1
            parameter.fill_(1.0 / fan_in if parameter.dim() > 1 else 1.0)
    return model.eval()


def measured_field(features: Any, size: int) -> int:
    """Rows of a ``size``×``size`` input that the centre output position of ``features`` reads,
    over all its channels (after a concat, some channels come from branches with smaller fields:
    convcalc's field is their union)."""
    x = torch.ones(1, 3, size, size, requires_grad=True)
    out = features(x)
    out[0, :, out.shape[2] // 2, out.shape[3] // 2].sum().backward()
    assert x.grad is not None
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    return int(rows[-1] - rows[0] + 1)


@pytest.mark.parametrize(
    ("name", "stage", "size"),
    [("squeezenet1_1", "features", 239), ("mobilenet_v2", "stage3", 127)],
)
def test_receptive_field_equals_a_probe(name: str, stage: str, size: int) -> None:
    """No published figure for these: measure the field on the real layers (CPU, small input
    that still holds the centre unit's whole field) and compare with convcalc's."""
    torch.manual_seed(0)
    model = getattr(torchvision.models, name)(weights=None)
    report = convcalc_report(name)
    if name == "mobilenet_v2":
        features = torch.nn.Sequential(*list(model.features)[:7])  # up to stage3
    else:
        features = model.features
    rf = [row for row in report.rows if row.path.startswith(stage + ".")][-1].rf
    assert rf is not None
    assert size > rf.size[0]
    assert measured_field(linear_probe(features), size) == rf.size[0]
