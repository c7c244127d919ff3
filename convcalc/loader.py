"""Spec text → typed :class:`~convcalc.spec.Network`, with every problem located.

The three layer forms (``- relu``, ``- conv: {…}``, ``- type: conv``) are read into one shape;
each layer's options are validated against its dataclass's annotations (see
:mod:`convcalc.options`), each distinct set once; blocks are expanded where they are used, with
``$param`` values substituted. All problems found are reported together, each as
``file:line:col: path: message``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

from convcalc.errors import (
    MAX_ERRORS,
    ConvcalcError,
    Location,
    OptionError,
    SpecError,
    SpecErrors,
    shorten,
    suggestion,
)
from convcalc.layers import LAYER_KINDS, MERGE_KINDS, Layer, Merge
from convcalc.options import InvalidOptions, all_defaulted, options_of, validated_options
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
from convcalc.tensors import (
    DTYPE_BYTES,
    MAX_DIMENSION,
    check_magnitude,
    magnitude,
    parse_pair_text,
    parse_shape,
)
from convcalc.yamlnodes import Mark, SpecList, SpecMap, parse_yaml

if TYPE_CHECKING:
    from convcalc.overrides import Setting

MAX_LAYERS = 100_000
"""The most leaf layers a spec may expand to (blocks and repeats included): 100,000 rows take
about 2 s as JSON and 4 s and 330 MB as a table, where a million took 23 s and 47 s and 3 GiB
(the largest real networks have a few thousand)."""

MAX_NESTING = 100
"""How deeply containers and blocks may nest."""

MAX_EXPANSIONS = 10_000
"""How many distinct (block, parameters) expansions a spec may need; identical uses share one.
Blocks that pass parameters on to blocks can otherwise ask for exponentially many."""

CONTAINERS = ("residual", "concat", "repeat", "gate", "use")
TOP_LEVEL_KEYS = ("name", "input", "batch", "dtype", "params", "layers", "blocks", "outputs")
TYPE_NAMES = (*LAYER_KINDS, *MERGE_KINDS, *CONTAINERS)
"""What may follow ``type:`` (for did-you-mean)."""
MAX_NAME = 200
"""A layer's name has at most this many characters."""
ITEM_KEYS = ("name", "from")
"""Keys any layer item may have beside its type: its name and the tensor it reads."""


class OuterName(str):
    """A tensor name passed into a block as a parameter from an enclosing block's parameter
    (``with: {skip: $skip}``): it names a tensor ``outside`` + 1 blocks out from where the
    inner block is used."""

    __slots__ = ("outside",)
    outside: int

    def __new__(cls, name: str, outside: int) -> OuterName:
        made = super().__new__(cls, name)
        made.outside = outside
        return made


def written_pair(kind: type[Layer], option: str, value: str) -> Any:
    """``3x3`` as ``[3, 3]`` for an option that takes ``[h, w]`` (as ``--kernel 3x3`` is read on
    the command line); any other text as it is."""
    pair = parse_pair_text(value)
    known = options_of(kind).options.get(option)
    return pair if pair is not None and known is not None and known.type.takes_pair else value


def indentation_hint(item: SpecMap, keys: list[str]) -> str:
    """``; indent `filters`, `kernel` under `conv:` …`` when one key is a layer type with no
    options and the others are not types: options written level with their type's key."""
    from convcalc.layers import kind_named

    empty_types = [key for key in keys if item[key] is None and kind_named(key) is not None]
    if len(empty_types) != 1:
        return ""
    kind = empty_types[0]
    others = [key for key in keys if key != kind]
    if any(kind_named(key) is not None for key in others):
        return ""
    listing = ", ".join(f"`{key}`" for key in others)
    return f"; indent {listing} under `{kind}:` (two more spaces) to make them its options"


def parse_spec(text: str, file: str | None = None, settings: Sequence[Setting] = ()) -> Network:
    """Validate spec text into a :class:`Network`; raises :class:`SpecError`(s)."""
    if "\x00" in text:
        raise SpecError("the spec is not text (it contains NUL bytes)", Location(file))
    document = parse_yaml(text, file)
    if settings:
        from convcalc.overrides import apply_settings

        document = apply_settings(document, settings, TOP_LEVEL_KEYS)
    return SpecParser(file).network(document)


def show(value: Any) -> str:
    """A value as the user wrote it, shortened."""
    if isinstance(value, SpecMap):
        return "a mapping"
    if isinstance(value, SpecList | tuple) and not value:
        return "[]"
    if isinstance(value, SpecList | tuple):
        return "a list" if len(value) != 2 else f"[{show(value[0])}, {show(value[1])}]"
    if value is None:
        return "nothing"
    if isinstance(value, bool):
        return str(value).lower()
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def freeze(value: Any) -> Any:
    """A hashable key for caching validated options; types included so True ≠ 1."""
    if isinstance(value, tuple):
        return tuple(map(freeze, value))
    return (type(value), value)


# --- the parser ----------------------------------------------------------------------------------


