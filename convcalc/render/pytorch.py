"""A spec → the PyTorch module a person would write for it (``convcalc export --to pytorch``).

The walk follows the typed spec and reads the analysis's rows in the analyzer's order, so every
module is built with the shapes convcalc computed. What it writes:

- the network as a class named after the spec; each block as a class whose constructor takes
  the block's parameters the code reads (typed, with the spec's defaults) and the input channels
  (``in_channels``). Uses of a block that need different code (another shortcut, another input
  size where a size is written) get one class each: ``Stage``, ``Stage2``…;
- a straight run of unnamed layers (and blocks and repeats of them) as an ``nn.Sequential``,
  whose children are numbered; anything else as an ``nn.Module`` whose attributes are named like
  convcalc's rows (``conv1``, ``bn1``, ``layer1``), with ``forward`` spelled out: residuals and
  concats inline with named locals (``shortcut``, ``branch1``…); a projection shortcut is
  ``downsample``, as torchvision names it;
- ``repeat`` as ``*[module for _ in range(n)]`` when its iterations are the same module, else
  each iteration;
- each layer kind as its torch module (:mod:`convcalc.render.torch_layers`), and a comment with
  the output shape at every stage.
"""

from __future__ import annotations

import keyword
import re
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from convcalc.analysis import Analyzer, Scope
from convcalc.analysis import Flow as Tensor
from convcalc.errors import Location
from convcalc.layers.base import Shape, format_shape, pair
from convcalc.layers.merge import Concat, Mul
from convcalc.render.code import (
    Arg,
    Call,
    Code,
    Lines,
    Splat,
    annotation,
    call,
    flat,
    layout,
    literal,
)
from convcalc.render.torch_helpers import HELPERS
from convcalc.render.torch_layers import Built, Linear, Site, UnsupportedLayer, torch_modules
from convcalc.report import NETWORK_INPUT, Report, Row
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

MODULE_MEMBERS = frozenset(
    {
        "add_module",
        "apply",
        "bfloat16",
        "buffers",
        "children",
        "cpu",
        "cuda",
        "double",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_parameter",
        "get_submodule",
        "half",
        "ipu",
        "load_state_dict",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "register_buffer",
        "register_module",
        "register_parameter",
        "requires_grad_",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    }
)
"""``nn.Module`` members an attribute must not shadow (a layer named ``forward`` gets ``_``)."""


RESERVED = ("x", "out", "self", "torch", "nn")
"""Names a local variable in ``forward`` must not take: the input, the running tensor when the
input is read again later, and the names the module itself uses."""


class Flow(NamedTuple):
    """The tensor between two stages: its shape, its channels as an expression and the row
    that made it (its index in the report; ``NETWORK_INPUT`` for the network's input)."""

    shape: Shape
    channels: Linear
    source: int


@dataclass
class Body:
    """A class being written: its attributes, its ``forward`` statements, the parameters read."""

    used: set[str] = field(default_factory=set)
    strides: set[str] = field(default_factory=set)
    arguments: dict[str, object] = field(default_factory=dict)
    attributes: list[tuple[str, Code]] = field(default_factory=list)
    statements: list[tuple[str, Code, str]] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    locals: Counter[str] = field(default_factory=lambda: Counter(RESERVED))
    values: dict[int, tuple[str, Flow]] = field(default_factory=dict)
    """The tensors ``forward`` holds, by row: the variable that holds each, and its flow."""
    inputs: list[tuple[str, int, str]] = field(default_factory=list)
    """The tensors from outside the block that ``forward`` takes after ``x`` (a block parameter
    naming a tensor, ``from: $skip``): each argument's name, the row it is and the name it has
    where the block is used."""

    def attribute(self, name: str, module: Code) -> str:
        """Register ``module`` as ``self.<name>`` (made a unique identifier); its name."""
        base = identifier(name)
        unique, suffix = base, 2
        while unique in self.names:
            unique, suffix = f"{base}_{suffix}", suffix + 1
        self.names.add(unique)
        self.attributes.append((unique, module))
        return unique

    def local(self, stem: str) -> str:
        """A fresh local variable: ``shortcut``, then ``shortcut2``…"""
        self.locals[stem] += 1
        count = self.locals[stem]
        return stem if count == 1 else f"{stem}_{count}"

    def apply(self, target: str, attribute: str, source: str, shape: Shape, *more: str) -> None:
        """``target = self.attribute(source, *more)  # shape``."""
        self.statements.append(
            (f"{target} = ", call(f"self.{attribute}", source, *more), shape_text(shape))
        )

    def hold(self, variable: str, flow: Flow) -> tuple[Flow, str]:
        """Note that ``variable`` holds ``flow``; both."""
        self.values[flow.source] = (variable, flow)
        return flow, variable


