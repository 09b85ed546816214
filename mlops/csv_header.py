"""The header line of a CSV file, read as pandas reads it, without pandas.

``read_header(path)`` returns the column names as written (no renaming of a
repeated name, a blank name left blank), reading at most ``HEADER_CHARS``
characters of the file. It costs time linear in the header's length and
memory bounded by that limit, however wide the header, so that a header
too wide to use is refused before pandas spends seconds on each thousand
columns.

Read as pandas' default parser reads it: UTF-8 with or without a byte-order
mark, fields split on commas, double quotes around a field that holds a
comma, a quote or a line break, blank lines before the header skipped.
Raises ``UnicodeDecodeError`` and ``csv.Error`` for the caller to word, and
``HeaderTooLong`` when the header line does not end within the limit.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path

# 1 MiB of text: 2,000 columns of names 500 characters long.
HEADER_CHARS = 1 << 20


class HeaderTooLong(ValueError):
    """The header line is longer than ``HEADER_CHARS``; ``names`` are those
    read before the limit (the last one may be cut short)."""

    def __init__(self, names: list[str]) -> None:
        super().__init__(f"the header line is longer than {HEADER_CHARS:,} characters")
        self.names = names


def read_header(path: Path) -> list[str]:
    """The names in the first non-blank line of the CSV file at ``path``
    (an empty list for a file with no such line)."""
    with path.open(encoding="utf-8-sig", newline="") as handle:
        text = handle.read(HEADER_CHARS)
    lines = io.StringIO(text)
    for names in csv.reader(lines):
        if not names:  # a blank line
            continue
        cut = len(text) == HEADER_CHARS and lines.tell() == len(text)
        if cut and not text.endswith(("\n", "\r")):
            raise HeaderTooLong(names)
        return names
    return []
