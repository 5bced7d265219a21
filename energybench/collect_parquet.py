"""Parquet files made of other Parquet files' row groups, copied byte for byte (no decoding, no encoding).

``collect`` writes a resumed run's samples as one file and the epochs table as one file. Decoding and
encoding them again costs about 50 ms per resumed run and over a second for the epochs table at 10x
the study (``make bench``), while most of their rows are already encoded, unchanged, in a shard or in
the previous dataset. A Parquet file is its column chunks followed by a footer (Thrift's compact
protocol) that says where each row group's chunks lie; this module reads such footers, and writes a
file whose row groups are byte ranges of other files, with a footer whose offsets are moved to where
the bytes now are. Only files without page indexes, bloom filters, encryption or chunks in other
files are taken (what :mod:`energybench.shards` and :func:`energybench.merge.write_dataset_table`
write); anything else raises :class:`Unsupported` and the caller decodes instead.

The file written is checked by opening it (row and row-group counts): a Parquet reader reads it as
the rows of the sources in order, with the first source's schema and key-value metadata.
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

MAGIC = b"PAR1"

# Thrift compact protocol types.
_TRUE, _FALSE, _BYTE, _I16, _I32, _I64, _DOUBLE, _BINARY, _LIST, _SET, _MAP, _STRUCT = range(1, 13)
_FIXED = {_BYTE: 1, _DOUBLE: 8}

# Field ids of parquet.thrift: FileMetaData, RowGroup, ColumnChunk, ColumnMetaData.
_FMD_NUM_ROWS, _FMD_ROW_GROUPS = 3, 4
_FMD_UNSUPPORTED = (8, 9)  # encryption
_RG_COLUMNS, _RG_NUM_ROWS, _RG_FILE_OFFSET, _RG_ORDINAL = 1, 3, 5, 7
_CC_FILE_OFFSET, _CC_META = 2, 3
_CC_UNSUPPORTED = (1, 4, 5, 6, 7, 8, 9)  # a chunk in another file, page indexes, encryption
_MD_COMPRESSED, _MD_DATA_PAGE, _MD_DICT_PAGE = 7, 9, 11
_MD_UNSUPPORTED = (10, 14, 15)  # index page, bloom filter


class Unsupported(Exception):
    """A file this module does not copy row groups of (the caller decodes it instead)."""


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    out = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        out |= (b & 0x7F) << shift
        if b < 0x80:
            return out, pos
        shift += 7


def _int(buf: bytes, pos: int) -> tuple[int, int]:
    n, pos = _varint(buf, pos)
    return (n >> 1) ^ -(n & 1), pos


def _encode_int(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    out = bytearray()
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _field(buf: bytes, pos: int, last: int) -> tuple[int, int, int]:
    """A struct field's header at ``pos``: (field id, type, position after it); type 0 at the struct's end."""
    head = buf[pos]
    pos += 1
    if head == 0:
        return 0, 0, pos
    kind, delta = head & 0x0F, head >> 4
    if delta:
        return last + delta, kind, pos
    fid, pos = _int(buf, pos)
    return fid, kind, pos


_VARINTS = frozenset((_I16, _I32, _I64))


def _skip_struct(buf: bytes, pos: int) -> int:
    """The position after a struct at ``pos`` (its fields walked, not decoded: most of a footer is skipped)."""
    while True:
        head = buf[pos]
        pos += 1
        if not head:
            return pos
        if head < 16:  # no delta: the field id follows
            while buf[pos] > 127:
                pos += 1
            pos += 1
        kind = head & 15
        if kind in _VARINTS:
            while buf[pos] > 127:
                pos += 1
            pos += 1
        elif kind == _BINARY:
            n = buf[pos]
            if n > 127:
                n, pos = _varint(buf, pos)
            else:
                pos += 1
            pos += n
        elif kind == _STRUCT:
            pos = _skip_struct(buf, pos)
        elif kind > _FALSE:
            pos = _skip(buf, pos, kind)


def _skip(buf: bytes, pos: int, kind: int) -> int:
    """The position after a value of ``kind`` at ``pos``."""
    if kind in _VARINTS:
        while buf[pos] > 127:
            pos += 1
        return pos + 1
    if kind == _BINARY:
        n, pos = _varint(buf, pos)
        return pos + n
    if kind == _STRUCT:
        return _skip_struct(buf, pos)
    if kind in (_LIST, _SET):
        head = buf[pos]
        pos += 1
        size, elem = head >> 4, head & 0x0F
        if size == 15:
            size, pos = _varint(buf, pos)
        if elem in (_TRUE, _FALSE, _BYTE):
            return pos + size
        if elem == _DOUBLE:
            return pos + 8 * size
        if elem in _VARINTS:
            for _ in range(size):
                while buf[pos] > 127:
                    pos += 1
                pos += 1
            return pos
        if elem == _STRUCT:
            for _ in range(size):
                pos = _skip_struct(buf, pos)
            return pos
        for _ in range(size):
            pos = _skip(buf, pos, elem)
        return pos
    if kind in _FIXED:
        return pos + _FIXED[kind]
    if kind == _MAP:
        size, pos = _varint(buf, pos)
        if size:
            head = buf[pos]
            pos += 1
            for _ in range(size):
                pos = _skip(buf, _skip(buf, pos, head >> 4), head & 0x0F)
        return pos
    raise Unsupported(f"thrift type {kind}")


Patch = tuple[int, int, int]  # (start, end) of an encoded integer in a row group's bytes, and its value (-1: ordinal)
_ORDINAL = -1


@dataclass
class RowGroup:
    """One row group of a footer: its bytes there, where its column chunks lie in the file, and its offsets.

    ``patches``: where each file offset lies in ``raw`` (a zigzag varint) with its value, and the ordinal
    (value -1); moving the group rewrites those and copies the rest of its bytes as they are.
    """

    raw: bytes
    rows: int
    span: tuple[int, int]  # [start, end) of its column chunks in the file
    patches: list[Patch]

    def moved(self, shift: int, ordinal: int) -> RowGroup:
        """The row group with every file offset moved by ``shift``, as the ``ordinal``-th of its file."""
        out, patches, at, size = [], [], 0, 0
        for start, end, value in self.patches:
            new = value if value == _ORDINAL else value + shift
            encoded = _encode_int(ordinal if value == _ORDINAL else new)
            size += start - at
            out += [self.raw[at:start], encoded]
            patches.append((size, size + len(encoded), new))
            size += len(encoded)
            at = end
        out.append(self.raw[at:])
        return RowGroup(b"".join(out), self.rows, (self.span[0] + shift, self.span[1] + shift), patches)


@dataclass
class Footer:
    """A Parquet file's footer (``FileMetaData``): its row groups, and its other fields as encoded."""

    head: bytes  # the fields before ``num_rows`` (version, schema), header bytes included
    num_rows_header: bytes
    row_groups_header: bytes  # the field header of ``row_groups`` (not its list header)
    tail: bytes  # the fields after ``row_groups`` (key-value metadata, created_by, column orders) and the stop
    groups: list[RowGroup]

    @property
    def spans(self) -> list[tuple[int, int]]:
        return [g.span for g in self.groups]

    def rows(self, group: int) -> int:
        return self.groups[group].rows

    def _parts(self) -> list[bytes]:
        rows = sum(g.rows for g in self.groups)
        return [self.head, self.num_rows_header, _encode_int(rows), self.row_groups_header,
                _list_header(len(self.groups)), *(g.raw for g in self.groups), self.tail]

    def encode(self) -> bytes:
        return b"".join(self._parts())

    def index(self) -> dict[str, Any]:
        """Where each part lies in :meth:`encode`'s bytes: with those bytes, :meth:`from_index` gives the
        footer back without parsing it (JSON-able; a footer of 420 row groups parses in a good part of a second)."""
        parts = self._parts()
        ends = list(itertools.accumulate(len(x) for x in parts))
        n = len(self.groups)
        groups = [[ends[5 + i] - len(g.raw), ends[5 + i], g.rows, *g.span, [x for p in g.patches for x in p]]
                  for i, g in enumerate(self.groups)]
        return {"size": ends[-1], "head": [ends[0], ends[1]], "row_groups_header": [ends[2], ends[3]],
                "tail": ends[4 + n], "groups": groups}

    @staticmethod
    def from_index(raw: bytes, index: dict[str, Any]) -> Footer:
        """The footer :meth:`index` described, from its bytes; :class:`Unsupported` where they do not fit it."""
        try:
            if len(raw) != index["size"]:
                raise Unsupported("the footer is not the one indexed")
            head_end, nrh_end = index["head"]
            rgh_start, rgh_end = index["row_groups_header"]
            groups = [RowGroup(raw[start:end], rows, (lo, hi), [tuple(p[i:i + 3]) for i in range(0, len(p), 3)])
                      for start, end, rows, lo, hi, p in index["groups"]]
            return Footer(raw[:head_end], raw[head_end:nrh_end], raw[rgh_start:rgh_end], raw[index["tail"]:], groups)
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise Unsupported(f"a footer index of another form ({exc})") from None


