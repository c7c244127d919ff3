"""convcalc against PyTorch on random sequential and branched networks.

Each case is generated with a seeded RNG as a small tree of layers, written out both as a convcalc
spec (text → ``parse_spec`` → ``analyze``) and as ``torch.nn`` modules. For every row we compare
the output shape, params, buffers and MACs (``FlopCounterMode`` flops / 2, per module). BatchNorm
buffers: convcalc counts the 2C running statistics; torch also keeps a one-element
``num_batches_tracked`` counter per BN, which is bookkeeping, not a statistic, and is excluded.

The receptive field of the last spatial row is measured with a probe copy of the network:
constant positive weights, zero biases, max pooling replaced by average pooling, activations and
BN as identity. Back-propagating one central output unit then gives a non-zero gradient exactly
on the input pixels that unit can see; its span must equal the field convcalc reports, clipped
to the input.

Why this file builds its torch models itself instead of through ``tests.torch_build``: the
shared translator builds a network from convcalc's own rows and their ``sources``, so it runs
whatever wiring the loader produced and cannot notice a wrong one (a shortcut reading the wrong
tensor, a branch dropped from a concat, rows out of order). Here both sides are written from one
independent description, the torch side as nested ``nn.Module`` containers that never see
convcalc's rows; torch's forward hooks then give the order and shapes to compare the rows with.
This checks the loader's expansion of residual and concat containers, which no other oracle does.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

import pytest

torch = pytest.importorskip(
    "torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
from torch import nn  # noqa: E402
from torch.utils.flop_counter import FlopCounterMode  # noqa: E402

from convcalc.analysis import analyze  # noqa: E402
from convcalc.loader import parse_spec  # noqa: E402
from convcalc.report import Report  # noqa: E402

pytestmark = pytest.mark.oracle


# --- a tiny description both sides are built from -------------------------------------------------


@dataclass
class Op:
    """One layer or container: ``kind`` plus its options (containers hold child op lists)."""

    kind: str
    options: dict[str, Any] = field(default_factory=dict)
    children: list[list[Op]] = field(default_factory=list)


def yaml_items(ops: list[Op], indent: int) -> list[str]:
    """The ops as YAML list items."""
    pad = " " * indent
    lines: list[str] = []
    for op in ops:
        if op.kind == "residual":
            lines.append(f"{pad}- residual:")
            lines.append(f"{pad}    body:")
            lines += yaml_items(op.children[0], indent + 6)
            shortcut = op.options["shortcut"]
            if shortcut == "project":
                lines.append(f"{pad}    shortcut: project")
            elif shortcut == "layers":
                lines.append(f"{pad}    shortcut:")
                lines += yaml_items(op.children[1], indent + 6)
        elif op.kind == "concat":
            lines.append(f"{pad}- concat:")
            lines.append(f"{pad}    branches:")
            for branch in op.children:
                if branch:
                    lines.append(f"{pad}      - ")
                    inner = yaml_items(branch, indent + 8)
                    lines[-1] += inner[0].lstrip()
                    lines += inner[1:]
                else:
                    lines.append(f"{pad}      - []")
        elif op.options:
            options = ", ".join(f"{key}: {value}" for key, value in op.options.items())
            lines.append(f"{pad}- {op.kind}: {{{options}}}")
        else:
            lines.append(f"{pad}- {op.kind}")
    return lines


class Residual(nn.Module):
    def __init__(self, body: nn.Module, shortcut: nn.Module) -> None:
        super().__init__()
        self.body = body
        self.shortcut = shortcut

    def forward(self, x: Any) -> Any:
        return self.body(x) + self.shortcut(x)


class Concat(nn.Module):
    def __init__(self, branches: list[nn.Module]) -> None:
        super().__init__()
        self.branches = nn.ModuleList(branches)

    def forward(self, x: Any) -> Any:
        return torch.cat([branch(x) for branch in self.branches], dim=1)


def build(ops: list[Op], channels: int, probe: bool = False) -> tuple[nn.Sequential, int]:
    """The torch modules of ``ops`` on ``channels`` input channels (and the output channels).

    ``probe`` builds the receptive-field probe: avg instead of max pooling, identity for BN and
    ReLU (weights are set constant afterwards)."""
    modules: list[nn.Module] = []
    for op in ops:
        o = op.options
        if op.kind == "conv":
            modules.append(
                nn.Conv2d(
                    channels,
                    o["filters"],
                    o["kernel"],
                    stride=o.get("stride", 1),
                    padding=o.get("pad", 0),
                    dilation=o.get("dilation", 1),
                    groups=o.get("groups", 1),
                    bias=o.get("bias", "true") == "true",
                )
            )
            channels = o["filters"]
        elif op.kind in ("maxpool", "avgpool"):
            pool = nn.MaxPool2d if op.kind == "maxpool" and not probe else nn.AvgPool2d
            modules.append(pool(o["kernel"], stride=o.get("stride"), padding=o.get("pad", 0)))
        elif op.kind == "bn":
            modules.append(nn.Identity() if probe else nn.BatchNorm2d(channels))
        elif op.kind == "relu":
            modules.append(nn.Identity() if probe else nn.ReLU())
        elif op.kind == "gap":
            modules.append(nn.AdaptiveAvgPool2d(1))
        elif op.kind == "flatten":
            modules.append(nn.Flatten())
        elif op.kind == "fc":
            modules.append(nn.Linear(channels, o["out"]))
            channels = o["out"]
        elif op.kind == "residual":
            body, out = build(op.children[0], channels, probe)
            shortcut: nn.Module
            if op.options["shortcut"] == "project":
                stride = op.options["stride"]
                shortcut = nn.Sequential(
                    nn.Conv2d(channels, out, 1, stride=stride, bias=False),
                    nn.Identity() if probe else nn.BatchNorm2d(out),
                )
            elif op.options["shortcut"] == "layers":
                shortcut, _ = build(op.children[1], channels, probe)
            else:
                shortcut = nn.Identity()
            modules.append(Residual(body, shortcut))
            channels = out
        elif op.kind == "concat":
            built = [build(branch, channels, probe) for branch in op.children]
            modules.append(Concat([module for module, _ in built]))
            channels = sum(out for _, out in built)
        else:
            raise AssertionError(op.kind)
    return nn.Sequential(*modules), channels


# --- random networks ------------------------------------------------------------------------------


def random_conv(rng: random.Random, channels: int, *, keep_size: bool) -> Op:
    """A conv; ``keep_size`` keeps H×W (stride 1, odd kernel, pad = half the effective kernel)."""
    kernel = rng.choice([1, 3, 5])
    dilation = rng.choice([1, 1, 2]) if kernel > 1 else 1
    options: dict[str, Any] = {"filters": rng.choice([2, 4, 6]), "kernel": kernel}
    if keep_size:
        options["pad"] = dilation * (kernel - 1) // 2
    else:
        options["stride"] = rng.choice([1, 2, 3])
        options["pad"] = rng.randint(0, kernel // 2 + 1)
    if dilation > 1:
        options["dilation"] = dilation
    if channels % 2 == 0 and options["filters"] % 2 == 0 and rng.random() < 0.25:
        options["groups"] = 2
    if rng.random() < 0.3:
        options["bias"] = "false"
    return Op("conv", options)


def random_residual(rng: random.Random, channels: int) -> tuple[Op, int]:
    filters = rng.choice([channels, channels * 2])
    stride = rng.choice([1, 2])
    kernel = rng.choice([1, 3])
    body = [
        Op("conv", {"filters": filters, "kernel": kernel, "stride": stride, "pad": kernel // 2}),
        Op("bn"),
        Op("relu"),
        Op("conv", {"filters": filters, "kernel": 3, "pad": 1, "bias": "false"}),
    ]
    options: dict[str, Any] = {"stride": stride}
    children = [body]
    if filters == channels and stride == 1 and rng.random() < 0.5:
        options["shortcut"] = "identity"
    elif rng.random() < 0.5:
        options["shortcut"] = "project"
    else:
        options["shortcut"] = "layers"
        children.append([Op("conv", {"filters": filters, "kernel": 1, "stride": stride})])
    return Op("residual", options, children), filters


def random_concat(rng: random.Random, channels: int) -> tuple[Op, int]:
    branches: list[list[Op]] = []
    out = 0
    for _ in range(rng.randint(2, 3)):
        choice = rng.random()
        if choice < 0.2:
            branches.append([])
            out += channels
        elif choice < 0.4:
            branches.append([Op("maxpool", {"kernel": 3, "stride": 1, "pad": 1})])
            out += channels
        else:
            conv = random_conv(rng, channels, keep_size=True)
            branches.append([conv, Op("relu")])
            out += conv.options["filters"]
    return Op("concat", {}, branches), out


def random_network(seed: int, branched: bool) -> tuple[list[Op], list[Op], int, int]:
    """(body ops, head ops, input channels, input size)."""
    rng = random.Random(seed)
    channels = rng.randint(1, 4)
    start_channels = channels
    size = rng.randint(14, 24)
    height = size
    body: list[Op] = []
    for _ in range(rng.randint(3, 6)):
        choice = rng.random()
        if branched and choice < 0.3 and height >= 4:
            op, channels = random_residual(rng, channels)
            height = (height - 1) // op.options["stride"] + 1
            body.append(op)
        elif branched and choice < 0.55:
            op, channels = random_concat(rng, channels)
            body.append(op)
        elif choice < 0.75 and height >= 6:
            conv = random_conv(rng, channels, keep_size=False)
            o = conv.options
            effective = o.get("dilation", 1) * (o["kernel"] - 1) + 1
            new = (height + 2 * o["pad"] - effective) // o["stride"] + 1
            if new < 2:
                continue
            body.append(conv)
            channels, height = o["filters"], new
            if rng.random() < 0.5:
                body.append(Op("bn"))
            body.append(Op("relu"))
        elif height >= 4:
            kind = rng.choice(["maxpool", "avgpool"])
            kernel = rng.choice([2, 3])
            stride = rng.choice([1, 2])
            pad = rng.randint(0, kernel // 2)
            body.append(Op(kind, {"kernel": kernel, "stride": stride, "pad": pad}))
            height = (height + 2 * pad - kernel) // stride + 1
    head = [Op("gap"), Op("flatten"), Op("fc", {"out": rng.randint(2, 10)})]
    return body, head, start_channels, size


def spec_text(ops: list[Op], channels: int, size: int) -> str:
    return f"input: {channels}x{size}x{size}\nlayers:\n" + "\n".join(yaml_items(ops, 2)) + "\n"


# --- running torch --------------------------------------------------------------------------------


def torch_rows(
    model: nn.Module, channels: int, size: int
) -> list[tuple[nn.Module, tuple[int, ...]]]:
    """(module, per-sample output shape) of every leaf and merge, in execution order."""
    seen: list[tuple[nn.Module, tuple[int, ...]]] = []

    def hook(module: nn.Module, _inputs: Any, output: Any) -> None:
        seen.append((module, tuple(output.shape[1:])))

    handles = [
        module.register_forward_hook(hook)
        for module in model.modules()
        if isinstance(module, Residual | Concat)
        # Leaves, except the identities that stand for an identity shortcut or an empty branch.
        or not (list(module.children()) or isinstance(module, nn.Identity | nn.Sequential))
    ]
    with torch.no_grad():
        model.eval()(torch.zeros(1, channels, size, size))
    for handle in handles:
        handle.remove()
    return seen


def own_counts(module: nn.Module) -> tuple[int, int]:
    """A leaf's params and buffers (without BN's num_batches_tracked); merges own none."""
    if isinstance(module, Residual | Concat):
        return 0, 0
    params = sum(p.numel() for p in module.parameters(recurse=False))
    buffers = sum(
        b.numel()
        for name, b in module.named_buffers(recurse=False)
        if name != "num_batches_tracked"
    )
    return params, buffers


def module_macs(model: nn.Module, channels: int, size: int) -> dict[str, int]:
    """MACs per module name (FlopCounterMode counts 2 flops per multiply-accumulate)."""
    counter = FlopCounterMode(display=False)
    with counter, torch.no_grad():
        model(torch.zeros(1, channels, size, size))
    return {name: sum(ops.values()) // 2 for name, ops in counter.get_flop_counts().items()}


def probe_span(
    body: list[Op], channels: int, size: int
) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int]]:
    """The input rows and columns (first, last) the central output position depends on (over all
    its channels), and that position."""
    probe, _ = build(body, channels, probe=True)
    with torch.no_grad():
        for module in probe.modules():
            if isinstance(module, nn.Conv2d):
                module.weight.fill_(1.0 / module.weight[0].numel())
                if module.bias is not None:
                    module.bias.zero_()
    image = torch.ones(1, channels, size, size, dtype=torch.float64, requires_grad=True)
    out = probe.double()(image)
    row, col = out.shape[2] // 2, out.shape[3] // 2
    # Every channel of the unit: after a concat the channels come from branches whose fields
    # differ, and the row's field is their union.
    out[0, :, row, col].sum().backward()
    assert image.grad is not None
    hit = (image.grad[0] != 0).any(dim=0)
    rows = hit.any(dim=1).nonzero().flatten()
    cols = hit.any(dim=0).nonzero().flatten()
    return (int(rows[0]), int(rows[-1])), (int(cols[0]), int(cols[-1])), (row, col)


def expected_span(report: Report) -> tuple[tuple[float, float], ...] | None:
    """The last row's field around its central output unit, or ``None`` if it leaves the input.

    The field's two ends are always real kernel taps (taps of taps of the outermost windows);
    gaps from strides larger than kernels or from dilation are only ever inside it. So the span
    of the non-zero gradient equals the field exactly when the field lies inside the input, and
    only then: an end in the padding is no pixel at all.
    """
    last = report.rows[-1]
    field = last.rf
    assert field is not None and not field.is_global
    spans = []
    for axis in (0, 1):
        centre = field.start[axis] + (last.output[axis + 1] // 2) * field.jump[axis]
        half = (field.size[axis] - 1) / 2
        low, high = centre - half, centre + half
        if low < 0 or high > report.input[axis + 1] - 1:
            return None
        spans.append((low, high))
    return tuple(spans)


def field_inside_input(body: list[Op], channels: int, size: int) -> tuple[int, Report]:
    """The smallest input size from ``size`` up (doubling) whose central field fits inside."""
    for _ in range(6):
        report = analyze(parse_spec(spec_text(body, channels, size), "body.yaml"))
        if expected_span(report) is not None:
            return size, report
        size *= 2
    raise AssertionError("no input size keeps the field inside")


CASES = [(seed, False) for seed in range(8)] + [(seed, True) for seed in range(100, 116)]


@pytest.mark.parametrize(("seed", "branched"), CASES, ids=lambda v: str(v))
def test_random_network_matches_torch(seed: int, branched: bool) -> None:
    torch.manual_seed(seed)
    body, head, channels, size = random_network(seed, branched)
    text = spec_text(body + head, channels, size)
    report = analyze(parse_spec(text, f"seed{seed}.yaml"))
    model, _ = build(body + head, channels)
    seen = torch_rows(model, channels, size)
    assert len(seen) == len(report.rows), text
    # FlopCounterMode names modules by the root's class name, then their dotted path.
    names = {module: f"Sequential.{name}" for name, module in model.named_modules()}
    macs = module_macs(model, channels, size)
    for row, (module, shape) in zip(report.rows, seen, strict=True):
        assert row.output == shape, (row.path, text)
        assert (row.params, row.buffers) == own_counts(module), (row.path, text)
        if not isinstance(module, Residual | Concat):
            assert row.macs == macs.get(names[module], 0), (row.path, text)
    assert report.totals.macs == macs["Global"]
    total_params = sum(p.numel() for p in model.parameters())
    assert report.totals.params == total_params

    # Receptive field of the last spatial layer, measured on the body alone, on an input large
    # enough that the central unit's field lies inside it.
    probe_size, body_report = field_inside_input(body, channels, size)
    rows, cols, unit = probe_span(body, channels, probe_size)
    assert unit == tuple(size // 2 for size in body_report.rows[-1].output[1:])
    assert (rows, cols) == expected_span(body_report), text
