"""Report → text in one of the output formats. JSON, CSV and Markdown need only the standard
library; the rich table is imported only when asked for, to keep start-up fast."""

from __future__ import annotations

from enum import StrEnum


class OutputFormat(StrEnum):
    """The ``--format`` choices."""

    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"
    TREE = "tree"
