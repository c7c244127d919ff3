"""Two reports compared row by row: what a change to a network costs.

Rows are matched by path first (the longest common subsequence of the two path lists, so an
inserted block shows as one insertion and the rows after it still match); rows left unmatched
between two matches are then matched by type, in order, and the rest are insertions and
deletions. Each matched pair lists the quantities that differ.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from difflib import SequenceMatcher
from typing import Any, NamedTuple

from convcalc.report import Report, Row

COMPARED = ("path", "input", "output", "params", "macs", "rf", "activation_bytes")
"""What a matched pair of rows is compared on (``rf``: the field's size)."""


class RowChange(NamedTuple):
    """One line of the diff: ``same``, ``changed``, ``inserted`` (only in B) or ``deleted``
    (only in A), with the rows and the names of the quantities that differ."""

    change: str
    a: Row | None
    b: Row | None
    fields: tuple[str, ...] = ()


class TotalChange(NamedTuple):
    """One total in A and B."""

    key: str
    a: float
    b: float

    @property
    def delta(self) -> float:
        """B − A."""
        return self.b - self.a

    @property
    def percent(self) -> float | None:
        """The change relative to A, in percent (``None`` when A is 0)."""
        return None if self.a == 0 else 100 * self.delta / self.a


class Diff(NamedTuple):
    """The row changes in order, and the totals."""

    rows: tuple[RowChange, ...]
    totals: tuple[TotalChange, ...]

    @property
    def differs(self) -> bool:
        """Whether anything differs."""
        return any(row.change != "same" for row in self.rows) or any(
            total.delta for total in self.totals
        )


def compared(row: Row, field: str) -> Any:
    """A row's value of one compared quantity."""
    if field == "rf":
        return None if row.rf is None else tuple(row.rf.size)
    return getattr(row, field)


def row_change(a: Row, b: Row) -> RowChange:
    """A matched pair."""
    fields = tuple(field for field in COMPARED if compared(a, field) != compared(b, field))
    return RowChange("changed" if fields else "same", a, b, fields)


def match_rows(a: Sequence[Row], b: Sequence[Row]) -> list[RowChange]:
    """The row changes from ``a`` to ``b``, in order: aligned by path, and what is left between
    two aligned runs by type."""
    return aligned(a, b, lambda row: row.path, match_by_type)


def match_by_type(a: Sequence[Row], b: Sequence[Row]) -> list[RowChange]:
    """Rows whose paths differ, aligned by type; the rest inserted or deleted."""
    return aligned(a, b, lambda row: row.type, inserted_or_deleted)


def inserted_or_deleted(a: Sequence[Row], b: Sequence[Row]) -> list[RowChange]:
    """Rows that match nothing: ``a``'s deleted, ``b``'s inserted."""
    return [
        *(RowChange("deleted", row, None) for row in a),
        *(RowChange("inserted", None, row) for row in b),
    ]


def aligned(
    a: Sequence[Row],
    b: Sequence[Row],
    key: Callable[[Row], str],
    rest: Callable[[Sequence[Row], Sequence[Row]], list[RowChange]],
) -> list[RowChange]:
    """The longest common subsequence of ``a`` and ``b`` by ``key`` (difflib), its rows paired;
    each stretch between two paired runs handed to ``rest``."""
    changes: list[RowChange] = []
    matcher = SequenceMatcher(None, list(map(key, a)), list(map(key, b)), autojunk=False)
    for tag, a_start, a_end, b_start, b_end in matcher.get_opcodes():
        if tag == "equal":
            pairs = zip(a[a_start:a_end], b[b_start:b_end], strict=True)
            changes.extend(row_change(first, second) for first, second in pairs)
        else:
            changes.extend(rest(a[a_start:a_end], b[b_start:b_end]))
    return changes


def totals_of(report: Report) -> dict[str, float]:
    """The totals compared: params, buffers, MACs, FLOPs, activation and weight bytes, the
    inference peak, and the final field's size."""
    from convcalc.memory import inference_memory

    totals = report.totals
    rf = totals.rf
    return {
        "params": totals.params,
        "buffers": totals.buffers,
        "macs": totals.macs,
        "flops": totals.flops,
        "activation_bytes": totals.activation_bytes,
        "peak_activation_bytes": inference_memory(report).peak_bytes,
        "param_bytes": totals.param_bytes,
        "rf_height": rf.size[0] if rf is not None else 0,
        "rf_width": rf.size[1] if rf is not None else 0,
    }


def diff_reports(
    a: Report, b: Report, totals: Callable[[Report], dict[str, float]] = totals_of
) -> Diff:
    """Everything that differs from ``a`` to ``b``, with the ``totals`` of each (convcalc's, or
    a convention's figures)."""
    before, after = totals(a), totals(b)
    return Diff(
        rows=tuple(match_rows(a.rows, b.rows)),
        totals=tuple(TotalChange(key, before[key], after[key]) for key in before),
    )
