"""A fast reader for the plain subset of YAML that specs are written in.

:func:`convcalc.yamlnodes.parse_yaml` builds located values from libyaml's event stream, which
costs about 20 µs per layer of a large spec, most of it in creating a Python object per event.
This module reads the common case straight from the lines of the text, several times faster,
and builds exactly the same values: the same :class:`SpecMap`/:class:`SpecList`/scalars, with the
same ``mark`` on every mapping and list and the same ``key_marks``, ``value_marks`` and
``item_marks`` (1-based line and column, where libyaml puts them).

It never reports an error. Whatever it is not sure to read exactly as libyaml does — anchors,
aliases, tags, block scalars, ``?`` keys, document markers and directives, scalars or flow
collections over several lines, escapes in double quotes, tabs, line breaks other than ``\\n``,
characters YAML forbids, nesting past :data:`MAX_DEPTH`, more than :data:`MAX_NODES` values,
duplicate keys, merge keys, anything malformed — makes :func:`read_yaml` return None, and
``parse_yaml`` reads the text with libyaml instead, which reports any error with its usual
message. tests/test_fastyaml.py checks the two readers against each other.

The subset, by example::

    # a comment line                       key: value        # a comment after a space
    name: net                              key:              (a nested block, or null)
    layers:                                - item
    - conv: {filters: 8, kernel: [3, 3]}   - type: relu
    - bn                                     name: act       (more keys of the item's mapping)
    - - a list as an item                  'quoted', "quoted" (without escapes)
    - [1, 2]                               {a: [1, {b: c}]}  (flow collections on one line)

A plain scalar is one line of text that does not start with an indicator character (``-`` only
before a character that may follow it) and holds no ``:``, ``#``, quote or flow character
(``,[]{}``); its type (int, float, bool, null or str) is the one ``parse_yaml`` gives it.

Specs repeat lines (a layer written the same way many times), so each distinct line is taken
apart once: its shape (indentation, dashes, key, value, the template of a flow collection) is
remembered, and only the values and marks are built again for each occurrence.
"""

from __future__ import annotations

import re
from typing import Any

import yaml

from convcalc import yamlnodes
from convcalc.yamlnodes import (
    PLAIN_TAGS,
    STR_TAG,
    TIMESTAMP_TAG,
    Mark,
    SpecList,
    SpecMap,
    _Loader,
)

# Characters outside the subset: tabs, carriage returns and YAML's other line breaks (U+0085,
# U+2028, U+2029), the byte-order mark, and what YAML does not allow at all (other control
# characters, surrogates, U+FFFE and U+FFFF).
_OUTSIDE_CHARACTERS = re.compile(
    "[^\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufefe\uff00-\ufffd\U00010000-\U0010ffff]"
)

# A character inside a plain scalar: not a space, nor what ends a plain scalar somewhere (`:`
# before a space, ` #`, the flow characters) or starts a quoted one.
_SAFE = r"[^ :#,\[\]{}'\"]"
# A plain scalar: a first character that is no indicator (`-` only before a safe character),
# then words of safe characters separated by spaces (trailing spaces are not part of it).
_PLAIN = rf"(?:[^ \-?:#,\[\]{{}}'\"&*!|>%@`]|-(?={_SAFE})){_SAFE}*(?: +{_SAFE}+)*"
# Quoted scalars on one line; in double quotes no backslash (escapes fall back).
_SCALAR = rf"{_PLAIN}|'(?:[^']|'')*'|\"[^\"\\]*\""

# One line of a block: indentation, the dashes of list items, a key and its colon, then either
# a scalar value (and the end of the line, perhaps after a comment) or the start of a flow
# collection (read by _Reader.flow_template). A comment's `#` starts the line or follows a space.
_LINE = re.compile(
    r"( *)"  # 1: indentation
    r"((?:-(?: +|$))+)?"  # 2: the dashes of list items (`- - x`: an item that is a list)
    rf"(?:({_SCALAR}) *(:)(?: +|$))?"  # 3: a key, 4: its colon
    r"(?:([\[{])"  # 5: a flow collection starts
    rf"|(?:({_SCALAR}) *)?(?:(?<![^ ])#.*)?$)"  # 6: a scalar value
)
_DASHES, _KEY, _COLON, _FLOW, _VALUE = 2, 3, 4, 5, 6

