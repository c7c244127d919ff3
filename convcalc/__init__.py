"""convcalc: closed-form arithmetic of convolutional networks from a spec, without a framework.

The Python API, documented in the README::

    import convcalc

    network = convcalc.load("zoo:resnet50")  # a path, "-" for stdin, or zoo:NAME
    report = convcalc.analyze(network, batch=8)  # or convcalc.analyze("net.yaml", …)
    report.rows, report.totals, report.to_json()

Importing the package imports nothing else: :mod:`convcalc.api` is loaded on first use.
"""

__version__ = "0.1.0"
__all__ = ["Report", "analyze", "load"]

# Not `typing.TYPE_CHECKING`: importing typing would be an import. Type checkers treat any
# `TYPE_CHECKING` as true.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from convcalc.api import analyze, load
    from convcalc.report import Report


def __getattr__(name: str) -> object:
    # PEP 562: the API is imported when it is first asked for, not with the package.
    if name in ("analyze", "load"):
        from convcalc import api

        return getattr(api, name)
    if name == "Report":
        from convcalc.report import Report

        return Report
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
