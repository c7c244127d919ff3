"""The model zoo without PyTorch: every spec parses and analyzes to the published figures.

The params and MACs below are torchvision's (its model cards and fvcore's convention: MACs of
conv and fc at batch 1, bias adds not counted); tests/test_oracle_zoo.py checks the same
numbers, and every stage's shape, against torchvision itself when torch is installed.
"""

from __future__ import annotations

import json
import os
import re
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
from tests.terminal import run_in_terminal

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
    "unet": (31_030_658, 0, 150_428_424_448, (2, 388, 388)),
    "small_fpn": (126_436, 0, 243_400_704, (18, 32, 32)),
    "deeplabv3_mobilenet_v3_large": (11_025_477, 27_984, 10_436_350_688, (21, 520, 520)),
    "lraspp_mobilenet_v3_large": (3_221_538, 24_656, 2_086_219_688, (21, 520, 520)),
    "convnext_base": (88_591_464, 0, 15_354_729_472, (1000,)),
    "convnext_large": (197_767_336, 0, 34_361_433_600, (1000,)),
    "convnext_small": (50_223_688, 0, 8_683_712_256, (1000,)),
    "convnext_tiny": (28_589_128, 0, 4_455_531_264, (1000,)),
    "deeplabv3_resnet50": (39_638_869, 56_704, 168_731_205_888, (21, 520, 520)),
    "deeplabv3_resnet101": (58_630_997, 108_928, 248_752_300_288, (21, 520, 520)),
    "efficientnet_b0": (5_288_548, 42_016, 385_814_752, (1000,)),
    "efficientnet_b1": (7_794_184, 62_048, 686_802_832, (1000,)),
    "efficientnet_b2": (9_109_994, 67_568, 1_087_529_456, (1000,)),
    "efficientnet_b3": (12_233_232, 87_296, 1_827_141_392, (1000,)),
    "efficientnet_b4": (19_341_616, 125_200, 4_393_771_024, (1000,)),
    "efficientnet_b5": (30_389_784, 172_736, 10_266_384_752, (1000,)),
    "efficientnet_b6": (43_040_704, 224_432, 19_067_593_536, (1000,)),
    "efficientnet_b7": (66_347_960, 310_720, 37_745_884_192, (1000,)),
    "efficientnet_v2_l": (118_515_272, 512_576, 56_079_699_008, (1000,)),
    "efficientnet_v2_m": (54_139_356, 292_032, 24_582_460_384, (1000,)),
    "efficientnet_v2_s": (21_458_488, 153_872, 8_365_617_152, (1000,)),
    "fcn_resnet50": (32_957_013, 54_144, 142_725_772_800, (21, 520, 520)),
    "fcn_resnet101": (51_949_141, 106_368, 222_746_867_200, (21, 520, 520)),
    "inception_v3": (23_834_568, 34_432, 5_713_216_096, (1000,)),
    "mnasnet0_5": (2_218_512, 20_624, 104_455_968, (1000,)),
    "mnasnet0_75": (3_170_208, 29_808, 215_493_104, (1000,)),
    "mnasnet1_0": (4_383_312, 37_920, 314_415_872, (1000,)),
    "mnasnet1_3": (6_282_256, 48_816, 526_362_432, (1000,)),
    "mobilenet_v3_large": (5_483_032, 24_400, 216_589_760, (1000,)),
    "mobilenet_v3_small": (2_542_856, 12_112, 56_510_400, (1000,)),
    "regnet_x_1_6gf": (9_190_136, 43_504, 1_602_849_792, (1000,)),
    "regnet_x_3_2gf": (15_296_552, 62_560, 3_176_621_952, (1000,)),
    "regnet_x_8gf": (39_572_648, 90_464, 7_995_132_416, (1000,)),
    "regnet_x_16gf": (54_278_536, 111_168, 15_940_755_456, (1000,)),
    "regnet_x_32gf": (107_811_560, 162_016, 31_735_929_792, (1000,)),
    "regnet_x_400mf": (5_495_976, 37_856, 413_812_608, (1000,)),
    "regnet_x_800mf": (7_259_656, 37_312, 799_699_712, (1000,)),
    "regnet_y_1_6gf": (11_202_430, 52_672, 1_612_076_160, (1000,)),
    "regnet_y_3_2gf": (19_436_338, 66_160, 3_176_482_752, (1000,)),
    "regnet_y_8gf": (39_381_472, 86_528, 8_473_070_592, (1000,)),
    "regnet_y_16gf": (83_590_140, 122_816, 15_911_510_272, (1000,)),
    "regnet_y_32gf": (145_046_770, 158_288, 32_279_552_832, (1000,)),
    "regnet_y_128gf": (644_812_894, 415_072, 127_517_815_680, (1000,)),
    "regnet_y_400mf": (4_344_144, 27_152, 401_842_848, (1000,)),
    "regnet_y_800mf": (6_432_512, 30_432, 833_856_256, (1000,)),
    "resnext50_32x4d": (25_028_904, 68_224, 4_230_479_872, (1000,)),
    "resnext101_32x8d": (88_791_336, 202_880, 16_414_015_488, (1000,)),
    "resnext101_64x4d": (83_455_272, 202_880, 15_460_270_080, (1000,)),
    "shufflenet_v2_x0_5": (1_366_792, 7_952, 40_476_448, (1000,)),
    "shufflenet_v2_x1_0": (2_278_604, 16_180, 144_907_992, (1000,)),
    "shufflenet_v2_x1_5": (3_503_624, 23_440, 295_759_392, (1000,)),
    "shufflenet_v2_x2_0": (7_393_996, 33_716, 583_253_464, (1000,)),
    "wide_resnet50_2": (68_883_240, 68_224, 11_398_021_120, (1000,)),
    "wide_resnet101_2": (126_886_696, 137_856, 22_753_050_624, (1000,)),
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
    """A note on the first line, comments explaining it, and compact: blocks, not unrolled.
    One-line block uses (``- {name: …, use: …}``) do not count: where torchvision gives each
    block its own hyperparameters (EfficientNet's and ConvNeXt's stochastic-depth rates,
    MobileNetV3's table rows) the spec lists one line per block."""
    text = zoo.zoo_text(name)
    assert text.startswith("# ")
    comments = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comments) >= 3 or name == "cs231n"
    one_line_uses = re.compile(r"\s*- \{name: \w+, (use|residual): ")
    assert sum(not one_line_uses.match(line) for line in text.splitlines()) <= 110
    if report_of(name).totals.params > 1_000_000:
        assert "blocks:" in text
        assert "use:" in text


