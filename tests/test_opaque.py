"""The `opaque` kind: an op convcalc does not compute, written in a spec with its output shape
(what `convcalc import` writes for an ONNX op outside the mapping)."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from convcalc.analysis import analyze
from convcalc.cli import app
from convcalc.errors import SpecError, StrictError
from convcalc.folding import fold_network
from convcalc.loader import parse_spec
from convcalc.views import with_views

SPEC = """\
input: 3x16x16
layers:
  - conv: {filters: 8, kernel: 3, pad: 1}
  - batchnorm
  - opaque: {op: 'onnx:Einsum', shape: 8x8x8}
    name: mix
  - conv: {filters: 4, kernel: 3}
  - gap
  - flatten
  - opaque: {op: 'onnx:TopK', shape: 4}
"""


def test_an_opaque_row_has_the_op_as_its_type_and_counts_nothing() -> None:
    report = analyze(parse_spec(SPEC, "net.yaml"))
    rows = [
        (row.path, row.type, row.input, row.output, row.params, row.macs) for row in report.rows
    ]
    assert rows[2] == ("mix", "onnx:Einsum", (8, 16, 16), (8, 8, 8), 0, 0)
    assert rows[-1] == ("onnx:TopK1", "onnx:TopK", (4,), (4,), 0, 0)
    assert rows[3][3] == (4, 6, 6)
    assert report.totals.unsupported == 2
    assert report.totals.params == 8 * 27 + 8 + 16 + 4 * 8 * 9 + 4
    # The field passes through unchanged: the conv after it grows it from the conv before.
    assert report.rows[2].rf == report.rows[1].rf
    assert report.rows[3].rf is not None and report.rows[3].rf.size == (5.0, 5.0)


def test_every_view_takes_an_opaque_row() -> None:
    report = analyze(parse_spec(SPEC, "net.yaml"))
    folded = fold_network(report)
    assert [row.type for row in folded.rows][:2] == ["conv", "onnx:Einsum"]
    assert folded.totals.unsupported == 2
    viewed = with_views(report, train=True, budget=2**30, jacobian=True)
    assert len(viewed.extras) == 3
    assert '"supported": false' in viewed.to_json()


def test_strict_makes_an_opaque_row_an_error() -> None:
    with pytest.raises(
        StrictError,
        match=r'net.yaml:5:5: layers\[2\] onnx:Einsum "mix": unsupported op onnx:Einsum: '
        r".* \(--strict\)",
    ):
        analyze(
            parse_spec(SPEC.replace("\n  - opaque: {op: 'onnx:TopK', shape: 4}", ""), "net.yaml"),
            strict=True,
        )


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (
            "{op: 'onnx:X', shape: 3x4}",
            r"net.yaml:3:35: layers\[0\] opaque: shape: expected C×H×W \(an image\) or D",
        ),
        ("{op: '', shape: 3}", r"op: give the op's name, e.g. onnx:Einsum"),
        ("{shape: 3}", "missing option `op`"),
    ],
)
def test_bad_opaque_options(options: str, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_spec(f"input: 3x8x8\nlayers:\n  - opaque: {options}\n", "net.yaml")


def test_cli_table_and_json() -> None:
    runner = CliRunner()
    result = runner.invoke(app, ["analyze", "-", "--json"], input=SPEC)
    assert result.exit_code == 0
    assert '"type": "onnx:Einsum"' in result.stdout and '"supported": false' in result.stdout
    assert '"unsupported": 2' in result.stdout
    result = runner.invoke(app, ["analyze", "-", "-f", "markdown"], input=SPEC)
    assert (
        "- **unsupported**: 2 unsupported ops (onnx:Einsum, onnx:TopK): counted as 0 params "
        "and 0 MACs, shapes as the model gives them (--strict makes them errors)\n"
    ) in result.stdout


def test_layer_command_takes_an_opaque_shape() -> None:
    result = CliRunner().invoke(
        app,
        ["layer", "--type", "opaque", "--op", "onnx:Foo", "--shape", "3x8x8", "--in", "3x16x16"],
    )
    assert result.exit_code == 0
    assert result.stdout.startswith("onnx:Foo: 3×16×16 → 3×8×8\n")
    result = CliRunner().invoke(
        app, ["layer", "--type", "opaque", "--op", "onnx:Foo", "--shape", "10", "--in", "3x16x16"]
    )
    assert result.stdout.startswith("onnx:Foo: 3×16×16 → 10\n")
