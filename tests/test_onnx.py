"""ONNX models in: small graphs built with onnx.helper, read as specs and analysed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

onnx = pytest.importorskip("onnx", reason="the onnx package (convcalc[onnx]) is not installed")
from onnx import TensorProto, helper  # noqa: E402

from convcalc.analysis import analyze  # noqa: E402
from convcalc.errors import SpecError  # noqa: E402
from convcalc.onnxin import onnx_spec  # noqa: E402
from convcalc.sources import load  # noqa: E402


def weight(name: str, *dims: int) -> Any:
    """An initializer with dims and no values (weights are never read)."""
    tensor = TensorProto(name=name, data_type=TensorProto.FLOAT)
    tensor.dims.extend(dims)
    return tensor


def ints(name: str, values: list[int]) -> Any:
    return helper.make_tensor(name, TensorProto.INT64, [len(values)], values)


def floats(name: str, values: list[float]) -> Any:
    return helper.make_tensor(name, TensorProto.FLOAT, [len(values)], values)


def save(
    tmp_path: Path,
    nodes: list[Any],
    initializers: list[Any],
    shape: list[Any] | None = None,
    outputs: tuple[str, ...] = ("y",),
    opset: int = 17,
) -> str:
    image = helper.make_tensor_value_info("x", TensorProto.FLOAT, shape or [1, 3, 16, 16])
    results = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in outputs]
    graph = helper.make_graph(nodes, "g", [image], results, initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    model.producer_name = "test"
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return str(path)


def rows(path: str) -> list[tuple[str, tuple[int, ...], int, int]]:
    report = analyze(load(path))
    return [(row.type, row.output, row.params, row.macs) for row in report.rows]


def conv(name: str, source: str, output: str, bias: bool = True, **attributes: Any) -> Any:
    inputs = [source, f"{name}.w"] + ([f"{name}.b"] if bias else [])
    return helper.make_node("Conv", inputs, [output], name=f"/{name}/Conv", **attributes)


def test_conv_relu_pool_fc(tmp_path: Path) -> None:
    nodes = [
        conv("c", "x", "a", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
        helper.make_node("Relu", ["a"], ["b"]),
        helper.make_node("MaxPool", ["b"], ["p"], kernel_shape=[2, 2], strides=[2, 2]),
        helper.make_node("GlobalAveragePool", ["p"], ["g"]),
        helper.make_node("Flatten", ["g"], ["f"]),
        helper.make_node("Gemm", ["f", "fc.w", "fc.b"], ["y"], transB=1),
    ]
    inits = [weight("c.w", 8, 3, 3, 3), weight("c.b", 8), weight("fc.w", 10, 8), weight("fc.b", 10)]
    assert rows(save(tmp_path, nodes, inits)) == [
        ("conv", (8, 8, 8), 224, 8 * 27 * 64),
        ("relu", (8, 8, 8), 0, 0),
        ("maxpool", (8, 4, 4), 0, 0),
        ("globalavgpool", (8, 1, 1), 0, 0),
        ("flatten", (8,), 0, 0),
        ("fc", (10,), 90, 80),
    ]


def single(tmp_path: Path, node: Any, inits: list[Any], shape: list[Any] | None = None) -> Any:
    return rows(save(tmp_path, [node], inits, shape))


def test_conv_groups_dilation_no_bias(tmp_path: Path) -> None:
    node = conv("c", "x", "y", bias=False, kernel_shape=[3, 3], dilations=[2, 2], group=3)
    assert single(tmp_path, node, [weight("c.w", 6, 1, 3, 3)]) == [
        ("conv", (6, 12, 12), 54, 54 * 144)
    ]


def test_asymmetric_pads_become_a_pad_layer(tmp_path: Path) -> None:
    node = conv("c", "x", "y", kernel_shape=[3, 3], pads=[0, 0, 1, 1], strides=[2, 2])
    text = onnx_spec(save(tmp_path, [node], [weight("c.w", 4, 3, 3, 3), weight("c.b", 4)])).text
    assert "pad: {pad: [0, 1, 0, 1]}" in text
    assert rows(str(tmp_path / "model.onnx")) == [
        ("pad", (3, 17, 17), 0, 0),
        ("conv", (4, 8, 8), 112, 4 * 27 * 64),
    ]


@pytest.mark.parametrize(
    ("mode", "pads"), [("SAME_UPPER", "[0, 1, 0, 1]"), ("SAME_LOWER", "[1, 0, 1, 0]")]
)
def test_auto_pad(tmp_path: Path, mode: str, pads: str) -> None:
    node = conv("c", "x", "y", kernel_shape=[2, 2], auto_pad=mode)
    path = save(tmp_path, [node], [weight("c.w", 4, 3, 2, 2), weight("c.b", 4)])
    assert f"pad: {{pad: {pads}}}" in onnx_spec(path)[0]
    assert rows(path)[-1][1] == (4, 16, 16)


def test_conv_and_bias_add_are_one_layer(tmp_path: Path) -> None:
    nodes = [
        conv("c", "x", "a", bias=False, kernel_shape=[1, 1]),
        helper.make_node("Add", ["a", "b"], ["y"]),
    ]
    assert rows(save(tmp_path, nodes, [weight("c.w", 4, 3, 1, 1), weight("b", 4, 1, 1)])) == [
        ("conv", (4, 16, 16), 16, 12 * 256)
    ]


def test_matmul_add_is_fc(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Flatten", ["x"], ["f"]),
        helper.make_node("MatMul", ["f", "w"], ["m"]),
        helper.make_node("Add", ["m", "b"], ["y"]),
    ]
    assert rows(save(tmp_path, nodes, [weight("w", 768, 5), weight("b", 5)]))[-1] == (
        "fc",
        (5,),
        768 * 5 + 5,
        768 * 5,
    )


@pytest.mark.parametrize(
    ("op", "kind", "attributes"),
    [
        ("Relu", "relu", {}),
        ("Sigmoid", "sigmoid", {}),
        ("Tanh", "tanh", {}),
        ("HardSigmoid", "hardsigmoid", {}),
        ("HardSwish", "hardswish", {}),
        ("LeakyRelu", "leakyrelu", {"alpha": 0.2}),
        ("Softmax", "softmax", {"axis": 1}),
        ("Gelu", "gelu", {}),
        ("Dropout", None, {}),
        ("Identity", None, {}),
    ],
)
def test_activations(tmp_path: Path, op: str, kind: str | None, attributes: Any) -> None:
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node(op, ["r"], ["y"], **attributes),
    ]
    found = [row[0] for row in rows(save(tmp_path, nodes, [], opset=20))]
    assert found == (["relu", kind] if kind else ["relu"])


def test_clip_is_relu6_and_mul_by_sigmoid_is_silu(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Clip", ["x", "lo", "hi"], ["c"]),
        helper.make_node("Sigmoid", ["c"], ["s"]),
        helper.make_node("Mul", ["c", "s"], ["y"]),
    ]
    inits = [floats("lo", [0.0]), floats("hi", [6.0])]
    inits = [helper.make_tensor(t.name, TensorProto.FLOAT, [], [t.float_data[0]]) for t in inits]
    assert [row[0] for row in rows(save(tmp_path, nodes, inits))] == ["relu6", "silu"]


def test_erf_gelu_pattern(tmp_path: Path) -> None:
    def scalar(name: str, value: float) -> Any:
        return helper.make_tensor(name, TensorProto.FLOAT, [], [value])

    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Div", ["r", "root2"], ["d"]),
        helper.make_node("Erf", ["d"], ["e"]),
        helper.make_node("Add", ["e", "one"], ["a"]),
        helper.make_node("Mul", ["r", "a"], ["m"]),
        helper.make_node("Mul", ["m", "half"], ["y"]),
    ]
    inits = [scalar("root2", 1.4142135), scalar("one", 1.0), scalar("half", 0.5)]
    assert [row[0] for row in rows(save(tmp_path, nodes, inits))] == ["relu", "gelu"]


def test_pools(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("MaxPool", ["x"], ["m"], kernel_shape=[3, 3], strides=[2, 2], ceil_mode=1),
        helper.make_node(
            "AveragePool", ["m"], ["a"], kernel_shape=[3, 3], pads=[1, 1, 1, 1], count_include_pad=1
        ),
        helper.make_node("ReduceMean", ["a", "axes"], ["y"], keepdims=1),
    ]
    path = save(tmp_path, nodes, [ints("axes", [2, 3])], opset=18)
    assert "{kernel: 3, stride: 2, ceil_mode: true}" in onnx_spec(path)[0]
    assert [row[:2] for row in rows(path)] == [
        ("maxpool", (3, 8, 8)),
        ("avgpool", (3, 8, 8)),
        ("globalavgpool", (3, 1, 1)),
    ]


def test_norms(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("BatchNormalization", ["x", "s", "b", "m", "v"], ["n"]),
        helper.make_node("InstanceNormalization", ["n", "s", "b"], ["i"]),
        helper.make_node("GroupNormalization", ["i", "s", "b"], ["y"], num_groups=3),
    ]
    inits = [weight(name, 3) for name in "sbmv"]
    assert [row[:3] for row in rows(save(tmp_path, nodes, inits, opset=18))] == [
        ("batchnorm", (3, 16, 16), 6),
        ("instancenorm", (3, 16, 16), 6),
        ("groupnorm", (3, 16, 16), 6),
    ]


def test_merges_slices_and_rearrangements(tmp_path: Path) -> None:
    nodes = [
        conv("c", "x", "a", kernel_shape=[1, 1]),
        helper.make_node("Split", ["a", "sizes"], ["s1", "s2"], axis=1),
        helper.make_node("Add", ["s1", "s2"], ["sum"]),
        helper.make_node("Mul", ["sum", "s1"], ["prod"]),
        helper.make_node("Concat", ["prod", "a"], ["cat"], axis=1),
        helper.make_node("Slice", ["cat", "st", "en", "ax"], ["sl"]),
        helper.make_node("DepthToSpace", ["sl"], ["d"], blocksize=2),
        helper.make_node("SpaceToDepth", ["d"], ["u"], blocksize=2),
        helper.make_node("Pad", ["u", "pads"], ["p"], mode="reflect"),
        helper.make_node("Resize", ["p", "", "scales"], ["y"], mode="nearest"),
    ]
    inits = [
        weight("c.w", 8, 3, 1, 1),
        weight("c.b", 8),
        ints("sizes", [4, 4]),
        ints("st", [0]),
        ints("en", [8]),
        ints("ax", [1]),
        ints("pads", [0, 0, 1, 2, 0, 0, 1, 2]),
        floats("scales", [1.0, 1.0, 2.0, 2.0]),
    ]
    assert [row[:2] for row in rows(save(tmp_path, nodes, inits))] == [
        ("conv", (8, 16, 16)),
        ("slice", (4, 16, 16)),
        ("slice", (4, 16, 16)),
        ("add", (4, 16, 16)),
        ("mul", (4, 16, 16)),
        ("concat", (12, 16, 16)),
        ("slice", (8, 16, 16)),
        ("pixelshuffle", (2, 32, 32)),
        ("pixelunshuffle", (8, 16, 16)),
        ("pad", (8, 18, 20)),
        ("upsample", (8, 36, 40)),
    ]


def test_conv_transpose(tmp_path: Path) -> None:
    node = helper.make_node(
        "ConvTranspose",
        ["x", "w", "b"],
        ["y"],
        kernel_shape=[3, 3],
        strides=[2, 2],
        pads=[1, 1, 1, 1],
        output_padding=[1, 1],
    )
    assert single(tmp_path, node, [weight("w", 3, 5, 3, 3), weight("b", 5)]) == [
        ("deconv", (5, 32, 32), 140, 3 * 5 * 9 * 256)
    ]


@pytest.mark.parametrize("copy", [False, True])
def test_channel_shuffle_pattern(tmp_path: Path, copy: bool) -> None:
    """Reshape → Transpose → Reshape, with the dynamo exporter's Identity (torch's contiguous
    copy) before the last Reshape or without."""
    transposed = "t2" if copy else "t"
    nodes = [
        conv("c", "x", "a", kernel_shape=[1, 1]),
        helper.make_node("Reshape", ["a", "five"], ["r"]),
        helper.make_node("Transpose", ["r"], ["t"], perm=[0, 2, 1, 3, 4]),
        *([helper.make_node("Identity", ["t"], ["t2"])] if copy else []),
        helper.make_node("Reshape", [transposed, "four"], ["y"]),
    ]
    inits = [
        weight("c.w", 6, 3, 1, 1),
        weight("c.b", 6),
        ints("five", [1, 2, 3, 16, 16]),
        ints("four", [1, 6, 16, 16]),
    ]
    path = save(tmp_path, nodes, inits)
    assert "channelshuffle: {groups: 2}" in onnx_spec(path).text
    assert [row[:2] for row in rows(path)] == [
        ("conv", (6, 16, 16)),
        ("channelshuffle", (6, 16, 16)),
    ]


def test_symbolic_batch_and_input_shape(tmp_path: Path) -> None:
    node = helper.make_node("Relu", ["x"], ["y"])
    path = save(tmp_path, [node], [], shape=["N", 3, "H", "W"])
    with pytest.raises(
        SpecError, match=r'input "x": symbolic size of H \(H\), W \(W\); give --input'
    ):
        load(path)
    assert analyze(load(path, input_shape=(3, 8, 8))).rows[-1].output == (3, 8, 8)


def test_import_round_trip(tmp_path: Path) -> None:
    nodes = [
        conv("c", "x", "a", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Add", ["a", "x2"], ["y"]),
    ]
    nodes.insert(0, conv("d", "x", "x2", kernel_shape=[1, 1]))
    path = save(
        tmp_path,
        nodes,
        [weight("c.w", 4, 4, 3, 3), weight("c.b", 4), weight("d.w", 4, 3, 1, 1), weight("d.b", 4)],
    )
    text = onnx_spec(path).text
    assert text.startswith("# Imported from model.onnx (ONNX opset 17, produced by test).\n")
    (tmp_path / "spec.yaml").write_text(text)
    assert rows(str(tmp_path / "spec.yaml")) == rows(path)


# --- bad input: one located line each ------------------------------------------------------------


def test_truncated_file(tmp_path: Path) -> None:
    path = save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [])
    data = Path(path).read_bytes()
    Path(path).write_bytes(data[: len(data) // 2])
    with pytest.raises(SpecError, match="not an ONNX model"):
        load(path)


def test_detected_by_content(tmp_path: Path) -> None:
    path = Path(save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], []))
    renamed = path.rename(tmp_path / "model.bin")
    assert rows(str(renamed)) == [("relu", (3, 16, 16), 0, 0)]


def test_no_image_input(tmp_path: Path) -> None:
    path = save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [], shape=[1, 10])
    with pytest.raises(SpecError, match=r"no image input \(N×C×H×W\); its inputs: x \(rank 2\)"):
        load(path)


def test_cycle(tmp_path: Path) -> None:
    nodes = [
        helper.make_node("Add", ["x", "b"], ["a"], name="first"),
        helper.make_node("Relu", ["a"], ["b"], name="second"),
        helper.make_node("Relu", ["a"], ["y"]),
    ]
    with pytest.raises(SpecError, match=r'node "first" \(Add\): the graph has a cycle'):
        load(save(tmp_path, nodes, []))


def unsupported_model(tmp_path: Path) -> str:
    """relu → Neg (outside the mapping) → Einsum of two computed tensors → relu."""
    nodes = [
        helper.make_node("Relu", ["x"], ["r"]),
        helper.make_node("Neg", ["r"], ["n"], name="neg0"),
        helper.make_node(
            "Einsum", ["n", "r"], ["e"], name="/mix/Einsum", equation="nchw,nchw->nchw"
        ),
        helper.make_node("Relu", ["e"], ["y"]),
    ]
    return save(tmp_path, nodes, [])


def test_unmapped_ops_are_unsupported_rows(tmp_path: Path) -> None:
    path = unsupported_model(tmp_path)
    report = analyze(load(path))
    assert [(row.path, row.type, row.output, row.params, row.macs) for row in report.rows] == [
        ("relu1", "relu", (3, 16, 16), 0, 0),
        ("neg0", "onnx:Neg", (3, 16, 16), 0, 0),
        ("mix", "onnx:Einsum", (3, 16, 16), 0, 0),
        ("relu2", "relu", (3, 16, 16), 0, 0),
    ]
    assert report.totals.unsupported == 2
    assert report.rows[1].warnings == (
        "unsupported op onnx:Neg: counted as 0 params and 0 MACs, its output shape 3×16×16 as "
        "the model gives it, its receptive field as unchanged",
    )
    document = report.to_document()
    assert [layer.get("supported") for layer in document["layers"]] == [None, False, False, None]
    assert document["totals"]["unsupported"] == 2
    assert (
        "unsupported"
        not in analyze(
            load(
                save(
                    tmp_path,
                    [conv("c", "x", "y", kernel_shape=[1, 1])],
                    [weight("c.w", 2, 3, 1, 1), weight("c.b", 2)],
                )
            )
        ).to_document()["totals"]
    )


def test_unsupported_rows_round_trip_through_import(tmp_path: Path) -> None:
    path = unsupported_model(tmp_path)
    text, unsupported, _ = onnx_spec(path)
    assert unsupported == 2
    assert (
        "  # unsupported: no mapping for this op\n"
        "  - opaque: {op: 'onnx:Neg', shape: 3x16x16}\n"
        "    name: neg0\n"
    ) in text
    (tmp_path / "spec.yaml").write_text(text)
    assert rows(str(tmp_path / "spec.yaml")) == rows(path)


def test_strict_refuses_each_unsupported_op_at_its_node(tmp_path: Path) -> None:
    from convcalc.errors import SpecErrors

    path = unsupported_model(tmp_path)
    with pytest.raises(SpecErrors) as raised:
        load(path, strict=True)
    assert raised.value.lines == [
        f'{path}: node "neg0" (Neg): unsupported op: no mapping for this op (--strict)',
        f'{path}: node "/mix/Einsum" (Einsum): unsupported op: no mapping for this op (--strict)',
    ]


def test_an_unsupported_op_of_unknown_rank_is_located(tmp_path: Path) -> None:
    nodes = [helper.make_node("ReduceSum", ["x", "axes"], ["y"], name="sum0", keepdims=0)]
    with pytest.raises(
        SpecError,
        match=r'node "sum0" \(ReduceSum\): unsupported \(no mapping for this op\), and its '
        r"output 'y' is rank 3: convcalc can only pass on an N×C×H×W or N×D tensor",
    ):
        load(save(tmp_path, nodes, [ints("axes", [1])]))


def test_cli_unsupported_ops(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from convcalc.cli import app

    path = unsupported_model(tmp_path)
    runner = CliRunner()
    result = runner.invoke(app, ["analyze", path])
    assert result.exit_code == 0
    assert (
        "2 unsupported ops (onnx:Neg, onnx:Einsum): counted as 0 params and 0 MACs, shapes as "
        "the model gives them (--strict makes them errors)\n"
    ) in result.stdout
    assert result.stderr.splitlines()[0] == (
        f'{path}: layers[1] onnx:Neg "neg0": warning: unsupported op onnx:Neg: counted as 0 '
        "params and 0 MACs, its output shape 3×16×16 as the model gives it, its receptive "
        "field as unchanged"
    )
    result = runner.invoke(app, ["analyze", path, "--strict"])
    assert result.exit_code == 1
    assert result.stderr == (
        f'{path}: node "neg0" (Neg): unsupported op: no mapping for this op (--strict)\n'
        f'{path}: node "/mix/Einsum" (Einsum): unsupported op: no mapping for this op '
        "(--strict)\n"
    )
    for command in (["import", path], ["draw", path, "-f", "dot"], ["diff", path, path]):
        result = runner.invoke(app, [*command, "--strict"])
        assert result.exit_code == 1 and result.stdout == ""
        assert result.stderr.startswith(f'{path}: node "neg0" (Neg): unsupported op: ')
    result = runner.invoke(app, ["export", path])
    assert result.exit_code == 1
    assert result.stderr == (
        f"{path}: export: no PyTorch code for ops convcalc does not compute: neg0 (onnx:Neg), "
        "mix (onnx:Einsum)\n"
    )
    result = runner.invoke(app, ["draw", path, "--format", "dot"])
    assert result.exit_code == 0
    assert 'style="rounded,filled,dashed", fillcolor="#eeeeee", id="node-row-1"' in result.stdout
    assert "unsupported op: 0 params, 0 MACs counted; shape from the model" in result.stdout


@pytest.mark.parametrize("convention", ["torchinfo", "fvcore", "ptflops", "thop", "keras"])
def test_conventions_count_unsupported_ops_as_zero(tmp_path: Path, convention: str) -> None:
    from convcalc.conventions.counting import counted

    report = counted(analyze(load(unsupported_model(tmp_path))), convention)
    assert [(row.params, row.macs) for row in report.rows[1:3]] == [(0, 0), (0, 0)]
    assert report.totals.unsupported == 2


# --- the command line ----------------------------------------------------------------------------


def test_cli_import_and_analyze(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from convcalc.cli import app

    path = save(
        tmp_path,
        [conv("stem", "x", "y", kernel_shape=[3, 3], pads=[1, 1, 1, 1])],
        [weight("stem.w", 8, 3, 3, 3), weight("stem.b", 8)],
    )
    runner = CliRunner()
    result = runner.invoke(app, ["import", path])
    assert result.exit_code == 0
    assert result.output == (
        "# Imported from model.onnx (ONNX opset 17, produced by test).\n"
        "name: g\n"
        "input: 3x16x16\n"
        "layers:\n"
        "  - conv: {filters: 8, kernel: 3, pad: 1}\n"
        "    name: stem\n"
    )
    result = runner.invoke(app, ["import", path, "-o", str(tmp_path / "spec.yaml")])
    assert result.exit_code == 0
    assert (tmp_path / "spec.yaml").read_text().endswith("name: stem\n")
    result = runner.invoke(app, ["analyze", path, "--json"])
    assert result.exit_code == 0 and '"params": 224' in result.output


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from convcalc.cli import app

    path = tmp_path / "broken.onnx"
    path.write_bytes(b"\x08\x07\x12\xff\xff")
    result = CliRunner().invoke(app, ["analyze", str(path)])
    assert result.exit_code == 1
    assert result.output == f"{path}: not an ONNX model (malformed or truncated)\n"


def test_without_the_onnx_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = save(tmp_path, [helper.make_node("Relu", ["x"], ["y"])], [])
    monkeypatch.setitem(__import__("sys").modules, "onnx", None)
    with pytest.raises(SpecError, match=r'pip install "convcalc\[onnx\]"'):
        load(path)


def pytorch_export(tmp_path: Path, with_bn: bool) -> str:
    nodes = [conv("c", "x", "a", kernel_shape=[1, 1])]
    inits = [weight("c.w", 4, 3, 1, 1), weight("c.b", 4)]
    if with_bn:
        nodes.append(helper.make_node("BatchNormalization", ["a", "s", "b", "m", "v"], ["y"]))
        inits += [weight(name, 4) for name in "sbmv"]
    else:
        nodes[0].output[0] = "y"
    path = save(tmp_path, nodes, inits)
    model = onnx.load(path)
    model.producer_name = "pytorch"
    onnx.save(model, path)
    return path


def test_a_pytorch_export_without_batchnorm_gets_a_note(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from convcalc.cli import app
    from convcalc.onnxin import BN_FOLDED_NOTE

    path = pytorch_export(tmp_path, with_bn=False)
    assert onnx_spec(path).notes == (BN_FOLDED_NOTE,)
    assert load(path).notes == (BN_FOLDED_NOTE,)
    runner = CliRunner()
    for command in (["analyze", path], ["import", path]):
        result = runner.invoke(app, command)
        assert result.exit_code == 0
        assert result.stderr == (
            f"{path}: note: the model has no BatchNormalization: PyTorch's exporter folded it "
            "into the convs, so these are the inference network's numbers (to keep BN, export "
            "with dynamo=False, training=torch.onnx.TrainingMode.PRESERVE, "
            "do_constant_folding=False; or with dynamo=True, optimize=False)\n"
        )
    assert "# No BatchNormalization: PyTorch's exporter folded it into the convs." in (
        result.stdout
    )
    kept = pytorch_export(tmp_path, with_bn=True)
    assert onnx_spec(kept).notes == ()
    assert runner.invoke(app, ["analyze", kept]).stderr == ""


# --- blocks: residual, concat and gate where the graph has their shape ---------------------------


def numbers(text: str) -> tuple[int, int, list[tuple[str, tuple[int, ...], int, int]]]:
    """Totals and every row (in any order: a block runs its branches one after the other)."""
    from convcalc.loader import parse_spec

    report = analyze(parse_spec(text, "spec.yaml"))
    found = sorted((row.type, row.output, row.params, row.macs) for row in report.rows)
    return report.totals.params, report.totals.macs, found


def grouped_and_flat(path: str) -> str:
    """The import's text, after checking it gives the numbers of the flat one."""
    text = onnx_spec(path).text
    assert numbers(text) == numbers(onnx_spec(path, flat=True).text)
    return text


