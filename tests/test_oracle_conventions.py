"""Each convention against the real tool: torchinfo, fvcore, ptflops and thop run on
torchvision's model of every zoo spec torchvision has (and on LeNet-5 and the notes' small net
rebuilt in torch.nn); their totals must equal ``analyze zoo:NAME --convention NAME`` to the unit,
and torchinfo's printed MB figures to its own rounding. Keras's params are checked on the small
examples rebuilt in Keras 3 (torch backend).

Models are built on the meta device and then given uninitialised CPU memory (``to_empty``): the
tools read shapes, never values, and skipping the initialisation of VGG's 138 M weights saves
seconds. Each model is built once and every tool runs on it in turn.
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import os
import re
import warnings
from functools import cache
from math import prod
from pathlib import Path
from typing import Any

import pytest

from convcalc.analysis import analyze
from convcalc.conventions.counting import counted, zoo_functions
from convcalc.conventions.view import ConventionTotals, ConventionView
from convcalc.report import Report
from convcalc.sources import load

torch = pytest.importorskip(
    "torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
torchvision = pytest.importorskip(
    "torchvision", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
from tests.test_oracle_zoo import HAND_BUILT, STAGES  # noqa: E402

pytestmark = [pytest.mark.oracle, pytest.mark.usefixtures("one_torch_thread")]

EVERY_KIND = Path(__file__).resolve().parent / "every-kind.yaml"
"""A spec with every layer kind the tables have a rule for (and the odd adaptive pool 5 → 3)."""


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


CHECKED_ZOO = [
    name
    for name in STAGES
    if name.startswith(("alexnet", "vgg", "resnet", "squeezenet", "googlenet", "densenet"))
    or name == "mobilenet_v2"
]
"""The zoo models each tool's rules have been written and checked for (the 2012–2018 classics);
the newer families (grouped and SE convs, ConvNeXt's nn.Linear on a channels-last map,
ShuffleNet's chunk, segmentation's interpolate) still need each tool's rules for their layers."""

MODELS = [*HAND_BUILT, *CHECKED_ZOO, "every-kind"]
"""LeNet-5 and the small net (rebuilt in torch.nn), the checked zoo models, and every layer
kind."""


def tool(name: str) -> Any:
    """The peer tool's module, or a skip naming how to install it."""
    return pytest.importorskip(name, reason=f"{name} not installed: pip install -e '.[oracle]'")


@cache
def model(name: str) -> Any:
    """The reference model in eval mode, in uninitialised CPU memory."""
    with torch.device("meta"):
        if name == "every-kind":
            built = torch_every_kind()
        elif name in HAND_BUILT:
            built = HAND_BUILT[name][0]()
        else:
            options: dict[str, Any] = {"weights": None}
            if name == "googlenet":
                options |= {"aux_logits": False, "init_weights": False}
            built = getattr(torchvision.models, name)(**options)
    return built.to_empty(device="cpu").eval()


def source(name: str) -> str:
    return str(EVERY_KIND) if name == "every-kind" else f"zoo:{name}"


@cache
def report(name: str) -> Report:
    return analyze(load(source(name)))


def convention_totals(name: str, convention: str) -> ConventionTotals:
    """``analyze zoo:NAME --convention CONVENTION``'s totals, as the CLI counts them."""
    view = counted(report(name), convention, zoo_functions(source(name))).extra(ConventionView)
    assert view is not None
    return view.totals


def example_input(name: str) -> Any:
    return torch.zeros(1, *report(name).input)


@pytest.mark.parametrize("name", MODELS)
def test_torchinfo(name: str) -> None:
    torchinfo = tool("torchinfo")
    with torch.no_grad():
        statistics = torchinfo.summary(model(name), input_data=example_input(name), verbose=0)
    ours = convention_totals(name, "torchinfo")
    assert (ours.params, ours.trainable_params) == (
        statistics.total_params,
        statistics.trainable_params,
    )
    assert ours.ops == statistics.total_mult_adds
    assert ours.pass_bytes == statistics.total_output_bytes
    assert ours.param_bytes == statistics.total_param_bytes
    assert ours.input_bytes == statistics.total_input
    # What it prints: the MB lines to its own two decimals.
    printed = dict(re.findall(r"^(.+ \(MB\)): ([\d.]+)$", str(statistics), re.MULTILINE))
    assert printed == {
        "Input size (MB)": f"{ours.input_bytes / 1e6:0.2f}",
        "Forward/backward pass size (MB)": f"{ours.pass_bytes / 1e6:0.2f}",
        "Params size (MB)": f"{ours.param_bytes / 1e6:0.2f}",
        "Estimated Total Size (MB)": f"{ours.total_bytes / 1e6:0.2f}",
    }


@pytest.mark.parametrize("name", MODELS)
def test_fvcore(name: str) -> None:
    nn = tool("fvcore.nn")
    with torch.no_grad():
        analysis = nn.FlopCountAnalysis(model(name), example_input(name))
        analysis.unsupported_ops_warnings(False)
        analysis.uncalled_modules_warnings(False)
        flops = analysis.total()
    ours = convention_totals(name, "fvcore")
    assert ours.ops == flops
    assert ours.params == nn.parameter_count(model(name))[""]


@pytest.mark.parametrize("name", MODELS)
def test_ptflops(name: str) -> None:
    ptflops = tool("ptflops")
    with torch.no_grad(), contextlib.redirect_stdout(io.StringIO()):
        macs, params = ptflops.get_model_complexity_info(
            model(name),
            tuple(report(name).input),
            as_strings=False,
            print_per_layer_stat=False,
        )
    ours = convention_totals(name, "ptflops")
    assert (ours.ops, ours.params) == (macs, params)


@pytest.mark.parametrize("name", MODELS)
def test_thop(name: str) -> None:
    thop = tool("thop")
    # thop's PReLU hook calls a helper that warns it is deprecated.
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ops, params = thop.profile(model(name), inputs=(example_input(name),), verbose=False)
    ours = convention_totals(name, "thop")
    assert (ours.ops, ours.params) == (ops, params)


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
    return {"zoo:cs231n": cs231n, "zoo:lenet5": lenet5, "examples/vgg-style.yaml": vgg_style}


@pytest.mark.parametrize("source", ["zoo:cs231n", "zoo:lenet5", "examples/vgg-style.yaml"])
def test_keras(source: str) -> None:
    keras_model = keras_models()[source]
    trainable = sum(prod(weight.shape) for weight in keras_model.trainable_weights)
    view = counted(analyze(load(source)), "keras").extra(ConventionView)
    assert view is not None
    totals = view.totals
    assert totals.params == keras_model.count_params()
    assert totals.trainable_params == trainable