class ClassCode(NamedTuple):
    """A block's class as written for one use."""

    name: str
    key: str
    output: Linear


def identifier(name: str) -> str:
    """A spec name as a Python attribute: other characters become ``_``; keywords, digits first
    and ``nn.Module``'s own members are made safe."""
    text = re.sub(r"\W", "_", name) or "_"
    if text[0].isdigit():
        text = "_" + text
    if keyword.iskeyword(text) or text in MODULE_MEMBERS:
        text += "_"
    return text


def class_name(name: str) -> str:
    """``tiny-resnet`` → ``TinyResnet``; ``resnet50`` → ``Resnet50``."""
    words = [word for word in re.split(r"[\W_]+", name) if word]
    text = "".join(word[:1].upper() + word[1:] for word in words) or "Network"
    return "Net" + text if text[0].isdigit() else text


def shape_text(shape: Shape) -> str:
    """The comment with a stage's output shape: ``64×56×56``."""
    return format_shape(shape)


def safe_keys(mapping: Mapping[str, Any] | None, values: bool = False) -> dict[str, Any]:
    """Block parameters' names as Python identifiers (``in`` → ``in_``): the keys of
    ``mapping``, and its values too when they are parameter names (a node's ``bound``)."""
    return {
        identifier(key): identifier(value) if values else value
        for key, value in (mapping or {}).items()
    }


def parameter_of(arguments: dict[str, object], name: str) -> str:
    """The block parameter whose value is the tensor name ``name`` (``skip`` for ``skip: enc4``),
    else the name itself."""
    return next((key for key, value in arguments.items() if value == name), name)


def node_stem(node: Node) -> str:
    """What a node's default name starts with: its layer type, block, container or merge."""
    if isinstance(node, LayerNode):
        return node.layer.type_name
    if isinstance(node, MergeNode):
        return node.merge.type_name
    if isinstance(node, UseNode):
        return node.block
    return "repeat" if isinstance(node, RepeatNode) else node.container_word


def inner_lists(node: Node) -> Iterator[tuple[Node, ...]]:
    """The layer lists inside a container or block use."""
    if isinstance(node, ResidualNode):
        yield node.body
        if isinstance(node.shortcut, tuple):
            yield node.shortcut
    elif isinstance(node, ConcatNode):
        yield from node.branches
    elif isinstance(node, GateNode | RepeatNode | UseNode):
        yield node.body if isinstance(node, GateNode) else node.layers


def reads_outside(node: Node) -> bool:
    """Whether something inside ``node`` reads a tensor from outside a block (``from: $skip``),
    which a block's ``forward`` takes as an argument."""
    references = [*([node.source] if node.source else []), *getattr(node, "sources", ())]
    return any(reference.outside for reference in references) or any(
        reads_outside(inner) for nodes in inner_lists(node) for inner in nodes
    )


Statement = tuple[str, Code, str]
"""A line of ``forward``: ``target = ``, the expression and the shape comment."""


