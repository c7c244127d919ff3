"""``convcalc import``: an ONNX model as a readable spec."""

from pathlib import Path
from typing import Annotated

import typer

from convcalc.cli.common import StrictOption, TracebackOption, app, note, reported
from convcalc.cli.output import write_output, write_stdout


@app.command("import")
def import_model(
    model: Annotated[str, typer.Argument(metavar="MODEL", help="An ONNX model file.")],
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="Write the spec to this file.")
    ] = None,
    input_shape: Annotated[
        str | None,
        typer.Option(
            "--input", metavar="CxHxW", help="The input size where the model's is symbolic."
        ),
    ] = None,
    flat: Annotated[
        bool,
        typer.Option("--flat", help="Every item with `from:`, no residual, concat or gate blocks."),
    ] = False,
    strict: StrictOption = False,
    traceback: TracebackOption = False,
) -> None:
    """Write an ONNX model as a spec (YAML): its layers, residual, concat and gate blocks where
    the graph has their shape, `from:` elsewhere."""
    from convcalc.cli.common import with_flag
    from convcalc.onnxin import onnx_spec
    from convcalc.tensors import parse_shape

    with reported(traceback):
        shape = None if input_shape is None else with_flag("--input", parse_shape, input_shape)
        imported = onnx_spec(model, shape, strict, flat)
        note(model, imported.notes)
        if output is None:
            write_stdout([imported.text])
        else:
            write_output(output, [imported.text])
