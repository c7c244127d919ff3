"""ONNX model → spec: the ops CNN exporters emit mapped to the layer vocabulary.

The model is read with the ``onnx`` package (the ``convcalc[onnx]`` extra), imported only here.
Shapes come from the weights' dims and ONNX shape inference; weight values are never read, so a
model whose external data file is absent still analyses. The result is the spec as YAML text
(``from:`` for graph edges), which the loader validates like any spec: ``convcalc import`` writes
that text, and analysing it gives the model's numbers by construction.
"""

from __future__ import annotations

import contextlib
import math
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from convcalc.errors import ConvcalcError, Location, SpecError, SpecErrors
from convcalc.importspec import RESERVED_NAMES, Item, grouped, item_lines, plain
from convcalc.onnxwire import SMALL_CONSTANT

INSTALL_HINT = 'reading ONNX models needs the onnx package: pip install "convcalc[onnx]"'


ACTIVATIONS = {
    "Relu": "relu",
    "Tanh": "tanh",
    "HardSwish": "hardswish",
    "Mish": "mish",
    "Gelu": "gelu",
    "Softmax": "softmax",
}
"""Ops that are one activation kind, options aside."""
MAX_INFERENCE_PASSES = 64
"""How many rounds of shape inference may resolve shape arithmetic that feeds shape arithmetic."""


def looks_like_onnx(path: str) -> bool:
    """Whether the file at ``path`` holds an ONNX model: its suffix, or its first bytes as a
    serialized ModelProto writes them (field 1, ``ir_version``, a small varint)."""
    if path.lower().endswith(".onnx"):
        return True
    try:
        with Path(path).open("rb") as handle:
            head = handle.read(2)
    except OSError:
        return False
    return len(head) == 2 and head[0] == 0x08 and 0 < head[1] < 0x80


class Imported(NamedTuple):
    """An ONNX model as a spec: its text, how many of its rows are ops outside the mapping,
    and the notes to show with its numbers."""

    text: str
    unsupported: int
    notes: tuple[str, ...]


BN_FOLDED_NOTE = (
    "the model has no BatchNormalization: PyTorch's exporter folded it into the convs, so these "
    "are the inference network's numbers (to keep BN, export with dynamo=False, "
    "training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False; or with dynamo=True, "
    "optimize=False)"
)
"""Measured with torch 2.14.1: the legacy exporter keeps every BN with either option, the dynamo
exporter ignores both and keeps them only unoptimized."""


def onnx_spec(
    path: str, input_shape: Sequence[int] | None = None, strict: bool = False, flat: bool = False
) -> Imported:
    """The spec text of the ONNX model at ``path`` (``flat``: ``from:`` everywhere, no blocks),
    how many of its rows are unsupported (``strict``: each such op is an error, located at its
    node) and its notes."""
    try:
        import onnx
    except ImportError:
        raise SpecError(INSTALL_HINT, Location(path)) from None
    model = read_model(onnx, path)
    translator = Translator(onnx, model, path, input_shape, flat)
    text = translator.spec_text()
    if strict and translator.refused:
        errors: list[ConvcalcError] = [
            SpecError(f"unsupported op: {reason} (--strict)", translator.node_location(node))
            for node, reason in translator.refused
        ]
        raise errors[0] if len(errors) == 1 else SpecErrors(errors)
    notes = (BN_FOLDED_NOTE,) if translator.bn_folded_by_pytorch() else ()
    return Imported(text, len(translator.refused), notes)


def read_model(onnx: Any, path: str) -> Any:
    """The parsed model, weights' values dropped (their dims stay; see :mod:`convcalc.onnxwire`:
    the values are never read, let alone parsed)."""
    from google.protobuf.message import DecodeError  # type: ignore[import-untyped]

    from convcalc.onnxwire import Malformed, model_bytes

    malformed = SpecError("not an ONNX model (malformed or truncated)", Location(path))
    try:
        data = model_bytes(path)
    except OSError as error:
        raise SpecError(f"cannot read the model: {error.strerror}", Location(path)) from None
    except Malformed:
        raise malformed from None
    model = onnx.ModelProto()
    try:
        model.ParseFromString(data)
    except (DecodeError, RuntimeError, ValueError):
        raise malformed from None
    if not model.HasField("graph") or not model.graph.node:
        raise SpecError("not an ONNX model (it has no graph)", Location(path))
    return model


@dataclass
class Tensor:
    """A graph tensor as the spec sees it: the item name that makes it (``input`` for the
    network's input) and whether it is a channels-last view (after a Transpose to NHWC)."""

    item: str
    channels_last: bool = False


