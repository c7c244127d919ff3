"""The model zoo without PyTorch: every spec parses and analyzes to the published figures.

The params and MACs below are torchvision's (its model cards and fvcore's convention: MACs of
conv and fc at batch 1, bias adds not counted); tests/test_oracle_zoo.py checks the same
numbers, and every stage's shape, against torchvision itself when torch is installed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from functools import cache
from pathlib import Path

import pytest

from convcalc import zoo
from convcalc.analysis import analyze
from convcalc.errors import SpecError
from convcalc.loader import parse_spec
from convcalc.report import Report
from convcalc.sources import load

ROOT = Path(__file__).resolve().parent.parent
ZOO_DIR = ROOT / "convcalc" / "zoo"

# name: (params, buffers = 2C per batchnorm, MACs at batch 1, output shape)
PUBLISHED: dict[str, tuple[int, int, int, tuple[int, ...]]] = {
    "cs231n": (26_390, 20, 793_600, (10,)),
    "lenet5": (61_706, 0, 416_520, (10,)),
    "alexnet": (61_100_840, 0, 714_188_480, (1000,)),
    "vgg11": (132_863_336, 0, 7_609_090_048, (1000,)),
    "vgg16": (138_357_544, 0, 15_470_264_320, (1000,)),
    "vgg19": (143_667_240, 0, 19_632_062_464, (1000,)),
    "vgg11_bn": (132_868_840, 5_504, 7_609_090_048, (1000,)),
    "vgg16_bn": (138_365_992, 8_448, 15_470_264_320, (1000,)),
    "vgg19_bn": (143_678_248, 11_008, 19_632_062_464, (1000,)),
    "resnet18": (11_689_512, 9_600, 1_814_073_344, (1000,)),
    "resnet34": (21_797_672, 17_024, 3_663_761_408, (1000,)),
    "resnet50": (25_557_032, 53_120, 4_089_184_256, (1000,)),
    "resnet101": (44_549_160, 105_344, 7_801_405_440, (1000,)),
    "resnet152": (60_192_808, 151_424, 11_513_626_624, (1000,)),
    "mobilenet_v2": (3_504_872, 34_112, 300_774_272, (1000,)),
    "squeezenet1_0": (1_248_424, 0, 818_924_576, (1000,)),
    "squeezenet1_1": (1_235_496, 0, 349_151_936, (1000,)),
    "googlenet": (6_624_904, 14_560, 1_498_376_192, (1000,)),
    "densenet121": (7_978_856, 83_648, 2_834_161_664, (1000,)),
}


@cache
def report_of(name: str) -> Report:
    """The analysis of zoo model ``name`` at its spec's input size (analyzed once per session)."""
    return analyze(load(f"zoo:{name}"))


def last_row_under(report: Report, prefix: str) -> int:
    """Index of the last row at ``prefix`` or nested under it: where that stage ends."""
    rows = [r.index for r in report.rows if r.path == prefix or r.path.startswith(prefix + ".")]
    assert rows, f"no row under {prefix!r}"
    return rows[-1]


def test_the_zoo_holds_the_issue_models() -> None:
    assert set(zoo.names()) == set(PUBLISHED)
    assert {path.stem for path in ZOO_DIR.glob("*.yaml")} == set(PUBLISHED)


def test_names_are_in_natural_order() -> None:
    order = zoo.names()
    assert order.index("resnet18") < order.index("resnet50") < order.index("resnet101")
    assert order.index("vgg11") < order.index("vgg11_bn") < order.index("vgg16")


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_zoo_model_matches_published_figures(name: str) -> None:
    params, buffers, macs, output = PUBLISHED[name]
    report = report_of(name)
    assert report.totals.params == params
    assert report.totals.buffers == buffers
    assert report.totals.macs == macs
    assert report.rows[-1].output == output


@pytest.mark.parametrize("name", sorted(PUBLISHED))
def test_zoo_spec_reads_like_documentation(name: str) -> None:
    """A note on the first line, comments explaining it, and compact: blocks, not unrolled."""
    text = zoo.zoo_text(name)
    assert text.startswith("# ")
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 3 or name == "cs231n"
    assert len(text.splitlines()) <= 110
    if report_of(name).totals.params > 1_000_000:
        assert "blocks:" in text
        assert "use:" in text


