"""Every zoo spec against the real model: torchvision's (or, for LeNet-5 and the notes' small
net, the same layers in torch.nn).

Models are built on the ``meta`` device with ``weights=None``: no download, no memory for
weights, and FlopCounterMode still sees every conv and matmul of a forward pass, so one
forward of a batch-1 meta tensor gives the MACs (flops / 2) and, through forward hooks, the
shape after every stage. Buffers: torch keeps a 1-element ``num_batches_tracked`` per batchnorm
that convcalc does not count (it counts the running mean and variance, 2C, as docs/spec.md says).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any
from unittest.mock import patch

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

pytestmark = [pytest.mark.oracle, pytest.mark.usefixtures("one_torch_thread")]


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

SHUFFLENET = {
    name: name for name in ("conv1", "maxpool", "stage2", "stage3", "stage4", "conv5", "fc")
}

MNASNET = {
    "layers.7": "stem",
    **{f"layers.{8 + i}": f"stack{1 + i}" for i in range(6)},
    "layers.16": "head",
    "classifier": "fc",
}

INCEPTION_V3 = {
    name: name
    for name in [
        "Conv2d_1a_3x3",
        "Conv2d_2a_3x3",
        "Conv2d_2b_3x3",
        "maxpool1",
        "Conv2d_3b_1x1",
        "Conv2d_4a_3x3",
        "maxpool2",
        *(f"Mixed_{i}" for i in ("5b", "5c", "5d", "6a", "6b", "6c", "6d", "6e", "7a", "7b", "7c")),
        "avgpool",
        "fc",
    ]
}


def convnext_stages(depths: list[int]) -> dict[str, str]:
    """torchvision's ConvNeXt ``features``: stem, then each stage and its downsampling."""
    stages = {"features.0": "stem", "avgpool": "avgpool", "classifier": "fc"}
    for stage, depth in enumerate(depths, start=1):
        stages[f"features.{2 * stage - 1}"] = f"stage{stage}_block{depth}"
        if stage < len(depths):
            stages[f"features.{2 * stage}"] = f"downsample{stage}"
    return stages


SEGMENTATION = {f"backbone.{name}": name for name in RESNET if name not in ("avgpool", "fc")} | {
    "classifier": "classifier"
}


def mobilenet_v3_stages(blocks: int) -> dict[str, str]:
    """torchvision's MobileNetV3 ``features``: stem, one module per bottleneck, last conv."""
    return (
        {"features.0": "stem"}
        | {f"features.{i}": f"bneck{i}" for i in range(1, blocks + 1)}
        | {f"features.{blocks + 1}": "last", "avgpool": "avgpool", "classifier": "fc"}
    )


def efficientnet_stages(depths: list[int]) -> dict[str, str]:
    """torchvision's EfficientNet ``features``: stem, one Sequential per stage, last conv."""
    return (
        {"features.0": "stem"}
        | {f"features.{s}": f"stage{s}_block{depth}" for s, depth in enumerate(depths, start=1)}
        | {f"features.{len(depths) + 1}": "last", "avgpool": "avgpool", "classifier": "fc"}
    )


EFFICIENTNET_DEPTHS = {
    "b0": [1, 2, 2, 3, 3, 4, 1],
    "b1": [2, 3, 3, 4, 4, 5, 2],
    "b2": [2, 3, 3, 4, 4, 5, 2],
    "b3": [2, 3, 3, 5, 5, 6, 2],
    "b4": [2, 4, 4, 6, 6, 8, 2],
    "b5": [3, 5, 5, 7, 7, 9, 3],
    "b6": [3, 6, 6, 8, 8, 11, 3],
    "b7": [4, 7, 7, 10, 10, 13, 4],
    "v2_s": [2, 4, 4, 6, 9, 15],
    "v2_m": [3, 5, 5, 7, 14, 18, 5],
    "v2_l": [4, 7, 7, 10, 19, 25, 7],
}


def mobilenet_v3_backbone(head: str) -> dict[str, str]:
    """The segmentation nets' MobileNetV3-Large backbone (its ``features`` under ``backbone``)
    and the head's output at ``head``."""
    return {
        f"backbone.{module.removeprefix('features.')}": path
        for module, path in mobilenet_v3_stages(15).items()
        if module.startswith("features.")
    } | {"classifier": head}


