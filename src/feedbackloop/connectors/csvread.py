"""Reading one CSV file into a frame of strings, with the physical line on which each record starts.

Error messages point at ``file:line``, and a quoted field may span several lines, so the row index is
not the line number. The fast path parses with pandas' C reader and finds record starts with a
vectorised scan of the raw bytes (a newline ends a record when an even number of quote characters
precedes it); it is checked against the parsed row count. Anything unusual (bare ``\\r`` line ends,
stray quotes, rows with too many fields) falls back to the :mod:`csv` module, which tracks lines itself.
"""

from __future__ import annotations

import csv
import io
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pandas as pd

from feedbackloop.errors import InputError

__all__ = ["RawTable", "read_table"]

_TAB, _NEWLINE, _CR, _SPACE, _QUOTE, _COMMA = 9, 10, 13, 32, 34, 44


@dataclass
class RawTable:
    """One CSV file as read: known columns as strings ("" when empty), and where each row starts.

    ``columns`` are the known columns present in the header (normalised: stripped, lower case);
    ``parse_errors`` are ``(row position, reason)`` pairs for rows that cannot be read as given;
    ``padded`` is False when no field can start or end with a space or tab (nothing to strip).
    """

    name: str
    frame: pd.DataFrame
    lines: npt.NDArray[np.int64]
    columns: list[str]
    extra_columns: list[str]
    parse_errors: list[tuple[int, str]] = field(default_factory=list)
    padded: bool = True

    def __len__(self) -> int:
        return len(self.frame)


def read_table(path: Path, known: Sequence[str], *, name: str | None = None) -> RawTable:
    """Read ``path`` keeping only the ``known`` columns; the header names the columns in any order."""
    display = name or str(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"{display}: cannot read: {exc.strerror or exc}") from None
    header = _header(data, display)
    if not header:
        raise InputError(f"{display}: the file is empty (a header line is needed)")
    seen: set[str] = set()
    for column in header:
        if column and column in seen:
            raise InputError(f"{display}:1: column {column!r} appears twice in the header")
        seen.add(column)
    wanted = [i for i, column in enumerate(header) if column in known]
    columns = [header[i] for i in wanted]
    extra = [c or f"(column {i + 1} without a name)" for i, c in enumerate(header) if c not in known]
    padded = _padded(data)
    fast = _read_fast(data, len(header), wanted, columns)
    if fast is not None:
        frame, lines = fast
        return RawTable(display, frame, lines, columns, extra, padded=padded)
    frame, lines, problems = _read_slow(data, display, len(header), wanted, columns)
    return RawTable(display, frame, lines, columns, extra, problems, padded)


def _padded(data: bytes) -> bool:
    """Whether some data field may start or end with a space or tab (False: nothing to strip).

    Judged from the bytes around each blank: outside quotes, a blank next to a comma or line end;
    inside quotes, a blank right after an opening or before a closing quote. Blanks inside quoted
    free text ("finance, banking") don't count. Byte scans run at C speed, unlike stripping a
    million strings that have nothing to strip; false alarms only cost that time.
    """
    body_start = data.find(b"\n") + 1  # the header is normalised on its own
    if not body_start:
        return False
    buf = np.frombuffer(data, dtype=np.uint8)
    blanks = np.flatnonzero((buf == _SPACE) | (buf == _TAB))
    blanks = blanks[blanks >= body_start]
    if not blanks.size:
        return False
    last = buf.size - 1
    prev, prev2 = buf[blanks - 1], buf[np.maximum(blanks - 2, 0)]  # blanks - 1 >= body_start - 1 >= 0
    at_end = blanks == last
    after = np.where(at_end, _NEWLINE, buf[np.minimum(blanks + 1, last)])
    after2 = np.where(blanks + 2 > last, _NEWLINE, buf[np.minimum(blanks + 2, last)])
    bound = np.zeros(256, dtype=bool)
    bound[[_COMMA, _NEWLINE, _CR]] = True
    quotes = np.flatnonzero(buf == _QUOTE)
    inside = (np.searchsorted(quotes, blanks) & 1) == 1
    outside_pad = ~inside & (bound[prev] | bound[after])
    opening = (prev == _QUOTE) & bound[prev2]
    closing = (after == _QUOTE) & (after2 != _QUOTE)
    return bool((outside_pad | (inside & (opening | closing))).any())