def parse_footer(raw: bytes) -> Footer:
    """A ``FileMetaData`` as written by pyarrow: version, schema, num_rows, row_groups, then the rest."""
    try:
        return _parse_footer(raw)
    except (IndexError, ValueError) as exc:
        raise Unsupported(f"unreadable footer ({exc})") from None


def _parse_footer(buf: bytes) -> Footer:
    pos, last = 0, 0
    marks: dict[int, tuple[int, int, int]] = {}  # field id -> (header start, value start, value end)
    groups: list[RowGroup] = []
    while True:
        start = pos
        fid, kind, pos = _field(buf, pos, last)
        if not kind:
            break
        if fid in _FMD_UNSUPPORTED:
            raise Unsupported("an encrypted file")
        if fid == _FMD_ROW_GROUPS:
            if kind != _LIST:
                raise Unsupported("row_groups is not a list")
            value_start = pos
            head = buf[pos]
            pos += 1
            size = head >> 4
            if size == 15:
                size, pos = _varint(buf, pos)
            for _ in range(size):
                group, pos = _row_group(buf, pos)
                groups.append(group)
        else:
            value_start = pos
            pos = pos if kind in (_TRUE, _FALSE) else _skip(buf, pos, kind)
        marks[fid] = (start, value_start, pos)
        last = fid
    order = list(marks)
    if order[:4] != [1, 2, _FMD_NUM_ROWS, _FMD_ROW_GROUPS]:
        raise Unsupported(f"footer fields in an unexpected order {order}")
    n = marks[_FMD_NUM_ROWS]
    r = marks[_FMD_ROW_GROUPS]
    return Footer(head=buf[:n[0]], num_rows_header=buf[n[0]:n[1]], row_groups_header=buf[r[0]:r[1]],
                  tail=buf[r[2]:], groups=groups)


