"""The spec parser: every layer form, container and block feature, and every error, located."""

from __future__ import annotations

import time

import pytest

from convcalc.errors import ConvcalcError, SpecError, SpecErrors
from convcalc.layers import LAYER_KINDS
from convcalc.layers.activation import ReLU
from convcalc.layers.conv import Conv
from convcalc.layers.norm import BatchNorm
from convcalc.loader import parse_spec
from convcalc.spec import ConcatNode, LayerNode, Network, Node, RepeatNode, ResidualNode, UseNode


def parse(text: str) -> Network:
    return parse_spec(text, "net.yaml")


def problems(text: str) -> list[str]:
    """Every message the spec's errors print, one per problem."""
    with pytest.raises((SpecError, SpecErrors)) as caught:
        parse(text)
    error: ConvcalcError = caught.value
    return [str(e) for e in error.errors] if isinstance(error, SpecErrors) else [str(error)]


def leaf(node: Node) -> LayerNode:
    assert isinstance(node, LayerNode)
    return node


# --- the three layer forms ------------------------------------------------------------------------


def test_three_layer_forms_give_the_same_layer() -> None:
    network = parse(
        "input: 3x32x32\n"
        "layers:\n"
        "  - conv: {filters: 10, kernel: 5, pad: 2}\n"
        "  - type: conv\n"
        "    filters: 10\n"
        "    kernel: 5\n"
        "    pad: 2\n"
        "  - relu\n"
        "  - relu: {}\n"
        "  - relu:\n"
    )
    first, second, third, fourth, fifth = (leaf(node) for node in network.layers)
    assert first.layer == second.layer == Conv(filters=10, kernel=5, pad=2)
    assert third.layer == fourth.layer == fifth.layer == ReLU()
    assert first.location.line == 3 and first.location.column == 5
    assert second.spec_path == "layers[1]"


def test_name_beside_a_one_key_mapping_and_in_canonical_form() -> None:
    network = parse(
        "input: 3x8x8\n"
        "layers:\n"
        "  - conv: {filters: 4, kernel: 3}\n"
        "    name: stem\n"
        "  - type: bn\n"
        "    name: norm\n"
    )
    assert [node.name for node in network.layers] == ["stem", "norm"]
    assert leaf(network.layers[1]).layer == BatchNorm()


def test_top_level_fields() -> None:
    network = parse("name: tiny\ninput: [3, 16, 16]\nbatch: 4\ndtype: float16\nlayers: [relu]\n")
    assert (network.name, network.input, network.batch, network.dtype) == (
        "tiny",
        (3, 16, 16),
        4,
        "float16",
    )
    assert parse("input: 4096\nlayers: [relu]").input == (4096,)
    assert parse("input: 3 × 8 × 8\nlayers: [relu]").input == (3, 8, 8)


# Options that make every kind valid on its own (required options only).
REQUIRED = {
    "conv": "{filters: 2, kernel: 1}",
    "deconv": "{filters: 2, kernel: 1}",
    "fc": "{out: 2}",
    "adaptiveavgpool": "{output: 1}",
    "adaptivemaxpool": "{output: 1}",
    "maxpool": "{kernel: 1}",
    "avgpool": "{kernel: 1}",
    "groupnorm": "{groups: 1}",
    "upsample": "{scale: 2}",
    "pixelshuffle": "{factor: 1}",
    "pixelunshuffle": "{factor: 1}",
    "crop": "{size: 1}",
    "pad": "{pad: 1}",
    "slice": "{channels: [0, 1]}",
    "channelshuffle": "{groups: 1}",
    "opaque": "{op: 'onnx:Einsum', shape: 3x8x8}",
}


@pytest.mark.parametrize("name", sorted(LAYER_KINDS))
def test_every_type_and_alias_parses(name: str) -> None:
    kind = LAYER_KINDS[name]
    options = REQUIRED.get(kind.type_name)
    item = f"{name}: {options}" if options else name
    node = leaf(parse(f"input: 3x8x8\nlayers:\n  - {item}\n").layers[0])
    assert type(node.layer) is kind
    # Case does not matter in type names, in the canonical form too.
    canonical = f"type: {name.upper()}" + (", " + options.strip("{}") if options else "")
    again = leaf(parse(f"input: 3x8x8\nlayers:\n  - {{{canonical}}}\n").layers[0])
    assert again.layer == node.layer