def test_unet_has_the_papers_shapes() -> None:
    """Ronneberger et al.'s Figure 1: each level's map after its two valid 3×3 convs."""
    report = report_of("unet")
    shape_after = {
        name: report.rows[last_row_under(report, name)].output
        for name in ("enc1", "enc2", "enc3", "enc4", "bottom", "dec4", "dec3", "dec2", "dec1")
    }
    assert shape_after == {
        "enc1": (64, 568, 568),
        "enc2": (128, 280, 280),
        "enc3": (256, 136, 136),
        "enc4": (512, 64, 64),
        "bottom": (1024, 28, 28),
        "dec4": (512, 52, 52),
        "dec3": (256, 100, 100),
        "dec2": (128, 196, 196),
        "dec1": (64, 388, 388),
    }
    assert report.rows[-1].output == (2, 388, 388)


def test_the_zoo_unet_is_the_unet_example() -> None:
    """The example is checked row by row against torch in the graph oracle."""
    example = analyze(load(str(ROOT / "examples" / "unet.yaml")))
    ours = report_of("unet")
    assert [(row.path, row.output, row.params, row.macs) for row in ours.rows] == [
        (row.path, row.output, row.params, row.macs) for row in example.rows
    ]


def test_the_detector_has_two_outputs() -> None:
    outputs = report_of("small_fpn").outputs
    assert [(output.name, output.shape) for output in outputs] == [
        ("head3", (18, 64, 64)),
        ("head4", (18, 32, 32)),
    ]


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
    assert lines[0].split() == ["family", "name", "input", "params", "MACs", "note"]
    name_column = lines[0].index("name")
    listed = [line[name_column:].split()[0] for line in lines[1:]]
    assert sorted(listed) == sorted(zoo.names())
    # Grouped: each family's models together, the family named on its first row only.
    families = [zoo.family_of(name) for name in listed]
    assert families == sorted(families)
    named = [line[:name_column].strip() for line in lines[1:]]
    assert [family for family in named if family] == sorted(set(families))
    resnet50 = next(line for line in lines if line[name_column:].startswith("resnet50 "))
    assert resnet50[name_column:].split()[1:6] == ["3×224×224", "25.56", "M", "4.09", "G"]
    assert "v1.5" in resnet50


