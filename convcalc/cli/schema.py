"""``convcalc schema``: the JSON Schema of the spec format."""

from convcalc.cli.common import app, reported
from convcalc.cli.output import write_stdout


@app.command()
def schema() -> None:
    """Print the JSON Schema of the spec format (for editors)."""
    import json

    from convcalc.schema import spec_schema

    with reported(traceback=False):
        write_stdout([json.dumps(spec_schema(), indent=2) + "\n"])