def test_resnet50_stages_and_totals() -> None:
    """The fvcore/torchvision convention: ResNet-50 at 224×224, batch 1 = 4,089,184,256 MACs."""
    report = report_of("resnet50")
    stages = {
        stage: report.rows[last_row_under(report, stage)].output
        for stage in ("maxpool", "layer1", "layer2", "layer3", "layer4")
    }
    assert stages == {
        "maxpool": (64, 56, 56),
        "layer1": (256, 56, 56),
        "layer2": (512, 28, 28),
        "layer3": (1024, 14, 14),
        "layer4": (2048, 7, 7),
    }
    assert report.totals.flops == 2 * 4_089_184_256
    # 4 projection shortcuts (one per stage), 16 adds.
    assert sum(row.type == "add" for row in report.rows) == 16
    assert sum(".shortcut." in row.path for row in report.rows) == 8


def test_resnet18_first_stage_uses_identity_shortcuts() -> None:
    """A null block parameter leaves the residual's shortcut as the identity."""
    report = report_of("resnet18")
    layer1 = [row.path for row in report.rows if row.path.startswith("layer1.")]
    assert not any(".shortcut." in path for path in layer1)
    layer2 = [row.path for row in report.rows if row.path.startswith("layer2.")]
    assert sum(".shortcut." in path for path in layer2) == 2


def test_densenet_channels_grow_by_32_per_layer() -> None:
    report = report_of("densenet121")
    concats = [row.output[0] for row in report.rows if row.path.startswith("features.denseblock1")]
    assert concats[-1] == 64 + 6 * 32
    ends = [report.rows[last_row_under(report, f"features.denseblock{b}")].output for b in (1, 2)]
    assert ends == [(256, 56, 56), (512, 28, 28)]


def test_ceil_mode_pools_of_googlenet() -> None:
    """torchvision's GoogLeNet rounds its pools up: 112 → 56 → 28 → 14 → 7."""
    report = report_of("googlenet")
    sizes = [report.rows[last_row_under(report, f"maxpool{i}")].output[1] for i in (1, 2, 3, 4)]
    assert sizes == [56, 28, 14, 7]


def test_squeezenet_conv1_drops_a_row_and_warns() -> None:
    """(224 − 7)/2 + 1 = 109.5: the last input row and column are never read."""
    report = report_of("squeezenet1_0")
    first = report.rows[0]
    assert first.output == (96, 109, 109)
    assert len(first.warnings) == 2
    assert not any(row.warnings for row in report.rows[1:])
    assert not any(row.warnings for row in report_of("resnet50").rows)


# --- receptive fields against the Distill article's table (TF-slim variants) ------------------


@pytest.mark.parametrize(
    ("name", "stage", "size"),
    [
        # Same kernels and strides as TF-slim's alexnet_v2 and vgg_16: the same fields.
        ("alexnet", "features", 195),
        ("vgg16", "block5", 212),
        ("vgg16_bn", "block5", 212),
        # torchvision's layout; TF-slim's differs (see the specs and the test below).
        ("resnet50", "layer4", 427),
        ("resnet101", "layer4", 971),
        ("resnet152", "layer4", 1451),
    ],
)
def test_receptive_field_of_the_features(name: str, stage: str, size: int) -> None:
    report = report_of(name)
    rf = report.rows[last_row_under(report, stage)].rf
    assert rf is not None
    assert not rf.is_global
    assert rf.size == (size, size)
    assert rf.jump == (32, 32)


