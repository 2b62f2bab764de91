"""Reading the files customers export from vendor web apps: call reports, lists of session ids.

Spreadsheet programs re-save such files in many ways: a UTF-8 byte order mark, CRLF line ends,
quoted fields holding commas or line breaks, a semicolon or tab instead of a comma, headers in
another case or spacing, UTF-16 from Excel's "Unicode text". They are all read the same way,
and every row keeps the line it starts on, so a problem can be pointed at in the file.
"""

from __future__ import annotations

import codecs
import csv
import io
import re
from dataclasses import dataclass

from .base import ImportInvalid

DELIMITERS = ",;\t"


@dataclass(frozen=True)
class Table:
    header: list[str]
    header_line: int
    rows: list[tuple[int, list[str]]]  # (line the row starts on, its fields)

    def column(self, *names: str) -> int | None:
        """The index of the first column whose header is one of `names` (case, spaces ignored)."""
        wanted = {header_key(name) for name in names}
        for index, title in enumerate(self.header):
            if header_key(title) in wanted:
                return index
        return None

    def columns_text(self) -> str:
        return ", ".join(repr(title) for title in self.header) or "none"


def header_key(name: str) -> str:
    return re.sub(r"[^a-z0-9]", "", name.lower())


def field_of(row: list[str], index: int | None) -> str:
    if index is None or index >= len(row):
        return ""
    return row[index].strip()


def decode(data: bytes) -> str:
    if data.startswith(b"PK\x03\x04"):
        raise ImportInvalid(
            "This is a spreadsheet workbook (.xlsx), not a CSV file: save it as CSV (UTF-8) and "
            "import that."
        )
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError as exc:
            raise ImportInvalid(f"The file is not valid UTF-16 text: {exc.reason}.") from exc
    if b"\x00" in data:
        raise ImportInvalid(
            "The file contains NUL bytes: it is UTF-16 without a byte order mark, or not text. "
            "Export it again as CSV (UTF-8)."
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise ImportInvalid(
            f"The file is not UTF-8 text (byte {data[exc.start]:#04x} on line {line}). "
            "Export it again as CSV (UTF-8)."
        ) from exc


def sniff_delimiter(first_line: str) -> str:
    counts = {delimiter: first_line.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=counts.get)
    return best if counts[best] else ","


def read_table(data: bytes) -> Table:
    """The file's first non-blank row as the header and the rest as rows; blank rows dropped."""
    text = decode(data)
    first_line = next((line for line in text.splitlines() if line.strip()), "")
    if not first_line:
        raise ImportInvalid("The file is empty.")
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=sniff_delimiter(first_line))
    records = []
    ended = 0  # the line the previous record ended on
    try:
        for fields in reader:
            start, ended = ended + 1, reader.line_num
            if any(value.strip() for value in fields):
                records.append((start, fields))
    except csv.Error as exc:
        raise ImportInvalid(f"Line {reader.line_num} cannot be read as CSV: {exc}.") from exc
    (header_line, header), *rows = records
    return Table([title.strip() for title in header], header_line, rows)
