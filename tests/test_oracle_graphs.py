"""Graphs against PyTorch: the examples and seeded random DAGs (skips across scales, several
outputs, squeeze-and-excitation gates, upsample + concat decoders), each built in torch from
the same rows and compared row by row: output shape, params, and MACs by FlopCounterMode."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from convcalc.analysis import analyze
from convcalc.loader import parse_spec
from convcalc.report import Report
from convcalc.sources import load

torch = pytest.importorskip(
    "torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)
flop_counter = pytest.importorskip("torch.utils.flop_counter")

from tests.torch_build import Graph  # noqa: E402

pytestmark = pytest.mark.oracle

EXAMPLES = Path(__file__).parent.parent / "examples"


def agree_with_torch(report: Report) -> list[str]:
    """The rows whose shape, params or MACs differ from torch's, in words."""
    graph = Graph(report).eval()
    x = torch.zeros(report.batch, *report.input)
    with torch.no_grad():
        outputs = graph.run(x)
    problems = []
    for index, (row, module, output) in enumerate(
        zip(report.rows, graph.layers, outputs, strict=True)
    ):
        params = sum(p.numel() for p in module.parameters())
        with flop_counter.FlopCounterMode(display=False) as counter, torch.no_grad():
            if row.layer is not None:
                module(graph.inputs_of(index, x, outputs)[0])
        macs = counter.get_total_flops() // 2
        ours = (row.output, row.params, row.macs)
        theirs = (tuple(output.shape[1:]), params, macs)
        if ours != theirs:
            problems.append(f"{row.path}: convcalc {ours}, torch {theirs}")
    return problems


@pytest.mark.parametrize("name", ["unet", "fpn", "se-resnet", "shufflenet-unit"])
def test_examples_agree_with_torch_row_by_row(name: str) -> None:
    report = analyze(load(str(EXAMPLES / f"{name}.yaml")))
    assert agree_with_torch(report) == []


