"""The result of an analysis as plain data: one row per layer or merge, totals, BN folding.

``Report.json_chunks()`` writes the JSON document of SPEC.md §3 (``to_document()`` reads it
back); every renderer reads these objects and nothing else, so the numbers in a table, a CSV and
the JSON are the same numbers.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol, TypeVar

from convcalc.errors import Location
from convcalc.layers.base import Derivation, Layer, Merge, Shape
from convcalc.receptive import ReceptiveField

if TYPE_CHECKING:
    from convcalc.spec import Node

ExtraT = TypeVar("ExtraT")

NETWORK_INPUT = -1
"""The source index that stands for the network's input in :attr:`Row.sources`."""


class Output(NamedTuple):
    """A tensor the network returns: its name, the row that makes it (``NETWORK_INPUT`` for
    the input), its shape and its receptive field."""

    name: str
    row: int
    shape: Shape
    rf: ReceptiveField | None

    def to_document(self) -> dict[str, Any]:
        """``{"name", "shape", "rf"}`` for ``totals.outputs``."""
        field = json.loads(field_json(self.rf))
        return {"name": self.name, "shape": list(self.shape), "rf": field}


# This module's records are not frozen: a frozen dataclass's __init__ sets every field through
# object.__setattr__ (three times the cost of building a row) and defines two more methods at
# import. Nothing assigns to them: a changed copy comes from dataclasses.replace().
@dataclass(slots=True, eq=False)
class Row:
    """One leaf layer or merge (``add``, ``concat``) in execution order.

    ``macs`` and ``activation_bytes`` cover the whole batch; ``params`` and ``buffers`` do not
    depend on it. ``sources`` are the indices of the rows whose outputs this row reads
    (``NETWORK_INPUT`` for the network's input): the dataflow graph that folding and memory
    analyses walk. A merge's ``input`` is its first input; ``merged`` holds all of them, and
    ``merge`` is its kind (a leaf's is ``layer``: every row has exactly one of the two).
    """

    index: int
    path: str
    type: str
    input: Shape
    output: Shape
    params: int
    buffers: int
    macs: int
    rf: ReceptiveField | None
    activation_bytes: int
    warnings: tuple[str, ...] = ()
    sources: tuple[int, ...] = ()
    layer: Layer | None = None
    derivations: tuple[Derivation, ...] = ()
    node: Node | None = None
    merged: tuple[Shape, ...] = ()
    merge: Merge | None = None

    @property
    def kind(self) -> Layer | Merge:
        """The row's kind: its layer, or its merge."""
        kind = self.layer if self.layer is not None else self.merge
        assert kind is not None, f"row {self.path} has neither a layer nor a merge"
        return kind

    @property
    def inputs(self) -> tuple[Shape, ...]:
        """Every input shape: a merge's inputs, or a leaf's one input."""
        return self.merged or (self.input,)

    @property
    def location(self) -> Location:
        """Where the row comes from, for messages: its layer's node (a projection's: its
        residual's), or the container that a merge row closes (worked out only when asked: most
        rows are never the subject of a message)."""
        if self.node is None:
            return Location()
        if self.merge is not None and self.node.container_word:
            return self.node.located(self.node.container_word, self.path.rpartition(".")[0])
        return self.node.located(self.type, self.path)

    @property
    def depth(self) -> int:
        """How deeply the row is nested: the number of dots in its path."""
        return self.path.count(".")


@dataclass(eq=False)
class Totals:
    """Sums over all rows. ``flops`` = 2 × MACs; ``param_bytes`` = params × bytes per value;
    ``activation_bytes`` is the sum of every row's output (the forward pass's outputs, as
    model-summary tools count them); ``rf`` is the last row's field."""

    params: int
    trainable_params: int
    buffers: int
    macs: int
    activation_bytes: int
    param_bytes: int
    rf: ReceptiveField | None
    unsupported: int = 0
    """Rows of ops convcalc does not compute (counted as 0 params and MACs)."""

    @property
    def flops(self) -> int:
        """Floating-point operations: one multiply and one add per MAC."""
        return 2 * self.macs

    def to_document(self) -> dict[str, Any]:
        """The totals as docs/spec.md §3's ``totals`` object (``unsupported`` only when there
        are such rows)."""
        document: dict[str, Any] = {
            "params": self.params,
            "trainable_params": self.trainable_params,
            "buffers": self.buffers,
            "macs": self.macs,
            "flops": self.flops,
            "activation_bytes": self.activation_bytes,
            "param_bytes": self.param_bytes,
            # The field's JSON has one writer, field_json, also the layers'.
            "rf": json.loads(field_json(self.rf)),
        }
        if self.unsupported:
            document["unsupported"] = self.unsupported
        return document


def totals_of(rows: Sequence[Row], bytes_per_value: int) -> Totals:
    """Sum the rows; the final field is the last row's."""
    params = sum(row.params for row in rows)
    return Totals(
        params=params,
        trainable_params=params,
        buffers=sum(row.buffers for row in rows),
        macs=sum(row.macs for row in rows),
        activation_bytes=sum(row.activation_bytes for row in rows),
        param_bytes=params * bytes_per_value,
        rf=rows[-1].rf if rows else None,
        unsupported=sum(1 for row in rows if row.layer is not None and not row.layer.supported),
    )


