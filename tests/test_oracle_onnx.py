"""ONNX models exported by torch from torchvision, read back: params, MACs, output shapes and
every conv's output shape against the torch model itself.

Models are exported with BatchNorm kept (``training=TrainingMode.PRESERVE``,
``do_constant_folding=False``), so the numbers are torch's own; the default export folds BN
into the convs and is compared with convcalc's BN folding of the zoo spec.
"""

from __future__ import annotations

import time
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
from convcalc.onnxin import onnx_spec  # noqa: E402
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
    "densenet121",
    "googlenet",
    "shufflenet_v2_x1_0",
    "efficientnet_b0",
    "convnext_tiny",
)


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


def build(name: str) -> Any:
    if name == "unet":
        return SmallUNet().eval()
    if name == "googlenet":  # the aux heads run in training only: not in the exported graph
        return torchvision.models.googlenet(
            weights=None, aux_logits=False, init_weights=False
        ).eval()
    return getattr(torchvision.models, name)(weights=None).eval()


def trained_looking(model: Any) -> Any:
    """BN statistics and shifts away from a fresh model's 0 and 1: folded, every conv gets a
    non-zero bias (the dynamo exporter drops an all-zero one)."""
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm2d):
                module.running_mean.uniform_(-1, 1)  # type: ignore[union-attr]
                module.bias.uniform_(-1, 1)
    return model


def export(model: Any, path: Path, keep_bn: bool = True, dynamo: bool = False) -> float:
    """Export ``model`` for a 3×224×224 input; the seconds it took."""
    start = time.perf_counter()
    options: dict[str, Any] = {"dynamo": dynamo}
    if keep_bn:
        options |= {"training": torch.onnx.TrainingMode.PRESERVE, "do_constant_folding": False}
    torch.onnx.export(model, (torch.zeros(1, 3, 224, 224),), str(path), **options)
    return time.perf_counter() - start


def torch_numbers(model: Any) -> tuple[int, int, tuple[int, ...], list[tuple[int, ...]]]:
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
        output = model(torch.zeros(1, 3, 224, 224))
    for hook in hooks:
        hook.remove()
    params = sum(p.numel() for p in model.parameters())
    # A Linear on N×H×W×C (ConvNeXt's) is a 1×1 conv on C×H×W; on vectors it is an fc row.
    convs: list[tuple[int, ...]] = [
        (s[2], s[0], s[1]) if linear else s for linear, s in shapes if len(s) == 3
    ]
    return params, counter.get_total_flops() // 2, tuple(output.shape[1:]), convs


@pytest.mark.parametrize("name", [*MODELS, "unet"])
def test_exported_model_agrees_with_torch(name: str, tmp_path: Path) -> None:
    model = build(name)
    path = tmp_path / f"{name}.onnx"
    export(model, path)
    report = analyze(load(str(path)))
    params, macs, output, conv_shapes = torch_numbers(model)
    assert report.totals.params == params
    assert report.totals.macs == macs
    assert report.rows[-1].output == output
    assert [row.output for row in report.rows if row.type in ("conv", "deconv")] == conv_shapes
    # The imported spec, written and read back, gives the same numbers.
    text, unsupported, _ = onnx_spec(str(path))
    spec = tmp_path / f"{name}.yaml"
    spec.write_text(text)
    again = analyze(load(str(spec)))
    assert unsupported == 0
    assert (again.totals.params, again.totals.macs) == (params, macs)
    assert [row.output for row in again.rows] == [row.output for row in report.rows]


@pytest.mark.parametrize("dynamo", [False, True])
def test_folded_export_is_the_zoo_spec_folded(dynamo: bool, tmp_path: Path) -> None:
    """The default export folds BN into the convs: the zoo's ResNet-50, folded, is that model;
    the dynamo exporter's weights go to a side file, absent here."""
    path = tmp_path / "resnet50.onnx"
    export(trained_looking(build("resnet50")), path, keep_bn=False, dynamo=dynamo)
    for side_file in tmp_path.glob("*.data"):
        side_file.unlink()
    folded = fold_network(analyze(load("zoo:resnet50")))
    report = analyze(load(str(path)))
    assert (report.totals.params, report.totals.macs) == (folded.totals.params, folded.totals.macs)
    assert report.rows[-1].output == (1000,)
    assert not any(row.type == "bn" or row.type == "batchnorm" for row in report.rows)
    assert "folded it into the convs" in onnx_spec(str(path))[0]
    assert parse_spec(onnx_spec(str(path))[0]).input == (3, 224, 224)
