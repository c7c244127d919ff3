"""The Python API: ``convcalc.load`` and ``convcalc.analyze``, and ``Report.to_json``."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

import convcalc
from convcalc.cli import app
from convcalc.errors import SpecError, SpecErrors, UsageError
from convcalc.report import Report

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


@pytest.mark.parametrize(
    "source", [*map(str, EXAMPLES), "zoo:resnet18", "zoo:googlenet"], ids=lambda s: Path(s).stem
)
def test_to_json_is_the_commands_document(source: str) -> None:
    result = CliRunner().invoke(app, ["analyze", source, "--json"])
    assert result.exit_code == 0, result.output
    assert convcalc.analyze(source).to_json() == result.stdout


def test_load_then_analyze_with_overrides() -> None:
    network = convcalc.load(ROOT / "examples" / "cs231n.yaml")
    one = convcalc.analyze(network)
    eight = convcalc.analyze(network, batch=8, dtype="float16", name="small")
    assert isinstance(eight, Report) and isinstance(eight, convcalc.Report)
    assert (eight.name, eight.batch, eight.dtype) == ("small", 8, "float16")
    assert [row.path for row in eight.rows] == [row.path for row in one.rows]
    assert eight.totals.params == one.totals.params == 26_390
    assert eight.totals.activation_bytes == one.totals.activation_bytes * 8 // 2


def test_a_new_input_size_reshapes_every_row() -> None:
    report = convcalc.analyze("zoo:resnet18", input="3x64x64")
    assert report.input == (3, 64, 64)
    assert report.rows[0].output == (64, 32, 32)
    assert report.totals.params == convcalc.analyze("zoo:resnet18").totals.params


def test_unknown_overrides_and_bad_values_are_refused() -> None:
    network = convcalc.load("zoo:lenet5")
    with pytest.raises(TypeError, match="unexpected override"):
        convcalc.analyze(network, batches=2)
    with pytest.raises(SpecError, match="batch: expected a whole number"):
        convcalc.analyze(network, batch=0)
    with pytest.raises(SpecError, match="dtype: expected one of"):
        convcalc.analyze(network, dtype="float8")
    with pytest.raises(SpecError):
        convcalc.analyze(network, input="3x0x4")


def test_a_wrong_spec_raises_every_problem(tmp_path: Path) -> None:
    path = tmp_path / "net.yaml"
    path.write_text("input: 3x8x8\nlayers:\n  - conv: {filters: 0, kernel: 3}\n  - blah\n")
    with pytest.raises(SpecErrors) as caught:
        convcalc.load(path)
    assert len(caught.value.errors) == 2


def test_the_package_names_only_its_api() -> None:
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        _ = convcalc.nothing


def test_settings_change_the_spec_before_it_is_checked() -> None:
    plain = convcalc.analyze("zoo:resnet18")
    changed = convcalc.analyze("zoo:resnet18", settings={"input": "3x64x64", "fc.out": 10})
    assert changed.input == (3, 64, 64)
    assert changed.rows[-1].output == (10,)
    assert plain.totals.params - changed.totals.params == 513 * (1000 - 10)
    small_stem = {"conv1.kernel": (3, 3), "conv1.stride": 1, "conv1.pad": 1}
    first = convcalc.analyze(convcalc.load("zoo:resnet18", settings=small_stem)).rows[0]
    assert (first.output, first.params) == ((64, 224, 224), 3 * 3 * 3 * 64)


def test_settings_apply_in_order_and_are_the_commands() -> None:
    pairs = [("fc.out", 10), ("layer4.width", 256), ("fc.out", 12)]
    report = convcalc.analyze("zoo:resnet18", settings=pairs)
    assert report.rows[-1].output == (12,)
    flags = [flag for path, value in pairs for flag in ("--set", f"{path}={value}")]
    result = CliRunner().invoke(app, ["analyze", "zoo:resnet18", "--json", *flags])
    assert result.exit_code == 0, result.output
    assert report.to_json() == result.stdout


def test_bad_settings_are_refused() -> None:
    with pytest.raises(UsageError, match=r"no `layr1` \(did you mean `layer1`\?\)"):
        convcalc.load("zoo:resnet18", settings={"layr1.width": 3})
    with pytest.raises(TypeError, match="a spec cannot hold object"):
        convcalc.load("zoo:resnet18", settings={"conv1.filters": object()})
    with pytest.raises(TypeError, match="with a source, not a loaded network"):
        convcalc.analyze(convcalc.load("zoo:lenet5"), settings={"batch": 2})
    with pytest.raises(SpecErrors) as caught:
        convcalc.load("zoo:lenet5", settings={"c1.filters": 0, "c3.kernel": 0})
    assert [str(error) for error in caught.value.errors] == [
        "settings['c1.filters']: layers[0] conv: filters: must be ≥ 1, got 0",
        "settings['c3.kernel']: layers[3] conv: kernel: must be ≥ 1, got 0",
    ]
