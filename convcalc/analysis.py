"""Walks a typed spec, applies each layer's arithmetic and builds the report's rows and totals.

Rows come out flat, in execution order: every leaf layer, then one ``add`` row per residual and
one ``concat`` row per concat. Default names count per type within each scope (conv1, conv2…
inside ``stage2.basic1.body``); ``repeat`` keeps counting across its iterations.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace

from convcalc.errors import (
    MAX_ERRORS,
    ConvcalcError,
    Location,
    OptionError,
    ShapeError,
    SpecError,
    SpecErrors,
    StrictError,
    shorten,
    suggestion,
)
from convcalc.folding import fold_batchnorms
from convcalc.layers.base import Layer, Merge, Outcome, Shape, broadcast, elements, format_shape
from convcalc.layers.conv import Conv
from convcalc.layers.merge import Add, Concat, Mul
from convcalc.layers.norm import BatchNorm
from convcalc.receptive import ReceptiveField, union
from convcalc.report import NETWORK_INPUT, Output, Report, Row, totals_of
from convcalc.spec import (
    ConcatNode,
    GateNode,
    LayerNode,
    MergeNode,
    Network,
    Node,
    RepeatNode,
    ResidualNode,
    TensorRef,
    UseNode,
)
from convcalc.tensors import MAX_DIMENSION, dtype_bytes


# Not frozen, like Row (built once per row, never assigned to).
@dataclass(slots=True, eq=False, repr=False)
class Flow:
    """The tensor at one point of the network: its shape, its field and the row that made it."""

    shape: Shape
    rf: ReceptiveField | None
    source: int = NETWORK_INPUT


MAX_PATH = 1000
"""A row's path (its name with those of the blocks around it) has at most this many
characters."""

UNKNOWN: Shape = ()
"""The shape of a tensor that could not be worked out (a layer before it failed or could not
be read): what reads it is not analyzed, only checked as far as its own options go."""

PROBES: tuple[Shape, ...] = ((720720, 4096, 4096), (720720,))
"""Inputs a layer with an unknown input is tried on, to find what its own options get wrong
(a pool's padding wider than half its kernel) whatever its input: an image and a vector large
enough for any window, with channels divisible by every group count up to 16."""


@dataclass(eq=False, repr=False)
class Scope:
    """A layer list being run: the path prefix of its rows, how many of each type it has named
    so far, and the tensors its items have named, for ``from:``.

    Names resolve like variables: in this list, then in the enclosing lists (``parent``),
    outward, but not past a block's expansion (``block``): a block reads an outside tensor
    only through a parameter. ``entry`` is the list's input, named ``input``; ``ahead`` holds
    the explicit names of items not run yet (to say that a name is defined later).
    """

    prefix: str
    entry: Flow | None = None
    parent: Scope | None = None
    block: bool = False
    counters: Counter[str] = field(default_factory=Counter)
    taken: set[str] = field(default_factory=set)
    tensors: dict[str, Flow] = field(default_factory=dict)
    ahead: set[str] = field(default_factory=set)

    def path_of(self, explicit: str | None, stem: str, node: Node) -> str:
        """The node's path: its explicit name or stem + counter (a taken name gets ``_2``…), at
        most :data:`MAX_PATH` characters (names nested in blocks would otherwise multiply)."""
        self.counters[stem] += 1
        name = explicit or f"{stem}{self.counters[stem]}"
        if name in self.taken:
            suffix = 2
            while f"{name}_{suffix}" in self.taken:
                suffix += 1
            name = f"{name}_{suffix}"
        self.taken.add(name)
        path = f"{self.prefix}.{name}" if self.prefix else name
        if len(path) > MAX_PATH:
            raise ShapeError(
                f"the layer path is {len(path):,} characters long (at most {MAX_PATH:,}): "
                "give the enclosing blocks shorter names or nest fewer of them",
                node.located(stem, shorten(path)),
            )
        return path

    def child(self, path: str, entry: Flow, *, block: bool = False) -> Scope:
        """A fresh list nested under ``path`` whose input is ``entry``."""
        return Scope(path, entry=entry, parent=self, block=block)

    def name(self, explicit: str | None, path: str, flow: Flow) -> None:
        """Name the output of the item at ``path`` (and by its explicit name, which a repeat's
        later iterations take over)."""
        self.tensors[path.rpartition(".")[2]] = flow
        if explicit is not None:
            self.tensors[explicit] = flow
            self.ahead.discard(explicit)

    def visible(self) -> list[str]:
        """Every name that resolves from here, nearest first."""
        names: dict[str, None] = {"input": None}
        scope: Scope | None = self
        while scope is not None:
            names.update(dict.fromkeys(reversed(scope.tensors)))
            scope = None if scope.block else scope.parent
        return list(names)


class ActivationBytes(dict[Shape, int]):
    """The bytes of a tensor of each shape for the whole batch, elements × batch × bytes per
    value, worked out on first use."""

    def __init__(self, per_element: int) -> None:
        super().__init__()
        self.per_element = per_element

    def __missing__(self, shape: Shape) -> int:
        size = self[shape] = elements(shape) * self.per_element
        return size


class Analyzer:
    """Applies a network's layers in order and records one row per leaf and merge."""

    def __init__(
        self, network: Network, *, strict: bool = False, extent: tuple[int, int] | None = None
    ) -> None:
        self.network = network
        self.strict = strict
        self.bytes_per_value = dtype_bytes(network.dtype)
        if extent is None:
            extent = (network.input[1], network.input[2]) if len(network.input) == 3 else (1, 1)
        self.extent = extent
        self.rows: list[Row] = []
        self.errors: list[ConvcalcError] = []
        self.outcomes: dict[tuple[Layer, Shape], Outcome] = {}
        self.activation_bytes = ActivationBytes(network.batch * self.bytes_per_value)
        self.outputs: list[tuple[str, Flow]] = []

    def run(self, start: ReceptiveField | None = None) -> list[Row]:
        """Analyze the whole network; ``start`` continues from an earlier field (chaining)."""
        if start is None and len(self.network.input) == 3:
            start = ReceptiveField()
        entry = Flow(self.network.input, start)
        top = Scope("", entry=entry)
        final = self.sequence(self.network.layers, entry, top)
        if self.network.outputs:
            self.outputs = [
                (ref.name, self.resolve(ref, top, None, f"outputs[{index}]"))
                for index, ref in enumerate(self.network.outputs)
            ]
        else:
            self.outputs = [(self.rows[-1].path if self.rows else "input", final)]
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise SpecErrors(self.errors)
        self.mark_dead()
        return self.rows

    def returned(self) -> tuple[Output, ...]:
        """The tensors the network returns, once :meth:`run` has analyzed it."""
        return tuple(Output(name, flow.source, flow.shape, flow.rf) for name, flow in self.outputs)

    def failed(self, error: ConvcalcError) -> Flow:
        """Note ``error`` and go on: the tensor it leaves is unknown, and only what reads it is
        skipped (every problem of a network is reported at once)."""
        self.errors.append(error)
        return Flow(UNKNOWN, None)

    def check_alone(self, layer: Layer, node: Node, path: str) -> None:
        """Check a layer whose input is unknown as far as its own options go: an option it
        refuses on every probe input is wrong whatever its input."""
        for probe in PROBES:
            try:
                self.outcome(layer, probe, node, path)
                return
            except OptionError as error:
                self.errors.append(error)
                return
            except ConvcalcError:
                continue

    def sequence(self, nodes: tuple[Node, ...], flow: Flow, scope: Scope) -> Flow:
        """Apply ``nodes`` one after the other (each reads the one before, or its ``from``)."""
        scope.ahead.update(node.name for node in nodes if node.name is not None)
        for node in nodes:
            flow = self.node(node, flow, scope)
        return flow

    def node(self, node: Node, flow: Flow, scope: Scope) -> Flow:
        """Apply one node of any kind and name its output in ``scope``. Its default name starts
        with its layer type, its block's name, or ``residual``, ``concat``, ``repeat``,
        ``gate``, or the merge's type."""
        if node.source is not None:
            flow = self.resolve(node.source, scope, node, "from")
        if type(node) is LayerNode:  # most nodes, taken first
            path = scope.path_of(node.name, node.layer.type_name, node)
            result = self.leaf(node.layer, flow, path, node)
        elif type(node) is Node:
            # An item the loader could not read (its error is the loader's): unknown output.
            return Flow(UNKNOWN, None)
        else:
            path, result = self.container(node, flow, scope)
        scope.name(node.name, path, result)
        return result

    def container(self, node: Node, flow: Flow, scope: Scope) -> tuple[str, Flow]:
        """Apply a node that is not a leaf; its path and its output."""
        match node:
            case RepeatNode():
                path = scope.path_of(node.name, "repeat", node)
                inner = scope.child(path, flow)
                for _ in range(node.times):
                    inner.entry = flow
                    flow = self.sequence(node.layers, flow, inner)
                return path, flow
            case UseNode():
                path = scope.path_of(node.name, node.block, node)
                return path, self.sequence(node.layers, flow, scope.child(path, flow, block=True))
            case ResidualNode():
                path = scope.path_of(node.name, "residual", node)
                return path, self.residual(node, flow, path, scope)
            case ConcatNode():
                path = scope.path_of(node.name, "concat", node)
                return path, self.concat(node, flow, path, scope)
            case GateNode():
                path = scope.path_of(node.name, "gate", node)
                return path, self.gate(node, flow, path, scope)
            case MergeNode():
                path = scope.path_of(node.name, node.merge.type_name, node)
                inputs = tuple(self.resolve(ref, scope, node, "from") for ref in node.sources)
                return path, self.merge(node.merge, path, inputs, node, path)
        raise AssertionError(f"unknown node {node!r}")

    def resolve(self, ref: TensorRef, scope: Scope, node: Node | None, key: str) -> Flow:
        """The tensor ``ref`` names, seen from ``scope`` (see :class:`Scope`). An unknown or
        later name is a spec error located at ``node`` (else at the entry of ``outputs`` that
        ``key`` names) that lists the names in scope, noted
        (:meth:`failed`) so that every such name is reported at once: it reads as unknown."""
        start: Scope | None = scope
        for _ in range(ref.outside):
            while start is not None and not start.block:
                start = start.parent
            start = start.parent if start is not None else None
        if start is not None and ref.name == "input" and start.entry is not None:
            return start.entry
        current = start
        later = False
        while current is not None:
            if ref.name in current.tensors:
                return current.tensors[ref.name]
            later = later or ref.name in current.ahead
            current = None if current.block else current.parent
        names = start.visible() if start is not None else ["input"]
        if later:
            problem = f"`{ref.name}` is defined later; only earlier layers can be read"
        else:
            problem = f"no tensor named `{ref.name}` here{suggestion(ref.name, names)}"
        message = f"{key}: {problem}; in scope: {', '.join(names)}"
        if node is None:
            where = next(
                (place for place in self.network.outputs_at if place.path == key),
                Location(self.network.source, path=key),
            )
            return self.failed(SpecError(f"{problem}; in scope: {', '.join(names)}", where))
        file, line, column, _ = node.location
        label = f"{node.spec_path} {node_kind(node)}" + (f' "{node.name}"' if node.name else "")
        return self.failed(SpecError(message, Location(file, line, column, label)))

    def mark_dead(self) -> None:
        """Warn on every row whose output reaches no network output (it is still counted)."""
        live = {flow.source for _, flow in self.outputs}
        for row in reversed(self.rows):
            if row.index in live:
                live.update(row.sources)
        for row in self.rows:
            if row.index not in live:
                warning = "its output reaches no network output (a dead layer)"
                if self.strict:
                    raise StrictError(f"{warning} (--strict)", row.location)
                self.rows[row.index] = replace(row, warnings=(*row.warnings, warning))

    def leaf(self, layer: Layer, flow: Flow, path: str, node: Node) -> Flow:
        """Apply one layer and record its row."""
        if flow.shape is UNKNOWN:
            self.check_alone(layer, node, path)
            return flow
        try:
            outcome = self.outcome(layer, flow.shape, node, path)
        except ConvcalcError as error:
            return self.failed(error)
        if self.strict and outcome.warnings:
            self.errors.append(
                StrictError(
                    outcome.warnings[0] + " (--strict)", node.located(layer.type_name, path)
                )
            )
        rf = flow.rf.then(outcome.rf, self.extent) if flow.rf else None
        output = outcome.output
        # Positional, in Row's field order: with keywords, building the row of every leaf
        # costs a microsecond more (a 100,000-layer spec has as many).
        row = Row(
            len(self.rows),  # index
            path,
            layer.type_name,  # type
            flow.shape,  # input
            output,
            outcome.params,
            outcome.buffers,
            outcome.macs * self.network.batch,  # macs
            rf,
            self.activation_bytes[output],
            outcome.warnings,
            (flow.source,),  # sources
            layer,
            outcome.derivations,
            node,
        )
        # A row's own output was checked when it was recorded; the network's input field
        # (carried over by `layer --in -`) was not.
        passed_on = output is flow.shape and rf is flow.rf and flow.source != NETWORK_INPUT
        return self.record(row, passed_on=passed_on)

    def outcome(self, layer: Layer, shape: Shape, node: Node, path: str) -> Outcome:
        """``layer.apply(shape)``, worked out once per distinct layer and input shape; an error
        is located at ``node``, the layer named ``path``.

        Networks repeat the same layer on the same shape many times (every block of a stage),
        and layers are frozen values, so one outcome serves them all: this keeps the cost per
        row of a large spec to bookkeeping.
        """
        try:
            key: tuple[Layer, Shape] | None = (layer, shape)
            known = self.outcomes.get(key)  # type: ignore[arg-type]
        except TypeError:  # a layer with an unhashable option value: not cached
            key, known = None, None
        if known is not None:
            return known
        try:
            outcome = layer.apply(shape)
        except ConvcalcError as error:
            where = node.located(layer.type_name, path)
            raise error.located(
                file=where.file, line=where.line, column=where.column, path=where.path
            ) from None
        if key is not None:
            self.outcomes[key] = outcome
        return outcome

    def residual(self, node: ResidualNode, entry: Flow, path: str, scope: Scope) -> Flow:
        """body(x) + shortcut(x): both shapes must match exactly."""
        body = self.sequence(node.body, entry, scope.child(f"{path}.body", entry))
        shortcut_scope = scope.child(f"{path}.shortcut", entry)
        if node.shortcut == "project":
            if body.shape is UNKNOWN or entry.shape is UNKNOWN:
                return Flow(UNKNOWN, None)
            shortcut = self.project(node, entry, body, shortcut_scope)
        elif node.shortcut is None:
            shortcut = entry
        else:
            shortcut = self.sequence(node.shortcut, entry, shortcut_scope)
        if UNKNOWN in (body.shape, shortcut.shape):
            return Flow(UNKNOWN, None)
        if body.shape != shortcut.shape:
            hint = ""
            if node.shortcut is None:
                hint = (
                    f"; {SINGLE_PIXEL_ADVICE}"
                    if reads_single_pixels(entry, body)
                    else ("; use `shortcut: project`")
                )
            return self.failed(
                ShapeError(
                    f"the body outputs {format_shape(body.shape)} but the shortcut "
                    f"{format_shape(shortcut.shape)}; they must match to be added{hint}",
                    node.located("residual", path),
                )
            )
        return self.merge(ADD, f"{path}.add", (body, shortcut), node, path)

    def project(self, node: ResidualNode, entry: Flow, body: Flow, scope: Scope) -> Flow:
        """The projection shortcut: a 1×1 conv (no bias) to the body's channels and size, whose
        stride is the product of the body's strides (or the smallest one that gives the body's
        size), then a batchnorm."""
        where = node.located("residual", scope.prefix)
        if len(entry.shape) != 3 or len(body.shape) != 3:
            return self.failed(
                ShapeError("shortcut: project needs images on both sides of the body", where)
            )
        rows, cols = (
            projection_stride(
                entry.shape[axis], body.shape[axis], body_stride(entry, body, axis - 1)
            )
            for axis in (1, 2)
        )
        if rows is None or cols is None:
            return self.failed(
                ShapeError(
                    f"shortcut: no stride of a 1×1 conv takes {format_shape(entry.shape)} to "
                    f"{format_shape(body.shape)}",
                    where,
                )
            )
        if reads_single_pixels(entry, body, (rows, cols)):
            global_body = body.rf is not None and body.rf.is_global
            why = "pools globally" if global_body else "strides past whole rows"
            raise ShapeError(
                f"shortcut: project would be a 1×1 conv with stride {rows}×{cols} taking "
                f"{format_shape(entry.shape)} to {format_shape(body.shape)}: it would read "
                f"single pixels and skip the rest, as the body {why}; {SINGLE_PIXEL_ADVICE}",
                where,
            )
        conv = Conv(filters=body.shape[0], kernel=1, stride=(rows, cols), bias=False)
        projected = self.leaf(conv, entry, scope.path_of(None, "conv", node), node)
        return self.leaf(BatchNorm(), projected, scope.path_of(None, "batchnorm", node), node)

    def concat(self, node: ConcatNode, entry: Flow, path: str, scope: Scope) -> Flow:
        """Each branch from the same input; channels add up, H×W must match."""
        ends = [
            self.sequence(branch, entry, scope.child(f"{path}.branch{number}", entry))
            for number, branch in enumerate(node.branches, start=1)
        ]
        return self.merge(CONCAT, f"{path}.concat", tuple(ends), node, path)

    def gate(self, node: GateNode, entry: Flow, path: str, scope: Scope) -> Flow:
        """x · body(x): the body's output must broadcast to x's shape."""
        body = self.sequence(node.body, entry, scope.child(f"{path}.body", entry))
        if UNKNOWN in (entry.shape, body.shape):
            return Flow(UNKNOWN, None)
        if broadcast((entry.shape, body.shape)) != entry.shape:
            return self.failed(
                ShapeError(
                    f"gate: the body outputs {format_shape(body.shape)}, which does not "
                    f"broadcast to its input {format_shape(entry.shape)} (x · body(x) must keep "
                    "x's shape)",
                    node.located("gate", path),
                )
            )
        return self.merge(MUL, f"{path}.mul", (entry, body), node, path)

    def merge(
        self, kind: Merge, path: str, inputs: tuple[Flow, ...], node: Node, located_as: str
    ) -> Flow:
        """Record a row of the merge ``kind`` joining ``inputs``, made by ``node``; a shape
        error is located at ``node`` under the name ``located_as``."""
        shapes = tuple(flow.shape for flow in inputs)
        if UNKNOWN in shapes:
            return Flow(UNKNOWN, None)
        try:
            output = kind.output_of(shapes)
        except ConvcalcError as error:
            where = node.located(node.container_word or kind.type_name, located_as)
            return self.failed(
                error.located(
                    file=where.file, line=where.line, column=where.column, path=where.path
                )
            )
        fields = [flow.rf for flow in inputs if flow.rf is not None]
        return self.record(
            Row(
                index=len(self.rows),
                path=path,
                type=kind.type_name,
                input=shapes[0],
                output=output,
                params=0,
                buffers=0,
                macs=0,
                rf=union(fields) if fields else None,
                activation_bytes=self.activation_bytes[output],
                sources=tuple(flow.source for flow in inputs),
                node=node,
                merged=shapes,
                merge=kind,
            )
        )

    def record(self, row: Row, passed_on: bool = False) -> Flow:
        """Append ``row`` and return the tensor it outputs.

        Sizes beyond :data:`MAX_DIMENSION` (a deconv or concat that keeps growing) and fields
        that overflow a float (strides multiplying past 10³⁰⁸) are refused here, before they
        turn into numbers no report can print. A row that ``passed_on`` the shape and field
        objects of an earlier row (a batchnorm, an activation) needs no check: they were checked
        with that row.
        """
        if passed_on:
            self.rows.append(row)
            return Flow(row.output, row.rf, row.index)
        if max(row.output) > MAX_DIMENSION:
            return self.failed(
                ShapeError(
                    f"the output {format_shape(row.output)} is larger than any real tensor "
                    f"(at most {MAX_DIMENSION:,} per dimension)",
                    row.location,
                )
            )
        if row.rf is not None and not row.rf.is_finite:
            return self.failed(
                ShapeError(
                    "the receptive field overflows: the strides multiply beyond any real input",
                    row.location,
                )
            )
        self.rows.append(row)
        return Flow(row.output, row.rf, row.index)


ADD = Add()
CONCAT = Concat()
MUL = Mul()


def node_kind(node: Node) -> str:
    """The kind of item ``node`` is, for messages: its type, container or block."""
    match node:
        case LayerNode():
            return node.layer.type_name
        case MergeNode():
            return node.merge.type_name
        case UseNode():
            return node.block
        case RepeatNode():
            return "repeat"
    return node.container_word


def body_stride(entry: Flow, body: Flow, axis: int) -> float:
    """The product of a body's strides along ``axis``: the ratio of the field's jumps, which
    multiply by each stride (1 when the fields cannot tell)."""
    if entry.rf is None or body.rf is None or body.rf.is_global:
        return 1.0
    return body.rf.jump[axis] / entry.rf.jump[axis]


SINGLE_PIXEL_ADVICE = (
    "to multiply the input by the body's output (squeeze-and-excitation) use `gate` instead of "
    "`residual`; to add, write the shortcut's layers in `shortcut:`"
)
"""What to do when a projection shortcut would read single pixels: each builds the network
the user means, whichever it is."""


def reads_single_pixels(entry: Flow, body: Flow, strides: tuple[int, int] | None = None) -> bool:
    """Whether a 1×1 shortcut from ``entry`` to ``body``'s size would read single pixels: the
    body pools globally (its input's field was not global yet), or the stride is at least a
    whole row or column of a map larger than one pixel (given ``strides``, or the one that
    maps the sizes)."""
    if len(entry.shape) != 3 or len(body.shape) != 3:
        return False
    pools = body.rf is not None and body.rf.is_global
    if pools and not (entry.rf is not None and entry.rf.is_global) and entry.shape[1:] != (1, 1):
        return True
    for axis in (1, 2):
        size_in, size_out = entry.shape[axis], body.shape[axis]
        stride = strides[axis - 1] if strides is not None else (size_in - 1) // size_out + 1
        if size_in > 1 and stride >= size_in:
            return True
    return False


def projection_stride(size_in: int, size_out: int, product: float) -> int | None:
    """The stride of a 1×1 conv taking ``size_in`` to ``size_out``: ⌊(W − 1)/S⌋ + 1 = W_out.
    The product of the body's strides when it fits, else the smallest stride that does."""
    candidates = [int(product)] if float(product).is_integer() and product >= 1 else []
    # The smallest S with ⌊(W − 1)/S⌋ = W_out − 1 is ⌊(W − 1)/W_out⌋ + 1; larger ones only
    # shrink the output, so if it does not fit, nothing does.
    candidates.append((size_in - 1) // size_out + 1)
    for stride in candidates:
        if (size_in - 1) // stride + 1 == size_out:
            return stride
    return None


def analyze(
    network: Network,
    *,
    strict: bool = False,
    start: ReceptiveField | None = None,
    extent: tuple[int, int] | None = None,
) -> Report:
    """The full report of ``network``: rows, totals and BN folding.

    ``start`` and ``extent`` continue from an earlier analysis (its final field and its network
    input's H×W). Raises a located :class:`ConvcalcError` for a layer that cannot be applied
    (:class:`SpecErrors` for several: what does not depend on a failed layer is still checked).
    """
    analyzer = Analyzer(network, strict=strict, extent=extent)
    rows = tuple(analyzer.run(start))
    outputs = analyzer.returned()
    totals = totals_of(rows, dtype_bytes(network.dtype))
    totals.rf = outputs[0].rf
    return Report(
        name=network.name,
        input=network.input,
        batch=network.batch,
        dtype=network.dtype,
        rows=rows,
        totals=totals,
        folding=fold_batchnorms(rows, tuple(output.row for output in outputs if output.row >= 0)),
        outputs=outputs,
    )


def with_analysis_problems(error: ConvcalcError, network: Network) -> ConvcalcError:
    """The loader's ``error`` joined by the problems the analysis finds in ``network``, the
    part of the spec that could be read (items that could not are unknown tensors to it)."""
    if isinstance(error, SpecErrors) and error.more:
        # The loader already showed as many problems as a run shows: the rest are counted.
        return error
    try:
        Analyzer(network).run()
    except ConvcalcError as found:
        more = found.errors if isinstance(found, SpecErrors) else [found]
        first = error.errors if isinstance(error, SpecErrors) else [error]
        problems = [*first, *more]
        return SpecErrors(problems[:MAX_ERRORS], max(0, len(problems) - MAX_ERRORS))
    return error