@dataclass(eq=False)
class FoldedBN:
    """A batchnorm that folds into the conv, deconv or fc at ``into`` (a row index): the layer
    before it (backward) or, in :attr:`Folding.forward`, the conv or fc after it."""

    bn: int
    into: int


@dataclass(eq=False)
class UnfoldedBN:
    """A normalisation layer that stays at inference, and why."""

    bn: int
    reason: str


@dataclass(eq=False)
class Folding:
    """Which batchnorms fold where, and the totals of the network once they are folded.

    ``folded`` fold backward into the layer before them (docs/spec.md §4); every other normalisation
    layer is in ``not_folded`` with its reason. ``forward`` lists the batchnorms among those that
    could instead fold into the conv or fc after them (exact there, as that layer does not
    zero-pad). The ``*_after`` totals are those of the inference network with the ``folded``
    batchnorms removed; row indices refer to the analyzed (unfolded) rows.
    """

    folded: tuple[FoldedBN, ...]
    not_folded: tuple[UnfoldedBN, ...]
    params_after: int
    macs_after: int
    buffers_after: int
    activation_bytes_after: int
    forward: tuple[FoldedBN, ...] = ()
    params_after_forward: int = 0

    @property
    def removed(self) -> tuple[FoldedBN, ...]:
        """The batchnorms that disappear from the inference network: the backward folds."""
        return self.folded

    def to_document(self, rows: tuple[Row, ...]) -> dict[str, Any]:
        """docs/spec.md §3's ``bn_folding`` object; ``rows`` are the rows the indices refer to."""
        path = {row.index: row.path for row in rows}
        return {
            "folded": [{"bn": path[f.bn], "into": path[f.into]} for f in self.folded],
            "not_folded": [{"bn": path[n.bn], "reason": n.reason} for n in self.not_folded],
            "params_after": self.params_after,
            "macs_after": self.macs_after,
            "forward": [{"bn": path[f.bn], "into": path[f.into]} for f in self.forward],
            "buffers_after": self.buffers_after,
            "activation_bytes_after": self.activation_bytes_after,
            "params_after_forward": self.params_after_forward,
        }

    def receivers(self, rows: tuple[Row, ...]) -> dict[str, tuple[str, ...]]:
        """The path of each layer that absorbs batchnorms → the paths of those batchnorms."""
        received: dict[str, tuple[str, ...]] = {}
        for fold in self.removed:
            into = rows[fold.into].path
            received[into] = (*received.get(into, ()), rows[fold.bn].path)
        return received


class Extra(Protocol):
    """An optional view computed from a report (memory, Jacobians, a folded form) that adds its
    own keys to the JSON document; docs/spec.md §3's keys are never changed, only added to."""

    def annotate_layer(self, index: int, layer: dict[str, Any]) -> None:
        """Add this view's keys to the JSON object of row ``index``, in place."""

    def annotate(self, document: dict[str, Any]) -> None:
        """Add this view's keys to the document's ``totals`` or top level, in place (the
        document given has every key but ``layers``)."""


@dataclass(eq=False)
class Report:
    """Everything ``analyze`` and ``layer`` print; ``extras`` are the optional views asked for.

    ``before`` is set on the inference-time view (``--fold-bn``): the report this one was folded
    from. ``folding``'s row indices then refer to ``before.rows``, as the folded batchnorms have no
    rows of their own any more.
    """

    name: str | None
    input: Shape
    batch: int
    dtype: str
    rows: tuple[Row, ...]
    totals: Totals
    folding: Folding
    before: Report | None = None
    extras: tuple[Extra, ...] = ()
    outputs: tuple[Output, ...] = ()
    """The tensors the network returns (``totals.outputs``); none for a single layer."""

    def reads(self, row: Row) -> list[str]:
        """The paths of the rows ``row`` reads (``input`` for the network's input): its
        ``from`` in JSON."""
        return ["input" if source < 0 else self.rows[source].path for source in row.sources]

    def json_chunks(self) -> Iterator[str]:
        """The JSON document in pieces: one top-level key per line and one layer per line, as
        it is produced (holding every row's text at once would double a large network's
        memory). convcalc's one JSON writer: each layer's line is written from the row directly
        (as ``json.dumps(..., ensure_ascii=False)`` would write its object), since building a
        dict and encoding it took most of the per-layer time of a 100,000-layer spec."""
        return json_chunks(self)

    def to_document(self) -> dict[str, Any]:
        """The whole report as its JSON document, read back from :meth:`json_chunks`."""
        document: dict[str, Any] = json.loads("".join(self.json_chunks()))
        return document

    def to_json(self) -> str:
        """The JSON document ``convcalc analyze --json`` writes (see :meth:`json_chunks`)."""
        return "".join(self.json_chunks())

    def extra(self, kind: type[ExtraT]) -> ExtraT | None:
        """The extra of type ``kind``, if the report carries one."""
        return next((extra for extra in self.extras if isinstance(extra, kind)), None)

    def header(self) -> dict[str, Any]:
        """The keys before ``layers``; the folded view adds ``"bn_folded": true``."""
        document: dict[str, Any] = {
            "name": self.name,
            "input": list(self.input),
            "batch": self.batch,
            "dtype": self.dtype,
        }
        if self.before is not None:
            document["bn_folded"] = True
        return document

    def layer_documents(self) -> Iterator[dict[str, Any]]:
        """Each row's JSON object, one at a time, read back from :meth:`json_chunks` (a large
        network's are never all in memory)."""
        chunks = self.json_chunks()
        next(chunks)  # the keys before the layers
        for _, chunk in zip(self.rows, chunks, strict=False):
            layer: dict[str, Any] = json.loads(chunk.lstrip(",\n "))
            yield layer

    def footer(self) -> dict[str, Any]:
        """The keys after ``layers``: totals, BN folding and the extras' keys."""
        document = {
            "totals": self.totals.to_document(),
            "bn_folding": self.folding.to_document((self.before or self).rows),
        }
        if self.outputs:
            document["totals"]["outputs"] = [output.to_document() for output in self.outputs]
        for extra in self.extras:
            extra.annotate(document)
        return document


