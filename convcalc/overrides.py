"""``--set PATH=VALUE``: change one value of a spec before it is validated.

Settings are applied to the located value tree that :mod:`convcalc.yamlnodes` builds, so the
loader then checks a set value exactly as one written in the file (and locates its problems where
the value it replaced was written). A path names

- a top-level key (``input``, ``batch``, ``dtype``, ``name``) or top-level parameter (``width``);
- any value by its keys and indices: ``blocks.stage.params.filters``, ``layers[3].stride`` (a
  layer's options are reached through the layer itself, in any of the three forms);
- a layer by its row path, as ``analyze`` prints it: ``stage2.conv1.filters``. Where that path
  enters a block that other uses share, the use gets its own copy of the block, so that only this
  row changes.

Nothing is changed in place: containers along the path are copied (a YAML alias may share them).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from convcalc.errors import ConvcalcError, Location, PointedUsageError, UsageError, suggestion
from convcalc.yamlnodes import Mark, SpecList, SpecMap, parse_yaml

Step = str | int
"""One step of a path: a mapping key or a list index."""

LAYER_LISTS = ("layers", "body", "shortcut")
"""The keys whose value is a list of layer items (``branches`` holds lists of them)."""

CONTAINER_OPTIONS = {
    "residual": ("body", "shortcut"),
    "concat": ("branches",),
    "repeat": ("times", "layers"),
}
"""The options of each container kind."""

_STEP = re.compile(r"\[(\d+)\]|\.?([^.\[\]]+)")


class Setting(NamedTuple):
    """One ``--set PATH=VALUE``: the path as written, its steps and the value parsed as YAML."""

    path: str
    steps: tuple[Step, ...]
    value: Any
    origin: str = ""
    """Where the user gave it (``--set input=3x224``), which problems with its value name;
    ``""``: they are located where the value it replaces was written."""


def parse_setting(text: str) -> Setting:
    """``PATH=VALUE`` → a :class:`Setting`; the value is read as in a spec (``3x512x512``,
    ``[3, 3]``, ``same``, ``1e-5``)."""
    path, value_text = split_setting(text, "PATH=VALUE, e.g. --set batch=32", "no value")
    try:
        value = parse_yaml(value_text, None)
    except ConvcalcError as error:
        raise UsageError(f"--set {text}: the value is not valid YAML ({error.message})") from None
    return Setting(path, parse_path(path, text), value, f"--set {text}")


def setting(path: str, value: Any) -> Setting:
    """A setting given from Python: ``path`` as in ``--set``, ``value`` a Python value as YAML
    would give it (a ``TypeError`` for one a spec cannot hold)."""
    return Setting(
        path, parse_path(path, f"{path}=…"), spec_value(value, path), f"settings[{path!r}]"
    )


def spec_value(value: Any, path: str) -> Any:
    """``value`` as the loader reads values: mappings and lists as :class:`SpecMap` and
    :class:`SpecList` (tuples as lists), scalars as they are."""
    if isinstance(value, Mapping):
        if not all(isinstance(key, str) for key in value):
            raise TypeError(f"setting {path}: the keys of a mapping must be text")
        return SpecMap({key: spec_value(item, path) for key, item in value.items()})
    if isinstance(value, list | tuple):
        return SpecList([spec_value(item, path) for item in value])
    if value is None or isinstance(value, bool | int | float | str):
        return value
    raise TypeError(f"setting {path}: a spec cannot hold {type(value).__name__} {value!r}")


def split_setting(text: str, form: str, nothing: str) -> tuple[str, str]:
    """``PATH=TEXT`` → (path, text); a missing path or text is a usage error."""
    path, equals, value_text = text.partition("=")
    path = path.strip()
    if not equals or not path:
        raise UsageError(f"--set {text}: expected {form}")
    if not value_text.strip():
        raise UsageError(f"--set {text}: {nothing} after `=`")
    return path, value_text


def parse_path(path: str, text: str) -> tuple[Step, ...]:
    """``layers[3].stride`` → ``("layers", 3, "stride")``."""
    steps: list[Step] = []
    position = 0
    while position < len(path):
        match = _STEP.match(path, position)
        if match is None or (match.group(2) is not None and position and path[position] != "."):
            # The caret points into the whole setting as typed (the path starts it).
            raise PointedUsageError(
                f"--set {text}: cannot read the path at `{path[position:]}`",
                text,
                text.index(path) + position,
            )
        index, key = match.groups()
        steps.append(int(index) if index is not None else key)
        position = match.end()
    if isinstance(steps[0], int):
        raise UsageError(f"--set {text}: a path starts with a name, e.g. layers[3].stride")
    return tuple(steps)


def apply_settings(document: Any, settings: Sequence[Setting], top_level: Sequence[str]) -> Any:
    """``document`` with every setting applied, in order (a later one wins); ``top_level`` are
    the keys a spec may have at its top."""
    for setting in settings:
        if not isinstance(document, SpecMap):
            return document  # the loader reports a spec that is not a mapping
        document = Editor(document, setting, top_level).apply()
    return document


# --- copying and marks ---------------------------------------------------------------------------


def copy_map(value: SpecMap) -> SpecMap:
    """A shallow copy that keeps the positions."""
    copy = SpecMap(value, mark=value.mark)
    copy.key_marks = dict(value.key_marks)
    copy.value_marks = dict(value.value_marks)
    return copy


def copy_list(value: SpecList) -> SpecList:
    """A shallow copy that keeps the positions."""
    copy = SpecList(value, mark=value.mark)
    copy.item_marks = list(value.item_marks)
    return copy


class SettingMark(Mark):
    """The place of a value given on the command line (or from Python): problems with it name
    the setting, not a line of the spec the user did not write."""

    __slots__ = ("origin",)

    def __init__(self, origin: str, replaced: Mark) -> None:
        super().__init__(replaced.line, replaced.column)
        self.origin = origin

    def location(self, file: str | None, path: str | None = None) -> Location:
        return Location(self.origin, None, None, path)


def relocated(value: Any, mark: Mark) -> Any:
    """A value parsed from the command line, placed at ``mark`` (where the value it replaces
    was written), so the loader's messages about it point into the spec."""
    if isinstance(value, SpecMap):
        value.mark = mark
        for key in value:
            value.key_marks[key] = mark
            value.value_marks[key] = mark
            relocated(value[key], mark)
    elif isinstance(value, SpecList):
        value.mark = mark
        value.item_marks = [mark] * len(value)
        for item in value:
            relocated(item, mark)
    return value


