"""onnx's parts read directly (convcalc/onnxparts.py): the same values as onnx's public functions,
no ``import onnx`` in a fresh process, and a later ``import onnx`` sharing the loaded modules."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest

onnx = pytest.importorskip("onnx", reason="the onnx package (convcalc[onnx]) is not installed")
from onnx import AttributeProto, TensorProto, helper, numpy_helper  # noqa: E402

from convcalc import onnxparts  # noqa: E402
from convcalc.onnxin import onnx_spec  # noqa: E402
from convcalc.onnxparts import DirectOnnx, PublicOnnx  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

DIRECT = DirectOnnx(onnx.onnx_ml_pb2, onnx.onnx_cpp2py_export)
"""The direct reading, on the modules this process's ``import onnx`` loaded."""
PUBLIC = PublicOnnx(onnx)

NUMPY_TENSOR_TYPES = [
    TensorProto.FLOAT,
    TensorProto.UINT8,
    TensorProto.INT8,
    TensorProto.UINT16,
    TensorProto.INT16,
    TensorProto.INT32,
    TensorProto.INT64,
    TensorProto.BOOL,
    TensorProto.FLOAT16,
    TensorProto.DOUBLE,
    TensorProto.UINT32,
    TensorProto.UINT64,
]
OTHER_TENSOR_TYPES = [TensorProto.BFLOAT16, TensorProto.FLOAT8E4M3FN, TensorProto.INT4]


def same_array(ours: Any, theirs: Any) -> None:
    assert ours.dtype == theirs.dtype
    assert ours.shape == theirs.shape
    assert ours.tobytes() == theirs.tobytes()


@pytest.mark.parametrize("raw", [False, True])
@pytest.mark.parametrize("data_type", NUMPY_TENSOR_TYPES + OTHER_TENSOR_TYPES)
def test_tensor_values_are_numpy_helpers(data_type: int, raw: bool) -> None:
    values = [0, 1, 3, 1, 0, 2] if data_type != TensorProto.BOOL else [1, 0, 1, 1, 0, 0]
    if data_type in (TensorProto.INT8, TensorProto.INT16, TensorProto.INT32, TensorProto.INT64):
        values = [-3, 7, 0, -1, 2, 5]
    tensor = helper.make_tensor("t", data_type, [2, 3], values)
    if raw:
        tensor = numpy_helper.from_array(numpy_helper.to_array(tensor), "t")
    same_array(DIRECT.to_array(tensor), numpy_helper.to_array(tensor))


def test_a_scalar_and_an_empty_tensor() -> None:
    for array in (np.array(7, dtype=np.int64), np.zeros((0, 3), dtype=np.float32)):
        tensor = numpy_helper.from_array(array, "t")
        same_array(DIRECT.to_array(tensor), array)


@pytest.mark.parametrize(
    "array",
    [
        np.array([1, 64, -1], dtype=np.int64),
        np.array(3, dtype=np.int64),
        np.array([[0.5, -2.0]], dtype=np.float32),
        np.array([1.25], dtype=np.float64),
        np.array([True, False]),
        np.array([2, 3], dtype=np.int32).T,
    ],
)
def test_arrays_to_tensors_as_numpy_helper(array: Any) -> None:
    assert DIRECT.from_array(array, "v") == numpy_helper.from_array(array, "v")


def attributes() -> list[Any]:
    tensor = helper.make_tensor("t", TensorProto.INT64, [2], [1, 2])
    graph = helper.make_graph([], "g", [], [])
    made = [
        helper.make_attribute("f", 0.5),
        helper.make_attribute("i", 3),
        helper.make_attribute("s", "same"),
        helper.make_attribute("t", tensor),
        helper.make_attribute("g", graph),
        helper.make_attribute("floats", [0.5, 1.5]),
        helper.make_attribute("ints", [1, 2, 3]),
        helper.make_attribute("strings", ["a", "b"]),
        helper.make_attribute("tensors", [tensor, tensor]),
        helper.make_attribute("graphs", [graph]),
        helper.make_attribute("empty", [], attr_type=AttributeProto.INTS),
        AttributeProto(name="undefined"),
    ]
    return made


@pytest.mark.parametrize("attribute", attributes(), ids=lambda attribute: attribute.name)
def test_attribute_values_are_helpers(attribute: Any) -> None:
    assert DIRECT.attribute_value(attribute) == helper.get_attribute_value(attribute)


def test_a_reference_attribute_is_refused_as_by_helper() -> None:
    attribute = AttributeProto(name="alpha", ref_attr_name="a", type=AttributeProto.FLOAT)
    with pytest.raises(ValueError, match="reference attribute"):
        helper.get_attribute_value(attribute)
    with pytest.raises(ValueError, match="reference attribute"):
        DIRECT.attribute_value(attribute)


@pytest.mark.parametrize("name", ["", "/c/Conv_pad"])
def test_nodes_are_helpers(name: str) -> None:
    ours = DIRECT.make_node("Pad", ["x"], ["y_pad"], name)
    assert ours == helper.make_node("Pad", ["x"], ["y_pad"], name=name or None)
    assert PUBLIC.make_node("Pad", ["x"], ["y_pad"], name) == ours


