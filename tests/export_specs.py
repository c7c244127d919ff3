"""Seeded random specs for the exporter's tests: every layer kind, blocks with parameters (used
with different arguments), repeats, residuals (identity, project, layers) and concats; and
random graphs (:func:`random_graph`): named tensors read by ``from:``, merges (add, mul,
concat), gates, a block that reads an outside tensor (``from: $skip``) and several outputs.

Items are drawn one at a time and kept only when the spec still analyzes, so every spec is
valid whatever the shapes became; each item is YAML text written at a given indentation.
"""

from __future__ import annotations

import random
from collections.abc import Callable

from convcalc.analysis import analyze
from convcalc.errors import ConvcalcError
from convcalc.loader import parse_spec
from convcalc.spec import Network

BLOCKS = """blocks:
  unit:
    params: {filters: 8, stride: 1, kernel: 3}
    layers:
      - conv: {filters: $filters, kernel: $kernel, stride: $stride, pad: 1, bias: false}
      - bn
      - relu
  basic:
    params: {width: 8, stride: 1}
    layers:
      - residual:
          body:
            - {name: conv1, conv: {filters: $width, kernel: 3, stride: $stride, pad: 1}}
            - {name: bn1, bn: }
            - relu
            - conv: {filters: $width, kernel: 3, pad: 1}
          shortcut: project
      - relu
  mixed:
    params: {a: 4, b: 6, times: 2}
    layers:
      - concat:
          branches:
            - [{conv: {filters: $a, kernel: 1}}]
            - - conv: {filters: $b, kernel: 3, pad: same}
              - repeat: {times: $times, layers: [{conv: {filters: $b, kernel: 3, pad: 1}}]}
            - []
  stack:
    params: {filters: 6, times: 2}
    layers:
      - repeat:
          times: $times
          layers: [{use: unit, with: {filters: $filters}}]
  fuse:
    params: {skip: input, filters: 4}
    layers:
      - conv: {filters: $filters, kernel: 1}
        name: main
      - conv: {filters: $filters, kernel: 1}
        from: $skip
        name: side
      - add: {from: [main, side]}
      - concat: {from: [input, add1]}
"""

SAMPLES: dict[str, list[str]] = {
    "conv": ["conv: {filters: 4, kernel: 3, pad: 1}"],
    "deconv": ["deconv: {filters: 4, kernel: 2, stride: 2}"],
    "maxpool": ["maxpool: {kernel: 2}"],
    "avgpool": ["avgpool: {kernel: 3, stride: 1, pad: 1}"],
    "adaptiveavgpool": ["adaptiveavgpool: {output: 2}"],
    "adaptivemaxpool": ["adaptivemaxpool: {output: 3}"],
    "globalavgpool": ["globalavgpool"],
    "globalmaxpool": ["globalmaxpool"],
    "flatten": ["flatten"],
    "fc": ["fc: {out: 6}"],
    "batchnorm": ["bn", "batchnorm: {eps: 0.001, momentum: 0.01}", "batchnorm: {affine: false}"],
    "layernorm": [
        "layernorm",
        "layernorm: {over: channels}",
        "layernorm: {over: channels, eps: 1e-6}",
    ],
    "groupnorm": ["groupnorm: {groups: 2}"],
    "instancenorm": ["instancenorm: {affine: true}"],
    "relu": ["relu"],
    "relu6": ["relu6"],
    "leakyrelu": ["leakyrelu: {negative_slope: 0.2}"],
    "elu": ["elu: {alpha: 0.5}"],
    "gelu": ["gelu"],
    "silu": ["silu"],
    "sigmoid": ["sigmoid"],
    "tanh": ["tanh"],
    "hardswish": ["hardswish"],
    "hardsigmoid": ["hardsigmoid"],
    "mish": ["mish"],
    "identity": ["identity"],
    "softmax": ["softmax"],
    "prelu": ["prelu", "prelu: {shared: false}"],
    "dropout": ["dropout: {p: 0.1}", "dropout"],
    "layerscale": ["layerscale", "layerscale: {init: 0.1}"],
    "stochasticdepth": ["stochasticdepth: {p: 0.1}", "droppath: {p: 0.2, mode: batch}"],
    "upsample": [
        "upsample: {scale: 2}",
        "upsample: {scale: 1.5, mode: bilinear}",
        "upsample: {scale: [2, 0.75], mode: bicubic, align_corners: true}",
        "upsample: {size: [9, 7], mode: bilinear}",
        "upsample: {size: 5}",
    ],
    "pixelshuffle": ["pixelshuffle: {factor: 2}"],
    "pixelunshuffle": ["pixelunshuffle: {factor: 2}"],
    "crop": ["crop: {size: [5, 6]}", "crop: {size: 3}", "crop: {top: 1, left: 2, right: 1}"],
    "pad": [
        "pad: {pad: 1}",
        "pad: {pad: [1, 2]}",
        "pad: {pad: [0, 1, 2, 1], mode: reflect}",
        "pad: {pad: 1, mode: replicate}",
        "pad: {pad: [1, 0, 2, 1], mode: circular}",
    ],
    "slice": ["slice: {channels: [0, 2]}", "slice: {channels: [1, 4]}"],
    "channelshuffle": ["channelshuffle: {groups: 2}"],
}
"""Each layer kind's sample options, for random specs and for a spec per kind (a test checks
that every registered kind has one)."""


