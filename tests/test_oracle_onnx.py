"""ONNX models exported by torch from torchvision, read back: params, MACs, output shapes and
every conv's output shape against the torch model itself.

Models are exported with BatchNorm kept (``training=TrainingMode.PRESERVE``,
``do_constant_folding=False``), so the numbers are torch's own; the default export folds BN
into the convs and is compared with convcalc's BN folding of the zoo spec.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
torchvision = pytest.importorskip(
    "torchvision", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
pytest.importorskip("onnx", reason="the onnx package (convcalc[onnx]) is not installed")
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from convcalc.analysis import analyze  # noqa: E402
from convcalc.folding import fold_network  # noqa: E402
from convcalc.loader import parse_spec  # noqa: E402
from convcalc.onnxin import BN_FOLDED_NOTE, onnx_spec  # noqa: E402
from convcalc.sources import load  # noqa: E402

pytestmark = [
    pytest.mark.oracle,
    # The legacy exporter is the one that keeps BN on request; torch says it is deprecated.
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::FutureWarning"),
]

MODELS = (
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_small",
    "mobilenet_v3_large",
    "densenet121",
    "googlenet",
    "inception_v3",
    "shufflenet_v2_x1_0",
    "efficientnet_b0",
    "convnext_tiny",
    "fcn_resnet50",
)

DYNAMO_MODELS = (
    "mobilenet_v3_large",
    "densenet121",
    "googlenet",
    "efficientnet_b0",
    "fcn_resnet50",
    "unet",
)
"""Also exported by the dynamo exporter (unoptimized, so BN stays): a model of each family.
Its unoptimized graphs of ShuffleNet (SplitToSequence) and ConvNeXt (an as_strided
decomposition) hold ops outside the mapping."""

INPUT_SIZES = {"inception_v3": 299}
"""Models exported for another input than 3×224×224 (the one each is made for)."""


class SmallUNet(nn.Module):
    """Two levels down and up, skips concatenated, a transposed conv and a nearest upsample."""

    def __init__(self) -> None:
        super().__init__()

        def double(inputs: int, outputs: int) -> nn.Module:
            return nn.Sequential(
                nn.Conv2d(inputs, outputs, 3, padding=1, bias=False),
                nn.BatchNorm2d(outputs),
                nn.ReLU(inplace=True),
            )

        self.down1, self.down2, self.bottom = double(3, 16), double(16, 32), double(32, 64)
        self.pool = nn.MaxPool2d(2)
        self.up2 = nn.ConvTranspose2d(64, 32, 2, stride=2)
        self.up1 = nn.Upsample(scale_factor=2, mode="nearest")
        self.dec2, self.dec1 = double(64, 32), double(32 + 16, 16)
        self.head = nn.Conv2d(16, 2, 1)

    def forward(self, x: Any) -> Any:
        first = self.down1(x)
        second = self.down2(self.pool(first))
        bottom = self.bottom(self.pool(second))
        decoded = self.dec2(torch.cat([self.up2(bottom), second], 1))
        return self.head(self.dec1(torch.cat([self.up1(decoded), first], 1)))


class MainOutput(nn.Module):
    """A segmentation model's ``out`` alone (torchvision's return a dict)."""

    def __init__(self, model: Any) -> None:
        super().__init__()
        self.model = model

    def forward(self, x: Any) -> Any:
        return self.model(x)["out"]


def build(name: str) -> Any:
    if name == "unet":
        return SmallUNet().eval()
    if name in ("googlenet", "inception_v3"):  # aux heads run in training only: not exported
        return getattr(torchvision.models, name)(
            weights=None, aux_logits=False, init_weights=False
        ).eval()
    if name == "fcn_resnet50":
        return MainOutput(
            torchvision.models.segmentation.fcn_resnet50(weights=None, weights_backbone=None)
        ).eval()
    return getattr(torchvision.models, name)(weights=None).eval()


def image(name: str) -> Any:
    size = INPUT_SIZES.get(name, 224)
    return torch.zeros(1, 3, size, size)


def trained_looking(model: Any) -> Any:
    """BN statistics and shifts away from a fresh model's 0 and 1: folded, every conv gets a
    non-zero bias (the dynamo exporter drops an all-zero one)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)  # type: ignore[union-attr]
                module.bias.uniform_(-1, 1)
    return model


