"""Counting conventions: each model-summary tool's own params, operation count and memory figure
for the same network, so that convcalc can show exactly where the tools part.

:mod:`convcalc.conventions.counting` counts a report as a tool would; each tool's rules are one
table in its own module (:mod:`~convcalc.conventions.torchinfo`, ``fvcore``, ``ptflops``,
``thop``, ``keras``); :mod:`~convcalc.conventions.view` holds the result a report carries.
The package itself imports nothing, so the table renderer can look for a result cheaply.
"""