def conv_options(rng: random.Random) -> str:
    """A conv's options: kernel, stride, padding (numbers, same, valid), dilation, groups."""
    kernel = rng.choice([1, 2, 3, 5, [1, 3], [3, 2]])
    options = [f"filters: {rng.choice([2, 4, 6, 8])}", f"kernel: {kernel}"]
    if rng.random() < 0.5:
        options.append(f"stride: {rng.choice([1, 2, 3, [1, 2]])}")
    pad = rng.choice([None, 0, 1, 2, [1, 0], "same", "valid"])
    if pad is not None:
        options.append(f"pad: {pad}")
    if rng.random() < 0.2:
        options.append("dilation: 2")
    if rng.random() < 0.15:
        options.append(f"groups: {rng.choice([2, 'depthwise'])}")
    if rng.random() < 0.3:
        options.append("bias: false")
    return "{" + ", ".join(options) + "}"


def leaf(rng: random.Random) -> str:
    """One random leaf layer as a YAML item (without the leading ``- ``)."""
    choices: list[Callable[[], str]] = [
        lambda: f"conv: {conv_options(rng)}",
        lambda: f"conv: {conv_options(rng)}",
        lambda: (
            f"deconv: {{filters: {rng.choice([2, 4])}, kernel: {rng.choice([2, 3])}, "
            f"stride: {rng.choice([1, 2])}, pad: {rng.choice([0, 1])}"
            + (", output_padding: 1}" if rng.random() < 0.3 else "}")
        ),
        lambda: (
            f"maxpool: {{kernel: {rng.choice([2, 3])}, stride: {rng.choice([1, 2])}, "
            f"pad: {rng.choice([0, 1, 'same'])}, ceil_mode: {rng.choice(['true', 'false'])}"
            + (", dilation: 2}" if rng.random() < 0.2 else "}")
        ),
        lambda: (
            f"avgpool: {{kernel: {rng.choice([2, 3])}, pad: {rng.choice([0, 1, 'same'])}, "
            f"count_include_pad: {rng.choice(['true', 'false'])}}}"
        ),
        lambda: f"adaptiveavgpool: {{output: {rng.choice([1, 2, [2, 3]])}}}",
        lambda: f"adaptivemaxpool: {{output: {rng.choice([1, 3])}}}",
        lambda: "bn",
        lambda: "batchnorm: {eps: 0.001, momentum: 0.01}",
        lambda: "batchnorm: {affine: false}",
        lambda: "layernorm",
        lambda: "groupnorm: {groups: 2}",
        lambda: "instancenorm: {affine: true}",
        lambda: rng.choice(["relu", "relu6", "gelu", "silu", "sigmoid", "tanh", "hardswish"]),
        lambda: rng.choice(["leakyrelu: {negative_slope: 0.2}", "elu: {alpha: 0.5}", "softmax"]),
        lambda: rng.choice(["prelu", "prelu: {shared: false}", "dropout: {p: 0.1}", "dropout"]),
        lambda: rng.choice([sample for samples in SAMPLES.values() for sample in samples]),
        lambda: rng.choice([sample for samples in SAMPLES.values() for sample in samples]),
    ]
    return rng.choice(choices)()