def unread_to_underscore(statements: list[Statement], results: list[str]) -> list[Statement]:
    """``statements`` with ``_`` as the target of each whose value nothing reads (a layer that
    reaches no output still runs, as convcalc counts it, but binds no name)."""
    kept: list[Statement] = []
    reads = " ".join(results)
    for head, code, comment in reversed(statements):
        target = head.removesuffix(" = ")
        name = rf"(?<![\w.]){re.escape(target)}\b"
        if re.search(name, reads):
            # An assignment hides the earlier value of its target from what comes after it.
            reads = re.sub(name, "", reads)
        else:
            head = "_ = "
        reads += " " + flat(code)
        kept.append((head, code, comment))
    return kept[::-1]


class Wiring(Analyzer):
    """The analysis, noting what wiring a graph in ``forward`` needs: the tensor each name
    resolves to (``from:``, merges, ``outputs``), in the walk's order; which of them are read
    as a block's ``input`` (its ``forward``'s ``x``, which the caller need not keep); and the
    tensors each node outputs (a node shared by identical uses of a block, once per use)."""

    def __init__(self, network: Network) -> None:
        super().__init__(network)
        self.resolved: list[tuple[str, int]] = []
        self.kept: set[int] = set()
        """The tensors read other than as a block's ``input``."""
        self.outputs_of: dict[int, set[int]] = {}

    def resolve(self, ref: TensorRef, scope: Scope, node: Node | None, key: str) -> Tensor:
        tensor = super().resolve(ref, scope, node, key)
        self.resolved.append((ref.name, tensor.source))
        if not (ref == TensorRef("input") and scope.block):
            self.kept.add(tensor.source)
        return tensor

    def node(self, node: Node, flow: Tensor, scope: Scope) -> Tensor:
        tensor = super().node(node, flow, scope)
        self.outputs_of.setdefault(id(node), set()).add(tensor.source)
        return tensor