# A token inside a flow collection: punctuation (group 1), a `:` before a space (2), or a
# scalar (3).
_FLOW_TOKEN = re.compile(rf" *(?:([\[\]{{}},])|(:)(?= )|({_SCALAR}))")
_FLOW_COLON, _FLOW_SCALAR = 2, 3

# A flow mapping or list of scalars alone (most are): read with one regex and its pieces.
_PAIR = rf"(?:{_SCALAR}) *: +(?:{_SCALAR}) *"
_FLAT_MAP = re.compile(rf"\{{ *(?:{_PAIR}(?:, *{_PAIR})*)?\}}")
_FLAT_MAP_PAIR = re.compile(rf"([{{,] *)({_SCALAR})( *: +)({_SCALAR})( *)")
_FLAT_LIST = re.compile(rf"\[ *(?:(?:{_SCALAR}) *(?:, *(?:{_SCALAR}) *)*)?\]")
_FLAT_LIST_ITEM = re.compile(rf"([\[,] *)({_SCALAR})( *)")

# What may follow a flow collection on its line: spaces, a comment.
_LINE_END = re.compile(r" *(?:(?<![^ ])#.*)?$")

# libyaml gives up on a key that runs on for more than 1024 characters before its `:`; long
# keys fall back (counted in characters, with room for any other way of counting them).
_LONGEST_KEY = 250

# PyYAML's resolver tries the implicit resolvers registered for a plain scalar's first
# character (and those under None, for any character); where there are none, it gives str.
_RESOLVERS = _Loader.yaml_implicit_resolvers

_NOTHING: Any = object()
"""No key, or no value waiting: the line before completed its key or item."""

_ITEM: Any = object()
"""A list's bare `-` waits for its item on the following lines."""

# What follows a line's key or dash: nothing (a block or null on the following lines), a
# scalar, or a flow collection.
_EMPTY, _SCALAR_VALUE, _FLOW_VALUE = range(3)

_BLANK = ()
"""The shape of a blank line or a comment line."""


class _OutsideSubset(Exception):
    """The text leaves the subset this reader knows to read exactly as libyaml does."""


class _Flow:
    """The template of a one-line flow collection: built again for each line that holds it.

    Columns are 1-based. A flat collection (of scalars only, as most are) is built from
    ``values`` (a dict, or a tuple for a list) and ``key_columns``/``value_columns`` (pairs of
    a key and a column) or ``item_columns``. Another one from its ``entries``: ``(key, key
    column, value, value column)`` in a mapping, ``(value, value column)`` in a list, where a
    nested collection is a value that is a :class:`_Flow`.
    """

    __slots__ = (
        "column",
        "depth",
        "entries",
        "flat",
        "is_map",
        "item_columns",
        "key_columns",
        "keys",
        "nodes",
        "value_columns",
        "values",
    )

    def __init__(self, is_map: bool, column: int) -> None:
        self.is_map = is_map
        self.column = column
        self.entries: list[tuple[Any, ...]] = []
        self.keys: set[Any] = set()  # a mapping's keys so far, while it is read: duplicates
        self.flat = True
        # The collections nested in this one and itself (its depth), and the values it holds
        # counting itself and its keys, as the builder counts them against MAX_NODES.
        self.depth = 1
        self.nodes = 1
        self.values: Any = None
        self.key_columns: tuple[tuple[Any, int], ...] = ()
        self.value_columns: tuple[tuple[Any, int], ...] = ()
        self.item_columns: tuple[int, ...] = ()

    def finish(self) -> None:
        """Precompute what building a flat collection needs, from its entries."""
        if not self.flat:
            return
        if self.is_map:
            self.values = {key: value for key, _, value, _ in self.entries}
            self.key_columns = tuple((key, column) for key, column, _, _ in self.entries)
            self.value_columns = tuple((key, column) for key, _, _, column in self.entries)
        else:
            self.values = tuple(value for value, _ in self.entries)
            self.item_columns = tuple(column for _, column in self.entries)


