"""Crash-safe Parquet shards written by workers, and their validation on read.

Every shard is written through a temporary file and a rename, with the schema
version in its metadata. The sampler appends a small *part* file per flush
(so a killed job loses at most one flush window); when a run ends, the parts of
an attempt are compacted into one *segment* file.
"""

from __future__ import annotations

import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from .errors import EnergybenchError
from .paths import RunPaths, atomic_path
from .schema import (EPOCH_COLUMNS, EPOCH_SCHEMA, READABLE_VERSIONS, SAMPLE_COLUMNS, SAMPLE_SCHEMA,
                     SCHEMA_VERSION, VERSION_KEY, with_version)


class ShardError(EnergybenchError):
    """A shard is corrupt, truncated, foreign or of another schema version."""


def write_table(path: Path, table: pa.Table, schema: pa.Schema) -> None:
    """Write ``table`` (cast to ``schema``) to ``path`` atomically, zstd-compressed."""
    table = table.select(schema.names).cast(schema).replace_schema_metadata(with_version(schema).metadata)
    with atomic_path(path) as tmp:
        # Dictionary-encode only strings: float columns gain nothing and cost write time.
        strings = [f.name for f in schema if pa.types.is_string(f.type)]
        pq.write_table(table, tmp, compression="zstd", use_dictionary=strings)


def read_shard(path: Path, schema: pa.Schema) -> pa.Table:
    """Read and validate one shard; raise :class:`ShardError` with a one-line reason."""
    try:
        meta = pq.read_schema(path).metadata or {}
    except Exception as exc:  # pyarrow raises several types for corrupt files
        raise ShardError(f"{path}: not a readable Parquet file ({type(exc).__name__}: {str(exc)[:80]})") from None
    version = meta.get(VERSION_KEY)
    if version is None:
        raise ShardError(f"{path}: foreign file (no energybench schema version)")
    v = version.decode()
    if not v.isdigit() or int(v) not in READABLE_VERSIONS:
        readable = ", ".join(map(str, sorted(READABLE_VERSIONS)))
        raise ShardError(f"{path}: schema version {v}, this energybench ({SCHEMA_VERSION}) reads {readable}")
    try:
        table = pq.read_table(path)
    except Exception as exc:
        raise ShardError(f"{path}: truncated or corrupt ({type(exc).__name__}: {str(exc)[:80]})") from None
    newer = _added_since(schema, int(v))
    for name in newer - set(table.column_names):  # an older shard: the columns added since are null
        table = table.append_column(schema.field(name), pa.nulls(table.num_rows, schema.field(name).type))
    missing = [n for n in schema.names if n not in table.column_names]
    if missing:
        raise ShardError(f"{path}: missing columns {', '.join(missing)}")
    try:
        return table.select(schema.names).cast(schema)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
        raise ShardError(f"{path}: columns of the wrong type ({str(exc)[:80]})") from None


def _added_since(schema: pa.Schema, version: int) -> frozenset[str]:
    """Columns of ``schema`` that a shard of ``version`` cannot have."""
    from .schema import added_since

    for columns, known in ((SAMPLE_COLUMNS, SAMPLE_SCHEMA), (EPOCH_COLUMNS, EPOCH_SCHEMA)):
        if schema.names == known.names:
            return added_since(columns, version)
    return frozenset()


_PART = re.compile(r"part-a(\d+)-(\d+)\.parquet$")


class SampleShardWriter:
    """Appends sampler batches of one attempt as part files; compacts them at the end."""

    def __init__(self, run: RunPaths, attempt: int) -> None:
        self.run = run
        self.attempt = attempt
        existing = [int(m.group(2)) for p in run.sample_parts(attempt) if (m := _PART.search(p.name))]
        self._seq = max(existing, default=0)
        self.rows_written = 0

    def write(self, batch: pa.RecordBatch | pa.Table) -> Path | None:
        """Write one flush window as a new part file (skipped when empty)."""
        table = batch if isinstance(batch, pa.Table) else pa.Table.from_batches([batch])
        if table.num_rows == 0:
            return None
        self._seq += 1
        path = self.run.sample_part(self.attempt, self._seq)
        write_table(path, table, SAMPLE_SCHEMA)
        self.rows_written += table.num_rows
        return path

    def compact(self) -> Path | None:
        """Merge this attempt's parts into one segment file, then remove the parts.

        A crash between the two steps leaves duplicates that ``collect`` drops
        (samples are unique by run, attempt and time).
        """
        parts = self.run.sample_parts(self.attempt)
        if len(parts) < 2:
            return None
        seqs = [int(m.group(2)) for p in parts if (m := _PART.search(p.name))]
        table = pa.concat_tables(read_shard(p, SAMPLE_SCHEMA) for p in parts)
        seg = self.run.sample_segment(self.attempt, min(seqs), max(seqs))
        write_table(seg, table, SAMPLE_SCHEMA)
        for p in parts:
            p.unlink(missing_ok=True)
        return seg