def test_float_options_accept_exponent_notation() -> None:
    """YAML 1.1 reads ``1e-5`` as a string; the spec reads it as the number it means."""
    node = leaf(parse("input: 3x8x8\nlayers:\n  - bn: {eps: 1e-5}\n  - bn: {eps: 2E-3}").layers[0])
    layer = node.layer
    assert isinstance(layer, BatchNorm) and layer.eps == 1e-5
    assert isinstance(layer.eps, float)


def test_json_input() -> None:
    network = parse(
        '{"input": "3x8x8", "layers": ["relu", {"conv": {"filters": 2, "kernel": 3}},'
        ' {"type": "maxpool", "kernel": 2, "name": "pool"}]}'
    )
    assert [type(leaf(n).layer).__name__ for n in network.layers] == ["ReLU", "Conv", "MaxPool"]
    assert network.layers[2].name == "pool"
    assert network.layers[1].location.line == 1


# --- containers -----------------------------------------------------------------------------------


def test_residual_shortcut_forms() -> None:
    network = parse(
        "input: 3x8x8\n"
        "layers:\n"
        "  - residual: {body: [relu]}\n"
        "  - residual: {body: [relu], shortcut: [relu, relu]}\n"
        "  - residual: {body: [{conv: {filters: 3, kernel: 1}}], shortcut: project}\n"
    )
    identity, explicit, project = network.layers
    assert isinstance(identity, ResidualNode) and identity.shortcut is None
    assert isinstance(explicit, ResidualNode) and isinstance(explicit.shortcut, tuple)
    assert [node.spec_path for node in explicit.shortcut] == [
        "layers[1].shortcut[0]",
        "layers[1].shortcut[1]",
    ]
    assert isinstance(project, ResidualNode) and project.shortcut == "project"


def test_concat_with_an_empty_branch() -> None:
    (node,) = parse("input: 3x8x8\nlayers:\n  - concat: {branches: [[relu], []]}\n").layers
    assert isinstance(node, ConcatNode)
    assert len(node.branches) == 2 and node.branches[1] == ()
    assert node.branches[0][0].spec_path == "layers[0].branches[0][0]"


def test_repeat_and_canonical_containers() -> None:
    network = parse(
        "input: 3x8x8\n"
        "layers:\n"
        "  - repeat: {times: 3, layers: [relu]}\n"
        "  - type: repeat\n"
        "    times: 2\n"
        "    layers: [relu]\n"
        "  - type: residual\n"
        "    body: [relu]\n"
    )
    first, second, third = network.layers
    assert isinstance(first, RepeatNode) and first.times == 3
    assert isinstance(second, RepeatNode) and second.times == 2
    assert isinstance(third, ResidualNode)


# --- blocks ---------------------------------------------------------------------------------------

BLOCKS = """\
input: 3x8x8
blocks:
  unit:
    params: {filters: 4, n: 2}
    layers:
      - repeat:
          times: $n
          layers:
            - conv: {filters: $filters, kernel: 3, pad: 1}
  plain:
    layers: [relu]
layers:
  - use: unit
  - use: unit
    with: {filters: 8, n: 3}
    name: wide
  - type: use
    block: plain
"""


def test_blocks_substitute_parameters_including_repeat_times() -> None:
    default, wide, plain = parse(BLOCKS).layers
    assert isinstance(default, UseNode) and isinstance(wide, UseNode)
    assert isinstance(plain, UseNode) and plain.block == "plain"
    assert wide.name == "wide"
    (repeat,) = wide.layers
    assert isinstance(repeat, RepeatNode) and repeat.times == 3
    assert leaf(repeat.layers[0]).layer == Conv(filters=8, kernel=3, pad=1)
    (default_repeat,) = default.layers
    assert isinstance(default_repeat, RepeatNode) and default_repeat.times == 2
    assert leaf(default_repeat.layers[0]).layer == Conv(filters=4, kernel=3, pad=1)
    # Nodes inside a block are located in the block's text.
    assert repeat.layers[0].spec_path == "blocks.unit.layers[0].layers[0]"
    assert repeat.layers[0].location.line == 9


