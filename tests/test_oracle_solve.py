"""``solve`` against PyTorch: every setting in the bounds run through torch's own 1-D ops, and a
U-Net-like network's and the U-Net example's accepted and refused sizes through torch models
with a gradient probe."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import convcalc
from convcalc.loader import parse_spec
from convcalc.report import NETWORK_INPUT, Report
from convcalc.solve import bounds, pads_allowed, solve_axis, solve_sizes

torch = pytest.importorskip(
    "torch", reason="PyTorch oracle not installed: pip install -e '.[oracle]'"
)

from tests.torch_build import module_of  # noqa: E402

pytestmark = pytest.mark.oracle
nn = torch.nn

F = torch.nn.functional


def torch_op(
    kind: str, row: Any, kernel: int, stride: int, pad: int, dilation: int, extra: int
) -> Any:
    """The layer's torch op, 1-D, on ``row`` (weights all ones)."""
    weight = torch.ones(1, 1, kernel, device=row.device)
    if kind == "conv":
        return F.conv1d(row, weight, stride=stride, padding=pad, dilation=dilation)
    if kind == "deconv":
        return F.conv_transpose1d(
            row, weight, stride=stride, padding=pad, output_padding=extra, dilation=dilation
        )
    if kind == "avgpool":
        return F.avg_pool1d(row, kernel, stride=stride, padding=pad)
    return F.max_pool1d(row, kernel, stride=stride, padding=pad, dilation=dilation)


def torch_size(kind: str, size: int, *setting: int) -> int | None:
    """Torch's output size for one setting (``None``: torch refuses it), from shapes alone."""
    try:
        out = torch_op(kind, torch.empty(1, 1, size, device="meta"), *setting)
    except RuntimeError:
        return None
    return int(out.shape[-1]) if out.shape[-1] >= 1 else None


def unread_tail(kind: str, size: int, *setting: int) -> int:
    """How many trailing input cells get no gradient through the op (a row of ones, weights of
    ones): the real cells after the last window."""
    row = torch.ones(1, 1, size, requires_grad=True)
    torch_op(kind, row, *setting).sum().backward()
    assert row.grad is not None
    read = (row.grad[0, 0] != 0).nonzero()
    return size - 1 - int(read.max()) if len(read) else size


@pytest.mark.parametrize(
    ("kind", "size_in", "size_out"),
    [
        ("conv", 32, 16),
        ("conv", 33, 16),
        ("conv", 224, 112),
        ("conv", 15, 3),
        ("avgpool", 31, 15),
        ("maxpool", 32, 16),
        ("deconv", 16, 32),
        ("deconv", 5, 11),
    ],
)
def test_solutions_match_torch(kind: str, size_in: int, size_out: int) -> None:
    limits = bounds(kind)
    found = {
        (s.kernel, s.stride, s.pad, s.dilation, s.output_padding): s.dropped
        for s in solve_axis(kind, size_in, size_out, limits)
    }
    expected: dict[tuple[int, int, int, int, int], int | None] = {}
    for kernel in limits.kernels:
        for dilation in limits.dilations:
            if kernel == 1 and dilation > 1:
                continue
            for stride in limits.strides:
                extras = range(max(stride, dilation)) if kind == "deconv" else (0,)
                for pad in pads_allowed(kind, kernel, dilation):
                    for extra in extras:
                        setting = (kernel, stride, pad, dilation, extra)
                        if torch_size(kind, size_in, *setting) == size_out:
                            # Max pooling's gradient picks one cell per window: no probe there.
                            probe = kind in ("conv", "avgpool")
                            # The window's extent, as a dense kernel of the same reach: cells
                            # in a dilated kernel's holes are not the stride's doing.
                            reach = (dilation * (kernel - 1) + 1, stride, pad, 1, extra)
                            expected[setting] = (
                                unread_tail(kind, size_in, *reach) if probe else None
                            )
    assert found.keys() == expected.keys()
    for found_setting, trailing in expected.items():
        if trailing is None:
            continue
        kernel, stride, _, dilation, _ = found_setting
        # Cells skipped between windows by a kernel shorter than its stride are by design.
        gap = max(0, stride - (dilation * (kernel - 1) + 1))
        assert found[found_setting] == (trailing if trailing > gap else 0), found_setting