def model_path(tmp_path: Path) -> str:
    """A model with what convcalc reads through these parts: a conv padded on one side (a pad
    node made), shape arithmetic (constants, attributes, folded values) and a Constant node."""
    weight = TensorProto(name="c.w", data_type=TensorProto.FLOAT, dims=[8, 3, 3, 3])
    index = numpy_helper.from_array(np.array(0, dtype=np.int64), "index")
    nodes = [
        helper.make_node(
            "Conv", ["x", "c.w"], ["a"], name="/c/Conv", pads=[0, 0, 1, 1], strides=[2, 2]
        ),
        helper.make_node("Shape", ["a"], ["s"]),
        helper.make_node("Gather", ["s", "index"], ["n"], axis=0),
        helper.make_node("Constant", [], ["zero"], value_ints=[0]),
        helper.make_node("Unsqueeze", ["n", "zero"], ["n1"]),
        helper.make_node("Constant", [], ["flat"], value_ints=[-1]),
        helper.make_node("Concat", ["n1", "flat"], ["shape"], axis=0),
        helper.make_node("Reshape", ["a", "shape"], ["y"]),
    ]
    image = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 16, 16])
    result = helper.make_tensor_value_info("y", TensorProto.FLOAT, None)
    graph = helper.make_graph(nodes, "g", [image], [result], [weight, index])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.producer_name = "test"
    path = tmp_path / "model.onnx"
    path.write_bytes(model.SerializeToString())
    return str(path)


def test_shapes_inferred_as_by_onnx(tmp_path: Path) -> None:
    model = onnx.load(model_path(tmp_path))
    assert DIRECT.infer_shapes(model) == PUBLIC.infer_shapes(model)


FRESH_PROCESS = """
import json, sys
from convcalc import onnxparts
from convcalc.onnxin import onnx_spec
text = onnx_spec(sys.argv[1]).text
parts = onnxparts.load()
found = {
    "text": text,
    "direct": type(parts).__name__,
    "imported": sorted(n for n in sys.modules if n in ("onnx", "onnx.helper", "ml_dtypes")),
}
import onnx, onnx.onnx_ml_pb2
model = onnx.load(sys.argv[1])
inferred = onnx.shape_inference.infer_shapes(model, data_prop=True)
found["shared"] = [
    onnx.ModelProto is parts.ModelProto,
    onnx.onnx_ml_pb2.ModelProto is parts.ModelProto,
    onnx.onnx_cpp2py_export.shape_inference is parts.inference,
    sys.modules["onnx.onnx_ml_pb2"] is parts.proto,
    type(inferred) is parts.ModelProto,
    len(inferred.graph.value_info) > 0,
    onnx_spec(sys.argv[1]).text == text,
]
found["meta_path"] = [type(finder).__name__ for finder in sys.meta_path]
print(json.dumps(found))
"""


def in_a_fresh_process(script: str, *arguments: str) -> str:
    """What ``script`` prints, run by this Python with this checkout's convcalc."""
    environment = {**os.environ, "PYTHONPATH": str(ROOT)}
    result = subprocess.run(
        [sys.executable, "-c", script, *arguments],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    return result.stdout


DIRECT_SPEC = """
import sys
from convcalc.onnxin import onnx_spec
text = onnx_spec(sys.argv[1]).text
assert not {"onnx", "onnx.helper", "ml_dtypes"} & set(sys.modules)
print(text, end="")
"""
"""The spec text of a model, read without ``import onnx`` (which this script checks)."""


def spec_read_directly(path: str) -> str:
    return in_a_fresh_process(DIRECT_SPEC, path)


def test_a_fresh_process_reads_the_model_without_import_onnx(tmp_path: Path) -> None:
    """The direct path (this process has imported onnx, so it takes the public one): the same
    spec, onnx and ml_dtypes not imported, and a later ``import onnx`` works on the modules the
    direct path loaded."""
    path = model_path(tmp_path)
    found = json.loads(in_a_fresh_process(FRESH_PROCESS, path))
    assert type(onnxparts.load()) is PublicOnnx
    assert found["text"] == onnx_spec(path).text
    assert "pad: [0, 1, 0, 1]" in found["text"]
    assert found["direct"] == "DirectOnnx"
    assert found["imported"] == []
    assert found["shared"] == [True] * 7
    assert "LoadedModules" not in found["meta_path"]


@pytest.mark.parametrize(
    ("version", "written"),
    [("1.23.2", True), ("1.23.0rc1", True), ("1.22.1", False), ("1.24.0", False), ("dev", False)],
)
def test_written_for_these_releases_only(version: str, written: bool) -> None:
    assert onnxparts.written_for(version) is written


def test_another_release_takes_the_public_path(monkeypatch: pytest.MonkeyPatch) -> None:
    from importlib import metadata

    monkeypatch.setattr(metadata, "version", lambda name: "1.99.0")
    assert onnxparts.direct.__wrapped__() is None


def test_files_elsewhere_take_the_public_path(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """A package whose folder lacks the generated classes or the extension is read through
    ``import onnx``."""
    import importlib.machinery
    import importlib.util

    (tmp_path / "onnx_ml_pb2.py").write_text("")
    elsewhere = importlib.machinery.ModuleSpec("onnx", None, is_package=True)
    elsewhere.submodule_search_locations = [str(tmp_path)]
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: elsewhere)
    assert onnxparts.direct.__wrapped__() is None


def test_analyze_imports_neither_onnx_nor_ml_dtypes(tmp_path: Path) -> None:
    from tests.test_startup import loaded_modules

    modules, output = loaded_modules("analyze", model_path(tmp_path), "--json")
    assert not {"onnx", "onnx.helper", "ml_dtypes"} & modules
    assert "onnx.onnx_cpp2py_export.shape_inference" in modules
    assert json.loads(output)["totals"]["params"] == 8 * 3 * 3 * 3
