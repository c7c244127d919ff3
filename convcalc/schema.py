"""The JSON Schema of the spec format, for editors (``convcalc schema``).

Each layer kind's options come from the same option model the loader validates with
(:mod:`convcalc.options`), so the schema cannot drift from what convcalc accepts.
"""

from __future__ import annotations

from typing import Any

from convcalc.layers import LAYER_KINDS, MERGE_KINDS
from convcalc.options import options_of
from convcalc.tensors import DTYPE_BYTES

LAYER_LIST = {"type": "array", "items": {"$ref": "#/$defs/layer"}}

PARAMETER = {"type": "string", "pattern": r"^\$"}

TENSOR_NAMES = {"type": "array", "items": {"type": "string"}, "minItems": 2}
"""A merge's ``from``: two or more tensor names."""
"""``$name``: inside a block, any option value may be one of the block's parameters."""


def kind_options(name: str) -> dict[str, Any]:
    """The options object of one layer kind."""
    schema = options_of(LAYER_KINDS[name]).json_schema()
    for option, value in schema["properties"].items():
        schema["properties"][option] = {"anyOf": [value, PARAMETER]}
    return schema


def merge_options() -> dict[str, dict[str, Any]]:
    """The options of each merge kind (``add: {from: [a, b]}``); the ``concat`` container's
    ``branches`` is an alternative."""
    return {
        name: {
            "type": "object",
            "properties": {"from": {"anyOf": [TENSOR_NAMES, PARAMETER]}},
            "required": ["from"],
            "additionalProperties": False,
        }
        for name in MERGE_KINDS
    }


def container_options() -> dict[str, dict[str, Any]]:
    """The options of residual, concat, repeat, gate and use."""
    return {
        "gate": {
            "type": "object",
            "properties": {"body": {"anyOf": [LAYER_LIST, PARAMETER]}},
            "required": ["body"],
            "additionalProperties": False,
        },
        "residual": {
            "type": "object",
            "properties": {
                "body": {"anyOf": [LAYER_LIST, PARAMETER]},
                "shortcut": {
                    "anyOf": [LAYER_LIST, {"const": "project"}, {"type": "null"}, PARAMETER]
                },
            },
            "required": ["body"],
            "additionalProperties": False,
        },
        "concat": {
            "type": "object",
            "properties": {
                "branches": {
                    "anyOf": [
                        {"type": "array", "items": {"anyOf": [LAYER_LIST, PARAMETER]}},
                        PARAMETER,
                    ]
                }
            },
            "required": ["branches"],
            "additionalProperties": False,
        },
        "repeat": {
            "type": "object",
            "properties": {
                "times": {"anyOf": [{"type": "integer", "minimum": 1}, PARAMETER]},
                "layers": {"anyOf": [LAYER_LIST, PARAMETER]},
            },
            "required": ["times", "layers"],
            "additionalProperties": False,
        },
    }


def spec_schema() -> dict[str, Any]:
    """The whole spec's JSON Schema (draft 2020-12)."""
    kinds = {name: kind_options(name) for name in LAYER_KINDS}
    kinds.update(merge_options())
    containers = container_options()
    kinds["concat"] = {"anyOf": [kinds["concat"], containers.pop("concat")]}
    kinds.update(containers)
    one_key = [
        {
            "type": "object",
            "properties": {
                name: {"anyOf": [options, {"type": "null"}]},
                "name": {"type": "string"},
                "from": {"anyOf": [{"type": "string"}, TENSOR_NAMES]},
            },
            "required": [name],
            "additionalProperties": False,
        }
        for name, options in kinds.items()
    ]
    canonical = {
        "type": "object",
        "properties": {
            "type": {"enum": sorted(kinds)},
            "name": {"type": "string"},
            "from": {"anyOf": [{"type": "string"}, TENSOR_NAMES]},
        },
        "required": ["type"],
    }
    use = {
        "type": "object",
        "properties": {
            "use": {"type": "string"},
            "with": {"type": "object"},
            "name": {"type": "string"},
            "from": {"type": "string"},
        },
        "required": ["use"],
        "additionalProperties": False,
    }
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "convcalc network spec",
        "type": "object",
        "properties": {
            "name": {"type": "string"},
            "input": {
                "description": "One sample's shape: CxHxW or D",
                "anyOf": [
                    {"type": "string", "pattern": r"^\s*\d+(\s*[xX×*]\s*\d+\s*){0,2}$"},
                    {"type": "integer", "minimum": 1},
                    {"type": "array", "items": {"type": "integer", "minimum": 1}},
                ],
            },
            "batch": {"type": "integer", "minimum": 1, "default": 1},
            "dtype": {"enum": list(DTYPE_BYTES), "default": "float32"},
            "layers": LAYER_LIST,
            "outputs": {
                "description": "The names of the tensors the network returns",
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}}],
            },
            "blocks": {
                "type": "object",
                "additionalProperties": {
                    "type": "object",
                    "properties": {"params": {"type": "object"}, "layers": LAYER_LIST},
                    "required": ["layers"],
                    "additionalProperties": False,
                },
            },
        },
        "required": ["input", "layers"],
        "additionalProperties": False,
        "$defs": {
            "layer": {"anyOf": [{"enum": sorted(kinds)}, canonical, use, *one_key]},
        },
    }
