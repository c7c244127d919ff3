"""Spec text → Python values that remember where in the text each value was written.

libyaml parses the text into events and PyYAML's composer builds the node tree, counting its
depth; we convert the nodes ourselves so that every mapping and list keeps the line and column of
its keys and items. Only plain data is accepted (no ``!!python/…`` or other tags, so no constructor
beyond str/int/float/bool/null is reachable). Anchors and aliases are converted once and shared,
and the number of distinct nodes and the nesting depth are bounded, so crafted documents (alias
bombs, deep nesting) are refused quickly instead of exhausting memory or the C stack.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from convcalc.errors import Location, SpecError, one_line

MAX_NODES = 2_000_000
"""Distinct YAML nodes one spec may hold."""

MAX_DEPTH = 200
"""How deeply mappings and lists may nest."""

try:
    from yaml._yaml import CParser as _Parser
except ImportError:  # PyYAML built without libyaml

    class _Parser(yaml.reader.Reader, yaml.scanner.Scanner, yaml.parser.Parser):  # type: ignore[no-redef]
        """The pure-Python event parser."""

        def __init__(self, stream: str) -> None:
            yaml.reader.Reader.__init__(self, stream)
            yaml.scanner.Scanner.__init__(self)
            yaml.parser.Parser.__init__(self)


class _Loader(
    yaml.composer.Composer,
    _Parser,
    yaml.constructor.SafeConstructor,
    yaml.resolver.Resolver,
):
    """Safe loading with a bounded nesting depth, plus YAML 1.2 floats such as ``1e-5``.

    libyaml parses the text into events without recursion, but PyYAML's C composer builds the
    node tree recursively and overflows the C stack (a segfault) on a few hundred thousand
    nested brackets; so nodes are composed by PyYAML's Python composer, which counts the depth
    and stops at :data:`MAX_DEPTH` long before Python's own recursion limit.
    """

    def __init__(self, stream: str, file: str | None) -> None:
        _Parser.__init__(self, stream)
        yaml.composer.Composer.__init__(self)
        yaml.constructor.SafeConstructor.__init__(self)
        yaml.resolver.Resolver.__init__(self)
        self.file = file
        self.depth = 0

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node:
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                event = self.peek_event()
                mark = event.start_mark if event is not None else None
                where = Location(self.file)
                if mark is not None:
                    where = Location(self.file, mark.line + 1, mark.column + 1)
                raise SpecError(f"the spec nests deeper than {MAX_DEPTH} levels", where)
            node = super().compose_node(parent, index)
            assert node is not None  # the composer only returns None at the end of the stream
            return node
        finally:
            self.depth -= 1


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)

_YAML = "tag:yaml.org,2002:"
SCALAR_TAGS = frozenset(_YAML + name for name in ("str", "int", "float", "bool", "null"))
"""The scalar types a spec is made of; other tags (``!!python/object``, ``!!binary``…) are
refused, so no constructor beyond plain data is ever reachable."""

COLLECTION_TAGS = frozenset((_YAML + "map", _YAML + "seq"))


class Mark:
    """A 1-based line and column in the spec text."""

    __slots__ = ("column", "line")

    def __init__(self, line: int, column: int) -> None:
        self.line = line
        self.column = column

    def location(self, file: str | None, path: str | None = None) -> Location:
        """This position as a :class:`Location` in ``file``."""
        return Location(file=file, line=self.line, column=self.column, path=path)


NO_MARK = Mark(0, 0)


class SpecMap(dict[Any, Any]):
    """A mapping from the spec, with the position of itself, each key and each value."""

    def __init__(self, *args: Any, mark: Mark = NO_MARK) -> None:
        super().__init__(*args)
        self.mark = mark
        self.key_marks: dict[Any, Mark] = {}
        self.value_marks: dict[Any, Mark] = {}

    def key_mark(self, key: Any) -> Mark:
        """Where ``key`` is written (the mapping's own position if unknown)."""
        return self.key_marks.get(key, self.mark)

    def value_mark(self, key: Any) -> Mark:
        """Where the value of ``key`` is written (the mapping's own position if unknown)."""
        return self.value_marks.get(key, self.mark)


class SpecList(list[Any]):
    """A list from the spec, with the position of itself and of each item."""

    def __init__(self, *args: Any, mark: Mark = NO_MARK) -> None:
        super().__init__(*args)
        self.mark = mark
        self.item_marks: list[Mark] = []

    def item_mark(self, index: int) -> Mark:
        """Where item ``index`` is written."""
        return self.item_marks[index] if index < len(self.item_marks) else self.mark


def mark_of(node: yaml.Node) -> Mark:
    """The 1-based start position of a YAML node."""
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


def parse_yaml(text: str, file: str | None) -> Any:
    """Parse spec text (YAML or JSON) into plain values with positions; errors are located."""
    loader = _Loader(text, file)
    try:
        root = loader.get_single_node()
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        problem = error.problem or error.context or "invalid YAML"
        raise SpecError(f"YAML syntax error: {one_line(problem)}", where) from None
    except yaml.YAMLError as error:
        raise SpecError(f"YAML error: {one_line(str(error))}", Location(file)) from None
    finally:
        loader.dispose()
    if root is None:
        raise SpecError("the spec is empty", Location(file))
    return _Converter(loader, file).convert(root, 0)


class _Converter:
    """Turns a composed node tree into SpecMap/SpecList/scalars, sharing aliased nodes."""

    def __init__(self, loader: _Loader, file: str | None) -> None:
        self.loader = loader
        self.file = file
        self.done: dict[int, Any] = {}

    def convert(self, node: yaml.Node, depth: int) -> Any:
        known = self.done.get(id(node))
        if known is not None:
            return known
        if len(self.done) >= MAX_NODES:
            raise SpecError(
                f"the spec has more than {MAX_NODES:,} YAML nodes",
                mark_of(node).location(self.file),
            )
        if depth > MAX_DEPTH:
            raise SpecError(
                f"the spec nests deeper than {MAX_DEPTH} levels", mark_of(node).location(self.file)
            )
        if isinstance(node, yaml.MappingNode | yaml.SequenceNode):
            if node.tag not in COLLECTION_TAGS:
                raise self.refused(node)
            value: Any = (
                self.mapping(node, depth)
                if isinstance(node, yaml.MappingNode)
                else self.sequence(node, depth)
            )
        elif node.tag == _YAML + "timestamp":
            # An unquoted date (`name: 2024-05-01`) is text to convcalc, not a datetime.
            value = node.value
        elif node.tag not in SCALAR_TAGS:
            raise self.refused(node)
        else:
            try:
                value = self.loader.construct_object(node, deep=True)
            except yaml.MarkedYAMLError as error:
                raise SpecError(
                    f"invalid value: {error.problem or error.context}",
                    mark_of(node).location(self.file),
                ) from None
            except (yaml.YAMLError, ValueError, OverflowError) as error:
                raise SpecError(
                    f"invalid value: {one_line(str(error))}", mark_of(node).location(self.file)
                ) from None
        self.done[id(node)] = value
        return value

    def refused(self, node: yaml.Node) -> SpecError:
        """The error for a node whose YAML tag is not plain data."""
        tag = str(node.tag).replace(_YAML, "!!")
        return SpecError(
            f"YAML tag {one_line(tag)} is not allowed: a spec holds plain mappings, lists, "
            "text, numbers and booleans",
            mark_of(node).location(self.file),
        )

    def mapping(self, node: yaml.MappingNode, depth: int) -> SpecMap:
        result = SpecMap(mark=mark_of(node))
        self.done[id(node)] = result
        for key_node, value_node in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":
                merged = self.convert(value_node, depth + 1)
                for source in merged if isinstance(merged, list) else [merged]:
                    if isinstance(source, SpecMap):
                        for key, value in source.items():
                            if key not in result:
                                result[key] = value
                                result.key_marks[key] = source.key_mark(key)
                                result.value_marks[key] = source.value_mark(key)
                continue
            key = self.convert(key_node, depth + 1)
            if isinstance(key, SpecMap | SpecList):
                raise SpecError("a key must be a plain name", mark_of(key_node).location(self.file))
            if key in result:
                raise SpecError(f"duplicate key {key!r}", mark_of(key_node).location(self.file))
            result[key] = self.convert(value_node, depth + 1)
            result.key_marks[key] = mark_of(key_node)
            result.value_marks[key] = mark_of(value_node)
        return result

    def sequence(self, node: yaml.SequenceNode, depth: int) -> SpecList:
        result = SpecList(mark=mark_of(node))
        self.done[id(node)] = result
        for item in node.value:
            result.append(self.convert(item, depth + 1))
            result.item_marks.append(mark_of(item))
        return result