def _row_group(buf: bytes, pos: int) -> tuple[RowGroup, int]:
    begin, last = pos, 0
    patches: list[Patch] = []
    rows, lo, hi = 0, None, 0
    while True:
        last, kind, pos = _field(buf, pos, last)
        if not kind:
            break
        if last == _RG_COLUMNS:
            head = buf[pos]
            pos += 1
            size = head >> 4
            if size == 15:
                size, pos = _varint(buf, pos)
            for _ in range(size):
                start, end, pos = _column_chunk(buf, pos, begin, patches)
                lo = start if lo is None else min(lo, start)
                hi = max(hi, end)
        elif last == _RG_NUM_ROWS:
            rows, pos = _int(buf, pos)
        elif last == _RG_FILE_OFFSET:
            pos = _patch(buf, pos, begin, patches)
        elif last == _RG_ORDINAL:
            end = _skip(buf, pos, kind)
            patches.append((pos - begin, end - begin, _ORDINAL))
            pos = end
        elif kind not in (_TRUE, _FALSE):
            pos = _skip(buf, pos, kind)
    if lo is None:
        raise Unsupported("a row group without columns")
    return RowGroup(bytes(buf[begin:pos]), rows, (lo, hi), patches), pos


def _patch(buf: bytes, pos: int, begin: int, patches: list[Patch]) -> int:
    """Record the file offset at ``pos`` (relative to ``begin``) to be moved; 0 (unset) stays."""
    value, end = _int(buf, pos)
    if value > 0:
        patches.append((pos - begin, end - begin, value))
    return end


def _column_chunk(buf: bytes, pos: int, begin: int,
                  patches: list[Patch]) -> tuple[int, int, int]:
    """Walk one ColumnChunk: (start, end) of its pages in the file, and the position after it."""
    last, data, dictionary, size = 0, None, 0, 0
    while True:
        last, kind, pos = _field(buf, pos, last)
        if not kind:
            break
        if last in _CC_UNSUPPORTED:
            raise Unsupported("a page index, a chunk in another file or encryption")
        if last == _CC_FILE_OFFSET:
            pos = _patch(buf, pos, begin, patches)
        elif last == _CC_META:
            inner = 0
            while True:
                inner, kind, pos = _field(buf, pos, inner)
                if not kind:
                    break
                if inner in _MD_UNSUPPORTED:
                    raise Unsupported("an index page or a bloom filter")
                if inner == _MD_COMPRESSED:
                    size, pos = _int(buf, pos)
                elif inner == _MD_DATA_PAGE:
                    data = _int(buf, pos)[0]
                    pos = _patch(buf, pos, begin, patches)
                elif inner == _MD_DICT_PAGE:
                    dictionary = _int(buf, pos)[0]
                    pos = _patch(buf, pos, begin, patches)
                elif kind not in (_TRUE, _FALSE):
                    pos = _skip(buf, pos, kind)
        elif kind not in (_TRUE, _FALSE):
            pos = _skip(buf, pos, kind)
    if data is None:
        raise Unsupported("a column chunk without metadata")
    start = dictionary if dictionary > 0 else data
    return start, start + size, pos


