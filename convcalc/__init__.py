"""convcalc: closed-form arithmetic of convolutional networks from a spec, without a framework."""

__version__ = "0.1.0"