def _decode(data: bytes, display: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise InputError(f"{display}:{line}: the file is not UTF-8 text ({exc.reason})") from None


def _header(data: bytes, display: str) -> list[str]:
    """The first non-blank record, normalised (stripped, lower case)."""
    head = data[: 1 << 20]
    try:
        text = head.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the 1 MiB boundary
            _decode(data, display)
        text = head[: exc.start].decode("utf-8-sig")
    for row in csv.reader(io.StringIO(text, newline="")):
        if row:
            return [c.strip().lower() for c in row]
    return []


def _record_lines(data: bytes) -> npt.NDArray[np.int64] | None:
    """Physical start line of every non-blank record (header included), from a scan of the bytes.

    None when a quote character sits where RFC 4180 allows none (``ab"c``): the csv module and
    pandas read such text literally, and quote parity would no longer say where records end.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    newlines = np.flatnonzero(buf == _NEWLINE)
    quotes = np.flatnonzero(buf == _QUOTE)
    if quotes.size and not _quotes_well_placed(buf, quotes, data.startswith(b"\xef\xbb\xbf")):
        return None
    ends_record = (np.searchsorted(quotes, newlines) & 1) == 0
    ends = newlines[ends_record]
    starts = np.concatenate(([0], ends + 1))
    stops = np.concatenate((ends, [buf.size]))
    start_lines = np.concatenate(([1], np.flatnonzero(ends_record) + 2))
    length = stops - starts
    blank = length == 0
    one = np.flatnonzero(length == 1)
    blank[one] = buf[starts[one]] == _CR
    lines: npt.NDArray[np.int64] = start_lines[~blank].astype(np.int64)
    return lines


def _quotes_well_placed(buf: npt.NDArray[np.uint8], quotes: npt.NDArray[np.intp], bom: bool) -> bool:
    """Opening quotes follow a separator (or an escaping quote); closing ones precede one."""
    bounds = np.array([_COMMA, _NEWLINE, _CR, _QUOTE], dtype=np.uint8)
    opening, closing = quotes[0::2], quotes[1::2]
    start = 3 if bom else 0
    before = np.isin(buf[np.maximum(opening - 1, 0)], bounds) | (opening == start)
    inside = closing + 1 < buf.size
    after = np.ones(closing.size, dtype=bool)
    after[inside] = np.isin(buf[closing[inside] + 1], bounds)
    return bool(before.all() and after.all())


def _read_fast(
    data: bytes, width: int, wanted: list[int], columns: list[str]
) -> tuple[pd.DataFrame, npt.NDArray[np.int64]] | None:
    if b"\r" in data and data.count(b"\r") != data.count(b"\r\n"):
        return None  # bare CR line ends: leave them to the csv module
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", pd.errors.ParserWarning)  # "loss of data" on a too-long row
            frame = pd.read_csv(
                io.BytesIO(data),
                dtype=str,
                na_filter=False,
                encoding="utf-8-sig",
                skip_blank_lines=True,
                index_col=False,  # and no usecols: only then does pandas refuse rows with too many fields
                engine="c",
            )
    except (pd.errors.ParserError, pd.errors.ParserWarning, ValueError):
        return None
    lines = _record_lines(data)
    if lines is None or len(lines) != len(frame) + 1 or len(frame.columns) != width:
        return None
    frame = frame.iloc[:, wanted]
    frame.columns = pd.Index(columns)
    return frame.fillna(""), lines[1:]


def _read_slow(
    data: bytes, display: str, width: int, wanted: list[int], columns: list[str]
) -> tuple[pd.DataFrame, npt.NDArray[np.int64], list[tuple[int, str]]]:
    text = _decode(data, display)
    reader = csv.reader(io.StringIO(text, newline=""), strict=False)
    values: list[list[str]] = [[] for _ in wanted]
    lines: list[int] = []
    problems: list[tuple[int, str]] = []
    header_seen = False
    previous = 0
    try:
        for row in reader:
            start, previous = previous + 1, reader.line_num
            if not row or not header_seen:
                header_seen = header_seen or bool(row)
                continue
            if len(row) > width:
                problems.append((len(lines), f"has {len(row)} fields but the header has {width}"))
            if len(row) < width:
                row = row + [""] * (width - len(row))
            for target, index in zip(values, wanted, strict=True):
                target.append(row[index])
            lines.append(start)
    except csv.Error as exc:
        raise InputError(f"{display}:{previous + 1}: cannot parse CSV: {exc}") from None
    frame = pd.DataFrame(dict(zip(columns, values, strict=True)), dtype=str)
    return frame, np.asarray(lines, dtype=np.int64), problems