def item(rng: random.Random, depth: int) -> list[str]:
    """A random item as YAML lines relative to its list (first line starts with ``- ``)."""
    roll = rng.random()
    if depth < 2 and roll < 0.1:
        body = [line for _ in range(rng.randint(1, 3)) for line in item(rng, depth + 1)]
        shortcut = rng.choice(["", "project", "layers"])
        lines = ["- residual:", "    body:", *("      " + line for line in body)]
        if shortcut == "project":
            lines.append("    shortcut: project")
        elif shortcut == "layers":
            lines += ["    shortcut:", f"      - conv: {conv_options(rng)}"]
        return lines
    if depth < 2 and roll < 0.18:
        lines = ["- concat:", "    branches:"]
        for _ in range(rng.randint(1, 3)):
            branch = [line for _ in range(rng.randint(0, 2)) for line in item(rng, depth + 1)]
            if not branch:
                lines.append("      - []")
                continue
            lines.append("      - " + branch[0])
            lines += ["        " + line for line in branch[1:]]
        return lines
    if depth < 2 and roll < 0.25:
        inner = [line for _ in range(rng.randint(1, 2)) for line in item(rng, depth + 1)]
        return ["- repeat:", f"    times: {rng.randint(1, 3)}", "    layers:"] + [
            "      " + line for line in inner
        ]
    if roll < 0.4:
        block = rng.choice(["unit", "basic", "mixed", "stack"])
        arguments = {
            "unit": f"{{filters: {rng.choice([4, 8])}, stride: {rng.choice([1, 2])}}}",
            "basic": f"{{width: {rng.choice([4, 8])}, stride: {rng.choice([1, 2])}}}",
            "mixed": f"{{a: {rng.choice([2, 4])}, times: {rng.choice([1, 2])}}}",
            "stack": f"{{filters: {rng.choice([4, 6])}, times: {rng.choice([1, 2, 3])}}}",
        }[block]
        lines = [f"- use: {block}"]
        if rng.random() < 0.7:
            lines.append(f"  with: {arguments}")
        if rng.random() < 0.2:
            lines.append(f"  name: {block}_{rng.randint(1, 9)}")
        return lines
    if roll < 0.5:
        return [f"- name: {rng.choice(['stem', 'head', 'mix', 'class', '3x3'])}", f"  {leaf(rng)}"]
    return [f"- {leaf(rng)}"]


def spec_text(header: list[str], items: list[list[str]]) -> str:
    """The spec's text: header, the blocks when some item uses one, then the items as layers."""
    layers = ["    " + line for lines in items for line in lines]
    blocks = [BLOCKS] if any("use:" in line for line in layers) else []
    return "\n".join([*header, *blocks, "layers:", *layers]) + "\n"


def analyzes(text: str) -> Network | None:
    """The spec's network when it analyzes, else ``None``."""
    try:
        network = parse_spec(text, "random.yaml")
        analyze(network)
    except ConvcalcError:
        return None
    return network