def test_zoo_families() -> None:
    assert zoo.family_of("wide_resnet50_2") == "wide_resnet"
    assert zoo.family_of("resnet50") == "resnet"
    assert zoo.family_of("mobilenet_v3_small") == zoo.family_of("mobilenet_v2") == "mobilenet"
    assert zoo.family_of("regnet_y_400mf") == "regnet"
    assert len(zoo.names()) >= 71


def test_zoo_listing_filters_by_family_and_params() -> None:
    listed = json.loads(
        run("zoo", "--family", "efficientnet", "--max-params", "10M", "--json").stdout
    )
    assert [(m["name"], m["family"], m["params"]) for m in listed["models"]] == [
        ("efficientnet_b0", "efficientnet", 5_288_548),
        ("efficientnet_b1", "efficientnet", 7_794_184),
        ("efficientnet_b2", "efficientnet", 9_109_994),
    ]
    small = json.loads(run("zoo", "--max-params", "1.3m", "--json").stdout)["models"]
    assert {m["name"] for m in small} == {
        "cs231n",
        "lenet5",
        "small_fpn",
        "squeezenet1_0",
        "squeezenet1_1",
    }


def test_zoo_listing_rejects_an_unknown_family_or_count_as_usage() -> None:
    family = run("zoo", "--family", "efficient")
    assert family.returncode == 2
    assert family.stdout == ""
    assert "no zoo family named 'efficient' (did you mean `efficientnet`?)" in family.stderr
    count = run("zoo", "--max-params", "ten")
    assert count.returncode == 2
    assert "expected a count like 10M" in count.stderr


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
    assert sorted(model["name"] for model in listed) == sorted(zoo.names())
    resnet50 = next(model for model in listed if model["name"] == "resnet50")
    assert (resnet50["params"], resnet50["macs"]) == (25_557_032, 4_089_184_256)
    csv_lines = run("zoo", "--format", "csv").stdout.splitlines()
    assert csv_lines[0] == "family,name,input,params,macs,note"
    assert any(
        line.startswith("resnet,resnet50,3x224x224,25557032,4089184256,") for line in csv_lines
    )
    markdown = run("zoo", "--format", "markdown").stdout.splitlines()
    assert markdown[:2] == [
        "| family | name | input | params | MACs | note |",
        "|---|---|---|---:|---:|---|",
    ]


def test_zoo_name_as_json() -> None:
    spec = json.loads(run("zoo", "cs231n", "--json").stdout)
    assert spec["input"] == "3x32x32"
    assert spec["layers"][0] == {"conv": {"filters": 10, "kernel": 5, "stride": 1, "pad": 2}}


@pytest.mark.skipif(sys.platform == "win32", reason="needs a POSIX pseudo-terminal")
@pytest.mark.parametrize(
    ("family", "expected"),
    [
        (
            "resnet",
            [
                "family  name       input       params     MACs  note",
                "resnet  resnet18   3×224×224  11.69 M   1.81 G  ResNet-18 (He et al., 2015): ba…",
                "        resnet34   3×224×224  21.80 M   3.66 G  ResNet-34 (He et al., 2015): ba…",
                "        resnet50   3×224×224  25.56 M   4.09 G  ResNet-50 (He et al., 2015), to…",
                "        resnet101  3×224×224  44.55 M   7.80 G  ResNet-101 (He et al., 2015), t…",
                "        resnet152  3×224×224  60.19 M  11.51 G  ResNet-152 (He et al., 2015), t…",
                "notes cut to fit 80 columns: convcalc zoo NAME prints a model's in full",
            ],
        ),
        (
            "deeplabv3",
            [
                "family     name                          input       params      MACs",
                "deeplabv3  deeplabv3_mobilenet_v3_large  3×520×520  11.03 M   10.44 G",
                "           deeplabv3_resnet50            3×520×520  39.64 M  168.73 G",
                "           deeplabv3_resnet101           3×520×520  58.63 M  248.75 G",
                "notes left out to fit 80 columns: convcalc zoo NAME prints a model's in full",
            ],
        ),
    ],
)
def test_zoo_listing_fits_an_80_column_terminal(family: str, expected: list[str]) -> None:
    shown = run_in_terminal(["zoo", "--family", family], 80, dict(os.environ))
    assert shown.splitlines() == expected