class _Block:
    """A block mapping or list still open, and the value its last line left waiting for."""

    __slots__ = ("empty_mark", "indent", "indentless", "is_map", "key", "key_mark", "value")

    def __init__(self, value: Any, indent: int, indentless: bool) -> None:
        self.value = value
        self.is_map = type(value) is SpecMap
        self.indent = indent
        # A list at its key's indentation (`key:` and below it `- item` lines): a key at that
        # indentation ends it, where other blocks end only when a line is less indented.
        self.indentless = indentless
        # The key whose value is on the following lines, or _ITEM in a list after a bare `-`;
        # _NOTHING if none. The value is null if no deeper block follows, marked where libyaml
        # marks an empty value: right after the `:` or the `-` (``empty_mark``). The marks are
        # set with the key (and only read while one waits).
        self.key: Any = _NOTHING
        self.key_mark: Mark
        self.empty_mark: Mark


def _next_item(items: _Block, value: SpecMap | SpecList, indent: int) -> _Block:
    """A block collection opened as the next item of the list ``items``, at ``indent``."""
    items.value.append(value)
    items.value.item_marks.append(value.mark)
    return _Block(value, indent, False)


def read_yaml(text: str) -> SpecMap | SpecList | None:
    """The spec's root mapping or list, located as ``parse_yaml`` locates it, or None if the
    text leaves this reader's subset of YAML (then libyaml must read it)."""
    reader = _Reader()
    try:
        return reader.document(text)
    except _OutsideSubset:
        return None
    finally:
        if reader.loader is not None:
            reader.loader.dispose()