def graph_item(rng: random.Random, names: list[str]) -> list[str]:
    """A random item of a graph that reads the tensors ``names`` (the earlier items' names and
    ``input``): a leaf reading one of them, a merge of two or three, a gate, a use of the block
    that reads an outside tensor, or any item of :func:`item`."""
    roll = rng.random()
    if roll < 0.25:
        return [f"- {leaf(rng)}", f"  from: {rng.choice(names)}"]
    if roll < 0.45:
        merge = rng.choice(["add", "mul", "concat"])
        chosen = rng.sample(names, min(len(names), rng.choice([2, 2, 3])))
        return [f"- {merge}: {{from: [{', '.join(chosen)}]}}"]
    if roll < 0.55:
        squeeze = rng.choice(["conv: {filters: 1, kernel: 1}", "conv: {filters: 2, kernel: 1}"])
        body = rng.choice(
            [
                ["globalavgpool", squeeze, "relu", "conv: {filters: 1, kernel: 1}", "sigmoid"],
                ["{name: inner, type: sigmoid}", "mul: {from: [input, inner]}"],
                ["hardsigmoid"],
            ]
        )
        return ["- gate:", "    body:", *(f"      - {layer}" for layer in body)]
    if roll < 0.6:
        # Each iteration (or the body) reads its own input again after overwriting it.
        body = [
            "- avgpool: {kernel: 3, stride: 1, pad: 1}",
            "- {name: inner, type: relu}",
            f"- {rng.choice(['add', 'mul'])}: {{from: [input, inner]}}",
        ]
        if rng.random() < 0.5:
            return ["- repeat:", f"    times: {rng.randint(2, 3)}", "    layers:"] + [
                "      " + line for line in body
            ]
        return ["- residual:", "    body:", *("      " + line for line in body)]
    if roll < 0.7:
        return [
            "- use: fuse",
            f"  with: {{skip: {rng.choice(names)}, filters: {rng.choice([2, 4])}}}",
        ]
    return item(rng, 0)


def random_graph(seed: int) -> tuple[str, Network]:
    """A valid random graph: items drawn until 4–10 are kept, most of them named, and one to
    three of the named tensors as ``outputs``."""
    rng = random.Random(seed)
    channels, size = rng.choice([2, 4, 6]), rng.randint(6, 16)
    header = [
        f"name: graph-{seed}",
        f"input: {channels}x{size}x{size}",
        f"batch: {rng.randint(1, 2)}",
    ]
    items: list[list[str]] = []
    names = ["input"]
    wanted = rng.randint(4, 10)
    for _ in range(80):
        candidate = graph_item(rng, names)
        name = f"t{len(items) + 1}"
        if rng.random() < 0.7:
            candidate = [*candidate, f"  name: {name}"]
        if analyzes(spec_text(header, [*items, candidate])):
            items.append(candidate)
            if candidate[-1] == f"  name: {name}":
                names.append(name)
            if len(items) == wanted:
                break
    text = spec_text(header, items or [["- relu"]])
    outputs = rng.sample(names[1:], min(len(names) - 1, rng.randint(1, 3)))
    if outputs and analyzes(text + f"outputs: [{', '.join(outputs)}]\n"):
        text += f"outputs: [{', '.join(outputs)}]\n"
    network = analyzes(text)
    assert network is not None, text
    return text, network


def random_spec(seed: int) -> tuple[str, Network]:
    """A valid random spec and its network: items drawn until 4–9 are kept."""
    rng = random.Random(seed)
    channels, size = rng.choice([1, 2, 3, 4]), rng.randint(8, 20)
    header = [
        f"name: random-{seed}",
        f"input: {channels}x{size}x{size}",
        f"batch: {rng.randint(1, 3)}",
    ]
    items: list[list[str]] = []
    wanted = rng.randint(4, 9)
    for _ in range(60):
        candidate = item(rng, 0)
        if analyzes(spec_text(header, [*items, candidate])):
            items.append(candidate)
            if len(items) == wanted:
                break
    if rng.random() < 0.5:
        tail = [["- flatten"], [f"- fc: {{out: {rng.choice([3, 10])}}}"]]
        if rng.random() < 0.5:
            tail += [["- bn"], ["- relu"], ["- fc: {out: 2, bias: false}"]]
        if analyzes(spec_text(header, [*items, *tail])):
            items += tail
    text = spec_text(header, items or [["- relu"]])
    network = analyzes(text)
    assert network is not None, text
    return text, network
