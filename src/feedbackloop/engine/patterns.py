"""Counting recurring template patterns per deal with numpy (no Python loop over deals).

Input: each closed deal's templates in send order, as integer codes in one array cut into runs by deal.
Repeats of a template in a row are collapsed; then each deal contributes its full pattern once and
each distinct contiguous sub-pattern of length 2..``max_length`` once. Windows are rows of a small
integer matrix; equal rows get one id by hashing one int64 key per row (``pd.factorize``, linear time;
``np.unique`` on the rows themselves when the codes do not fit one key), so a million messages take a
fraction of a second. Ids are numbered in order of first appearance; callers sort the patterns.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["PatternCounts", "count_patterns"]

IntArray = np.ndarray[Any, np.dtype[np.int64]]


@dataclass(frozen=True, slots=True)
class PatternCounts:
    """Patterns seen on at least ``min_deals`` deals: kind, codes, deals with it, won deals with it."""

    kind: list[str]
    codes: list[tuple[int, ...]]
    deals: list[int]
    won: list[int]


def _row_ids(matrix: IntArray, base: int) -> tuple[IntArray, IntArray]:
    """(ids, first row of each id): equal rows share an id; ids number the distinct rows."""
    width = matrix.shape[1]
    if width * np.log2(max(base, 2)) < 62:
        keys = np.zeros(len(matrix), dtype=np.int64)
        for j in range(width):
            keys = keys * base + matrix[:, j]
        ids, _ = pd.factorize(keys)
        ids = ids.astype(np.int64)
        first = np.full(int(ids.max()) + 1 if len(ids) else 0, len(ids), dtype=np.int64)
        np.minimum.at(first, ids, np.arange(len(ids), dtype=np.int64))
        return ids, first
    _, first, ids = np.unique(matrix, axis=0, return_index=True, return_inverse=True)
    return ids.reshape(-1).astype(np.int64), first.astype(np.int64)


def _collect(
    out: PatternCounts,
    kind: str,
    rows: IntArray,
    deal_of_row: IntArray,
    won: np.ndarray[Any, np.dtype[np.bool_]],
    base: int,
    min_deals: int,
) -> None:
    """Count each distinct row once per deal and append those on ``min_deals`` deals or more."""
    if len(rows) == 0:
        return
    ids, first = _row_ids(rows, base)
    pair = pd.unique(deal_of_row * len(first) + ids)  # (deal, pattern) once per deal
    pair_ids, pair_deals = pair % len(first), pair // len(first)
    deals = np.bincount(pair_ids, minlength=len(first))
    wins = np.bincount(pair_ids, weights=won[pair_deals].astype(float), minlength=len(first))
    for i in np.flatnonzero(deals >= min_deals).tolist():
        out.kind.append(kind)
        out.codes.append(tuple(rows[first[i]].tolist()))
        out.deals.append(int(deals[i]))
        out.won.append(round(float(wins[i])))


def count_patterns(
    codes: IntArray,
    starts: IntArray,
    won: np.ndarray[Any, np.dtype[np.bool_]],
    max_length: int,
    min_deals: int,
) -> PatternCounts:
    """Full patterns and sub-patterns of length 2..``max_length`` of the deals whose template codes
    (>= 0) are ``codes[starts[k]:starts[k+1]]``, with ``won[k]`` the k-th deal's outcome."""
    out = PatternCounts([], [], [], [])
    n = len(codes)
    deal_of = np.repeat(np.arange(len(starts), dtype=np.int64), np.diff(np.r_[starts, n]))
    keep = np.r_[True, (codes[1:] != codes[:-1]) | (deal_of[1:] != deal_of[:-1])]
    codes, deal_of = codes[keep], deal_of[keep]
    starts = np.flatnonzero(np.r_[True, deal_of[1:] != deal_of[:-1]])
    lengths = np.diff(np.r_[starts, len(codes)])
    ends = starts + lengths
    base = int(codes.max()) + 2 if len(codes) else 2
    # full patterns: deals of one length at a time, as rows of a (deals x length) matrix
    for length in np.unique(lengths).tolist():
        which = np.flatnonzero(lengths == length)
        rows = codes[starts[which][:, None] + np.arange(length)]
        _collect(out, "full", rows, which, won, base, min_deals)
    for length in range(2, max_length + 1):
        begin = np.flatnonzero(np.arange(len(codes)) + length <= ends[deal_of])
        rows = codes[begin[:, None] + np.arange(length)]
        _collect(out, "subsequence", rows, deal_of[begin], won, base, min_deals)
    return out
