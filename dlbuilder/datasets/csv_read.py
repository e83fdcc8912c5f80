"""Reading an uploaded CSV into a table of text cells, with messages that say what to fix."""

from __future__ import annotations

import csv
import io

import pandas as pd

from dlbuilder.datasets.base import DatasetError

MAX_BYTES = 5 * 1024 * 1024
MAX_ROWS = 100_000
MAX_COLUMNS = 200
MIN_ROWS = 10
DELIMITERS = {",": "comma", ";": "semicolon", "\t": "tab", "|": "vertical bar"}
SNIFF_LINES = 50
SNIFF_CHARS = 1_000_000  # the first lines are all the sniffer reads; no need to split the whole file


def decode_text(data: bytes) -> str:
    """The file as text: not empty, not too large, not binary, UTF-8."""
    if not isinstance(data, (bytes, bytearray)):
        raise DatasetError("the CSV must be given as bytes (the uploaded file's content)")
    if not data.strip():
        raise DatasetError("the file is empty: it needs a header line and at least "
                           f"{MIN_ROWS} rows of data")
    if len(data) > MAX_BYTES:
        raise DatasetError(f"the file is too large ({len(data) / 1e6:.1f} MB); "
                           f"at most {MAX_BYTES // (1024 * 1024)} MB are allowed")
    if b"\x00" in data[:8192]:
        raise DatasetError("this is not a text file (it contains binary data); "
                           "if it is an Excel sheet, save it as 'CSV UTF-8' first")
    try:
        return bytes(data).decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise DatasetError(f"the file is not UTF-8 text (bad byte at position {error.start}); "
                           "save it as 'CSV UTF-8'") from None


def sniff_delimiter(text: str) -> str:
    """The one of , ; tab | that splits the first lines into the most, equal fields."""
    try:
        return _sniff(text)
    except csv.Error as error:
        raise DatasetError(_csv_error_message(error)) from None


def _csv_error_message(error: csv.Error) -> str:
    if "field larger than field limit" in str(error):
        return (f"a cell near the top of the file is longer than {csv.field_size_limit():,} characters "
                "(perhaps an opening quote \" is never closed): shorten the cell or close the quote")
    return f"cannot read the file as CSV ({str(error)[:100]}): save it again as 'CSV UTF-8'"


def _sniff(text: str) -> str:
    lines = text[:SNIFF_CHARS].splitlines()
    if len(text) > SNIFF_CHARS:
        lines = lines[:-1]  # cut off mid-line: its field count would mislead
    lines = [line for line in lines if line.strip()][:SNIFF_LINES]
    best, best_fields = ",", 1
    for delimiter in DELIMITERS:
        counts = {len(row) for row in csv.reader(lines, delimiter=delimiter)}
        fields = counts.pop() if len(counts) == 1 else 0
        if fields > best_fields:
            best, best_fields = delimiter, fields
    if best_fields > 1:
        return best
    # no delimiter gives equal counts: take the one giving most fields on the header line
    header = lines[0] if lines else ""
    return max(DELIMITERS, key=lambda d: (len(next(csv.reader([header], delimiter=d))), d == ","))


def read_table(text: str, delimiter: str) -> pd.DataFrame:
    """All cells as stripped text (missing ones as ""); checks the row and column limits."""
    _check_header(text, delimiter)
    try:
        table = pd.read_csv(io.StringIO(text), sep=delimiter, dtype=str, keep_default_na=False,
                            index_col=False, skip_blank_lines=True)
    except (pd.errors.ParserError, ValueError) as error:
        raise DatasetError(f"cannot read the file as {DELIMITERS[delimiter]}-separated values: "
                           f"{str(error).strip()[:200]}. Every row needs the same number of columns"
                           ) from None
    except pd.errors.EmptyDataError:
        raise DatasetError("the file is empty: it needs a header line and data rows") from None
    table.columns = [str(name).strip() for name in table.columns]
    table = table.fillna("").apply(lambda column: column.str.strip())
    _check_size(table, delimiter)
    return table


def _check_header(text: str, delimiter: str) -> None:
    """Refuse too many columns from the header alone: parsing a wide file first takes seconds."""
    try:
        header = next(csv.reader(io.StringIO(text[:SNIFF_CHARS]), delimiter=delimiter), [])
    except csv.Error as error:
        raise DatasetError(_csv_error_message(error)) from None
    if len(header) > MAX_COLUMNS:
        raise DatasetError(f"the file has {len(header):,} columns; at most {MAX_COLUMNS} are allowed: "
                           "keep only the columns the network needs")


def _check_size(table: pd.DataFrame, delimiter: str) -> None:
    rows, columns = table.shape
    if columns == 1:
        raise DatasetError(_one_column_message(table.columns[0]))
    if columns > MAX_COLUMNS:
        raise DatasetError(f"the file has {columns:,} columns; at most {MAX_COLUMNS} are allowed: "
                           "keep only the columns the network needs")
    if rows > MAX_ROWS:
        raise DatasetError(f"the file has {rows:,} rows; at most {MAX_ROWS:,} are allowed")
    if rows < MIN_ROWS:
        raise DatasetError(f"the file has only {rows} data row(s); at least {MIN_ROWS} are needed")


def _one_column_message(header: str) -> str:
    allowed = "comma, semicolon, tab or |"
    message = (f"the file has only one column (header {header[:60]!r}); a dataset needs input "
               f"columns and a target column, separated by {allowed}")
    others = [name for mark, name in ((" ", "spaces"), (":", "colons"), ("/", "slashes"))
              if mark in header.strip()]
    if others:
        message += (f". The columns seem to be separated by {others[0]}, which is not supported:"
                    " save the file as CSV or replace them by commas")
    return message
