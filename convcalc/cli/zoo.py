"""``convcalc zoo``: the built-in architectures."""

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


@app.command()
def zoo(
    name: Annotated[str | None, typer.Argument(help="A model to print as YAML.")] = None,
    fmt: FormatOption = None,
    as_json: JsonOption = False,
    output: OutputOption = None,
    traceback: TracebackOption = False,
) -> None:
    """List the built-in architectures, or print one's spec as YAML (JSON with --json) to
    start from."""
    from convcalc import zoo as models

    fmt = chosen_format(fmt, as_json)
    with reported(traceback):
        if name is None:
            from convcalc.render.plain import zoo_listing

            text = zoo_listing(models.entries(), fmt.value)
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
