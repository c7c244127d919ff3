"""``convcalc export --check``: build the exported module with PyTorch and compare its numbers.

convcalc never imports torch: :func:`check` runs this file as a script in a fresh interpreter,
which builds the network on the ``meta`` device (shapes without memory or compute), counts its
parameters and buffers (without BatchNorm's ``num_batches_tracked`` counter, which convcalc
does not count), runs a zero batch of the spec's input under ``FlopCounterMode`` (MACs =
FLOPs / 2) and prints what it measured as JSON: a network with several outputs returns a tuple,
whose shapes are compared one by one.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from convcalc.report import Report


def measure(path: str, class_name: str, shape: list[int]) -> dict[str, Any]:
    """Params, buffers, MACs and output shapes of the class ``class_name`` in the module file
    ``path`` on a batch of ``shape`` (batch first)."""
    import importlib.util

    import torch
    from torch.utils.flop_counter import FlopCounterMode

    spec = importlib.util.spec_from_file_location("exported_network", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    with torch.device("meta"):
        model = getattr(module, class_name)().eval()
    buffers = sum(
        buffer.numel()
        for name, buffer in model.named_buffers()
        if not name.endswith("num_batches_tracked")
    )
    with torch.no_grad(), FlopCounterMode(display=False) as counter:
        output = model(torch.zeros(shape, device="meta"))
    outputs = output if isinstance(output, tuple) else (output,)
    return {
        "params": sum(parameter.numel() for parameter in model.parameters()),
        "buffers": buffers,
        "macs": counter.get_total_flops() // 2,
        "outputs": [list(tensor.shape) for tensor in outputs],
    }


def differences(measured: dict[str, Any], report: Report) -> list[str]:
    """One line per number of ``report`` that PyTorch's ``measured`` module does not have."""
    totals = report.totals
    expected = {
        "params": totals.params,
        "buffers": totals.buffers,
        "MACs": totals.macs,
    }
    found = {"params": measured["params"], "buffers": measured["buffers"], "MACs": measured["macs"]}
    lines = [
        f"check: {what}: convcalc {value:,}, PyTorch {found[what]:,}"
        for what, value in expected.items()
        if found[what] != value
    ]
    shapes = [[report.batch, *output.shape] for output in report.outputs]
    if len(measured["outputs"]) != len(shapes):
        lines.append(f"check: outputs: convcalc {len(shapes)}, PyTorch {len(measured['outputs'])}")
    for output, ours, theirs in zip(report.outputs, shapes, measured["outputs"], strict=False):
        if ours != theirs:
            what = "output shape" if len(shapes) == 1 else f"output `{output.name}` shape"
            lines.append(f"check: {what}: convcalc {tuple(ours)}, PyTorch {tuple(theirs)}")
    return lines


def check(text: str, class_name: str, report: Report) -> list[str]:
    """Build the module ``text`` with PyTorch in a subprocess: the lines of
    :func:`differences`, empty when every number matches."""
    import importlib.util
    import subprocess
    import tempfile
    from pathlib import Path

    from convcalc.errors import ConvcalcError

    if importlib.util.find_spec("torch") is None:
        raise ConvcalcError("--check needs PyTorch, which is not installed (pip install torch)")
    shape = [str(size) for size in (report.batch, *report.input)]
    with tempfile.TemporaryDirectory(prefix="convcalc-check-") as directory:
        path = Path(directory) / "exported_network.py"
        path.write_text(text, encoding="utf-8")
        result = subprocess.run(
            [sys.executable, __file__, str(path), class_name, *shape],
            capture_output=True,
            text=True,
            check=False,
        )
    if result.returncode != 0:
        last = (result.stderr.strip().splitlines() or ["no message"])[-1]
        return [f"check: PyTorch could not run the module: {last}"]
    return differences(json.loads(result.stdout), report)


if __name__ == "__main__":
    print(json.dumps(measure(sys.argv[1], sys.argv[2], [int(size) for size in sys.argv[3:]])))
