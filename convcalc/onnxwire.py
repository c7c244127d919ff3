"""An ONNX file's bytes without its weights' values, read straight from the protobuf wire format.

A model's weights are most of its file (a ResNet-50 is 100 MB of them) and convcalc needs only
their dims. Parsing the whole file would copy every value into the parsed model; instead the file
is mapped into memory and copied field by field, except the values of large float tensors among
the graph's initializers, which are skipped over by their length. The few hundred kilobytes left
parse in no time, and the pages of weights are never read. Standard library only.

Wire format (https://protobuf.dev/programming-guides/encoding/): each field is a varint key
(field number << 3 | wire type) and a payload: a varint (type 0), 8 bytes (1), a varint length
and that many bytes (2: strings, bytes, messages, packed numbers), or 4 bytes (5).
"""

from __future__ import annotations

import math
import mmap
from collections.abc import Callable, Iterator
from pathlib import Path

MODEL_GRAPH = 7
GRAPH_INITIALIZER = 5
TENSOR_DIMS, TENSOR_DATA_TYPE = 1, 2
VALUE_FIELDS = {4, 9, 10, 13, 14}
"""A TensorProto's float_data, raw_data, double_data, external_data and data_location: where
its values are (dropped: the tensor then reads as one whose values were not saved)."""
FLOAT_TYPES = (1, 10, 11, 16)
"""float32, float16, double, bfloat16: weights, whose values shape inference never needs."""
SMALL_CONSTANT = 64
"""Tensors with at most this many values keep them (shapes, scales, pads, clip bounds)."""


class Malformed(ValueError):
    """The bytes are not a well-formed protobuf message."""


def varint(data: memoryview, position: int) -> tuple[int, int]:
    """The varint at ``position`` and the position after it."""
    value = shift = 0
    while True:
        if position >= len(data) or shift > 63:
            raise Malformed("truncated varint")
        byte = data[position]
        position += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, position
        shift += 7


def encoded(value: int) -> bytes:
    """``value`` as a varint."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def fields(data: memoryview) -> Iterator[tuple[int, int, int, int]]:
    """Each field of the message ``data``: its number, wire type, where it starts (its key) and
    where its payload starts and ends; the payload of a length-delimited field is its bytes."""
    position = 0
    while position < len(data):
        start = position
        key, position = varint(data, position)
        number, wire = key >> 3, key & 7
        if wire == 0:
            _, end = varint(data, position)
        elif wire == 1:
            end = position + 8
        elif wire == 5:
            end = position + 4
        elif wire == 2:
            length, position = varint(data, position)
            end = position + length
        else:
            raise Malformed(f"wire type {wire}")
        if end > len(data) or number == 0:
            raise Malformed("truncated field")
        yield number, start, position, end
        position = end


def rewritten(data: memoryview, rewrites: dict[int, Callable[[memoryview], bytes]]) -> bytes:
    """The message ``data`` with the payloads of the (length-delimited) fields that
    ``rewrites`` has a function for replaced by what it returns; every other field as it is."""
    out: list[bytes | memoryview] = []
    for number, start, payload, end in fields(data):
        rewrite = rewrites.get(number)
        if rewrite is None or data[start] & 7 != 2:
            out.append(data[start:end])
            continue
        inner = rewrite(data[payload:end])
        out += [encoded(number << 3 | 2), encoded(len(inner)), inner]
    return b"".join(out)


def dims_and_type(tensor: memoryview) -> tuple[list[int], int]:
    """A TensorProto's dims (packed or not) and data type."""
    dims: list[int] = []
    data_type = 0
    for number, start, payload, end in fields(tensor):
        wire = tensor[start] & 7
        if number == TENSOR_DIMS and wire == 2:
            position = payload
            while position < end:
                value, position = varint(tensor, position)
                dims.append(value)
        elif number == TENSOR_DIMS:
            dims.append(varint(tensor, payload)[0])
        elif number == TENSOR_DATA_TYPE:
            data_type = varint(tensor, payload)[0]
    return dims, data_type


def without_values(tensor: memoryview) -> bytes:
    """An initializer without its values when it is a large float tensor (a weight)."""
    dims, data_type = dims_and_type(tensor)
    if data_type not in FLOAT_TYPES or math.prod(dims) <= SMALL_CONSTANT:
        return bytes(tensor)
    return b"".join(
        tensor[start:end] for number, start, _, end in fields(tensor) if number not in VALUE_FIELDS
    )


def graph_without_values(graph: memoryview) -> bytes:
    return rewritten(graph, {GRAPH_INITIALIZER: without_values})


def model_bytes(path: str) -> bytes:
    """The ModelProto in the file at ``path`` without its weights' values; raises
    :class:`Malformed` for bytes that are no protobuf message, ``OSError`` for an unreadable
    file."""
    with Path(path).open("rb") as handle:
        if Path(path).stat().st_size == 0:
            return b""
        with mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            view = memoryview(mapped)
            problem = ""
            try:
                data = rewritten(view, {MODEL_GRAPH: graph_without_values})
            except Malformed as error:
                # Raised once the traceback, whose frames hold views of the map, is gone: the
                # map cannot be closed while they live.
                problem = str(error)
            view.release()
    if problem:
        raise Malformed(problem)
    return data
