"""Each convention against the real tool: torchinfo, fvcore, ptflops and thop run on
torchvision's model of every zoo spec torchvision has (and on LeNet-5, the notes' small net and
two specs with every layer and merge kind, rebuilt in torch.nn); their totals must equal
``analyze zoo:NAME --convention NAME`` to the unit, and torchinfo's printed MB figures to its own
rounding. Keras's params are checked on the small examples rebuilt in Keras 3 (torch backend).

Each model is built once, on the meta device, and every tool runs on it in turn: torchinfo and
thop read only shapes, so they run on meta tensors (free); then the model gets uninitialised CPU
memory (``to_empty``) for ptflops (whose counts change on meta tensors) and fvcore (whose tracer
cannot run meta convolutions). The input is each zoo spec's own, as for convcalc.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import operator
import os
import re
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import cache, partial, reduce
from math import prod
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest

from convcalc.analysis import analyze
from convcalc.conventions.counting import Forms, counted, zoo_forms
from convcalc.conventions.rules import Form
from convcalc.conventions.view import ConventionTotals, ConventionView
from convcalc.layers import merge
from convcalc.report import Report
from convcalc.sources import load

torch = pytest.importorskip(
    "torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
torchvision = pytest.importorskip(
    "torchvision", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
from tests import torch_build  # noqa: E402
from tests.test_oracle_zoo import HAND_BUILT, STAGES, build  # noqa: E402

pytestmark = [pytest.mark.oracle, pytest.mark.usefixtures("one_torch_thread")]

Module: Any = torch.nn.Module

SPECS = Path(__file__).resolve().parent
EVERY_KIND = SPECS / "every-kind.yaml"
"""A spec with the classic layer kinds (and the odd adaptive pool 5 → 3)."""
MORE_KINDS = SPECS / "more-kinds.yaml"
"""A spec with every other layer kind, and a residual add, a gate's multiply and a concat."""


def torch_every_kind() -> Any:
    """``every-kind.yaml`` in torch.nn, module for module."""
    nn = torch.nn
    return nn.Sequential(
        nn.Conv2d(4, 8, 3, padding=1),
        nn.GroupNorm(2, 8),
        nn.ELU(),
        nn.ConvTranspose2d(8, 6, 4, stride=2, padding=1),
        nn.InstanceNorm2d(6, affine=True),
        nn.GELU(),
        nn.Conv2d(6, 6, 3, groups=3, bias=False),
        nn.PReLU(6),
        nn.AvgPool2d(2),
        nn.LeakyReLU(),
        nn.LayerNorm([6, 15, 15]),
        nn.SiLU(),
        nn.AdaptiveMaxPool2d(5),
        nn.Hardswish(),
        nn.AdaptiveAvgPool2d(3),
        nn.Sigmoid(),
        nn.AdaptiveMaxPool2d(1),
        nn.Flatten(),
        nn.Dropout(),
        nn.Linear(6, 5),
        nn.Tanh(),
        nn.Softmax(dim=1),
    )


class LayerScale(Module):  # type: ignore[misc]
    """γ per channel, named as timm's ``LayerScale2d`` names it."""

    def __init__(self, channels: int, init: float) -> None:
        super().__init__()
        self.gamma = torch.nn.Parameter(torch.full((channels, 1, 1), init))

    def forward(self, x: Any) -> Any:
        return x * self.gamma


class Sliced(Module):  # type: ignore[misc]
    """A crop or a channel slice: torch has no module for either."""

    def __init__(self, cut: Callable[[Any], Any]) -> None:
        super().__init__()
        self.cut = cut

    def forward(self, x: Any) -> Any:
        return self.cut(x)


