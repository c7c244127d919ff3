"""The few parts of the onnx package convcalc uses, loaded without ``import onnx`` where it can.

``import onnx`` costs about a second, nearly all of it ml_dtypes (imported by onnx.helper through
onnx._mapping), which convcalc never needs: it reads a model with the generated protobuf classes
(``onnx/onnx_ml_pb2.py``, which imports only google.protobuf) and infers shapes with onnx's C
extension (``onnx/onnx_cpp2py_export``). :func:`load` loads those two modules from the
installed package's folder without running its ``__init__.py``, and reads the small constants,
attributes and nodes convcalc needs straight from their protobuf fields
(:class:`DirectOnnx`). The loaded modules are handed to the import system when the process
imports ``onnx`` itself later (:class:`LoadedModules`), so they are not loaded twice (protobuf
refuses a second registration of onnx.proto's messages) and ``onnx.ModelProto`` is the class
convcalc parsed with.

It relies on the package's file layout and on the extension's ``infer_shapes`` signature, so it
is used only on the onnx releases it was written for and checked against,
:data:`ONNX_RELEASES`; on any other release, or when the files are not where it expects them,
convcalc imports onnx and uses its public functions (:class:`PublicOnnx`). ``tests/test_onnx.py``
runs both paths.

Gain, measured by ``benchmarks/run.py --only onnx-json --baseline main`` (onnx 1.23.2, 9
interleaved rounds): ``convcalc analyze resnet50.onnx --json`` (torchvision's ResNet-50 exported
with its weights) took 0.36× the time it took through ``import onnx`` (0.57 s against 1.58 s,
64 % saved), its CPU time from 2.0–2.3 s to 0.8–1.0 s and its peak memory from 103 to 79 MiB.
"""

from __future__ import annotations

import functools
import importlib.abc
import importlib.machinery
import importlib.util
import re
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any, Protocol

ONNX_RELEASES = ((1, 23), (1, 24))
"""The onnx releases the direct path is written for: 1.23, up to, not including, 1.24."""

PROTO_MODULE = "onnx.onnx_ml_pb2"
EXTENSION_MODULE = "onnx.onnx_cpp2py_export"

# TensorProto data types whose values numpy reads as they are stored (the others — strings,
# complex numbers, bfloat16, 8-, 4- and 2-bit floats — go through onnx's numpy_helper).
FLOAT, UINT8, INT8, UINT16, INT16, INT32, INT64 = 1, 2, 3, 4, 5, 6, 7
BOOL, FLOAT16, DOUBLE, UINT32, UINT64 = 9, 10, 11, 12, 13
NUMPY_TYPES = {
    FLOAT: "float32",
    UINT8: "uint8",
    INT8: "int8",
    UINT16: "uint16",
    INT16: "int16",
    INT32: "int32",
    INT64: "int64",
    BOOL: "bool",
    FLOAT16: "float16",
    DOUBLE: "float64",
    UINT32: "uint32",
    UINT64: "uint64",
}
"""The numpy dtype of each such type."""
STORAGE_FIELDS = {
    FLOAT: "float_data",
    INT64: "int64_data",
    DOUBLE: "double_data",
    UINT32: "uint64_data",
    UINT64: "uint64_data",
}
"""Where a tensor without raw_data keeps its values; the other types keep them in int32_data
(16-bit ones as their bit pattern)."""

ATTRIBUTE_FIELDS = (
    None,
    "f",
    "i",
    "s",
    "t",
    "g",
    "floats",
    "ints",
    "strings",
    "tensors",
    "graphs",
    "sparse_tensor",
    "sparse_tensors",
    "tp",
    "type_protos",
)
"""The field holding an AttributeProto's value, by its ``type`` (UNDEFINED = 0 has none)."""


class Onnx(Protocol):
    """What convcalc's ONNX reader uses from onnx."""

    ModelProto: Any

    def infer_shapes(self, model: Any) -> Any:
        """``model`` with every shape ONNX shape inference finds (data propagation on)."""

    def to_array(self, tensor: Any) -> Any:
        """A TensorProto's values as a numpy array."""

    def from_array(self, array: Any, name: str) -> Any:
        """A numpy array as a TensorProto named ``name``."""

    def attribute_value(self, attribute: Any) -> Any:
        """An AttributeProto's value (a list for the repeated kinds)."""

    def make_node(
        self, op_type: str, inputs: Sequence[str], outputs: Sequence[str], name: str
    ) -> Any:
        """A NodeProto."""


class PublicOnnx:
    """onnx's public functions, after ``import onnx``."""

    def __init__(self, onnx: ModuleType) -> None:
        self.onnx = onnx
        self.ModelProto = onnx.ModelProto

    def infer_shapes(self, model: Any) -> Any:
        return self.onnx.shape_inference.infer_shapes(model, data_prop=True)

    def to_array(self, tensor: Any) -> Any:
        return self.onnx.numpy_helper.to_array(tensor)

    def from_array(self, array: Any, name: str) -> Any:
        return self.onnx.numpy_helper.from_array(array, name)

    def attribute_value(self, attribute: Any) -> Any:
        return self.onnx.helper.get_attribute_value(attribute)

    def make_node(
        self, op_type: str, inputs: Sequence[str], outputs: Sequence[str], name: str
    ) -> Any:
        return self.onnx.helper.make_node(op_type, inputs, outputs, name=name)


