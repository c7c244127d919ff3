"""The result of counting a report by a convention: the tool's totals, carried as a report
extra (the JSON's ``"convention"`` and ``"convention_totals"``)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from convcalc.conventions.rules import Convention
from convcalc.report import Report


@dataclass(eq=False)
class ConventionTotals:
    """A convention's totals, with the tool's memory figures when it has them (bytes)."""

    convention: Convention
    params: int
    trainable_params: int
    ops: int
    input_bytes: int = 0
    pass_bytes: int = 0
    param_bytes: int = 0

    @property
    def total_bytes(self) -> int:
        """torchinfo's "Estimated Total Size": input + forward/backward pass + params."""
        return self.input_bytes + self.pass_bytes + self.param_bytes

    def figures(self) -> dict[str, int]:
        """The tool's figures: params (all, trainable, non-trainable), its operation count under
        its own name (``flops``, ``Mult-Adds``, ``MACs``; none for Keras) and torchinfo's memory
        estimate in bytes."""
        convention = self.convention
        figures = {
            "params": self.params,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.params - self.trainable_params,
        }
        if convention.ops_label is not None:
            figures[convention.ops_label] = self.ops
        if convention.memory:
            figures |= {
                "input_bytes": self.input_bytes,
                "forward_backward_pass_bytes": self.pass_bytes,
                "params_bytes": self.param_bytes,
                "estimated_total_bytes": self.total_bytes,
            }
        return figures

    def to_document(self) -> dict[str, Any]:
        """The tool's figures under its own names (bytes, as everywhere in convcalc's JSON)."""
        convention = self.convention
        document: dict[str, Any] = {"tool": convention.tool, "version": convention.version}
        for key, value in self.figures().items():
            if key == convention.ops_label:
                document |= {"ops_label": key, "ops": value}
            else:
                document[key] = value
        return document


@dataclass(eq=False)
class ConventionView:
    """The extra of a report counted by a convention: ``"convention"`` and the tool's totals."""

    totals: ConventionTotals

    def annotate_layer(self, index: int, layer: dict[str, Any]) -> None:
        """Rows carry the convention's params and MACs already: nothing to add."""

    def annotate(self, document: dict[str, Any]) -> None:
        """``"convention": name`` and ``"convention_totals"``, the tool's own figures."""
        document["convention"] = self.totals.convention.name
        document["convention_totals"] = self.totals.to_document()


def convention_figures(report: Report) -> dict[str, float]:
    """The figures of the convention ``report`` was counted by (see
    :meth:`ConventionTotals.figures`)."""
    view = report.extra(ConventionView)
    if view is None:
        raise ValueError(f"{report.name} is not counted by a convention")
    return dict(view.totals.figures())
