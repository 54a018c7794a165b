"""Reading CSV files: values and the physical line where each record starts, on both reading paths."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feedbackloop.connectors.csvread import RawTable, read_table
from feedbackloop.errors import InputError

KNOWN = ("a", "b", "c")


def _truth(data: bytes) -> tuple[list[list[str]], list[int]]:
    """Rows and start lines as the csv module sees them (the reference)."""
    reader = csv.reader(io.StringIO(data.decode("utf-8-sig"), newline=""))
    rows, lines, previous = [], [], 0
    for row in reader:
        start, previous = previous + 1, reader.line_num
        if row:
            rows.append(row)
            lines.append(start)
    return rows[1:], lines[1:]


def _read(tmp_path: Path, data: bytes) -> tuple[list[list[str]], list[int]]:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    table = read_table(path, KNOWN)
    return table.frame[list(KNOWN)].values.tolist(), table.lines.tolist()


def test_quoted_commas_and_newlines_keep_values_and_lines(tmp_path: Path) -> None:
    data = b'a,b,c\n1,"x, y",z\n2,"two\nlines\nhere",z\n\n3,"say ""hi""",z\n'
    rows, lines = _read(tmp_path, data)
    assert rows == [["1", "x, y", "z"], ["2", "two\nlines\nhere", "z"], ["3", 'say "hi"', "z"]]
    assert lines == [2, 3, 7]


@pytest.mark.parametrize(
    ("data", "lines"),
    [
        pytest.param(b'a,b,c\r\n1,"x\r\ny",z\r\n2,q,z\r\n', [2, 4], id="crlf"),
        pytest.param(b'a,b,c\r1,"x\ry",z\r2,q,z\r', [2, 4], id="bare-cr-falls-back-to-csv-module"),
        pytest.param(b"\xef\xbb\xbfa,b,c\n1,2,3", [2], id="bom-and-no-final-newline"),
        pytest.param(b'a,b,c\n1,ab"c,3\n\n4,"5\n",6\n', [2, 4], id="stray-quote-falls-back"),
    ],
)
def test_line_numbers_on_odd_files(tmp_path: Path, data: bytes, lines: list[int]) -> None:
    rows, got = _read(tmp_path, data)
    assert (rows, got) == _truth(data)
    assert got == lines


def test_too_many_fields_is_a_row_problem_and_short_rows_are_padded(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b"a,b,c\n1,2,3,4\n5,6\n")
    table = read_table(path, KNOWN)
    assert table.lines.tolist() == [2, 3]
    assert table.parse_errors == [(0, "has 4 fields but the header has 3")]
    assert table.frame.values.tolist() == [["1", "2", "3"], ["5", "6", ""]]


def test_header_is_normalised_and_extra_columns_listed(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(b" A ,Extra,c\n1,2,3\n")
    table = read_table(path, KNOWN)
    assert table.columns == ["a", "c"]
    assert table.extra_columns == ["extra"]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        pytest.param(b"", "empty", id="empty"),
        pytest.param(b"a,b,a\n1,2,3\n", "appears twice", id="duplicate-column"),
        pytest.param(b"a,b,c\n1,\xff\xfe,3\n", "f.csv:2: the file is not UTF-8", id="not-utf8"),
    ],
)
def test_unreadable_files_are_one_clear_error(tmp_path: Path, data: bytes, message: str) -> None:
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    with pytest.raises(InputError, match=message):
        read_table(path, KNOWN, name="f.csv")


_field = st.text(alphabet=st.sampled_from(list('ab ,"\n\r\té')), max_size=6)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    rows=st.lists(st.tuples(_field, _field, _field), max_size=8),
    blank_after=st.sets(st.integers(0, 8)),
    crlf=st.booleans(),
)
def test_fast_reader_agrees_with_the_csv_module(
    tmp_path: Path, rows: list[tuple[str, str, str]], blank_after: set[int], crlf: bool
) -> None:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n" if crlf else "\n", quoting=csv.QUOTE_MINIMAL)
    writer.writerow(KNOWN)
    for i, row in enumerate(rows):
        writer.writerow(row)
        if i in blank_after:
            out.write("\n")
    data = out.getvalue().encode()
    truth_rows, truth_lines = _truth(data)
    got_rows, got_lines = _read(tmp_path, data)
    # A record whose fields are all empty is written as '""' by csv.writer; both readers keep it.
    assert got_lines == truth_lines
    assert got_rows == [r + [""] * (3 - len(r)) for r in truth_rows]


_padded_field = st.text(alphabet=st.sampled_from(list('a ,"\n\t')), max_size=5)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(rows=st.lists(st.tuples(_padded_field, _padded_field, _padded_field), min_size=1, max_size=6))
def test_padding_detection_never_misses_a_padded_value(
    tmp_path: Path, rows: list[tuple[str, str, str]]
) -> None:
    """Stripping is skipped when the byte scan finds no padding; it must never be wrong about that."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(KNOWN)
    writer.writerows(rows)
    table = _read_path(tmp_path, out.getvalue().encode())
    values = table.frame.to_numpy().ravel().tolist()
    if any(v != v.strip(" \t") for v in values):
        assert table.padded


def test_padding_is_not_claimed_for_spaces_inside_quoted_text(tmp_path: Path) -> None:
    table = _read_path(tmp_path, b'a,b,c\n1,"finance, banking","no decision, ""later"""\n')
    assert not table.padded
    assert _read_path(tmp_path, b'a,b,c\n1," x",2\n').padded
    assert _read_path(tmp_path, b"a,b,c\n1,x ,2\n").padded
    assert _read_path(tmp_path, b"a,b,c\n1,2,3 ").padded  # at the very end of the file
    assert _read_path(tmp_path, b'a,b,c\n1,2,"x "').padded
    assert _read_path(tmp_path, b"a,b,c\n\t1,2,3\n").padded
    assert not _read_path(tmp_path, b"a , b,c\n1,2,3\n").padded  # the header is normalised apart


def _read_path(tmp_path: Path, data: bytes) -> RawTable:
    path = tmp_path / "p.csv"
    path.write_bytes(data)
    return read_table(path, KNOWN)