class Exporter:
    """Writes the module of one analyzed network."""

    def __init__(self, network: Network, report: Report) -> None:
        self.network = network
        self.report = report
        self.rows: Iterator[Row] = iter(report.rows)
        wiring = Wiring(network)
        wiring.run()
        self.resolved = iter(wiring.resolved)
        self.read_by_name = {index for _, index in wiring.resolved}
        self.kept = wiring.kept
        self.outputs_of = wiring.outputs_of
        self.classes: list[list[str]] = []
        self.variants: dict[str, list[ClassCode]] = {}
        self.class_names: set[str] = set()
        self.helpers: set[str] = set()
        self.network_class = ""

    def next_row(self) -> Row:
        """The next row of the analysis, in the walk's order."""
        return next(self.rows)

    def is_read(self, node: Node) -> bool:
        """Whether a name reads the output of ``node`` (it then needs a variable of its own);
        a block's ``input`` does not count: the block's ``forward`` takes it as ``x``."""
        return bool(self.outputs_of.get(id(node), set()) & self.kept)

    def is_positional(self, nodes: tuple[Node, ...]) -> bool:
        """Whether ``nodes`` can be an ``nn.Sequential``: no names to keep or read and nothing
        but layers, blocks and repeats of them (the last one's output is the run's)."""
        return all(
            node.name is None
            and node.source is None
            and (position == len(nodes) - 1 or not self.is_read(node))
            and (
                type(node) is LayerNode
                or (isinstance(node, UseNode) and not reads_outside(node))
                or (isinstance(node, RepeatNode) and self.is_positional(node.layers))
            )
            for position, node in enumerate(nodes)
        )

    def leaf(self, body: Body, node: LayerNode, flow: Flow) -> tuple[Row, Built]:
        """A layer's row and torch modules, reading the parameters of ``body``'s class."""
        row = self.next_row()
        bound = safe_keys(node.bound, values=True)
        site = Site(
            node.layer, flow.shape, row.output, flow.channels, bound, body.used, body.strides
        )
        built = torch_modules(site)
        self.helpers.update(built.helpers)
        return row, built

    def read(self, body: Body) -> tuple[str, Flow]:
        """The variable and flow of the next tensor read by name (see :class:`Wiring`)."""
        name, index = next(self.resolved)
        return self.tensor(body, index, name)

    def tensor(self, body: Body, index: int, name: str) -> tuple[str, Flow]:
        """The variable that holds tensor ``index`` in ``body``'s ``forward``: one it made, or
        an argument of its ``forward`` when the tensor is from outside the block (named after
        the block parameter that names it, its channels a constructor argument
        ``<name>_channels``)."""
        if index in body.values:
            return body.values[index]
        variable = body.local(identifier(parameter_of(body.arguments, name)))
        shape = self.network.input if index == NETWORK_INPUT else self.report.rows[index].output
        flow = Flow(shape, Linear.of(f"{variable}_channels"), index)
        body.inputs.append((variable, index, name))
        body.values[index] = (variable, flow)
        return variable, flow

    # --- straight runs ----------------------------------------------------------------------

    def positional(
        self, body: Body, nodes: tuple[Node, ...], flow: Flow, scope: Scope
    ) -> tuple[list[Arg], Flow]:
        """The children of an ``nn.Sequential`` for ``nodes`` (see :meth:`is_positional`)."""
        children: list[Arg] = []
        for node in nodes:
            if isinstance(node, LayerNode):
                scope.path_of(node.name, node.layer.type_name, node)
                row, built = self.leaf(body, node, flow)
                *before, last = built.modules
                children += [Arg(module) for module in before]
                children.append(Arg(last, shape_text(row.output)))
                flow = Flow(row.output, built.channels, row.index)
            elif isinstance(node, UseNode):
                path = scope.path_of(node.name, node.block, node)
                code, flow, _ = self.use(node, flow, path, body)
                children.append(Arg(code, shape_text(flow.shape)))
            elif isinstance(node, RepeatNode):
                inner = Scope(scope.path_of(node.name, "repeat", node))
                runs = []
                for _ in range(node.times):
                    run, flow = self.positional(body, node.layers, flow, inner)
                    runs.append(run)
                children += self.repeated(body.used, node, runs)
        return children, flow

    def repeated(self, used: set[str], node: RepeatNode, runs: list[list[Arg]]) -> list[Arg]:
        """A repeat's iterations: ``*[module for _ in range(n)]`` when they are the same single
        module (after a first one that differs, as its input channels may), else each."""
        texts = [[flat(arg.code) for arg in run] for run in runs]
        parameter = safe_keys(node.bound, values=True).get("times")
        if len(runs) == 1 and not parameter:
            return runs[0]
        if all(len(run) == 1 for run in runs):
            if all(text == texts[0] for text in texts):
                if parameter:
                    used.add(parameter)
                count = parameter or str(node.times)
                return [Arg(Splat(runs[0][0].code, count), runs[-1][0].comment)]
            if len(runs) > 2 and all(text == texts[1] for text in texts[1:]):
                if parameter:
                    used.add(parameter)
                count = f"{parameter} - 1" if parameter else str(node.times - 1)
                return [runs[0][0], Arg(Splat(runs[1][0].code, count), runs[-1][0].comment)]
        return [arg for run in runs for arg in run]

    # --- classes with a forward -------------------------------------------------------------

    def named(
        self,
        body: Body,
        nodes: tuple[Node, ...],
        flow: Flow,
        scope: Scope,
        source: str,
        target: str,
        keep_last: bool = False,
    ) -> tuple[Flow, str]:
        """``nodes`` as attributes of ``body`` and statements from ``source`` into ``target``;
        the output and the variable that holds it (``source`` when there are no nodes). A node
        whose output a name reads gets a variable of its own, named after it (the last one
        only with ``keep_last``: its output is the list's)."""
        current = source
        for position, node in enumerate(nodes):
            if node.source is not None:
                current, flow = self.read(body)
            keep = self.is_read(node) and (keep_last or position < len(nodes) - 1)
            flow, current = self.named_node(body, node, flow, scope, current, target, keep)
        return flow, current

    def named_node(
        self,
        body: Body,
        node: Node,
        flow: Flow,
        scope: Scope,
        source: str,
        target: str,
        keep: bool,
    ) -> tuple[Flow, str]:
        """One node as attributes and statements; its output and the variable that holds it
        (``target``, or one named after the node when it must ``keep`` its output)."""
        path = scope.path_of(node.name, node_stem(node), node)
        name = path.rpartition(".")[2]
        if keep:
            target = body.local(identifier(name))
        if isinstance(node, LayerNode):
            row, built = self.leaf(body, node, flow)
            module = (
                built.modules[0]
                if len(built.modules) == 1
                else call("nn.Sequential", *built.modules)
            )
            body.apply(target, body.attribute(name, module), source, row.output)
            return body.hold(target, Flow(row.output, built.channels, row.index))
        if isinstance(node, UseNode):
            code, out, inputs = self.use(node, flow, path, body)
            more = [self.tensor(body, index, outer)[0] for _, index, outer in inputs]
            body.apply(target, body.attribute(name, code), source, out.shape, *more)
            return body.hold(target, out)
        if isinstance(node, RepeatNode):
            return self.repeat(body, node, flow, path, source, target)
        if isinstance(node, ResidualNode):
            return body.hold(target, self.residual(body, node, flow, path, source, target))
        if isinstance(node, ConcatNode):
            return body.hold(target, self.concat(body, node, flow, path, source, target))
        if isinstance(node, GateNode):
            return body.hold(target, self.gate(body, node, flow, path, source, target))
        if isinstance(node, MergeNode):
            return body.hold(target, self.merge(body, node, target))
        raise UnsupportedLayer(f"export: no PyTorch code for {type(node).__name__} nodes")

    def repeat(
        self, body: Body, node: RepeatNode, flow: Flow, path: str, source: str, target: str
    ) -> tuple[Flow, str]:
        """A repeat: one ``nn.Sequential`` when its layers are a straight run, else its
        iterations one after the other."""
        inner = Scope(path)
        if self.is_positional(node.layers):
            runs = []
            for _ in range(node.times):
                run, flow = self.positional(body, node.layers, flow, inner)
                runs.append(run)
            children = self.repeated(body.used, node, runs)
            module = Call("nn.Sequential", tuple(children))
            body.apply(target, body.attribute(path.rpartition(".")[2], module), source, flow.shape)
            return body.hold(target, flow)
        # Each iteration's last output is the next one's `input`: it keeps its variable.
        for _ in range(node.times):
            flow, source = self.named(body, node.layers, flow, inner, source, target, True)
        if source != target:
            body.statements.append((f"{target} = ", source, ""))
        return body.hold(target, flow)

    def part(
        self,
        body: Body,
        nodes: tuple[Node, ...],
        flow: Flow,
        scope: Scope,
        source: str,
        target: str,
        attribute: str = "",
    ) -> tuple[Flow, str]:
        """A residual's body or shortcut, a concat's branch or a gate's body: one module named
        ``attribute`` (by default after the part) when it is a run of unnamed layers (an
        ``nn.Sequential`` unless it is one module), else inline."""
        if nodes and self.is_positional(nodes):
            children, out = self.positional(body, nodes, flow, scope)
            module = (
                children[0].code
                if len(children) == 1 and not isinstance(children[0].code, Splat)
                else Call("nn.Sequential", tuple(children))
            )
            attribute = attribute or scope.prefix.rpartition(".")[2]
            body.apply(target, body.attribute(attribute, module), source, out.shape)
            return body.hold(target, out)
        return self.named(body, nodes, flow, scope, source, target)

    def residual(
        self, body: Body, node: ResidualNode, flow: Flow, path: str, source: str, target: str
    ) -> Flow:
        """``shortcut`` from the input first, then the body, then their sum."""
        start = len(body.statements)
        shortcut = body.local("shortcut")
        out, result = self.part(body, node.body, flow, Scope(f"{path}.body"), source, target)
        body_statements = body.statements[start:]
        del body.statements[start:]
        if node.shortcut is None:
            body.statements.append((f"{shortcut} = ", source, ""))
        elif node.shortcut == "project":
            conv, norm = self.next_row(), self.next_row()
            stride = pair(getattr(conv.layer, "stride", 1))
            channels = str(out.channels)
            stride_text = literal(stride[0] if stride[0] == stride[1] else stride)
            # The block's stride parameter, when it is the only one the body reads and it has
            # the projection's stride in this use (another use gets its own class otherwise).
            if len(body.strides) == 1:
                (parameter,) = body.strides
                if body.arguments.get(parameter) == stride[0] == stride[1]:
                    stride_text = parameter
            body.used |= out.channels.names() | flow.channels.names()
            module = call(
                "nn.Sequential",
                call(
                    "nn.Conv2d",
                    str(flow.channels),
                    channels,
                    "1",
                    f"stride={stride_text}",
                    "bias=False",
                ),
                call("nn.BatchNorm2d", channels),
            )
            body.apply(shortcut, body.attribute("downsample", module), source, norm.output)
        else:
            self.part(body, node.shortcut, flow, Scope(f"{path}.shortcut"), source, shortcut)
        body.statements += body_statements
        add = self.next_row()
        body.statements.append((f"{target} = ", f"{result} + {shortcut}", shape_text(add.output)))
        return Flow(add.output, out.channels, add.index)

    def concat(
        self, body: Body, node: ConcatNode, flow: Flow, path: str, source: str, target: str
    ) -> Flow:
        """Each branch into its own local, then ``torch.cat`` along the channels."""
        ends = []
        channels = Linear()
        for number, branch in enumerate(node.branches, start=1):
            local = body.local(f"branch{number}")
            out, result = self.part(
                body, branch, flow, Scope(f"{path}.branch{number}"), source, local
            )
            ends.append(result)
            channels = channels + out.channels
        row = self.next_row()
        joined = Call("", tuple(Arg(end) for end in ends), "[", "]")
        body.statements.append(
            (f"{target} = ", call("torch.cat", joined, "dim=1"), shape_text(row.output))
        )
        return Flow(row.output, channels, row.index)

    def gate(
        self, body: Body, node: GateNode, flow: Flow, path: str, source: str, target: str
    ) -> Flow:
        """The body into ``scale`` (squeeze-and-excitation's weights), then the input times
        it."""
        local = body.local("scale")
        gate = path.rpartition(".")[2]
        _, result = self.part(body, node.body, flow, Scope(f"{path}.body"), source, local, gate)
        row = self.next_row()
        body.statements.append((f"{target} = ", f"{source} * {result}", shape_text(row.output)))
        return Flow(row.output, flow.channels, row.index)

    def merge(self, body: Body, node: MergeNode, target: str) -> Flow:
        """``a + b``, ``a * b`` or ``torch.cat([a, b], dim=1)`` of the named tensors."""
        inputs = [self.read(body) for _ in node.sources]
        row = self.next_row()
        variables = [variable for variable, _ in inputs]
        if isinstance(node.merge, Concat):
            joined = Call("", tuple(Arg(variable) for variable in variables), "[", "]")
            code: Code = call("torch.cat", joined, "dim=1")
            channels = Linear()
            for _, flow in inputs:
                channels = channels + flow.channels
        else:
            code = f" {'*' if isinstance(node.merge, Mul) else '+'} ".join(variables)
            widest = [flow for _, flow in inputs if flow.shape[0] == row.output[0]]
            channels = widest[0].channels
        body.statements.append((f"{target} = ", code, shape_text(row.output)))
        return Flow(row.output, channels, row.index)

    # --- blocks and the network -------------------------------------------------------------

    def use(
        self, node: UseNode, flow: Flow, path: str, caller: Body
    ) -> tuple[Code, Flow, list[tuple[str, int, str]]]:
        """A use of a block: its class (written once per distinct code), the call that builds
        it with this use's arguments (the ``caller`` reads the parameters it passes on), its
        output, and the outside tensors its ``forward`` takes after ``x``."""
        used = caller.used
        # A top-level parameter the block reads (and does not shadow) is one of its own, passed
        # on from the network's constructor.
        own = safe_keys(node.defaults)
        shared = {k: v for k, v in safe_keys(self.network.params).items() if k not in own}
        defaults = {**shared, **own}
        arguments = {**shared, **safe_keys(node.arguments)}
        inner = Flow(flow.shape, Linear.of("in_channels"), flow.source)
        lines, output, body = self.class_lines(node.layers, inner, Scope(path), defaults, arguments)
        name = self.register(node.block, "\n".join(lines[1:]), lines, path, output)
        parameters = [name for name in defaults if name in body.used]
        bound = {**{name: name for name in shared}, **safe_keys(node.bound, values=True)}
        values = {"in_channels": flow.channels}
        args: list[str] = []
        if "in_channels" in body.used:
            args.append(str(flow.channels))
            used |= flow.channels.names()
        for variable, index, outer in body.inputs:
            if f"{variable}_channels" in body.used:
                channels = self.tensor(caller, index, outer)[1].channels
                args.append(str(channels))
                used |= channels.names()
                values[f"{variable}_channels"] = channels
        for parameter in parameters:
            if parameter in bound:
                args.append(f"{parameter}={bound[parameter]}")
                used.add(bound[parameter])
                values[parameter] = Linear.of(bound[parameter])
                continue
            value = arguments[parameter]
            if isinstance(value, int) and not isinstance(value, bool):
                values[parameter] = Linear.of(value)
            if defaults[parameter] is None or value != defaults[parameter]:
                args.append(f"{parameter}={literal(value)}")
        channels = output.channels.substitute(
            {name: values[name] for name in output.channels.names()}
        )
        return call(name, *args), Flow(output.shape, channels, output.source), body.inputs

    def class_lines(
        self,
        nodes: tuple[Node, ...],
        flow: Flow,
        scope: Scope,
        defaults: dict[str, object],
        arguments: dict[str, object],
        outputs: tuple[int, ...] = (),
    ) -> tuple[list[str], Flow, Body]:
        """A class's lines (its ``class`` line left for :meth:`register`, which names it), its
        output and the parameters it reads; the network's class returns its ``outputs`` (rows)
        when it names them."""
        body = Body(arguments=arguments)
        body.values[flow.source] = ("x", flow)
        lines = Lines()
        if self.is_positional(nodes) and not outputs:
            children, out = self.positional(body, nodes, flow, scope)
            base = "nn.Sequential"
        else:
            # The running tensor leaves `x` alone when a name reads the input later.
            target = "out" if flow.source in self.read_by_name else "x"
            out, result = self.named(body, nodes, flow, scope, "x", target, bool(outputs))
            base = "nn.Module"
        signature = [Arg("self")]
        for channels in ["in_channels", *(f"{name}_channels" for name, _, _ in body.inputs)]:
            if channels in body.used:
                signature.append(Arg(f"{channels}: int"))
        for parameter, default in defaults.items():
            if parameter not in body.used:
                continue
            value = arguments.get(parameter, default)
            text = f"{parameter}: {annotation(value)}"
            if default is not None:
                text += f" = {literal(default)}"
            signature.append(Arg(text))
        lines.add(0, f"class {{name}}({base}):")
        header = layout(Call("def __init__", tuple(signature)), 1, tail=" -> None:")
        lines.lines += header
        if base == "nn.Sequential":
            lines.lines += layout(Call("super().__init__", tuple(children)), 2)
            return lines.lines, out, body
        lines.add(2, "super().__init__()")
        for attribute, module in body.attributes:
            lines.lines += layout(module, 2, head=f"self.{attribute} = ")
        lines.add()
        tensors = ["x", *(variable for variable, _, _ in body.inputs)]
        forward = Call("def forward", (Arg("self"), *(Arg(f"{t}: torch.Tensor") for t in tensors)))
        returned = "torch.Tensor"
        if len(outputs) > 1:
            returned = f"tuple[{', '.join(['torch.Tensor'] * len(outputs))}]"
        lines.lines += layout(forward, 1, tail=f" -> {returned}:")
        results = [body.values[index][0] for index in outputs] if outputs else [result]
        for head, code, comment in unread_to_underscore(body.statements, results):
            lines.lines += layout(code, 2, head=head, comment=comment)
        lines.lines += layout(Call("return ", tuple(map(Arg, results)), "", ""), 2)
        return lines.lines, out, body

    def register(self, block: str, code: str, lines: list[str], path: str, output: Flow) -> str:
        """The class name of this code of ``block``: an earlier class with the same code
        (comments aside), else a new one, written to the module."""
        key = re.sub(r"  # .*", "", code)
        variants = self.variants.setdefault(block, [])
        for variant in variants:
            if variant.key == key:
                return variant.name
        name = self.fresh_class_name(class_name(block))
        variants.append(ClassCode(name, key, output.channels))
        docstring = f'    """Block `{block}` (shapes as at `{path}`)."""'
        self.classes.append([lines[0].format(name=name), docstring, "", *lines[1:]])
        return name

    def fresh_class_name(self, name: str) -> str:
        """``name``, or ``name2``… when taken."""
        unique, number = name, 2
        while unique in self.class_names:
            unique, number = f"{name}{number}", number + 1
        self.class_names.add(unique)
        return unique

    def module(self) -> str:
        """The whole module's text."""
        network = self.network
        flow = Flow(network.input, Linear.of(network.input[0]), NETWORK_INPUT)
        outputs = tuple(output.row for output in self.report.outputs) if network.outputs else ()
        self.class_names |= set(HELPERS)
        params = safe_keys(network.params)
        lines, _, _ = self.class_lines(network.layers, flow, Scope(""), params, {}, outputs)
        name = self.network_class = self.fresh_class_name(class_name(network.name or "network"))
        totals = self.report.totals
        header = [
            f'"""{network.name or "The network"}, exported by convcalc from '
            f"{network.source or 'a spec'}.",
            "",
            f"Input {format_shape(network.input)}, batch {network.batch}: "
            f"{totals.params:,} params, {totals.buffers:,} buffers, {totals.macs:,} MACs.",
            '"""',
            "",
            "import torch",
            "from torch import nn",
        ]
        network_class = [
            lines[0].format(name=name),
            f'    """The network `{network.name or name}`."""',
            "",
            *lines[1:],
        ]
        helpers = [HELPERS[helper].splitlines() for helper in HELPERS if helper in self.helpers]
        sections = [*helpers, *self.classes, network_class]
        text = header[:]
        for section in sections:
            text += ["", "", *section]
        batch_input = ", ".join(str(size) for size in (network.batch, *network.input))
        text += [
            "",
            "",
            'if __name__ == "__main__":',
            f"    model = {name}().eval()",
            "    with torch.no_grad():",
        ]
        if len(outputs) > 1:
            text += [
                f"        outputs = model(torch.zeros({batch_input}))",
                "    for output in outputs:",
                "        print(output.shape)",
            ]
        else:
            text += [
                f"        output = model(torch.zeros({batch_input}))",
                "    print(output.shape)",
            ]
        text.append(
            '    print(f"{sum(parameter.numel() for parameter in model.parameters()):,} params")'
        )
        return "\n".join(text) + "\n"


class Exported(NamedTuple):
    """An exported module: its text and the name of the network's class."""

    text: str
    class_name: str


def to_pytorch(network: Network, report: Report) -> Exported:
    """The PyTorch module of ``network`` (``report`` is its analysis); a network with an op
    convcalc does not compute (read from an ONNX model) has none."""
    unknown = [row for row in report.rows if row.layer is not None and not row.layer.supported]
    if unknown:
        ops = ", ".join(f"{row.path} ({row.type})" for row in unknown)
        raise UnsupportedLayer(
            f"export: no PyTorch code for ops convcalc does not compute: {ops}",
            Location(network.source),
        )
    exporter = Exporter(network, report)
    text = exporter.module()
    return Exported(text, exporter.network_class)