class _Reader:
    """Reads one document line by line, with an explicit stack of the blocks still open."""

    def __init__(self) -> None:
        # Scalar text as written → its value, resolved and built once, as the builder does.
        self.scalars: dict[str, Any] = {}
        # A line → its shape (see `shape`).
        self.shapes: dict[str, tuple[Any, ...]] = {}
        # PyYAML's resolver and constructors, for the plain scalars (created when first needed).
        self.loader: Any = None

    def document(self, text: str) -> SpecMap | SpecList:
        """Read the whole text; raise _OutsideSubset where it leaves the subset.

        Each line continues the open block at its indentation, opens a deeper block where a
        `key:` or `-` waits for its value, or first closes the deeper blocks."""
        # At the bottom of the stack, the document: a list left of any indentation whose one
        # item, the root block, the first line opens. The depth of a block is its index.
        document = _Block(SpecList(), -1, False)
        document.key = _ITEM
        stack = [document]
        max_depth = yamlnodes.MAX_DEPTH
        shapes = self.shapes
        nodes = 0  # values built, as the builder counts them against MAX_NODES
        for number, line in enumerate(text.split("\n"), 1):
            shape = shapes.get(line)
            if shape is None:
                shape = shapes[line] = self.shape(line)
            if shape is _BLANK:
                continue
            indent, is_item, dashes, key, key_column, empty_column, kind, value, value_column = (
                shape
            )
            # Close the blocks this line is outside of; a key at an indentless list's
            # indentation belongs to the mapping around the list.
            top = stack[-1]
            while top.indent > indent or (top.indentless and top.indent == indent and not is_item):
                if top.key is not _NOTHING:
                    nodes += 1
                    _settle(top)
                stack.pop()
                top = stack[-1]
            if top.key is _NOTHING:
                if top.indent != indent or top.is_map == is_item:
                    raise _OutsideSubset  # e.g. less indented than the root, or misaligned
            elif indent > top.indent or (indent == top.indent and is_item and top.is_map):
                # The value the line before waits for: a block starting on this line.
                if len(stack) > max_depth:
                    raise _OutsideSubset
                mark = Mark(number, indent + 1)
                block = _Block(
                    SpecList(mark=mark) if is_item else SpecMap(mark=mark),
                    indent,
                    indent == top.indent,
                )
                nodes += 1
                _attach(top, block.value, mark)
                stack.append(block)
                top = block
            else:
                nodes += 1
                _settle(top)
                if top.indent != indent or top.is_map == is_item:
                    raise _OutsideSubset
            # `top` is now the list this line's dash continues, or the mapping of its key.
            if is_item:
                for column in dashes:
                    # `- - …`: each further dash opens a list, the item of the one before.
                    if len(stack) > max_depth:
                        raise _OutsideSubset
                    top = _next_item(top, SpecList(mark=Mark(number, column)), column - 1)
                    nodes += 1
                    stack.append(top)
                if key is _NOTHING:
                    items = top.value
                    if kind == _SCALAR_VALUE:
                        items.append(value)
                        items.item_marks.append(Mark(number, value_column))
                        nodes += 1
                    elif kind == _FLOW_VALUE:
                        if len(stack) - 1 + value.depth > max_depth:
                            raise _OutsideSubset
                        collection = _build(value, number)
                        items.append(collection)
                        items.item_marks.append(collection.mark)
                        nodes += value.nodes
                    else:
                        top.key = _ITEM
                        top.empty_mark = Mark(number, empty_column)
                    continue
                # `- key: …`: the item is a mapping, whose keys are at the column of this key.
                if len(stack) > max_depth:
                    raise _OutsideSubset
                top = _next_item(top, SpecMap(mark=Mark(number, key_column)), key_column - 1)
                nodes += 1
                stack.append(top)
            # `key: value`, or `key:` whose value is on the following lines.
            mapping = top.value
            if key in mapping:
                raise _OutsideSubset  # a duplicate key: the builder reports it
            if kind == _SCALAR_VALUE:
                mapping[key] = value
                mapping.key_marks[key] = Mark(number, key_column)
                mapping.value_marks[key] = Mark(number, value_column)
                nodes += 2
            elif kind == _FLOW_VALUE:
                if len(stack) - 1 + value.depth > max_depth:
                    raise _OutsideSubset
                collection = _build(value, number)
                mapping[key] = collection
                mapping.key_marks[key] = Mark(number, key_column)
                mapping.value_marks[key] = collection.mark
                nodes += 1 + value.nodes
            else:
                top.key = key
                top.key_mark = Mark(number, key_column)
                top.empty_mark = Mark(number, empty_column)
                nodes += 1
        if document.key is not _NOTHING:
            raise _OutsideSubset  # nothing but comments: the builder reports an empty spec
        for block in stack:
            if block.key is not _NOTHING:
                nodes += 1
                _settle(block)
        if nodes > yamlnodes.MAX_NODES:
            raise _OutsideSubset
        return document.value[0]  # type: ignore[no-any-return]

    def shape(self, line: str) -> tuple[Any, ...]:
        """What a line holds, for :meth:`document`; raise _OutsideSubset if outside the subset.

        ``(indent, is item, dashes, key, key column, empty column, kind, value, value column)``:
        the column of its first dash or key (0-based); whether it starts with a dash, and the
        1-based columns of its further dashes; its key (_NOTHING if none); the 1-based columns
        of the key and of an empty value (after the `:` or the last `-`); what follows (_EMPTY,
        _SCALAR_VALUE, _FLOW_VALUE); the scalar or the flow template; the value's column."""
        if (
            not (line.isascii() and line.isprintable())  # the common case, checked quickly
            and _OUTSIDE_CHARACTERS.search(line)
        ) or line.startswith(("---", "...")):
            raise _OutsideSubset
        parts = _LINE.match(line)
        if parts is None:
            raise _OutsideSubset
        dash_text, key_text, flow, value_text = parts.group(_DASHES, _KEY, _FLOW, _VALUE)
        if dash_text is None and key_text is None:
            if flow is None and value_text is None:
                return _BLANK
            raise _OutsideSubset  # a scalar or flow alone on its line: a root scalar, or a
            # scalar continued from the line before, or a mistake
        indent = parts.end(1)
        is_item = dash_text is not None
        dashes: tuple[int, ...] = ()
        empty_column = 0
        if dash_text is not None:
            columns = [indent + index + 1 for index, char in enumerate(dash_text) if char == "-"]
            dashes = tuple(columns[1:])
            empty_column = columns[-1] + 1
        key = _NOTHING
        key_column = 0
        if key_text is not None:
            key_column = parts.start(_KEY) + 1
            colon = parts.start(_COLON)
            if colon + 1 - key_column > _LONGEST_KEY:
                raise _OutsideSubset
            key = self.scalar(key_text)
            empty_column = colon + 2
        if value_text is not None:
            return (indent, is_item, dashes, key, key_column, empty_column, _SCALAR_VALUE,
                    self.scalar(value_text), parts.start(_VALUE) + 1)  # fmt: skip
        if flow is not None:
            template, end = self.flow_template(line, parts.start(_FLOW))
            if _LINE_END.match(line, end) is None:
                raise _OutsideSubset
            return (indent, is_item, dashes, key, key_column, empty_column, _FLOW_VALUE,
                    template, template.column)  # fmt: skip
        return (indent, is_item, dashes, key, key_column, empty_column, _EMPTY, None, 0)

    def flow_template(self, line: str, start: int) -> tuple[_Flow, int]:
        """The template of the flow collection at ``line[start]`` (``[`` or ``{``), and the
        index just past its end, which must be on the same line."""
        is_map = line[start] == "{"
        flat = (_FLAT_MAP if is_map else _FLAT_LIST).match(line, start)
        if flat is not None:
            return self.flat_template(line, start, flat.end(), is_map), flat.end()
        return self.nested_template(line, start)

    def flat_template(self, line: str, start: int, end: int, is_map: bool) -> _Flow:
        """The template of a flow collection of scalars, ``line[start:end]``."""
        template = _Flow(is_map, start + 1)
        scalars = self.scalars
        column = start + 1  # 1-based, of the next piece
        if is_map:
            values: dict[Any, Any] = {}
            key_columns = []
            value_columns = []
            for lead, key_text, colon, value_text, trail in _FLAT_MAP_PAIR.findall(
                line, start, end - 1
            ):
                key_column = column + len(lead)
                value_column = key_column + len(key_text) + len(colon)
                column = value_column + len(value_text) + len(trail)
                if value_column - key_column > _LONGEST_KEY:
                    raise _OutsideSubset
                key = scalars.get(key_text, _NOTHING)
                if key is _NOTHING:
                    key = self.scalar(key_text)
                value = scalars.get(value_text, _NOTHING)
                values[key] = self.scalar(value_text) if value is _NOTHING else value
                key_columns.append((key, key_column))
                value_columns.append((key, value_column))
            if len(values) < len(key_columns):
                raise _OutsideSubset  # a duplicate key: the builder reports it
            template.values = values
            template.key_columns = tuple(key_columns)
            template.value_columns = tuple(value_columns)
            template.nodes += 2 * len(values)
        else:
            items = []
            item_columns = []
            for lead, item_text, trail in _FLAT_LIST_ITEM.findall(line, start, end - 1):
                item_column = column + len(lead)
                column = item_column + len(item_text) + len(trail)
                item = scalars.get(item_text, _NOTHING)
                items.append(self.scalar(item_text) if item is _NOTHING else item)
                item_columns.append(item_column)
            template.values = tuple(items)
            template.item_columns = tuple(item_columns)
            template.nodes += len(items)
        if column != end and not (column == start + 1 and template.nodes == 1):
            raise _OutsideSubset  # the pieces do not make up the collection (cannot happen)
        return template

    def nested_template(self, line: str, start: int) -> tuple[_Flow, int]:
        """The template of a flow collection that holds others, and where it ends."""
        # What the next token may be.
        item_or_close, item, key_or_close, key, colon, comma_or_close = range(6)
        next_token = _FLOW_TOKEN.match
        stack: list[_Flow] = []
        state = item
        pending_key: Any = None
        pending_column = 0
        end = start
        while True:
            token = next_token(line, end)
            if token is None:
                raise _OutsideSubset  # not closed on this line, or a token outside the subset
            end = token.end()
            kind = token.lastindex
            assert kind is not None  # one group of the token matches
            column = token.start(kind) + 1
            if kind == _FLOW_SCALAR:
                value = self.scalar(token.group(kind))
                top = stack[-1]
                top.nodes += 1
                if state in (item, item_or_close):
                    if top.is_map:
                        top.entries.append((pending_key, pending_column, value, column))
                    else:
                        top.entries.append((value, column))
                    state = comma_or_close
                elif state in (key, key_or_close):
                    if value in top.keys:
                        raise _OutsideSubset  # a duplicate key: the builder reports it
                    top.keys.add(value)
                    pending_key = value
                    pending_column = column
                    state = colon
                else:
                    raise _OutsideSubset
            elif kind == _FLOW_COLON:
                if state != colon or column - pending_column > _LONGEST_KEY:
                    raise _OutsideSubset
                state = item
            else:
                punctuation = token.group(kind)
                if punctuation == ",":
                    if state != comma_or_close:
                        raise _OutsideSubset  # a trailing or doubled comma falls back
                    state = key if stack[-1].is_map else item
                elif punctuation in "[{":
                    if state not in (item, item_or_close):
                        raise _OutsideSubset  # a collection as a key
                    if len(stack) >= yamlnodes.MAX_DEPTH:
                        raise _OutsideSubset
                    collection = _Flow(punctuation == "{", column)
                    if stack:
                        top = stack[-1]
                        top.flat = False
                        if top.is_map:
                            top.entries.append((pending_key, pending_column, collection, column))
                        else:
                            top.entries.append((collection, column))
                    stack.append(collection)
                    state = key_or_close if collection.is_map else item_or_close
                else:
                    top = stack[-1]
                    closes_map = punctuation == "}"
                    if top.is_map != closes_map or state not in (
                        comma_or_close,
                        key_or_close if closes_map else item_or_close,
                    ):
                        raise _OutsideSubset
                    top.finish()
                    stack.pop()
                    if not stack:
                        return top, end
                    parent = stack[-1]
                    parent.nodes += top.nodes
                    parent.depth = max(parent.depth, top.depth + 1)
                    state = comma_or_close

    def scalar(self, text: str) -> Any:
        """The value of a scalar as written (quoted or plain), built as the builder builds it:
        a plain scalar's tag from the resolver (an unquoted date stays text), then constructed.
        Remembered for the next occurrence of the same text."""
        value = self.scalars.get(text, _NOTHING)
        if value is not _NOTHING:
            return value
        first = text[0]
        if first == "'":
            value = text[1:-1].replace("''", "'")
        elif first == '"':
            value = text[1:-1]
        elif first not in _RESOLVERS and None not in _RESOLVERS:
            value = text  # no implicit resolver applies: the resolver gives str
        else:
            if self.loader is None:
                self.loader = _Loader("")
            tag = self.loader.resolve(yaml.ScalarNode, text, (True, False))
            if tag == TIMESTAMP_TAG:
                tag = STR_TAG
            if tag not in PLAIN_TAGS:
                raise _OutsideSubset  # `<<`, `=`: the builder refuses or reports them
            if tag == STR_TAG:
                value = text  # what PyYAML's str constructor gives
            else:
                try:
                    value = self.loader.construct_object(yaml.ScalarNode(tag, text))
                except Exception:
                    raise _OutsideSubset from None
        self.scalars[text] = value
        return value