class Generator:
    """A seeded random DAG spec: convs (some strided) reading any earlier tensor, adds across
    scales through upsampling and lateral 1×1 convs, upsample + concat decoders,
    squeeze-and-excitation gates, and two outputs."""

    def __init__(self, seed: int, *, resample: bool = True) -> None:
        self.rng = random.Random(seed)
        self.resample = resample
        self.lines: list[str] = []
        self.tensors: dict[str, tuple[int, int]] = {}
        self.count = 0

    def emit(self, item: str, source: str | None, shape: tuple[int, int]) -> str:
        self.count += 1
        name = f"t{self.count}"
        extra = f", from: {source}" if source else ""
        self.lines.append(f"  - {{{item}, name: {name}{extra}}}")
        self.tensors[name] = shape
        return name

    def pick(self) -> str:
        return self.rng.choice(list(self.tensors))

    def spec(self) -> str:
        rng = self.rng
        size = rng.choice([16, 24, 32])
        self.lines = []
        self.tensors = {"input": (3, size)}
        for _ in range(rng.randint(6, 14)):
            source = self.pick()
            channels, spatial = self.tensors[source]
            choice = rng.random()
            if choice < 0.35 or spatial < 4:
                kernel, stride = rng.choice([1, 3]), rng.choice([1, 1, 2])
                filters = rng.choice([4, 8, 12])
                self.emit(
                    f"conv: {{filters: {filters}, kernel: {kernel}, stride: {stride}, "
                    f"pad: {kernel // 2}}}",
                    source,
                    (filters, (spatial - 1) // stride + 1),
                )
            elif choice < 0.55 and not self.resample:
                # A skip across scales down: a strided 1×1 conv from the larger map, added.
                others = [
                    n
                    for n, (_, s) in self.tensors.items()
                    if s == spatial * 2 - 1 or s == spatial * 2
                ]
                if others:
                    other = rng.choice(others)
                    lateral = self.emit(
                        f"conv: {{filters: {channels}, kernel: 1, stride: 2}}",
                        other,
                        (channels, spatial),
                    )
                    self.emit(f"add: {{from: [{source}, {lateral}]}}", None, (channels, spatial))
            elif choice < 0.55:
                others = [n for n, (_, s) in self.tensors.items() if s == spatial * 2]
                up = self.emit(
                    "upsample: {scale: 2, mode: bilinear}", source, (channels, spatial * 2)
                )
                if others:
                    other = rng.choice(others)
                    if rng.random() < 0.5:
                        merged = channels + self.tensors[other][0]
                        self.emit(f"concat: {{from: [{up}, {other}]}}", None, (merged, spatial * 2))
                    else:
                        lateral = self.emit(
                            f"conv: {{filters: {channels}, kernel: 1}}",
                            other,
                            (channels, spatial * 2),
                        )
                        self.emit(
                            f"add: {{from: [{up}, {lateral}]}}", None, (channels, spatial * 2)
                        )
            elif choice < 0.75:
                squeeze = max(1, channels // 4)
                self.emit(
                    f"gate: {{body: [gap, {{conv: {{filters: {squeeze}, kernel: 1}}}}, relu, "
                    f"{{conv: {{filters: {channels}, kernel: 1}}}}, hardsigmoid]}}",
                    source,
                    (channels, spatial),
                )
            else:
                kind = rng.choice(["relu", "bn", "mish", "pixelshuffle"])
                if kind == "pixelshuffle" and channels % 4 == 0 and self.resample:
                    self.emit("pixelshuffle: {factor: 2}", source, (channels // 4, spatial * 2))
                elif kind != "pixelshuffle":
                    self.emit(f"{kind}: null", source, (channels, spatial))
        names = [n for n in self.tensors if n != "input"]
        outputs = names[-2:] if len(names) > 1 else names
        return (
            f"input: 3x{size}x{size}\nbatch: 2\nlayers:\n" + "\n".join(self.lines) + "\n"
            f"outputs: [{', '.join(outputs)}]\n"
        )


@pytest.mark.parametrize("seed", range(40))
def test_random_dags_agree_with_torch_row_by_row(seed: int) -> None:
    text = Generator(seed).spec()
    report = analyze(parse_spec(text, f"dag{seed}.yaml"))
    assert agree_with_torch(report) == [], text
    assert len(report.outputs) == 2


def probed_field(report: Report, output_row: int, unit: tuple[int, int]) -> list[tuple[int, int]]:
    """The first and last input row and column whose gradient is non-zero for one output unit
    (all its channels), with every weight a small positive constant so that no path cancels."""
    graph = Graph(report).double().eval()
    x = torch.rand(1, *report.input, dtype=torch.float64) + 0.5
    with torch.no_grad():
        for parameter in graph.parameters():
            parameter.fill_(0.01)
    x.requires_grad_(True)
    outputs = graph.run(x)
    outputs[output_row][0, :, unit[0], unit[1]].sum().backward()
    grad = x.grad[0].abs().sum(dim=0)
    spans = []
    for axis in (1, 0):
        cells = torch.nonzero(grad.sum(dim=axis)).flatten().tolist()
        spans.append((cells[0], cells[-1]))
    return spans


@pytest.mark.parametrize("seed", range(40))
def test_random_dag_fields_agree_with_the_gradient_probe(seed: int) -> None:
    """Each output's field, for a central unit, is the span of the input cells its gradient
    reaches (clipped to the input: the rest is padding). Graphs that resample (upsample, pixel
    shuffle) have fractional jumps, whose fields are averages (left to the per-kind probes), so
    these graphs skip across scales downwards, through strided 1×1 convs."""
    report = analyze(parse_spec(Generator(seed, resample=False).spec(), f"dag{seed}.yaml"))
    for output in report.outputs:
        field = output.rf
        assert field is not None
        unit = ((output.shape[1] - 1) // 2, (output.shape[2] - 1) // 2)
        probed = probed_field(report, output.row, unit)
        for axis in (0, 1):
            size = report.input[1 + axis]
            if field.is_global:
                # Global is the whole input by convention; a strided path may never read the
                # last cells (fewer than one jump), which the probe shows.
                assert probed[axis][0] == 0 and probed[axis][1] > size - 1 - field.jump[axis]
                continue
            else:
                centre = field.start[axis] + unit[axis] * field.jump[axis]
                low = centre - (field.size[axis] - 1) / 2
                high = centre + (field.size[axis] - 1) / 2
                expected = (max(0, int(low)), min(size - 1, int(high)))
            assert probed[axis] == expected, (output.name, axis)