def number(value: float) -> int | float:
    """Whole numbers as ints (``5`` not ``5.0``), others as they are."""
    return int(value) if float(value).is_integer() else value


encode = json.JSONEncoder(ensure_ascii=False).encode
"""Any JSON value as ``json.dumps(value, ensure_ascii=False)`` writes it."""

string = json.encoder.encode_basestring
"""A str as a JSON string, non-ASCII characters kept (the C encoder's)."""


def json_chunks(report: Report) -> Iterator[str]:
    """:meth:`Report.json_chunks`."""
    yield "{\n" + "".join(f"{item},\n" for item in items(report.header())) + '  "layers": [\n'
    received = report.folding.receivers(report.before.rows) if report.before is not None else {}
    shapes = ShapeTexts()
    # Consecutive rows often share one field object (layers that leave it as it is).
    field: ReceptiveField | None = None
    field_text = "null"
    separator = "    "
    for row in report.rows:
        added: dict[str, Any] = {}
        if row.path in received:
            added["absorbs"] = list(received[row.path])
        if row.layer is not None and not row.layer.supported:
            added["supported"] = False
        for extra in report.extras:
            extra.annotate_layer(row.index, added)
        if row.rf is not field:
            field, field_text = row.rf, field_json(row.rf)
        yield separator + layer_json(row, shapes, field_text, report.reads(row), added)
        separator = ",\n    "
    yield "\n  ],\n" + ",\n".join(items(report.footer())) + "\n}\n"


def layer_json(
    row: Row, shapes: ShapeTexts, field_text: str, reads: list[str], added: dict[str, Any]
) -> str:
    """``row``'s JSON object, its field written as ``field_text``, the paths it ``reads`` as
    ``from``, followed by the ``added`` keys."""
    text = (
        f'{{"index": {row.index}, "path": {string(row.path)}, "type": {string(row.type)}, '
        f'"input": {shapes[row.input]}, "output": {shapes[row.output]}, '
        f'"params": {row.params}, "buffers": {row.buffers}, "macs": {row.macs}, '
        f'"rf": {field_text}, "activation_bytes": {row.activation_bytes}, '
        f'"warnings": {encode(list(row.warnings)) if row.warnings else "[]"}'
    )
    if row.merged:
        text += f', "inputs": [{", ".join(shapes[shape] for shape in row.merged)}]'
    text += f', "from": {encode(reads)}'
    for key, value in added.items():
        text += f", {string(key)}: {value if type(value) is int else encode(value)}"
    return text + "}"


class ShapeTexts(dict[Shape, str]):
    """Each shape's JSON text, ``[C, H, W]``, written on first use (a network has few shapes)."""

    def __missing__(self, shape: Shape) -> str:
        text = self[shape] = f"[{', '.join(map(str, shape))}]"
        return text


def field_json(rf: ReceptiveField | None) -> str:
    """A receptive field as JSON text: size and jump per axis, start, and ``global`` when it
    is."""
    if rf is None:
        return "null"
    (height, width), (down, across), (top, left) = rf.size, rf.jump, rf.start
    text = (
        f'{{"size": [{whole(height)}, {whole(width)}], "jump": [{whole(down)}, {whole(across)}], '
        f'"start": [{float(top)!r}, {float(left)!r}]'
    )
    if rf.is_global:
        text += ', "global": true'
    if rf.local is not None:
        text += f', "local": {field_json(rf.local)}'
    return text + "}"


def whole(value: float) -> str:
    """A number as JSON text, whole numbers as ints: ``5`` for 5.0, ``2.5`` as is."""
    return repr(int(value)) if float(value).is_integer() else repr(value)


def items(document: dict[str, Any]) -> list[str]:
    """``  "key": value`` for each key of ``document``."""
    return [f"  {json.dumps(key)}: {encode(value)}" for key, value in document.items()]