def test_a_block_with_no_params_key() -> None:
    network = parse("input: 3\nblocks:\n  b: {layers: [relu]}\nlayers: [{use: b}]\n")
    (use,) = network.layers
    assert isinstance(use, UseNode) and len(use.layers) == 1


# --- errors, each with its exact location ---------------------------------------------------------


def test_yaml_syntax_errors_are_located() -> None:
    assert problems("input: 3x8x8\nlayers: [relu\n") == [
        "net.yaml:3:1: YAML syntax error: did not find expected ',' or ']' (the `[` opened at "
        "2:9 is not closed)"
    ]
    # libyaml says "in this context", PyYAML's pure-Python scanner "here".
    (message,) = problems("input: 3x8x8\n  layers: [relu]\n")
    assert message.startswith("net.yaml:2:9: YAML syntax error: mapping values are not allowed")
    assert problems("input: 3\ninput: 4\nlayers: [relu]\n") == [
        "net.yaml:2:1: duplicate key 'input'"
    ]


def test_not_a_mapping_empty_and_binary() -> None:
    assert problems("- relu\n") == [
        "net.yaml:1:1: the spec must be a mapping with `input` and `layers`"
    ]
    assert problems("") == ["net.yaml: the spec is empty"]
    assert problems("input: 3\x00") == ["net.yaml: the spec is not text (it contains NUL bytes)"]


def test_unknown_types_and_options_suggest_the_closest() -> None:
    assert problems(
        "input: 3x32x32\n"
        "layers:\n"
        "  - conv: {filters: 10, kernel: 5, strid: 2}\n"
        "  - type: convv\n"
        "  - maxpol\n"
        "  - residual: {bdy: [relu], body: [relu]}\n"
    ) == [
        "net.yaml:3:36: layers[0] conv: unknown option `strid` for conv (did you mean `stride`?); "
        "it takes filters, kernel, stride, pad, dilation, groups, bias, in_channels",
        "net.yaml:4:11: layers[1]: unknown layer type `convv` (did you mean `conv`?)",
        "net.yaml:5:5: layers[2]: unknown layer type `maxpol` (did you mean `maxpool`?)",
        "net.yaml:6:16: layers[3]: unknown option `bdy` for residual (did you mean `body`?); "
        "it takes body, shortcut",
    ]


def test_unknown_top_level_key() -> None:
    assert problems("input: 3\nlayer: [relu]\nlayers: [relu]\n") == [
        "net.yaml:2:1: unknown key `layer` (did you mean `layers`?); "
        "a spec has name, input, batch, dtype, params, layers, blocks, outputs"
    ]


def test_wrong_value_types() -> None:
    assert problems(
        "input: 3x32x32\n"
        "layers:\n"
        "  - conv: {filters: ten, kernel: 5}\n"
        "  - conv: {filters: 2, kernel: [1, 2, 3]}\n"
        "  - conv: {filters: 2, kernel: 3, pad: sam}\n"
        "  - conv: {filters: 2, kernel: 3, bias: 1}\n"
        "  - pool: 3\n"
        "  - 5\n"
    ) == [
        "net.yaml:3:21: layers[0] conv: filters: expected a whole number, got 'ten'",
        "net.yaml:4:32: layers[1] conv: kernel: expected a whole number or [h, w], got a list",
        "net.yaml:5:40: layers[2] conv: pad: expected a whole number or [h, w] or same or valid, "
        "got 'sam'",
        "net.yaml:6:41: layers[3] conv: bias: expected true or false, got 1",
        "net.yaml:7:11: layers[4]: pool: expected a mapping of options, got 3",
        "net.yaml:8:5: layers[5]: expected a layer (a type name, `type: …`, or a one-key mapping),"
        " got 5",
    ]