def stem(nodes: list[Any]) -> list[Any]:
    """conv → relu (the fork ``r``), then ``nodes``."""
    return [
        conv("stem", "x", "a", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
        helper.make_node("Relu", ["a"], ["r"], name="/stem_relu/Relu"),
        *nodes,
    ]


def conv_weights(name: str, filters: int, channels: int, kernel: int = 1) -> list[Any]:
    """A conv's weight and bias, as ``conv(name, …)`` reads them."""
    return [weight(f"{name}.w", filters, channels, kernel, kernel), weight(f"{name}.b", filters)]


STEM = conv_weights("stem", 8, 3, 3)


def test_an_add_of_a_chain_and_its_input_is_a_residual(tmp_path: Path) -> None:
    nodes = stem(
        [
            conv("block/conv1", "r", "b1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Relu", ["b1"], ["b2"], name="/block/relu/Relu"),
            conv("block/conv2", "b2", "b3", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Add", ["b3", "r"], ["y"], name="/block/Add"),
        ]
    )
    inits = [
        *STEM,
        *(
            weight(f"block/conv{i}.{p}", *(8, 8, 3, 3)[: 4 if p == "w" else 1])
            for i in (1, 2)
            for p in "wb"
        ),
    ]
    text = grouped_and_flat(save(tmp_path, nodes, inits))
    assert text.split("layers:\n")[1] == (
        "  - conv: {filters: 8, kernel: 3, pad: 1}\n"
        "    name: stem\n"
        "  - type: relu\n"
        "    name: stem_relu\n"
        "  - residual:\n"
        "      body:\n"
        "        - conv: {filters: 8, kernel: 3, pad: 1}\n"
        "          name: conv1\n"
        "        - type: relu\n"
        "          name: relu\n"
        "        - conv: {filters: 8, kernel: 3, pad: 1}\n"
        "          name: conv2\n"
        "    name: block\n"
    )


def test_a_projection_is_the_shortcut_and_a_broadcast_add_stays_an_add(tmp_path: Path) -> None:
    nodes = stem(
        [
            conv("b/conv1", "r", "b1", kernel_shape=[3, 3], pads=[1, 1, 1, 1], strides=[2, 2]),
            helper.make_node("Relu", ["b1"], ["b2"], name="/b/relu/Relu"),
            conv("b/down", "r", "d", kernel_shape=[1, 1], strides=[2, 2]),
            helper.make_node("Add", ["b2", "d"], ["s"], name="/b/Add"),
            helper.make_node("GlobalAveragePool", ["s"], ["g"], name="/pool/GlobalAveragePool"),
            helper.make_node("Add", ["s", "g"], ["y"], name="/bias/Add"),
        ]
    )
    inits = [*STEM, *conv_weights("b/conv1", 16, 8, 3), *conv_weights("b/down", 16, 8)]
    text = grouped_and_flat(save(tmp_path, nodes, inits))
    assert (
        "  - residual:\n"
        "      body:\n"
        "        - conv: {filters: 16, kernel: 3, stride: 2, pad: 1}\n"
        "          name: conv1\n"
        "        - type: relu\n"
        "          name: relu\n"
        "      shortcut:\n"
        "        - conv: {filters: 16, kernel: 1, stride: 2}\n"
        "          name: down\n"
        "    name: b\n"
        "  - type: gap\n"
        "    name: pool\n"
        "  - add: {from: [b, pool]}\n"
        "    name: bias\n"
    ) in text


def test_a_concat_of_chains_from_one_tensor_is_a_concat_block(tmp_path: Path) -> None:
    nodes = stem(
        [
            conv("mix/branch1", "r", "c1", kernel_shape=[1, 1]),
            conv("mix/branch2a", "r", "c2", kernel_shape=[1, 1]),
            conv("mix/branch2b", "c2", "c3", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node("Concat", ["c1", "r", "c3"], ["y"], name="/mix/Concat", axis=1),
        ]
    )
    inits = [
        *STEM,
        *(
            weight(f"mix/branch{b}.w", 4, k, s, s)
            for b, k, s in (("1", 8, 1), ("2a", 8, 1), ("2b", 4, 3))
        ),
        *(weight(f"mix/branch{b}.b", 4) for b in ("1", "2a", "2b")),
    ]
    text = grouped_and_flat(save(tmp_path, nodes, inits))
    assert text.endswith(
        "  - concat:\n"
        "      branches:\n"
        "        - - conv: {filters: 4, kernel: 1}\n"
        "            name: branch1\n"
        "        - []\n"
        "        - - conv: {filters: 4, kernel: 1}\n"
        "            name: branch2a\n"
        "          - conv: {filters: 4, kernel: 3, pad: 1}\n"
        "            name: branch2b\n"
        "    name: mix\n"
    )
    assert analyze(load(str(tmp_path / "model.onnx"))).rows[-1].output == (16, 16, 16)


def test_squeeze_and_excitation_is_a_gate_and_blocks_nest(tmp_path: Path) -> None:
    nodes = stem(
        [
            conv("unit/conv", "r", "u1", kernel_shape=[3, 3], pads=[1, 1, 1, 1]),
            helper.make_node(
                "GlobalAveragePool", ["u1"], ["g"], name="/unit/se/pool/GlobalAveragePool"
            ),
            conv("unit/se/fc1", "g", "f1", kernel_shape=[1, 1]),
            helper.make_node("Relu", ["f1"], ["f2"], name="/unit/se/relu/Relu"),
            conv("unit/se/fc2", "f2", "f3", kernel_shape=[1, 1]),
            helper.make_node("Sigmoid", ["f3"], ["f4"], name="/unit/se/gate/Sigmoid"),
            helper.make_node("Mul", ["u1", "f4"], ["m"], name="/unit/se/Mul"),
            helper.make_node("Add", ["m", "r"], ["y"], name="/unit/Add"),
        ]
    )
    inits = [
        *STEM,
        *conv_weights("unit/conv", 8, 8, 3),
        *conv_weights("unit/se/fc1", 2, 8),
        *conv_weights("unit/se/fc2", 8, 2),
    ]
    text = grouped_and_flat(save(tmp_path, nodes, inits))
    assert text.split("layers:\n")[1].split("    name: stem_relu\n")[1] == (
        "  - residual:\n"
        "      body:\n"
        "        - conv: {filters: 8, kernel: 3, pad: 1}\n"
        "          name: conv\n"
        "        - gate:\n"
        "            body:\n"
        "              - type: gap\n"
        "                name: pool\n"
        "              - conv: {filters: 2, kernel: 1}\n"
        "                name: fc1\n"
        "              - type: relu\n"
        "                name: relu\n"
        "              - conv: {filters: 8, kernel: 1}\n"
        "                name: fc2\n"
        "              - type: sigmoid\n"
        "                name: gate\n"
        "          name: se\n"
        "    name: unit\n"
    )


# --- the wire-format pass that drops the weights' values -----------------------------------------


def test_the_weights_values_are_dropped_and_nothing_else(tmp_path: Path) -> None:
    from onnx import numpy_helper

    from convcalc.onnxwire import model_bytes

    numpy = pytest.importorskip("numpy")
    big = numpy_helper.from_array(numpy.ones((8, 3, 3, 3), dtype=numpy.float32), "c.w")
    small = numpy_helper.from_array(numpy.ones(8, dtype=numpy.float32), "c.b")
    shape = ints("shape", [1, -1])
    external = weight("e.w", 100, 100)
    external.data_location = TensorProto.EXTERNAL
    external.external_data.add(key="location", value="absent.data")
    nodes = [
        conv("c", "x", "a", kernel_shape=[3, 3]),
        helper.make_node("Reshape", ["a", "shape"], ["y"]),
    ]
    path = save(tmp_path, nodes, [big, small, shape, external])
    model = onnx.load(path, load_external_data=False)
    model.metadata_props.add(key="k", value="v")  # a field numbered past 15
    model.graph.doc_string = "graph"
    onnx.save(model, path)
    slim = onnx.ModelProto()
    slim.ParseFromString(model_bytes(path))
    for tensor in model.graph.initializer:
        if tensor.name in ("c.w", "e.w"):
            for name in ("raw_data", "external_data", "data_location"):
                tensor.ClearField(name)
    assert slim == model
    assert rows(path)[0] == ("conv", (8, 14, 14), 224, 8 * 27 * 196)


@pytest.mark.parametrize("keep", [1, 3, 40, 0.5, 0.9, -1])
def test_truncated_anywhere_is_one_line(tmp_path: Path, keep: float) -> None:
    path = save(
        tmp_path,
        [conv("c", "x", "y", kernel_shape=[3, 3])],
        [weight("c.w", 8, 3, 3, 3), weight("c.b", 8)],
    )
    data = Path(path).read_bytes()
    cut = int(len(data) * keep) if isinstance(keep, float) else keep
    Path(path).write_bytes(data[:cut])
    with pytest.raises(
        SpecError, match=r"not an ONNX model \((malformed or truncated|it has no graph)\)"
    ):
        load(path)


def test_the_dynamo_exporters_unoptimized_patterns(tmp_path: Path) -> None:
    """A bias-free conv fed zeros cast like the image and expanded (no parameter), and axes
    that are a Reshape of a Constant's value_ints."""
    nodes = [
        helper.make_node("Constant", [], ["n"], value_ints=[8]),
        helper.make_node("Constant", [], ["z"], value_float=0.0),
        helper.make_node("CastLike", ["z", "x"], ["zc"]),
        helper.make_node("Expand", ["zc", "n"], ["bias"]),
        helper.make_node(
            "Conv", ["x", "c.w", "bias"], ["a"], name="node_conv2d", kernel_shape=[3, 3]
        ),
        helper.make_node("Constant", [], ["ax"], value_ints=[-1, -2]),
        helper.make_node("Constant", [], ["flat"], value_ints=[-1]),
        helper.make_node("Reshape", ["ax", "flat"], ["axes"]),
        helper.make_node("ReduceMean", ["a", "axes"], ["y"], name="node_mean", keepdims=1),
    ]
    path = save(tmp_path, nodes, [weight("c.w", 8, 3, 3, 3)], opset=18)
    report = analyze(load(path))
    assert [(row.path, row.type, row.output, row.params) for row in report.rows] == [
        ("conv1", "conv", (8, 14, 14), 8 * 27),
        ("gap1", "globalavgpool", (8, 1, 1), 0),
    ]
