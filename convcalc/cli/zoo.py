"""``convcalc zoo``: the built-in architectures."""

import re
import shutil
import sys
from pathlib import Path
from typing import Annotated

import typer

from convcalc.cli.common import (
    FormatOption,
    JsonOption,
    OutputOption,
    TracebackOption,
    app,
    chosen_format,
    reported,
)
from convcalc.cli.output import write_output, write_stdout
from convcalc.render import OutputFormat

COUNT = re.compile(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgt]?)\s*", re.IGNORECASE)


def parse_count(text: str) -> int:
    """``10M`` → 10000000: a number with an optional decimal K, M, G or T."""
    match = COUNT.fullmatch(text)
    if match is None:
        raise typer.BadParameter(f"expected a count like 10M, 500K or 25000000, got {text!r}")
    value, prefix = match.groups()
    return int(float(value) * 1000 ** " kmgt".index(prefix.lower() or " "))


def terminal_width(output: Path | None) -> int | None:
    """The width of the terminal the listing is printed on; None when it goes to a file or a
    pipe, which get every note on one line."""
    if output is not None or sys.stdout is None or not sys.stdout.isatty():
        return None
    return shutil.get_terminal_size().columns


@app.command()
def zoo(
    name: Annotated[
        str | None, typer.Argument(metavar="NAME", help="A model to print as YAML.")
    ] = None,
    family: Annotated[
        str | None, typer.Option(help="List only this family (e.g. efficientnet, resnet).")
    ] = None,
    max_params: Annotated[
        int | None,
        typer.Option(
            parser=parse_count, metavar="COUNT", help="List only models with at most COUNT params."
        ),
    ] = None,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
    traceback: TracebackOption = False,
) -> None:
    """List the built-in architectures grouped by family (params and MACs at batch 1), or print
    one's spec as YAML (JSON with --json) to start from."""
    from convcalc import zoo as models
    from convcalc.errors import SpecError

    fmt = chosen_format(fmt, as_json)
    with reported(traceback):
        if name is None:
            from convcalc.render.plain import zoo_listing

            try:
                entries = models.entries(family)
            except SpecError as error:
                raise typer.BadParameter(str(error), param_hint="--family") from None
            if max_params is not None:
                entries = [entry for entry in entries if entry.params <= max_params]
            text = zoo_listing(entries, fmt.value, terminal_width(output))
        elif fmt is OutputFormat.JSON:
            import json

            import yaml

            spec = yaml.safe_load(models.zoo_text(name))
            text = json.dumps(spec, indent=2, ensure_ascii=False) + "\n"
        else:
            text = models.zoo_text(name)
        if output is None:
            write_stdout([text])
        else:
            write_output(output, [text])