def test_invalid_values() -> None:
    assert problems(
        "input: 3x32x32\n"
        "batch: 0\n"
        "dtype: float31\n"
        "layers:\n"
        "  - conv: {filters: 0, kernel: 5}\n"
        "  - dropout: {p: 2}\n"
        "  - conv: {filters: 2, kernel: 3, stride: [1, 0]}\n"
        "  - bn: {eps: -1e-5}\n"
        "  - repeat: {times: 0, layers: [relu]}\n"
        "  - concat: {branches: []}\n"
        "  - residual: {body: [relu], shortcut: proj}\n"
    ) == [
        "net.yaml:2:8: batch: expected a whole number ≥ 1, got 0",
        "net.yaml:3:8: dtype: expected one of float64, float32, float16, bfloat16, int8, "
        "got 'float31' (did you mean `float32`?)",
        "net.yaml:5:21: layers[0] conv: filters: must be ≥ 1, got 0",
        "net.yaml:6:18: layers[1] dropout: p: must be between 0 and 1, got 2.0",
        "net.yaml:7:43: layers[2] conv: stride: must be ≥ 1, got [1, 0]",
        "net.yaml:8:15: layers[3] batchnorm: eps: must be > 0, got -1e-05",
        "net.yaml:9:21: layers[4]: times: expected a whole number ≥ 1, got 0",
        "net.yaml:10:24: layers[5]: branches: expected a list of branches (each a list of layers),"
        " got []",
        "net.yaml:11:40: layers[6]: shortcut: expected a list of layers or `project`, got 'proj'",
    ]


def test_bad_input_shape() -> None:
    assert problems("input: 3x0x8\nlayers: [relu]\n") == [
        "net.yaml:1:8: input: sizes must be ≥ 1, got 0 in '3x0x8'"
    ]
    assert problems("input: 3x8\nlayers: [relu]\n") == [
        "net.yaml:1:8: input: expected C×H×W (an image) or D (a vector), got 2 sizes in '3x8'"
    ]


def test_missing_input_and_layers() -> None:
    assert problems("layers: [relu]\n") == [
        "net.yaml:1:1: missing `input`: the shape of one sample, e.g. `input: 3x224x224`"
    ]
    assert problems("input: 3\n") == ["net.yaml:1:1: missing `layers`: a list of layers"]
    assert problems("input: 3\nlayers: []\n") == ["net.yaml:2:9: layers: the network has no layers"]
    assert problems("input: 3\nlayers:\n  - repeat: {times: 2}\n") == [
        "net.yaml:3:13: layers[0]: missing `layers`: a list of layers"
    ]


def test_undefined_block_and_parameters() -> None:
    assert problems("input: 3\nblocks:\n  basic: {layers: [relu]}\nlayers: [{use: basc}]\n") == [
        "net.yaml:4:16: layers[0]: use: no block named 'basc' (did you mean `basic`?); "
        "blocks: basic"
    ]
    assert problems("input: 3\nlayers: [{use: b}]\n") == [
        "net.yaml:2:16: layers[0]: use: no block named 'b'; the spec defines no blocks"
    ]
    assert problems(
        "input: 3x4x4\n"
        "blocks:\n"
        "  b:\n"
        "    params: {filters: 2}\n"
        "    layers: [{conv: {filters: $filter, kernel: 1}}]\n"
        "layers: [{use: b}]\n"
    ) == [
        "net.yaml:5:31: blocks.b.layers[0]: unknown parameter $filter (did you mean `filters`?) "
        "(the block declares filters)"
    ]
    assert problems("input: 3x4x4\nlayers: [{conv: {filters: $f, kernel: 1}}]\n") == [
        "net.yaml:2:27: layers[0]: $f: parameters only exist inside blocks or under the spec's "
        "`params`"
    ]