def export(model: Any, path: Path, x: Any, keep_bn: bool = True, dynamo: bool = False) -> None:
    """Export ``model`` for the input ``x``, BN kept as the README says (each exporter its own
    way) or folded (their default)."""
    options: dict[str, Any] = {"dynamo": dynamo}
    if keep_bn and dynamo:
        options["optimize"] = False
    elif keep_bn:
        options |= {"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False}
    torch.onnx.export(model, (x,), str(path), **options)


def torch_numbers(model: Any, x: Any) -> tuple[int, int, tuple[int, ...], list[tuple[int, ...]]]:
    """Params, MACs, output shape and every conv's output shape, in the order they run."""
    shapes: list[tuple[bool, tuple[int, ...]]] = []
    hooks = [
        module.register_forward_hook(
            lambda m, _i, out: shapes.append((isinstance(m, nn.Linear), tuple(out.shape[1:])))
        )
        for module in model.modules()
        if isinstance(module, nn.Conv2d | nn.ConvTranspose2d | nn.Linear)
    ]
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        output = model(x)
    for hook in hooks:
        hook.remove()
    params = sum(p.numel() for p in model.parameters())
    # A Linear on N×H×W×C (ConvNeXt's) is a 1×1 conv on C×H×W; on vectors it is an fc row.
    convs: list[tuple[int, ...]] = [
        (s[2], s[0], s[1]) if linear else s for linear, s in shapes if len(s) == 3
    ]
    return params, counter.get_total_flops() // 2, tuple(output.shape[1:]), convs


def same_numbers(first: Any, second: Any) -> bool:
    """Whether two reports have the same totals and rows, in any order (a block runs its
    branches one after the other, the graph interleaves them)."""

    def numbers(report: Any) -> Any:
        rows = sorted((row.type, row.output, row.params, row.macs) for row in report.rows)
        return report.totals.params, report.totals.macs, rows

    return bool(numbers(first) == numbers(second))


@pytest.mark.parametrize(
    ("name", "dynamo"),
    [*((name, False) for name in (*MODELS, "unet")), *((name, True) for name in DYNAMO_MODELS)],
)
def test_exported_model_agrees_with_torch(name: str, dynamo: bool, tmp_path: Path) -> None:
    model, x = build(name), image(name)
    path = tmp_path / f"{name}.onnx"
    export(model, path, x, dynamo=dynamo)
    report = analyze(load(str(path)))
    params, macs, output, conv_shapes = torch_numbers(model, x)
    assert report.totals.params == params
    assert report.totals.macs == macs
    assert report.rows[-1].output == output
    convs = [row.output for row in report.rows if row.type in ("conv", "deconv")]
    assert sorted(convs) == sorted(conv_shapes)
    # The imported spec, written and read back, gives the same numbers, and so does the flat
    # one (no blocks, `from:` everywhere).
    text, unsupported, _ = onnx_spec(str(path))
    assert unsupported == 0
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(text)
    again = analyze(load(str(spec)))
    assert (again.totals.params, again.totals.macs) == (params, macs)
    assert same_numbers(again, report)
    assert same_numbers(analyze(parse_spec(onnx_spec(str(path), flat=True).text)), report)


def test_the_dynamo_exporter_keeps_batchnorm_unoptimized(tmp_path: Path) -> None:
    """The README's advice for the dynamo exporter: ``optimize=False`` keeps every BN."""
    model, x = build("resnet18"), image("resnet18")
    path = tmp_path / "resnet18.onnx"
    export(model, path, x, dynamo=True)
    report = analyze(load(str(path)))
    params, macs, output, _ = torch_numbers(model, x)
    assert (report.totals.params, report.totals.macs, report.rows[-1].output) == (
        params,
        macs,
        output,
    )
    assert sum(row.type == "batchnorm" for row in report.rows) == 20
    assert load(str(path)).notes == ()


@pytest.mark.parametrize("dynamo", [False, True])
def test_folded_export_is_the_zoo_spec_folded(dynamo: bool, tmp_path: Path) -> None:
    """The default export folds BN into the convs: the zoo's ResNet-50, folded, is that model;
    the dynamo exporter's weights go to a side file, absent here."""
    path = tmp_path / "resnet50.onnx"
    export(
        trained_looking(build("resnet50")), path, image("resnet50"), keep_bn=False, dynamo=dynamo
    )
    for side_file in tmp_path.glob("*.data"):
        side_file.unlink()
    folded = fold_network(analyze(load("zoo:resnet50")))
    report = analyze(load(str(path)))
    assert (report.totals.params, report.totals.macs) == (folded.totals.params, folded.totals.macs)
    assert report.rows[-1].output == (1000,)
    assert not any(row.type == "bn" or row.type == "batchnorm" for row in report.rows)
    assert "folded it into the convs" in onnx_spec(str(path)).text
    assert parse_spec(onnx_spec(str(path)).text).input == (3, 224, 224)
    assert load(str(path)).notes == (BN_FOLDED_NOTE,)
