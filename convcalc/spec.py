"""The typed spec: a network of layers and containers, as the loader validated it.

Nodes keep their position in the source (``location``) and their index path in the spec
(``spec_path``, e.g. ``layers[3].body[0]``) so that later stages can say where a problem is.
Blocks are already expanded: a ``use`` node holds the block's layers with its parameters filled in.
This module is plain data; the loader validates the text into it (options: :mod:`convcalc.options`).

Nodes are never assigned to once built (identical uses of a block share one expansion): a changed
copy comes from ``dataclasses.replace``. They are not frozen dataclasses, whose ``__init__`` sets
every field through ``object.__setattr__``, as large specs build hundreds of thousands of them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal, NamedTuple

from convcalc.errors import Location
from convcalc.layers.base import Layer, Merge, Shape


class TensorRef(NamedTuple):
    """A named tensor an item reads (``from: c2``): resolved like a variable, from the item's
    own layer list outward; ``outside`` counts the blocks whose expansion the name comes from
    outside of (a block's parameter, ``from: $skip``, names a tensor where the block is used)."""

    name: str
    outside: int = 0


@dataclass(kw_only=True, eq=False, slots=True)
class Node:
    """Common to every node: an optional explicit name and where it was written."""

    name: str | None
    spec_path: str
    location: Location = field(default_factory=Location)
    bound: Mapping[str, str] | None = None
    """Which of its options (a layer's, ``times``, a use's ``with`` keys) the spec set to a
    parameter of the enclosing block, by option: ``{"filters": "width"}`` for
    ``filters: $width`` (``None``: none). Exporting a block as a class writes those as its
    constructor's arguments."""
    source: TensorRef | None = None
    """The tensor the item reads (``from:``); ``None``: the previous item's output."""

    container_word: ClassVar[str] = ""
    """For a container that ends in a merge row (residual, concat): its type, which names the
    merge row in messages (the row's path is the container's, plus the merge's type)."""
    merge_words: ClassVar[tuple[str, str]] = ("", "")
    """For such a container: what its merge row is and what path a tensor it reads takes, in
    words, for BN folding's reasons (a residual's add reads the identity shortcut)."""

    def located(self, kind: str, name: str) -> Location:
        """Where this node is, for a message about the ``kind`` named ``name`` it makes: its
        position and ``<index path> <kind> "<name>"``, e.g. ``layers[3] conv "stage1.conv1"``."""
        file, line, column, _ = self.location
        return Location(file, line, column, f'{self.spec_path} {kind} "{name}"'.lstrip())


@dataclass(kw_only=True, eq=False, slots=True)
class LayerNode(Node):
    """A leaf layer with validated options."""

    layer: Layer


@dataclass(kw_only=True, eq=False, slots=True)
class ResidualNode(Node):
    """body(x) + shortcut(x); the shortcut is identity (``None``), ``project`` or layers."""

    container_word = "residual"
    merge_words = (
        "a residual add (the sum of two branches, not one layer's output)",
        "the residual's identity shortcut",
    )

    body: tuple[Node, ...] = ()
    shortcut: tuple[Node, ...] | Literal["project"] | None = None


@dataclass(kw_only=True, eq=False, slots=True)
class ConcatNode(Node):
    """Branches applied to the same input, joined along the channels."""

    container_word = "concat"
    merge_words = ("a concat (several branches' outputs side by side)", "a pass-through branch")

    branches: tuple[tuple[Node, ...], ...] = ()


@dataclass(kw_only=True, eq=False, slots=True)
class GateNode(Node):
    """x · body(x): the body's output (C×1×1 for squeeze-and-excitation) must broadcast to x."""

    container_word = "gate"
    merge_words = (
        "a gate's multiply (the input times its body's output, not one layer's output)",
        "the gate's input",
    )

    body: tuple[Node, ...] = ()


@dataclass(kw_only=True, eq=False, slots=True)
class MergeNode(Node):
    """A merge of named tensors: ``add: {from: [a, b]}``."""

    merge: Merge
    sources: tuple[TensorRef, ...] = ()


@dataclass(kw_only=True, eq=False, slots=True)
class RepeatNode(Node):
    """``layers`` applied ``times`` times in sequence."""

    times: int
    layers: tuple[Node, ...] = ()


@dataclass(kw_only=True, eq=False, slots=True)
class UseNode(Node):
    """A use of a named block, expanded with its parameters."""

    block: str
    layers: tuple[Node, ...] = ()
    arguments: Mapping[str, Any] | None = None
    """The block's parameters for this use: its defaults overridden by ``with``."""
    defaults: Mapping[str, Any] | None = None
    """The block's declared parameters and their defaults (``None``: no default)."""


@dataclass(kw_only=True, eq=False, slots=True)
class Network:
    """A whole spec: input shape per sample, batch N, dtype, the layers in order and the
    tensors it returns (``outputs``; none given: the last layer's)."""

    input: Shape
    layers: tuple[Node, ...]
    outputs: tuple[TensorRef, ...] = ()
    outputs_at: tuple[Location, ...] = ()
    """Where each of ``outputs`` is written."""
    name: str | None = None
    batch: int = 1
    dtype: str = "float32"
    source: str | None = None
    params: Mapping[str, Any] | None = None
    """The spec's top-level ``params`` and their values (after ``--set``); exporting the
    network as a class writes those its layers read as its constructor's arguments."""
    notes: tuple[str, ...] = ()
    """What the source says about itself that changes how its numbers read (an ONNX exporter
    that folded the batchnorms into the convs), one line each."""