def slim_resnet(blocks: tuple[int, int, int, int]) -> str:
    """TF-slim's resnet_v1 feature extractor: the stride in the LAST unit of blocks 1–3, on the
    3×3 conv; block 4 keeps stride 1 (its units all read the 1/32 grid)."""
    stages = []
    for number, count in enumerate(blocks, start=1):
        stride = 2 if number < 4 else 1
        stages.append(
            f"  - repeat: {{times: {count - 1}, layers: [{{use: unit}}]}}\n"
            f"  - {{use: unit, with: {{stride: {stride}}}}}\n"
        )
    return (
        "input: 3x224x224\n"
        "blocks:\n"
        "  unit:\n"
        "    params: {stride: 1}\n"
        "    layers:\n"
        "      - conv: {filters: 8, kernel: 1}\n"
        "      - conv: {filters: 8, kernel: 3, stride: $stride, pad: 1}\n"
        "      - conv: {filters: 8, kernel: 1}\n"
        "layers:\n"
        "  - conv: {filters: 8, kernel: 7, stride: 2, pad: 3}\n"
        "  - maxpool: {kernel: 3, stride: 2, pad: 1}\n" + "".join(stages)
    )


@pytest.mark.parametrize(
    ("blocks", "published"),
    [((3, 4, 6, 3), 483), ((3, 4, 23, 3), 1027), ((3, 8, 36, 3), 1507)],
)
def test_tf_slim_resnet_layout_gives_the_distill_figures(
    blocks: tuple[int, int, int, int], published: int
) -> None:
    """resnet_v1_50/101/152 in the Distill table: 483, 1027, 1507. Only the main path matters
    for the field (the shortcuts' 1×1 convs see less), so the units are plain sequences here."""
    report = analyze(parse_spec(slim_resnet(blocks)))
    rf = report.totals.rf
    assert rf is not None
    assert rf.size == (published, published)
    assert rf.jump == (32, 32)


# --- the command line -------------------------------------------------------------------------


def run(*arguments: str) -> subprocess.CompletedProcess[str]:
    """``convcalc ARGUMENTS`` from this tree, as a user would run it."""
    return subprocess.run(
        [sys.executable, "-m", "convcalc", *arguments],
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        check=False,
    )


def test_zoo_listing() -> None:
    result = run("zoo")
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["name", "input", "params", "MACs", "note"]
    assert [line.split()[0] for line in lines[1:]] == zoo.names()
    resnet50 = next(line for line in lines if line.startswith("resnet50 "))
    assert resnet50.split()[1:6] == ["3×224×224", "25.56", "M", "4.09", "G"]
    assert "v1.5" in resnet50


def test_zoo_listing_entries_are_computed_from_the_specs() -> None:
    entry = zoo.entry("lenet5")
    assert (entry.input, entry.params, entry.macs) == ((1, 32, 32), 61_706, 416_520)
    assert entry.note.startswith("LeNet-5")


def test_zoo_name_prints_the_spec() -> None:
    result = run("zoo", "resnet50")
    assert result.returncode == 0, result.stderr
    assert result.stdout == (ZOO_DIR / "resnet50.yaml").read_text(encoding="utf-8")


def test_unknown_zoo_name_suggests_and_exits_1() -> None:
    result = run("zoo", "resnet5")
    assert result.returncode == 1
    assert result.stdout == ""
    assert len(result.stderr.splitlines()) == 1
    assert "no zoo model named 'resnet5' (did you mean `resnet50`?)" in result.stderr


def test_unknown_zoo_spec_path_is_a_spec_error() -> None:
    with pytest.raises(SpecError, match="did you mean `densenet121`"):
        load("zoo:densenet12")


def test_zoo_listing_in_every_format() -> None:
    listed = json.loads(run("zoo", "--json").stdout)["models"]
    assert [model["name"] for model in listed] == zoo.names()
    resnet50 = next(model for model in listed if model["name"] == "resnet50")
    assert (resnet50["params"], resnet50["macs"]) == (25_557_032, 4_089_184_256)
    csv_lines = run("zoo", "--format", "csv").stdout.splitlines()
    assert csv_lines[0] == "name,input,params,macs,note"
    assert any(line.startswith("resnet50,3x224x224,25557032,4089184256,") for line in csv_lines)
    markdown = run("zoo", "--format", "markdown").stdout.splitlines()
    assert markdown[:2] == ["| name | input | params | MACs | note |", "|---|---|---:|---:|---|"]


def test_zoo_name_as_json() -> None:
    spec = json.loads(run("zoo", "cs231n", "--json").stdout)
    assert spec["input"] == "3x32x32"
    assert spec["layers"][0] == {"conv": {"filters": 10, "kernel": 5, "stride": 1, "pad": 2}}