class MoreKinds(Module):  # type: ignore[misc]
    """``more-kinds.yaml`` in torch.nn: each layer its kind's module (a module of its own where
    torch has none), merges as the operators ``+``, ``*`` and ``torch.cat``."""

    def __init__(self) -> None:
        super().__init__()
        nn = torch.nn
        self.layers = nn.Sequential(
            nn.BatchNorm2d(8),
            nn.ReLU(),
            nn.ReLU6(),
            nn.MaxPool2d(3, 1, 1),
            nn.Hardsigmoid(),
            nn.Mish(),
            nn.Identity(),
            LayerScale(8, 0.1),
            torchvision.ops.StochasticDepth(0.1, "row"),
            nn.Upsample(scale_factor=2),
            nn.Upsample(size=(20, 20), mode="bilinear"),
            nn.Upsample(scale_factor=1.5, mode="bicubic"),
            nn.PixelUnshuffle(2),
            nn.PixelShuffle(2),
            Sliced(lambda x: x[..., 3:27, 3:27]),
            Sliced(lambda x: x[..., 1:23, 2:24]),
            nn.ZeroPad2d(1),
            nn.ReflectionPad2d(2),
            nn.ChannelShuffle(2),
            Sliced(lambda x: x[:, 0:6]),
        )
        self.body = nn.Conv2d(6, 6, 3, padding=1)
        self.gate = nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Conv2d(6, 6, 1), nn.Sigmoid())
        self.branch = nn.Conv2d(6, 2, 1)

    def forward(self, x: Any) -> Any:
        x = self.layers(x)
        x = x + self.body(x)
        x = x * self.gate(x)
        return torch.cat([x, self.branch(x)], 1)


SPEC_BUILT = {"every-kind": (EVERY_KIND, torch_every_kind), "more-kinds": (MORE_KINDS, MoreKinds)}

TRANSLATED = ("unet", "small_fpn")
"""Zoo models torchvision lacks, built by the shared translator (tests/torch_build.py)."""

MODELS = [*HAND_BUILT, *STAGES, *TRANSLATED, *SPEC_BUILT]
"""LeNet-5 and the small net (rebuilt in torch.nn), every zoo model torchvision has, the
translated ones, and the specs of every kind."""

TOOLS = ("torchinfo", "fvcore", "ptflops", "thop")


def source(name: str) -> str:
    return str(SPEC_BUILT[name][0]) if name in SPEC_BUILT else f"zoo:{name}"


@cache
def report(name: str) -> Report:
    return analyze(load(source(name)))


def reference_model(name: str) -> Any:
    """The reference model in eval mode on the meta device."""
    with torch.device("meta"):
        if name in SPEC_BUILT:
            return SPEC_BUILT[name][1]().eval()
        if name in TRANSLATED:
            return with_static_crops(torch_build.Graph(report(name))).eval()
    return build(name)[0]


def with_static_crops(graph: Any) -> Any:
    """The translated graph with each centre crop as slicing at the offsets torchvision's
    ``center_crop`` computes (round((in − out)/2)): fvcore's tracer hands ``center_crop`` its
    sizes as tensors, which it cannot round. Slicing counts nothing in any tool, as the crop."""
    for row in graph.report.rows:
        if row.type == "crop":
            (_, height, width), (_, rows, columns) = row.input, row.output
            top, left = round((height - rows) / 2), round((width - columns) / 2)
            window = (..., slice(top, top + rows), slice(left, left + columns))
            graph.layers[row.index] = Sliced(operator.itemgetter(window))
    return graph


def run_torchinfo(model: Any, x: Any) -> dict[str, Any]:
    statistics = pytest.importorskip("torchinfo").summary(model, input_data=x, verbose=0)
    return {
        "params": (statistics.total_params, statistics.trainable_params),
        "ops": statistics.total_mult_adds,
        "pass_bytes": statistics.total_output_bytes,
        "param_bytes": statistics.total_param_bytes,
        "input_bytes": statistics.total_input,
        "printed": dict(re.findall(r"^(.+ \(MB\)): ([\d.]+)$", str(statistics), re.MULTILINE)),
    }


def run_thop(model: Any, x: Any) -> dict[str, Any]:
    thop = pytest.importorskip("thop")
    # thop's PReLU hook calls a helper that warns it is deprecated.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ops, params = thop.profile(model, inputs=(x,), verbose=False)
    return {"ops": ops, "params": params}