class SpecParser:
    """Reads a located document into a :class:`Network`, collecting every problem."""

    def __init__(self, file: str | None) -> None:
        self.file = file
        self.errors: list[ConvcalcError] = []
        self.seen: set[tuple[str, int, int, str | None]] = set()
        self.unshown = 0
        self.blocks: dict[str, SpecMap] = {}
        self.expanding: list[str] = []
        self.expanded: dict[tuple[str, Any], tuple[Node, ...]] = {}
        self.implicit_params: dict[str, list[str]] = {}
        self.layer_cache: dict[tuple[Any, ...], Layer] = {}
        # A YAML alias makes one list appear in many places; it is read once per set of block
        # parameters (keyed by identity, holding the objects so the ids stay theirs) and the
        # nodes are shared, so an alias bomb costs what its text costs. `reading` detects a list
        # that contains itself through an alias.
        self.shared: dict[tuple[int, int], tuple[Any, Any, tuple[Node, ...]]] = {}
        self.reading: set[int] = set()
        self.items_read = 0
        # The spec's top-level `params`: `$name` anywhere; a block's own parameters shadow them.
        self.globals: dict[str, Any] | None = None

    # errors

    def error(self, message: str, mark: Mark, path: str | None = None) -> None:
        """Record a problem at ``mark``: the first :data:`MAX_ERRORS` in full, the rest only
        counted. A block expanded with different parameters repeats its own mistakes; each is
        kept (and counted) once."""
        key = (message, mark.line, mark.column, path)
        if key in self.seen:
            return
        self.seen.add(key)
        if len(self.errors) < MAX_ERRORS:
            self.errors.append(SpecError(message, mark.location(self.file, path)))
        else:
            self.unshown += 1

    @property
    def problems(self) -> int:
        """How many problems were found so far, shown or not."""
        return len(self.errors) + self.unshown

    def raise_collected(self) -> None:
        """Raise what was collected: one error as itself, several together."""
        if len(self.errors) == 1:
            raise self.errors[0]
        if self.errors:
            raise SpecErrors(self.errors, self.unshown)

    # the document

    def network(self, document: Any) -> Network:
        """The whole spec."""
        if not isinstance(document, SpecMap):
            raise SpecError(
                "the spec must be a mapping with `input` and `layers`",
                getattr(document, "mark", Mark(1, 1)).location(self.file),
            )
        for key in document:
            if key not in TOP_LEVEL_KEYS:
                self.error(
                    f"unknown key `{shorten(key)}`{suggestion(str(key), TOP_LEVEL_KEYS)}; "
                    f"a spec has {', '.join(TOP_LEVEL_KEYS)}",
                    document.key_mark(key),
                )
        self.read_globals(document)
        document = self.with_globals(document)
        shape = self.input_shape(document)
        batch = self.batch(document)
        dtype = self.dtype(document)
        name = document.get("name")
        if name is not None and not isinstance(name, str | int | float):
            self.error("name: expected text", document.value_mark("name"))
        self.read_blocks(document)
        layers = self.layer_list(document, "layers", "layers", self.globals, 0)
        if "layers" in document and not layers and not self.errors:
            self.error("layers: the network has no layers", document.value_mark("layers"))
        self.check_unused_blocks()
        outputs, outputs_at = self.outputs(document)
        network = Network(
            input=shape or (1,),
            layers=layers,
            outputs=outputs,
            outputs_at=outputs_at,
            name=None if name is None else str(name),
            batch=batch,
            dtype=dtype,
            source=self.file,
            params=self.globals,
        )
        try:
            self.raise_collected()
        except ConvcalcError as error:
            # What could be read, for the analysis to find the problems beyond these ones.
            error.partial = network if shape is not None else None
            raise
        count = count_layers(layers, {})
        if count == 0:
            # Only empty repeats and blocks: nothing to analyze, as with `layers: []`.
            raise SpecError(
                "the network has no layers (its repeats and blocks are empty)",
                document.value_mark("layers").location(self.file, "layers"),
            )
        if count > MAX_LAYERS:
            raise SpecError(
                f"the spec expands to {count:,} layers, more than the {MAX_LAYERS:,} "
                "convcalc analyzes; lower the repeat counts or analyze the network in parts",
                document.value_mark("layers").location(self.file, "layers"),
            )
        return network

    def read_globals(self, document: SpecMap) -> None:
        """The top-level ``params``: a mapping of names to values."""
        params = document.get("params")
        if params is None:
            return
        if not isinstance(params, SpecMap) or not all(isinstance(key, str) for key in params):
            self.error(
                "params: expected a mapping of parameter names to values",
                document.value_mark("params"),
            )
            return
        self.globals = dict(params)

    def with_globals(self, document: SpecMap) -> SpecMap:
        """``document`` with a ``$name`` of the top-level parameters in ``name``, ``input``,
        ``batch`` or ``dtype`` (or in ``input``'s list) replaced by its value. Any other ``$name``
        stays, and the check of that key reports it."""
        spec = self.globals or {}

        def value_of(value: Any) -> Any:
            if isinstance(value, str) and value.startswith("$") and value[1:] in spec:
                return spec[value[1:]]
            return value

        copy = SpecMap(document, mark=document.mark)
        copy.key_marks = document.key_marks
        copy.value_marks = document.value_marks
        for key in ("name", "input", "batch", "dtype"):
            if key in document:
                value = value_of(document[key])
                copy[key] = [value_of(item) for item in value] if isinstance(value, list) else value
        return copy

    def outputs(self, document: SpecMap) -> tuple[tuple[TensorRef, ...], tuple[Location, ...]]:
        """``outputs``: the names of the tensors the network returns (default: the last
        layer's), and where each is written."""
        if "outputs" not in document:
            return (), ()
        value = document["outputs"]
        names = [value] if isinstance(value, str) else value
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            self.error(
                f"outputs: expected a list of tensor names, got {show(value)}",
                document.value_mark("outputs"),
            )
            return (), ()
        marks = (
            [value.item_mark(index) for index in range(len(value))]
            if isinstance(value, SpecList)
            else [document.value_mark("outputs")]
        )
        places = tuple(
            mark.location(self.file, f"outputs[{index}]") for index, mark in enumerate(marks)
        )
        return tuple(TensorRef(str(name)) for name in names), places

    def input_shape(self, document: SpecMap) -> tuple[int, ...] | None:
        """The required ``input``: one sample's shape."""
        if "input" not in document:
            self.error(
                "missing `input`: the shape of one sample, e.g. `input: 3x224x224`", document.mark
            )
            return None
        try:
            return parse_shape(document["input"])
        except SpecError as error:
            self.error(f"input: {error.message}", document.value_mark("input"))
            return None

    def batch(self, document: SpecMap) -> int:
        """``batch``: a whole number ≥ 1 (default 1)."""
        value = document.get("batch", 1)
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            self.error(
                f"batch: expected a whole number ≥ 1, got {show(value)}",
                document.value_mark("batch"),
            )
            return 1
        if value > MAX_DIMENSION:
            self.error(
                f"batch: {magnitude(value)} is more than any real batch "
                f"(at most {MAX_DIMENSION:,})",
                document.value_mark("batch"),
            )
            return 1
        return value

    def dtype(self, document: SpecMap) -> str:
        """``dtype``: one of :data:`DTYPE_BYTES` (default float32)."""
        value = document.get("dtype", "float32")
        if not isinstance(value, str) or value not in DTYPE_BYTES:  # a list is not hashable
            self.error(
                f"dtype: expected one of {', '.join(DTYPE_BYTES)}, got {show(value)}"
                f"{suggestion(str(value), DTYPE_BYTES)}",
                document.value_mark("dtype"),
            )
            return "float32"
        return str(value)

    # lists of layers

    def layer_list(
        self,
        parent: SpecMap,
        key: str,
        path: str,
        bindings: dict[str, Any] | None,
        depth: int,
        required: bool = True,
    ) -> tuple[Node, ...]:
        """The layers under ``parent[key]``."""
        if key not in parent:
            if required:
                # Located at the parent (the list does not exist), so named by the parent's path.
                self.error(
                    f"missing `{key}`: a list of layers",
                    parent.mark,
                    path.rpartition(".")[0] or None,
                )
            return ()
        return self.nodes(parent[key], parent.value_mark(key), path, bindings, depth)

    def nodes(
        self, value: Any, mark: Mark, path: str, bindings: dict[str, Any] | None, depth: int
    ) -> tuple[Node, ...]:
        """A list of layer items."""
        value = self.substitute(value, bindings, mark, path)
        if value is UNRESOLVED:
            return ()
        if not isinstance(value, list):
            self.error(f"expected a list of layers, got {show(value)}", mark, path)
            return ()
        if depth > MAX_NESTING:
            self.error(f"layers nest deeper than {MAX_NESTING} levels", mark, path)
            return ()
        key = (id(value), id(bindings))
        known = self.shared.get(key)
        if known is not None:
            return known[2]
        if id(value) in self.reading:
            self.error("this list of layers contains itself (through a YAML alias)", mark, path)
            return ()
        # Every item read becomes at least one row of the expanded network (shared lists are
        # read once), so more items than MAX_LAYERS means too many rows, and reading stops here
        # rather than after exponential work (blocks passing parameters on to blocks).
        self.items_read += len(value)
        if self.items_read > MAX_LAYERS:
            raise SpecError(
                f"the spec expands to more than the {MAX_LAYERS:,} layers convcalc analyzes; "
                "analyze the network in parts",
                mark.location(self.file, path),
            )
        self.reading.add(id(value))
        try:
            result = []
            marks = value.item_marks if isinstance(value, SpecList) else ()
            if len(marks) != len(value):
                marks = [mark] * len(value)
            named: dict[str, str] = {}
            for index, (item, item_mark) in enumerate(zip(value, marks, strict=True)):
                problems = len(self.errors)
                node = self.node(item, item_mark, f"{path}[{index}]", bindings, depth + 1)
                if node is not None:
                    result.append(node)
                    if node.name is not None and node.name in named:
                        self.error(
                            f"name: `{node.name}` is already the name of {named[node.name]} in "
                            "this list; each name may be given once",
                            item_mark,
                            node.spec_path,
                        )
                    elif node.name is not None:
                        named[node.name] = node.spec_path
                elif len(self.errors) > problems:
                    # Kept as a bare node, an item that could not be read: the analysis goes
                    # on around it, to report every problem at once.
                    where = item_mark.location(self.file, f"{path}[{index}]")
                    result.append(Node(name=None, spec_path=f"{path}[{index}]", location=where))
        finally:
            self.reading.discard(id(value))
        nodes = tuple(result)
        self.shared[key] = (value, bindings, nodes)
        return nodes

    def node(
        self, item: Any, mark: Mark, path: str, bindings: dict[str, Any] | None, depth: int
    ) -> Node | None:
        """One layer item in any of the three forms."""
        if isinstance(item, str):
            item = self.substitute(item, bindings, mark, path)
            if item is UNRESOLVED:
                return None
        if isinstance(item, str):
            return self.typed(item, NO_OPTIONS, mark, mark, path, None, bindings, depth)
        if not isinstance(item, SpecMap):
            self.error(
                "expected a layer (a type name, `type: …`, or a one-key mapping), "
                f"got {show(item)}",
                mark,
                path,
            )
            return None
        named = "name" in item
        name = self.name(item, path, bindings) if named else None
        node = self.item_node(item, mark, path, name, bindings, depth)
        if node is not None and "from" in item and not isinstance(node, MergeNode):
            node.source = self.tensor_ref(item["from"], item.value_mark("from"), path, bindings)
        return node

    def item_node(
        self,
        item: SpecMap,
        mark: Mark,
        path: str,
        name: str | None,
        bindings: dict[str, Any] | None,
        depth: int,
    ) -> Node | None:
        """The node of a layer mapping ``item`` (its name read already)."""
        if "type" in item:
            # A merge reads `from` as its own option; other kinds' `from` is the item's.
            merges = is_merge(item["type"], item)
            dropped = ("type", "name") if merges else ("type", *ITEM_KEYS)
            options = SpecMap({key: value for key, value in item.items() if key not in dropped})
            options.mark = item.mark
            options.key_marks = item.key_marks
            options.value_marks = item.value_marks
            kind = self.substitute(item["type"], bindings, item.value_mark("type"), path)
            if kind is UNRESOLVED:
                return None
            return self.typed(
                kind, options, mark, item.value_mark("type"), path, name, bindings, depth
            )
        if "use" in item:
            return self.use(item, mark, path, name, bindings, depth)
        keys = [key for key in item if key not in ITEM_KEYS]
        if len(keys) != 1:
            listing = ", ".join(f"`{key}`" for key in keys) or "none"
            self.error(
                f"a layer mapping needs one type key (or `type:`), found {listing}"
                + indentation_hint(item, keys),
                mark,
                path,
            )
            return None
        kind = keys[0]
        options = item[kind]
        if options is None:
            options = SpecMap(mark=item.value_mark(kind))
        if not isinstance(options, SpecMap):
            self.error(
                f"{kind}: expected a mapping of options, got {show(options)}",
                item.value_mark(kind),
                path,
            )
            return None
        if "from" in item and is_merge(kind, options):
            # `- add: {…}` with `from:` beside it: the merge reads it as its own option.
            marks = options.value_marks
            options = SpecMap({**options, "from": item["from"]}, mark=options.mark)
            options.value_marks = {**marks, "from": item.value_mark("from")}
        return self.typed(kind, options, mark, item.key_mark(kind), path, name, bindings, depth)

    def tensor_ref(
        self, value: Any, mark: Mark, path: str, bindings: dict[str, Any] | None
    ) -> TensorRef | None:
        """A ``from:`` name; a block parameter (``$skip``) names a tensor outside the block."""
        outside = 0
        if isinstance(value, str) and value.startswith("$"):
            value = self.substitute(value, bindings, mark, path)
            if value is UNRESOLVED:
                return None
            outside = 1 + (value.outside if isinstance(value, OuterName) else 0)
        if not isinstance(value, str) or not value:
            self.error(
                f"from: expected the name of an earlier layer, got {show(value)}", mark, path
            )
            return None
        return TensorRef(str(value), outside)

    def name(self, item: SpecMap, path: str, bindings: dict[str, Any] | None) -> str | None:
        """The explicit ``name`` of a layer ``item`` that has one: text without dots (dots
        separate path components)."""
        name = self.substitute(item["name"], bindings, item.value_mark("name"), path)
        if name is UNRESOLVED:
            return None
        if not isinstance(name, str) or not name or "." in name:
            # Dots separate a row path's parts; a number would read as text only by chance.
            wanted = "a name without dots" if isinstance(name, str) and name else "a name (text)"
            self.error(
                f"name: expected {wanted}, got {shorten(show(name))}",
                item.value_mark("name"),
                path,
            )
            return None
        if len(name) > MAX_NAME:
            self.error(
                f"name: {len(name):,} characters is too long (at most {MAX_NAME}); "
                "give a shorter name",
                item.value_mark("name"),
                path,
            )
            return None
        if name == "input":
            self.error(
                "name: `input` names the input of the layer list; choose another name",
                item.value_mark("name"),
                path,
            )
            return None
        return str(name)

    def typed(
        self,
        kind: Any,
        options: SpecMap,
        mark: Mark,
        kind_mark: Mark,
        path: str,
        name: str | None,
        bindings: dict[str, Any] | None,
        depth: int,
    ) -> Node | None:
        """A layer or container of type ``kind`` with ``options``."""
        if not isinstance(kind, str):
            self.error(f"type: expected a layer type name, got {show(kind)}", kind_mark, path)
            return None
        kind = kind.lower()
        if is_merge(kind, options):
            return self.merge(MERGE_KINDS[kind](), options, mark, path, name, bindings)
        if kind == "gate":
            self.only(options, ("body",), "gate", path)
            body = self.layer_list(options, "body", f"{path}.body", bindings, depth)
            return GateNode(name=name, spec_path=path, location=mark.location(self.file), body=body)
        if kind == "residual":
            return self.residual(options, mark, path, name, bindings, depth)
        if kind == "concat":
            return self.concat(options, mark, path, name, bindings, depth)
        if kind == "repeat":
            return self.repeat(options, mark, path, name, bindings, depth)
        if kind == "use":
            if "block" in options:
                options["use"] = options.pop("block")
            return self.use(options, mark, path, name, bindings, depth)
        layer_kind = LAYER_KINDS.get(kind)
        if layer_kind is None and kind in self.blocks:
            self.error(
                f"`{kind}` is a block, not a layer type: write `- use: {kind}` (its parameters "
                "under `with:`)",
                kind_mark,
                path,
            )
            return None
        if layer_kind is None:
            self.error(
                f"unknown layer type `{shorten(kind)}`{suggestion(kind, TYPE_NAMES)}",
                kind_mark,
                path,
            )
            return None
        layer = self.layer(layer_kind, options, mark, path, bindings)
        if layer is None:
            return None
        return LayerNode(
            name=name,
            spec_path=path,
            location=mark.location(self.file),
            layer=layer,
            bound=None if bindings is None else parameters_bound(options),
        )

    def merge(
        self,
        merge: Merge,
        options: SpecMap,
        mark: Mark,
        path: str,
        name: str | None,
        bindings: dict[str, Any] | None,
    ) -> Node | None:
        """A merge of named tensors: ``add: {from: [a, b]}`` (two or more names)."""
        self.only(options, ("from",), merge.type_name, path)
        where = options.value_mark("from") if "from" in options else mark
        raw = self.substitute(options.get("from"), bindings, where, path)
        if raw is UNRESOLVED:
            return None
        if not isinstance(raw, list) or len(raw) < 2:
            self.error(
                f"{merge.type_name}: `from` must list two or more tensor names, got {show(raw)}",
                where,
                path,
            )
            return None
        refs = [self.tensor_ref(value, where, path, bindings) for value in raw]
        if any(ref is None for ref in refs):
            return None
        return MergeNode(
            name=name,
            spec_path=path,
            location=mark.location(self.file),
            merge=merge,
            sources=tuple(ref for ref in refs if ref is not None),
        )

    def layer(
        self,
        kind: type[Layer],
        options: SpecMap,
        mark: Mark,
        path: str,
        bindings: dict[str, Any] | None,
    ) -> Layer | None:
        """Validate a leaf layer's options into its dataclass."""
        values = {}
        problems = self.problems
        for key, value in options.items():
            if not isinstance(key, str):
                self.error(
                    f"unknown option `{shorten(show(key))}` for {kind.type_name}; it takes "
                    f"{', '.join(kind.option_names()) or 'no options'}",
                    options.key_mark(key),
                    f"{path} {kind.type_name}",
                )
            if isinstance(value, (str, list)):
                value = plain_value(self.substitute(value, bindings, options.value_mark(key), path))
                if isinstance(value, list):
                    value = tuple(
                        self.substitute(item, bindings, options.value_mark(key), path)
                        for item in value
                    )
                elif isinstance(value, str):
                    value = written_pair(kind, key, value)
            values[key] = value
        if self.problems > problems:
            # A `$name` that could not be substituted is reported; its `None` is not news.
            return None
        try:
            # Options in the order written: the same options in another order are validated
            # again, which costs time, never correctness.
            cache_key: tuple[Any, ...] | None = (
                kind,
                *[(key, freeze(value)) for key, value in values.items()],
            )
            cached = self.layer_cache.get(cache_key)  # type: ignore[arg-type]
        except TypeError:
            cache_key, cached = None, None
        if cached is not None:
            return cached
        label = f"{path} {kind.type_name}"
        if not values and all_defaulted(kind):
            # `- relu`, `- bn`: nothing to validate.
            layer = kind()
            if cache_key is not None:
                self.layer_cache[cache_key] = layer
            return layer
        try:
            validated = validated_options(kind, values)
            for option, value in validated.items():
                check_magnitude(option, value)
            layer = kind(**validated)
        except InvalidOptions as error:
            self.option_errors(kind, error, options, mark, label)
            return None
        except OptionError as error:
            self.error(
                error.message,
                options.value_mark(error.option) if error.option in options else mark,
                label,
            )
            return None
        if cache_key is not None:
            self.layer_cache[cache_key] = layer
        return layer

    def option_errors(
        self,
        kind: type[Layer],
        error: InvalidOptions,
        options: SpecMap,
        mark: Mark,
        label: str,
    ) -> None:
        """One message per bad option (pydantic reports one per union member; we merge them)."""
        seen: set[str] = set()
        for problem in error.problems:
            option = str(problem["loc"][0]) if problem["loc"] else ""
            if option in seen:
                continue
            seen.add(option)
            if problem["type"] == "extra_forbidden":
                self.error(
                    f"unknown option `{shorten(option)}` for {kind.type_name}"
                    f"{suggestion(option, kind.option_names())}; it takes "
                    f"{', '.join(kind.option_names()) or 'no options'}",
                    options.key_mark(option),
                    label,
                )
            elif problem["type"] == "missing":
                self.error(f"missing option `{option}`", mark, label)
            else:
                expected = options_of(kind).describe(option)
                self.error(
                    f"{option}: expected {expected}, got {show(problem['input'])}",
                    options.value_mark(option),
                    label,
                )

    # containers

    def residual(
        self,
        options: SpecMap,
        mark: Mark,
        path: str,
        name: str | None,
        bindings: dict[str, Any] | None,
        depth: int,
    ) -> Node | None:
        """``residual``: a body and a shortcut (omitted: identity; ``project``; or layers)."""
        self.only(options, ("body", "shortcut"), "residual", path)
        body = self.layer_list(options, "body", f"{path}.body", bindings, depth)
        shortcut: tuple[Node, ...] | Literal["project"] | None = None
        raw = self.substitute(
            options.get("shortcut"), bindings, options.value_mark("shortcut"), path
        )
        if raw is UNRESOLVED:
            raw = None
        if raw == "project":
            shortcut = "project"
        elif isinstance(raw, list):
            shortcut = self.nodes(
                raw, options.value_mark("shortcut"), f"{path}.shortcut", bindings, depth
            )
        elif raw is not None:
            self.error(
                f"shortcut: expected a list of layers or `project`, got {show(raw)}",
                options.value_mark("shortcut"),
                path,
            )
        return ResidualNode(
            name=name,
            spec_path=path,
            location=mark.location(self.file),
            body=body,
            shortcut=shortcut,
        )

    def concat(
        self,
        options: SpecMap,
        mark: Mark,
        path: str,
        name: str | None,
        bindings: dict[str, Any] | None,
        depth: int,
    ) -> Node | None:
        """``concat``: a non-empty list of branches, each a list of layers (``[]`` passes the
        input through)."""
        self.only(options, ("branches",), "concat", path)
        raw = self.substitute(
            options.get("branches"), bindings, options.value_mark("branches"), path
        )
        if raw is UNRESOLVED:
            return None
        if not isinstance(raw, list) or not raw:
            self.error(
                f"branches: expected a list of branches (each a list of layers), got {show(raw)}",
                options.value_mark("branches"),
                path,
            )
            return None
        branches = tuple(
            self.nodes(
                branch,
                raw.item_mark(index) if isinstance(raw, SpecList) else mark,
                f"{path}.branches[{index}]",
                bindings,
                depth,
            )
            for index, branch in enumerate(raw)
        )
        return ConcatNode(
            name=name, spec_path=path, location=mark.location(self.file), branches=branches
        )

    def repeat(
        self,
        options: SpecMap,
        mark: Mark,
        path: str,
        name: str | None,
        bindings: dict[str, Any] | None,
        depth: int,
    ) -> Node | None:
        """``repeat``: ``layers`` applied ``times`` (≥ 1) times."""
        self.only(options, ("times", "layers"), "repeat", path)
        times = self.substitute(options.get("times"), bindings, options.value_mark("times"), path)
        layers = self.layer_list(options, "layers", f"{path}.layers", bindings, depth)
        if times is UNRESOLVED:
            return None
        if isinstance(times, bool) or not isinstance(times, int) or times < 1:
            self.error(
                f"times: expected a whole number ≥ 1, got {show(times)}",
                options.value_mark("times"),
                path,
            )
            return None
        if times > MAX_LAYERS:
            self.error(
                f"times: {times:,} is more than the {MAX_LAYERS:,} layers convcalc analyzes; "
                "lower it",
                options.value_mark("times"),
                path,
            )
            return None
        return RepeatNode(
            name=name,
            spec_path=path,
            location=mark.location(self.file),
            times=times,
            layers=layers,
            bound=None if bindings is None else parameters_bound(options, ("times",)),
        )

    def only(self, options: SpecMap, allowed: tuple[str, ...], kind: str, path: str) -> None:
        """Report keys a container does not take."""
        for key in options:
            if key not in allowed:
                self.error(
                    f"unknown option `{shorten(key)}` for {kind}{suggestion(str(key), allowed)}; "
                    f"it takes {', '.join(allowed)}",
                    options.key_mark(key),
                    path,
                )

    # blocks

    def read_blocks(self, document: SpecMap) -> None:
        """Remember each block's definition; they are validated where they are used."""
        blocks = document.get("blocks")
        if blocks is None:
            return
        if not isinstance(blocks, SpecMap):
            self.error(
                "blocks: expected a mapping of block names to blocks", document.value_mark("blocks")
            )
            return
        for name, block in blocks.items():
            where = blocks.value_mark(name)
            if len(str(name)) > MAX_NAME:
                self.error(
                    f"blocks: a block name of {len(str(name)):,} characters is too long "
                    f"(at most {MAX_NAME}); give a shorter name",
                    blocks.key_mark(name),
                )
                continue
            if not isinstance(block, SpecMap):
                self.error(f"blocks.{name}: expected a mapping with `layers` (and `params`)", where)
                continue
            self.only(block, ("params", "layers"), "a block", f"blocks.{name}")
            params = block.get("params")
            if params is not None and not isinstance(params, SpecMap):
                self.error(
                    f"blocks.{name}.params: expected a mapping of names to defaults",
                    block.value_mark("params"),
                )
                continue
            self.blocks[str(name)] = block
            if params is None:
                self.implicit_params[str(name)] = [
                    used
                    for used in parameters_used(block.get("layers"))
                    if used not in (self.globals or {})
                ]

    def use(
        self,
        item: SpecMap,
        mark: Mark,
        path: str,
        name: str | None,
        bindings: dict[str, Any] | None,
        depth: int,
    ) -> Node | None:
        """A use of a block: substitute its parameters and read its layers."""
        self.only(item, ("use", "with", "type", *ITEM_KEYS), "use", path)
        block_name = self.substitute(item.get("use"), bindings, item.value_mark("use"), path)
        if block_name is UNRESOLVED:
            return None
        if not isinstance(block_name, str) or block_name not in self.blocks:
            self.error(
                f"use: no block named {show(block_name)}{suggestion(str(block_name), self.blocks)}"
                + (
                    f"; blocks: {', '.join(self.blocks)}"
                    if self.blocks
                    else "; the spec defines no blocks"
                ),
                item.value_mark("use"),
                path,
            )
            return None
        if block_name in self.expanding:
            cycle = " → ".join([*self.expanding[self.expanding.index(block_name) :], block_name])
            self.error(
                f"block `{shorten(block_name)}` uses itself ({shorten(cycle, 200)})",
                item.value_mark("use"),
                path,
            )
            return None
        arguments = self.arguments(block_name, item, path, bindings)
        if arguments is None:
            return None
        layers = self.expand(block_name, arguments, depth)
        given = item.get("with")
        declared = self.blocks[block_name].get("params")
        return UseNode(
            name=name,
            spec_path=path,
            location=mark.location(self.file),
            block=block_name,
            layers=layers,
            arguments=arguments,
            defaults=dict.fromkeys(arguments) if declared is None else dict(declared),
            bound=parameters_bound(given) if bindings is not None and given else None,
        )

    def arguments(
        self, block_name: str, item: SpecMap, path: str, bindings: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        """The block's parameters: its defaults overridden by ``with``."""
        block = self.blocks[block_name]
        declared = block.get("params")
        params = SpecMap() if declared is None else declared
        given = item.get("with") or SpecMap()
        if not isinstance(given, SpecMap):
            self.error(
                f"with: expected a mapping of parameter values, got {show(given)}",
                item.value_mark("with"),
                path,
            )
            return None
        if declared is None:
            # Without `params`, every `$name` the block uses is a parameter with no default.
            params = SpecMap(dict.fromkeys(self.implicit_params[block_name], None))
            missing = [f"`{key}`" for key in params if key not in given]
            if missing:
                self.error(
                    f"use: block `{shorten(block_name)}` declares no defaults; "
                    f"give {shorten(', '.join(missing))} "
                    "in `with:`",
                    item.value_mark("use"),
                    path,
                )
                return None
        arguments = dict(params)
        ok = True
        for key, value in given.items():
            if key not in params:
                names = ", ".join(params) or "no parameters"
                self.error(
                    f"with: block `{shorten(block_name)}` has no parameter `{shorten(key)}`"
                    f"{suggestion(str(key), params)} (it declares {names})",
                    given.key_mark(key),
                    path,
                )
                ok = False
                continue
            argument = self.substitute(value, bindings, given.value_mark(key), path)
            if isinstance(value, str) and value.startswith("$") and isinstance(argument, str):
                # A parameter passed on names a tensor one block further out.
                argument = OuterName(argument, getattr(argument, "outside", 0) + 1)
            arguments[key] = argument
            ok = ok and arguments[key] is not UNRESOLVED
        return arguments if ok else None

    def expand(self, block_name: str, arguments: dict[str, Any], depth: int) -> tuple[Node, ...]:
        """The block's layers with ``arguments`` substituted; identical uses share one expansion."""
        try:
            key: tuple[str, Any] = (
                block_name,
                tuple(sorted((k, freeze(v)) for k, v in arguments.items())),
            )
            hash(key)
        except TypeError:
            key = (block_name, id(arguments))
        known = self.expanded.get(key)
        if known is not None:
            return known
        if len(self.expanded) >= MAX_EXPANSIONS:
            raise SpecError(
                f"the blocks expand into more than {MAX_EXPANSIONS:,} differently parameterised "
                f"copies (at block `{shorten(block_name)}`)",
                self.blocks[block_name].mark.location(self.file, f"blocks.{block_name}"),
            )
        self.expanding.append(block_name)
        try:
            layers = self.layer_list(
                self.blocks[block_name],
                "layers",
                f"blocks.{block_name}.layers",
                {**self.globals, **arguments} if self.globals else arguments,
                depth + 1,
            )
        finally:
            self.expanding.pop()
        self.expanded[key] = layers
        return layers

    def check_unused_blocks(self) -> None:
        """Validate blocks nobody uses, with their defaults, so their mistakes are reported too."""
        used = {name for name, _ in self.expanded}
        for name, block in self.blocks.items():
            # A block whose parameters have no defaults can only be checked where it is used.
            if name not in used and not self.implicit_params.get(name):
                self.expand(name, dict(block.get("params") or {}), 0)

    def substitute(self, value: Any, bindings: dict[str, Any] | None, mark: Mark, path: str) -> Any:
        """``$name`` → the block parameter's value (elsewhere, an error)."""
        if not (isinstance(value, str) and value.startswith("$")):
            return value
        parameter = value[1:]
        if bindings is None:
            self.error(
                f"{value}: parameters only exist inside blocks or under the spec's `params`",
                mark,
                path,
            )
            return UNRESOLVED
        if parameter not in bindings:
            self.error(
                f"unknown parameter {value}{suggestion(parameter, bindings)} "
                f"({self.declared(bindings)})",
                mark,
                path,
            )
            return UNRESOLVED
        return bindings[parameter]

    def declared(self, bindings: dict[str, Any]) -> str:
        """Who declares which of ``bindings``: the block, the spec's top-level ``params``."""
        spec = self.globals or {}
        own = [name for name in bindings if name not in spec or bindings is spec]
        parts = [] if bindings is spec else [f"the block declares {', '.join(own) or 'none'}"]
        if spec:
            parts.append(f"the spec's params are {', '.join(spec)}")
        return "; ".join(parts)


NO_OPTIONS = SpecMap()
"""The options of a layer written as a bare name (``- relu``); shared, so never written to."""

UNRESOLVED: Any = object()
"""What :meth:`SpecParser.substitute` gives for a ``$name`` it reported: callers stop quietly,
so one mistake is one message."""


def is_merge(kind: Any, options: SpecMap) -> bool:
    """Whether an item of type ``kind`` is a merge of named tensors (``concat`` with
    ``branches`` is the container)."""
    if not isinstance(kind, str) or kind.lower() not in MERGE_KINDS:
        return False
    return not (kind.lower() == "concat" and "branches" in options)


def plain_value(value: Any) -> Any:
    """An option value with any :class:`OuterName` back to plain text (a parameter passed on
    through blocks may be an option's word, not a tensor's name)."""
    if isinstance(value, OuterName):
        return str(value)
    if isinstance(value, list):
        return [plain_value(item) for item in value]
    return value


def parameters_used(value: Any) -> list[str]:
    """The ``$names`` a block's layers use, in order of first use."""
    names: dict[str, None] = {}
    pending = [value]
    while pending:
        item = pending.pop()
        if isinstance(item, str) and item.startswith("$"):
            names[item[1:]] = None
        elif isinstance(item, dict):
            pending.extend(reversed(list(item.values())))
        elif isinstance(item, list):
            pending.extend(reversed(item))
    return list(names)


def parameters_bound(options: Any, keys: tuple[str, ...] | None = None) -> dict[str, str]:
    """Which of ``options`` (all, or those in ``keys``) are written as a block's ``$parameter``:
    option → parameter name."""
    return {
        key: value[1:]
        for key, value in options.items()
        if (keys is None or key in keys) and isinstance(value, str) and value.startswith("$")
    }


def count_layers(nodes: tuple[Node, ...], memo: dict[int, int]) -> int:
    """How many rows ``nodes`` expand to, counting shared expansions once per use."""
    key = id(nodes)
    if key in memo:
        return memo[key]
    total = 0
    for node in nodes:
        match node:
            case LayerNode():
                total += 1
            case RepeatNode():
                total += node.times * count_layers(node.layers, memo)
            case UseNode():
                total += count_layers(node.layers, memo)
            case ResidualNode():
                total += 1 + count_layers(node.body, memo)
                total += (
                    2 if node.shortcut == "project" else count_layers(node.shortcut or (), memo)
                )
            case ConcatNode():
                total += 1 + sum(count_layers(branch, memo) for branch in node.branches)
            case GateNode():
                total += 1 + count_layers(node.body, memo)
            case MergeNode():
                total += 1
    memo[key] = total
    return total
