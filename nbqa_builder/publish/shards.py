"""Parquet shards named the way the Hugging Face Hub expects: `train-00000-of-00003-<hash>.parquet`.

The name ends with the first 8 hex digits of the shard's sha256: `datasets.load_dataset` caches a
local folder by its file names (a shard rewritten under the same name is read from the stale
cache), so a build that changes a shard changes its name, and a build that does not keeps it.

Rows are streamed in: a shard is closed when it reaches its row or byte budget, and the shards get
their final `-of-N` names only once N is known. Every table is built from the one explicit Arrow
schema of its record type, so no column is ever inferred (no all-null `null` columns, no pandas
index).
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq


class ShardWriter:
    """Writes rows of one schema into `directory/train-XXXXX-of-YYYYY.parquet`."""

    def __init__(
        self,
        directory: Path,
        schema: pa.Schema,
        max_rows_per_shard: int = 20_000,
        max_bytes_per_shard: int = 256 * 1024 * 1024,
        rows_per_group: int = 1_000,
        bytes_per_group: int = 64 * 1024 * 1024,
    ) -> None:
        self.directory = directory
        self.schema = schema
        self.max_rows_per_shard = max_rows_per_shard
        self.max_bytes_per_shard = max_bytes_per_shard
        self.rows_per_group = rows_per_group
        self.bytes_per_group = bytes_per_group
        self.rows_written = 0
        self._buffer: list[dict[str, Any]] = []
        self._buffer_bytes = 0
        self._writer: pq.ParquetWriter | None = None
        self._shard_rows = 0
        self._shard_bytes = 0
        self._temp_paths: list[Path] = []
        directory.mkdir(parents=True, exist_ok=True)

    def write(self, row: dict[str, Any], size_hint: int = 0) -> None:
        self._buffer.append(row)
        self._buffer_bytes += size_hint
        if len(self._buffer) >= self.rows_per_group or self._buffer_bytes >= self.bytes_per_group:
            self._flush()

    def _flush(self) -> None:
        if not self._buffer:
            return
        table = pa.Table.from_pylist(self._buffer, schema=self.schema)
        if self._writer is None or self._shard_rows >= self.max_rows_per_shard or self._shard_bytes >= self.max_bytes_per_shard:
            self._open_shard()
        assert self._writer is not None
        self._writer.write_table(table)
        self._shard_rows += table.num_rows
        self._shard_bytes += table.nbytes
        self.rows_written += table.num_rows
        self._buffer, self._buffer_bytes = [], 0

    def _open_shard(self) -> None:
        if self._writer is not None:
            self._writer.close()
        path = self.directory / f".shard-{len(self._temp_paths):05d}.parquet.tmp"
        self._temp_paths.append(path)
        self._writer = pq.ParquetWriter(path, self.schema, compression="zstd")
        self._shard_rows = self._shard_bytes = 0

    def close(self) -> list[Path]:
        """Finish the last shard and give all shards their final names; returns them in order.

        No rows: one shard without row groups, holding the schema, so that every config is
        published with its columns (a row group of 0 rows would make `datasets` fail on it; a
        file without any is read as empty when streamed).
        """
        self._flush()
        if self._writer is None:
            self._open_shard()
        assert self._writer is not None
        self._writer.close()
        total = len(self._temp_paths)
        final = []
        for index, temp in enumerate(self._temp_paths):
            digest = hashlib.sha256()
            with open(temp, "rb") as handle:
                for block in iter(lambda: handle.read(1 << 20), b""):
                    digest.update(block)
            path = self.directory / f"train-{index:05d}-of-{total:05d}-{digest.hexdigest()[:8]}.parquet"
            os.replace(temp, path)
            final.append(path)
        return final


def read_rows(paths: list[Path]) -> int:
    return sum(pq.ParquetFile(p).metadata.num_rows for p in paths)