def run_ptflops(model: Any, x: Any) -> dict[str, Any]:
    ptflops = pytest.importorskip("ptflops")
    with contextlib.redirect_stdout(io.StringIO()):
        macs, params = ptflops.get_model_complexity_info(
            model, tuple(x.shape[1:]), as_strings=False, print_per_layer_stat=False
        )
    return {"ops": macs, "params": params}


def run_fvcore(model: Any, x: Any) -> dict[str, Any]:
    nn = pytest.importorskip("fvcore.nn")
    analysis = nn.FlopCountAnalysis(model, x)
    analysis.unsupported_ops_warnings(False)
    analysis.uncalled_modules_warnings(False)
    return {"ops": analysis.total(), "params": nn.parameter_count(model)[""]}


RUNS = {"torchinfo": run_torchinfo, "thop": run_thop, "ptflops": run_ptflops, "fvcore": run_fvcore}
ON_META = ("torchinfo", "thop")


@cache
def measured(name: str) -> dict[str, Any]:
    """What each tool reports for model ``name`` (or why it could not), the model built once."""
    results: dict[str, Any] = {}
    model = reference_model(name)
    shape = (1, *report(name).input)
    with torch.no_grad(), operator_merges():
        for tool in (*ON_META, *(tool for tool in TOOLS if tool not in ON_META)):
            if tool not in ON_META and next(model.parameters()).is_meta:
                model = model.to_empty(device="cpu")
            device = "meta" if tool in ON_META else "cpu"
            try:
                results[tool] = RUNS[tool](model, torch.zeros(shape, device=device))
            except (Exception, pytest.skip.Exception) as problem:  # its own test reports it
                results[tool] = problem
    return results


@contextmanager
def operator_merges() -> Iterator[None]:
    """The translator's merges as the operators ``x + y`` and ``x * y``, as PyTorch code (and
    the conventions) write them: the translator calls ``torch.add`` and ``torch.mul``, which
    ptflops wraps and counts."""
    operators = {merge.Add: operator.add, merge.Mul: operator.mul}
    merges = {kind: partial(reduce, function) for kind, function in operators.items()}
    with patch.dict(torch_build.TRANSLATED_MERGES, merges):
        yield


def figures(name: str, tool: str) -> dict[str, Any]:
    """Tool ``tool``'s figures for model ``name`` (skips when the tool is not installed)."""
    result = measured(name)[tool]
    if isinstance(result, BaseException):
        raise result
    return dict(result)


def forms(name: str) -> Forms:
    """How the reference model computes the rows that are not modules: as torchvision does for
    its models; the translator upsamples with ``F.interpolate``."""
    if name in TRANSLATED:
        return tuple(
            (row.path, Form.FUNCTION) for row in report(name).rows if row.type == "upsample"
        )
    return zoo_forms(source(name))


def convention_totals(name: str, convention: str) -> ConventionTotals:
    """``analyze zoo:NAME --convention CONVENTION``'s totals, as the CLI counts them (for the
    translated models, with the translator's forms)."""
    view = counted(report(name), convention, forms(name)).extra(ConventionView)
    assert view is not None
    return view.totals


@pytest.mark.parametrize("name", MODELS)
def test_torchinfo(name: str) -> None:
    theirs = figures(name, "torchinfo")
    ours = convention_totals(name, "torchinfo")
    assert (ours.params, ours.trainable_params) == theirs["params"]
    assert ours.ops == theirs["ops"]
    assert ours.pass_bytes == theirs["pass_bytes"]
    assert ours.param_bytes == theirs["param_bytes"]
    assert ours.input_bytes == theirs["input_bytes"]
    # What it prints: the MB lines to its own two decimals.
    assert theirs["printed"] == {
        "Input size (MB)": f"{ours.input_bytes / 1e6:0.2f}",
        "Forward/backward pass size (MB)": f"{ours.pass_bytes / 1e6:0.2f}",
        "Params size (MB)": f"{ours.param_bytes / 1e6:0.2f}",
        "Estimated Total Size (MB)": f"{ours.total_bytes / 1e6:0.2f}",
    }


