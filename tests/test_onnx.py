"""ONNX models in: small graphs built with onnx.helper, read as specs and analysed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

onnx = pytest.importorskip("onnx", reason="the onnx package (convcalc[onnx]) is not installed")
from onnx import TensorProto, helper  # noqa: E402

from convcalc.analysis import analyze  # noqa: E402
from convcalc.errors import SpecError  # noqa: E402
from convcalc.loader import load  # noqa: E402
from convcalc.onnxin import onnx_spec  # noqa: E402


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
