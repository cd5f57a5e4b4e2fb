"""CSV files a spreadsheet can open without running anything in them.

A text cell starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage
return is read by Excel, LibreOffice and Google Sheets as a formula (an
account named ``=HYPERLINK(...)`` becomes a link that sends data away).
Following OWASP's advice, such a cell is written with a leading apostrophe,
which spreadsheets show as text. Numbers are left alone, negative amounts
included: only strings are data someone else typed.
"""

import csv
from collections.abc import Iterable, Sequence
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_rows(out: Any, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    writer = csv.writer(out)
    writer.writerow([neutralise(cell) for cell in header])
    writer.writerows([neutralise(cell) for cell in row] for row in rows)