REGNET = {"stem": "stem", "avgpool": "avgpool", "fc": "fc"} | {
    f"trunk_output.block{i}": f"block{i}" for i in (1, 2, 3, 4)
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
    **dict.fromkeys(
        [
            "resnext50_32x4d",
            "resnext101_32x8d",
            "resnext101_64x4d",
            "wide_resnet50_2",
            "wide_resnet101_2",
        ],
        RESNET,
    ),
    **{f"shufflenet_v2_x{width}": SHUFFLENET for width in ("0_5", "1_0", "1_5", "2_0")},
    **{f"mnasnet{width}": MNASNET for width in ("0_5", "0_75", "1_0", "1_3")},
    "inception_v3": INCEPTION_V3,
    "convnext_tiny": convnext_stages([3, 3, 9, 3]),
    **{f"convnext_{size}": convnext_stages([3, 3, 27, 3]) for size in ("small", "base", "large")},
    **{
        f"{head}_resnet{depth}": SEGMENTATION
        for head in ("fcn", "deeplabv3")
        for depth in (50, 101)
    },
    **{
        f"efficientnet_{variant}": efficientnet_stages(depths)
        for variant, depths in EFFICIENTNET_DEPTHS.items()
    },
    "mobilenet_v3_large": mobilenet_v3_stages(15),
    "deeplabv3_mobilenet_v3_large": mobilenet_v3_backbone("classifier"),
    "lraspp_mobilenet_v3_large": mobilenet_v3_backbone("sum"),
    "mobilenet_v3_small": mobilenet_v3_stages(11),
    **{
        f"regnet_x_{size}": REGNET
        for size in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf")
    },
    **{
        f"regnet_y_{size}": REGNET
        for size in ("400mf", "800mf", "1_6gf", "3_2gf", "8gf", "16gf", "32gf", "128gf")
    },
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


@contextmanager
def regnet_widths_on_the_cpu() -> Iterator[None]:
    """RegNet computes its stage widths with torch tensors (``.tolist()``), which the meta
    device cannot give: that arithmetic runs on the CPU, the model is still built on meta."""
    from torchvision.models.regnet import BlockParams

    original = BlockParams.from_init_params.__func__

    def on_cpu(cls: Any, *args: Any, **kwargs: Any) -> Any:
        with torch.device("cpu"):
            return original(cls, *args, **kwargs)

    with patch.object(BlockParams, "from_init_params", classmethod(on_cpu)):
        yield


def build(name: str) -> tuple[Any, dict[str, str]]:
    """The reference model on the meta device, and its stage map."""
    with torch.device("meta"), regnet_widths_on_the_cpu():
        if name in HAND_BUILT:
            factory, stages = HAND_BUILT[name]
            return factory().eval(), stages
        options: dict[str, Any] = {"weights": None}
        if name in ("googlenet", "inception_v3"):
            # No aux heads (they only run in training); init_weights=False skips scipy's
            # truncated-normal init, which meta tensors do not need.
            options |= {"aux_logits": False, "init_weights": False}
        if name.startswith(("fcn_", "deeplabv3_", "lraspp_")):
            # The backbone's ImageNet weights are the default there: never download them.
            options["weights_backbone"] = None
            model = getattr(torchvision.models.segmentation, name)(**options)
        else:
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
    if isinstance(output, dict):  # segmentation: the `out` head (aux heads are not built)
        output = output["out"]
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


def fuse_sequential_pairs(model: Any) -> Any:
    """Each conv directly followed by a batchnorm in an ``nn.Sequential``, fused by
    ``torch.nn.utils.fusion`` in place: for models whose forward torch.fx cannot trace
    (ShuffleNet unpacks ``x.size()``), where every such pair sits in a Sequential."""
    from torch.nn.utils.fusion import fuse_conv_bn_eval

    for sequential in [m for m in model.modules() if isinstance(m, torch.nn.Sequential)]:
        names = list(sequential._modules)
        for conv_name, bn_name in itertools.pairwise(names):
            conv, bn = sequential._modules[conv_name], sequential._modules[bn_name]
            if isinstance(conv, torch.nn.Conv2d) and isinstance(bn, torch.nn.BatchNorm2d):
                sequential._modules[conv_name] = fuse_conv_bn_eval(conv, bn)
                sequential._modules[bn_name] = torch.nn.Identity()
    return model


@pytest.mark.parametrize("name", ALL)
def test_zoo_model_folds_as_torch_fuses(name: str) -> None:
    """torch.fx's fuse folds every batchnorm that directly follows a conv (or a linear) whose
    output feeds nothing else, through ``torch.nn.utils.fusion``: its parameter count is
    convcalc's params after folding."""
    from torch.fx.experimental.optimization import fuse

    model, _stages = build(name)
    fused = fuse_sequential_pairs(model) if name.startswith("shufflenet") else fuse(model)
    params = sum(parameter.numel() for parameter in fused.parameters())
    assert convcalc_report(name).folding.params_after == params


def test_the_detector_agrees_with_torch_row_by_row() -> None:
    """No torchvision model: each row built as its torch module and run on the real graph (the
    lateral adds, the upsampling, the two heads). The zoo's U-Net is the U-Net example, which
    the graph oracle runs the same way (at 572×572 that takes minutes: once is enough)."""
    from tests.test_oracle_graphs import agree_with_torch

    assert agree_with_torch(convcalc_report("small_fpn")) == []