PROBE_NET = """\
input: 1x572x572
blocks:
  twice:
    layers: [{conv: {filters: 1, kernel: 3}}, {conv: {filters: 1, kernel: 3}}]
layers:
  - use: twice
  - avgpool: {kernel: 2}
  - use: twice
  - avgpool: {kernel: 2}
  - use: twice
  - avgpool: {kernel: 2}
  - use: twice
  - avgpool: {kernel: 2}
  - use: twice
  - deconv: {filters: 1, kernel: 2, stride: 2}
  - use: twice
  - deconv: {filters: 1, kernel: 2, stride: 2}
  - use: twice
  - deconv: {filters: 1, kernel: 2, stride: 2}
  - use: twice
  - deconv: {filters: 1, kernel: 2, stride: 2}
  - use: twice
"""


def torch_unet_like(size: int) -> tuple[int, bool] | None:
    """The probe network in torch: its output size and whether every input pixel reaches the
    output (constant positive weights: a zero gradient means an unread pixel)."""
    nn = torch.nn

    def twice() -> list[Any]:
        return [nn.Conv2d(1, 1, 3), nn.Conv2d(1, 1, 3)]

    layers: list[Any] = []
    for _ in range(4):
        layers += [*twice(), nn.AvgPool2d(2)]
    layers += twice()
    for _ in range(4):
        layers += [nn.ConvTranspose2d(1, 1, 2, stride=2), *twice()]
    model = nn.Sequential(*layers)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(1.0)
    image = torch.ones(1, 1, size, size, requires_grad=True)
    try:
        out = model(image)
    except RuntimeError:
        return None
    out.sum().backward()
    assert image.grad is not None
    return out.shape[-1], bool((image.grad != 0).all())


def test_accepted_sizes_match_torch() -> None:
    sizes = range(566, 574)
    results = solve_sizes(parse_spec(PROBE_NET), [(size, size) for size in sizes])
    for size, result in zip(sizes, results, strict=True):
        probe = torch_unet_like(size)
        if result.accepted:
            assert probe == (result.outputs[0][-1], True), size
        else:
            assert probe is None or not probe[1], size


UNET = Path(__file__).parent.parent / "examples" / "unet.yaml"
NARROW = {
    **{f"{use}.filters": 2 for use in ("enc1", "enc2", "enc3", "enc4", "bottom")},
    **{f"{use}.filters": 2 for use in ("dec4", "dec3", "dec2", "dec1")},
}
"""Two channels per stage: the sizes are the same, torch runs it in milliseconds."""


def torch_rows(report: Report, size: int) -> tuple[list[Any], str | None, Any]:
    """The example's rows built in torch from ``report`` and run on a ``size``² image of ones:
    each row's output until the first that torch refuses (its path), and the image's gradient
    (``None`` on a refusal). Max pools become average pools of the same windows (max pooling's
    gradient reaches one cell per window) and every weight is positive, so a zero gradient means
    an input pixel nothing reads."""
    modules = [
        nn.Identity() if row.layer is None else module_of(row.layer, row.input)
        for row in report.rows
    ]
    for index, module in enumerate(modules):
        if isinstance(module, nn.MaxPool2d):
            modules[index] = nn.AvgPool2d(module.kernel_size, module.stride)
        for parameter in module.parameters():
            parameter.data.fill_(0.1)
    image = torch.ones(1, *report.input[:1], size, size, requires_grad=True)
    outputs: list[Any] = []
    for row, module in zip(report.rows, modules, strict=True):
        inputs = [image if source == NETWORK_INPUT else outputs[source] for source in row.sources]
        try:
            outputs.append(torch.cat(inputs, 1) if row.type == "concat" else module(*inputs))
        except RuntimeError:
            return outputs, row.path, None
    outputs[-1].sum().backward()
    return outputs, None, image.grad


def test_the_unet_examples_sizes_match_torch() -> None:
    network = convcalc.load(UNET, settings=NARROW)
    report = convcalc.analyze(network)
    sizes = [556, 568, 571, 572, 588]
    for size, result in zip(sizes, solve_sizes(network, [(s, s) for s in sizes]), strict=True):
        outputs, refused_at, gradient = torch_rows(report, size)
        if result.accepted:
            assert refused_at is None, size
            assert (tuple(outputs[-1].shape[1:]),) == result.outputs, size
            assert bool((gradient != 0).all()), size
            continue
        failing = result.where.split('"')[1]
        # The first pool whose input height its windows do not tile leaves rows unread.
        untiled = [
            row.path
            for row in report.rows[: len(outputs)]
            if row.type == "maxpool" and outputs[row.sources[0]].shape[-1] % 2
        ]
        if untiled:
            assert untiled[0] == failing, size
            assert gradient is None or not bool((gradient != 0).all()), size
        else:  # torch refuses the concat of a skip and the decoder
            assert refused_at == failing, size