@pytest.mark.parametrize("tool", ["fvcore", "ptflops", "thop"])
@pytest.mark.parametrize("name", MODELS)
def test_ops_and_params(name: str, tool: str) -> None:
    theirs = figures(name, tool)
    ours = convention_totals(name, tool)
    assert (ours.ops, ours.params) == (theirs["ops"], theirs["params"])


@cache
def keras_models() -> dict[str, Any]:
    """The small specs rebuilt in Keras 3 (channels last): name → model."""
    os.environ.setdefault("KERAS_BACKEND", "torch")
    if importlib.util.find_spec("keras") is None:
        pytest.skip("keras not installed: pip install -e '.[oracle]'")
    import keras

    if keras.backend.backend() != "torch":
        pytest.skip(f"Keras runs on {keras.backend.backend()}, not torch")
    layers = keras.layers
    cs231n = keras.Sequential(
        [
            keras.Input((32, 32, 3)),
            layers.Conv2D(10, 5, padding="same"),
            layers.BatchNormalization(),
            layers.ReLU(),
            layers.MaxPooling2D(2),
            layers.Flatten(),
            layers.Dense(10),
        ]
    )
    lenet5 = keras.Sequential(
        [
            keras.Input((32, 32, 1)),
            layers.Conv2D(6, 5, activation="tanh"),
            layers.AveragePooling2D(2),
            layers.Conv2D(16, 5, activation="tanh"),
            layers.AveragePooling2D(2),
            layers.Conv2D(120, 5, activation="tanh"),
            layers.Flatten(),
            layers.Dense(84, activation="tanh"),
            layers.Dense(10),
        ]
    )
    stages = [keras.Input((64, 64, 3))]
    for filters, convs in ((32, 2), (64, 2), (128, 3)):
        for _ in range(convs):
            stages.append(layers.Conv2D(filters, 3, padding="same", activation="relu"))
        stages.append(layers.MaxPooling2D(2))
    stages += [layers.Flatten(), layers.Dense(256, activation="relu"), layers.Dropout(0.5)]
    vgg_style = keras.Sequential([*stages, layers.Dense(10)])
    return {
        "zoo:cs231n": cs231n,
        "zoo:lenet5": lenet5,
        "examples/vgg-style.yaml": vgg_style,
        str(KERAS_KINDS): keras_kinds(keras),
    }


KERAS_KINDS = SPECS / "keras-kinds.yaml"
"""A spec of the kinds Keras has a layer for, merges included."""


def keras_kinds(keras: Any) -> Any:
    """``keras-kinds.yaml`` in Keras 3 (channels last), layer for layer."""
    layers = keras.layers
    x = inputs = keras.Input((16, 16, 3))
    for layer in [
        layers.Conv2D(8, 3, padding="same"),
        layers.BatchNormalization(),
        layers.GroupNormalization(2),
        layers.PReLU(shared_axes=[1, 2]),
        layers.Conv2DTranspose(6, 2, strides=2),
        layers.LayerNormalization(),
        layers.ZeroPadding2D(1),
        layers.Cropping2D(1),
        layers.UpSampling2D(2),
        layers.MaxPooling2D(4),
        layers.DepthwiseConv2D(3, padding="same"),
    ]:
        x = layer(x)
    x = layers.Add()([x, layers.Conv2D(6, 1, use_bias=False)(x)])
    squeezed = layers.GlobalAveragePooling2D(keepdims=True)(x)
    x = layers.Multiply()([x, layers.Conv2D(6, 1, activation="sigmoid")(squeezed)])
    x = layers.Concatenate()([x, layers.Conv2D(2, 1)(x)])
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dense(5)(layers.Dropout(0.5)(layers.Flatten()(x)))
    return keras.Model(inputs, x)


@pytest.mark.parametrize(
    "source", ["zoo:cs231n", "zoo:lenet5", "examples/vgg-style.yaml", str(KERAS_KINDS)]
)
def test_keras(source: str) -> None:
    keras_model = keras_models()[source]
    trainable = sum(prod(weight.shape) for weight in keras_model.trainable_weights)
    view = counted(analyze(load(source)), "keras").extra(ConventionView)
    assert view is not None
    totals = view.totals
    assert totals.params == keras_model.count_params()
    assert totals.trainable_params == trainable