def test_a_with_key_the_block_does_not_declare() -> None:
    assert problems(
        "input: 3x4x4\n"
        "blocks:\n"
        "  b:\n"
        "    params: {filters: 2}\n"
        "    layers: [{conv: {filters: $filters, kernel: 1}}]\n"
        "layers:\n"
        "  - use: b\n"
        "    with: {filter: 3}\n"
    ) == [
        "net.yaml:8:12: layers[0]: with: block `b` has no parameter `filter` "
        "(did you mean `filters`?) (it declares filters)"
    ]


def test_recursive_blocks() -> None:
    assert problems("input: 3\nblocks:\n  a:\n    layers: [{use: a}]\nlayers: [{use: a}]\n") == [
        "net.yaml:4:20: blocks.a.layers[0]: block `a` uses itself (a → a)"
    ]
    assert problems(
        "input: 3\n"
        "blocks:\n"
        "  a:\n"
        "    layers: [relu, {use: b}]\n"
        "  b:\n"
        "    layers: [{use: a}]\n"
        "layers: [{use: a}]\n"
    ) == ["net.yaml:6:20: blocks.b.layers[0]: block `a` uses itself (a → b → a)"]


def test_unused_blocks_are_checked_too() -> None:
    assert problems("input: 3\nblocks:\n  spare: {layers: [rleu]}\nlayers: [relu]\n") == [
        "net.yaml:3:20: blocks.spare.layers[0]: unknown layer type `rleu` (did you mean `relu`?)"
    ]


def test_several_errors_are_reported_together_once_each() -> None:
    found = problems(
        "input: 3x0x8\n"
        "blocks:\n"
        "  b:\n"
        "    params: {f: 2}\n"
        "    layers: [rleu, {conv: {filters: $f, kernel: 1}}]\n"
        "layers:\n"
        "  - use: b\n"
        "    with: {f: 3}\n"
        "  - use: b\n"
        "    with: {f: 4}\n"
        "  - fc: {out: -1}\n"
    )
    # A block expanded twice repeats its own mistake once, not twice.
    assert found == [
        "net.yaml:1:8: input: sizes must be ≥ 1, got 0 in '3x0x8'",
        "net.yaml:5:14: blocks.b.layers[0]: unknown layer type `rleu` (did you mean `relu`?)",
        "net.yaml:11:15: layers[2] fc: out: must be ≥ 1, got -1",
    ]


# --- hostile input, refused fast ------------------------------------------------------------------


def refused_fast(text: str) -> str:
    start = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        parse(text)
    assert time.perf_counter() - start < 0.5
    return str(caught.value)


def test_alias_bomb_is_refused_fast() -> None:
    lines = ["input: 3x8x8", "x0: &a0 [relu, relu, relu, relu, relu, relu, relu, relu, relu]"]
    lines += [f"x{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 9)]
    lines.append("layers: *a8")
    assert "YAML nodes once its aliases are expanded" in refused_fast("\n".join(lines))


def test_alias_bomb_through_containers_is_refused_fast() -> None:
    """The parser walks a tree, so shared branches multiply: 10⁹ layers from 30 lines."""
    lines = ["input: 3x8x8", "blocks:", "  b:", "    layers:"]
    lines.append("      - &c0 {concat: {branches: [" + ", ".join(["[relu]"] * 10) + "]}}")
    for i in range(1, 9):
        branches = ", ".join([f"[*c{i - 1}]"] * 10)
        lines.append(f"      - &c{i} {{concat: {{branches: [{branches}]}}}}")
    lines.append("layers: [relu]")
    assert "once its aliases are expanded" in refused_fast("\n".join(lines))


def test_recursive_alias_is_refused() -> None:
    assert refused_fast("input: 3\nlayers: &l [relu, {concat: {branches: [*l, *l]}}]\n") == (
        # located at the alias that refers back into its own anchor
        "net.yaml:2:40: an alias refers to a collection that contains it (a recursive structure)"
    )


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ("input: 3\nlayers: " + "[" * 100_000 + "]" * 100_000, "net.yaml:2:208"),
        ("input: 3\nlayers: " + "{a: " * 50_000 + "1" + "}" * 50_000, "net.yaml:2:805"),
        ("input: 3\nlayers:\n  " + "- " * 50_000 + "relu\n", "net.yaml:3:401"),
    ],
    ids=["flow-lists", "flow-mappings", "block-lists"],
)
def test_deep_nesting_is_refused_fast(text: str, where: str) -> None:
    message = refused_fast(text)
    assert message.endswith(": the spec nests deeper than 200 levels")
    # The line is exact; the column is where reading stopped: level 201, or where a newer
    # libyaml (PyYAML ≥ 6.0.4), which scans ahead, stops deep flow nesting itself.
    assert message.startswith(where.rsplit(":", 1)[0] + ":")