def listing(names: Sequence[str]) -> str:
    """Names for a message: ``a, b, c`` (or ``nothing``)."""
    return ", ".join(names) if names else "nothing"


# --- the editor ----------------------------------------------------------------------------------


class Editor:
    """Applies one setting to a document, copying what it changes."""

    def __init__(self, document: SpecMap, setting: Setting, top_level: Sequence[str]) -> None:
        self.root = copy_map(document)
        self.setting = setting
        self.top_level = top_level
        self.clones: Counter[str] = Counter()

    def fail(self, message: str) -> UsageError:
        """A usage error about this setting."""
        return UsageError(f"--set {self.setting.path}: {message}")

    def apply(self) -> SpecMap:
        """The document with the setting applied."""
        steps = self.setting.steps
        first = steps[0]
        assert isinstance(first, str)
        params = self.root.get("params")
        if first in self.top_level:
            if first == "layers" and len(steps) > 1:
                new = self.in_layer_list(self.root.get("layers"), steps[1:], "layers", None)
            else:
                self.root = self.into(self.root, steps, "", exists=first in ("params", "blocks"))
                return self.root
            self.put(self.root, "layers", new)
            return self.root
        if isinstance(params, SpecMap) and first in params:
            self.put(self.root, "params", self.into(params, steps, "params"))
            return self.root
        layers = self.root.get("layers")
        names = self.names(layers) if isinstance(layers, SpecList) else []
        if isinstance(layers, SpecList) and first in names:
            self.put(self.root, "layers", self.by_name(layers, steps, "", self.globals()))
            return self.root
        choices = [
            *(key for key in self.top_level if key != "params"),
            *(params if isinstance(params, SpecMap) else ()),
            *names,
        ]
        raise self.fail(
            f"the spec has no `{first}`{suggestion(first, choices)}; at the top level: "
            f"{listing(choices)}"
        )

    def globals(self) -> dict[str, Any]:
        """The top-level parameters' values."""
        params = self.root.get("params")
        return dict(params) if isinstance(params, SpecMap) else {}

    def put(self, container: SpecMap, key: Any, value: Any, mark: Mark | None = None) -> None:
        """Set ``container[key]`` (a copy already), keeping or giving positions."""
        if key not in container:
            where = mark or container.mark
            container.key_marks[key] = where
            container.value_marks[key] = where
        container[key] = value

    def placed(self, mark: Mark) -> Mark:
        """Where the setting's value is, replacing one written at ``mark``."""
        origin = self.setting.origin
        return SettingMark(origin, mark) if origin else mark

    def new_value(self, mark: Mark) -> Any:
        """The setting's value, replacing one written at ``mark``."""
        return relocated(self.setting.value, self.placed(mark))

    # generic values

    def into(self, value: Any, steps: Sequence[Step], where: str, *, exists: bool = True) -> Any:
        """``value`` with the value at ``steps`` replaced. Keys must exist unless ``exists`` is
        false for the last one (a new option)."""
        step, rest = steps[0], steps[1:]
        here = f"{where}.{step}" if isinstance(step, str) and where else where or str(step)
        if isinstance(step, int):
            here = f"{where}[{step}]"
            if not isinstance(value, SpecList):
                raise self.fail(f"{where or 'the spec'} is not a list")
            if step >= len(value):
                raise self.fail(f"{where} has {len(value)} items (indices 0 to {len(value) - 1})")
            items = copy_list(value)
            if rest:
                items[step] = self.into(value[step], rest, here, exists=exists)
            else:
                items[step] = self.new_value(value.item_mark(step))
                items.item_marks[step] = self.placed(value.item_mark(step))
            return items
        if not isinstance(value, SpecMap):
            raise self.fail(f"{where or 'the spec'} is not a mapping, so it has no `{step}`")
        if step not in value and (exists or rest):
            keys = [str(key) for key in value]
            raise self.fail(
                f"{where or 'the spec'} has no `{step}`{suggestion(step, keys)}; "
                f"it has {listing(keys)}"
            )
        copy = copy_map(value)
        if step in LAYER_LISTS and rest and isinstance(rest[0], int):
            new = self.in_layer_list(value[step], rest, here, None)
        elif step == "branches" and len(rest) > 1 and isinstance(rest[1], int):
            branches = value[step]
            new = self.in_branch(branches, rest, here)
        elif rest:
            new = self.into(value[step], rest, here)
        else:
            new = self.new_value(value.value_mark(step))
        self.put(copy, step, new)
        if not rest:
            copy.value_marks[step] = self.placed(copy.value_mark(step))
        return copy

    def in_branch(self, branches: Any, steps: Sequence[Step], where: str) -> Any:
        """A concat's ``branches[i][j]…``."""
        index = steps[0]
        assert isinstance(index, int)
        if not isinstance(branches, SpecList) or index >= len(branches):
            count = len(branches) if isinstance(branches, SpecList) else 0
            raise self.fail(f"{where} has {count} branches")
        copy = copy_list(branches)
        copy[index] = self.in_layer_list(branches[index], steps[1:], f"{where}[{index}]", None)
        return copy

    # layers by index

    def in_layer_list(
        self, layers: Any, steps: Sequence[Step], where: str, bindings: dict[str, Any] | None
    ) -> Any:
        """A list of layer items, entered at ``steps[0]`` (an index)."""
        index = steps[0]
        if not isinstance(layers, SpecList):
            raise self.fail(f"{where} is not a list of layers")
        if not isinstance(index, int):
            raise self.fail(
                f"{where}: name a layer by its index ({where}[0]) or by its row path (stage2.conv1)"
            )
        if index >= len(layers):
            raise self.fail(
                f"{where} has {len(layers)} layers (indices 0 to {len(layers) - 1})"
                if layers
                else f"{where} has no layers"
            )
        copy = copy_list(layers)
        item = layers[index]
        if isinstance(item, str):
            item = SpecMap({item: None}, mark=layers.item_mark(index))
        copy[index] = self.in_item(item, steps[1:], f"{where}[{index}]", bindings)
        if len(steps) == 1:
            copy.item_marks[index] = self.placed(layers.item_mark(index))
        return copy

    def in_item(
        self, item: Any, steps: Sequence[Step], where: str, bindings: dict[str, Any] | None
    ) -> Any:
        """One layer item: ``steps`` name one of its options (or ``name``)."""
        if not steps:
            return self.new_value(getattr(item, "mark", self.root.mark))
        step = steps[0]
        if not isinstance(step, str):
            raise self.fail(f"{where} is a layer, not a list")
        if not isinstance(item, SpecMap):
            raise self.fail(f"{where} is not a layer")
        if step == "name" or ("type" in item and step == "type"):
            return self.into(item, steps, where, exists=False)
        if "use" in item or item.get("type") == "use":
            return self.in_use(item, steps, where)
        if "type" in item:
            kind = item["type"]
            options_owner, options_key = None, None
        else:
            kinds = [key for key in item if key != "name"]
            if len(kinds) != 1:
                return self.into(item, steps, where)  # the loader reports the odd layer
            kind = kinds[0]
            options_owner, options_key = item, kind
        allowed = self.options_of(kind)
        if allowed is not None and step not in allowed:
            raise self.fail(
                f"{where} ({kind}) has no option `{step}`{suggestion(step, allowed)}; "
                f"it takes {listing(allowed)}"
            )
        if options_owner is None:
            return self.into(item, steps, where, exists=False)
        options = item[options_key]
        if options is None:
            options = SpecMap(mark=item.value_mark(options_key))
        if not isinstance(options, SpecMap):
            return self.into(item, steps, where)  # the loader reports the odd layer
        copy = copy_map(item)
        self.put(copy, options_key, self.into(options, steps, where, exists=False))
        return copy

    def options_of(self, kind: Any) -> tuple[str, ...] | None:
        """The option names of a layer or container kind (``None``: unknown, left to the
        loader)."""
        from convcalc.layers import LAYER_KINDS

        if not isinstance(kind, str):
            return None
        kind = kind.lower()
        if kind in CONTAINER_OPTIONS:
            return CONTAINER_OPTIONS[kind]
        layer = LAYER_KINDS.get(kind)
        return None if layer is None else (*layer.option_names(), "name")

    def in_use(self, item: SpecMap, steps: Sequence[Step], where: str) -> Any:
        """A use of a block: ``use``, ``with`` or one of the block's parameters."""
        step = steps[0]
        if step in ("use", "with", "block"):
            return self.into(item, steps, where, exists=step != "with")
        params = self.block_params(item.get("use", item.get("block")))
        if step not in params:
            choices = ["use", "with", *params]
            raise self.fail(
                f"{where} (a use of a block) has no `{step}`{suggestion(str(step), choices)}; "
                f"it has {listing(choices)}"
            )
        given = item.get("with")
        copy = copy_map(item)
        if not isinstance(given, SpecMap):
            given = SpecMap(mark=item.mark)
        self.put(copy, "with", self.into(given, steps, f"{where}.with", exists=False))
        return copy

    def block(self, name: Any) -> SpecMap | None:
        """The definition of block ``name``, if there is one."""
        blocks = self.root.get("blocks")
        if not isinstance(blocks, SpecMap) or not isinstance(name, str):
            return None
        block = blocks.get(name)
        return block if isinstance(block, SpecMap) else None

    def block_params(self, name: Any) -> list[str]:
        """The parameters block ``name`` declares."""
        block = self.block(name)
        params = None if block is None else block.get("params")
        return [str(key) for key in params] if isinstance(params, SpecMap) else []

    # layers by row path

    def names(self, layers: SpecList) -> list[str]:
        """The row-path name of each item of a layer list, as the analysis gives them: the
        explicit name, or the type (block name, container kind) and a counter; a taken name gets
        ``_2``…"""
        counters: Counter[str] = Counter()
        taken: set[str] = set()
        names = []
        for item in layers:
            stem, explicit = stem_of(item)
            counters[stem] += 1
            name = explicit or f"{stem}{counters[stem]}"
            if name in taken:
                suffix = 2
                while f"{name}_{suffix}" in taken:
                    suffix += 1
                name = f"{name}_{suffix}"
            taken.add(name)
            names.append(name)
        return names

    def by_name(
        self, layers: SpecList, steps: Sequence[Step], where: str, bindings: dict[str, Any]
    ) -> SpecList:
        """A layer list entered by the name ``steps[0]``."""
        step, rest = steps[0], steps[1:]
        names = self.names(layers)
        here = f"{where}.{step}" if where else str(step)
        if step not in names:
            raise self.fail(
                f"{where or 'the network'} has no layer `{step}`{suggestion(str(step), names)}; "
                f"it has {listing(names)}"
            )
        index = names.index(str(step))
        item = layers[index]
        copy = copy_list(layers)
        if not rest:
            raise self.fail(f"{here} is a layer: name one of its options, e.g. {here}.stride")
        stem, _ = stem_of(item)
        options = options_map(item)
        if isinstance(item, SpecMap) and ("use" in item or item.get("type") == "use"):
            copy[index] = self.through_use(copy, index, names, rest, here, bindings)
        elif stem == "residual":
            part = rest[0]
            if part not in ("body", "shortcut") or not isinstance(options.get(part), SpecList):
                inside = [key for key in ("body", "shortcut") if isinstance(options.get(key), list)]
                raise self.fail(f"{here} is a residual: it has {listing(inside)}")
            copy[index] = self.with_option(
                item, part, self.within(options[part], rest[1:], f"{here}.{part}", bindings)
            )
        elif stem == "concat":
            branches = options.get("branches")
            count = len(branches) if isinstance(branches, SpecList) else 0
            labels = [f"branch{number}" for number in range(1, count + 1)]
            if not isinstance(branches, SpecList) or rest[0] not in labels:
                raise self.fail(f"{here} is a concat: it has {listing(labels)}")
            number = labels.index(str(rest[0]))
            new_branches = copy_list(branches)
            new_branches[number] = self.within(
                branches[number], rest[1:], f"{here}.{rest[0]}", bindings
            )
            copy[index] = self.with_option(item, "branches", new_branches)
        elif stem == "repeat":
            times = resolve(options.get("times"), bindings)
            if times != 1:
                raise self.fail(
                    f"{here} repeats its layers {times} times, so a row path names one of "
                    "several copies; set the option by its index path (every copy changes)"
                )
            copy[index] = self.with_option(
                item, "layers", self.within(options.get("layers"), rest, here, bindings)
            )
        else:
            if isinstance(item, str):
                item = SpecMap({item: None}, mark=layers.item_mark(index))
            copy[index] = self.in_item(item, rest, here, bindings)
        return copy

    def within(
        self, layers: Any, steps: Sequence[Step], where: str, bindings: dict[str, Any]
    ) -> SpecList:
        """The layer list inside a container, entered by name."""
        if not isinstance(layers, SpecList):
            raise self.fail(f"{where} holds no list of layers")
        if not steps:
            raise self.fail(f"{where}: name a layer inside it, e.g. {where}.conv1")
        return self.by_name(layers, steps, where, bindings)

    def with_option(self, item: Any, key: str, value: Any) -> SpecMap:
        """A copy of a container item with option ``key`` replaced."""
        copy = copy_map(item)
        if "type" in item:
            self.put(copy, key, value)
            return copy
        kind = next(name for name in item if name != "name")
        options = copy_map(item[kind])
        self.put(options, key, value)
        self.put(copy, kind, options)
        return copy

    def through_use(
        self,
        layers: SpecList,
        index: int,
        names: list[str],
        steps: Sequence[Step],
        here: str,
        bindings: dict[str, Any],
    ) -> Any:
        """A use entered by name: one of its parameters, or a layer inside the block. The use
        then gets its own copy of the block, named after it, and keeps its row path: it and the
        later default-named uses of the same block get their names written out."""
        item = layers[index]
        block_name = resolve(item.get("use", item.get("block")), bindings)
        if len(steps) == 1 and steps[0] in ("use", "with", *self.block_params(block_name)):
            return self.in_item(item, steps, here, bindings)
        block = self.block(block_name)
        if block is None:
            raise self.fail(f"{here} uses block {block_name!r}, which the spec does not define")
        if len(steps) == 1:
            params = self.block_params(block_name)
            layers_of = block.get("layers")
            names = self.names(layers_of) if isinstance(layers_of, SpecList) else []
            raise self.fail(
                f"{here} (a use of block `{block_name}`) has no parameter `{steps[0]}`"
                f"{suggestion(str(steps[0]), params)}; its parameters: {listing(params)}; "
                f"its layers: {listing(names)}"
            )
        inner = {**bindings, **self.arguments(item, block, bindings)}
        layers_of_block = block.get("layers")
        if not isinstance(layers_of_block, SpecList):
            raise self.fail(f"block `{block_name}` has no list of layers")
        new_layers = self.by_name(layers_of_block, steps, here, inner)
        clone = copy_map(block)
        self.put(clone, "layers", new_layers)
        clone_name = f"{block_name}@{here}"
        blocks = copy_map(self.root["blocks"])
        self.put(blocks, clone_name, clone, block.mark)
        self.root["blocks"] = blocks
        for later in range(index + 1, len(layers)):
            stem, explicit = stem_of(layers[later])
            if stem == block_name and explicit is None:
                layers[later] = named(layers[later], names[later])
        use = named(item, names[index])
        self.put(use, "use" if "use" in item else "block", clone_name)
        return use

    def arguments(self, item: SpecMap, block: SpecMap, bindings: dict[str, Any]) -> dict[str, Any]:
        """A use's parameter values: the block's defaults, then ``with``."""
        params = block.get("params")
        values = dict(params) if isinstance(params, SpecMap) else {}
        given = item.get("with")
        if isinstance(given, SpecMap):
            values.update({key: resolve(value, bindings) for key, value in given.items()})
        return values


