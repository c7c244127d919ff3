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
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import NamedTuple

from convcalc.analysis import Scope
from convcalc.errors import Location
from convcalc.layers.base import Shape, format_shape, pair
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
from convcalc.render.torch_layers import Built, Linear, Site, UnsupportedLayer, torch_modules
from convcalc.report import Report, Row
from convcalc.spec import ConcatNode, LayerNode, Network, Node, RepeatNode, ResidualNode, UseNode

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


class Flow(NamedTuple):
    """The tensor between two stages: its shape and its channels as an expression."""

    shape: Shape
    channels: Linear


@dataclass
class Body:
    """A class being written: its attributes, its ``forward`` statements, the parameters read."""

    used: set[str] = field(default_factory=set)
    strides: set[str] = field(default_factory=set)
    arguments: dict[str, object] = field(default_factory=dict)
    attributes: list[tuple[str, Code]] = field(default_factory=list)
    statements: list[tuple[str, Code, str]] = field(default_factory=list)
    names: set[str] = field(default_factory=set)
    locals: Counter[str] = field(default_factory=Counter)

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

    def apply(self, target: str, attribute: str, source: str, shape: Shape) -> None:
        """``target = self.attribute(source)  # shape``."""
        self.statements.append(
            (f"{target} = ", call(f"self.{attribute}", source), shape_text(shape))
        )


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


def is_positional(nodes: tuple[Node, ...]) -> bool:
    """Whether ``nodes`` can be an ``nn.Sequential``: no names to keep and nothing but layers,
    blocks and repeats of them."""
    return all(
        node.name is None
        and (
            type(node) in (LayerNode, UseNode)
            or (isinstance(node, RepeatNode) and is_positional(node.layers))
        )
        for node in nodes
    )


