"""``convcalc export``: a spec as code to train, checked against convcalc's numbers."""

import sys
from enum import StrEnum
from typing import Annotated

import typer

from convcalc.cli.common import (
    BatchOption,
    OutputOption,
    SetOption,
    TracebackOption,
    app,
    load_spec,
    reported,
    with_flag,
)
from convcalc.cli.output import same_file, write_output, write_stdout
from convcalc.errors import ExitCode, OutputError


class Target(StrEnum):
    """The ``--to`` choices."""

    PYTORCH = "pytorch"


@app.command()
def export(
    spec: Annotated[
        str, typer.Argument(metavar="SPEC", help="A spec file, - for stdin, or zoo:NAME.")
    ],
    to: Annotated[
        Target, typer.Option("--to", help="The framework to write.", case_sensitive=False)
    ] = Target.PYTORCH,
    output: OutputOption = None,
    check: Annotated[
        bool,
        typer.Option(
            "--check",
            help="Build the module with PyTorch and compare its params, buffers, MACs and "
            "output shape(s) with convcalc's (exit 1 on any difference).",
        ),
    ] = False,
    input_shape: Annotated[
        str | None,
        typer.Option("--input", metavar="CxHxW", help="Override the input shape, e.g. 3x224x224."),
    ] = None,
    batch: BatchOption = None,
    settings: SetOption = None,
    traceback: TracebackOption = False,
) -> None:
    """Write the network as a PyTorch module: a class per block, nn.Sequential for straight
    runs, named tensors in forward for graphs (several outputs: a tuple, in the spec's order),
    the output shape of every stage in a comment; `python net.py` builds it and prints its
    output shape(s) and parameter count."""
    from convcalc.analysis import analyze
    from convcalc.render.pytorch import to_pytorch
    from convcalc.tensors import parse_shape

    with reported(traceback):
        shape = None if input_shape is None else with_flag("--input", parse_shape, input_shape)
        network = load_spec(spec, settings, shape, input=shape, batch=batch)
        if output is not None and same_file(output, spec):
            raise OutputError(f"--output {output} would overwrite the spec it reads")
        report = analyze(network)
        module = to_pytorch(network, report)
        if output is None:
            write_stdout([module.text])
        else:
            write_output(output, [module.text])
        if check:
            from convcalc.render.torch_probe import check as check_module

            problems = check_module(module.text, module.class_name, report)
            for problem in problems:
                sys.stderr.write(problem + "\n")
            if problems:
                raise typer.Exit(ExitCode.ERROR)
            shapes = "shapes" if len(report.outputs) > 1 else "shape"
            sys.stderr.write(f"check: PyTorch's params, buffers, MACs and output {shapes} match\n")