def footer_bytes(path: Path | str) -> bytes:
    """The encoded ``FileMetaData`` at the end of a Parquet file."""
    with open(path, "rb") as fh:
        size = os.fstat(fh.fileno()).st_size
        if size < 12:
            raise Unsupported(f"{path}: not a Parquet file")
        fh.seek(size - 8)
        tail = fh.read(8)
        length = int.from_bytes(tail[:4], "little")
        if tail[4:] != MAGIC or length + 12 > size:
            raise Unsupported(f"{path}: not a Parquet file (or an encrypted one)")
        fh.seek(size - 8 - length)
        return fh.read(length)


def read_footer(path: Path | str) -> Footer:
    """The footer of ``path``; :class:`Unsupported` for a file whose row groups are not copied as they are."""
    return parse_footer(footer_bytes(path))


def _list_header(size: int) -> bytes:
    if size < 15:
        return bytes([size << 4 | _STRUCT])
    n, out = size, bytearray([0xF0 | _STRUCT])
    while n >= 0x80:
        out.append((n & 0x7F) | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)


def _copy(src: Any, dst: Any, offset: int, size: int, name: str) -> None:
    """Append ``size`` bytes of ``src`` from ``offset`` to ``dst`` (in the kernel where it can)."""
    done = 0
    try:
        while done < size:
            n = os.copy_file_range(src.fileno(), dst.fileno(), size - done, offset + done)
            if n == 0:
                break
            done += n
    except OSError:  # another filesystem or an old kernel: through this process
        pass
    if done < size:
        src.seek(offset + done)
        while done < size:
            chunk = src.read(min(size - done, 1 << 24))
            if not chunk:
                raise Unsupported(f"{name}: shorter than its footer says")
            _write(dst, chunk)
            done += len(chunk)


def _write(dst: Any, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[dst.write(view):]


def concat(out: Path | str, pieces: list[tuple[Path | str, Footer, int]]) -> Footer:
    """Write ``out``: the row groups ``pieces`` names (file, its footer, row group index), in that order.

    Every piece's file must have the first one's schema, key-value metadata and writer (else
    :class:`Unsupported`, and nothing is left at ``out``); the footer is the first one's with the row
    groups replaced. Returns it.
    """
    if not pieces:
        raise Unsupported("no row groups")
    first = pieces[0][1]
    for _, f, _ in pieces:
        if f.head != first.head or f.tail != first.tail:
            raise Unsupported("row groups of files with other schemas or metadata")
    groups: list[RowGroup] = []
    at = len(MAGIC)
    runs: list[list[Any]] = []  # [source, start, end]: byte ranges to copy, adjacent ones joined
    handles: dict[str, Any] = {}
    for path, footer, g in pieces:
        group = footer.groups[g]
        lo, hi = group.span
        if runs and runs[-1][0] == str(path) and runs[-1][2] == lo:
            runs[-1][2] = hi
        else:
            runs.append([str(path), lo, hi])
        groups.append(group.moved(at - lo, len(groups)))
        at += hi - lo
    try:
        with open(out, "wb", buffering=0) as dst:  # unbuffered: copy_file_range writes at the descriptor's offset
            _write(dst, MAGIC)
            for path, lo, hi in runs:
                src = handles.get(path)
                if src is None:
                    src = handles[path] = open(path, "rb")
                _copy(src, dst, lo, hi - lo, path)
            written = Footer(first.head, first.num_rows_header, first.row_groups_header, first.tail, groups)
            raw = written.encode()
            _write(dst, raw + len(raw).to_bytes(4, "little") + MAGIC)
        check = pq.ParquetFile(out).metadata
        rows = sum(g.rows for g in groups)
        if check.num_rows != rows or check.num_row_groups != len(groups):
            raise Unsupported(f"{out}: reads back as {check.num_rows} rows in {check.num_row_groups} row groups")
    except BaseException:
        Path(out).unlink(missing_ok=True)
        raise
    finally:
        for h in handles.values():
            h.close()
    return written
