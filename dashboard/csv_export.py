"""CSV files a spreadsheet can open without running anything in them.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab, a carriage
return or a line feed (after any leading spaces) is read by Excel,
LibreOffice and Google Sheets as a formula (an
account named ``=HYPERLINK(...)`` becomes a link that sends data away).
Following OWASP's advice, such a cell is written with a leading apostrophe,
which spreadsheets show as text. Numbers are left alone, negative amounts
included: only strings are data someone else typed.
"""

import csv
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
# Spreadsheets skip leading spaces (and a byte-order mark) before deciding,
# and some read the full-width signs as the ASCII ones.
FULL_WIDTH = str.maketrans("＝＋－＠", "=+-@")


def neutralise(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    first = value.lstrip(" \u3000\ufeff").translate(FULL_WIDTH)
    if value.startswith(FORMULA_STARTS) or first.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_rows(out: Any, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    writer = csv.writer(out)
    writer.writerow([neutralise(cell) for cell in header])
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