def _attach(block: _Block, value: Any, mark: Mark) -> None:
    """Give the key or item that ``block`` waits for its value."""
    target = block.value
    if block.is_map:
        key = block.key
        target[key] = value
        target.key_marks[key] = block.key_mark
        target.value_marks[key] = mark
    else:
        target.append(value)
        target.item_marks.append(mark)
    block.key = _NOTHING


def _settle(block: _Block) -> None:
    """The value that ``block`` waits for never came: it is null, marked after its `:` or `-`."""
    _attach(block, None, block.empty_mark)


def _build(template: _Flow, number: int) -> Any:
    """The flow collection of ``template`` on line ``number``, with its marks."""
    mark = Mark(number, template.column)
    flat: Any
    if template.flat:  # most are: build them in one step
        if template.is_map:
            flat = SpecMap(template.values, mark=mark)
            flat.key_marks = {key: Mark(number, column) for key, column in template.key_columns}
            flat.value_marks = {key: Mark(number, column) for key, column in template.value_columns}
        else:
            flat = SpecList(template.values, mark=mark)
            flat.item_marks = [Mark(number, column) for column in template.item_columns]
        return flat
    root: Any = SpecMap(mark=mark) if template.is_map else SpecList(mark=mark)
    nested: Any
    unfilled = [(root, template)]
    while unfilled:
        collection, template = unfilled.pop()
        for entry in template.entries:
            value = entry[-2]
            if type(value) is _Flow:
                if value.flat:
                    nested = _build(value, number)  # one level: flat collections nest nothing
                else:
                    mark = Mark(number, value.column)
                    nested = SpecMap(mark=mark) if value.is_map else SpecList(mark=mark)
                    unfilled.append((nested, value))
                value_mark = nested.mark
                value = nested
            else:
                value_mark = Mark(number, entry[-1])
            if template.is_map:
                key = entry[0]
                collection[key] = value
                collection.key_marks[key] = Mark(number, entry[1])
                collection.value_marks[key] = value_mark
            else:
                collection.append(value)
                collection.item_marks.append(value_mark)
    return root