class Exporter:
    """Writes the module of one analyzed network."""

    def __init__(self, network: Network, report: Report) -> None:
        self.network = network
        self.report = report
        self.rows: Iterator[Row] = iter(report.rows)
        self.classes: list[list[str]] = []
        self.variants: dict[str, list[ClassCode]] = {}
        self.class_names: set[str] = set()
        self.network_class = ""

    def next_row(self) -> Row:
        """The next row of the analysis, in the walk's order."""
        return next(self.rows)

    def leaf(self, body: Body, node: LayerNode, flow: Flow) -> tuple[Row, Built]:
        """A layer's row and torch modules, reading the parameters of ``body``'s class."""
        row = self.next_row()
        bound = node.bound or {}
        site = Site(
            node.layer, flow.shape, row.output, flow.channels, bound, body.used, body.strides
        )
        return row, torch_modules(site)

    # --- straight runs ----------------------------------------------------------------------

    def positional(
        self, body: Body, nodes: tuple[Node, ...], flow: Flow, scope: Scope
    ) -> tuple[list[Arg], Flow]:
        """The children of an ``nn.Sequential`` for ``nodes`` (see :func:`is_positional`)."""
        children: list[Arg] = []
        for node in nodes:
            if isinstance(node, LayerNode):
                row, built = self.leaf(body, node, flow)
                *before, last = built.modules
                children += [Arg(module) for module in before]
                children.append(Arg(last, shape_text(row.output)))
                flow = Flow(row.output, built.channels)
            elif isinstance(node, UseNode):
                path = scope.path_of(node.name, node.block, node)
                code, flow = self.use(node, flow, path, body)
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
        parameter = (node.bound or {}).get("times")
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
    ) -> tuple[Flow, str]:
        """``nodes`` as attributes of ``body`` and statements from ``source`` into ``target``;
        the output and the variable that holds it (``source`` when there are no nodes)."""
        current = source
        for node in nodes:
            flow = self.named_node(body, node, flow, scope, current, target)
            current = target
        return flow, current

    def named_node(
        self, body: Body, node: Node, flow: Flow, scope: Scope, source: str, target: str
    ) -> Flow:
        """One node as attributes and statements."""
        if isinstance(node, LayerNode):
            row, built = self.leaf(body, node, flow)
            module = (
                built.modules[0]
                if len(built.modules) == 1
                else call("nn.Sequential", *built.modules)
            )
            attribute = body.attribute(row.path.rpartition(".")[2], module)
            body.apply(target, attribute, source, row.output)
            return Flow(row.output, built.channels)
        if isinstance(node, UseNode):
            path = scope.path_of(node.name, node.block, node)
            code, out = self.use(node, flow, path, body)
            body.apply(target, body.attribute(path.rpartition(".")[2], code), source, out.shape)
            return out
        if isinstance(node, RepeatNode):
            path = scope.path_of(node.name, "repeat", node)
            inner = Scope(path)
            if is_positional(node.layers):
                runs = []
                for _ in range(node.times):
                    run, flow = self.positional(body, node.layers, flow, inner)
                    runs.append(run)
                children = self.repeated(body.used, node, runs)
                module = Call("nn.Sequential", tuple(children))
                body.apply(
                    target, body.attribute(path.rpartition(".")[2], module), source, flow.shape
                )
                return flow
            for _ in range(node.times):
                flow, source = self.named(body, node.layers, flow, inner, source, target)
            if source != target:
                body.statements.append((f"{target} = ", source, ""))
            return flow
        if isinstance(node, ResidualNode):
            return self.residual(
                body, node, flow, scope.path_of(node.name, "residual", node), source, target
            )
        if isinstance(node, ConcatNode):
            return self.concat(
                body, node, flow, scope.path_of(node.name, "concat", node), source, target
            )
        raise UnsupportedLayer(f"export: no PyTorch code for {type(node).__name__} nodes yet")

    def part(
        self,
        body: Body,
        nodes: tuple[Node, ...],
        flow: Flow,
        scope: Scope,
        source: str,
        target: str,
    ) -> tuple[Flow, str]:
        """A residual's body or shortcut, or a concat's branch: one module named after the part
        when it is a run of unnamed layers (an ``nn.Sequential`` unless it is one module), else
        inline."""
        if nodes and is_positional(nodes):
            children, out = self.positional(body, nodes, flow, scope)
            module = (
                children[0].code
                if len(children) == 1 and not isinstance(children[0].code, Splat)
                else Call("nn.Sequential", tuple(children))
            )
            body.apply(
                target, body.attribute(scope.prefix.rpartition(".")[2], module), source, out.shape
            )
            return out, target
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
        return Flow(add.output, out.channels)

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
        return Flow(row.output, channels)

    # --- blocks and the network -------------------------------------------------------------

    def use(self, node: UseNode, flow: Flow, path: str, caller: Body) -> tuple[Code, Flow]:
        """A use of a block: its class (written once per distinct code) and the call that builds
        it with this use's arguments; the ``caller`` reads the parameters it passes on."""
        used = caller.used
        defaults = dict(node.defaults or {})
        arguments = dict(node.arguments or {})
        inner = Flow(flow.shape, Linear.of("in_channels"))
        lines, output, body = self.class_lines(node.layers, inner, Scope(path), defaults, arguments)
        name = self.register(node.block, "\n".join(lines[1:]), lines, path, output)
        parameters = [name for name in defaults if name in body.used]
        bound = dict(node.bound or {})
        values = {"in_channels": flow.channels}
        args: list[str] = []
        if "in_channels" in body.used:
            args.append(str(flow.channels))
            used |= flow.channels.names()
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
        row_shape = output.shape
        channels = output.channels.substitute(
            {name: values[name] for name in output.channels.names()}
        )
        return call(name, *args), Flow(row_shape, channels)

    def class_lines(
        self,
        nodes: tuple[Node, ...],
        flow: Flow,
        scope: Scope,
        defaults: dict[str, object],
        arguments: dict[str, object],
    ) -> tuple[list[str], Flow, Body]:
        """A class's lines (its ``class`` line left for :meth:`register`, which names it), its
        output and the parameters it reads."""
        body = Body(arguments=arguments)
        lines = Lines()
        if is_positional(nodes):
            children, out = self.positional(body, nodes, flow, scope)
            base = "nn.Sequential"
        else:
            out, result = self.named(body, nodes, flow, scope, "x", "x")
            base = "nn.Module"
        signature = [Arg("self")]
        if "in_channels" in body.used:
            signature.append(Arg("in_channels: int"))
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
        else:
            lines.add(2, "super().__init__()")
            for attribute, module in body.attributes:
                lines.lines += layout(module, 2, head=f"self.{attribute} = ")
            lines.add()
            lines.add(1, "def forward(self, x: torch.Tensor) -> torch.Tensor:")
            for head, code, comment in body.statements:
                lines.lines += layout(code, 2, head=head, comment=comment)
            lines.add(2, f"return {result}")
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
        flow = Flow(network.input, Linear.of(network.input[0]))
        lines, _, _ = self.class_lines(network.layers, flow, Scope(""), {}, {})
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
        sections = [*self.classes, network_class]
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
            f"        output = model(torch.zeros({batch_input}))",
            "    print(output.shape)",
            '    print(f"{sum(parameter.numel() for parameter in model.parameters()):,} params")',
        ]
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