def test_block_parameter_combinations_cannot_explode() -> None:
    """Each level uses the one below three times: 3^23 layers, but each distinct expansion of a
    block is read once, and the layer count is computed, not walked."""
    lines = ["input: 3", "blocks:", "  b0:", "    params: {p: 0}", "    layers: [relu, relu]"]
    for level in range(1, 24):
        uses = ", ".join(f"{{use: b{level - 1}, with: {{p: {value}}}}}" for value in range(2))
        lines += [
            f"  b{level}:",
            "    params: {p: 0}",
            f"    layers: [{{use: b{level - 1}}}, {uses}]",
        ]
    lines.append("layers: [{use: b23}]")
    start = time.perf_counter()
    with pytest.raises(SpecError) as caught:
        parse("\n".join(lines))
    assert time.perf_counter() - start < 1
    assert str(caught.value) == (
        "net.yaml:75:9: layers: the spec expands to 188,286,357,654 layers, more than the "
        "100,000 convcalc analyzes; lower the repeat counts or analyze the network in parts"
    )


# --- YAML details found in review -----------------------------------------------------------


def test_a_key_written_beside_a_merge_overrides_it() -> None:
    network = parse(
        "input: 3x8x8\nblocks:\n  b:\n    layers:\n      - conv: &d {filters: 4, kernel: 3}\n"
        "layers:\n  - conv: {<<: *d, kernel: 5}\n  - conv: {kernel: 1, <<: *d}\n"
    )
    first, second = (node.layer for node in network.layers)  # type: ignore[attr-defined]
    assert (first.filters, first.kernel) == (4, 5)
    assert (second.filters, second.kernel) == (4, 1)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "input: 3x8x8\nbatch: !!bool maybe\nlayers: [relu]\n",
            "net.yaml:2:8: invalid value for !!bool: 'maybe'",
        ),
        (
            "input: 3x8x8\nbatch: !!int ''\nlayers: [relu]\n",
            "net.yaml:2:8: invalid value for !!int: ''",
        ),
        (
            "input: 3x8x8\nlayers: [relu, <<]\n",
            "net.yaml:2:16: `<<` (a merge) may only be a mapping's key",
        ),
        (
            "input: 3x8x8\nlayers: [{conv: {<<: 3}}]\n",
            "net.yaml:2:22: `<<` merges a mapping or a list of mappings",
        ),
        ("input: 3x8x8\nlayers: [{[1, 2]: 3}]\n", "net.yaml:2:11: a key must be a plain name"),
        (
            "input: 3x8x8\nlayers: [re\x07lu]\n",
            "net.yaml:2:12: character U+0007 is not allowed in YAML "
            "(control characters are not allowed)",
        ),
    ],
)
def test_odd_yaml_is_a_located_error(text: str, message: str) -> None:
    assert refused_fast(text) == message


def test_an_option_key_that_is_not_text() -> None:
    assert problems("input: 3x8x8\nlayers:\n  - conv: {3: 4, filters: 4, kernel: 3}\n") == [
        "net.yaml:3:12: layers[0] conv: unknown option `3` for conv; it takes filters, kernel, "
        "stride, pad, dilation, groups, bias, in_channels"
    ]


def test_canonical_use_names_its_block_with_use() -> None:
    network = parse(
        "input: 3x8x8\nblocks: {b: {layers: [relu]}}\nlayers:\n  - type: use\n    use: b\n"
    )
    assert network.layers[0].block == "b"  # type: ignore[attr-defined]