@dataclass
class Translator:
    onnx: Any
    model: Any
    path: str
    input_shape: Sequence[int] | None
    flat: bool = False
    """Whether to write every item with ``from:``, without residual, concat and gate blocks."""
    items: list[Item] = field(default_factory=list)
    tensors: dict[str, Tensor] = field(default_factory=dict)
    shapes: dict[str, tuple[int, ...]] = field(default_factory=dict)
    constants: dict[str, Any] = field(default_factory=dict)
    weights: dict[str, tuple[int, ...]] = field(default_factory=dict)
    consumers: dict[str, list[Any]] = field(default_factory=dict)
    done: set[int] = field(default_factory=set)
    names: set[str] = field(default_factory=set)
    counters: dict[str, int] = field(default_factory=dict)
    refused: list[tuple[Any, str]] = field(default_factory=list)
    """The ops outside the mapping, with why: each is an ``opaque`` item."""
    meta: set[str] = field(default_factory=set)
    image_tensors: set[str] = field(default_factory=set)
    image: tuple[int, ...] = ()
    batch: int = 1

    def __post_init__(self) -> None:
        graph = self.model.graph
        import numpy
        from onnx import numpy_helper

        for tensor in graph.initializer:
            self.weights[tensor.name] = tuple(tensor.dims)
            if math.prod(tensor.dims) <= SMALL_CONSTANT and tensor.data_location == 0:
                # A weight saved without its values raises: only its dims count.
                with contextlib.suppress(ValueError):
                    self.constants[tensor.name] = numpy_helper.to_array(tensor)
        for node in graph.node:
            if node.op_type == "Constant":
                for attribute in node.attribute:
                    if attribute.name == "value":
                        self.constants[node.output[0]] = numpy_helper.to_array(attribute.t)
                    elif attribute.name in (
                        "value_int",
                        "value_ints",
                        "value_float",
                        "value_floats",
                    ):
                        value = self.onnx.helper.get_attribute_value(attribute)
                        self.constants[node.output[0]] = numpy.asarray(value)
        self.find_input()
        self.fold_shape_arithmetic()
        for node in graph.node:
            for name in node.input:
                self.consumers.setdefault(name, []).append(node)

    def fold_shape_arithmetic(self) -> None:
        """Shape inference, with the shape arithmetic exporters write (``Shape → Gather → Div →
        Concat → Reshape``, ShuffleNet's channel shuffle) replaced by its values, until every
        shape that needs them is known."""
        from onnx import numpy_helper

        for _ in range(MAX_INFERENCE_PASSES):
            self.infer_shapes()
            for node in self.ordered():
                if node.op_type == "Shape" or not any(
                    name in self.tensors or name in self.image_tensors for name in data_inputs(node)
                ):
                    self.meta.update(node.output)
                    self.evaluate(node)
                else:
                    self.image_tensors.update(node.output)
            replaced = False
            for node in self.model.graph.node:
                if node.op_type == "Shape" or not any(n in self.image_tensors for n in node.input):
                    continue
                for index, name in enumerate(node.input):
                    if name in self.meta and name in self.constants:
                        value = numpy_helper.from_array(self.constants[name], f"{name}:value")
                        self.model.graph.initializer.append(value)
                        self.constants[value.name] = self.constants[name]
                        self.weights[value.name] = tuple(value.dims)
                        node.input[index] = value.name
                        replaced = True
            if not replaced:
                return

    # --- reading the graph -----------------------------------------------------------------------

    def find_input(self) -> None:
        """The image input: the graph input that is no weight, of rank 4 (N×C×H×W)."""
        graph = self.model.graph
        inputs = [value for value in graph.input if value.name not in self.weights]
        images = [value for value in inputs if len(value.type.tensor_type.shape.dim) == 4]
        if not images:
            found = ", ".join(
                f"{value.name} (rank {len(value.type.tensor_type.shape.dim)})" for value in inputs
            )
            raise SpecError(
                f"the model has no image input (N×C×H×W); its inputs: {found or 'none'}",
                Location(self.path),
            )
        image = images[0]
        dims = image.type.tensor_type.shape.dim
        values = [dim.dim_value if dim.HasField("dim_value") else None for dim in dims]
        self.batch = values[0] or 1
        if self.input_shape is not None:
            if len(self.input_shape) != 3:
                raise SpecError("--input: an ONNX image input needs C×H×W", Location(self.path))
            values[1:] = list(self.input_shape)
        symbolic = [
            f"{axis} ({dims[index].dim_param or '?'})"
            for index, axis in enumerate("NCHW")
            if index and values[index] is None
        ]
        if symbolic:
            raise SpecError(
                f'input "{image.name}": symbolic size of {", ".join(symbolic)}; give --input C×H×W',
                Location(self.path),
            )
        for index, value in enumerate(values):
            dims[index].dim_value = value if index else self.batch
        self.image = tuple(values[1:])  # type: ignore[arg-type]
        self.tensors[image.name] = Tensor("input")
        self.image_tensors.add(image.name)

    def infer_shapes(self) -> None:
        """Every tensor's shape from ONNX shape inference, batch included."""
        try:
            inferred = self.onnx.shape_inference.infer_shapes(self.model, data_prop=True)
        except Exception as error:
            raise SpecError(
                f"ONNX shape inference failed: {str(error).splitlines()[0]}", Location(self.path)
            ) from None
        graph = inferred.graph
        for value in [*graph.value_info, *graph.output, *graph.input]:
            dims = value.type.tensor_type.shape.dim
            if all(dim.HasField("dim_value") for dim in dims):
                self.shapes[value.name] = tuple(dim.dim_value for dim in dims)
        for name, dims in self.weights.items():
            self.shapes.setdefault(name, dims)

    def ordered(self) -> Iterator[Any]:
        """The nodes in an order where every input is made before it is read; a cycle is an
        error naming a node on it."""
        graph = self.model.graph
        made = {value.name for value in graph.input} | set(self.weights) | {""}
        waiting = list(graph.node)
        while waiting:
            blocked = []
            for node in waiting:
                if all(name in made for name in node.input):
                    made.update(node.output)
                    yield node
                else:
                    blocked.append(node)
            if len(blocked) == len(waiting):
                node = blocked[0]
                missing = next(name for name in node.input if name not in made)
                outputs = {name for other in graph.node for name in other.output}
                problem = "the graph has a cycle" if missing in outputs else "unknown tensor"
                raise SpecError(
                    f"{problem}: it reads {missing!r}, never made before it",
                    self.node_location(node),
                )
            waiting = blocked

    def node_location(self, node: Any) -> Location:
        return Location(
            self.path, None, None, f'node "{node.name or node.output[0]}" ({node.op_type})'
        )

    def evaluate(self, node: Any) -> None:
        """The value of a small computation on shapes and constants, when it is one of the
        few ops exporters use for that (others leave the value unknown)."""
        import numpy as np

        weight = self.weights.get(node.input[0]) if node.input else None
        if weight is not None and node.op_type in ("Identity", "Cast", "Transpose"):
            # A weight used transposed (a Linear exported without constant folding).
            perm = self.attributes(node).get("perm", list(range(len(weight)))[::-1])
            transposed = node.op_type == "Transpose"
            self.weights[node.output[0]] = tuple(weight[i] for i in perm) if transposed else weight
        values: list[Any] = [self.constants.get(name) for name in data_inputs(node)]
        if node.op_type == "Shape":
            values = [np.array(self.shape(node.input[0]), dtype=np.int64)]
        elif any(value is None for value in values):
            return
        attributes = self.attributes(node)
        operations: dict[str, Callable[[], Any]] = {
            "Shape": lambda: values[0],
            "Gather": lambda: np.take(values[0], values[1], axis=attributes.get("axis", 0)),
            "Unsqueeze": lambda: np.reshape(values[0], (-1,)),
            "Squeeze": lambda: np.squeeze(values[0]),
            "Concat": lambda: np.concatenate([np.reshape(v, (-1,)) for v in values]),
            "Cast": lambda: values[0],
            "CastLike": lambda: values[0],
            "Reshape": lambda: np.reshape(values[0], [int(size) for size in values[1]]),
            "Add": lambda: values[0] + values[1],
            "Sub": lambda: values[0] - values[1],
            "Mul": lambda: values[0] * values[1],
            "Div": lambda: (
                values[0] // values[1] if values[0].dtype.kind == "i" else values[0] / values[1]
            ),
        }
        operation = operations.get(node.op_type)
        if operation is not None:
            # An unusual use raises: the value stays unknown.
            with contextlib.suppress(ValueError, TypeError, IndexError):
                self.constants[node.output[0]] = np.asarray(operation())

    # --- helpers -----------------------------------------------------------------------------

    def attributes(self, node: Any) -> dict[str, Any]:
        return {
            attribute.name: self.onnx.helper.get_attribute_value(attribute)
            for attribute in node.attribute
        }

    def constant(self, name: str) -> Any:
        return self.constants.get(name) if name else None

    def shape(self, name: str) -> tuple[int, ...]:
        return self.shapes.get(name, ())

    def source(self, name: str) -> Tensor:
        return self.tensors[name]

    def only_consumer(self, name: str) -> Any:
        users = self.consumers.get(name, [])
        outputs = {value.name for value in self.model.graph.output}
        return users[0] if len(users) == 1 and name not in outputs else None

    def has_bias(self, node: Any) -> bool:
        """Whether a Conv, ConvTranspose or Gemm has a bias parameter: a third input that is a
        weight (the dynamo exporter feeds a bias-free conv zeros computed from a constant)."""
        return len(node.input) > 2 and node.input[2] in self.weights

    def item_name(self, node: Any, kind: str) -> str:
        """A readable, valid, unique name: the exporter's module path when its names say
        something (``/layer1/layer1.0/conv1/Conv`` → ``layer1_0_conv1``), else kind + count
        (the dynamo exporter's ``node_conv2d_5`` names an op, not a module)."""
        parts: list[str] = []
        scoped = "/" in node.name or not node.name.startswith("node_")
        components = [part for part in node.name.split("/") if part] if scoped else []
        operation = (
            components.pop() if components and components[-1].split("_")[0] == node.op_type else ""
        )
        for component in components:
            # Scopes name a module relative to their parent (`block` then `block.0`).
            if parts and component.startswith(parts[-1] + "."):
                parts[-1] = component
            else:
                parts.append(component)
        if operation and parts and re.search(r"\.\d+$", parts[-1]):
            parts.append(kind)
        base = re.sub(r"[^A-Za-z0-9_]+", "_", ".".join(parts)).strip("_")
        if not base or not base[0].isalpha() or re.fullmatch(r"[A-Za-z]+_\d+", base):
            self.counters[kind] = self.counters.get(kind, 0) + 1
            base = f"{kind}{self.counters[kind]}"
        if base.lower() in RESERVED_NAMES:
            base += "_"
        name, suffix = base, 2
        while name in self.names:
            name, suffix = f"{base}_{suffix}", suffix + 1
        self.names.add(name)
        return name

    def emit(
        self, node: Any, kind: str, options: dict[str, Any], sources: list[str], output: str = ""
    ) -> Item:
        item = Item(
            kind, options, self.item_name(node, kind), [self.source(s).item for s in sources]
        )
        self.items.append(item)
        self.tensors[output or node.output[0]] = Tensor(item.name)
        return item

    def alias(self, node: Any, source: str, channels_last: bool | None = None) -> None:
        tensor = self.source(source)
        last = tensor.channels_last if channels_last is None else channels_last
        for output in node.output:
            self.tensors[output] = Tensor(tensor.item, last)

    # --- the translation ---------------------------------------------------------------------

    def spec_text(self) -> str:
        for node in self.ordered():
            if id(node) in self.done:
                continue
            if node.op_type == "Shape" or not any(
                name in self.tensors for name in data_inputs(node)
            ):
                # Arithmetic on shapes and constants (``x.size(1) // groups``): no layer; the
                # layers it feeds take their shapes from shape inference.
                continue
            if node.op_type == "Constant":
                continue
            if node.op_type in ACTIVATIONS:
                self.activation(node, ACTIVATIONS[node.op_type])
                continue
            handler = getattr(self, f"op_{node.op_type}", None)
            reason = handler(node) if handler is not None else "no mapping for this op"
            if reason:
                self.unsupported_node(node, reason)
        return self.render()

    def unsupported_node(self, node: Any, reason: str) -> None:
        """An op outside the mapping: an ``opaque`` item per output, of the shape ONNX shape
        inference gives it, reading the first computed tensor the op reads."""
        self.refused.append((node, reason))
        source = next(name for name in node.input if name in self.tensors)
        for output in node.output:
            if not output:
                continue
            shape = self.shape(output)
            last = self.source(source).channels_last and len(shape) == 4
            sample = (shape[3], shape[1], shape[2]) if last else shape[1:]
            if not shape or len(sample) not in (1, 3):
                found = f"rank {len(shape)}" if shape else "unknown to ONNX shape inference"
                raise SpecError(
                    f"unsupported ({reason}), and its output {output!r} is {found}: "
                    "convcalc can only pass on an N×C×H×W or N×D tensor",
                    self.node_location(node),
                )
            options: dict[str, Any] = {
                "op": f"onnx:{node.op_type}",
                "shape": sample[0] if len(sample) == 1 else "x".join(map(str, sample)),
            }
            name = self.item_name(node, node.op_type.lower())
            item = Item("opaque", options, name, [self.source(source).item], reason)
            self.items.append(item)
            self.tensors[output] = Tensor(item.name)

    def spatial(self, node: Any, options: dict[str, Any]) -> tuple[list[int], str | None]:
        """A window op's padding as [top, bottom, left, right] (auto_pad resolved)."""
        attributes = self.attributes(node)
        kernel = list(attributes.get("kernel_shape") or self.weights[node.input[1]][2:])
        strides = list(attributes.get("strides", [1, 1]))
        dilations = list(attributes.get("dilations", [1, 1]))
        auto = attributes.get("auto_pad", b"NOTSET")
        auto = auto.decode() if isinstance(auto, bytes) else auto
        height, width = self.shape(node.input[0])[2:4]
        if auto in ("SAME_UPPER", "SAME_LOWER"):
            pads = []
            for size, k, s, d in zip((height, width), kernel, strides, dilations, strict=True):
                total = max((math.ceil(size / s) - 1) * s + (k - 1) * d + 1 - size, 0)
                small = total // 2
                pads.append(
                    (small, total - small) if auto == "SAME_UPPER" else (total - small, small)
                )
            padding = [pads[0][0], pads[0][1], pads[1][0], pads[1][1]]
        elif auto == "VALID":
            padding = [0, 0, 0, 0]
        else:
            raw = list(attributes.get("pads", [0, 0, 0, 0]))
            padding = [raw[0], raw[2], raw[1], raw[3]]
        options["kernel"] = kernel[0] if kernel[0] == kernel[1] else kernel
        pool = node.op_type not in ("Conv", "ConvTranspose")
        if strides != ([1, 1] if not pool else kernel):
            options["stride"] = strides[0] if strides[0] == strides[1] else strides
        if dilations != [1, 1]:
            options["dilation"] = dilations[0] if dilations[0] == dilations[1] else dilations
        return padding, None

    def padded(self, node: Any, kind: str, options: dict[str, Any], padding: list[int]) -> None:
        """A window layer, behind a pad layer when its padding is not the same on both sides."""
        source = node.input[0]
        top, bottom, left, right = padding
        if top == bottom and left == right:
            if top or left:
                options["pad"] = top if top == left else [top, left]
            self.emit(node, kind, options, [source])
            return
        pad_node = self.onnx.helper.make_node(
            "Pad",
            [source],
            [node.output[0] + "_pad"],
            name=(node.name + "_pad") if node.name else "",
        )
        self.emit(pad_node, "pad", {"pad": padding}, [source])
        pad_tensor = pad_node.output[0]
        self.shapes[pad_tensor] = ()
        item = Item(kind, options, self.item_name(node, kind), [self.tensors[pad_tensor].item])
        self.items.append(item)
        self.tensors[node.output[0]] = Tensor(item.name)

    def op_Conv(self, node: Any) -> str | None:
        weight = self.weights.get(node.input[1])
        if weight is None or len(weight) != 4:
            return "a Conv whose weight is not a 4-D initializer"
        groups = self.attributes(node).get("group", 1)
        options: dict[str, Any] = {"filters": weight[0]}
        padding, _ = self.spatial(node, options)
        if groups != 1:
            options["groups"] = groups
        if not self.has_bias(node):
            options["bias"] = False
        self.padded(node, "conv", options, padding)
        return None

    def op_ConvTranspose(self, node: Any) -> str | None:
        weight = self.weights.get(node.input[1])
        if weight is None or len(weight) != 4:
            return "a ConvTranspose whose weight is not a 4-D initializer"
        attributes = self.attributes(node)
        groups = attributes.get("group", 1)
        options: dict[str, Any] = {"filters": weight[1] * groups}
        raw = list(attributes.get("pads", [0, 0, 0, 0]))
        self.spatial(node, options)
        if raw[0] != raw[2] or raw[1] != raw[3]:
            return "a ConvTranspose with asymmetric pads"
        if raw[0] or raw[1]:
            options["pad"] = raw[0] if raw[0] == raw[1] else [raw[0], raw[1]]
        kernel = self.weights[node.input[1]][2:]
        strides = list(attributes.get("strides", [1, 1]))
        dilations = list(attributes.get("dilations", [1, 1]))
        height, width = self.shape(node.input[0])[2:4]
        out = self.shape(node.output[0])[2:4]
        if out:
            extra = [
                o - ((size - 1) * s - 2 * p + d * (k - 1) + 1)
                for o, size, s, p, d, k in zip(
                    out, (height, width), strides, raw[:2], dilations, kernel, strict=True
                )
            ]
            if any(extra):
                options["output_padding"] = extra[0] if extra[0] == extra[1] else extra
        if groups != 1:
            options["groups"] = groups
        if not self.has_bias(node):
            options["bias"] = False
        self.emit(node, "deconv", options, [node.input[0]])
        return None

    def op_Gemm(self, node: Any) -> str | None:
        weight = self.weights.get(node.input[1])
        if weight is None or len(weight) != 2:
            return "a Gemm whose B is not a 2-D initializer"
        attributes = self.attributes(node)
        if attributes.get("transA", 0):
            return "a Gemm with transA"
        out = weight[0] if attributes.get("transB", 0) else weight[1]
        bias = self.has_bias(node)
        self.emit(
            node, "fc", {"out": out} if bias else {"out": out, "bias": False}, [node.input[0]]
        )
        return None

    def op_MatMul(self, node: Any) -> str | None:
        weight = self.weights.get(node.input[1])
        if weight is None or len(weight) != 2:
            return "a MatMul of two computed tensors"
        if self.source(node.input[0]).channels_last:
            item = self.emit(
                node, "conv", {"filters": weight[1], "kernel": 1, "bias": False}, [node.input[0]]
            )
            self.tensors[node.output[0]].channels_last = True
            del item
            return None
        self.emit(node, "fc", {"out": weight[1], "bias": False}, [node.input[0]])
        return None

    def op_BatchNormalization(self, node: Any) -> str | None:
        eps = self.attributes(node).get("epsilon", 1e-5)
        options: dict[str, Any] = {}
        if not math.isclose(eps, 1e-5, rel_tol=1e-6):
            options["eps"] = float(f"{eps:.6g}")
        self.emit(node, "bn", options, [node.input[0]])
        return None

    def op_InstanceNormalization(self, node: Any) -> str | None:
        self.emit(node, "instancenorm", {"affine": True}, [node.input[0]])
        return None

    def op_GroupNormalization(self, node: Any) -> str | None:
        groups = self.attributes(node)["num_groups"]
        self.emit(node, "groupnorm", {"groups": groups}, [node.input[0]])
        return None

    def op_LayerNormalization(self, node: Any) -> str | None:
        axis = self.attributes(node).get("axis", -1)
        rank = len(self.shape(node.input[0]))
        if self.source(node.input[0]).channels_last and axis in (-1, rank - 1):
            self.emit(node, "layernorm", {"over": "channels"}, [node.input[0]])
            self.tensors[node.output[0]].channels_last = True
            return None
        if axis in (1, 1 - rank) and not self.source(node.input[0]).channels_last:
            self.emit(node, "layernorm", {}, [node.input[0]])
            return None
        return f"a LayerNormalization over axis {axis}"

    def pool(self, node: Any, kind: str) -> str | None:
        attributes = self.attributes(node)
        options: dict[str, Any] = {}
        padding, _ = self.spatial(node, options)
        if attributes.get("ceil_mode", 0):
            options["ceil_mode"] = True
        if kind == "avgpool":
            options["count_include_pad"] = bool(attributes.get("count_include_pad", 0))
        self.padded(node, kind, options, padding)
        return None

    def op_MaxPool(self, node: Any) -> str | None:
        return self.pool(node, "maxpool")

    def op_AveragePool(self, node: Any) -> str | None:
        return self.pool(node, "avgpool")

    def op_GlobalAveragePool(self, node: Any) -> str | None:
        self.emit(node, "gap", {}, [node.input[0]])
        return None

    def op_GlobalMaxPool(self, node: Any) -> str | None:
        self.emit(node, "gmp", {}, [node.input[0]])
        return None

    def op_ReduceMean(self, node: Any) -> str | None:
        attributes = self.attributes(node)
        axes = attributes.get("axes")
        if axes is None and len(node.input) > 1:
            axes = self.constant(node.input[1])
        rank = len(self.shape(node.input[0]))
        if axes is None or sorted(int(a) % rank for a in axes) != [2, 3]:
            return "a ReduceMean not over H×W"
        item = self.emit(node, "gap", {}, [node.input[0]])
        if not attributes.get("keepdims", 1):
            self.items.append(Item("flatten", {}, self.item_name(node, "flatten"), [item.name]))
            self.tensors[node.output[0]] = Tensor(self.items[-1].name)
        return None

    def activation(
        self, node: Any, kind: str, options: dict[str, Any] | None = None, source: str = ""
    ) -> None:
        """A layer that keeps its input's shape (and layout)."""
        source = source or node.input[0]
        self.emit(node, kind, options or {}, [source])
        self.tensors[node.output[0]].channels_last = self.source(source).channels_last

    def op_HardSigmoid(self, node: Any) -> str | None:
        self.gated(node, "hardsigmoid", "hardswish")
        return None

    def op_Elu(self, node: Any) -> str | None:
        alpha = self.attributes(node).get("alpha", 1.0)
        self.activation(node, "elu", {} if alpha == 1.0 else {"alpha": float(f"{alpha:.6g}")})
        return None

    def op_LeakyRelu(self, node: Any) -> str | None:
        alpha = self.attributes(node).get("alpha", 0.01)
        self.activation(node, "leakyrelu", {"negative_slope": float(f"{alpha:.6g}")})
        return None

    def op_PRelu(self, node: Any) -> str | None:
        slope = self.weights.get(node.input[1], ())
        self.activation(node, "prelu", {"shared": math.prod(slope) == 1})
        return None

    def op_Clip(self, node: Any) -> str | None:
        attributes = self.attributes(node)
        low = attributes.get("min")
        high = attributes.get("max")
        if len(node.input) > 1:
            low = self.constant(node.input[1])
        if len(node.input) > 2:
            high = self.constant(node.input[2])
        if low is not None and high is not None and float(low) == 0.0 and float(high) == 6.0:
            self.activation(node, "relu6")
            return None
        if low is not None and float(low) == 0.0 and high is None:
            self.activation(node, "relu")
            return None
        return "a Clip other than ReLU6 or ReLU"

    def op_Sigmoid(self, node: Any) -> str | None:
        self.gated(node, "sigmoid", "silu")
        return None

    def gated(self, node: Any, kind: str, self_gated: str) -> None:
        """A sigmoid-like op, or with the Mul of its input that follows it (x · σ(x)) the
        self-gated activation (``self_gated``: SiLU, HardSwish) as one row."""
        consumer = self.only_consumer(node.output[0])
        if (
            consumer is not None
            and consumer.op_type == "Mul"
            and set(consumer.input) == {node.input[0], node.output[0]}
        ):
            self.done.add(id(consumer))
            self.activation(node, self_gated)
            self.tensors[consumer.output[0]] = self.tensors[node.output[0]]
            return
        self.activation(node, kind)

    def op_Erf(self, node: Any) -> str | None:
        """GELU as exporters spell it: x · ½ · (1 + erf(x / √2)), in any order of the Mul."""
        divide = next((n for n in self.model.graph.node if node.input[0] in n.output), None)
        if divide is None or divide.op_type not in ("Div", "Mul") or id(divide) not in self.done:
            return "an Erf outside the GELU pattern"
        x = divide.input[0]
        chain = [node]
        current = node
        while True:
            consumer = self.only_consumer(current.output[0])
            if consumer is None or consumer.op_type not in ("Add", "Mul"):
                break
            chain.append(consumer)
            current = consumer
            if consumer.op_type == "Mul" and x in consumer.input:
                following = self.only_consumer(consumer.output[0])
                if (
                    following is not None
                    and following.op_type == "Mul"
                    and any(self.constant(name) is not None for name in following.input)
                ):
                    chain.append(following)
                    current = following
                break
        if x not in current.input and not any(x in n.input for n in chain[1:]):
            return "an Erf outside the GELU pattern"
        self.done.update(id(n) for n in chain)
        item = Item("gelu", {}, self.item_name(node, "gelu"), [self.source(x).item])
        self.items.append(item)
        self.tensors[current.output[0]] = Tensor(item.name, self.source(x).channels_last)
        return None

    def binary_constant(self, node: Any) -> tuple[str, Any] | None:
        """(the computed input, the constant) of an Add/Mul/Div/Sub with one constant input."""
        first, second = node.input[0], node.input[1]
        if second in self.weights or second in self.constants:
            return first, self.weights.get(second) or self.constant(second)
        if first in self.weights or first in self.constants:
            return second, self.weights.get(first) or self.constant(first)
        return None

    def scalar_or_alias(self, node: Any) -> str | None:
        """x op c for a scalar c: the same tensor as far as shapes go (scaling, GELU's x/√2)."""
        pair = self.binary_constant(node)
        if pair is None:
            return None
        source, constant = pair
        count = math.prod(constant) if isinstance(constant, tuple) else constant.size
        if count == 1 and source in self.tensors:
            self.alias(node, source)
            self.done.add(id(node))
            return ""
        return None

    def op_Add(self, node: Any) -> str | None:
        pair = self.binary_constant(node)
        if pair is not None:
            source, constant = pair
            count = math.prod(constant) if isinstance(constant, tuple) else constant.size
            item = next(
                (i for i in reversed(self.items) if i.name == self.source(source).item), None
            )
            if (
                item is not None
                and item.kind in ("conv", "fc", "deconv")
                and item.options.get("bias", True) is False
                and count == item.options.get("filters", item.options.get("out"))
                and self.only_consumer(source) is node
            ):
                del item.options["bias"]
                self.alias(node, source)
                return None
            if self.scalar_or_alias(node) == "":
                return None
            return "an Add of a constant that is no bias"
        return self.merge(node, "add")

    def op_Mul(self, node: Any) -> str | None:
        pair = self.binary_constant(node)
        if pair is not None:
            source, constant = pair
            count = math.prod(constant) if isinstance(constant, tuple) else constant.size
            if count == 1:
                self.alias(node, source)
                self.done.add(id(node))
                return None
            channels = self.shape(source)[-1 if self.source(source).channels_last else 1]
            if count == channels:
                self.activation(node, "layerscale", source=source)
                return None
            return "a Mul by a constant that is no layer scale"
        return self.merge(node, "mul")

    def op_Div(self, node: Any) -> str | None:
        if self.scalar_or_alias(node) == "":
            return None
        return "a Div other than by a scalar"

    op_Sub = op_Div

    def merge(self, node: Any, kind: str) -> str | None:
        item = self.emit(node, kind, {"from": list(node.input)}, [])
        item.options["from"] = [self.source(name).item for name in node.input]
        item.shapes = tuple(self.shape(name) for name in [*node.input, node.output[0]])
        return None

    def op_Concat(self, node: Any) -> str | None:
        axis = self.attributes(node)["axis"]
        if axis % len(self.shape(node.output[0]) or [0, 0]) != 1:
            return f"a Concat along axis {axis}"
        if len(node.input) == 1:
            self.alias(node, node.input[0])
            return None
        return self.merge(node, "concat")

    def op_Identity(self, node: Any) -> str | None:
        source = node.input[0]
        if source in self.weights or source in self.constants:
            # The legacy exporter stores equal weights once and copies them with Identity.
            if source in self.weights:
                self.weights[node.output[0]] = self.weights[source]
            if source in self.constants:
                self.constants[node.output[0]] = self.constants[source]
            return None
        self.alias(node, source)
        return None

    op_Dropout = op_Identity

    def op_Flatten(self, node: Any) -> str | None:
        if self.attributes(node).get("axis", 1) != 1:
            return "a Flatten not from axis 1"
        self.emit(node, "flatten", {}, [node.input[0]])
        return None

    def op_Squeeze(self, node: Any) -> str | None:
        shape = self.shape(node.output[0])
        if len(shape) == 2 and self.shape(node.input[0])[2:] == (1, 1):
            self.emit(node, "flatten", {}, [node.input[0]])
            return None
        return "a Squeeze other than of 1×1"

    def reshaped(self, node: Any) -> tuple[int, ...]:
        """A Reshape's output shape: inferred, or from its shape input's known value."""
        shape_in, target = self.shape(node.input[0]), self.constant(node.input[1])
        if self.shape(node.output[0]) or target is None or not shape_in:
            return self.shape(node.output[0])
        dims = [shape_in[i] if int(d) == 0 else int(d) for i, d in enumerate(target)]
        if -1 in dims:
            dims[dims.index(-1)] = math.prod(shape_in) // -math.prod(dims)
        self.shapes[node.output[0]] = tuple(dims)
        return tuple(dims)

    def op_Reshape(self, node: Any) -> str | None:
        shape_in = self.shape(node.input[0])
        shape_out = self.reshaped(node)
        if len(shape_out) == 2 and shape_in and math.prod(shape_in[1:]) == shape_out[1]:
            self.emit(node, "flatten", {}, [node.input[0]])
            return None
        if len(shape_out) == 5 and len(shape_in) == 4:
            transpose = self.only_consumer(node.output[0])
            if transpose is not None and transpose.op_type == "Transpose":
                perm = list(self.attributes(transpose).get("perm", []))
                back = self.only_consumer(transpose.output[0])
                copies = []
                while back is not None and back.op_type == "Identity":
                    # The dynamo exporter writes torch's contiguous copy as an Identity.
                    copies.append(id(back))
                    back = self.only_consumer(back.output[0])
                if perm == [0, 2, 1, 3, 4] and back is not None and back.op_type == "Reshape":
                    self.shapes[back.input[0]] = tuple(shape_out[i] for i in (0, 2, 1, 3, 4))
                    if self.reshaped(back) != shape_in:
                        return "a Reshape other than to a vector or a channel shuffle"
                    self.done.update((id(transpose), id(back), *copies))
                    self.emit(
                        node,
                        "channelshuffle",
                        {"groups": shape_out[1]},
                        [node.input[0]],
                        back.output[0],
                    )
                    return None
        return "a Reshape other than to a vector or a channel shuffle"

    def op_Transpose(self, node: Any) -> str | None:
        perm = list(self.attributes(node).get("perm", []))
        last = self.source(node.input[0]).channels_last
        if perm == [0, 2, 3, 1] and not last:
            self.alias(node, node.input[0], channels_last=True)
            return None
        if perm == [0, 3, 1, 2] and last:
            self.alias(node, node.input[0], channels_last=False)
            return None
        return f"a Transpose {perm}"

    def op_Resize(self, node: Any) -> str | None:
        attributes = self.attributes(node)
        mode = attributes.get("mode", b"nearest")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        kinds = {"nearest": "nearest", "linear": "bilinear", "cubic": "bicubic"}
        out = self.shape(node.output[0])
        if len(out) != 4 or out[:2] != self.shape(node.input[0])[:2]:
            return "a Resize other than of H×W"
        options: dict[str, Any] = {"size": list(out[2:]), "mode": kinds[mode]}
        transform = attributes.get("coordinate_transformation_mode", b"half_pixel")
        if transform in (b"align_corners", "align_corners"):
            options["align_corners"] = True
        self.emit(node, "upsample", options, [node.input[0]])
        return None

    op_Upsample = op_Resize

    def op_Pad(self, node: Any) -> str | None:
        attributes = self.attributes(node)
        pads = attributes.get("pads")
        if pads is None and len(node.input) > 1:
            pads = self.constant(node.input[1])
        if pads is None or len(pads) != 8:
            return "a Pad whose pads are computed"
        pads = [int(p) for p in pads]
        if pads[0] or pads[1] or pads[4] or pads[5] or min(pads) < 0:
            return "a Pad of batch or channels, or a negative one"
        mode = attributes.get("mode", b"constant")
        mode = mode.decode() if isinstance(mode, bytes) else mode
        modes = {"constant": "zeros", "reflect": "reflect", "edge": "replicate", "wrap": "circular"}
        options: dict[str, Any] = {"pad": [pads[2], pads[6], pads[3], pads[7]]}
        if mode != "constant":
            options["mode"] = modes[mode]
        self.emit(node, "pad", options, [node.input[0]])
        return None

    def op_Slice(self, node: Any) -> str | None:
        starts, ends = self.constant(node.input[1]), self.constant(node.input[2])
        axes = self.constant(node.input[3]) if len(node.input) > 3 else None
        steps = self.constant(node.input[4]) if len(node.input) > 4 else None
        shape = self.shape(node.input[0])
        if (
            starts is None
            or ends is None
            or len(starts) != 1
            or (steps is not None and int(steps[0]) != 1)
        ):
            return "a Slice other than a run of one axis"
        axis = int(axes[0]) % len(shape) if axes is not None else 0
        size = shape[axis]
        start = min(int(starts[0]) + (size if int(starts[0]) < 0 else 0), size)
        end = min(int(ends[0]) + (size if int(ends[0]) < 0 else 0), size)
        if axis == 1:
            self.emit(node, "slice", {"channels": [start, end]}, [node.input[0]])
            return None
        if axis in (2, 3):
            side = ("top", "bottom") if axis == 2 else ("left", "right")
            self.emit(node, "crop", {side[0]: start, side[1]: size - end}, [node.input[0]])
            return None
        return f"a Slice along axis {axis}"

    def op_Split(self, node: Any) -> str | None:
        attributes = self.attributes(node)
        shape = self.shape(node.input[0])
        if attributes.get("axis", 0) % len(shape) != 1:
            return "a Split other than of channels"
        start = 0
        for output in node.output:
            count = self.shape(output)[1]
            self.emit(node, "slice", {"channels": [start, start + count]}, [node.input[0]], output)
            start += count
        return None

    def op_DepthToSpace(self, node: Any) -> str | None:
        self.emit(
            node, "pixelshuffle", {"factor": self.attributes(node)["blocksize"]}, [node.input[0]]
        )
        return None

    def op_SpaceToDepth(self, node: Any) -> str | None:
        self.emit(
            node, "pixelunshuffle", {"factor": self.attributes(node)["blocksize"]}, [node.input[0]]
        )
        return None

    # --- the text ----------------------------------------------------------------------------

    def bn_folded_by_pytorch(self) -> bool:
        """Whether PyTorch's exporter made the model and it has no BatchNormalization: exported
        in eval mode, which folds every BN into the conv before it."""
        return "pytorch" in self.model.producer_name.lower() and not any(
            node.op_type == "BatchNormalization" for node in self.model.graph.node
        )

    def render(self) -> str:
        graph = self.model.graph
        opset = max(
            (o.version for o in self.model.opset_import if o.domain in ("", "ai.onnx")), default=0
        )
        producer = f"{self.model.producer_name} {self.model.producer_version}".strip()
        source = Path(self.path).name
        lines = [
            f"# Imported from {source} (ONNX opset {opset}, produced by {producer or 'unknown'})."
        ]
        if self.bn_folded_by_pytorch():
            lines.append("# No BatchNormalization: PyTorch's exporter folded it into the convs.")
        name = (
            graph.name
            if graph.name and graph.name not in ("main_graph", "torch_jit")
            else Path(self.path).stem
        )
        lines += [f"name: {plain(name)}", "input: " + "x".join(map(str, self.image))]
        if self.batch != 1:
            lines.append(f"batch: {self.batch}")
        lines.append("layers:")
        outputs = [
            self.tensors[value.name].item for value in graph.output if value.name in self.tensors
        ]
        items = self.items
        if not self.flat:
            items, outputs = grouped(items, outputs)
        lines += item_lines(items, "  ", "input")
        if outputs and outputs != [items[-1].name]:
            lines.append(f"outputs: [{', '.join(outputs)}]")
        return "\n".join(lines) + "\n"


def data_inputs(node: Any) -> Sequence[str]:
    """The inputs whose values a node reads: CastLike reads only its second input's type (the
    dynamo exporter casts constants like the image)."""
    inputs: Sequence[str] = node.input[:1] if node.op_type == "CastLike" else node.input
    return inputs