def resolve(value: Any, bindings: dict[str, Any] | None) -> Any:
    """``$name`` → its value in ``bindings`` (unknown names stay as written)."""
    if isinstance(value, str) and value.startswith("$") and bindings and value[1:] in bindings:
        return bindings[value[1:]]
    return value


def stem_of(item: Any) -> tuple[str, str | None]:
    """A layer item's default-name stem (its canonical type, block or container kind) and its
    explicit name."""
    from convcalc.layers import LAYER_KINDS

    if isinstance(item, str):
        kind: Any = item
        explicit = None
    elif isinstance(item, SpecMap):
        explicit = item.get("name")
        explicit = explicit if isinstance(explicit, str) else None
        if "use" in item:
            kind = item["use"]
            return (str(kind), explicit)
        kind = item.get("type", next((key for key in item if key != "name"), ""))
        if kind == "use":
            return (str(item.get("block")), explicit)
    else:
        return ("", None)
    kind = str(kind).lower()
    layer = LAYER_KINDS.get(kind)
    return (layer.type_name if layer is not None else kind, explicit)


def options_map(item: Any) -> SpecMap:
    """A layer item's options (empty for a bare name)."""
    if not isinstance(item, SpecMap):
        return SpecMap()
    if "type" in item:
        return item
    kind = next((key for key in item if key != "name"), None)
    options = item.get(kind) if kind is not None else None
    return options if isinstance(options, SpecMap) else SpecMap()


def named(item: Any, name: str) -> SpecMap:
    """A copy of a layer item with an explicit ``name``."""
    copy = SpecMap({item: None}) if isinstance(item, str) else copy_map(item)
    copy["name"] = name
    return copy