class DirectOnnx:
    """onnx's protobuf classes and its C extension's shape inference, read without onnx's Python
    code; a value of a type numpy has no plain dtype for is read by onnx's own numpy_helper."""

    def __init__(self, proto: ModuleType, extension: ModuleType) -> None:
        self.proto = proto
        self.ModelProto = proto.ModelProto
        self.inference = extension.shape_inference

    def infer_shapes(self, model: Any) -> Any:
        # As onnx.shape_inference.infer_shapes(model, data_prop=True) calls it: check_type and
        # strict_mode off.
        inferred = self.inference.infer_shapes(model.SerializeToString(), False, False, True)
        return self.ModelProto.FromString(inferred)

    def to_array(self, tensor: Any) -> Any:
        import numpy as np

        dtype = NUMPY_TYPES.get(tensor.data_type)
        if dtype is None or tensor.HasField("segment") or tensor.data_location != 0:
            from onnx import numpy_helper

            return numpy_helper.to_array(tensor)
        dims = tuple(tensor.dims)
        if tensor.HasField("raw_data"):
            return np.frombuffer(tensor.raw_data, dtype=np.dtype(dtype).newbyteorder("<")).reshape(
                dims
            )
        field = STORAGE_FIELDS.get(tensor.data_type)
        if field is not None:
            return np.array(getattr(tensor, field), dtype=dtype).reshape(dims)
        stored = np.array(tensor.int32_data, dtype=np.int32)
        if np.dtype(dtype).itemsize == 2:
            return stored.view(np.uint32).astype(np.uint16).view(dtype).reshape(dims)
        if dtype in ("uint8", "bool"):
            return stored.view(np.uint32).astype(np.uint8).view(dtype).reshape(dims)
        return stored.astype(dtype).reshape(dims)

    def from_array(self, array: Any, name: str) -> Any:
        import numpy as np

        types = {np.dtype(dtype): code for code, dtype in NUMPY_TYPES.items()}
        code = types.get(array.dtype)
        if code is None:
            from onnx import numpy_helper

            return numpy_helper.from_array(array, name)
        tensor = self.proto.TensorProto(name=name, data_type=code, dims=array.shape)
        tensor.raw_data = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes()
        return tensor

    def attribute_value(self, attribute: Any) -> Any:
        if attribute.ref_attr_name:
            raise ValueError(f"Cannot get value of reference attribute: {attribute}")
        if not 0 <= attribute.type < len(ATTRIBUTE_FIELDS):
            raise ValueError(f"Unsupported ONNX attribute: {attribute}")
        field = ATTRIBUTE_FIELDS[attribute.type]
        if field is None:
            return None
        value = getattr(attribute, field)
        return list(value) if field.endswith("s") and field != "s" else value

    def make_node(
        self, op_type: str, inputs: Sequence[str], outputs: Sequence[str], name: str
    ) -> Any:
        node = self.proto.NodeProto(op_type=op_type, input=inputs, output=outputs)
        if name:
            node.name = name
        return node


class LoadedModules(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Gives the import system the modules :func:`direct` loaded, when ``import onnx`` asks for
    them: they are then set as the package's attributes, as any submodule is."""

    def __init__(self, modules: dict[str, ModuleType]) -> None:
        self.modules = modules

    def find_spec(self, name: str, path: Any, target: Any = None) -> Any:
        module = self.modules.get(name)
        if module is None:
            return None
        return importlib.util.spec_from_loader(name, self, origin=module.__file__)

    def create_module(self, spec: Any) -> ModuleType:
        module = self.modules.pop(spec.name)
        if not self.modules:
            sys.meta_path.remove(self)
        return module

    def exec_module(self, module: ModuleType) -> None:
        """Already executed when loaded."""


def written_for(version: str) -> bool:
    """Whether onnx ``version`` (``1.23.2``) is one of :data:`ONNX_RELEASES`."""
    numbers = re.match(r"(\d+)\.(\d+)", version)
    if numbers is None:
        return False
    release = (int(numbers[1]), int(numbers[2]))
    first, beyond = ONNX_RELEASES
    return first <= release < beyond


@functools.cache
def direct() -> DirectOnnx | None:
    """:class:`DirectOnnx`, on the onnx releases it is written for and when the package's files
    are where it expects them (else None); loaded once per process."""
    from importlib import metadata

    try:
        version = metadata.version("onnx")
        # find_spec of a top-level package locates it without running its __init__.py.
        package = importlib.util.find_spec("onnx")
    except (metadata.PackageNotFoundError, ValueError):
        return None
    if not written_for(version) or package is None or not package.submodule_search_locations:
        return None
    folder = Path(package.submodule_search_locations[0])
    extensions = [
        folder / f"onnx_cpp2py_export{suffix}" for suffix in importlib.machinery.EXTENSION_SUFFIXES
    ]
    paths = {
        PROTO_MODULE: folder / "onnx_ml_pb2.py",
        EXTENSION_MODULE: next((path for path in extensions if path.is_file()), None),
    }
    if not all(path is not None and path.is_file() for path in paths.values()):
        return None
    modules = {name: loaded(name, path) for name, path in paths.items() if path is not None}
    sys.meta_path.insert(0, LoadedModules(dict(modules)))
    return DirectOnnx(modules[PROTO_MODULE], modules[EXTENSION_MODULE])


def loaded(name: str, path: Path) -> ModuleType:
    """The module at ``path`` executed under its dotted ``name`` (not registered as imported)."""
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(name)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def load() -> Onnx:
    """onnx's parts convcalc uses: :class:`DirectOnnx` unless onnx is imported already or the
    installed release is not one it is written for; raises ImportError without onnx."""
    if "onnx" not in sys.modules:
        parts = direct()
        if parts is not None:
            return parts
    import onnx

    return PublicOnnx(onnx)
